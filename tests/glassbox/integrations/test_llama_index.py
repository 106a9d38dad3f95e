"""LlamaIndex over the real google-genai SDK against the stub: agent and tool spans, counted once, guarded.

The GenAI instrumentation is the official ``opentelemetry-instrumentation-genai-llama-index`` (the
``glassbox-otel[llama-index]`` extra). It describes what LlamaIndex adds, ``invoke_agent {name}``, ``execute_tool
{name}`` and retrieval, and leaves each model call to the provider SDK's instrumentation underneath: a call is one
span, priced once and attributed to the agent around it. The guard on the provider SDK stops a LlamaIndex agent.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from google.genai import types
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.llms import ChatMessage
from llama_index.llms.google_genai import GoogleGenAI

import glassbox
from glassbox import conventions as c
from glassbox.guard import budgets
from tests.conftest import Telemetry, run_instrumented

pytestmark = pytest.mark.usefixtures("guarded")

MODEL = "gemini-2.5-flash"


@pytest.fixture
def llm(stub_url: str) -> GoogleGenAI:
    # max_tokens and context_window given: otherwise the LLM asks the API for the model's metadata first.
    options = types.HttpOptions(base_url=stub_url, retry_options=types.HttpRetryOptions(attempts=1))
    return GoogleGenAI(
        model=MODEL, api_key="test-key", http_options=options, max_retries=0, max_tokens=256, context_window=100_000
    )


def lookup_order(query: str) -> str:
    """Look an order up."""
    return "order 42 shipped yesterday"


def support_agent(llm: GoogleGenAI) -> FunctionAgent:
    return FunctionAgent(name="support", description="Answers order questions.", tools=[lookup_order], llm=llm)


def run(agent: FunctionAgent, question: str) -> Any:
    async def go() -> Any:  # the workflow starts on a running loop
        return await agent.run(question)

    return asyncio.run(go())


def spans_of(telemetry: Telemetry, operation: str) -> list[Any]:
    return [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_OPERATION_NAME) == operation]


def test_an_agent_run_is_an_agent_span_over_priced_model_calls(
    llm: GoogleGenAI, telemetry: Telemetry, tenant: str
) -> None:
    answer = run(support_agent(llm), "where is my order")
    assert "stub" in str(answer)
    (agent,) = spans_of(telemetry, "invoke_agent")
    (tool,) = spans_of(telemetry, "execute_tool")
    calls = spans_of(telemetry, "generate_content")
    # One call chose the tool, one answered; each is one span, counted once, under the agent.
    assert len(calls) == 2, [(s.name, s.instrumentation_scope.name) for s in telemetry.finished()]
    assert agent.attributes[c.GEN_AI_AGENT_NAME] == "support"
    assert tool.attributes[c.GEN_AI_TOOL_NAME] == "lookup_order" and tool.parent.span_id == agent.context.span_id
    for call in calls:
        assert call.parent.span_id == agent.context.span_id
        assert call.attributes[c.USAGE_COUNTED] is True and call.attributes[c.COST_USD] > 0
        assert call.attributes[c.GEN_AI_AGENT_NAME] == "support"  # cost splits per agent
        assert call.attributes[c.TENANT_ID] == tenant
    assert agent.attributes[c.TENANT_ID] == tenant and tool.attributes[c.TENANT_ID] == tenant
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant, gen_ai__agent__name="support") == (
        pytest.approx(sum(call.attributes[c.COST_USD] for call in calls))
    )


def test_the_kill_switch_stops_a_llama_index_agent(llm: GoogleGenAI, telemetry: Telemetry) -> None:
    glassbox.set_kill_switch(True, actor="ops-1", reason="provider incident")
    try:
        with pytest.raises(glassbox.AICallRefused):
            run(support_agent(llm), "where is my order")
    finally:
        glassbox.set_kill_switch(False, actor="ops-1")
    assert spans_of(telemetry, "generate_content") == []
    (agent,) = spans_of(telemetry, "invoke_agent")
    assert "AICallRefused" in str(agent.attributes.get(c.ERROR_TYPE))


def test_past_its_budget_a_llama_index_llm_gets_the_canned_answer(
    llm: GoogleGenAI, telemetry: Telemetry, tenant: str
) -> None:
    question = [ChatMessage(role="user", content="one two three")]
    assert "stub" in str(llm.chat(question).message.content)
    # A budget below what the first call cost: the call's reservation (input and max_tokens) does not fit.
    budgets.install(budgets.Budgets({tenant: {"day": 0.000001}}))
    glassbox.set_fallback(glassbox.canned_answer("Paused for now."))
    assert llm.chat(question).message.content == "Paused for now."
    streamed = "".join(chunk.delta or "" for chunk in llm.stream_chat(question))
    assert streamed == "Paused for now."
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_day", glassbox__tenant__id=tenant) == 2


def test_under_opentelemetry_instrument_llama_index_is_instrumented_once_the_app_imports_it() -> None:
    """The official instrumentation imports llama_index.core (about a second and 100 MB): the distro loads it
    when the app imports LlamaIndex, not in every process that has it installed."""
    script = (
        "import sys\n"
        "print('before', 'llama_index.core' in sys.modules)\n"
        "from llama_index.core import instrumentation\n"
        "from opentelemetry.instrumentation.genai.llama_index import LlamaIndexInstrumentor\n"
        "handlers = [type(h).__name__ for h in instrumentation.get_dispatcher().span_handlers]\n"
        "on = LlamaIndexInstrumentor().is_instrumented_by_opentelemetry\n"
        "print('after', on, 'LlamaIndexSpanHandler' in handlers)\n"
    )
    result = run_instrumented(script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-2:] == ["before False", "after True True"], result.stdout
