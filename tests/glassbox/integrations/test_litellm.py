"""LiteLLM against the stub: one priced ``chat`` span per call for each provider it reaches, and the guard.

LiteLLM calls most providers with its own HTTP client, so the SDK instrumentations never see its calls; Glassbox
instruments ``litellm.completion`` and ``litellm.acompletion`` itself (:mod:`glassbox.integrations.litellm`) and the
guard stands in front of them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import litellm
import pytest

import glassbox
from glassbox import conventions as c
from glassbox import cost
from glassbox.guard import budgets
from tests.conftest import Telemetry, run_instrumented

pytestmark = pytest.mark.usefixtures("guarded")

QUESTION = [{"role": "user", "content": "what is the refund policy"}]


@pytest.fixture
def routes(stub_url: str) -> dict[str, dict[str, Any]]:
    """Keyword arguments for one model of each provider, all answered by the stub."""
    return {
        "openai": {"model": "gpt-4o-mini", "api_base": f"{stub_url}/v1", "api_key": "sk-test"},
        "anthropic": {"model": "anthropic/claude-haiku-4-5", "api_base": stub_url, "api_key": "sk-ant-test"},
    }


def chat_spans(telemetry: Telemetry) -> list[Any]:
    return [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS]


@pytest.mark.parametrize(("provider", "model"), [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")])
def test_a_litellm_call_is_one_priced_span_of_its_provider(
    provider: str, model: str, routes: dict[str, dict[str, Any]], telemetry: Telemetry, tenant: str
) -> None:
    response = litellm.completion(messages=QUESTION, **routes[provider])
    usage = response.usage
    (span,) = chat_spans(telemetry)
    assert span.instrumentation_scope.name == "glassbox.litellm" and span.name == f"chat {model}"
    assert span.attributes[c.GEN_AI_PROVIDER_NAME] == provider
    assert span.attributes[c.GEN_AI_REQUEST_MODEL] == model
    assert span.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == usage.prompt_tokens > 0
    assert span.attributes[c.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.completion_tokens > 0
    expected = cost.price(
        provider, model, cost.Usage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)
    ).usd
    assert expected and span.attributes[c.COST_USD] == pytest.approx(expected)
    assert span.attributes[c.TENANT_ID] == tenant and span.attributes[c.USAGE_COUNTED] is True
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant) == pytest.approx(expected)


def test_a_streamed_async_call_ends_its_span_with_the_streams_usage(
    routes: dict[str, dict[str, Any]], telemetry: Telemetry, tenant: str
) -> None:
    async def stream() -> str:
        chunks = await litellm.acompletion(
            messages=QUESTION, stream=True, stream_options={"include_usage": True}, **routes["openai"]
        )
        assert chat_spans(telemetry) == []  # open until the stream is drained
        return "".join([chunk.choices[0].delta.content or "" async for chunk in chunks if chunk.choices])

    text = asyncio.run(stream())
    assert "stub" in text
    (span,) = chat_spans(telemetry)
    assert span.attributes[c.GEN_AI_USAGE_OUTPUT_TOKENS] == len(text.split())  # the stub: one token a word
    assert span.attributes[c.COST_USD] > 0 and span.attributes[c.TENANT_ID] == tenant
    assert telemetry.points(c.METRIC_TIME_TO_FIRST_CHUNK, gen_ai__request__model="gpt-4o-mini")


def test_the_kill_switch_refuses_litellm_calls_to_any_provider(
    routes: dict[str, dict[str, Any]], telemetry: Telemetry
) -> None:
    glassbox.set_kill_switch(True, actor="ops-1", reason="provider incident")
    try:
        for route in routes.values():
            with pytest.raises(glassbox.AICallRefused):
                litellm.completion(messages=QUESTION, **route)
        with pytest.raises(glassbox.AICallRefused):
            asyncio.run(litellm.acompletion(messages=QUESTION, **routes["anthropic"]))
    finally:
        glassbox.set_kill_switch(False, actor="ops-1")
    assert chat_spans(telemetry) == []  # no call was made, so no model span


def test_past_its_budget_a_litellm_call_gets_the_canned_answer_in_litellms_types(
    routes: dict[str, dict[str, Any]], telemetry: Telemetry, tenant: str
) -> None:
    route = routes["anthropic"]
    model = route["model"]
    first = litellm.completion(model, QUESTION, **{k: v for k, v in route.items() if k != "model"})  # positional
    assert not glassbox.is_fallback(first) and "stub" in first.choices[0].message.content
    budgets.install(budgets.Budgets({tenant: {"day": 0.000001}}))
    glassbox.set_fallback(glassbox.canned_answer("Paused for now."))
    refused = litellm.completion(messages=QUESTION, **route)
    assert isinstance(refused, litellm.ModelResponse) and glassbox.is_fallback(refused)
    assert refused.choices[0].message.content == "Paused for now."
    streamed = litellm.completion(messages=QUESTION, stream=True, **route)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in streamed) == "Paused for now."

    async def refused_async() -> Any:
        return await litellm.acompletion(messages=QUESTION, **route)

    assert glassbox.is_fallback(asyncio.run(refused_async()))
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_day", glassbox__tenant__id=tenant) == 3
    # the first call was priced with Anthropic's prices: the budget saw the model behind the provider prefix
    (priced,) = [s for s in chat_spans(telemetry) if s.attributes.get(c.COST_USD)]
    assert priced.attributes[c.GEN_AI_PROVIDER_NAME] == "anthropic"


def test_under_opentelemetry_instrument_litellm_is_wrapped_only_once_the_app_imports_it() -> None:
    """Importing LiteLLM takes seconds and about 200 MB: a process that has it installed but never imports it must
    not pay that; one that imports it after start-up gets the span layer and the guard on top."""
    script = (
        "import sys\n"
        "print('before', 'litellm' in sys.modules)\n"
        "import litellm\n"
        "from glassbox.guard.instrumentor import _is_guard\n"
        "for name in ('completion', 'acompletion'):\n"
        "    outer = vars(litellm)[name]\n"
        "    print(name, _is_guard(outer), type(outer.__wrapped__).__name__)\n"
    )
    result = run_instrumented(script)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-3:]
    # the guard outermost, the span layer (a wrapt wrapper) under it
    assert lines == ["before False", "completion True FunctionWrapper", "acompletion True FunctionWrapper"], lines
