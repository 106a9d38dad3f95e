"""The collector under a burst of large concurrent requests stays near its memory limit.

The issue's burst: 64 connections sending requests of 8192 items at once. The receivers decode a whole request
before memory_limiter sees it, and this collector release has no admission control ahead of decoding, so
collector/config.yaml caps the OTLP/HTTP request body (1 MiB): such requests are answered 413 before they are
read whole, and the collector's RSS stays within its memory limit + 25%. Requests of the SDKs' size still pass.
"""

from __future__ import annotations

import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.otlp_receiver import OTLPReceiver
from tests.support.stack_fixtures import native_stack, otlp_http

LIMIT_MIB = 256
CONNECTIONS = 64
BURST_SECONDS = 5.0


def request_of(spans: int) -> bytes:
    """One OTLP/HTTP trace request of that many spans, about 390 bytes each (as the benchmark's)."""
    now = time.time_ns()
    attributes = [
        KeyValue(key="http.route", value=AnyValue(string_value="/chat")),
        KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o-mini")),
        KeyValue(key="user.email", value=AnyValue(string_value="jane.doe@example.com")),
        KeyValue(key="note", value=AnyValue(string_value="asked about invoice 4711 on the pro plan, twice")),
    ]
    items = [
        Span(
            trace_id=secrets.token_bytes(16),
            span_id=secrets.token_bytes(8),
            name="POST /chat",
            kind=2,
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1_000_000,
            attributes=attributes,
        )
        for _ in range(spans)
    ]
    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="burst"))])
    message = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=items)])]
    )
    return message.SerializeToString()


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} for pid {pid}")


def test_a_burst_of_large_concurrent_requests_is_refused_and_rss_stays_near_the_limit(tmp_path: Path) -> None:
    large = request_of(8192)
    assert len(large) > 1024 * 1024, "the burst's requests are over the receiver's cap"
    with (
        OTLPReceiver() as backend,
        native_stack(
            tmp_path,
            backend.port,
            ("collector",),
            GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB=str(LIMIT_MIB),
            GLASSBOX_COLLECTOR_MEMORY_SPIKE_MIB="64",
        ) as stack,
    ):
        pid = stack.running_pid("collector")
        assert pid is not None
        url = f"{otlp_http(stack)}/v1/traces"
        headers = {"content-type": "application/x-protobuf"}
        peak = rss_mib(pid)
        statuses: dict[int, int] = {}
        reasons: set[str] = set()
        lock = threading.Lock()
        deadline = time.monotonic() + BURST_SECONDS

        def connection() -> None:
            with httpx.Client(timeout=30) as client:
                while time.monotonic() < deadline:
                    try:
                        answer = client.post(url, content=large, headers=headers)
                        status = answer.status_code
                        with lock:
                            reasons.add(answer.text[:200])
                    except httpx.HTTPError:
                        status = 0  # the server may close a connection whose body it refused
                    with lock:
                        statuses[status] = statuses.get(status, 0) + 1

        with ThreadPoolExecutor(CONNECTIONS) as pool:
            futures = [pool.submit(connection) for _ in range(CONNECTIONS)]
            while not all(f.done() for f in futures):
                peak = max(peak, rss_mib(pid))
                time.sleep(0.02)
            for future in futures:
                future.result()
        peak = max(peak, rss_mib(pid, "VmHWM"))
        sent = sum(statuses.values())
        assert sent >= CONNECTIONS, statuses
        # confighttp answers 400 with the reason "request body too large", before decoding.
        assert set(statuses) <= {400, 0} and statuses.get(400, 0) > 0, f"the oversized requests: {statuses}"
        assert any("request body too large" in reason for reason in reasons), reasons
        assert peak <= LIMIT_MIB * 1.25, f"peak RSS {peak:.0f} MiB over {LIMIT_MIB} MiB + 25% after {sent} requests"
        # A request of the SDKs' size (512 items, about 200 KB) and one of 2048 items still pass.
        for size in (512, 2048):
            answer = httpx.post(url, content=request_of(size), headers=headers, timeout=30)
            assert answer.status_code == 200, (size, answer.status_code, answer.text)
        print(
            f"burst: {sent} requests of {len(large):,} bytes from {CONNECTIONS} connections: {statuses}; "
            f"peak RSS {peak:.0f} MiB (limit {LIMIT_MIB})"
        )
