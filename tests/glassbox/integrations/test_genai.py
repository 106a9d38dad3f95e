"""GenAI calls through the real openai and anthropic SDKs against the stub: spans, cost, metrics, count once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry import context as otel_context

from glassbox import attribution, cost
from glassbox import conventions as c
from tests.conftest import Telemetry


@contextmanager
def as_tenant(tenant: str) -> Iterator[None]:
    token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: tenant, c.REQUEST_ID: "req-1"}))
    try:
        yield
    finally:
        otel_context.detach(token)


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def oai(stub_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(stub_url: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=stub_url, api_key="sk-ant-test", max_retries=0)


def model_spans(telemetry: Telemetry, counted: bool | None = None) -> list[Any]:
    spans = [
        s for s in telemetry.finished() if (s.attributes or {}).get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS
    ]
    if counted is not None:
        spans = [s for s in spans if s.attributes.get(c.USAGE_COUNTED) is counted]
    return spans


def test_openai_chat_span_carries_semconv_usage_cost_and_tenant(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one two three"}])
    (span,) = model_spans(telemetry)
    attributes = span.attributes
    assert span.name == "chat gpt-4o"
    assert attributes[c.GEN_AI_PROVIDER_NAME] == "openai"
    assert attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == 3
    output_tokens = attributes[c.GEN_AI_USAGE_OUTPUT_TOKENS]
    assert output_tokens > 0
    assert attributes[c.TENANT_ID] == tenant
    assert attributes[c.REQUEST_ID] == "req-1"
    assert attributes[c.COST_STATUS] == c.COST_STATUS_PRICED
    # exemplars are handed out once per collection: read the histogram first
    (duration,) = telemetry.points(c.METRIC_OPERATION_DURATION, glassbox__tenant__id=tenant)
    assert duration.count == 1
    assert duration.exemplars and duration.exemplars[0].trace_id == span.context.trace_id
    expected = cost.price("openai", "gpt-4o", cost.Usage(input_tokens=3, output_tokens=output_tokens)).usd
    assert expected and attributes[c.COST_USD] == pytest.approx(expected)
    assert attributes[c.COST_PRICE_SOURCE].startswith("genai-prices==")
    assert len(attributes[c.COST_PRICE_DATE]) == 10
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant) == pytest.approx(expected)
    assert telemetry.total(c.METRIC_TOKEN_USAGE, glassbox__tenant__id=tenant, gen_ai__token__type="input") == 3


def test_openai_streaming_keeps_usage_when_the_api_returns_it(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        stream = oai.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "stream this please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text
    (span,) = model_spans(telemetry)
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == 3
    assert span.attributes[c.COST_STATUS] == c.COST_STATUS_PRICED
    assert telemetry.total(c.METRIC_TOKEN_USAGE, glassbox__tenant__id=tenant, gen_ai__token__type="output") > 0


def test_streaming_without_usage_gets_no_cost_and_is_counted(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        for _ in oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}], stream=True):
            pass
    (span,) = model_spans(telemetry)
    assert c.COST_USD not in span.attributes
    assert span.attributes[c.COST_STATUS] == c.COST_STATUS_MISSING_USAGE
    assert telemetry.total(c.METRIC_COST_UNPRICED, glassbox__tenant__id=tenant, reason="missing_usage") == 1
    assert telemetry.points(c.METRIC_COST, glassbox__tenant__id=tenant) == []


def test_embeddings_are_priced(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        oai.embeddings.create(model="text-embedding-3-small", input=["a b c", "d e"])
    (span,) = model_spans(telemetry)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert span.attributes[c.COST_USD] > 0


def test_tool_call_finish_reason(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    )
    (span,) = model_spans(telemetry)
    assert span.attributes["gen_ai.response.finish_reasons"] == ("tool_calls",)


def test_unknown_model_gets_no_cost_and_is_counted(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        oai.chat.completions.create(model="experimental-model-x", messages=[{"role": "user", "content": "hi"}])
    (span,) = model_spans(telemetry)
    assert span.attributes[c.COST_STATUS] == c.COST_STATUS_UNKNOWN_MODEL
    assert c.COST_USD not in span.attributes
    assert telemetry.total(c.METRIC_COST_UNPRICED, glassbox__tenant__id=tenant, reason="unknown_model") == 1
    # usage is still reported: only the price is unknown
    assert telemetry.total(c.METRIC_TOKEN_USAGE, glassbox__tenant__id=tenant, gen_ai__token__type="input") == 1


@pytest.mark.parametrize("status, error", [("500", openai.InternalServerError), ("429", openai.RateLimitError)])
def test_openai_errors_carry_error_type(telemetry: Telemetry, oai: openai.OpenAI, status: str, error: type) -> None:
    tenant = new_tenant()
    with as_tenant(tenant), pytest.raises(error):
        oai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "x"}], extra_headers={"x-stub-status": status}
        )
    (span,) = model_spans(telemetry)
    assert span.attributes[c.ERROR_TYPE] == f"openai.{error.__name__}"
    assert span.attributes[c.COST_STATUS] == c.COST_STATUS_ERROR
    (duration,) = telemetry.points(c.METRIC_OPERATION_DURATION, glassbox__tenant__id=tenant)
    assert duration.attributes[c.ERROR_TYPE] == f"openai.{error.__name__}"
    assert telemetry.points(c.METRIC_COST_UNPRICED, glassbox__tenant__id=tenant) == []


def test_unknown_model_404_is_an_error_not_a_cost(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
    (span,) = model_spans(telemetry)
    assert span.attributes[c.ERROR_TYPE] == "openai.NotFoundError"


def test_anthropic_call_seen_by_two_instrumentations_is_counted_once(
    telemetry: Telemetry, claude: anthropic.Anthropic
) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        message = claude.messages.create(
            model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "one two three four"}]
        )
    spans = model_spans(telemetry)
    # The SDK's own span and the GenAI instrumentation's span both report usage for the same call.
    assert len(spans) == 2
    assert all(s.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == message.usage.input_tokens for s in spans)
    (counted,) = model_spans(telemetry, counted=True)
    (duplicate,) = model_spans(telemetry, counted=False)
    assert duplicate.parent.span_id == counted.context.span_id
    assert duplicate.attributes[c.COST_STATUS] == c.COST_STATUS_DUPLICATE
    assert c.COST_USD not in duplicate.attributes
    expected = cost.price(
        "anthropic",
        "claude-sonnet-4-5",
        cost.Usage(input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens),
    ).usd
    assert counted.attributes[c.COST_USD] == pytest.approx(expected)
    assert telemetry.total(c.METRIC_TOKEN_USAGE, glassbox__tenant__id=tenant, gen_ai__token__type="input") == (
        message.usage.input_tokens
    )
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant) == pytest.approx(expected)
    (duration,) = telemetry.points(c.METRIC_OPERATION_DURATION, glassbox__tenant__id=tenant)
    assert duration.count == 1


def test_anthropic_streaming_and_tools(telemetry: Telemetry, claude: anthropic.Anthropic) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        with claude.messages.stream(
            model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "a b"}]
        ) as stream:
            text = "".join(stream.text_stream)
        claude.messages.create(
            model="claude-haiku-4-5",
            max_tokens=100,
            messages=[{"role": "user", "content": "w"}],
            tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
        )
    assert text
    counted = model_spans(telemetry, counted=True)
    assert len(counted) == 2
    assert all(s.attributes[c.COST_STATUS] == c.COST_STATUS_PRICED for s in counted)
    assert counted[1].attributes["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert telemetry.points(c.METRIC_OPERATION_DURATION, glassbox__tenant__id=tenant)[0].count == 1


def test_anthropic_error(telemetry: Telemetry, claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=10,
            messages=[{"role": "user", "content": "x"}],
            extra_headers={"x-stub-status": "529"},
        )
    (counted,) = model_spans(telemetry, counted=True)
    assert counted.attributes[c.ERROR_TYPE] == "anthropic.OverloadedError"


def test_prompt_cache_reads_are_counted_per_model(telemetry: Telemetry, claude: anthropic.Anthropic) -> None:
    tenant = new_tenant()
    with as_tenant(tenant):
        message = claude.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=100,
            system="a long cached system prompt",
            messages=[{"role": "user", "content": "one two three four"}],
        )
    assert message.usage.cache_read_input_tokens
    read = telemetry.total(
        c.METRIC_CACHE_TOKENS,
        glassbox__tenant__id=tenant,
        gen_ai__token__type=c.TOKEN_TYPE_CACHE_READ,
        gen_ai__request__model="claude-sonnet-4-5",
    )
    assert read == message.usage.cache_read_input_tokens
    assert not telemetry.points(c.METRIC_CACHE_TOKENS, glassbox__tenant__id=tenant, gen_ai__token__type="cache_write")
