"""The demo app under opentelemetry-instrument, the real collector and the real Prometheus, end to end.

One run of traffic across three tenants feeds every test here: metrics per tenant in Prometheus (with
exemplars), log records that carry the trace id of a real span, audit events routed to their own stream,
seeded PII that never leaves the collector, and `glassbox doctor` passing.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from opentelemetry._logs import LogRecord, SeverityNumber

from examples import traffic
from glassbox import conventions as c
from glassbox.cli import doctor
from glassbox.stack_addresses import Endpoints
from grafana import alerts
from stack.binaries import find_binary
from stack.native import NativeStack, StackError
from tests.conftest import EXAMPLES, free_port
from tests.e2e.test_demo_subprocess import ADMIN_TOKEN, demo_app, headers
from tests.support.binaries import requires
from tests.support.dashboard_queries import queries, selector_metric, selectors, substitute
from tests.support.grafana_api import panel_results
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.stack_fixtures import (
    native_stack,
    new_stack,
    otlp_http,
    otlp_providers,
    prom_query,
    prometheus_url,
    wait_for,
)

TENANTS = ("acme", "globex", "initech")
# What a careless app might put in its telemetry; none of it may leave the collector.
PII = {
    "email": "pii.seed@example.com",
    "phone": "+1 415-555-0132",
    "card": "4111 1111 1111 1111",
    "api_key": "sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2",
    "aws_key": "AKIAIOSFODNN7EXAMPLE",
}
PROBE = "pii-probe"
# Long digit runs that are not card numbers (ids, nanosecond timestamps) must pass unmasked.
NUMERIC_ID = "1795361620252000123"


def send_seeded_telemetry(endpoint: str, probe_id: str) -> None:
    """Spans, logs, an audit event and a metric point carrying PII, sent straight to the collector."""
    tracer_provider, logger_provider, meter_provider = otlp_providers(endpoint, "pii-seeder")
    attributes: dict[str, Any] = {PROBE: probe_id, **{f"seed.{k}": f"value {v} end" for k, v in PII.items()}}
    attributes["http.request.header.authorization"] = "Basic dXNlcjpwYXNzd29yZA=="
    attributes[c.GEN_AI_USAGE_INPUT_TOKENS] = 42
    attributes["order.id"] = NUMERIC_ID
    logger = logger_provider.get_logger("seeder")
    with tracer_provider.get_tracer("seeder").start_as_current_span("seeded", attributes=attributes):
        logger.emit(
            LogRecord(
                body="contact " + " / ".join(PII.values()),
                severity_number=SeverityNumber.WARN,
                attributes=attributes,
            )
        )
        logger.emit(
            LogRecord(
                body=f"audit: role changed for {PII['email']}",
                severity_number=SeverityNumber.INFO,
                attributes={PROBE: probe_id, "event.name": c.AUDIT_EVENT_NAME, "glassbox.audit.action": "role.change"},
            )
        )
    counter = meter_provider.get_meter("seeder").create_counter("glassbox.test.seeded")
    counter.add(1, {"seed.email": PII["email"], PROBE: probe_id})
    meter_provider.force_flush()
    for provider in (tracer_provider, logger_provider, meter_provider):
        provider.shutdown()


REJECT_PROBE = b"glassbox-reject-probe"


def stack_components() -> tuple[str, ...]:
    """The collector and Prometheus always; Grafana too where its binary is (Tempo and Loki are the sink)."""
    return ("prometheus", "collector", *(("grafana",) if find_binary("grafana") else ()))


def send_rejected_telemetry(endpoint: str, sink: OTLPReceiver) -> None:
    """A span, a log record and an audit event that the backends refuse: the collector counts each loss."""
    sink.reject = REJECT_PROBE
    tracer_provider, logger_provider, meter_provider = otlp_providers(endpoint, "reject-prober")
    probe = {"probe": REJECT_PROBE.decode()}
    logger = logger_provider.get_logger("prober")
    with tracer_provider.get_tracer("prober").start_as_current_span("rejected", attributes=probe):
        logger.emit(LogRecord(body="rejected", severity_number=SeverityNumber.INFO, attributes=probe))
    with tracer_provider.get_tracer("prober").start_as_current_span("rejected audit"):
        logger.emit(
            LogRecord(
                body="rejected audit",
                severity_number=SeverityNumber.INFO,
                attributes={**probe, "event.name": c.AUDIT_EVENT_NAME, c.AUDIT_ACTION: "probe.rejected"},
            )
        )
    for provider in (tracer_provider, logger_provider, meter_provider):
        provider.shutdown()


def quality_loop(stub_url: str, tmp_path: Path) -> dict[str, str]:
    """The demo's two prompt versions and the example evaluators (a streamed answer is counted as not evaluated):
    the series of the prompt-version and evaluation panels and rules exist."""
    config = yaml.safe_load((EXAMPLES / "evaluators.yaml").read_text())
    for entry in config["evaluators"]:
        if entry.get("kind") == "judge":
            entry.update(url=f"{stub_url}/v1", sample_rate=1.0)
    path = tmp_path / "evaluators.yaml"
    path.write_text(yaml.safe_dump(config))
    return {"DEMO_PROMPT_VERSIONS": "1", "GLASSBOX_EVALUATORS_FILE": str(path)}


@pytest.fixture(scope="module")
def run(stub_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("stack")
    probe_id = uuid.uuid4().hex
    grafana = {"GLASSBOX_GRAFANA_ADMIN_PASSWORD": uuid.uuid4().hex}
    grafana.update({k: v for k, v in os.environ.items() if k == "GLASSBOX_GRAFANA_HOME"})
    # The app keeps running (idle) while the tests read: its gauges (budgets, audit spool) stay fresh.
    with (
        OTLPReceiver() as sink,
        native_stack(tmp_path, sink.port, stack_components(), **grafana) as stack,
        demo_app(stub_url, otlp_http(stack), tmp_path, **quality_loop(stub_url, tmp_path)) as app,
    ):
        counts = asyncio.run(_traffic(app["url"]))
        # A comment longer than an evaluation's explanation keeps: cut, and counted as dropped telemetry.
        feedback = {"request_id": "req-long-comment", "score": 0, "comment": "too long " * 200}
        assert httpx.post(f"{app['url']}/feedback", json=feedback, headers=headers("acme"), timeout=10).is_success
        send_seeded_telemetry(otlp_http(stack), probe_id)
        # Everything above reaches the sink before the probes the sink refuses, so none of it is refused too.
        assert wait_for(lambda: probe_id.encode() in b"".join(sink.raw), what="the seeded telemetry in the sink")
        canary = doctor.send_canary(Endpoints.from_environ(stack.env), timeout=10)
        assert wait_for(lambda: canary.id.encode() in b"".join(sink.raw), what="the canary in the sink")
        send_rejected_telemetry(otlp_http(stack), sink)
        yield {"stack": stack, "sink": sink, "counts": counts, "probe_id": probe_id}


async def _traffic(url: str) -> Any:
    os.environ["DEMO_ADMIN_TOKEN"] = ADMIN_TOKEN
    return await traffic.run(url, seconds=12, concurrency=4, limit=None, seed=7)


def test_every_tenant_has_metrics_in_prometheus(run: dict[str, Any]) -> None:
    stack = run["stack"]
    query = f'sum by (glassbox_tenant_id) ({c.PROMETHEUS_NAMES[c.METRIC_COST]}{{job="demo-agent"}})'

    def tenants() -> set[str]:
        return {r["metric"].get("glassbox_tenant_id", "") for r in prom_query(stack, query)}

    assert wait_for(lambda: set(TENANTS) <= tenants(), what=f"cost per tenant in {query}")
    for otel_name, prometheus_name in c.PROMETHEUS_NAMES.items():
        selector = f'{{__name__=~"{prometheus_name}(_bucket|_count|_sum)?",job="demo-agent"}}'
        assert wait_for(lambda s=selector: prom_query(stack, s), what=f"series for {selector}")
        tenant_selector = selector.replace("}", ',glassbox_tenant_id!=""}')
        labelled = prom_query(stack, f"count by (glassbox_tenant_id) ({tenant_selector})")
        if otel_name in (c.METRIC_COST_UNPRICED, c.METRIC_AI_CALLS_REFUSED):
            # only some tenants ask for the unpriced model or spend their budget (initech, in seconds)
            assert labelled, prometheus_name
        elif otel_name in c.TENANT_LABELLED_METRICS:
            assert {r["metric"]["glassbox_tenant_id"] for r in labelled} >= set(TENANTS), prometheus_name


def test_prometheus_scrapes_the_collectors_own_metrics(run: dict[str, Any]) -> None:
    stack = run["stack"]
    for name in c.COLLECTOR_METRICS:
        if "send_failed" in name:
            continue  # these appear only after an exporter gave up on data; none did here
        selector = f'{name}{{job="{c.COLLECTOR_JOB}"}}'
        assert wait_for(lambda s=selector: prom_query(stack, s), what=f"series for {selector}")


def test_latency_histograms_carry_exemplars_to_traces(run: dict[str, Any]) -> None:
    stack = run["stack"]
    name = c.PROMETHEUS_NAMES[c.METRIC_OPERATION_DURATION] + "_bucket"

    def exemplars() -> list[dict[str, Any]]:
        response = httpx.get(
            f"{prometheus_url(stack)}/api/v1/query_exemplars",
            params={"query": name, "start": time.time() - 600, "end": time.time()},
            timeout=10,
        )
        return [e for series in response.json()["data"] for e in series["exemplars"]]

    found = wait_for(exemplars, what=f"exemplars on {name}")
    span_trace_ids = {span["trace_id"] for span in run["sink"].spans()}
    assert any(e["labels"].get("trace_id") in span_trace_ids for e in found), found[:3]


def test_log_records_carry_the_trace_id_of_a_real_span(run: dict[str, Any]) -> None:
    sink = run["sink"]
    wait_for(lambda: sink.logs() and sink.spans(), what="logs and spans at the Loki and Tempo endpoints")
    trace_ids = {span["trace_id"] for span in sink.spans() if span["resource"].get(c.SERVICE_NAME) == "demo-agent"}
    app_logs = [log for log in sink.logs() if log["resource"].get(c.SERVICE_NAME) == "demo-agent"]
    linked = [log for log in app_logs if log["trace_id"] and log["trace_id"] in trace_ids]
    assert len(linked) >= len(app_logs) // 2 > 0, (len(linked), len(app_logs))
    tenants = {log["attributes"].get(c.TENANT_ID) for log in linked}
    assert set(TENANTS) <= tenants


def test_audit_events_go_to_their_own_stream_once(run: dict[str, Any]) -> None:
    sink, probe_id = run["sink"], run["probe_id"]

    def probe_logs() -> list[dict[str, Any]]:
        return [log for log in sink.logs() if log["attributes"].get(PROBE) == probe_id]

    logs = wait_for(lambda: len(probe_logs()) >= 2 and probe_logs(), what="the seeded log records")
    audit = [log for log in logs if log["attributes"].get("event.name") == c.AUDIT_EVENT_NAME]
    other = [log for log in logs if log["attributes"].get("event.name") != c.AUDIT_EVENT_NAME]
    assert len(audit) == 1 and len(other) == 1, logs
    assert audit[0]["resource"].get(c.AUDIT_STREAM_ATTRIBUTE) == c.AUDIT_STREAM_VALUE
    # The demo app audits too: every audit event, and nothing else, is in the audit stream.
    for log in sink.logs():
        is_audit = log["attributes"].get("event.name") in c.AUDIT_STREAM_EVENT_NAMES  # events and checkpoints
        assert (log["resource"].get(c.AUDIT_STREAM_ATTRIBUTE) == c.AUDIT_STREAM_VALUE) == is_audit, log
    assert len([log for log in sink.logs() if log["attributes"].get("event.name") == c.AUDIT_EVENT_NAME]) > 1


def test_seeded_pii_never_leaves_the_collector(run: dict[str, Any]) -> None:
    sink, stack, probe_id = run["sink"], run["stack"], run["probe_id"]
    spans = wait_for(
        lambda: [s for s in sink.spans() if s["attributes"].get(PROBE) == probe_id], what="the seeded span"
    )
    wait_for(lambda: len([log for log in sink.logs() if log["attributes"].get(PROBE) == probe_id]) == 2)
    # What was redacted is masked, and what was not sensitive is intact.
    attributes = spans[0]["attributes"]
    assert attributes["http.request.header.authorization"] == "****"
    assert attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == 42
    assert attributes["order.id"] == NUMERIC_ID
    assert attributes["seed.email"].startswith("value ") and attributes["seed.email"].endswith(" end")
    everything = b"".join(sink.raw)
    for kind, value in PII.items():
        assert value.encode() not in everything, f"{kind} left the collector toward Tempo or Loki"
    series = wait_for(
        lambda: prom_query(stack, f'glassbox_test_seeded_total{{{PROBE.replace("-", "_")}="{probe_id}"}}'),
        what="the seeded metric in Prometheus",
    )
    assert PII["email"] not in str(series)


def test_doctor_passes_and_skips_what_is_not_running(run: dict[str, Any]) -> None:
    stack = run["stack"]
    lines: list[str] = []
    environ = {
        **{k: v for k, v in stack.env.items() if k.startswith("GLASSBOX_")},
        # Nothing runs as Tempo, Loki or Grafana in this test (their OTLP ports are the capture sink).
        "GLASSBOX_TEMPO_PORT": str(free_port()),
        "GLASSBOX_LOKI_PORT": str(free_port()),
        "GLASSBOX_GRAFANA_PORT": str(free_port()),
    }
    code = doctor.run(environ, timeout=60, out=lines.append)
    text = "\n".join(lines)
    assert code == 0, text
    assert "PASS  collector" in text and "PASS  prometheus" in text
    assert "SKIP  tempo" in text and "SKIP  loki" in text
    assert "requests the collector holds for it in its retry queue" in text
    # Required but absent is a failure, with a non-zero status.
    assert doctor.run(environ, required=("collector", "prometheus", "loki"), timeout=5, out=lines.append) == 1


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        stack = NativeStack(tmp_path / "stack", {"GLASSBOX_PROMETHEUS_PORT": str(port)})
        with pytest.raises(StackError, match=f"port {port} \\(GLASSBOX_PROMETHEUS_PORT\\) is already in use"):
            stack.up(["prometheus"])
    assert not (tmp_path / "stack" / "prometheus.pid").exists()


@requires("loki")
@requires("tempo")
def test_doctor_finds_the_canary_in_loki_and_tempo(tmp_path: Path) -> None:
    stack = new_stack(tmp_path)
    try:
        stack.up(["prometheus", "loki", "tempo", "collector"])
        lines: list[str] = []
        code = doctor.run(
            stack.env, required=("collector", "prometheus", "loki", "tempo"), timeout=90, out=lines.append
        )
        text = "\n".join(lines)
        assert code == 0, text
        assert "PASS  loki" in text and "PASS  tempo" in text
    finally:
        stack.down()


@requires("grafana")
def test_grafana_starts_with_the_provisioning_and_its_links(tmp_path: Path) -> None:
    # A source-built Grafana keeps conf/ and public/ apart from its binary: pass its home through.
    home = {k: v for k, v in os.environ.items() if k == "GLASSBOX_GRAFANA_HOME"}
    stack = new_stack(tmp_path, GLASSBOX_GRAFANA_ADMIN_PASSWORD=uuid.uuid4().hex, **home)
    environ = stack.env
    try:
        stack.up(["grafana"])
        base = f"http://127.0.0.1:{environ['GLASSBOX_GRAFANA_PORT']}"
        auth = ("admin", environ["GLASSBOX_GRAFANA_ADMIN_PASSWORD"])
        assert httpx.get(f"{base}/api/datasources", timeout=10).status_code == 401, "no anonymous access"
        loki = httpx.get(f"{base}/api/datasources/uid/{c.DATASOURCE_LOKI}", auth=auth, timeout=10).json()
        assert loki["jsonData"]["derivedFields"][0]["datasourceUid"] == c.DATASOURCE_TEMPO
        tempo = httpx.get(f"{base}/api/datasources/uid/{c.DATASOURCE_TEMPO}", auth=auth, timeout=10).json()
        assert tempo["jsonData"]["tracesToLogsV2"]["datasourceUid"] == c.DATASOURCE_LOKI
        prometheus = httpx.get(f"{base}/api/datasources/uid/{c.DATASOURCE_PROMETHEUS}", auth=auth, timeout=10).json()
        assert prometheus["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == c.DATASOURCE_TEMPO
        folders = httpx.get(f"{base}/api/folders", auth=auth, timeout=10).json()
        assert "Glassbox" in {folder["title"] for folder in folders}
        log = stack.log_file("grafana").read_text(errors="replace")
        errors = [line for line in log.splitlines() if "level=error" in line and "provisioning" in line]
        assert not errors, errors
    finally:
        stack.down()


# --------------------------------------------------------------------------- dashboards and alerts on real data
# Series that exist only after a failure this run cannot cause, each with the reason.
ABSENT_BY_DESIGN = {
    "otelcol_exporter_send_failed_metric_points": (
        "Prometheus refuses a remote write for good (400) only for samples this pipeline never produces; "
        "the span and log record failures of the same panel and rule are provoked above"
    ),
}
# A query ending in a comparison lists what is wrong (tenants at risk): empty is a valid answer.
FILTER = re.compile(r"\s(>|>=|<|<=)\s*[0-9.e+-]+$")


def series_exist(stack: NativeStack, selector: str) -> bool:
    response = httpx.get(
        f"{prometheus_url(stack)}/api/v1/series",
        params={"match[]": selector, "start": time.time() - 3600, "end": time.time()},
        timeout=10,
    )
    return bool(response.json()["data"])


def test_every_dashboard_and_alert_selector_returns_data(run: dict[str, Any]) -> None:
    stack = run["stack"]
    wanted: dict[str, set[str]] = {}
    for query in queries():
        if query.language == "promql":
            for selector in selectors(substitute(query.expr, defaults=query.defaults)):
                wanted.setdefault(selector, set()).add(query.where)
    absent = {s for s in wanted if selector_metric(s) in ABSENT_BY_DESIGN}
    assert {selector_metric(s) for s in absent} == set(ABSENT_BY_DESIGN), "an exemption no query needs"
    found: set[str] = set()

    def missing() -> list[str]:
        found.update(s for s in wanted if s not in found | absent and series_exist(stack, s))
        return sorted(s for s in wanted if s not in found | absent)

    with contextlib.suppress(AssertionError):  # the assertion below names what is missing
        wait_for(lambda: not missing(), what="a series for every selector", timeout=90)
    lines = [f"{', '.join(sorted(wanted[s]))}: {s}" for s in missing()]
    assert not lines, "selectors with no data after the demo traffic:\n" + "\n".join(lines)


def test_every_dashboard_and_alert_expression_runs_without_error(run: dict[str, Any]) -> None:
    """Valid syntax is not enough: rate() over several metric names, for one, fails only when it runs."""
    stack = run["stack"]
    errors = []
    for query in queries():
        if query.language != "promql" or query.expr.startswith("label_values("):
            continue
        expr = substitute(query.expr, defaults=query.defaults)
        response = httpx.get(f"{prometheus_url(stack)}/api/v1/query", params={"query": expr}, timeout=10).json()
        if response["status"] != "success":
            errors.append(f"{query.where}: {response.get('error')}\n    {expr}")
    assert not errors, "\n".join(errors)


@requires("grafana")
def test_grafana_runs_every_panel_and_alert_rule_on_the_data(run: dict[str, Any]) -> None:
    stack = run["stack"]
    base = f"http://127.0.0.1:{stack.env['GLASSBOX_GRAFANA_PORT']}"
    auth = ("admin", stack.env["GLASSBOX_GRAFANA_ADMIN_PASSWORD"])
    log = stack.log_file("grafana").read_text(errors="replace")
    assert not [line for line in log.splitlines() if "level=error" in line and "provisioning" in line]

    def problems() -> list[str]:
        results = panel_results(base, auth, datasources={"prometheus"})
        assert results
        return [
            f"{where}: {error or 'no data'}"
            for where, (values, error) in results.items()
            if error or (not values and not FILTER.search(where_expr(where)))
        ]

    # Rates need two scrapes of the collector after the traffic; poll, then name what still shows nothing.
    with contextlib.suppress(AssertionError):
        wait_for(lambda: not problems(), what="data in every panel", timeout=90)
    assert not (empty := problems()), "\n".join(empty)

    def rules() -> list[dict[str, Any]]:
        body = httpx.get(f"{base}/api/prometheus/grafana/api/v1/rules", auth=auth, timeout=10).json()
        return [rule for group in body["data"]["groups"] for rule in group["rules"]]

    # What the run caused: a tenant over its whole day budget, and the probes the backends refused.
    expected = ("GlassboxTenantBudget100", "GlassboxCollectorExportFailures", "GlassboxAuditWriteFailures")

    def evaluated() -> list[dict[str, Any]] | None:
        found = rules()
        state = {r["name"]: r["state"] for r in found}
        done = len(found) == len(alerts.ALERTS) and all(not r["lastEvaluation"].startswith("0001") for r in found)
        return found if done and all(state[name] in ("pending", "firing") for name in expected) else None

    with contextlib.suppress(AssertionError):  # the assertions below say what is wrong
        wait_for(evaluated, what="every alert rule evaluated by Grafana", timeout=150)
    found = rules()
    broken = [f"{r['name']}: {r.get('lastError')}" for r in found if r["health"] == "error"]
    assert not broken, "\n".join(broken)
    state = {r["name"]: r["state"] for r in found}
    assert set(state) == {a.name for a in alerts.ALERTS}
    # Annotations arrive as written: their {{ $labels.x }} templates are not taken for environment variables.
    provisioned = httpx.get(f"{base}/api/v1/provisioning/alert-rules", auth=auth, timeout=10).json()
    assert {r["title"]: r["annotations"] for r in provisioned} == {a.name: a.annotations for a in alerts.ALERTS}
    for name in expected:
        assert state[name] in ("pending", "firing"), (name, state)
    assert state["GlassboxCollectorQueueNearlyFull"] == "inactive"


def where_expr(where: str) -> str:
    """The expression of a panel query named as panel_results names it."""
    return _expressions()[where]


@functools.cache
def _expressions() -> dict[str, str]:
    return {query.where: query.expr for query in queries()}


@requires("loki")
@requires("tempo")
@requires("grafana")
def test_grafana_shows_the_audit_stream_and_expensive_traces(stub_url: str, tmp_path: Path) -> None:
    """The Loki and Tempo panels, through Grafana, against the whole stack after demo traffic."""
    home = {k: v for k, v in os.environ.items() if k == "GLASSBOX_GRAFANA_HOME"}
    stack = new_stack(tmp_path, GLASSBOX_GRAFANA_ADMIN_PASSWORD=uuid.uuid4().hex, **home)
    try:
        stack.up(["prometheus", "loki", "tempo", "collector", "grafana"])
        with demo_app(stub_url, otlp_http(stack), tmp_path) as app:
            asyncio.run(traffic.run(app["url"], seconds=8, concurrency=4, limit=None, seed=3))
        tracer_provider, logger_provider, meter_provider = otlp_providers(otlp_http(stack), "audit-seeder")
        with tracer_provider.get_tracer("seeder").start_as_current_span("change role"):
            logger_provider.get_logger("seeder").emit(
                LogRecord(
                    body="role changed",
                    severity_number=SeverityNumber.INFO,
                    attributes={
                        "event.name": c.AUDIT_EVENT_NAME,
                        c.TENANT_ID: "acme",
                        c.AUDIT_ACTOR_TYPE: "human",
                        c.AUDIT_ACTOR_ID: "user-7",
                        c.AUDIT_ACTION: "role.change",
                        c.AUDIT_RESOURCE_TYPE: "user",
                        c.AUDIT_RESOURCE_ID: "user-9",
                        c.AUDIT_OUTCOME: "success",
                    },
                )
            )
        for provider in (tracer_provider, logger_provider, meter_provider):
            provider.shutdown()
        base = f"http://127.0.0.1:{stack.env['GLASSBOX_GRAFANA_PORT']}"
        auth = ("admin", stack.env["GLASSBOX_GRAFANA_ADMIN_PASSWORD"])

        def problems() -> list[str]:
            results = panel_results(base, auth, datasources={"loki", "tempo"})
            assert results
            return [
                f"{where}: {error or 'no data'}" for where, (values, error) in results.items() if error or not values
            ]

        with contextlib.suppress(AssertionError):  # the assertion below names the empty panels
            wait_for(lambda: not problems(), what="data in every Loki and Tempo panel", timeout=120)
        assert not (empty := problems()), "\n".join(empty)
    finally:
        stack.down()
