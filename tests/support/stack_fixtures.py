"""The real collector and Prometheus on free loopback ports, started by the native runner, for integration tests.

Tempo's and Loki's OTLP endpoints point at a test OTLP receiver, so what the collector would send them is
captured and decoded. `make test` builds the collector and installs Prometheus first: a missing binary is an
error here, not a skip.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from glassbox import conventions as c
from glassbox.cli.doctor import sum_samples
from glassbox.stack_addresses import PORT_DEFAULTS
from stack.components import BY_NAME, executable, not_found
from stack.native import NativeStack, port_in_use
from stack.processes import free_port as distinct_free_port


def new_stack(tmp_path: Path, sink_port: int | None = None, **env: str) -> NativeStack:
    """A stack (not started) on free loopback ports; Tempo's and Loki's OTLP endpoints on sink_port if given."""
    taken = {int(value) for value in env.values() if value.isdigit()}  # ports the caller chose: not these again
    environ = {name: str(distinct_free_port(taken)) for name in PORT_DEFAULTS}
    if sink_port is not None:
        environ["GLASSBOX_TEMPO_OTLP_HTTP_PORT"] = environ["GLASSBOX_LOKI_PORT"] = str(sink_port)
    environ.update(env)
    return NativeStack(tmp_path / "stack", environ)


@contextmanager
def native_stack(
    tmp_path: Path, sink_port: int, components: tuple[str, ...] = ("prometheus", "collector"), **env: str
) -> Iterator[NativeStack]:
    for component in components:
        if executable(component) is None:
            raise RuntimeError(f"{not_found(component)}; `make test` installs it (see the Makefile)")
    stack = new_stack(tmp_path, sink_port, **env)
    try:
        stack.up(list(components))
        yield stack
    finally:
        stack.down()


def otlp_providers(endpoint: str, service: str) -> tuple[TracerProvider, LoggerProvider, MeterProvider]:
    """Fresh SDK providers exporting synchronously by OTLP/HTTP to endpoint (metrics on force_flush)."""
    resource = Resource.create({c.SERVICE_NAME: service})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoint}/v1/logs")))
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"), export_interval_millis=math.inf
    )
    return tracer_provider, logger_provider, MeterProvider(resource=resource, metric_readers=[reader])


def otlp_http(stack: NativeStack) -> str:
    return f"http://127.0.0.1:{stack.env['GLASSBOX_OTLP_HTTP_PORT']}"


def prometheus_url(stack: NativeStack) -> str:
    return f"http://127.0.0.1:{stack.env['GLASSBOX_PROMETHEUS_PORT']}"


def prom_query(stack: NativeStack, query: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{prometheus_url(stack)}/api/v1/query", params={"query": query}, timeout=10)
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def prom_range(stack: NativeStack, query: str, start: float, end: float, step: str = "5s") -> list[dict[str, Any]]:
    response = httpx.get(
        f"{prometheus_url(stack)}/api/v1/query_range",
        params={"query": query, "start": start, "end": end, "step": step},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json()["data"]["result"])


def collector_metric(stack: NativeStack, name: str) -> float:
    """Sum of one of the collector's own metrics over all its label sets (0 when absent)."""
    text = httpx.get(f"http://127.0.0.1:{stack.env['GLASSBOX_COLLECTOR_METRICS_PORT']}/metrics", timeout=5).text
    return sum_samples(text, name)


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout:.0f}s (last: {result!r})")
        time.sleep(0.5)


def sigkill(stack: NativeStack, name: str) -> None:
    """Kill a component the hard way (a crash), and wait until its ports are free again."""
    pid = stack.running_pid(name)
    assert pid is not None, f"{name} is not running"
    os.killpg(pid, signal.SIGKILL)
    ports = [int(stack.env[variable]) for variable in BY_NAME[name].port_variables]
    wait_for(lambda: not any(port_in_use(port) for port in ports), what=f"{name}'s ports to be released")
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
