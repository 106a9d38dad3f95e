"""tempo/tempo.yaml: its keys against those Tempo 3.0.3 accepts, its contract invariants, and a real-binary run.

The static tests need no Tempo: ``tempo/accepted-keys.txt`` was derived from the real binary (see its header).
The ``@requires("tempo")`` tests start the binary on free loopback ports with a temporary data dir, push OTLP
traces and read them back; with Prometheus present too they check what the metrics-generator remote-writes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from stack.binaries import find_binary
from tests.conftest import free_port, stop, wait_http
from tests.support.binaries import requires
from tests.support.config_keys import accepted_keys, dig, expand, key_paths, leaves, load, variables

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tempo" / "tempo.yaml"
ACCEPTED_KEYS = ROOT / "tempo" / "accepted-keys.txt"
TEMPO_VERSION = "3.0.3"
DATA_DIR = "${GLASSBOX_TEMPO_DATA_DIR:-/var/tempo}"
REMOTE_WRITE_URL = "http://${GLASSBOX_PROMETHEUS_HOST:-127.0.0.1}:${GLASSBOX_PROMETHEUS_PORT:-9090}${GLASSBOX_PROMETHEUS_WRITE_PATH:-/api/v1/write}"

# Subtrees whose keys are not Tempo config fields, so accepted-keys.txt cannot list them; only the subtree's
# own key must be accepted. Each is still covered: by an invariant below and by the real-binary test.
FREE_FORM = {
    # map[string]any handed to the OpenTelemetry receiver factories, which validate it at startup.
    "distributor.receivers": "OpenTelemetry receiver configs, validated by the receivers when Tempo starts",
    # Label name -> value maps chosen by the operator.
    "metrics_generator.registry.external_labels": "label names are free-form",
    "metrics_generator.storage.remote_write[].headers": "HTTP header names are free-form",
    "overrides.defaults.metrics_generator.remote_write_headers": "HTTP header names are free-form",
    "overrides.defaults.cost_attribution.dimensions": "attribute name -> label name map",
    "overrides.defaults.metrics_generator.processor.span_metrics.intrinsic_dimensions": "name -> bool map",
}

# Span attributes whose values are unbounded: never metric labels.
UNBOUNDED_ATTRIBUTES = {
    "gen_ai.response.id",
    "gen_ai.conversation.id",
    "gen_ai.tool.call.id",
    "glassbox.tenant.id",
    "glassbox.request.id",
    "user.id",
    "session.id",
    "service.instance.id",
}


@pytest.fixture(scope="module")
def raw() -> str:
    return CONFIG.read_text()


@pytest.fixture(scope="module")
def config(raw: str) -> dict[str, Any]:
    return load(raw)


# --- static checks -------------------------------------------------------------------------------------------


def test_accepted_keys_come_from_the_pinned_3x_binary() -> None:
    header, keys = accepted_keys(ACCEPTED_KEYS)
    assert any(TEMPO_VERSION in line for line in header), "accepted-keys.txt must name the Tempo version"
    assert any("/status/config" in line for line in header), "accepted-keys.txt must name how it was made"
    assert TEMPO_VERSION in CONFIG.read_text().split("\n", 1)[0], "tempo.yaml's first line names the pinned version"
    # Tempo 3 shape: live-store and backend worker exist, the 2.x ingester and compactor blocks do not.
    assert {"live_store.wal.path", "backend_worker.compaction.block_retention", "server.http_listen_port"} <= keys
    assert not {k for k in keys if k.split(".")[0] in ("ingester", "compactor", "ingester_client")}


def test_every_key_in_tempo_yaml_is_accepted(config: dict[str, Any]) -> None:
    _, accepted = accepted_keys(ACCEPTED_KEYS)
    unknown = []
    for path in sorted(key_paths(config)):
        if any(path.startswith(prefix + ".") or path.startswith(prefix + "[]") for prefix in FREE_FORM):
            continue
        if path not in accepted:
            unknown.append(path)
    assert not unknown, f"keys Tempo {TEMPO_VERSION} does not accept: {unknown}"
    assert all(prefix in accepted for prefix in FREE_FORM), "a free-form subtree's own key must be accepted"


def test_every_variable_is_glassbox_and_no_bare_dollar(raw: str) -> None:
    names = [name for name, _ in variables(raw)]
    assert names, "tempo.yaml must take its values from the environment"
    assert all(name.startswith("GLASSBOX_") for name in names), names
    # -config.expand-env substitutes $NAME anywhere in the file, comments included.
    assert not re.findall(r"\$(?!\{GLASSBOX_)", raw), "only ${GLASSBOX_...} may follow a $"


def test_contract_defaults(raw: str) -> None:
    defaults = load(expand(raw, {}))
    assert defaults["server"]["http_listen_address"] == "127.0.0.1"
    assert defaults["server"]["grpc_listen_address"] == "127.0.0.1"
    assert defaults["server"]["http_listen_port"] == 3200
    assert defaults["server"]["grpc_listen_port"] == 9097
    otlp = defaults["distributor"]["receivers"]["otlp"]["protocols"]
    assert otlp["grpc"]["endpoint"] == "127.0.0.1:4417"
    assert otlp["http"]["endpoint"] == "127.0.0.1:4418"
    assert defaults["backend_worker"]["compaction"]["block_retention"] == "336h"
    remote_write = defaults["metrics_generator"]["storage"]["remote_write"]
    assert [rw["url"] for rw in remote_write] == ["http://127.0.0.1:9090/api/v1/write"]
    # Compose values land where the contract says.
    compose = load(expand(raw, {"GLASSBOX_LISTEN_ADDRESS": "0.0.0.0", "GLASSBOX_PROMETHEUS_HOST": "prometheus"}))
    assert compose["distributor"]["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4418"
    assert compose["metrics_generator"]["storage"]["remote_write"][0]["url"] == "http://prometheus:9090/api/v1/write"


def test_listeners_and_receivers_use_contract_variables(config: dict[str, Any]) -> None:
    assert dig(config, "server.http_listen_port") == "${GLASSBOX_TEMPO_PORT:-3200}"
    assert dig(config, "server.grpc_listen_port") == "${GLASSBOX_TEMPO_GRPC_PORT:-9097}"
    for key in ("server.http_listen_address", "server.grpc_listen_address"):
        assert dig(config, key) == "${GLASSBOX_LISTEN_ADDRESS:-127.0.0.1}"
    protocols = dig(config, "distributor.receivers.otlp.protocols")
    assert set(protocols) == {"grpc", "http"}
    assert protocols["grpc"] == {
        "endpoint": "${GLASSBOX_LISTEN_ADDRESS:-127.0.0.1}:${GLASSBOX_TEMPO_OTLP_GRPC_PORT:-4417}"
    }
    assert protocols["http"] == {
        "endpoint": "${GLASSBOX_LISTEN_ADDRESS:-127.0.0.1}:${GLASSBOX_TEMPO_OTLP_HTTP_PORT:-4418}"
    }


def test_storage_and_retention(config: dict[str, Any]) -> None:
    assert dig(config, "storage.trace.backend") == "local"
    assert dig(config, "backend_worker.compaction.block_retention") == "${GLASSBOX_TRACES_RETENTION:-336h}"
    # Every path Tempo writes defaults to /var/tempo: all of them must follow the data dir.
    for key in (
        "storage.trace.wal.path",
        "storage.trace.local.path",
        "live_store.wal.path",
        "live_store.shutdown_marker_dir",
        "backend_scheduler.local_work_path",
        "metrics_generator.storage.path",
    ):
        assert str(dig(config, key)).startswith(DATA_DIR + "/"), key
    paths = [v for k, v in leaves(config) if k.endswith(("path", "_dir"))]
    assert all(str(p).startswith(DATA_DIR + "/") for p in paths), paths


def test_metrics_generator_writes_to_prometheus_with_exemplars(config: dict[str, Any]) -> None:
    remote_write = dig(config, "metrics_generator.storage.remote_write")
    assert remote_write == [{"url": REMOTE_WRITE_URL, "send_exemplars": True}]
    processors = dig(config, "overrides.defaults.metrics_generator.processors")
    assert {"service-graphs", "span-metrics"} <= set(processors)
    # Grafana's service graph and span-metrics panels read the classic _bucket series.
    assert dig(config, "overrides.defaults.metrics_generator.generate_native_histograms") in ("classic", "both")


def test_span_metrics_dimensions_are_bounded_genai(config: dict[str, Any]) -> None:
    dimensions = dig(config, "metrics_generator.processor.span_metrics.dimensions")
    assert {"gen_ai.request.model", "gen_ai.provider.name", "gen_ai.operation.name"} <= set(dimensions)
    assert len(dimensions) <= 5, "every dimension multiplies the series count"
    assert not set(dimensions) & UNBOUNDED_ATTRIBUTES
    assert int(dig(config, "overrides.defaults.metrics_generator.max_cardinality_per_label")) > 0


def test_single_host_and_no_usage_report(config: dict[str, Any]) -> None:
    assert dig(config, "usage_report.reporting_enabled") is False
    assert dig(config, "distributor.ring.kvstore.store") == "inmemory"
    assert "memberlist" not in config, "a single host needs no gossip"
    assert "target" not in config or config["target"] == "all"


# --- the real binary ----------------------------------------------------------------------------------------


@dataclass
class Stack:
    tempo_url: str
    otlp_http_url: str
    prometheus_url: str | None
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def _start_prometheus(binary: Path, directory: Path, port: int) -> subprocess.Popen[bytes]:
    config = directory / "prometheus.yml"
    config.write_text("global:\n  scrape_interval: 15s\n")
    with (directory / "prometheus.log").open("wb") as log:
        return subprocess.Popen(
            [
                str(binary),
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--web.enable-remote-write-receiver",
                "--enable-feature=exemplar-storage,native-histograms",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tempo = find_binary("tempo")
    if tempo is None:
        pytest.skip("tempo binary not found on PATH or in GLASSBOX_BIN_DIR")
    prometheus = find_binary("prometheus")
    directory = tmp_path_factory.mktemp("tempo")
    ports = {
        name: free_port()
        for name in ("GLASSBOX_TEMPO_PORT", "GLASSBOX_TEMPO_GRPC_PORT", "GLASSBOX_TEMPO_OTLP_GRPC_PORT")
    }
    ports["GLASSBOX_TEMPO_OTLP_HTTP_PORT"] = free_port()
    ports["GLASSBOX_PROMETHEUS_PORT"] = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLASSBOX_", "OTEL_"))}
    env |= {name: str(port) for name, port in ports.items()}
    env |= {
        "GLASSBOX_LISTEN_ADDRESS": "127.0.0.1",
        "GLASSBOX_PROMETHEUS_HOST": "127.0.0.1",
        "GLASSBOX_TEMPO_DATA_DIR": str(directory / "data"),
        "GLASSBOX_TRACES_RETENTION": "1h",
    }
    processes: list[subprocess.Popen[bytes]] = []
    log = directory / "tempo.log"
    try:
        prometheus_url = None
        if prometheus is not None:
            prometheus_url = f"http://127.0.0.1:{ports['GLASSBOX_PROMETHEUS_PORT']}"
            processes.append(_start_prometheus(prometheus, directory, ports["GLASSBOX_PROMETHEUS_PORT"]))
            wait_http(f"{prometheus_url}/-/ready", timeout=60, process=processes[-1])
        with log.open("wb") as out:
            processes.append(
                subprocess.Popen(
                    [str(tempo), f"-config.file={CONFIG}", "-config.expand-env=true"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        tempo_url = f"http://127.0.0.1:{ports['GLASSBOX_TEMPO_PORT']}"
        result = Stack(tempo_url, f"http://127.0.0.1:{ports['GLASSBOX_TEMPO_OTLP_HTTP_PORT']}", prometheus_url, log)
        try:
            wait_http(f"{tempo_url}/ready", timeout=120, process=processes[-1])
        except (TimeoutError, RuntimeError) as error:
            raise AssertionError(f"{error}\n{result.log_tail()}") from error
        yield result
    finally:
        # Tempo 3.0.3 may never exit on SIGTERM once it has served a query (its query-frontend queue waits for a
        # cleanup ticker that has already stopped; grafana/tempo#7967): stop() kills it after the timeout. The
        # live-store has flushed by then, and the data dir is thrown away anyway.
        for process in reversed(processes):
            stop(process, timeout=15)


def _hex(n: int) -> str:
    return secrets.token_hex(n)


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def _push_call_chain(stack: Stack, client_service: str, server_service: str, model: str) -> str:
    """Service a calls service b (CLIENT -> SERVER child), and b calls an LLM API that sends no spans."""
    trace_id, client_id, server_id, llm_id = _hex(16), _hex(8), _hex(8), _hex(8)
    start = time.time_ns() - 2_000_000_000

    def span(span_id: str, parent: str | None, name: str, kind: int, begin: int, end: int, **attrs: str) -> Any:
        body = {
            "traceId": trace_id,
            "spanId": span_id,
            "name": name,
            "kind": kind,
            "startTimeUnixNano": str(start + begin * 1_000_000),
            "endTimeUnixNano": str(start + end * 1_000_000),
            "attributes": [_attr(k.replace("__", "."), v) for k, v in attrs.items()],
        }
        return body | ({"parentSpanId": parent} if parent else {})

    def resource(service: str, *spans: Any) -> Any:
        return {
            "resource": {"attributes": [_attr("service.name", service)]},
            "scopeSpans": [{"scope": {"name": "glassbox.test"}, "spans": list(spans)}],
        }

    payload = {
        "resourceSpans": [
            resource(client_service, span(client_id, None, "POST /answer", 3, 0, 900)),
            resource(
                server_service,
                span(server_id, client_id, "POST /answer", 2, 10, 890),
                span(
                    llm_id,
                    server_id,
                    f"chat {model}",
                    3,
                    20,
                    880,
                    gen_ai__operation__name="chat",
                    gen_ai__provider__name="openai",
                    gen_ai__request__model=model,
                    gen_ai__conversation__id=_hex(8),
                ),
            ),
        ]
    }
    response = httpx.post(
        f"{stack.otlp_http_url}/v1/traces",
        content=json.dumps(payload),
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return trace_id


def _poll(what: str, check: Callable[[], Any], stack: Stack, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except httpx.HTTPError as error:
            last = error
        time.sleep(1)
    raise AssertionError(f"{what} not seen within {timeout}s (last: {last!r})\n{stack.log_tail()}")


@requires("tempo")
def test_binary_is_the_pinned_version() -> None:
    tempo = find_binary("tempo")
    assert tempo is not None
    out = subprocess.run([str(tempo), "--version"], capture_output=True, text=True, timeout=30)
    # A release build says "version 3.0.3", a build from the tag's source with the Makefile's flags "version v3.0.3".
    found = re.search(rf"version v?{re.escape(TEMPO_VERSION)}\b", out.stdout + out.stderr)
    assert found, "regenerate accepted-keys.txt for a new version"


@requires("tempo")
def test_tempo_starts_with_the_config_and_returns_a_pushed_trace(stack: Stack) -> None:
    assert httpx.get(f"{stack.tempo_url}/ready", timeout=5).text.strip() == "ready"
    trace_id = _push_call_chain(stack, "svc-a", "svc-b", "gpt-4o-mini")

    def fetch() -> set[str]:
        response = httpx.get(f"{stack.tempo_url}/api/v2/traces/{trace_id}", timeout=10)
        if response.status_code != 200:
            return set()
        names = set()
        for batch in response.json()["trace"]["resourceSpans"]:
            for scope in batch["scopeSpans"]:
                names |= {s["name"] for s in scope["spans"]}
        return names

    names = _poll(f"trace {trace_id}", fetch, stack, timeout=60)
    assert names == {"POST /answer", "chat gpt-4o-mini"}
    # The effective config is the one on disk with the environment applied: retention follows
    # GLASSBOX_TRACES_RETENTION (the fixture sets 1h) in the backend worker, the module that deletes blocks.
    text = httpx.get(f"{stack.tempo_url}/status/config", params={"mode": "diff"}, timeout=10).text
    _, diff = yaml.safe_load_all(text)  # the page is the request line, "---", then the config
    assert dig(diff, "backend_worker.compaction.block_retention") == "1h0m0s", diff
    assert [rw["send_exemplars"] for rw in dig(diff, "metrics_generator.storage.remote_write")] == [True], diff


@requires("tempo")
@requires("prometheus")
def test_generator_remote_writes_span_metrics_and_service_graph(stack: Stack) -> None:
    assert stack.prometheus_url is not None
    suffix = _hex(3)
    client, server, model = f"web-{suffix}", f"agent-{suffix}", f"model-{suffix}"
    trace_ids = {_push_call_chain(stack, client, server, model) for _ in range(3)}

    def series(selector: str) -> list[dict[str, str]]:
        response = httpx.get(f"{stack.prometheus_url}/api/v1/series", params={"match[]": selector}, timeout=10)
        response.raise_for_status()
        return list(response.json()["data"])

    calls = _poll(
        "span metrics",
        lambda: series(f'traces_spanmetrics_calls_total{{service="{server}",gen_ai_request_model="{model}"}}'),
        stack,
        timeout=150,
    )
    assert calls[0]["gen_ai_provider_name"] == "openai"
    assert calls[0]["gen_ai_operation_name"] == "chat"
    assert calls[0]["span_kind"] == "SPAN_KIND_CLIENT"
    assert not any("conversation" in label for label in calls[0])
    _poll(
        "span latency histogram", lambda: series(f'traces_spanmetrics_latency_bucket{{service="{server}"}}'), stack, 60
    )
    _poll(
        "service graph edge",
        lambda: series(f'traces_service_graph_request_total{{client="{client}",server="{server}"}}'),
        stack,
        timeout=90,
    )
    # The LLM call has no SERVER span: gen_ai.provider.name names the virtual node it reached.
    _poll(
        "service graph edge to the LLM provider",
        lambda: series(f'traces_service_graph_request_total{{client="{server}",server="openai"}}'),
        stack,
        timeout=90,
    )

    def exemplar_trace_ids() -> set[str]:
        response = httpx.get(
            f"{stack.prometheus_url}/api/v1/query_exemplars",
            params={
                "query": f'traces_spanmetrics_latency_bucket{{service="{server}"}}',
                "start": time.time() - 600,
                "end": time.time() + 60,
            },
            timeout=10,
        )
        response.raise_for_status()
        found = {
            exemplar["labels"].get("traceID", "").lstrip("0")
            for group in response.json()["data"]
            for exemplar in group["exemplars"]
        }
        # Tempo writes the trace id as hex without leading zeros.
        return found & {trace_id.lstrip("0") for trace_id in trace_ids}

    # Needs Prometheus's exemplar storage. (Tempo 3.0.3 sends exemplars whatever send_exemplars says: its
    # generator sets SendExemplars on every remote_write; the config states it for readers and other versions.)
    _poll("exemplars carrying the pushed trace ids", exemplar_trace_ids, stack, timeout=90)
