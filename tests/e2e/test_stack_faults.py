"""Faults with the real collector and Prometheus: the app keeps serving, and data accepted is never lost silently.

1. The collector is down when the app starts: every request is served, and data flows once it is up.
2. Prometheus goes down while traffic runs, the collector is SIGKILLed and restarted, Prometheus comes back:
   the metric points the collector accepted while Prometheus was down reach Prometheus, with no gap.
3. Tempo and Loki are down and the collector is SIGKILLed: the spans and log records it had queued on disk
   are delivered once it restarts and they are back.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from opentelemetry._logs import LogRecord

from glassbox import conventions as c
from stack.native import NativeStack
from tests.conftest import free_port
from tests.e2e.test_demo_subprocess import demo_app, headers
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.stack_fixtures import (
    collector_metric,
    new_stack,
    otlp_http,
    otlp_providers,
    prom_query,
    prometheus_url,
    sigkill,
    wait_for,
)

REQUESTS = c.PROMETHEUS_NAMES[c.METRIC_HTTP_SERVER_DURATION] + "_count"


@contextmanager
def steady_traffic(url: str, per_second: float = 5.0) -> Iterator[list[int]]:
    """Chat requests at a steady rate in a thread; yields the status codes as they come."""
    statuses: list[int] = []
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/chat", json={"message": "hello"}, headers=headers("acme"))
                statuses.append(response.status_code)
                stop.wait(1 / per_second)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        thread.join(30)


def test_collector_down_when_the_app_starts_then_up(stub_url: str, tmp_path: Path) -> None:
    with OTLPReceiver() as sink:
        stack = new_stack(tmp_path, sink.port)
        try:
            with demo_app(stub_url, otlp_http(stack), tmp_path) as app, steady_traffic(app["url"]) as statuses:
                wait_for(lambda: len(statuses) >= 15, what="15 requests served with no collector")
                served_before = len(statuses)
                stack.up(["prometheus", "collector"])
                wait_for(
                    lambda: [s for s in sink.spans() if s["resource"].get(c.SERVICE_NAME) == "demo-agent"],
                    what="spans through the collector once it is up",
                )
                wait_for(lambda: prom_query(stack, f'{REQUESTS}{{job="demo-agent"}}'), what="metrics in Prometheus")
            assert served_before >= 15
            assert set(statuses) == {200}, sorted(set(statuses))
        finally:
            stack.down()


def raw_sample_times(stack: NativeStack, selector: str, start: float, end: float) -> list[float]:
    """Timestamps of the raw samples of the series (under selector) that has the most samples in [start, end]."""
    window = max(1, int(end - start) + 1)
    response = httpx.get(
        f"{prometheus_url(stack)}/api/v1/query", params={"query": f"{selector}[{window}s]", "time": end}, timeout=10
    )
    series: list[dict[str, Any]] = response.json()["data"]["result"]
    if not series:
        return []
    best = max(series, key=lambda s: len(s["values"]))
    return [float(t) for t, _ in best["values"] if start <= float(t) <= end]


def largest_gap(times: list[float], start: float, end: float) -> float:
    points = [start, *sorted(times), end]
    return max(b - a for a, b in itertools.pairwise(points))


def test_prometheus_down_collector_killed_and_restarted_loses_no_accepted_point(stub_url: str, tmp_path: Path) -> None:
    with OTLPReceiver() as sink:
        stack = new_stack(tmp_path, sink.port)
        try:
            stack.up(["prometheus", "collector"])
            # The demo app exports its metrics every second (OTEL_METRIC_EXPORT_INTERVAL=1000).
            with demo_app(stub_url, otlp_http(stack), tmp_path) as app, steady_traffic(app["url"]) as statuses:
                selector = f'{REQUESTS}{{job="demo-agent",http_route="/chat"}}'
                wait_for(lambda: prom_query(stack, selector), what="the request counter in Prometheus")

                prometheus_down = time.time()
                stack.stop("prometheus")
                accepted_before = collector_metric(stack, "otelcol_receiver_accepted_metric_points")
                time.sleep(12)  # the collector accepts points it cannot send
                accepted = collector_metric(stack, "otelcol_receiver_accepted_metric_points") - accepted_before
                assert accepted > 0, "the collector accepted nothing while Prometheus was down"
                killed = time.time()
                sigkill(stack, "collector")

                stack.up(["collector"])
                time.sleep(3)
                stack.up(["prometheus"])
                back = time.time()
                wait_for(
                    lambda: raw_sample_times(stack, selector, back, time.time() + 1),
                    timeout=90,
                    what="fresh samples after Prometheus came back",
                )
                # The points accepted while Prometheus was down come back from the collector's WAL.
                window = (prometheus_down + 1, killed - 2)

                def no_gap() -> float | None:
                    times = raw_sample_times(stack, selector, *window)
                    gap = largest_gap(times, *window)
                    return gap if gap <= 5 else None

                gap = wait_for(no_gap, timeout=120, what=f"no gap over 5 s in {selector} between {window}")
            assert gap <= 5
            assert set(statuses) == {200}, "the app must serve throughout"
        finally:
            stack.down()


def test_spans_and_logs_queued_on_disk_survive_a_collector_kill(tmp_path: Path) -> None:
    """Tempo and Loki down: what the collector accepted waits in its file_storage queue, through a SIGKILL."""
    sink_port = free_port()
    stack = new_stack(tmp_path, sink_port)
    marker = f"queued-{time.time_ns()}"
    try:
        stack.up(["collector"])
        send_marked_telemetry(otlp_http(stack), marker, count=20)
        wait_for(
            lambda: collector_metric(stack, "otelcol_exporter_queue_size") >= 2,
            what="spans and logs waiting in the collector's queues",
        )
        sigkill(stack, "collector")
        stack.up(["collector"])
        with OTLPReceiver(sink_port) as sink:  # Tempo and Loki are back
            spans = wait_for(
                lambda: {s["name"] for s in sink.spans() if s["attributes"].get("marker") == marker} or None,
                timeout=90,
                what="the queued spans after the restart",
            )
            logs = wait_for(
                lambda: [log for log in sink.logs() if log["attributes"].get("marker") == marker] or None,
                timeout=90,
                what="the queued log records after the restart",
            )
        assert spans == {f"queued {i}" for i in range(20)}
        assert len(logs) >= 20
    finally:
        stack.down()


def send_marked_telemetry(endpoint: str, marker: str, count: int) -> None:
    tracer_provider, logger_provider, _ = otlp_providers(endpoint, "queue-test")
    tracer, logger = tracer_provider.get_tracer("queue-test"), logger_provider.get_logger("queue-test")
    for i in range(count):
        with tracer.start_as_current_span(f"queued {i}", attributes={"marker": marker}):
            logger.emit(LogRecord(body=f"queued {i}", attributes={"marker": marker}))
    tracer_provider.shutdown()
    logger_provider.shutdown()
