"""`glassbox doctor`: is every part of the stack ready, and does data really flow through it?

It checks each component's readiness endpoint, then sends one canary trace, log record and metric point with
a unique id through the collector and looks for each in its backend: the span in Tempo, the log record in
Loki (by the canary id in structured metadata), the metric point in Prometheus (by its value, the emission
time). Where a backend is not running, the collector's own counters show whether the canary got that far.
One line per component: PASS, FAIL or SKIP (an optional component that is not running). Exit status 1 on
any FAIL.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import format_trace_id

from glassbox import conventions as c
from glassbox.endpoints import Endpoints

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
# The collector exporter (collector/config.yaml) that feeds each backend the canary can be looked for in.
BACKEND_EXPORTERS = {"tempo": "otlp_http/tempo", "loki": "otlp_http/loki"}
COMPONENTS = ("collector", "prometheus", "tempo", "loki", "grafana")
READY_PATHS = {
    "collector": "",  # the health_check extension answers on its root
    "prometheus": "/-/ready",
    "tempo": "/ready",
    "loki": "/ready",
    "grafana": "/api/health",
}


@dataclass
class Check:
    component: str
    result: str
    detail: str

    def line(self) -> str:
        return f"{self.result}  {self.component:<11} {self.detail}"


@dataclass(frozen=True)
class Canary:
    id: str
    trace_id: str
    timestamp: float


def ready(endpoints: Endpoints, component: str, client: httpx.Client) -> tuple[bool, str]:
    """Whether a component's readiness endpoint answers 200, and what it said otherwise."""
    base = endpoints.collector_health if component == "collector" else getattr(endpoints, component)
    url = base + READY_PATHS[component]
    try:
        response = client.get(url)
    except httpx.HTTPError as error:
        return False, f"not running ({url}: {type(error).__name__})"
    if response.status_code != 200:
        return False, f"not ready ({url} answered {response.status_code}: {response.text.strip()[:80]})"
    return True, f"ready ({url})"


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def sum_samples(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called name (with these label values) in a Prometheus text exposition.

    Names are matched as written: the collector's counters have no ``_total`` suffix in this version, which
    prometheus_client's parser would add.
    """
    total = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and match.group(1) == name:
            found = dict(_LABEL.findall(match.group(2) or ""))
            if all(found.get(key) == value for key, value in labels.items()):
                total += float(match.group(3))
    return total


def collector_metrics(endpoints: Endpoints, client: httpx.Client) -> str:
    """The collector's own metrics as Prometheus text, or "" when it does not answer."""
    try:
        return client.get(endpoints.collector_metrics).text
    except httpx.HTTPError:
        return ""


def accepted(text: str) -> dict[str, float]:
    """The collector's accepted-item counters per signal, summed over receivers and transports."""
    return {s: sum_samples(text, f"otelcol_receiver_accepted_{s}") for s in ("spans", "log_records", "metric_points")}


def send_canary(endpoints: Endpoints, timeout: float) -> Canary:
    """Emit one span, one log record inside it and one gauge point, with fresh SDK objects, and flush them."""
    canary_id = uuid.uuid4().hex
    timestamp = round(time.time(), 3)
    resource = Resource.create({c.SERVICE_NAME: c.CANARY_SERVICE_NAME})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoints.otlp_http}/v1/traces", timeout=timeout))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoints.otlp_http}/v1/logs", timeout=timeout))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{endpoints.otlp_http}/v1/metrics", timeout=timeout),
        export_interval_millis=math.inf,
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    meter_provider.get_meter("glassbox.doctor").create_observable_gauge(
        c.METRIC_CANARY_TIMESTAMP,
        callbacks=[lambda _options: [Observation(timestamp)]],
        unit="s",
        description="Unix time of the last canary glassbox doctor sent through the stack",
    )
    tracer = tracer_provider.get_tracer("glassbox.doctor")
    with tracer.start_as_current_span(c.CANARY_SPAN_NAME, attributes={c.CANARY_ID: canary_id}) as span:
        trace_id = format_trace_id(span.get_span_context().trace_id)
        logger_provider.get_logger("glassbox.doctor").emit(
            LogRecord(
                body=f"glassbox canary {canary_id}",
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                attributes={c.CANARY_ID: canary_id},
            )
        )
    reader.collect()
    for provider in (tracer_provider, logger_provider, meter_provider):
        provider.shutdown()
    return Canary(canary_id, trace_id, timestamp)


def poll(probe: Callable[[], str | None], deadline: float) -> str | None:
    """Call probe until it returns a finding or the deadline passes; None means nothing was found."""
    while True:
        try:
            found = probe()
        except (httpx.HTTPError, ValueError, KeyError):
            found = None
        if found is not None or time.monotonic() >= deadline:
            return found
        time.sleep(1)


