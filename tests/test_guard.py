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
from glassbox import attribution, budgets, guard
from glassbox import audit_events as audit_module
from glassbox import conventions as c
from glassbox.audit_chain import AuditLog

from .conftest import Telemetry


@pytest.fixture(autouse=True)
def guarded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry) -> Iterator[AuditLog]:
    guard.install()
    monkeypatch.setenv("GLASSBOX_KILL_SWITCH_FILE", str(tmp_path / "kill-switch"))
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
    finally:
        glassbox.set_kill_switch(False, actor={"type": "human", "id": "ops-1"})
    assert ask(oai).choices[0].message.content
    assert actions(guarded) == ["kill_switch.on", "ai.call_refused", "ai.call_refused", "kill_switch.off"]


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
    # the first call's cost crossed 80%, 95% and 100% of the tiny budget at once, then the refusal
    assert actions(guarded) == ["budget.threshold"] * 3 + ["ai.call_refused"]


def test_a_request_past_its_call_limit_is_refused_and_other_requests_are_not(
    oai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_LLM_CALLS", "2")
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


def test_a_request_past_its_tokens_or_its_time_is_refused(oai: openai.OpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_TOKENS", "5")
    token = in_request("acme", "req-tokens")
    try:
        ask(oai)  # the stub counts one token per word: this call uses more than 5
        with pytest.raises(glassbox.AICallRefused, match="used its 5 tokens"):
            ask(oai)
    finally:
        otel_context.detach(token)
    monkeypatch.delenv("GLASSBOX_REQUEST_MAX_TOKENS")
    monkeypatch.setenv("GLASSBOX_REQUEST_MAX_SECONDS", "0.2")
    guard.request_started("req-slow")
    token = in_request("acme", "req-slow")
    try:
        ask(oai)
        time.sleep(0.3)
        with pytest.raises(glassbox.AICallRefused) as raised:
            ask(oai)
        assert raised.value.reason == "request_time"
    finally:
        otel_context.detach(token)
