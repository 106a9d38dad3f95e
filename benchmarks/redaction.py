"""What the redaction pass costs per exported span and per log record, against the package before it, in one run.

    .venv/bin/python benchmarks/redaction.py             # 7 interleaved rounds, about 40 s
    .venv/bin/python benchmarks/redaction.py --rounds 3

Each round runs each side in a fresh interpreter on the same inputs, made with the real OpenTelemetry SDK:
``before`` is the whole package of commit 3d498f3 (unpacked with ``git archive``), ``after`` the work tree's.

* spans: the three spans of one chat-service request (the FastAPI server span, the httpx client span with its
  ``url.full``, the GenAI ``chat`` span with usage and cost), each request with its own request, user and
  response ids, as :class:`glassbox.sdk.span_processor.GlassboxSpanProcessor` ends them (its exporting processor does
  nothing). ``before``'s processor redacted only opted-in content;
  ``after``'s redacts every string of every span. A fourth span with an exception event is measured apart.
* log records: the app's ``answered chat`` line with two extras and uvicorn's access line, through
  :class:`glassbox.sdk.logs.GlassboxLogFilter` and then the log record processor (the OTLP path), each side
  with its own redactor.

Printed per item: the median of the rounds in microseconds for each side, and after/before. Rounds alternate
the two sides so that a busy machine slows both alike; the spread is the lowest and highest round.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
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
    """One module as it is in commit BEFORE, loaded as module ``name`` (None when it is not there). It runs against
    the work tree's package, so only a module that imports nothing of glassbox's can be loaded this way."""
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


def package_at(commit: str, directory: Path) -> Path | None:
    """The whole package of ``commit`` (instrumentation/src) unpacked under ``directory``; None when absent."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "instrumentation/src"], cwd=ROOT, capture_output=True
    )
    if archive.returncode != 0:
        return None
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    return directory / "instrumentation" / "src"


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


def one_round(requests: int) -> dict[str, float]:
    """One round of every item with whichever glassbox is first on sys.path (its own redactor, span processor
    and log pipeline, each built the way that version builds it)."""
    from opentelemetry.instrumentation.logging.handler import LoggingHandler
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.trace import SpanProcessor

    from glassbox import instruments as instruments_module
    from glassbox.instruments import Instruments

    try:
        from glassbox.sdk import logs
        from glassbox.sdk import span_processor as spans
    except ImportError:  # the package before glassbox/sdk/ existed
        logs = importlib.import_module("glassbox.logs")
        spans = importlib.import_module("glassbox.spans")

    instruments = Instruments(meter_provider=MeterProvider())
    instruments_module.install(instruments)

    class Nothing(SpanProcessor):
        def on_end(self, span: Any) -> None:
            pass

    processor = spans.GlassboxSpanProcessor(Nothing(), instruments=instruments, capture_content=False)
    batches, failed = make_spans(requests)
    records = log_records(requests)
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(logs.GlassboxLogRecordProcessor(SimpleLogRecordProcessor(exporter)))
    handler_class = getattr(logs, "GlassboxLoggingHandler", LoggingHandler)
    handler = handler_class(logger_provider=provider)
    handler.addFilter(logs.GlassboxLogFilter())

    def spans_pass() -> int:
        for batch in batches:
            for span in batch:
                processor.on_end(span)
        return sum(len(batch) for batch in batches)

    def exception_pass() -> int:
        for _ in range(200):
            processor.on_end(failed)
        return 200

    def logs_pass() -> int:
        for original in records:
            handler.handle(logging.makeLogRecord(original.__dict__))
        exporter.clear()
        return len(records)

    return {
        "span (chat-service mix)": timed(spans_pass),
        "span with an exception event": timed(exception_pass),
        "log record (filter + OTLP)": timed(logs_pass),
    }


def run_side(source: Path, requests: int) -> dict[str, float]:
    """one_round in a fresh interpreter whose glassbox is the package at ``source``."""
    code = (
        f"import json, sys; sys.path.insert(0, {str(source)!r}); sys.path.insert(1, {str(ROOT)!r});"
        f"from benchmarks.redaction import one_round; print(json.dumps(one_round({requests})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=os.environ | {"PYTHONPATH": ""}
    )
    if result.returncode != 0:
        raise RuntimeError(f"the round with {source} failed:\n{result.stderr[-2000:]}")
    measured: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)

    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        before = package_at(BEFORE, Path(directory))
        if before is None:
            print(f"commit {BEFORE} is not in this clone: nothing to compare with")
            return 1
        sources = {"before": before, "after": ROOT / "instrumentation" / "src"}
        for _ in range(args.rounds):
            for side, source in sources.items():
                for item, value in run_side(source, args.requests).items():
                    results.setdefault(item, {}).setdefault(side, []).append(value)
    print(f"{args.rounds} rounds, {args.requests} requests (3 spans and 2 log records each)")
    print(f"{'item':32}{'before us':>12}{'after us':>12}{'after/before':>14}  spread (after, us)")
    for item, sides in results.items():
        before_us, after_us = statistics.median(sides["before"]), statistics.median(sides["after"])
        print(f"{item:32}{before_us:>12.2f}{after_us:>12.2f}{after_us / before_us:>14.2f}  {min(sides['after']):.2f}-"
              f"{max(sides['after']):.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
