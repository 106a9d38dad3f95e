"""Glassbox's instrumentors (guard, edge, uvicorn shutdown) on wrapt: idempotent, removable, and the guard the
outermost layer whatever the order the upstream GenAI instrumentations come and go in. And the two guard and
audit defects that broke the app they observed: an unusable spend file and an audit value JSON cannot hold."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import uvicorn
import wrapt
from fastapi import FastAPI
from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from starlette.applications import Starlette

import glassbox
from glassbox import attribution
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.audit import events as audit_events
from glassbox.audit.chain import AuditLog
from glassbox.guard import GuardInstrumentor, budgets
from glassbox.guard import core as guard
from glassbox.integrations.asgi_attribution import EdgeInstrumentor
from tests.conftest import Telemetry


@pytest.fixture
def oai(stub_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)


def chat_spans(telemetry: Telemetry) -> int:
    return sum(1 for s in telemetry.finished() if s.name.startswith("chat "))


def ask(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


@pytest.fixture
def both_instrumented(telemetry: Telemetry) -> Iterator[None]:
    """The guard and the upstream OpenAI instrumentation on, as under opentelemetry-instrument; left so."""
    if not GuardInstrumentor().is_instrumented_by_opentelemetry:
        GuardInstrumentor().instrument()
    yield
    if not OpenAIInstrumentor().is_instrumented_by_opentelemetry:
        OpenAIInstrumentor().instrument()
    if not GuardInstrumentor().is_instrumented_by_opentelemetry:
        GuardInstrumentor().instrument()
    glassbox.set_kill_switch(False)


def test_the_guard_and_the_genai_instrumentation_come_and_go_in_any_order(
    oai: openai.OpenAI, telemetry: Telemetry, both_instrumented: None
) -> None:
    def refused_without_a_span() -> bool:
        before = chat_spans(telemetry)
        glassbox.set_kill_switch(True)
        try:
            ask(oai)
        except glassbox.AICallRefused:
            return chat_spans(telemetry) == before  # the guard stood in front: no call, no GenAI span
        finally:
            glassbox.set_kill_switch(False)
        return False

    def traced() -> bool:
        before = chat_spans(telemetry)
        ask(oai)
        return chat_spans(telemetry) == before + 1

    assert refused_without_a_span() and traced()
    OpenAIInstrumentor().uninstrument()  # upstream's own layer goes, not the guard's
    assert not traced() and refused_without_a_span()
    OpenAIInstrumentor().instrument()  # back, under the guard
    assert traced() and refused_without_a_span()
    GuardInstrumentor().uninstrument()
    glassbox.set_kill_switch(True)
    try:
        assert traced()  # no guard: the call is made even with the switch on
    finally:
        glassbox.set_kill_switch(False)
    GuardInstrumentor().instrument()
    GuardInstrumentor().instrument()  # idempotent
    assert refused_without_a_span() and traced()
    layers = 0
    method: Any = vars(openai.resources.chat.completions.Completions)["create"]
    while isinstance(method, wrapt.BaseObjectProxy):
        layers += 1
        method = method.__wrapped__
    assert layers == 2  # one guard, one upstream instrumentation


def _app() -> tuple[Starlette, dict[str, Any]]:
    app = FastAPI()
    seen: dict[str, Any] = {}

    @app.get("/")
    async def root() -> dict[str, str]:
        seen["tenant"] = baggage.get_baggage(c.TENANT_ID)
        seen["arrived"] = attribution.request_arrived()
        return {}

    return app, seen


def _get(app: Starlette) -> None:
    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/", headers={"x-tenant-id": "acme"})).status_code == 200

    asyncio.run(go())


def test_the_edge_is_instrumented_removed_and_instrumented_again() -> None:
    instrumentor = EdgeInstrumentor()
    was_on = instrumentor.is_instrumented_by_opentelemetry
    try:
        for on in (True, False, True):
            if on:
                instrumentor.instrument()
            else:
                instrumentor.uninstrument()
            assert isinstance(vars(Starlette)["__call__"], wrapt.BaseObjectProxy) is on
            app, seen = _app()
            _get(app)
            assert seen["tenant"] == ("acme" if on else None)
            assert (seen["arrived"] is not None) is on  # the per-request time limit counts from here
    finally:
        if not was_on:
            instrumentor.uninstrument()


def test_uvicorn_still_takes_a_plain_starlette_app_for_an_app() -> None:
    """uvicorn calls the app with no arguments to tell a factory from an app: the edge must raise there too."""
    instrumentor = EdgeInstrumentor()
    was_on = instrumentor.is_instrumented_by_opentelemetry
    try:
        instrumentor.instrument()
        app = Starlette()
        config = uvicorn.Config(app, lifespan="off")
        config.load()
        assert config.loaded_app.app is app  # behind uvicorn's proxy-headers middleware, the app itself
        assert config.interface == "asgi3"
    finally:
        if not was_on:
            instrumentor.uninstrument()


# --------------------------------------------------------------------------- the two defects
def in_tenant(tenant: str) -> object:
    return otel_context.attach(attribution.with_attribution({c.TENANT_ID: tenant, c.REQUEST_ID: "req-x"}))


@pytest.mark.parametrize("mode", ["fail-open", "fail-closed"])
def test_an_unusable_spend_file_follows_the_failure_mode_counted_and_logged_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    (tmp_path / "not-a-directory").write_text("a file where the spend file's directory should be")
    monkeypatch.setenv("GLASSBOX_BUDGETS_STATE", str(tmp_path / "not-a-directory" / "spend.sqlite"))
    monkeypatch.setenv("GLASSBOX_STATE_FAILURE", mode)
    budgets.install(budgets.Budgets({"acme": {"day": 1.0}}))
    failures = telemetry.total(c.METRIC_STATE_FAILURES)
    token = in_tenant("acme")
    try:
        with caplog.at_level(logging.ERROR, logger="glassbox"):
            first, second = guard.check(guard.OPENAI_CHAT, {"model": "gpt-4o"}), guard.check(guard.OPENAI_CHAT, {})
    finally:
        otel_context.detach(token)
    if mode == "fail-open":
        assert (first, second) == (None, None)  # the call goes on
    else:
        assert first is not None and first.reason == c.REFUSED_STATE_UNAVAILABLE and second is not None
        assert "GLASSBOX_BUDGETS_STATE" in first.detail
    assert telemetry.total(c.METRIC_STATE_FAILURES) >= failures + 2  # each one counted
    logged = [r for r in caplog.records if r.name == "glassbox" and "GLASSBOX_BUDGETS_STATE" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None  # once, with its traceback


def test_a_locked_spend_file_holds_a_call_no_longer_than_the_state_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry
) -> None:
    spend = tmp_path / "spend.sqlite"
    monkeypatch.setenv("GLASSBOX_BUDGETS_STATE", str(spend))
    monkeypatch.setenv("GLASSBOX_STATE_TIMEOUT", "0.2")
    budgets.install(budgets.Budgets({"acme": {"day": 1.0}}))
    state_module.get().spent("acme", budgets.today())  # the file and its tables exist
    holder = sqlite3.connect(spend, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process holding the write lock
    token = in_tenant("acme")
    try:
        started = time.monotonic()
        assert guard.check(guard.OPENAI_CHAT, {"model": "gpt-4o"}) is None  # fail-open: the call goes on
        waited = time.monotonic() - started
    finally:
        otel_context.detach(token)
        holder.execute("ROLLBACK")
        holder.close()
    assert waited < 1.0, waited  # it was up to 5 s per call


def test_an_audit_value_json_cannot_hold_is_recorded_as_text(tmp_path: Path, telemetry: Telemetry) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    audit_events.use_log(log)
    when = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    try:
        glassbox.audit("refund.issue", after={"when": when, "amount": Decimal("12.50"), "tags": {"vip"}})
    finally:
        audit_events.use_log(None)
    (record,) = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert record["after"] == {"when": "2026-11-30T12:00:00+00:00", "amount": "12.50", "tags": ["vip"]}


def test_any_failure_writing_an_audit_event_follows_the_audit_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken:
        def append(self, event: Any) -> Any:
            raise TypeError("a defect in a log")

    audit_events.use_log(Broken(), tmp_path / "spool")  # type: ignore[arg-type]
    failures = telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES)
    try:
        with caplog.at_level(logging.ERROR, logger="glassbox"):
            glassbox.audit("login")  # fail-open: spooled, counted, logged
            glassbox.audit("login")
        monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-closed")
        with pytest.raises(glassbox.AuditRefused, match="a defect in a log"):
            glassbox.audit("login")
    finally:
        audit_events.use_log(None)
    assert telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES) == failures + 3
    logged = [r for r in caplog.records if "a defect in a log" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    files = list((tmp_path / "spool").glob("spool-*.jsonl"))
    spooled = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    assert [e["action"] for e in spooled] == ["login", "login"]
