"""`glassbox doctor`: is every part of the stack ready, and does data really flow through it?

It checks each component's readiness endpoint, then sends one canary trace, log record and metric point with
a unique id through the collector and looks for each in its backend: the span in Tempo, the log record in
Loki (by the canary id in structured metadata), the metric point in Prometheus (by its value, the emission
time). Where a backend is not running, the collector's own counters show whether the canary got that far.
One line per component: PASS, FAIL or SKIP (an optional component that is not running). Exit status 1 on
any FAIL. With GLASSBOX_STATE_URL set, the fleet state is checked too: its schema, and that the apps' role is a
member of glassbox_writer and no more (a superuser or owner role FAILs).

With ``--watch SECONDS`` it runs a pass every SECONDS (start to start) until SIGTERM or SIGINT, each pass
under a UTC timestamp line: the periodic canary whose ``glassbox_canary_timestamp_seconds`` alerts watch for
staleness. A failing pass, or one that raises, does not end the loop; a stop request abandons the current pass
at its next wait, and the exit status is 0.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import FrameType

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
from glassbox import settings
from glassbox.stack_addresses import Endpoints

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
# The shortest --watch interval: a pass with nothing running takes about a second, with the stack a few.
MIN_WATCH_INTERVAL = 5.0


class Stop:
    """A stop request, set from a signal handler; waits check it every tenth of a second.

    A plain flag rather than a threading.Event: Event.set takes a lock that the code the signal interrupted may
    hold (inside Event.wait), which would deadlock the handler.
    """

    def __init__(self) -> None:
        self.requested = False

    def set(self) -> None:
        self.requested = True

    def is_set(self) -> bool:
        return self.requested

    def wait(self, seconds: float) -> bool:
        """Sleep up to seconds, less when a stop is requested; True when one is."""
        deadline = time.monotonic() + seconds
        while not self.requested and (remaining := deadline - time.monotonic()) > 0:
            time.sleep(min(remaining, 0.1))
        return self.requested


class Stopped(Exception):
    """A stop was requested in the middle of a pass; raised at its next wait."""


def _check(stop: Stop | None) -> None:
    if stop is not None and stop.is_set():
        raise Stopped


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
    # Shut down below rather than at exit: under --watch a pass every minute would pile up exit handlers.
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoints.otlp_http}/v1/traces", timeout=timeout))
    )
    logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoints.otlp_http}/v1/logs", timeout=timeout))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{endpoints.otlp_http}/v1/metrics", timeout=timeout),
        export_interval_millis=math.inf,
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
    try:
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
    finally:
        for provider in (tracer_provider, logger_provider, meter_provider):
            provider.shutdown()
    return Canary(canary_id, trace_id, timestamp)


def poll(probe: Callable[[], str | None], deadline: float, stop: Stop | None = None) -> str | None:
    """Call probe until it returns a finding or the deadline passes; None means nothing was found.

    With stop, a stop request between probes raises Stopped.
    """
    while True:
        _check(stop)
        try:
            found = probe()
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            found = None
        if found is not None or time.monotonic() >= deadline:
            return found
        if stop is None:
            time.sleep(1)
        elif stop.wait(1):
            raise Stopped


def run(
    environ: Mapping[str, str],
    required: Sequence[str] = ("collector", "prometheus"),
    timeout: float = 60.0,
    out: Callable[[str], None] = print,
    stop: Stop | None = None,
) -> int:
    """One pass; with stop, a stop request raises Stopped at the pass's next wait or request."""
    endpoints = Endpoints.from_environ(environ)
    checks: list[Check] = []
    state = state_check(environ)
    if state is not None:
        out(f"  {'state':<11} {state.detail}")
        checks.append(state)
    with httpx.Client(timeout=5) as client:
        readiness: dict[str, tuple[bool, str]] = {}
        for name in COMPONENTS:
            _check(stop)
            readiness[name] = ready(endpoints, name, client)
        for name, (_ok, detail) in readiness.items():
            out(f"  {name:<11} {detail}")
        if not readiness["collector"][0]:
            checks.append(Check("collector", FAIL, "not ready, so no canary can be sent: " + readiness["collector"][1]))
            for name in COMPONENTS[1:]:
                checks.append(_unreached(name, readiness[name], required))
            return _report(checks, out)

        _check(stop)
        before = accepted(collector_metrics(endpoints, client))
        canary = send_canary(endpoints, timeout=min(timeout, 10))
        out(f"  canary {canary.id} (trace {canary.trace_id}) sent at {canary.timestamp:.3f}")
        deadline = time.monotonic() + timeout

        def collector_probe() -> str | None:
            after = accepted(collector_metrics(endpoints, client))
            if all(after[s] > before[s] for s in before):
                return "accepted the canary span, log record and metric point"
            return None

        found = poll(collector_probe, deadline, stop)
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
            found = poll(probe, deadline, stop)
            checks.append(
                Check(name, PASS, found)
                if found
                else Check(name, FAIL, f"ready, but the canary did not arrive within {timeout:.0f}s")
            )
        ok, detail = readiness["grafana"]
        checks.append(Check("grafana", PASS, detail) if ok else _unreached("grafana", readiness["grafana"], required))
    return _report(checks, out)


