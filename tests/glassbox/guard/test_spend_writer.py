"""glassbox.guard.spend_writer: the spend of tenants without a budget is written behind, on a thread of its own,
and never kept out of a budget: a budgeted tenant is booked at once, and a tenant's pending spend is written before
the guard reserves against its first budget."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.guard import budgets, spend_writer
from glassbox.guard import core as guard_core
from glassbox.guard.budgets import Budgets
from glassbox.state.files import FileState
from tests.conftest import Telemetry


def new_tenant() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


def writes_by_thread(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads that write spend to the state from now on."""
    state = state_module.get()
    threads: list[str] = []
    add_spend = state.add_spend

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return add_spend(*args, **kwargs)

    monkeypatch.setattr(state, "add_spend", recorded)
    return threads


def spent_today(tenant: str) -> float:
    return state_module.get().spent(tenant, budgets.today())[c.BUDGET_PERIOD_DAY]


def test_a_tenant_without_a_budget_is_written_behind_by_the_writer_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = new_tenant()
    threads = writes_by_thread(monkeypatch)
    guard_core.account(None, tenant, 0.25, None, 0)
    guard_core.account(None, tenant, 0.5, None, 0)
    assert threading.current_thread().name not in threads  # the call's thread wrote nothing
    deadline = time.monotonic() + 10 * spend_writer.INTERVAL_S
    while spent_today(tenant) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spent_today(tenant) == pytest.approx(0.75)
    assert threads == ["glassbox-spend-writer"]  # one write for both calls
    assert not spend_writer.pending()


def test_a_budgeted_tenant_and_every_tenant_under_a_total_are_booked_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    budgeted, other = new_tenant(), new_tenant()
    budgets.install(Budgets({budgeted: {"day": 10.0}}))
    threads = writes_by_thread(monkeypatch)
    guard_core.account(None, budgeted, 0.25, None, 0)
    assert spent_today(budgeted) == pytest.approx(0.25)
    budgets.install(Budgets({}, total={"day": 100.0}))
    guard_core.account(None, other, 0.5, None, 0)
    assert spent_today(other) == pytest.approx(0.5)
    assert threads == [threading.current_thread().name] * 2
    budgets.install(None)


def test_what_the_state_refuses_stays_pending_and_past_the_limit_is_dropped_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry
) -> None:
    (tmp_path / "not-a-directory").write_text("")
    unusable = FileState(
        tmp_path / "not-a-directory" / "spend.db", tmp_path / "kill-switch", 1.0, "test",
        on_failure=state_module.count_failure,
    )  # fmt: skip
    previous = state_module.use(unusable)
    monkeypatch.setattr(spend_writer, "MAX_PENDING", 2)
    first, second, third = new_tenant(), new_tenant(), new_tenant()
    dropped_label = {"glassbox__state__operation": spend_writer.OPERATION_DROPPED}
    dropped = telemetry.total(c.METRIC_STATE_FAILURES, **dropped_label)
    try:
        spend_writer.add(first, 1.0, "2026-12-31")
        spend_writer.add(second, 2.0, "2026-12-31")
        assert not spend_writer.flush()
        spend_writer.add(third, 4.0, "2026-12-31")  # a third tenant-day waiting: dropped, counted
        assert spend_writer.pending() == {(first, "2026-12-31"): 1.0, (second, "2026-12-31"): 2.0}
        assert telemetry.total(c.METRIC_STATE_FAILURES, **dropped_label) == dropped + 1
    finally:
        state_module.use(previous)
    assert spend_writer.flush()
    assert state_module.get().spent(second, "2026-12-31")[c.BUDGET_PERIOD_DAY] == pytest.approx(2.0)
    assert state_module.get().spent(third, "2026-12-31")[c.BUDGET_PERIOD_DAY] == 0
