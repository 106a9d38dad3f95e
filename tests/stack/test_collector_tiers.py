"""The collector tiers with the project's own build: an agent in front of two tail-sampling gateways.

The gateways export to this test's OTLP receivers in place of Tempo and Loki (one receiver per gateway, so the
test sees which gateway got what), and their span metrics to the same receiver through a test-only overlay
config. Traces are made with the OpenTelemetry SDK and sent to the agent over OTLP/HTTP.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry import trace as api
from opentelemetry._logs import LogRecord
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import Status, StatusCode

from glassbox import conventions as c
from glassbox.sdk.sampling import KeptTraceExemplarFilter, KeptTraceMarker
from stack import collector_tiers
from tests.conftest import free_port, stop
from tests.e2e.test_demo_subprocess import poll
from tests.stack.test_collector_config import collector
from tests.support.otlp_receiver import OTLPReceiver

SAMPLE_PERCENT = 25
ORDINARY = 160  # ordinary traces: 25% kept is 40 expected; the tolerance below is about four binomial sigmas
TOLERANCE = 22


def test_the_generated_tier_configs_are_current() -> None:
    base = yaml.safe_load(collector_tiers.CONFIG.read_text())
    assert collector_tiers.AGENT.read_text() == collector_tiers.render(collector_tiers.agent(base))
    dns = collector_tiers.agent(base, collector_tiers.DNS_RESOLVER)
    assert collector_tiers.AGENT_DNS.read_text() == collector_tiers.render(dns)
    assert collector_tiers.GATEWAY.read_text() == collector_tiers.render(collector_tiers.gateway(base))


def test_the_tiers_share_the_single_host_intake_and_exporters() -> None:
    base = yaml.safe_load(collector_tiers.CONFIG.read_text())
    agent = yaml.safe_load(collector_tiers.AGENT.read_text())
    gateway = yaml.safe_load(collector_tiers.GATEWAY.read_text())
    assert agent["processors"]["redaction"] == base["processors"]["redaction"]
    assert gateway["exporters"] == base["exporters"]
    for pipeline in agent["service"]["pipelines"].values():
        assert pipeline["processors"] == list(collector_tiers.INTAKE)
    # span metrics see every span: they hang off the intake pipeline, before the sampler
    traces = gateway["service"]["pipelines"]["traces"]
    assert "tail_sampling" not in traces["processors"] and "spanmetrics" in traces["exporters"]


def test_the_dns_agent_differs_from_the_static_one_only_in_how_it_finds_the_gateways() -> None:
    static = yaml.safe_load(collector_tiers.AGENT.read_text())
    dns = yaml.safe_load(collector_tiers.AGENT_DNS.read_text())
    for exporter in dns["exporters"].values():
        assert exporter.pop("resolver") == collector_tiers.DNS_RESOLVER
    for exporter in static["exporters"].values():
        assert exporter.pop("resolver") == collector_tiers.STATIC_RESOLVER
    assert dns == static


@pytest.mark.parametrize("tier", ["agent", "agent-dns", "gateway"])
def test_the_project_build_accepts_the_tier(tier: str) -> None:
    path = collector_tiers.ROOT / "collector" / f"{tier}.yaml"
    result = subprocess.run([collector(), "validate", f"--config={path}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


class Tier:
    """One collector process of a tier, on free ports, with its own data directory."""

    def __init__(self, name: str, configs: list[Path], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.grpc, self.http, self.health, self.metrics = (free_port() for _ in range(4))
        data = workdir / name
        data.mkdir()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GLASSBOX_OTLP_GRPC_PORT": str(self.grpc),
            "GLASSBOX_OTLP_HTTP_PORT": str(self.http),
            "GLASSBOX_COLLECTOR_HEALTH_PORT": str(self.health),
            "GLASSBOX_COLLECTOR_METRICS_PORT": str(self.metrics),
            "GLASSBOX_COLLECTOR_DATA_DIR": str(data),
            "GLASSBOX_PROMETHEUS_PORT": str(free_port()),  # nothing listens: remote write retries, harmless
            **env,
        }
        self.log = workdir / f"{name}.log"
        self.command = [str(collector()), *(f"--config={config}" for config in configs)]
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Tier:
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{self.health}/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not become healthy: {self.log.read_text()[-3000:]}")

    def __exit__(self, *exc: Any) -> None:
        if self.process is not None:
            stop(self.process)

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye (what it held in memory is gone)."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)


@pytest.fixture
def tiers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Tier, list[OTLPReceiver], list[Tier]]]:
    """An agent and two gateways; per gateway a receiver standing in for Tempo and Loki, and taking its span
    metrics (a test-only overlay config)."""
    with ExitStack() as stack:
        backends = [stack.enter_context(OTLPReceiver()) for _ in range(2)]
        gateways = []
        for index, backend in enumerate(backends):
            overlay = tmp_path / f"span-metrics-to-the-test-{index}.yaml"
            overlay.write_text(
                yaml.safe_dump(
                    {
                        "exporters": {"otlp_http/test": {"endpoint": backend.endpoint}},
                        "service": {"pipelines": {"metrics/spans": {"exporters": ["otlp_http/test"]}}},
                    }
                )
            )
            port = backend.endpoint.rsplit(":", 1)[1]
            env = {
                "GLASSBOX_TEMPO_OTLP_HTTP_PORT": port,
                "GLASSBOX_LOKI_PORT": port,
                "GLASSBOX_TAIL_DECISION_WAIT": "2s",
                "GLASSBOX_TAIL_LATENCY_MS": "1500",
                "GLASSBOX_TAIL_COST_USD": "0.05",
                "GLASSBOX_TAIL_SAMPLE_PERCENT": str(getattr(request, "param", SAMPLE_PERCENT)),
            }
            configs = [collector_tiers.GATEWAY, overlay]
            gateways.append(stack.enter_context(Tier(f"gateway-{index}", configs, env, tmp_path)))
        hostnames = "[" + ", ".join(f"127.0.0.1:{g.grpc}" for g in gateways) + "]"
        agent = stack.enter_context(Tier("agent", [collector_tiers.AGENT], {"GLASSBOX_GATEWAYS": hostnames}, tmp_path))
        yield agent, backends, gateways


def test_an_agent_routes_each_trace_whole_and_the_gateways_keep_what_matters(
    tiers: tuple[Tier, list[OTLPReceiver], list[Tier]],
) -> None:
    agent, backends, _ = tiers
    provider = TracerProvider(resource=Resource.create({"service.name": "tiers-test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"http://127.0.0.1:{agent.http}/v1/traces")))
    tracer = provider.get_tracer("tiers-test")
    special: dict[str, int] = {}

    def trace_of(kind: str) -> int:
        now = time.time_ns()
        root = tracer.start_span("POST /chat", start_time=now)
        trace_id = root.get_span_context().trace_id
        with api.use_span(root, end_on_exit=False):
            for index in range(3):
                child = tracer.start_span(f"step {index}", start_time=now + index * 1000)
                if kind == "error" and index == 1:
                    child.set_status(Status(StatusCode.ERROR, "boom"))
                if kind == "costly" and index == 2:
                    child.set_attributes({c.GEN_AI_OPERATION_NAME: "chat", c.COST_USD: 0.2})
                if kind == "audited" and index == 0:
                    child.add_event(c.AUDIT_EVENT_NAME, {"event.action": "budget.threshold"})
                if kind == "refused" and index == 0:
                    child.add_event(c.AI_CALL_REFUSED_EVENT, {c.LABEL_REASON: "kill_switch"})
                child.end(end_time=now + index * 1000 + 500)
        root.end(end_time=now + (2_000_000_000 if kind == "slow" else 5_000_000))
        return trace_id

    ordinary = {trace_of("ordinary") for _ in range(ORDINARY)}
    for kind in ("error", "slow", "costly", "audited", "refused"):
        special[kind] = trace_of(kind)
    provider.shutdown()

    def kept() -> dict[int, dict[int, int]]:
        """trace id -> {gateway index: spans received} once every special trace has arrived."""
        found: dict[int, dict[int, int]] = {}
        for index, backend in enumerate(backends):
            for span in backend.spans():
                per_gateway = found.setdefault(int(span["trace_id"], 16), {})
                per_gateway[index] = per_gateway.get(index, 0) + 1
        return found if all(t in found and sum(found[t].values()) == 4 for t in special.values()) else {}

    found = poll(kept, timeout=60)
    assert found, (agent.log.read_text()[-2000:], [len(b.spans()) for b in backends])
    time.sleep(3)  # later decisions of ordinary traces
    found = kept()
    # every kept trace arrived whole, through one gateway
    assert all(len(per_gateway) == 1 and sum(per_gateway.values()) == 4 for per_gateway in found.values()), found
    assert {index for per_gateway in found.values() for index in per_gateway} == {0, 1}  # both gateways used
    for kind, trace_id in special.items():
        assert trace_id in found, kind
    kept_ordinary = len(ordinary & set(found))
    expected = ORDINARY * SAMPLE_PERCENT / 100
    assert abs(kept_ordinary - expected) <= TOLERANCE, kept_ordinary

    # span metrics counted every span of every trace, sampled or not: the latest cumulative count of each series
    # of each gateway, added up
    def counted() -> int:
        total = 0
        for backend in backends:
            latest: dict[tuple[Any, ...], int] = {}
            for request in backend.requests["/v1/metrics"]:
                for resource_metrics in request.resource_metrics:
                    for scope in resource_metrics.scope_metrics:
                        for metric in (m for m in scope.metrics if m.name.endswith(".calls")):
                            for point in metric.sum.data_points:
                                key = tuple(sorted((kv.key, str(kv.value)) for kv in point.attributes))
                                latest[key] = max(latest.get(key, 0), int(point.as_int))
            total += sum(latest.values())
        return total

    every_span = 4 * (ORDINARY + len(special))
    assert poll(lambda: counted() >= every_span, timeout=40), counted()
    assert counted() == every_span


def test_audit_log_records_pass_through_a_gateway_unsampled(
    tiers: tuple[Tier, list[OTLPReceiver], list[Tier]],
) -> None:
    agent, backends, _ = tiers
    provider = LoggerProvider(resource=Resource.create({"service.name": "tiers-test"}))
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(f"http://127.0.0.1:{agent.http}/v1/logs"))
    )
    marker = uuid.uuid4().hex
    logger = provider.get_logger("tiers-test")
    for index in range(20):
        logger.emit(LogRecord(body=f"audit {marker} {index}", attributes={"event.name": c.AUDIT_EVENT_NAME}))
    provider.shutdown()

    def arrived() -> int:
        bodies = [r["body"] for backend in backends for r in backend.logs() if marker in str(r["body"])]
        return len(bodies) if len(bodies) >= 20 else 0

    assert poll(arrived, timeout=30) == 20


def whole_traces(backends: list[OTLPReceiver]) -> dict[int, int]:
    """trace id -> spans received, over every gateway's backend."""
    spans: dict[int, int] = {}
    for backend in backends:
        for span in backend.spans():
            trace_id = int(span["trace_id"], 16)
            spans[trace_id] = spans.get(trace_id, 0) + 1
    return spans


