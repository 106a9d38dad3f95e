"""Gemini through the real google-genai SDK against the stub: the span, its cost and tenant, and the guard.

The GenAI instrumentation is the official ``opentelemetry-instrumentation-google-genai`` (the ``glassbox-otel[google]``
extra); the guard stands in front of ``generate_content`` and ``generate_content_stream``, sync and async.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google import genai
from google.genai import types

import glassbox
from glassbox import conventions as c
from glassbox import cost
from glassbox.audit.chain import AuditLog
from glassbox.guard import budgets
from glassbox.guard import core as guard
from tests.conftest import Telemetry, run_instrumented

pytestmark = pytest.mark.usefixtures("guarded")

MODEL = "gemini-2.5-flash"


@pytest.fixture
def gemini(stub_url: str) -> genai.Client:
    options = types.HttpOptions(base_url=stub_url, retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key="test-key", http_options=options)


def generate_spans(telemetry: Telemetry) -> list[Any]:
    return [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_OPERATION_NAME) == "generate_content"]


def test_a_gemini_call_is_one_priced_span_with_its_tenant(
    gemini: genai.Client, telemetry: Telemetry, tenant: str
) -> None:
    response = gemini.models.generate_content(model=MODEL, contents="what is the refund policy")
    (span,) = generate_spans(telemetry)
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count and usage.candidates_token_count
    assert span.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == usage.prompt_token_count
    assert span.attributes[c.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.candidates_token_count
    assert span.attributes[c.TENANT_ID] == tenant
    assert span.attributes[c.USAGE_COUNTED] is True
    expected = cost.price(
        "gemini",
        MODEL,
        cost.Usage(input_tokens=usage.prompt_token_count, output_tokens=usage.candidates_token_count),
    ).usd
    assert expected and span.attributes[c.COST_USD] == pytest.approx(expected)
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant) == pytest.approx(expected)
    assert telemetry.total(c.METRIC_TOKEN_USAGE, glassbox__tenant__id=tenant, gen_ai__token__type="input") == (
        usage.prompt_token_count
    )


def test_streams_sync_and_async_are_priced_once_each(gemini: genai.Client, telemetry: Telemetry, tenant: str) -> None:
    text = "".join(chunk.text or "" for chunk in gemini.models.generate_content_stream(model=MODEL, contents="hi"))

    async def async_calls() -> str:
        answer = await gemini.aio.models.generate_content(model=MODEL, contents="hello there")
        chunks = [chunk.text or "" async for chunk in await gemini.aio.models.generate_content_stream(
            model=MODEL, contents="and again")]  # fmt: skip
        return (answer.text or "") + "".join(chunks)

    text += asyncio.run(async_calls())
    assert "stub" in text
    spans = generate_spans(telemetry)
    assert len(spans) == 3 and all(s.attributes[c.USAGE_COUNTED] is True for s in spans)
    assert all(s.attributes[c.COST_USD] > 0 for s in spans)
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant) == pytest.approx(
        sum(s.attributes[c.COST_USD] for s in spans)
    )
    # streaming latency, per model, tenant-labelled
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk", glassbox__tenant__id=tenant)


def test_the_kill_switch_refuses_every_gemini_entry_point(gemini: genai.Client, telemetry: Telemetry) -> None:
    glassbox.set_kill_switch(True, actor="ops-1", reason="provider incident")
    refused = telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="kill_switch")
    try:
        with pytest.raises(glassbox.AICallRefused):
            gemini.models.generate_content(model=MODEL, contents="x")
        with pytest.raises(glassbox.AICallRefused):
            list(gemini.models.generate_content_stream(model=MODEL, contents="x"))
        with pytest.raises(glassbox.AICallRefused):
            asyncio.run(gemini.aio.models.generate_content(model=MODEL, contents="x"))

        async def stream() -> None:
            async for _ in await gemini.aio.models.generate_content_stream(model=MODEL, contents="x"):
                pass

        with pytest.raises(glassbox.AICallRefused):
            asyncio.run(stream())
    finally:
        glassbox.set_kill_switch(False, actor="ops-1")
    assert generate_spans(telemetry) == []  # no call was made
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="kill_switch") == refused + 4


def test_past_its_budget_a_tenant_gets_the_canned_gemini_answer(
    gemini: genai.Client, telemetry: Telemetry, tenant: str, guarded: AuditLog
) -> None:
    budgets.install(budgets.Budgets({tenant: {"day": 0.000001}}))
    glassbox.set_fallback(glassbox.canned_answer("Paused for now."))
    first = gemini.models.generate_content(model=MODEL, contents="one two three")
    assert not glassbox.is_fallback(first) and "stub" in (first.text or "")  # under budget: made and priced
    refused = gemini.models.generate_content(model=MODEL, contents="one two three")
    assert isinstance(refused, types.GenerateContentResponse) and glassbox.is_fallback(refused)
    assert refused.text == "Paused for now."
    chunks = list(gemini.models.generate_content_stream(model=MODEL, contents="again"))
    assert [chunk.text for chunk in chunks] == ["Paused for now."] and glassbox.is_fallback(chunks[0])
    assert len(generate_spans(telemetry)) == 1
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_day", glassbox__tenant__id=tenant) == 2


def test_the_input_estimate_reads_gemini_contents_and_config() -> None:
    contents = [types.Content(parts=[types.Part(text="x" * 4000)])]
    config = types.GenerateContentConfig(system_instruction="y" * 400, max_output_tokens=1000)
    estimate = guard.estimated_cost(guard.GEMINI_GENERATE, {"model": MODEL, "contents": contents, "config": config})
    expected = cost.price("gemini", MODEL, cost.Usage(input_tokens=1100, output_tokens=1000)).usd
    assert expected and estimate == pytest.approx(expected)
    # the same request as dicts
    as_dicts = {"model": MODEL, "contents": "x" * 4000, "config": {"system_instruction": "y" * 400,
                "max_output_tokens": 1000}}  # fmt: skip
    assert guard.estimated_cost(guard.GEMINI_GENERATE, as_dicts) == pytest.approx(expected)


def test_thoughts_are_billed_as_output_and_cached_tokens_at_the_cache_price(
    gemini: genai.Client, telemetry: Telemetry, tenant: str
) -> None:
    """Gemini reports thoughts apart from the answer's tokens and cached tokens inside the prompt's: a thinking
    model's call costs its thoughts at the output price, and its cached prompt at the cache price."""
    config = types.GenerateContentConfig(
        thinking_config=types.ThinkingConfig(thinking_budget=64), cached_content="cachedContents/orders-faq"
    )
    response = gemini.models.generate_content(model=MODEL, contents="what is the refund policy", config=config)
    usage = response.usage_metadata
    assert usage is not None and usage.thoughts_token_count and usage.cached_content_token_count
    (span,) = generate_spans(telemetry)
    output = (usage.candidates_token_count or 0) + usage.thoughts_token_count
    assert span.attributes[c.GEN_AI_USAGE_OUTPUT_TOKENS] == output
    assert span.attributes[c.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == usage.cached_content_token_count
    billed = cost.Usage(
        input_tokens=usage.prompt_token_count,
        output_tokens=output,
        cache_read_tokens=usage.cached_content_token_count,
    )
    expected = cost.price("gemini", MODEL, billed).usd
    assert expected and span.attributes[c.COST_USD] == pytest.approx(expected)
    assert telemetry.total(c.METRIC_CACHE_TOKENS, glassbox__tenant__id=tenant, gen_ai__token__type="cache_read") == (
        usage.cached_content_token_count
    )


def test_under_opentelemetry_instrument_google_genai_and_bedrock_are_wrapped_only_once_the_app_imports_them() -> None:
    """google-genai's instrumentation costs about 0.9 s at start-up with the SDK it imports, and the Bedrock one
    waits on botocore: a process that has them installed but never imports the SDK must not pay that; one that
    imports it after start-up gets the GenAI instrumentation and the guard on top."""
    script = (
        "import sys\n"
        "print('before', sorted(m for m in ('google.genai', 'botocore', "
        "'opentelemetry.instrumentation.google_genai') if m in sys.modules))\n"
        "from google.genai import models\n"
        "import botocore.client\n"
        "from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor\n"
        "from opentelemetry.instrumentation.genai.bedrock import BedrockInstrumentor\n"
        "from glassbox.guard.instrumentor import _is_guard\n"
        "print('instrumented', GoogleGenAiSdkInstrumentor().is_instrumented_by_opentelemetry, "
        "BedrockInstrumentor().is_instrumented_by_opentelemetry)\n"
        "targets = [vars(models.Models)['generate_content'], vars(models.AsyncModels)['generate_content'],\n"
        "           vars(botocore.client.BaseClient)['_make_api_call']]\n"
        "print('guard outermost', [_is_guard(t) for t in targets])\n"
        "import os\n"
        "print('emit event', os.environ.get('OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT'))\n"
    )
    result = run_instrumented(script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-4:]
    # google-genai's instrumentor sets OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT=true for every GenAI instrumentation
    # (an event log record per model call of any SDK): undone, so the user's choice stands
    assert lines == ["before []", "instrumented True True", "guard outermost [True, True, True]", "emit event None"], (
        lines
    )
    chosen = run_instrumented(script, OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT="false")
    assert chosen.stdout.strip().splitlines()[-1] == "emit event false", chosen.stderr
