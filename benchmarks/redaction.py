"""What the redaction pass costs per exported span and per log record, against the package before it, in one run.

    .venv/bin/python benchmarks/redaction.py             # 7 interleaved rounds, about 40 s
    .venv/bin/python benchmarks/redaction.py --rounds 3

Both sides run in this process on the same inputs, made with the real OpenTelemetry SDK:

* spans: the three spans of one chat-service request (the FastAPI server span, the httpx client span with its
  ``url.full``, the GenAI ``chat`` span with usage and cost), each request with its own request, user and
  response ids, as :class:`glassbox.sdk.span_processor.GlassboxSpanProcessor` ends them (its exporting processor does
  nothing). ``before`` is the processor of commit 3d498f3 (``git show 3d498f3:instrumentation/src/glassbox/
  spans.py``, loaded into a temporary module), which redacted only opted-in content; ``after`` is the work
  tree's, which redacts every string of every span. A fourth span with an exception event is measured apart.
* log records: the app's ``answered chat`` line with two extras and uvicorn's access line, through
  :class:`glassbox.sdk.logs.GlassboxLogFilter` and then the log record processor (the OTLP path), ``before`` with
  commit 3d498f3's logs.py and redactor, ``after`` with the work tree's.

Printed per item: the median of the rounds in microseconds for each side, and after/before. Rounds alternate
the two sides so that a busy machine slows both alike; the spread is the lowest and highest round.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The baseline: the package as it was before every exported string was redacted (only opted-in content was).
BEFORE = "3d498f3"


def head_module(path: str, name: str) -> ModuleType | None:
    """``path`` as it is in commit BEFORE, loaded as module ``name`` (None when it is not there)."""
    result = subprocess.run(["git", "show", f"{BEFORE}:{path}"], cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        return None
    with tempfile.TemporaryDirectory() as directory:
        file = Path(directory) / f"{name}.py"
        file.write_text(result.stdout)
        spec = importlib.util.spec_from_file_location(name, file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def make_spans(requests: int) -> tuple[list[list[Any]], Any]:
    """The finished spans of ``requests`` chat-service requests, and one span with an exception event."""
    from opentelemetry import baggage
    from opentelemetry import context as otel_context
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import SpanKind

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("benchmark")
    batches = []
    for index in range(requests):
        request_id, user = f"req-{uuid.uuid4().hex[:12]}", f"user-{index % 97}"
        token = otel_context.attach(baggage.set_baggage("glassbox.request.id", request_id))
        try:
            with tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as server:
                server.set_attributes({
                    "http.request.method": "POST", "url.scheme": "http", "url.path": "/chat", "http.route": "/chat",
                    "server.address": "127.0.0.1", "server.port": 8000, "network.protocol.version": "1.1",
                    "user_agent.original": "hey/0.0.1", "client.address": "127.0.0.1", "client.port": 50000 + index,
                    "http.response.status_code": 200, "glassbox.tenant.id": "acme", "user.id": user,
                    "glassbox.request.id": request_id,
                })  # fmt: skip
                with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as chat:
                    with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT) as http:
                        http.set_attributes({
                            "http.request.method": "POST", "url.full": "http://127.0.0.1:9000/v1/chat/completions",
                            "server.address": "127.0.0.1", "server.port": 9000, "network.protocol.version": "1.1",
                            "http.response.status_code": 200,
                        })  # fmt: skip
                    chat.set_attributes({
                        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                        "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
                        "gen_ai.response.id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                        "gen_ai.response.finish_reasons": ("stop",), "gen_ai.usage.input_tokens": 12 + index % 50,
                        "gen_ai.usage.output_tokens": 30, "server.address": "127.0.0.1", "server.port": 9000,
                    })  # fmt: skip
        finally:
            otel_context.detach(token)
        batches.append(list(exporter.get_finished_spans()))
        exporter.clear()
    try:
        with tracer.start_as_current_span("handler"):
            raise ValueError("upstream refused key sk-proj-Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1Jk0 for jane.doe@example.com")
    except ValueError:
        pass
    (failed,) = exporter.get_finished_spans()
    return batches, failed


def log_records(requests: int) -> list[logging.LogRecord]:
    records = []
    for index in range(requests):
        app = logging.LogRecord("chat_service", logging.INFO, __file__, 1, "answered chat", (), None)
        app.__dict__.update({"model": "gpt-4o", "tokens": 42 + index % 50})
        access = logging.LogRecord(
            "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
            (f"127.0.0.1:{50000 + index}", "POST", "/chat", "1.1", 200), None,
        )  # fmt: skip
        records += [app, access]
    return records


def timed(work: Callable[[], int]) -> float:
    """Microseconds per item of one pass of ``work`` (which returns how many items it handled)."""
    start = time.perf_counter()
    items = work()
    return (time.perf_counter() - start) / items * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)

    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import SpanProcessor

    from glassbox import instruments as instruments_module
    from glassbox.instruments import Instruments
    from glassbox.sdk import logs
    from glassbox.sdk import span_processor as spans

    old_redaction = head_module("instrumentation/src/glassbox/redaction.py", "glassbox_head_redaction")
    old_spans = head_module("instrumentation/src/glassbox/spans.py", "glassbox_head_spans")
    old_logs = head_module("instrumentation/src/glassbox/logs.py", "glassbox_head_logs")
    if old_redaction is None or old_spans is None or old_logs is None:
        print("the last commit has no glassbox/redaction.py, spans.py or logs.py to compare with")
        return 1
    instruments = Instruments(meter_provider=MeterProvider())
    instruments_module.install(instruments)
    new_log_redactor = instruments.log_redactor
    old_log_redactor = old_redaction.build_redactor()

    class Nothing(SpanProcessor):
        def on_end(self, span: Any) -> None:
            pass

    processors = {
        "before": old_spans.GlassboxSpanProcessor(Nothing(), instruments=instruments, capture_content=False),
        "after": spans.GlassboxSpanProcessor(Nothing(), instruments=instruments, capture_content=False),
    }
    batches, failed = make_spans(args.requests)
    records = log_records(args.requests)
    exporter = InMemoryLogRecordExporter()

    def log_pipeline(module: ModuleType) -> tuple[Any, Any]:
        provider = LoggerProvider()
        provider.add_log_record_processor(module.GlassboxLogRecordProcessor(SimpleLogRecordProcessor(exporter)))
        handler_class = getattr(module, "GlassboxLoggingHandler", None)
        if handler_class is None:
            from opentelemetry.instrumentation.logging.handler import LoggingHandler as handler_class
        handler = handler_class(logger_provider=provider)
        handler.addFilter(module.GlassboxLogFilter())
        return provider, handler

    pipelines = {"before": log_pipeline(old_logs), "after": log_pipeline(logs)}
    results: dict[str, dict[str, list[float]]] = {}

    def record(item: str, side: str, value: float) -> None:
        results.setdefault(item, {}).setdefault(side, []).append(value)

    for _ in range(args.rounds):
        for side in ("before", "after"):
            processor = processors[side]
            instruments.log_redactor = old_log_redactor if side == "before" else new_log_redactor

            def spans_pass(processor: Any = processor) -> int:
                for batch in batches:
                    for span in batch:
                        processor.on_end(span)
                return sum(len(batch) for batch in batches)

            def exception_pass(processor: Any = processor) -> int:
                for _ in range(200):
                    processor.on_end(failed)
                return 200

            _, handler = pipelines[side]

            def logs_pass(handler: Any = handler) -> int:
                for original in records:
                    copy = logging.makeLogRecord(original.__dict__)
                    handler.handle(copy)
                exporter.clear()
                return len(records)

            record("span (chat-service mix)", side, timed(spans_pass))
            record("span with an exception event", side, timed(exception_pass))
            record("log record (filter + OTLP)", side, timed(logs_pass))
    instruments.log_redactor = new_log_redactor
    print(f"{args.rounds} rounds, {args.requests} requests (3 spans and 2 log records each)")
    print(f"{'item':32}{'before us':>12}{'after us':>12}{'after/before':>14}  spread (after, us)")
    for item, sides in results.items():
        before, after = statistics.median(sides["before"]), statistics.median(sides["after"])
        print(f"{item:32}{before:>12.2f}{after:>12.2f}{after / before:>14.2f}  {min(sides['after']):.2f}-"
              f"{max(sides['after']):.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
