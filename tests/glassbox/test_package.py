"""Agent/tool spans, content capture, distro defaults, entry points and the settings table."""

from __future__ import annotations

import asyncio
import re
from importlib.metadata import entry_points
from typing import Any, ClassVar

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

import glassbox
from glassbox import attribution
from glassbox import conventions as c
from glassbox.sdk import distro
from glassbox.sdk.logs import GlassboxLogRecordProcessor
from glassbox.sdk.span_processor import GlassboxSpanProcessor
from tests.conftest import ROOT, Telemetry, run_instrumented


def test_agent_and_tool_spans_as_decorators_and_context_managers(telemetry: Telemetry) -> None:
    @glassbox.tool("lookup")
    def lookup(x: int) -> int:
        return x + 1

    @glassbox.agent("planner", agent_id="a-1")
    async def plan() -> int:
        with glassbox.tool("search", call_id="call-9") as span:
            span.set_attribute("app.hits", 2)
        return lookup(1)

    assert asyncio.run(plan()) == 2
    spans = {s.name: s for s in telemetry.finished()}
    agent = spans["invoke_agent planner"]
    assert agent.attributes[c.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert agent.attributes[c.GEN_AI_AGENT_ID] == "a-1"
    search = spans["execute_tool search"]
    assert search.attributes[c.GEN_AI_TOOL_NAME] == "search"
    assert search.attributes[c.GEN_AI_TOOL_CALL_ID] == "call-9"
    assert search.attributes["app.hits"] == 2
    assert search.parent.span_id == agent.context.span_id
    # tools inside an agent carry its name, so their model calls can be attributed
    assert spans["execute_tool lookup"].attributes[c.GEN_AI_AGENT_NAME] == "planner"


def test_failing_tool_records_error_type(telemetry: Telemetry) -> None:
    with pytest.raises(KeyError), glassbox.tool("broken"):
        raise KeyError("missing")
    (span,) = telemetry.finished()
    assert span.attributes[c.ERROR_TYPE] == "KeyError"
    assert span.status.status_code == StatusCode.ERROR
    assert span.events[0].name == "exception"


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


def test_distro_defaults_never_override_the_user() -> None:
    environ: dict[str, str] = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=billing,deployment.environment.name=prod",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup",
    }
    distro.apply_defaults(environ)
    assert environ["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    assert environ["OTEL_RESOURCE_ATTRIBUTES"] == "service.name=billing,deployment.environment.name=prod"
    assert "OTEL_SERVICE_NAME" not in environ
    assert environ["OTEL_SEMCONV_STABILITY_OPT_IN"] == "http/dup"
    assert environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"


def test_distro_fills_what_is_missing() -> None:
    environ: dict[str, str] = {"GLASSBOX_ENVIRONMENT": "staging"}
    distro.apply_defaults(environ)
    assert environ["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4318"
    assert environ["OTEL_SERVICE_NAME"]
    assert environ["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment.name=staging"
    assert distro.default_service_name(["/srv/app/worker.py"]) == "worker"
    assert distro.default_service_name(["-c"]) == "python-app"


def test_entry_points_are_registered() -> None:
    def names(group: str) -> dict[str, Any]:
        return {ep.name: ep.value for ep in entry_points(group=group)}

    assert names("opentelemetry_distro")["glassbox"] == "glassbox.sdk.distro:GlassboxDistro"
    assert names("opentelemetry_configurator")["glassbox"] == "glassbox.sdk.distro:GlassboxConfigurator"
    assert (
        names("opentelemetry_instrumentor")["glassbox_edge"]
        == "glassbox.integrations.asgi_attribution:EdgeInstrumentor"
    )
    assert "glassbox" in names("opentelemetry_post_instrument")


def test_docs_name_only_metrics_the_code_emits() -> None:
    emitted = {getattr(c, name) for name in dir(c) if name.startswith("METRIC_")}
    text = (ROOT / "docs" / "telemetry.md").read_text()
    documented = set(re.findall(r"`((?:gen_ai|glassbox|http|otel)\.[a-z_.]+)`", text))
    metric_like = {name for name in documented if name in emitted or name.startswith("glassbox.gen_ai")}
    assert emitted <= documented, f"undocumented metrics: {emitted - documented}"
    assert metric_like <= emitted | set(c.CONTENT_ATTRIBUTES) | {c.COST_USD}


def test_prometheus_names_table_covers_dashboard_facing_metrics() -> None:
    assert set(c.PROMETHEUS_NAMES) <= {getattr(c, n) for n in dir(c) if n.startswith("METRIC_")}
    # Prometheus naming: snake case, lower case, the unit spelled out (glassbox_gen_ai_cost_usd_total)
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", name) for name in c.PROMETHEUS_NAMES.values())
    assert c.PROMETHEUS_NAMES[c.METRIC_COST] == "glassbox_gen_ai_cost_usd_total"


def test_docs_exist_for_every_doc_link() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs|benchmarks|examples)/[^)#]+)", readme):
        assert (ROOT / target).exists(), target


class _RecordingInstrumentor:
    seen: ClassVar[list[dict[str, Any]]] = []

    def instrument(self, **kwargs: Any) -> None:
        self.seen.append(kwargs)


class _EntryPoint:
    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> type:
        return _RecordingInstrumentor


@pytest.mark.parametrize(
    "name, setting, expected",
    [("fastapi", None, ["receive", "send"]), ("fastapi", "true", None), ("httpx", None, None)],
)
def test_asgi_message_spans_are_left_out_unless_asked(
    monkeypatch: pytest.MonkeyPatch, name: str, setting: str | None, expected: list[str] | None
) -> None:
    if setting is not None:
        monkeypatch.setenv("GLASSBOX_ASGI_MESSAGE_SPANS", setting)
    _RecordingInstrumentor.seen.clear()
    distro.GlassboxDistro().load_instrumentor(_EntryPoint(name))
    assert _RecordingInstrumentor.seen[-1].get("exclude_spans") == expected


@pytest.mark.parametrize("chosen", ["glassbox", "distro"])
def test_glassbox_acts_after_instrumenting_only_under_its_own_distro(chosen: str) -> None:
    """Installed beside another distro, glassbox leaves the app's logging and the model SDKs alone."""
    script = (
        "import logging; from glassbox.guard import GuardInstrumentor\n"
        "from glassbox.sdk.logs import GlassboxLogFilter\n"
        "filtered = any(isinstance(f, GlassboxLogFilter) for h in logging.getLogger().handlers for f in h.filters)\n"
        "print(GuardInstrumentor().is_instrumented_by_opentelemetry, filtered)"
    )
    configurator = chosen if chosen == "glassbox" else "configurator"
    result = run_instrumented(script, cwd=ROOT, OTEL_PYTHON_DISTRO=chosen, OTEL_PYTHON_CONFIGURATOR=configurator)
    assert result.returncode == 0, result.stderr
    expected = "True True" if chosen == "glassbox" else "False False"
    assert result.stdout.strip().splitlines()[-1] == expected