def state_check(environ: Mapping[str, str]) -> Check | None:
    """The fleet state the apps use (GLASSBOX_STATE_URL; None when it is not set): it answers, its schema is the one
    this glassbox uses, and its role is no more than an app's (FAIL when it is a superuser or owns glassbox's
    tables: the audit trail and the budgets would not hold against the app)."""
    url = settings.STATE_URL.get(environ)
    if not url:
        return None
    try:
        import psycopg

        from glassbox.db import Database, check_role, check_schema, describe, redact_url
    except ImportError as error:
        return Check("state", FAIL, f"GLASSBOX_STATE_URL is set but psycopg is missing ({error})")
    try:
        database = Database(url, 5.0)
    except ValueError as error:
        return Check("state", FAIL, str(error))
    try:
        with database.connect() as connection:
            version = check_schema(connection)
            role = check_role(connection)
    except (psycopg.Error, OSError, RuntimeError) as error:
        return Check("state", FAIL, f"{database.safe_url}: {redact_url(describe(error))}")
    finally:
        database.close()
    if role.privileged:
        return Check("state", FAIL, f"{database.safe_url}: {role.problem()}")
    return Check("state", PASS, f"{database.safe_url}: schema version {version}, role {role.role} (an app's)")


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


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def watch(
    environ: Mapping[str, str],
    interval: float,
    stop: Stop,
    required: Sequence[str] = ("collector", "prometheus"),
    timeout: float = 60.0,
    out: Callable[[str], None] = print,
) -> int:
    """A pass every interval seconds, start to start (at once when a pass ran longer), until stop is set.

    Whatever a pass raises is printed and the loop goes on; the status is 0 when it is stopped.
    """
    passes = 0
    while not stop.is_set():
        started = time.monotonic()
        passes += 1
        out(f"=== {utc_now()} glassbox doctor pass {passes} (every {interval:g}s) ===")
        try:
            run(environ, required, timeout, out, stop=stop)
        except Stopped:
            out("doctor: stop requested, pass abandoned")
        except Exception as error:
            out(f"ERROR  doctor pass {passes} raised {type(error).__name__}: {error}")
            for line in traceback.format_exc().rstrip().splitlines():
                out(f"    {line}")
        stop.wait(max(0.0, started + interval - time.monotonic()))
    out(f"=== {utc_now()} glassbox doctor stopped after {passes} passes ===")
    return 0


def _watch_interval(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not math.isfinite(seconds) or seconds < MIN_WATCH_INTERVAL:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_WATCH_INTERVAL:g} seconds, got {value}")
    return seconds


def _print_flushed(line: str) -> None:
    print(line, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox doctor", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--require",
        default="collector,prometheus",
        help="components that must pass; others are skipped when not running (default: collector,prometheus)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the canary (default 60)")
    parser.add_argument(
        "--watch",
        type=_watch_interval,
        metavar="SECONDS",
        help=f"run a pass every SECONDS (at least {MIN_WATCH_INTERVAL:g}) until SIGTERM or SIGINT, then exit 0",
    )
    args = parser.parse_args(argv)
    required = [name.strip() for name in args.require.split(",") if name.strip()]
    unknown = sorted(set(required) - set(COMPONENTS))
    if unknown:
        parser.error(f"unknown components {unknown}; choose from {', '.join(COMPONENTS)}")
    if args.watch is None:
        return run(os.environ, required, args.timeout)

    stop = Stop()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {number: signal.signal(number, request_stop) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        return watch(os.environ, args.watch, stop, required, args.timeout, _print_flushed)
    finally:
        for number, handler in previous.items():
            if handler is not None:  # None: a handler not set from Python, which cannot be restored
                signal.signal(number, handler)


if __name__ == "__main__":
    sys.exit(main())