def run(
    environ: Mapping[str, str],
    required: Sequence[str] = ("collector", "prometheus"),
    timeout: float = 60.0,
    out: Callable[[str], None] = print,
) -> int:
    endpoints = Endpoints.from_environ(environ)
    checks: list[Check] = []
    with httpx.Client(timeout=5) as client:
        readiness = {name: ready(endpoints, name, client) for name in COMPONENTS}
        for name, (_ok, detail) in readiness.items():
            out(f"  {name:<11} {detail}")
        if not readiness["collector"][0]:
            checks.append(Check("collector", FAIL, "not ready, so no canary can be sent: " + readiness["collector"][1]))
            for name in COMPONENTS[1:]:
                checks.append(_unreached(name, readiness[name], required))
            return _report(checks, out)

        before = accepted(collector_metrics(endpoints, client))
        canary = send_canary(endpoints, timeout=min(timeout, 10))
        out(f"  canary {canary.id} (trace {canary.trace_id}) sent at {canary.timestamp:.3f}")
        deadline = time.monotonic() + timeout

        def collector_probe() -> str | None:
            after = accepted(collector_metrics(endpoints, client))
            if all(after[s] > before[s] for s in before):
                return "accepted the canary span, log record and metric point"
            return None

        found = poll(collector_probe, deadline)
        checks.append(
            Check("collector", PASS, found)
            if found
            else Check("collector", FAIL, f"did not count the canary as accepted within {timeout:.0f}s")
        )

        probes: dict[str, Callable[[], str | None]] = {
            "prometheus": lambda: _prometheus_probe(endpoints, client, canary),
            "tempo": lambda: _tempo_probe(endpoints, client, canary),
            "loki": lambda: _loki_probe(endpoints, client, canary),
        }
        text = collector_metrics(endpoints, client)
        for name, probe in probes.items():
            if not readiness[name][0]:
                check = _unreached(name, readiness[name], required)
                if name in BACKEND_EXPORTERS:
                    queued = sum_samples(text, "otelcol_exporter_queue_size", exporter=BACKEND_EXPORTERS[name])
                    check.detail += f"; requests the collector holds for it in its retry queue: {queued:.0f}"
                checks.append(check)
                continue
            found = poll(probe, deadline)
            checks.append(
                Check(name, PASS, found)
                if found
                else Check(name, FAIL, f"ready, but the canary did not arrive within {timeout:.0f}s")
            )
        ok, detail = readiness["grafana"]
        checks.append(Check("grafana", PASS, detail) if ok else _unreached("grafana", readiness["grafana"], required))
    return _report(checks, out)


def _unreached(name: str, readiness: tuple[bool, str], required: Sequence[str]) -> Check:
    ok, detail = readiness
    if ok:
        return Check(name, FAIL, "ready, but no canary could be sent (the collector is not ready)")
    return Check(name, FAIL if name in required else SKIP, detail)


def _prometheus_probe(endpoints: Endpoints, client: httpx.Client, canary: Canary) -> str | None:
    query = f'{c.PROMETHEUS_CANARY_TIMESTAMP}{{job="{c.CANARY_SERVICE_NAME}"}}'
    response = client.get(f"{endpoints.prometheus}/api/v1/query", params={"query": query})
    for series in response.json()["data"]["result"]:
        if abs(float(series["value"][1]) - canary.timestamp) < 0.001:
            return f"canary metric point arrived ({c.PROMETHEUS_CANARY_TIMESTAMP} = {canary.timestamp:.3f})"
    return None


def _tempo_probe(endpoints: Endpoints, client: httpx.Client, canary: Canary) -> str | None:
    response = client.get(f"{endpoints.tempo}/api/traces/{canary.trace_id}")
    if response.status_code == 200 and canary.id in response.text:
        return f"canary trace {canary.trace_id} found"
    return None


def _loki_probe(endpoints: Endpoints, client: httpx.Client, canary: Canary) -> str | None:
    label = c.CANARY_ID.replace(".", "_")
    query = f'{{service_name="{c.CANARY_SERVICE_NAME}"}} | {label}="{canary.id}"'
    now = time.time()
    response = client.get(
        f"{endpoints.loki}/loki/api/v1/query_range",
        params={"query": query, "start": str(int((now - 600) * 1e9)), "end": str(int((now + 60) * 1e9))},
    )
    streams = response.json()["data"]["result"]
    if any(stream["values"] for stream in streams):
        return f"canary log record found by {label} in structured metadata"
    return None


def _report(checks: list[Check], out: Callable[[str], None]) -> int:
    for check in checks:
        out(check.line())
    failed = [check.component for check in checks if check.result == FAIL]
    out("doctor: " + (f"FAILED ({', '.join(failed)})" if failed else "all checks passed"))
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox doctor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--require",
        default="collector,prometheus",
        help="components that must pass; others are skipped when not running (default: collector,prometheus)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the canary (default 60)")
    args = parser.parse_args(argv)
    required = [name.strip() for name in args.require.split(",") if name.strip()]
    unknown = sorted(set(required) - set(COMPONENTS))
    if unknown:
        parser.error(f"unknown components {unknown}; choose from {', '.join(COMPONENTS)}")
    return run(os.environ, required, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
