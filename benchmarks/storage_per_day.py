"""Object storage per day: what Loki keeps per log record, measured with the real binary, and what a trace of
the chat-service shape weighs as compressed OTLP (Tempo's own size cannot be measured where no Tempo runs).

    GLASSBOX_BIN_DIR=/path/to/loki/dir .venv/bin/python benchmarks/storage_per_day.py [--records 50000]

Loki runs loki/loki.yaml (the single host's config; the scalable one stores the same chunks in a bucket) in a
temporary directory on free loopback ports. Records shaped like the app's (the ``answered chat`` line with its
trace and span ids, tenant, request id and the resource of a real service) are pushed over OTLP/HTTP in batches
of 500, the ingester is flushed, and the chunk and index files on disk are summed. Spans: traces of 4 spans with
the attributes Glassbox puts on a model call, serialized as OTLP protobuf and gzip-compressed.
"""

from __future__ import annotations

import argparse
import gzip
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stack.binaries import find_binary  # noqa: E402  (the repository root, added above)

RESOURCE = {
    "service.name": "chat-service",
    "service.version": "1.4.2",
    "deployment.environment.name": "production",
    "service.instance.id": "3f1c9a52-0d4e-4b7a-9c11-5e2f8a7b6c3d",
    "telemetry.sdk.language": "python",
    "telemetry.sdk.name": "opentelemetry",
    "telemetry.sdk.version": "1.41.0",
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _attributes(values: dict[str, str | int]) -> list[object]:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    return [
        KeyValue(key=k, value=AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v))
        for k, v in values.items()
    ]


def log_batch(count: int, tenant_count: int = 50) -> bytes:
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    now = time.time_ns()
    records = []
    for n in range(count):
        attributes: dict[str, str | int] = {
            "glassbox.tenant.id": f"tenant-{n % tenant_count}",
            "glassbox.request.id": secrets.token_hex(8),
            "model": "gpt-4o-mini",
            "answer_chars": 120 + n % 400,
            "code.function.name": "chat",
            "code.file.path": "/app/chat_service.py",
            "code.line.number": 44,
        }
        records.append(
            LogRecord(
                time_unix_nano=now + n,
                observed_time_unix_nano=now + n,
                severity_number=9,
                severity_text="INFO",
                body=AnyValue(string_value="answered chat"),
                attributes=_attributes(attributes),
                trace_id=secrets.token_bytes(16),
                span_id=secrets.token_bytes(8),
            )
        )
    scope = ScopeLogs(scope=InstrumentationScope(name="chat"), log_records=records)
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=Resource(attributes=_attributes(dict(RESOURCE))), scope_logs=[scope])]
    )
    return request.SerializeToString()


def span_batch(traces: int) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    now = time.time_ns()
    spans = []
    for n in range(traces):
        trace_id, root = secrets.token_bytes(16), secrets.token_bytes(8)
        shapes: list[tuple[str, int, dict[str, str | int]]] = [
            ("POST /chat", 2, {"http.request.method": "POST", "http.route": "/chat", "http.response.status_code": 200}),
            (
                "chat gpt-4o-mini",
                3,
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
                    "gen_ai.usage.input_tokens": 40 + n % 300,
                    "gen_ai.usage.output_tokens": 20 + n % 64,
                    "gen_ai.response.id": "chatcmpl-" + secrets.token_hex(12),
                    "glassbox.cost.usd": "0.000042",
                    "glassbox.tenant.id": f"tenant-{n % 50}",
                },
            ),
            (
                "POST",
                3,
                {"http.request.method": "POST", "server.address": "api.openai.com", "http.response.status_code": 200},
            ),
            ("glassbox.guard", 1, {"glassbox.tenant.id": f"tenant-{n % 50}", "glassbox.guard.decision": "allow"}),
        ]
        for index, (name, kind, attributes) in enumerate(shapes):
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=root if index == 0 else secrets.token_bytes(8),
                    parent_span_id=b"" if index == 0 else root,
                    name=name,
                    kind=kind,
                    start_time_unix_nano=now + n * 1000,
                    end_time_unix_nano=now + n * 1000 + 25_000_000,
                    attributes=_attributes(attributes),
                )
            )
    scope = ScopeSpans(scope=InstrumentationScope(name="glassbox"), spans=spans)
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=Resource(attributes=_attributes(dict(RESOURCE))), scope_spans=[scope])]
    )
    return request.SerializeToString()


def loki_bytes_per_record(records: int) -> float:
    binary = find_binary("loki")
    if binary is None:
        raise SystemExit("loki binary not found on PATH or in GLASSBOX_BIN_DIR")
    with tempfile.TemporaryDirectory(prefix="glassbox-storage-") as directory:
        http, grpc = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("GLASSBOX_")}
        env.update(GLASSBOX_LOKI_PORT=str(http), GLASSBOX_LOKI_GRPC_PORT=str(grpc), GLASSBOX_LOKI_DATA_DIR=directory)
        log = Path(directory) / "loki.log"
        with log.open("wb") as out:
            loki = subprocess.Popen(
                [str(binary), f"-config.file={ROOT / 'loki' / 'loki.yaml'}", "-config.expand-env=true"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            url = f"http://127.0.0.1:{http}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(1)
            for _ in range(records // 500):
                response = httpx.post(
                    f"{url}/otlp/v1/logs",
                    content=log_batch(500),
                    headers={"content-type": "application/x-protobuf"},
                    timeout=30,
                )
                response.raise_for_status()
            httpx.post(f"{url}/flush", timeout=60).raise_for_status()
            time.sleep(10)
            chunks = sum(p.stat().st_size for p in (Path(directory) / "chunks").rglob("*") if p.is_file())
        finally:
            loki.terminate()
            loki.wait(30)
    return chunks / (records // 500 * 500)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=50000)
    args = parser.parse_args()
    per_record = loki_bytes_per_record(args.records)
    raw = span_batch(1000)
    per_span_gzip = len(gzip.compress(raw)) / 4000
    print(f"Loki: {per_record:.1f} bytes of chunks per log record ({args.records:,} records, flushed)")
    print(f"OTLP spans: {len(raw) / 4000:.0f} bytes raw, {per_span_gzip:.0f} bytes gzip'd per span (1,000 traces of 4)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
