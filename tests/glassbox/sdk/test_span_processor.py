"""glassbox.sdk.span_processor and the log record processor: prompt and completion content removed unless the user
opts in, and redacted when they do, on spans, span events and GenAI events sent as log records."""

from __future__ import annotations

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from glassbox import attribution
from glassbox import conventions as c
from glassbox.sdk.logs import GlassboxLogRecordProcessor
from glassbox.sdk.span_processor import GlassboxSpanProcessor
from tests.conftest import Telemetry


def _content_pipeline(capture: bool) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(GlassboxSpanProcessor(SimpleSpanProcessor(exporter), capture_content=capture))
    return provider, exporter


PROMPT = "My card is 4111 1111 1111 1111, mail jane@example.com, key sk-proj-ABCDEFGHIJKLMNOPQRSTUV"


@pytest.mark.parametrize("capture", [False, True])
def test_content_removed_by_default_and_redacted_when_opted_in(telemetry: Telemetry, capture: bool) -> None:
    provider, exporter = _content_pipeline(capture)
    with provider.get_tracer("t").start_as_current_span(
        "chat gpt-4o",
        attributes={c.GEN_AI_OPERATION_NAME: "chat", "gen_ai.input.messages": PROMPT},
    ) as span:
        span.add_event("gen_ai.client.inference.operation.details", {"gen_ai.output.messages": PROMPT})
    (finished,) = exporter.get_finished_spans()
    text = repr(dict(finished.attributes)) + repr([dict(e.attributes) for e in finished.events])
    for secret in ("4111 1111 1111 1111", "jane@example.com", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV"):
        assert secret not in text
    if capture:
        assert finished.attributes["gen_ai.input.messages"].startswith("My card is [REDACTED:card]")
        assert "[REDACTED:email]" in finished.events[0].attributes["gen_ai.output.messages"]
    else:
        assert "gen_ai.input.messages" not in finished.attributes
        assert "gen_ai.output.messages" not in finished.events[0].attributes


@pytest.mark.parametrize("capture", [False, True])
def test_genai_events_sent_as_log_records_follow_the_content_policy(telemetry: Telemetry, capture: bool) -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(
        GlassboxLogRecordProcessor(SimpleLogRecordProcessor(exporter), capture_content=capture)
    )
    token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: "acme"}))
    try:
        provider.get_logger("genai").emit(
            LogRecord(
                event_name="gen_ai.client.inference.operation.details",
                body={"note": PROMPT},
                attributes={"gen_ai.input.messages": PROMPT, c.GEN_AI_OPERATION_NAME: "chat"},
            )
        )
        provider.get_logger("app").emit(LogRecord(body="ordinary record"))
    finally:
        otel_context.detach(token)
    event, ordinary = (r.log_record for r in exporter.get_finished_logs())
    text = repr(dict(event.attributes)) + repr(event.body)
    assert "jane@example.com" not in text and "4111 1111 1111 1111" not in text
    assert event.attributes[c.GEN_AI_OPERATION_NAME] == "chat"
    assert event.attributes[c.TENANT_ID] == "acme" and ordinary.attributes[c.TENANT_ID] == "acme"
    if capture:
        assert "[REDACTED:card]" in event.attributes["gen_ai.input.messages"]
        assert "[REDACTED:email]" in event.body["note"]
    else:
        assert "gen_ai.input.messages" not in event.attributes and event.body is None
    assert ordinary.body == "ordinary record"


def test_opted_in_content_from_the_real_sdk_is_redacted(stub_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "SPAN_ONLY")
    provider, exporter = _content_pipeline(capture=True)
    instrumentor = OpenAIInstrumentor()
    instrumentor.uninstrument()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PROMPT}])
    finally:
        instrumentor.uninstrument()
        instrumentor.instrument()
    (span,) = [s for s in exporter.get_finished_spans() if s.name == "chat gpt-4o"]
    captured = span.attributes.get("gen_ai.input.messages")
    assert captured, "the upstream instrumentation did not capture content when asked to"
    assert "[REDACTED:" in captured
    assert "jane@example.com" not in repr(dict(span.attributes))
