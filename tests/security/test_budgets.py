"""Budgets nobody escapes by changing a header: each test is a client's move against a "*" budget or the total
budget, through the real openai SDK against the stub model server, the guard in front of it, and the files state
(the PostgreSQL state makes the same moves in tests/security/test_fleet_state.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import context as otel_context

import glassbox
from glassbox import attribution
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.guard import GuardInstrumentor, budgets, spend_writer
from glassbox.guard import core as guard
from glassbox.state import TOTAL_BUDGET
from tests.conftest import Telemetry

# Each call of ask() costs about 0.0000068 USD at gpt-4o-mini's prices (the stub's usage): these budgets allow a
# handful of calls.
CALL = 0.00001


@pytest.fixture(autouse=True)
def guarded() -> Iterator[None]:
    if not GuardInstrumentor().is_instrumented_by_opentelemetry:
        GuardInstrumentor().instrument()
    yield
    guard.set_fallback(None)
    budgets.install(None)


@pytest.fixture
def oai(stub_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)


def ask_as(client: openai.OpenAI, tenant: str | None) -> str:
    """One model call in a request that names ``tenant`` (None: names none); the model's answer or the refusal."""
    values = {c.REQUEST_ID: f"req-{uuid.uuid4().hex[:8]}"}
    if tenant is not None:
        values[c.TENANT_ID] = tenant
    token = otel_context.attach(attribution.with_attribution(values))
    try:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "one two"}])
        return "answered"
    except glassbox.AICallRefused as refusal:
        return refusal.reason
    finally:
        otel_context.detach(token)


def until_refused(client: openai.OpenAI, tenant: str | None, most: int = 50) -> tuple[int, str]:
    for answered in range(most):
        outcome = ask_as(client, tenant)
        if outcome != "answered":
            return answered, outcome
    raise AssertionError(f"{most} calls of tenant {tenant!r} were all answered")


@pytest.mark.parametrize("tenant", [None, c.PLACEHOLDER_NONE, c.PLACEHOLDER_INVALID, "", c.PLACEHOLDER_OVERFLOW])
def test_leaving_the_tenant_out_or_smuggling_a_placeholder_does_not_escape_the_default_budget(
    oai: openai.OpenAI, tenant: str | None, telemetry: Telemetry
) -> None:
    budgets.install(budgets.Budgets({"*": {"day": 3 * CALL}}))
    answered, reason = until_refused(oai, tenant)
    assert 1 <= answered <= 4 and reason == "budget_day"
    spent = state_module.get().spend_by_tenant(budgets.today())
    placeholders = {c.PLACEHOLDER_NONE, c.PLACEHOLDER_INVALID, c.PLACEHOLDER_OVERFLOW}
    assert set(spent) <= placeholders and sum(v["day"] for v in spent.values()) > 0, spent


def test_a_placeholder_can_have_a_budget_of_its_own(oai: openai.OpenAI) -> None:
    budgets.install(budgets.Budgets({c.PLACEHOLDER_NONE: {"day": 0.0}, "*": {"day": 1.0}}))
    assert ask_as(oai, None) == "budget_day"  # unattributed traffic: none allowed
    assert ask_as(oai, "acme") == "answered"


def test_rotating_tenant_ids_stops_at_the_total_budget(oai: openai.OpenAI, telemetry: Telemetry) -> None:
    """A client that invents a tenant id per request gets a fresh "*" budget each time: the total stops it."""
    budgets.install(budgets.Budgets({"*": {"day": 1.0}}, total={"day": 5 * CALL}))
    outcomes = [ask_as(oai, f"rotating-{n}") for n in range(30)]
    answered = outcomes.count("answered")
    assert 3 <= answered <= 8 and set(outcomes[answered:]) == {"budget_total_day"}, outcomes
    spent = state_module.get().spend_by_tenant(budgets.today())
    assert spent[TOTAL_BUDGET]["day"] == pytest.approx(sum(v["day"] for t, v in spent.items() if t != TOTAL_BUDGET))
    refused = telemetry.total(c.METRIC_AI_CALLS_REFUSED, reason="budget_total_day")
    assert refused == outcomes.count("budget_total_day")


def test_the_total_budget_set_in_the_state_wins_over_the_file_and_is_reported(
    oai: openai.OpenAI, telemetry: Telemetry
) -> None:
    budgets.install(budgets.Budgets({}, total={"day": 1.0}))
    state_module.get().set_budget(TOTAL_BUDGET, {"day": 0.0})
    assert budgets.total_limits() == {"day": 0.0}
    assert ask_as(oai, "acme") == "budget_total_day"
    points = telemetry.points(c.METRIC_BUDGET_LIMIT, glassbox__tenant__id=TOTAL_BUDGET)
    assert [p.value for p in points] == [0.0]


def test_a_budgets_file_states_the_total_and_refuses_a_bad_one(tmp_path: Any) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text('tenants:\n  "*": {day: 1}\ntotal: {day: 20, month: 300}\n')
    assert budgets.load_budgets(path).total == {"day": 20.0, "month": 300.0}
    path.write_text("total: {day: -1}\n")
    with pytest.raises(budgets.BudgetConfigError, match=r"total.day must be a finite amount of USD >= 0"):
        budgets.load_budgets(path)
    path.write_text("total: {week: 1}\n")
    with pytest.raises(budgets.BudgetConfigError, match=r"total: unknown key 'week'"):
        budgets.load_budgets(path)


def test_spend_pending_when_a_budget_appears_counts_against_it_at_the_next_call() -> None:
    """The attacker's move: spend freely, then keep calling after the operator sets a budget, hoping the spend
    still in memory is not counted. The guard writes it before it reserves, so the next call is refused."""
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    guard.account(None, tenant, 3.0, None, 0)
    assert any(key[0] == tenant for key in spend_writer.pending())  # in memory, not yet in the state
    budgets.install(budgets.Budgets({tenant: {"day": 2.0}}))
    token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: tenant}))
    try:
        refusal, reservation = guard.admit()
    finally:
        otel_context.detach(token)
    assert reservation is None and refusal is not None and refusal.reason == "budget_day", refusal
    assert state_module.get().spent(tenant, budgets.today())[c.BUDGET_PERIOD_DAY] == pytest.approx(3.0)
    budgets.install(None)
