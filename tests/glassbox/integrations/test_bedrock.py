"""Amazon Bedrock through the real boto3 against the stub: spans, cost and tenant, and the guard.

The GenAI instrumentation is the official ``opentelemetry-instrumentation-genai-bedrock`` (the
``glassbox-otel[bedrock]`` extra); the guard stands in front of the runtime's ``converse``, ``converse_stream``,
``invoke_model`` and ``invoke_model_with_response_stream`` and lets every other AWS operation through.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3
import pytest
from botocore.config import Config

import glassbox
from glassbox import conventions as c
from glassbox import cost
from glassbox.guard import budgets
from glassbox.guard import core as guard
from tests.conftest import Telemetry

pytestmark = pytest.mark.usefixtures("guarded")

NOVA = "amazon.nova-lite-v1:0"
CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.fixture
def bedrock(stub_url: str) -> Any:
    return boto3.client(
        "bedrock-runtime",
        endpoint_url=stub_url,
        region_name="us-east-1",
        aws_access_key_id="AKIDSTUB",
        aws_secret_access_key="stub-secret",
        config=Config(retries={"max_attempts": 1}),
    )


def ask(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": text}]}]


def chat_spans(telemetry: Telemetry) -> list[Any]:
    return [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_PROVIDER_NAME) == "aws.bedrock"]


def test_converse_stream_and_invoke_model_are_priced_once_with_their_tenant(
    bedrock: Any, telemetry: Telemetry, tenant: str
) -> None:
    answer = bedrock.converse(modelId=NOVA, messages=ask("what is the refund policy"))
    events = list(bedrock.converse_stream(modelId=NOVA, messages=ask("hello there"))["stream"])
    message = {"role": "user", "content": "hi"}
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 50, "messages": [message]}
    invoked = json.loads(bedrock.invoke_model(modelId=CLAUDE, body=json.dumps(body))["body"].read())
    spans = chat_spans(telemetry)
    assert len(spans) == 3
    assert all(s.attributes[c.USAGE_COUNTED] is True and s.attributes[c.TENANT_ID] == tenant for s in spans)
    converse, streamed, invoke = spans
    assert converse.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == answer["usage"]["inputTokens"]
    stream_usage = next(e["metadata"]["usage"] for e in events if "metadata" in e)
    assert streamed.attributes[c.GEN_AI_USAGE_OUTPUT_TOKENS] == stream_usage["outputTokens"]
    assert invoke.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == invoked["usage"]["input_tokens"]
    for span, model in ((converse, NOVA), (streamed, NOVA), (invoke, CLAUDE)):
        usage = cost.Usage.from_attributes(span.attributes)
        expected = cost.price("aws.bedrock", model, usage).usd
        assert expected and span.attributes[c.COST_USD] == pytest.approx(expected)
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id=tenant) == pytest.approx(
        sum(s.attributes[c.COST_USD] for s in spans)
    )


def test_the_kill_switch_refuses_bedrock_model_calls_and_nothing_else(bedrock: Any, telemetry: Telemetry) -> None:
    glassbox.set_kill_switch(True, actor="ops-1", reason="provider incident")
    refused = telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="kill_switch")
    try:
        with pytest.raises(glassbox.AICallRefused):
            bedrock.converse(modelId=NOVA, messages=ask("x"))
        with pytest.raises(glassbox.AICallRefused):
            bedrock.converse_stream(modelId=NOVA, messages=ask("x"))
        with pytest.raises(glassbox.AICallRefused):
            bedrock.invoke_model(modelId=CLAUDE, body=json.dumps({"messages": [], "max_tokens": 5}))
        # not a model call: it goes through to the service (the stub has no such API, hence its error)
        with pytest.raises(bedrock.exceptions.ClientError):
            bedrock.apply_guardrail(guardrailIdentifier="g", guardrailVersion="1", source="INPUT", content=[])
    finally:
        glassbox.set_kill_switch(False, actor="ops-1")
    assert chat_spans(telemetry) == []
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="kill_switch") == refused + 3


def test_past_its_budget_a_tenant_gets_canned_converse_answers(bedrock: Any, telemetry: Telemetry, tenant: str) -> None:
    budgets.install(budgets.Budgets({tenant: {"day": 0.000001}}))
    glassbox.set_fallback(glassbox.canned_answer("Paused for now."))
    first = bedrock.converse(modelId=NOVA, messages=ask("one two three"))  # input alone fits the budget
    assert not glassbox.is_fallback(first)
    refused = bedrock.converse(modelId=NOVA, messages=ask("one two three"))
    assert glassbox.is_fallback(refused)
    assert refused["output"]["message"]["content"] == [{"text": "Paused for now."}]
    streamed = bedrock.converse_stream(modelId=NOVA, messages=ask("again"))
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in streamed["stream"] if "contentBlockDelta" in e]
    assert glassbox.is_fallback(streamed) and deltas == ["Paused for now."]
    assert len(chat_spans(telemetry)) == 1
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_day", glassbox__tenant__id=tenant) == 2


def test_the_input_estimate_reads_converse_and_invoke_model_bodies() -> None:
    converse = {"modelId": CLAUDE, "messages": ask("x" * 4000), "system": [{"text": "y" * 400}],
                "inferenceConfig": {"maxTokens": 1000}}  # fmt: skip
    request = guard.bedrock_request(converse)
    assert request["model"] == CLAUDE and request["max_tokens"] == 1000
    expected = cost.price("aws.bedrock", CLAUDE, cost.Usage(input_tokens=1101, output_tokens=1000)).usd
    assert expected and guard.estimated_cost(guard.BEDROCK_CONVERSE, request) == pytest.approx(expected)
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 1000, "system": "y" * 400,
            "messages": [{"role": "user", "content": "x" * 4000}]}  # fmt: skip
    invoke = guard.bedrock_request({"modelId": CLAUDE, "body": json.dumps(body).encode()})
    assert guard.estimated_cost(guard.BEDROCK_INVOKE, invoke) == pytest.approx(expected)
    # a body that is not JSON: priced on what is known (no input, no output bound)
    assert guard.bedrock_request({"modelId": CLAUDE, "body": b"\x00binary"}) == {"model": CLAUDE}


def test_cached_input_is_counted_in_and_priced_at_the_cache_price(
    bedrock: Any, telemetry: Telemetry, tenant: str
) -> None:
    """Bedrock's inputTokens leaves out the tokens read from the prompt cache (the instrumentation passes it on
    as it is); the conventions count them in, and the price of a cached token is lower."""
    system = [{"text": "You answer questions about orders and refunds. " * 10}, {"cachePoint": {"type": "default"}}]
    usage = bedrock.converse(modelId=CLAUDE, system=system, messages=ask("where is order 42"))["usage"]
    cached = usage["cacheReadInputTokens"]
    assert cached > usage["inputTokens"] > 0
    (span,) = chat_spans(telemetry)
    assert span.attributes[c.GEN_AI_USAGE_INPUT_TOKENS] == usage["inputTokens"] + cached
    assert span.attributes[c.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == cached
    billed = cost.Usage(input_tokens=usage["inputTokens"] + cached, output_tokens=usage["outputTokens"])
    expected = cost.price("aws.bedrock", CLAUDE, dataclasses.replace(billed, cache_read_tokens=cached)).usd
    assert expected and span.attributes[c.COST_USD] == pytest.approx(expected)
    assert expected < (cost.price("aws.bedrock", CLAUDE, billed).usd or 0)  # cheaper than the same input uncached
    assert telemetry.total(c.METRIC_CACHE_TOKENS, glassbox__tenant__id=tenant, gen_ai__token__type="cache_read") == (
        cached
    )
