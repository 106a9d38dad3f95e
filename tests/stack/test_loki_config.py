"""loki/loki.yaml: its keys against those Loki 3.7.8 accepts, its contract invariants, and a real-binary run.

The static tests need no Loki: ``loki/accepted-keys.txt`` was derived from the real binary (see its header).
The ``@requires("loki")`` tests verify the config with the binary, then start it on free loopback ports with a
temporary data dir, push OTLP logs over HTTP and read back labels, streams and structured metadata.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from glassbox import conventions as c
from stack.binaries import find_binary
from tests.conftest import free_port, stop, wait_http
from tests.support.binaries import requires
from tests.support.config_keys import accepted_keys, dig, expand, key_paths, leaves, load, variables

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "loki" / "loki.yaml"
ACCEPTED_KEYS = ROOT / "loki" / "accepted-keys.txt"
LOKI_VERSION = "3.7.8"
DATA_DIR = "${GLASSBOX_LOKI_DATA_DIR:-/loki}"
AUDIT_SELECTOR = f'{{{c.LOKI_AUDIT_STREAM_LABEL}="{c.AUDIT_STREAM_VALUE}"}}'

# The OTLP resource attributes Glassbox indexes, and the label names Loki derives from them.
INDEX_ATTRIBUTES = dict(
    zip((c.SERVICE_NAME, c.DEPLOYMENT_ENVIRONMENT, c.AUDIT_STREAM_ATTRIBUTE), c.LOKI_INDEX_LABELS, strict=True)
)
# Unbounded or per-request values: structured metadata only, never index labels.
NEVER_LABELS = {
    "service.instance.id",
    "trace_id",
    "span_id",
    "user.id",
    "session.id",
    "glassbox.tenant.id",
    "glassbox.request.id",
}
CONTRACT_DEFAULTS = {
    "GLASSBOX_LISTEN_ADDRESS": "127.0.0.1",
    "GLASSBOX_LOKI_PORT": "3100",
    "GLASSBOX_LOKI_GRPC_PORT": "9096",
    "GLASSBOX_LOKI_DATA_DIR": "/loki",
    "GLASSBOX_LOGS_RETENTION": "720h",
    "GLASSBOX_AUDIT_RETENTION": "61320h",
}


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def seconds(duration: str) -> float:
    """A Prometheus-style duration (Loki's model.Duration): 720h, 30d, 1y2w, 90m."""
    parts = re.findall(r"(\d+)(ms|[smhdwy])", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


@pytest.fixture(scope="module")
def raw() -> str:
    return CONFIG.read_text()


@pytest.fixture(scope="module")
def config(raw: str) -> dict[str, Any]:
    return load(raw)


@pytest.fixture(scope="module")
def defaults(raw: str) -> dict[str, Any]:
    """loki.yaml as a native run with no GLASSBOX_* variables set sees it."""
    return load(expand(raw, {}))


def index_label_rules(config: dict[str, Any], section: str) -> list[dict[str, Any]]:
    otlp = dig(config, "limits_config.otlp_config")
    rules = otlp.get(section) or []
    if section == "resource_attributes":
        rules = rules.get("attributes_config") or []
    return [rule for rule in rules if rule.get("action") == "index_label"]


# --- static checks -------------------------------------------------------------------------------------------


def test_accepted_keys_come_from_the_pinned_binary() -> None:
    header, keys = accepted_keys(ACCEPTED_KEYS)
    assert any(LOKI_VERSION in line for line in header), "accepted-keys.txt must name the Loki version"
    assert any("-print-config-stderr" in line for line in header), "accepted-keys.txt must name how it was made"
    assert LOKI_VERSION in CONFIG.read_text().split("\n", 1)[0], "loki.yaml's first line names the pinned version"
    # Loki 3 shape: OTLP limits and the compactor's delete store exist; 2.x keys removed in 3.0 do not.
    assert {
        "limits_config.otlp_config.resource_attributes.attributes_config[].attributes",
        "limits_config.retention_stream[].selector",
        "compactor.delete_request_store",
        "schema_config.configs[].schema",
        "server.http_listen_port",
    } <= keys
    assert not {"limits_config.enforce_metric_name", "ingester.max_transfer_retries"} & keys
    assert not {k for k in keys if k.endswith(".shared_store")}, "shared_store was removed in Loki 3.0"


def test_every_key_in_loki_yaml_is_accepted(defaults: dict[str, Any]) -> None:
    _, accepted = accepted_keys(ACCEPTED_KEYS)
    unknown = sorted(key_paths(defaults) - accepted)
    assert not unknown, f"keys Loki {LOKI_VERSION} does not accept: {unknown}"


def test_every_variable_is_glassbox_and_no_bare_dollar(raw: str) -> None:
    names = [name for name, _ in variables(raw)]
    assert names, "loki.yaml must take its values from the environment"
    assert all(name.startswith("GLASSBOX_") for name in names), names
    # -config.expand-env substitutes $NAME anywhere in the file, comments included.
    assert not re.findall(r"\$(?!\{GLASSBOX_)", raw), "only ${GLASSBOX_...} may follow a $"


def test_every_contract_variable_is_used_with_its_contract_default(raw: str) -> None:
    used = variables(raw)
    assert {name for name, _ in used} == set(CONTRACT_DEFAULTS)
    for name, default in used:
        assert default == CONTRACT_DEFAULTS[name], f"{name} defaults to {default!r}, the contract says otherwise"


def test_contract_defaults_and_compose_values(defaults: dict[str, Any], raw: str) -> None:
    assert defaults["server"]["http_listen_address"] == "127.0.0.1"
    assert defaults["server"]["grpc_listen_address"] == "127.0.0.1"
    assert defaults["server"]["http_listen_port"] == 3100
    assert defaults["server"]["grpc_listen_port"] == 9096
    assert defaults["common"]["instance_addr"] == "127.0.0.1"
    assert defaults["limits_config"]["retention_period"] == "720h"
    assert defaults["limits_config"]["retention_stream"][0]["period"] == "61320h"
    compose = load(expand(raw, {"GLASSBOX_LISTEN_ADDRESS": "0.0.0.0", "GLASSBOX_LOKI_DATA_DIR": "/loki"}))
    assert compose["server"]["http_listen_address"] == "0.0.0.0"
    assert compose["server"]["grpc_listen_address"] == "0.0.0.0"
    assert compose["common"]["path_prefix"] == "/loki"


def test_listeners_follow_the_contract(config: dict[str, Any]) -> None:
    assert dig(config, "server.http_listen_port") == "${GLASSBOX_LOKI_PORT:-3100}"
    assert dig(config, "server.grpc_listen_port") == "${GLASSBOX_LOKI_GRPC_PORT:-9096}"
    for key in ("server.http_listen_address", "server.grpc_listen_address", "common.instance_addr"):
        assert dig(config, key) == "${GLASSBOX_LISTEN_ADDRESS:-127.0.0.1}", key


def test_every_path_follows_the_data_dir(config: dict[str, Any]) -> None:
    assert dig(config, "common.path_prefix") == DATA_DIR
    paths = [(k, v) for k, v in leaves(config) if k.endswith(("_directory", "path_prefix", "_dir"))]
    assert len(paths) >= 4, paths
    assert all(v == DATA_DIR or str(v).startswith(DATA_DIR + "/") for _, v in paths), paths


def test_single_tenant_single_host_no_usage_report(config: dict[str, Any]) -> None:
    assert config["auth_enabled"] is False
    assert config.get("target", "all") == "all"
    assert dig(config, "common.ring.kvstore.store") == "inmemory"
    assert dig(config, "common.replication_factor") == 1
    assert "memberlist" not in config, "a single host needs no gossip"
    assert dig(config, "analytics.reporting_enabled") is False
    assert dig(config, "pattern_ingester.enabled") is False


def test_schema_v13_tsdb_with_structured_metadata(config: dict[str, Any]) -> None:
    schemas = dig(config, "schema_config.configs")
    assert schemas, "a schema is required"
    for schema in schemas:
        assert schema["schema"] == "v13"
        assert schema["store"] == "tsdb"
        assert schema["object_store"] == "filesystem"
        assert schema["index"]["period"] == "24h", "retention needs a 24h index period"
    assert dig(config, "limits_config.allow_structured_metadata") is True


def test_retention_is_enforced_and_audit_is_kept_longest(config: dict[str, Any], defaults: dict[str, Any]) -> None:
    assert dig(config, "compactor.retention_enabled") is True
    assert dig(config, "compactor.delete_request_store") == "filesystem"
    assert dig(config, "limits_config.retention_period") == "${GLASSBOX_LOGS_RETENTION:-720h}"
    streams = dig(config, "limits_config.retention_stream")
    audit = [s for s in streams if s["selector"] == AUDIT_SELECTOR]
    assert len(audit) == 1, streams
    assert audit[0]["period"] == "${GLASSBOX_AUDIT_RETENTION:-61320h}"
    others = [s["priority"] for s in streams if s is not audit[0]]
    assert isinstance(audit[0]["priority"], int) and audit[0]["priority"] > max(others, default=0)
    default_period = seconds(dig(defaults, "limits_config.retention_period"))
    expanded = dig(defaults, "limits_config.retention_stream")
    audit_period = seconds(next(s["period"] for s in expanded if s["selector"] == AUDIT_SELECTOR))
    assert audit_period > default_period
    # The compactor only deletes whole index periods (24h).
    assert default_period % 86400 == 0 and audit_period % 86400 == 0
    # Only retention deletes: no delete API that could erase audit events.
    assert dig(config, "limits_config.deletion_mode") == "disabled"


def test_index_labels_are_exactly_the_chosen_set(config: dict[str, Any]) -> None:
    otlp = dig(config, "limits_config.otlp_config")
    # Without ignore_defaults Loki prepends its own list (service.instance.id, k8s.*, cloud.*) as index labels.
    assert dig(otlp, "resource_attributes.ignore_defaults") is True
    rules = index_label_rules(config, "resource_attributes")
    assert all("regex" not in rule for rule in rules), "a regex could promote any attribute"
    indexed = [attribute for rule in rules for attribute in rule["attributes"]]
    assert sorted(indexed) == sorted(INDEX_ATTRIBUTES)
    assert not set(indexed) & NEVER_LABELS
    assert not index_label_rules(config, "scope_attributes")
    assert not index_label_rules(config, "log_attributes"), "log attributes stay structured metadata"
    assert otlp.get("severity_text_as_label") in (None, False)
    assert "otlp_config" not in config.get("distributor", {}), "the index set is chosen in limits_config only"


def test_ingestion_limits_are_set_for_one_host(defaults: dict[str, Any]) -> None:
    limits = defaults["limits_config"]
    assert 0 < limits["ingestion_rate_mb"] <= limits["ingestion_burst_size_mb"] <= 64
    assert 0 < limits["max_global_streams_per_user"] <= 10000
    assert limits["reject_old_samples"] is True


# --- the real binary ----------------------------------------------------------------------------------------


def _binary() -> Path:
    binary = find_binary("loki")
    assert binary is not None
    return binary


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLASSBOX_", "OTEL_"))}
    return env | extra


def _verify(binary: Path, config: Path, *flags: str, **env: str) -> subprocess.CompletedProcess[str]:
    command = [str(binary), f"-config.file={config}", "-config.expand-env=true", *flags, "-verify-config"]
    return subprocess.run(command, env=_clean_env(**env), capture_output=True, text=True, timeout=120, check=False)


def binary_key_paths(binary: Path) -> set[str]:
    """What accepted-keys.txt lists: the printed config's keys plus loki.yaml's own (see the file's header)."""
    result = _verify(binary, CONFIG, "-print-config-stderr")
    assert result.returncode == 0, result.stderr[-2000:]
    printed = "\n".join(line for line in result.stderr.splitlines() if not line.startswith("level="))
    return key_paths(yaml.safe_load(printed)) | key_paths(load(expand(CONFIG.read_text(), {})))


@requires("loki")
def test_binary_is_the_pinned_version_and_accepts_the_config(tmp_path: Path) -> None:
    binary = _binary()
    version = subprocess.run([str(binary), "-version"], capture_output=True, text=True, timeout=60, check=False)
    assert f"version {LOKI_VERSION} " in version.stdout + version.stderr, version.stdout + version.stderr
    result = _verify(binary, CONFIG, GLASSBOX_LOKI_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "config is valid" in result.stderr
    # Loki parses strictly: the same check fails on a key it does not know.
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONFIG.read_text().replace("  retention_enabled: true", "  retention_enabled: true\n  no_such: 1"))
    result = _verify(binary, bad, GLASSBOX_LOKI_DATA_DIR=str(tmp_path))
    assert result.returncode != 0 and "no_such" in result.stderr


@requires("loki")
def test_accepted_keys_match_the_binary() -> None:
    _, keys = accepted_keys(ACCEPTED_KEYS)
    generated = binary_key_paths(_binary())
    assert keys == generated, (
        f"accepted-keys.txt is stale: missing {sorted(generated - keys)[:20]}, extra {sorted(keys - generated)[:20]}"
    )


@dataclass
class Loki:
    url: str
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture(scope="module")
def loki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loki]:
    binary = find_binary("loki")
    if binary is None:
        pytest.skip("loki binary not found on PATH or in GLASSBOX_BIN_DIR")
    directory = tmp_path_factory.mktemp("loki")
    http_port, grpc_port = free_port(), free_port()
    while grpc_port == http_port:
        grpc_port = free_port()
    env = _clean_env(
        GLASSBOX_LISTEN_ADDRESS="127.0.0.1",
        GLASSBOX_LOKI_PORT=str(http_port),
        GLASSBOX_LOKI_GRPC_PORT=str(grpc_port),
        GLASSBOX_LOKI_DATA_DIR=str(directory / "data"),
    )
    log = directory / "loki.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(binary), f"-config.file={CONFIG}", "-config.expand-env=true"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    result = Loki(f"http://127.0.0.1:{http_port}", log)
    try:
        try:
            wait_http(f"{result.url}/ready", timeout=120, process=process)
        except (TimeoutError, RuntimeError) as error:
            raise AssertionError(f"{error}\n{result.log_tail()}") from error
        yield result
    finally:
        stop(process, timeout=30)


def _attributes(values: dict[str, str]) -> list[Any]:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    return [KeyValue(key=key, value=AnyValue(string_value=value)) for key, value in values.items()]


def _otlp_request(records: list[tuple[dict[str, str], dict[str, str], str, str, str]]) -> bytes:
    """One resource per record: (resource attributes, log attributes, body, trace id hex, span id hex)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    now = time.time_ns()
    request = ExportLogsServiceRequest()
    for offset, (resource, attributes, body, trace_id, span_id) in enumerate(records):
        record = LogRecord(
            time_unix_nano=now + offset,
            observed_time_unix_nano=now + offset,
            severity_number=9,
            severity_text="INFO",
            body=AnyValue(string_value=body),
            attributes=_attributes(attributes),
            trace_id=bytes.fromhex(trace_id),
            span_id=bytes.fromhex(span_id),
        )
        scope = ScopeLogs(scope=InstrumentationScope(name="glassbox"), log_records=[record])
        request.resource_logs.append(
            ResourceLogs(resource=Resource(attributes=_attributes(resource)), scope_logs=[scope])
        )
    return request.SerializeToString()


def _query(loki: Loki, query: str) -> list[dict[str, Any]]:
    """Streams of a LogQL query over the last minutes, labels and structured metadata kept apart."""
    now = time.time_ns()
    response = httpx.get(
        f"{loki.url}/loki/api/v1/query_range",
        params={"query": query, "start": now - 600 * 10**9, "end": now + 60 * 10**9, "limit": 100},
        headers={"X-Loki-Response-Encoding-Flags": "categorize-labels"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return list(response.json()["data"]["result"])


def _entries(streams: list[dict[str, Any]]) -> list[tuple[dict[str, str], str, dict[str, str]]]:
    return [
        (stream["stream"], value[1], (value[2] if len(value) > 2 else {}).get("structuredMetadata", {}))
        for stream in streams
        for value in stream["values"]
    ]


@requires("loki")
def test_otlp_logs_get_the_chosen_labels_and_structured_metadata(loki: Loki) -> None:
    resource = {"service.name": "demo", "deployment.environment.name": "dev", "service.instance.id": "abc"}
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    audit_trace_id, audit_span_id = secrets.token_hex(16), secrets.token_hex(8)
    body = f"ordinary {secrets.token_hex(4)}"
    audit_body = f"audit {secrets.token_hex(4)}"
    payload = _otlp_request(
        [
            (
                resource,
                {"glassbox.tenant.id": "acme", "user.id": "u-1", "glassbox.request.id": "req-1"},
                body,
                trace_id,
                span_id,
            ),
            (
                resource | {"glassbox.stream": "audit"},
                {"glassbox.tenant.id": "acme", "event.name": "glassbox.audit"},
                audit_body,
                audit_trace_id,
                audit_span_id,
            ),
        ]
    )
    response = httpx.post(
        f"{loki.url}/otlp/v1/logs",
        content=payload,
        headers={"Content-Type": "application/x-protobuf"},
        timeout=30,
    )
    assert response.status_code in (200, 204), f"{response.status_code} {response.text}\n{loki.log_tail()}"

    # Index labels: exactly the three chosen ones, nothing from Loki's default list.
    now = time.time_ns()
    span = {"start": now - 600 * 10**9, "end": now + 60 * 10**9}
    labels = httpx.get(f"{loki.url}/loki/api/v1/labels", params=span, timeout=30)
    assert labels.status_code == 200, labels.text
    assert set(labels.json()["data"]) == set(INDEX_ATTRIBUTES.values()), labels.text
    series = httpx.post(f"{loki.url}/loki/api/v1/series", data={"match[]": '{service_name="demo"}', **span}, timeout=30)
    assert series.status_code == 200, series.text
    assert sorted(series.json()["data"], key=len) == [
        {"service_name": "demo", "deployment_environment_name": "dev"},
        {"service_name": "demo", "deployment_environment_name": "dev", "glassbox_stream": "audit"},
    ]

    # A trace id finds its record through structured metadata.
    found = _entries(_query(loki, f'{{service_name="demo"}} | trace_id="{trace_id}"'))
    assert len(found) == 1, found
    labels_of, line, metadata = found[0]
    assert line == body
    assert labels_of == {"service_name": "demo", "deployment_environment_name": "dev"}
    assert {
        "trace_id": trace_id,
        "span_id": span_id,
        "service_instance_id": "abc",
        "glassbox_tenant_id": "acme",
        "user_id": "u-1",
        "glassbox_request_id": "req-1",
    }.items() <= metadata.items(), metadata

    # The audit selector the retention rule uses matches the audit record and nothing else.
    audit = _entries(_query(loki, AUDIT_SELECTOR))
    assert len(audit) == 1, audit
    labels_of, line, metadata = audit[0]
    assert line == audit_body
    assert labels_of == {"service_name": "demo", "deployment_environment_name": "dev", "glassbox_stream": "audit"}
    assert {"event_name": "glassbox.audit", "glassbox_tenant_id": "acme", "trace_id": audit_trace_id}.items() <= (
        metadata.items()
    ), metadata


@requires("loki")
def test_running_config_has_the_retention_rules(loki: Loki) -> None:
    response = httpx.get(f"{loki.url}/config", timeout=30)
    assert response.status_code == 200, response.text
    effective = yaml.safe_load(response.text)
    assert dig(effective, "compactor.retention_enabled") is True
    assert dig(effective, "limits_config.retention_period") == "30d", "GLASSBOX_LOGS_RETENTION's default is 720h"
    [stream] = dig(effective, "limits_config.retention_stream")
    assert stream["selector"] == AUDIT_SELECTOR
    assert seconds(stream["period"]) == seconds("61320h")


if __name__ == "__main__":
    # Regenerate loki/accepted-keys.txt from a Loki binary (see the header it writes).
    import sys

    binary = Path(sys.argv[1])
    version = subprocess.run([str(binary), "-version"], capture_output=True, text=True, check=True).stdout
    print(f"# Config key paths Loki {LOKI_VERSION} (image grafana/loki:{LOKI_VERSION}) accepts; list items as key[].")
    print(f"# From the real binary ({version.splitlines()[0].strip()}), values dropped:")
    print("#   loki -config.file=loki/loki.yaml -config.expand-env=true -print-config-stderr -verify-config")
    print("# flattened by key_paths() in tests/support/config_keys.py, plus loki.yaml's own keys: Loki leaves false")
    print("# omitempty fields (auth_enabled, pattern_ingester.enabled) out of the printout, and -verify-config")
    print("# parses strictly, so a key of loki.yaml it did not reject is accepted.")
    print("# Regenerate: .venv/bin/python -m tests.test_loki_config /path/to/loki > loki/accepted-keys.txt")
    print("# test_accepted_keys_match_the_binary regenerates the list with the binary and compares.")
    for path in sorted(binary_key_paths(binary)):
        print(path)
