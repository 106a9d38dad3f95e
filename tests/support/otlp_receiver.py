"""A minimal OTLP/HTTP (protobuf) receiver for tests: it stores what an app exports, decoded."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

_MESSAGES = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
}


def value_of(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in any_value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in any_value.kvlist_value.values}
    return getattr(any_value, kind) if kind else None


def attributes(items: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in items}


class OTLPReceiver:
    def __init__(self, port: int = 0) -> None:
        self.requests: dict[str, list[Any]] = {path: [] for path in _MESSAGES}
        self.raw: list[bytes] = []
        # Requests containing these bytes are answered 400, as a backend refuses bad data (not retried).
        self.reject: bytes | None = None
        self.rejected = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                # Loki serves OTLP under /otlp; one receiver can stand in for Tempo and Loki at once.
                path = self.path.removeprefix("/otlp")
                message_type = _MESSAGES.get(path)
                if message_type is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                if receiver.reject and receiver.reject in body:
                    with receiver.lock:
                        receiver.rejected += 1
                    self.send_response(400)
                    self.send_header("content-length", "0")
                    self.end_headers()
                    return
                message = message_type()
                message.ParseFromString(body)
                with receiver.lock:
                    receiver.requests[path].append(message)
                    receiver.raw.append(body)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> OTLPReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            requests = list(self.requests["/v1/traces"])
        for request in requests:
            for resource_spans in request.resource_spans:
                resource = attributes(resource_spans.resource.attributes)
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        out.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_span_id": span.parent_span_id.hex(),
                                "kind": span.kind,
                                "attributes": attributes(span.attributes),
                                "resource": resource,
                                "scope": scope_spans.scope.name,
                            }
                        )
        return out

    def logs(self) -> list[dict[str, Any]]:
        out = []
        with self.lock:
            requests = list(self.requests["/v1/logs"])
        for request in requests:
            for resource_logs in request.resource_logs:
                resource = attributes(resource_logs.resource.attributes)
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        out.append(
                            {
                                "body": value_of(record.body),
                                "trace_id": record.trace_id.hex(),
                                "span_id": record.span_id.hex(),
                                "attributes": attributes(record.attributes),
                                "severity": record.severity_text,
                                "event_name": record.event_name,
                                "resource": resource,
                            }
                        )
        return out

    def metric_names(self) -> dict[str, list[dict[str, Any]]]:
        """Metric name -> attributes of each data point received."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.lock:
            requests = list(self.requests["/v1/metrics"])
        for request in requests:
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        data = getattr(metric, metric.WhichOneof("data"))
                        points = out.setdefault(metric.name, [])
                        for point in data.data_points:
                            entry = attributes(point.attributes)
                            entry["_exemplars"] = len(getattr(point, "exemplars", []))
                            points.append(entry)
        return out
