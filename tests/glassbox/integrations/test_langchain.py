"""LangChain (and LangGraph) over the real openai SDK against the stub: counted once, priced, and guarded.

The GenAI instrumentation is the official ``opentelemetry-instrumentation-genai-langchain`` (the
``glassbox-otel[langchain]`` extra). LangChain's chat model span and the OpenAI instrumentation's span describe the
same call: util-genai keeps the outer one, so the call is one span, counted and priced once. The guard stands in
front of the openai SDK underneath, so a LangChain app obeys the kill switch, budgets and canned answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

import glassbox
from glassbox import conventions as c
from glassbox import cost
from glassbox.guard import budgets
from tests.conftest import Telemetry

pytestmark = pytest.mark.usefixtures("guarded")

MODEL = "gpt-4o-mini"


@pytest.fixture
def llm(stub_url: str) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)  # type: ignore[arg-type]


def model_spans(telemetry: Telemetry) -> list[Any]:
    return [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS]


def test_a_langchain_call_is_one_priced_span(llm: ChatOpenAI, telemetry: Telemetry, tenant: str) -> None:
    answer = llm.invoke([HumanMessage("what is the refund policy")])
    usage = answer.usage_metadata
    assert usage is not None
    spans = model_spans(telemetry)
    counted = [s for s in spans if s.attributes.get(c.USAGE_COUNTED) is True]
    assert len(counted) == 1, [(s.name, s.instrumentation_scope.name) for s in spans]
    (span,) = counted
    assert span.attributes[c.TENANT_ID] == tenant
    expected = cost.price(
        "openai", MODEL, cost.Usage(input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"])
    ).usd
    assert expected and span.attributes[c.COST_USD] == pytest.approx(expected)
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant) == pytest.approx(expected)


def test_a_langgraph_agent_obeys_the_kill_switch(llm: ChatOpenAI, telemetry: Telemetry) -> None:
    from langgraph.graph import END, START, MessagesState, StateGraph

    def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [llm.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    graph.add_edge("respond", END)
    app = graph.compile()
    assert app.invoke({"messages": [HumanMessage("hello")]})["messages"][-1].content
    glassbox.set_kill_switch(True, actor="ops-1", reason="provider incident")
    before = len(model_spans(telemetry))
    try:
        with pytest.raises(glassbox.AICallRefused):
            app.invoke({"messages": [HumanMessage("hello again")]})
    finally:
        glassbox.set_kill_switch(False, actor="ops-1")
    # LangChain opened its chat span before the SDK call the guard refused: the span records the refusal as the
    # call's error, with no usage and no cost (no request was made).
    (refused,) = model_spans(telemetry)[before:]
    assert "AICallRefused" in str(refused.attributes.get(c.ERROR_TYPE))
    assert c.COST_USD not in refused.attributes and c.GEN_AI_USAGE_INPUT_TOKENS not in refused.attributes


def test_past_its_budget_a_langchain_app_gets_the_canned_answer(
    llm: ChatOpenAI, telemetry: Telemetry, tenant: str
) -> None:
    budgets.install(budgets.Budgets({tenant: {"day": 0.000001}}))
    glassbox.set_fallback(glassbox.canned_answer("Paused for now."))
    assert "stub" in str(llm.invoke("one two three").content)
    assert llm.invoke("one two three").content == "Paused for now."
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_day", glassbox__tenant__id=tenant) == 1
