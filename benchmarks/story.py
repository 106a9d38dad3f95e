"""`glassbox story` for one trace of 500 spans, against fetching the same trace from Tempo alone.

    python benchmarks/story.py [--spans 500] [--rounds 5]

Needs a running stack with Tempo and Loki (`make up`, ports from the GLASSBOX_* settings). Sends one trace of
``--spans`` spans (model calls with usage and cost, tool calls, a log record per span) through the collector,
waits until Tempo returns all of it, then times ``Story.bundle(trace_id)`` (Tempo, Loki, the audit log,
masking) against a plain ``GET /api/traces/{id}`` in the same rounds. Target: the story under 2 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from glassbox import conventions as c
from glassbox.cli import story
from glassbox.stack_addresses import Endpoints

TARGET_SECONDS = 2.0


def send_trace(endpoints: Endpoints, spans: int) -> str:
    resource = Resource.create({c.SERVICE_NAME: "story-bench"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoints.otlp_http}/v1/traces"))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{endpoints.otlp_http}/v1/logs"))
    )
    tracer = tracer_provider.get_tracer("bench")
    logger = logger_provider.get_logger("bench")
    with tracer.start_as_current_span("POST /agent") as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        for n in range(spans - 1):
            model_call = n % 2 == 0
            attributes = (
                {
                    c.GEN_AI_OPERATION_NAME: c.OPERATION_CHAT,
                    c.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    c.GEN_AI_USAGE_INPUT_TOKENS: 40,
                    c.GEN_AI_USAGE_OUTPUT_TOKENS: 12,
                    c.COST_USD: 0.00002,
                    c.USAGE_COUNTED: True,
                }
                if model_call
                else {c.GEN_AI_OPERATION_NAME: c.OPERATION_EXECUTE_TOOL, c.GEN_AI_TOOL_NAME: "search_docs"}
            )
            with tracer.start_as_current_span(
                "chat gpt-4o-mini" if model_call else "execute_tool", attributes=attributes
            ):
                logger.emit(LogRecord(body=f"step {n}", severity_number=SeverityNumber.INFO))
    tracer_provider.shutdown()
    logger_provider.shutdown()
    return trace_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spans", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    endpoints = Endpoints.from_environ(os.environ)
    try:
        httpx.get(f"{endpoints.tempo}/ready", timeout=5).raise_for_status()
        httpx.get(f"{endpoints.loki}/ready", timeout=5).raise_for_status()
    except httpx.HTTPError as error:
        print(f"Tempo and Loki must run (make up): {error}")
        return 2
    trace_id = send_trace(endpoints, args.spans)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        response = httpx.get(f"{endpoints.tempo}/api/traces/{trace_id}", timeout=10)
        if response.status_code == 200 and len(story.spans_of(response.json())) >= args.spans:
            break
        time.sleep(1)
    else:
        print(f"Tempo did not return the {args.spans} spans of {trace_id} within 120 s")
        return 1
    audit_log = Path(tempfile.mkdtemp()) / "audit.jsonl"
    raw, told = [], []
    for _ in range(args.rounds):
        started = time.perf_counter()
        httpx.get(f"{endpoints.tempo}/api/traces/{trace_id}", timeout=30).json()
        raw.append(time.perf_counter() - started)
        started = time.perf_counter()
        bundle = story.Story(endpoints, timeout=30, since_seconds=3600, audit_log=audit_log).bundle(trace_id)
        told.append(time.perf_counter() - started)
    story_s, raw_s = statistics.median(told), statistics.median(raw)
    print(f"trace {trace_id}: {len(bundle['spans'])} spans, {len(bundle['logs'])} log records, "
          f"{bundle['totals']['model_calls']} model calls, missing {bundle['missing'] or 'nothing'}")  # fmt: skip
    print(f"Tempo fetch alone: median {raw_s * 1000:.0f} ms; glassbox story: median {story_s * 1000:.0f} ms "
          f"(ratio {story_s / raw_s:.1f}); target under {TARGET_SECONDS:.0f} s: "
          f"{'met' if story_s < TARGET_SECONDS else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
