"""The guard in front of the model SDKs: the kill switch (across processes), budgets, per-request limits, the
fallback, and the audit, span event and metric of each refusal. Real SDKs against the stub LLM."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry import context as otel_context

import glassbox
from glassbox import attribution
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.audit import events as audit_module
from glassbox.audit.chain import AuditLog
from glassbox.guard import GuardInstrumentor, budgets
from glassbox.guard import core as guard
from tests.conftest import Telemetry


@pytest.fixture(autouse=True)
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry) -> Iterator[AuditLog]:
    monkeypatch.setenv("GLASSBOX_KILL_SWITCH_FILE", str(tmp_path / "kill-switch"))
    if not GuardInstrumentor().is_instrumented_by_opentelemetry:
        GuardInstrumentor().instrument()
    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    audit_module.use_log(log)
    yield log
    audit_module.use_log(None)
    guard.set_fallback(None)
    budgets.install(None)


@pytest.fixture
def oai(stub_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)


def in_request(tenant: str, request_id: str | None = None) -> object:
    values = {c.TENANT_ID: tenant, c.REQUEST_ID: request_id or f"req-{uuid.uuid4().hex[:8]}"}
    return otel_context.attach(attribution.with_attribution(values))


def ask(client: openai.OpenAI, model: str = "gpt-4o-mini") -> Any:
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "one two"}])


def kill_switch_on() -> bool:
    return state_module.get().kill_switch(None)[0] is not None


def chat_spans(telemetry: Telemetry) -> int:
    return sum(1 for s in telemetry.finished() if s.name.startswith("chat "))


def actions(log: AuditLog) -> list[str]:
    import json

    return [json.loads(line)["action"] for line in log.path.read_text().splitlines()] if log.path.exists() else []


def test_the_kill_switch_stops_every_call_and_is_audited(
    oai: openai.OpenAI, stub_url: str, telemetry: Telemetry, guarded: AuditLog
) -> None:
    claude = anthropic.Anthropic(base_url=stub_url, api_key="sk-ant-test", max_retries=0)
    glassbox.set_kill_switch(True, actor={"type": "human", "id": "ops-1"}, reason="provider incident")
    before = chat_spans(telemetry)
    refused = telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="kill_switch")
    try:
        with pytest.raises(glassbox.AICallRefused) as raised:
            ask(oai)
        assert raised.value.reason == "kill_switch"
        with pytest.raises(glassbox.AICallRefused):
            claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}])
        assert chat_spans(telemetry) == before  # no call was made
        assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="kill_switch") == refused + 2
        assert telemetry.total(c.METRIC_AI_KILL_SWITCH) == 1
    finally:
        glassbox.set_kill_switch(False, actor={"type": "human", "id": "ops-1"})
    assert telemetry.total(c.METRIC_AI_KILL_SWITCH) == 0
    assert ask(oai).choices[0].message.content
    on, off = ["kill_switch.on"] * 2, ["kill_switch.off"] * 2  # each an attempt and its success
    assert actions(guarded) == [*on, "ai.call_refused", "ai.call_refused", *off]


def test_another_process_turning_the_kill_switch_on_stops_this_one(oai: openai.OpenAI, tmp_path: Path) -> None:
    code = "import glassbox; glassbox.set_kill_switch(True, actor='ops-2', reason='from another process')"
    environ = {
        "GLASSBOX_KILL_SWITCH_FILE": str(tmp_path / "kill-switch"),
        "GLASSBOX_AUDIT_DIR": str(tmp_path / "a"),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(tmp_path / "b"),
        "GLASSBOX_AUDIT_KEY_FILE": str(tmp_path / "k"),
    }
    subprocess.run([sys.executable, "-c", code], env=environ, check=True, timeout=60)
    with pytest.raises(glassbox.AICallRefused):
        ask(oai)
    glassbox.set_kill_switch(False)
    assert ask(oai)


def test_a_tenant_over_its_budget_gets_the_fallback_not_the_model(
    oai: openai.OpenAI, telemetry: Telemetry, guarded: AuditLog
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    budgets.install(budgets.Budgets({tenant: {"day": 0.000001}}))
    seen: list[str] = []

    def cheaper(refusal: glassbox.AICallRefused, call: dict[str, Any]) -> str:
        seen.append(refusal.reason)
        return f"canned answer instead of {call['model']}"

    glassbox.set_fallback(cheaper)
    token = in_request(tenant)
    try:
        assert ask(oai).choices[0].message.content  # under budget: the call is made and priced
        before = chat_spans(telemetry)
        assert ask(oai) == "canned answer instead of gpt-4o-mini"
    finally:
        otel_context.detach(token)
    assert seen == ["budget_day"] and chat_spans(telemetry) == before
    assert telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_day", glassbox__tenant__id=tenant) == 1
    # the first call's cost crossed 80%, 95% and 100% of the tiny budget at once, then the refusal
    assert actions(guarded) == ["budget.threshold"] * 3 + ["ai.call_refused"]


def test_a_request_past_its_call_limit_is_refused_and_other_requests_are_not(
    oai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_LLM_CALLS", "2")
    guard.reset()  # the guard reads its settings once
    token = in_request("acme", "req-limited")
    try:
        ask(oai)
        ask(oai)
        with pytest.raises(glassbox.AICallRefused, match="request req-limited made its 2 model calls"):
            ask(oai)
    finally:
        otel_context.detach(token)
    token = in_request("acme", "req-other")
    try:
        assert ask(oai)
    finally:
        otel_context.detach(token)


def test_a_request_past_its_tokens_its_usd_or_its_time_is_refused(
    oai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_TOKENS", "5")
    guard.reset()  # the guard reads its settings once
    token = in_request("acme", "req-tokens")
    try:
        ask(oai)  # the stub counts one token per word: this call uses more than 5
        with pytest.raises(glassbox.AICallRefused, match="used its 5 tokens"):
            ask(oai)
    finally:
        otel_context.detach(token)
    monkeypatch.delenv("GLASSBOX_REQUEST_MAX_TOKENS")
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_USD", "0.0000001")
    guard.reset()  # the guard reads its settings once
    token = in_request("acme", "req-usd")
    try:
        ask(oai)  # a priced gpt-4o-mini call costs more than 0.0000001 USD
        with pytest.raises(glassbox.AICallRefused, match="spent its 1e-07 USD"):
            ask(oai)
    finally:
        otel_context.detach(token)
    monkeypatch.delenv("GLASSBOX_REQUEST_MAX_USD")
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_SECONDS", "0.2")
    guard.reset()  # the guard reads its settings once
    arrived = attribution.set_request_arrived(time.time())  # what the edge notes when a request arrives
    token = in_request("acme", "req-slow")
    try:
        ask(oai)
        time.sleep(0.3)
        with pytest.raises(glassbox.AICallRefused) as raised:
            ask(oai)
        assert raised.value.reason == "request_time"
    finally:
        otel_context.detach(token)
        attribution.reset_request_arrived(arrived)


def test_the_canned_answer_has_the_type_each_sdk_call_returns(oai: openai.OpenAI, stub_url: str) -> None:
    glassbox.set_fallback(glassbox.canned_answer("Paused for maintenance."))
    claude = anthropic.Anthropic(base_url=stub_url, api_key="sk-ant-test", max_retries=0)
    glassbox.set_kill_switch(True)
    try:
        completion = ask(oai)
        assert isinstance(completion, openai.types.chat.ChatCompletion) and glassbox.is_fallback(completion)
        assert completion.choices[0].message.content == "Paused for maintenance."
        assert completion.id.startswith("glassbox-fallback-kill_switch-") and completion.model == "gpt-4o-mini"
        streamed = oai.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices)
        assert text == "Paused for maintenance." and glassbox.is_fallback(streamed)
        message = claude.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
        assert isinstance(message, anthropic.types.Message) and message.content[0].type == "text"
        assert message.content[0].text == "Paused for maintenance." and glassbox.is_fallback(message)
        events = claude.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "x"}], stream=True
        )
        deltas = [e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta"]
        assert deltas == ["Paused for maintenance."]
        with pytest.raises(glassbox.AICallRefused) as raised:  # no canned vectors: the refusal itself
            oai.embeddings.create(model="text-embedding-3-small", input=["x"])
        assert raised.value.call == guard.OPENAI_EMBEDDINGS
        with pytest.raises(glassbox.AICallRefused) as raised:  # structured output a canned text cannot fill
            oai.chat.completions.parse(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert raised.value.call == guard.OPENAI_CHAT_PARSE
    finally:
        glassbox.set_kill_switch(False)
    assert not glassbox.is_fallback(ask(oai))


def test_the_sdk_stream_helpers_read_the_canned_stream(oai: openai.OpenAI, stub_url: str) -> None:
    """chat.completions.stream() calls create(stream=True) inside the SDK and wraps what it returns."""
    import asyncio

    glassbox.set_fallback(glassbox.canned_answer("Paused."))
    message: Any = [{"role": "user", "content": "x"}]
    async_client = openai.AsyncOpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)

    async def async_final() -> Any:
        async with async_client.chat.completions.stream(model="gpt-4o-mini", messages=message) as stream:
            return await stream.get_final_completion()

    glassbox.set_kill_switch(True)
    try:
        with oai.chat.completions.stream(model="gpt-4o-mini", messages=message) as stream:
            assert stream.get_final_completion().choices[0].message.content == "Paused."
        assert asyncio.run(async_final()).choices[0].message.content == "Paused."
    finally:
        glassbox.set_kill_switch(False)


def test_an_async_stream_gets_the_canned_answer_too(stub_url: str) -> None:
    import asyncio

    glassbox.set_fallback(glassbox.canned_answer("Later, please."))
    client = openai.AsyncOpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)

    async def stream_text() -> str:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}], stream=True
        )
        return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

    glassbox.set_kill_switch(True)
    try:
        assert asyncio.run(stream_text()) == "Later, please."
    finally:
        glassbox.set_kill_switch(False)


def test_every_guarded_entry_point_is_refused_with_the_kill_switch_on(oai: openai.OpenAI, stub_url: str) -> None:
    """The helpers that do not go through ``create`` (parse, responses, anthropic's stream) are guarded too."""
    claude = anthropic.Anthropic(base_url=stub_url, api_key="sk-ant-test", max_retries=0)
    message: Any = [{"role": "user", "content": "x"}]
    calls = {
        "openai chat parse": lambda: oai.chat.completions.parse(model="gpt-4o-mini", messages=message),
        "openai responses": lambda: oai.responses.create(model="gpt-4o-mini", input="x"),
        "anthropic stream": lambda: claude.messages.stream(model="claude-haiku-4-5", max_tokens=5, messages=message),
    }
    glassbox.set_kill_switch(True)
    try:
        for name, make_call in calls.items():
            with pytest.raises(glassbox.AICallRefused):
                make_call()
                pytest.fail(f"{name} was not refused")
    finally:
        glassbox.set_kill_switch(False)


def test_a_fallback_that_calls_another_model_is_checked_again_and_does_not_loop(oai: openai.OpenAI) -> None:
    attempts: list[str] = []

    def cheaper(refusal: glassbox.AICallRefused, call: dict[str, Any]) -> Any:
        attempts.append(call["model"])
        return ask(oai, model="gpt-4o-mini")  # refused too while the kill switch is on: raises, no second fallback

    glassbox.set_fallback(cheaper)
    glassbox.set_kill_switch(True)
    try:
        with pytest.raises(glassbox.AICallRefused):
            ask(oai, model="gpt-4o")
    finally:
        glassbox.set_kill_switch(False)
    assert attempts == ["gpt-4o"]
    assert ask(oai, model="gpt-4o").choices[0].message.content  # and nothing is left switched on


def test_a_call_whose_input_alone_would_exceed_the_budget_is_not_made_and_a_cheaper_model_fits(
    oai: openai.OpenAI, telemetry: Telemetry, guarded: AuditLog
) -> None:
    """gpt-4o's input costs about 17x gpt-4o-mini's: 400 tokens of prompt are ~0.001 USD on one and
    ~0.00006 USD on the other, against a budget of 0.0003 USD with nothing spent yet."""
    tenant = f"t-{uuid.uuid4().hex[:6]}"
    budgets.install(budgets.Budgets({tenant: {"day": 0.0003}}))
    prompt: Any = [{"role": "user", "content": "word " * 320}]  # 1,600 characters: about 400 tokens
    used: list[str] = []

    def cheaper(refusal: glassbox.AICallRefused, call: dict[str, Any]) -> Any:
        used.append(refusal.reason)
        return oai.chat.completions.create(**{**call, "model": "gpt-4o-mini"})

    glassbox.set_fallback(cheaper)
    token = in_request(tenant)
    try:
        before = chat_spans(telemetry)
        answer = oai.chat.completions.create(model="gpt-4o", messages=prompt)
    finally:
        otel_context.detach(token)
    assert used == ["budget_day"] and answer.model.startswith("gpt-4o-mini")
    assert chat_spans(telemetry) == before + 1  # only the cheaper call was made
    detail = [e for e in telemetry.finished() if e.name.startswith("chat ")]
    assert detail and detail[-1].attributes[c.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert guard.estimated_cost(guard.OPENAI_CHAT, {"model": "gpt-4o", "messages": prompt}) > 0.0003


def test_fail_closed_audit_never_blocks_turning_the_kill_switch_on_but_blocks_turning_it_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, guarded: AuditLog
) -> None:
    from tests.glassbox.audit.test_audit import broken_log

    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-closed")
    audit_module.use_log(broken_log(tmp_path), tmp_path / "spool")
    try:
        glassbox.set_kill_switch(True, actor="ops-1", reason="incident")  # the safe direction: done anyway
        assert kill_switch_on()
        with pytest.raises(glassbox.AuditRefused):
            glassbox.set_kill_switch(False, actor="ops-1")
        assert kill_switch_on()  # stays on: its change could not be recorded
    finally:
        audit_module.use_log(guarded)
        glassbox.set_kill_switch(False, actor="ops-1")
    assert not kill_switch_on()
    assert actions(guarded) == ["kill_switch.off"] * 2


def test_each_entry_point_counts_as_one_model_call(oai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """parse() and stream() go through create() inside the SDK or not: either way, one call each."""
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_LLM_CALLS", "1")
    guard.reset()  # the guard reads its settings once
    message: Any = [{"role": "user", "content": "x"}]
    token = in_request("acme")
    try:
        assert oai.chat.completions.parse(model="gpt-4o-mini", messages=message).choices
    finally:
        otel_context.detach(token)
    token = in_request("acme")
    try:
        with oai.chat.completions.stream(model="gpt-4o-mini", messages=message) as stream:
            assert stream.get_final_completion().choices
        with pytest.raises(glassbox.AICallRefused):  # and the limit still holds
            ask(oai)
    finally:
        otel_context.detach(token)


def test_the_input_estimate_counts_text_and_leaves_images_out() -> None:
    image = "data:image/png;base64," + "A" * 40_000
    text_only: Any = [{"role": "user", "content": "word " * 400}]
    with_image: Any = [{"role": "user", "content": [{"type": "text", "text": "word " * 400},
                                                     {"type": "image_url", "image_url": {"url": image}}]}]  # fmt: skip
    claude_image: Any = [{"role": "user", "content": [{"type": "text", "text": "word " * 400}, {"type": "image",
                          "source": {"type": "base64", "media_type": "image/png", "data": "A" * 40_000}}]}]  # fmt: skip
    plain = guard.estimated_cost(guard.OPENAI_CHAT, {"model": "gpt-4o", "messages": text_only})
    assert plain == pytest.approx(2000 / 4 * 2.5e-6, rel=0.05)  # 500 tokens at gpt-4o's 2.50 USD per million
    with_image_cost = guard.estimated_cost(guard.OPENAI_CHAT, {"model": "gpt-4o", "messages": with_image})
    assert with_image_cost == pytest.approx(plain, rel=0.02)  # the part labels only, not 40,000 image characters
    claude = guard.estimated_cost(guard.ANTHROPIC_MESSAGES, {"model": "claude-haiku-4-5", "messages": claude_image})
    assert 0 < claude < plain
    assert guard.estimated_cost(guard.OPENAI_CHAT, {"model": "experimental-model-x", "messages": text_only}) == 0
    # the output the call allows is part of its most expensive outcome: 1,000 tokens at 10 USD per million
    bounded = guard.estimated_cost(guard.OPENAI_CHAT, {"model": "gpt-4o", "messages": text_only, "max_tokens": 1000})
    assert bounded == pytest.approx(plain + 1000 * 10e-6, rel=0.05)