DECISION_WAIT_S = 2


@pytest.mark.parametrize("tiers", [100], indirect=True)
def test_a_gateway_killed_under_load_loses_only_the_traces_it_held(
    tiers: tuple[Tier, list[OTLPReceiver], list[Tier]],
) -> None:
    """A gateway SIGKILLed and back 4 s later: what the agent routed to it meanwhile waits in the agent's queue
    and arrives; what it had accepted but not yet decided (its tail-sampling buffer, one decision wait) is lost.
    Every lost trace was sent within that window before the kill, or in the 2 s after it (seen once in four runs:
    traces sent up to 1.4 s after the kill were lost too; why is not known yet, see docs/scale.md)."""
    agent, backends, gateways = tiers
    provider = TracerProvider(resource=Resource.create({"service.name": "tiers-test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"http://127.0.0.1:{agent.http}/v1/traces")))
    tracer = provider.get_tracer("tiers-test")
    sent: list[tuple[int, float]] = []  # (trace id, monotonic time its last span was sent)
    killed_at = restarted_at = 0.0
    start = time.monotonic()
    while time.monotonic() - start < 10:
        elapsed = time.monotonic() - start
        if not killed_at and elapsed > 3:
            gateways[1].kill()
            killed_at = time.monotonic()
        if killed_at and not restarted_at and time.monotonic() - killed_at > 4:
            gateways[1].__enter__()
            restarted_at = time.monotonic()
        with tracer.start_as_current_span("POST /chat") as root, tracer.start_as_current_span("step"):
            pass
        sent.append((root.get_span_context().trace_id, time.monotonic()))
        time.sleep(0.01)
    provider.shutdown()

    def settled() -> dict[int, int]:
        found = whole_traces(backends)
        return found if len(found) >= len(sent) - 200 else {}

    found = poll(settled, timeout=60)
    time.sleep(DECISION_WAIT_S + 3)  # the last retries and decisions
    found = whole_traces(backends)
    lost = [(trace_id, at) for trace_id, at in sent if found.get(trace_id) != 2]
    window = (killed_at - DECISION_WAIT_S - 2.0, killed_at + 2.0)  # the sampler decides on a 1 s tick
    outside = [at - killed_at for _, at in lost if not window[0] <= at <= window[1]]
    assert not outside, f"{len(lost)} of {len(sent)} lost, {len(outside)} outside the held window: {outside[:10]}"
    in_window = [at for _, at in sent if window[0] <= at <= window[1]]
    print(f"sent {len(sent)}, lost {len(lost)} (sent in the held window: {len(in_window)})")


def _exemplar_trace_ids(reader: InMemoryMetricReader) -> set[int]:
    """The trace ids of the exemplars in one collection of ``reader``."""
    found: set[int] = set()
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else ():
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    found.update(e.trace_id for e in point.exemplars if e.trace_id)
    return found


@pytest.mark.parametrize("tiers", [0], indirect=True)  # no share decided by the gateways: only the apps' mark
def test_every_exemplar_names_a_trace_the_gateways_kept(tiers: tuple[Tier, list[OTLPReceiver], list[Tier]]) -> None:
    """An app marks the traces of its kept share and takes exemplars only from them; the gateways keep every marked
    trace. The SDK's own filter (every sampled span) on the same requests is the baseline: most of its exemplars
    name traces the gateways dropped."""
    agent, backends, _ = tiers
    percent = 10.0
    provider = TracerProvider(
        resource=Resource.create({"service.name": "exemplar-test"}),
        sampler=KeptTraceMarker(ParentBased(ALWAYS_ON), percent),
    )
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(f"http://127.0.0.1:{agent.http}/v1/traces")))
    tracer = provider.get_tracer("exemplar-test")
    glassbox_reader, sdk_reader = InMemoryMetricReader(), InMemoryMetricReader()
    glassbox_meter = MeterProvider([glassbox_reader], exemplar_filter=KeptTraceExemplarFilter(percent))
    sdk_meter = MeterProvider([sdk_reader])
    latency = [m.get_meter("t").create_histogram("latency", unit="s") for m in (glassbox_meter, sdk_meter)]
    glassbox_exemplars: set[int] = set()
    sdk_exemplars: set[int] = set()
    marked: set[int] = set()
    for number in range(400):
        with tracer.start_as_current_span("POST /chat") as root:
            with tracer.start_as_current_span("chat gpt-4o-mini"):
                pass
            for histogram in latency:
                histogram.record(0.01 * (1 + number % 40))
            if root.attributes and root.attributes.get(c.TRACE_KEPT):
                marked.add(root.get_span_context().trace_id)
        if number % 20 == 19:  # a collection, as a periodic reader makes: each keeps the latest per bucket
            glassbox_exemplars |= _exemplar_trace_ids(glassbox_reader)
            sdk_exemplars |= _exemplar_trace_ids(sdk_reader)
    provider.shutdown()

    def kept() -> set[int]:
        return {int(span["trace_id"], 16) for backend in backends for span in backend.spans()}

    assert poll(lambda: marked <= kept(), timeout=60), (len(marked), len(marked & kept()))
    time.sleep(3)  # any later decision
    assert marked == kept(), "the gateways kept a trace no app marked, or dropped a marked one"
    assert glassbox_exemplars and glassbox_exemplars <= marked
    sdk_share = len(sdk_exemplars & kept()) / len(sdk_exemplars)
    print(f"exemplars naming a kept trace: glassbox {len(glassbox_exemplars)} of {len(glassbox_exemplars)}, "
          f"SDK's filter {len(sdk_exemplars & kept())} of {len(sdk_exemplars)} ({sdk_share:.0%})")  # fmt: skip
    assert sdk_share < 0.5
