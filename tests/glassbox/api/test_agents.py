"""The OpenAI Agents SDK over the real openai SDK against the stub: agent spans, counted once, guarded.

The GenAI instrumentation is the official ``opentelemetry-instrumentation-genai-openai-agents`` (the
``glassbox-otel[agents]`` extra): ``invoke_workflow`` > ``invoke_agent {name}`` > the OpenAI instrumentation's
``chat {model}`` span (and ``execute_tool`` for function tools). The model call is one span, priced once and
attributed to the agent; the guard on the openai SDK underneath stops an agent's model calls.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest
from agents import Agent, Runner, function_tool, set_default_openai_api, set_default_openai_client

import glassbox
from glassbox import conventions as c
from glassbox.audit.chain import AuditLog
from glassbox.guard import budgets
from tests.conftest import Telemetry

MODEL = "gpt-4o-mini"


@pytest.fixture(autouse=True)
def agents_on_the_stub(guarded: AuditLog, stub_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)
    set_default_openai_client(client, use_for_tracing=False)
    set_default_openai_api("chat_completions")  # the stub speaks Chat Completions


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up by its id."""
    return f"order {order_id} shipped yesterday"


def support_agent() -> Agent[Any]:
    return Agent(name="support", instructions="Answer briefly.", model=MODEL)


def model_spans(telemetry: Telemetry) -> list[Any]:
    return [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS]


def test_an_agent_run_is_one_priced_model_span_under_its_agent(telemetry: Telemetry, tenant: str) -> None:
    result = asyncio.run(Runner.run(support_agent(), "what is the refund policy"))
    assert "stub" in result.final_output
    names = [s.name for s in telemetry.finished()]
    assert "invoke_agent support" in names, names
    (call,) = model_spans(telemetry)
    assert call.attributes[c.USAGE_COUNTED] is True and call.attributes[c.COST_USD] > 0
    assert call.attributes[c.GEN_AI_AGENT_NAME] == "support"  # cost splits per agent
    assert call.attributes[c.TENANT_ID] == tenant
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant, gen_ai__agent__name="support") == (
        pytest.approx(call.attributes[c.COST_USD])
    )


def test_a_tool_call_is_an_execute_tool_span(telemetry: Telemetry, tenant: str) -> None:
    agent = Agent(name="orders", instructions="Use the tool.", model=MODEL, tools=[lookup_order])
    asyncio.run(Runner.run(agent, "where is order 42"))
    tools = [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_OPERATION_NAME) == "execute_tool"]
    assert tools and tools[0].attributes.get(c.GEN_AI_TOOL_NAME) == "lookup_order"
    counted = [s for s in model_spans(telemetry) if s.attributes.get(c.USAGE_COUNTED)]
    assert len(counted) == 2  # the call that chose the tool and the one that answered


def test_the_kill_switch_stops_an_agent_and_a_budget_gets_the_canned_answer(telemetry: Telemetry, tenant: str) -> None:
    glassbox.set_kill_switch(True, actor="ops-1", reason="provider incident")
    try:
        with pytest.raises(glassbox.AICallRefused):
            asyncio.run(Runner.run(support_agent(), "hello"))
    finally:
        glassbox.set_kill_switch(False, actor="ops-1")
    assert model_spans(telemetry) == []
    # room for the first call's input estimate, not for what it then costs
    budgets.install(budgets.Budgets({tenant: {"day": 0.000005}}))
    glassbox.set_fallback(glassbox.canned_answer("Paused for now."))
    assert "stub" in asyncio.run(Runner.run(support_agent(), "one two")).final_output
    assert asyncio.run(Runner.run(support_agent(), "one two")).final_output == "Paused for now."
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_day", glassbox__tenant__id=tenant) == 1
