"""Tenant budgets: the config file, spend per UTC day and month, the two gauges, and the span processor path."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace

from glassbox import attribution, cost
from glassbox import conventions as c
from glassbox import instruments as instruments_module
from glassbox import state as state_module
from glassbox.guard import budgets
from glassbox.guard.budgets import BudgetConfigError, Budgets
from glassbox.instruments import Instruments
from glassbox.state import BudgetExceeded
from glassbox.state.files import FileState
from tests.conftest import Telemetry

CONFIG = """
# USD per tenant per UTC calendar day / month. "*" applies to every tenant not listed.
tenants:
  acme: {day: 5.0, month: 100.0}
  globex: {month: 10}
  "*": {day: 1.0, month: 20.0}
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(autouse=True)
def _no_budgets() -> Iterator[None]:
    yield
    budgets.install(None)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "budgets.yaml"
    path.write_text(CONFIG)
    return path


def limit(telemetry: Telemetry, tenant: str, period: str) -> float | None:
    points = telemetry.points(c.METRIC_BUDGET_LIMIT, glassbox__tenant__id=tenant, glassbox__budget__period=period)
    assert len(points) <= 1
    return points[0].value if points else None


def spent(telemetry: Telemetry, tenant: str, period: str) -> float | None:
    points = telemetry.points(c.METRIC_BUDGET_SPENT, glassbox__tenant__id=tenant, glassbox__budget__period=period)
    assert len(points) <= 1
    return points[0].value if points else None


def reported(telemetry: Telemetry) -> set[tuple[str, str]]:
    points = telemetry.points(c.METRIC_BUDGET_LIMIT) + telemetry.points(c.METRIC_BUDGET_SPENT)
    return {(p.attributes[c.TENANT_ID], p.attributes[c.BUDGET_PERIOD]) for p in points}


def test_limits_and_spend_are_reported_per_tenant_and_period(telemetry: Telemetry, config: Path) -> None:
    budgets.install(budgets.load_budgets(config))
    # listed tenants are reported before they spend anything; "*" itself never is
    assert reported(telemetry) == {("acme", "day"), ("acme", "month"), ("globex", "month")}
    assert limit(telemetry, "acme", "day") == 5.0
    assert limit(telemetry, "acme", "month") == 100.0
    assert spent(telemetry, "acme", "day") == 0.0
    budgets.record_spend("acme", 0.25)
    budgets.record_spend("acme", 0.5)
    budgets.record_spend("globex", 2.0)
    assert spent(telemetry, "acme", "day") == pytest.approx(0.75)
    assert spent(telemetry, "acme", "month") == pytest.approx(0.75)
    assert spent(telemetry, "globex", "month") == pytest.approx(2.0)
    # globex has no day budget: it is not reported for the day
    assert limit(telemetry, "globex", "day") is None
    assert spent(telemetry, "globex", "day") is None
    (point,) = telemetry.points(c.METRIC_BUDGET_SPENT, glassbox__tenant__id="acme", glassbox__budget__period="day")
    assert set(point.attributes) == {c.TENANT_ID, c.BUDGET_PERIOD, c.BUDGET_SCOPE}
    metric_units = {
        m.name: m.unit
        for rm in telemetry.reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name in (c.METRIC_BUDGET_LIMIT, c.METRIC_BUDGET_SPENT)
    }
    assert metric_units == {c.METRIC_BUDGET_LIMIT: c.UNIT_USD, c.METRIC_BUDGET_SPENT: c.UNIT_USD}


def test_spend_starts_again_at_utc_midnight_and_at_the_month_boundary(telemetry: Telemetry, config: Path) -> None:
    clock = Clock(datetime(2026, 11, 30, 23, 59, 30, tzinfo=UTC))
    budgets.install(budgets.load_budgets(config), clock=clock)
    budgets.record_spend("acme", 1.0)
    assert (spent(telemetry, "acme", "day"), spent(telemetry, "acme", "month")) == (1.0, 1.0)

    clock.now = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
    budgets.record_spend("acme", 0.5)
    assert (spent(telemetry, "acme", "day"), spent(telemetry, "acme", "month")) == (1.5, 1.5)

    # a new month (and day) in UTC, though it is still November 30th in New York
    clock.now = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
    assert (spent(telemetry, "acme", "day"), spent(telemetry, "acme", "month")) == (0.0, 0.0)
    new_york = timezone(timedelta(hours=-5))
    budgets.record_spend("acme", 0.25, now=datetime(2026, 11, 30, 19, 0, 2, tzinfo=new_york))
    assert (spent(telemetry, "acme", "day"), spent(telemetry, "acme", "month")) == (0.25, 0.25)

    # the next day: the day starts again, the month goes on
    clock.now = datetime(2026, 12, 2, 8, tzinfo=UTC)
    budgets.record_spend("acme", 2.0)
    assert (spent(telemetry, "acme", "day"), spent(telemetry, "acme", "month")) == (2.0, 2.25)
    assert limit(telemetry, "acme", "day") == 5.0

    # spend stamped with a period that is over does not reset the current one
    budgets.record_spend("acme", 9.0, now=datetime(2026, 12, 1, 23, tzinfo=UTC))
    assert (spent(telemetry, "acme", "day"), spent(telemetry, "acme", "month")) == (2.0, 11.25)


def test_the_default_applies_to_each_unlisted_tenant_on_its_own(telemetry: Telemetry, config: Path) -> None:
    clock = Clock(datetime(2026, 11, 22, 12, tzinfo=UTC))
    budgets.install(budgets.load_budgets(config), clock=clock)
    budgets.record_spend("initech", 0.4)
    budgets.record_spend("hooli", 0.3)
    budgets.record_spend("initech", 0.2)
    for tenant, amount in (("initech", 0.6), ("hooli", 0.3)):
        assert limit(telemetry, tenant, "day") == 1.0
        assert limit(telemetry, tenant, "month") == 20.0
        assert spent(telemetry, tenant, "day") == pytest.approx(amount)
        assert spent(telemetry, tenant, "month") == pytest.approx(amount)
    assert ("*", "day") not in reported(telemetry)
    # a tenant under the default is reported for a period only while it has spent something in it
    clock.now = datetime(2026, 11, 23, 0, 1, tzinfo=UTC)
    assert limit(telemetry, "hooli", "day") is None and spent(telemetry, "hooli", "day") is None
    assert spent(telemetry, "hooli", "month") == pytest.approx(0.3)


def test_a_tenant_without_a_budget_is_not_tracked(telemetry: Telemetry, tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text("tenants:\n  acme: {day: 5}\n")
    budgets.install(budgets.load_budgets(path))
    budgets.record_spend("umbrella", 3.0)
    budgets.record_spend(c.PLACEHOLDER_NONE, 3.0)
    assert reported(telemetry) == {("acme", "day")}


def test_placeholders_are_budgeted_and_reported_like_tenants_under_the_default(telemetry: Telemetry) -> None:
    """Traffic that names no tenant, or an invalid one, is not free: "*" budgets it under its placeholder."""
    budgets.install(Budgets({"*": {"day": 1.0}}))
    for placeholder in (c.PLACEHOLDER_NONE, c.PLACEHOLDER_INVALID, c.PLACEHOLDER_OVERFLOW, ""):
        budgets.record_spend(placeholder, 0.5)
    assert reported(telemetry) == {(c.PLACEHOLDER_NONE, "day"), (c.PLACEHOLDER_INVALID, "day"),
                                   (c.PLACEHOLDER_OVERFLOW, "day")}  # fmt: skip
    assert spent(telemetry, c.PLACEHOLDER_NONE, "day") == 1.0  # "" is _none


def test_spend_from_many_threads_adds_up(telemetry: Telemetry) -> None:
    budgets.install(Budgets({"acme": {"day": 100.0, "month": 1000.0}}))

    def spend() -> None:
        for _ in range(1000):
            budgets.record_spend("acme", 0.001)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spent(telemetry, "acme", "day") == pytest.approx(8.0)


def test_tracked_tenants_stay_within_the_tenant_label_cap(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # instruments with a cap of their own, so the shared cap keeps room for the other tests' tenants
    capped = Instruments(meter_provider=telemetry.meter_provider, max_tenants=3)
    monkeypatch.setattr(instruments_module, "_instruments", capped)
    budgets.install(Budgets({"*": {"day": 1.0}}))
    for i in range(10):
        budgets.record_spend(f"flood-{i}", 0.01)
    assert {tenant for tenant, _ in reported(telemetry)} == {"flood-0", "flood-1", "flood-2"}


@pytest.mark.parametrize(
    "text, problem",
    [
        ("tenants: [acme", "not valid YAML"),
        ("tenants:\n  acme: {day: 1}\nalerts: {}\n", "unknown key 'alerts'"),
        ("tenants:\n  acme: {week: 1}\n", "tenants.acme: unknown key 'week'"),
        ("tenants:\n  acme: {day: -1}\n", "tenants.acme.day must be a finite amount of USD >= 0, got -1"),
        ("tenants:\n  acme: {day: five}\n", "tenants.acme.day must be a number of USD, got 'five'"),
        ("tenants:\n  acme: {day: '5'}\n", "tenants.acme.day must be a number of USD, got '5'"),
        ("tenants:\n  acme: {day: true}\n", "must be a number of USD"),
        ("tenants:\n  acme: {month: .nan}\n", "tenants.acme.month must be a finite amount"),
        ("tenants:\n  acme: 5\n", "tenants.acme must be a mapping"),
        ("tenants:\n  acme corp: {day: 1}\n", "not a valid tenant id"),
        ("tenants:\n  42: {day: 1}\n", "must be a string"),
        ("tenants: [acme]\n", "'tenants' must be a mapping"),
        ("- acme\n", "expected a mapping"),
        ("", "expected a mapping"),
    ],
)
def test_a_malformed_file_is_refused_with_its_name_and_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad-budgets.yaml"
    path.write_text(text)
    with pytest.raises(BudgetConfigError) as raised:
        budgets.load_budgets(path)
    assert str(path) in str(raised.value)
    assert problem in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_missing_file_is_refused_with_its_name(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(BudgetConfigError, match=r"nowhere\.yaml: cannot be read"):
        budgets.load_budgets(path)


def test_a_bad_file_is_logged_once_and_turns_budgets_off(
    telemetry: Telemetry, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken-budgets.yaml"
    path.write_text("tenants:\n  acme: {day: -5}\n")
    monkeypatch.setenv("GLASSBOX_BUDGETS_FILE", str(path))
    budgets.install(Budgets({"acme": {"day": 1.0}}))
    with caplog.at_level(logging.ERROR, logger="glassbox"):
        assert budgets.configure() is None
        assert budgets.configure() is None
    errors = [r for r in caplog.records if r.name == "glassbox" and r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert str(path) in errors[0].getMessage() and "tenants.acme.day" in errors[0].getMessage()
    assert budgets.current() is None
    budgets.record_spend("acme", 1.0)  # no error
    assert reported(telemetry) == set()


def test_the_file_named_in_the_environment_is_loaded_on_first_use(
    telemetry: Telemetry, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_BUDGETS_FILE", str(config))
    monkeypatch.setattr(budgets, "_configured", False)
    budgets.record_spend("acme", 0.5)
    assert budgets.current() == budgets.load_budgets(config)
    assert spent(telemetry, "acme", "day") == pytest.approx(0.5)


def test_no_file_in_the_environment_reports_nothing(telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GLASSBOX_BUDGETS_FILE", raising=False)
    monkeypatch.setattr(budgets, "_configured", False)
    budgets.record_spend("acme", 0.5)
    assert budgets.current() is None
    assert budgets.configure() is None
    assert reported(telemetry) == set()


def test_the_demo_budgets_file_is_valid() -> None:
    from tests.conftest import EXAMPLES

    demo = budgets.load_budgets(EXAMPLES / "demo_app" / "budgets.yaml")
    assert set(demo.listed) == {"acme", "globex", "initech"}
    assert demo.for_tenant("initech")["day"] < demo.for_tenant("acme")["day"] < demo.for_tenant("globex")["day"]
    assert demo.for_tenant("someone-else") == demo.limits["*"]


# ---------------------------------------------------------------------------- through the span processor


@pytest.fixture
def oai(stub_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)


def in_tenant(tenant: str) -> object:
    return otel_context.attach(attribution.with_attribution({c.TENANT_ID: tenant}))


def test_a_priced_openai_call_adds_its_cost_to_the_tenant_spend(telemetry: Telemetry, oai: openai.OpenAI) -> None:
    budgets.install(Budgets({"acme": {"day": 0.04, "month": 1.0}}))
    token = in_tenant("acme")
    try:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one two three"}])
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "four five"}])
    finally:
        otel_context.detach(token)
    counted = [s for s in telemetry.finished() if s.attributes.get(c.USAGE_COUNTED) is True]
    assert len(counted) == 2
    usd = sum(s.attributes[c.COST_USD] for s in counted)
    assert usd > 0
    assert spent(telemetry, "acme", "day") == pytest.approx(usd)
    assert spent(telemetry, "acme", "month") == pytest.approx(usd)
    assert limit(telemetry, "acme", "day") == 0.04


def model_call(tenant: str, model: str = "gpt-4o") -> None:
    tracer = trace.get_tracer("test")
    token = in_tenant(tenant)
    try:
        attributes = {
            c.GEN_AI_OPERATION_NAME: c.OPERATION_CHAT,
            c.GEN_AI_PROVIDER_NAME: "openai",
            c.GEN_AI_REQUEST_MODEL: model,
            c.GEN_AI_USAGE_INPUT_TOKENS: 1000,
            c.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
        }
        with tracer.start_as_current_span(f"chat {model}", attributes=attributes):
            pass
    finally:
        otel_context.detach(token)


def test_spend_matches_the_cost_metric_label_by_label(telemetry: Telemetry) -> None:
    budgets.install(Budgets({"*": {"day": 10.0}}))
    before = telemetry.total(c.METRIC_COST, glassbox__tenant__id="globex")
    model_call("globex")
    model_call("globex", "no-such-model")  # unpriced: no spend
    expected = cost.price("openai", "gpt-4o", cost.Usage(input_tokens=1000, output_tokens=500)).usd
    assert expected
    assert telemetry.total(c.METRIC_COST, glassbox__tenant__id="globex") - before == pytest.approx(expected)
    assert spent(telemetry, "globex", "day") == pytest.approx(expected)


def test_a_failure_in_budgets_never_breaks_span_processing(
    telemetry: Telemetry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    budgets.install(Budgets({"acme": {"day": 10.0}}))

    def broken(self: object, tenant: str, usd: float, day: str, total: bool = False) -> None:
        raise RuntimeError("budgets broke")

    monkeypatch.setattr(FileState, "add_spend", broken)
    failures = telemetry.total(c.METRIC_STATE_FAILURES)
    with caplog.at_level(logging.ERROR, logger="glassbox"):
        model_call("acme")
        model_call("acme")
    (first, _second) = telemetry.finished()
    assert first.attributes[c.COST_STATUS] == c.COST_STATUS_PRICED and first.attributes[c.COST_USD] > 0
    assert telemetry.total(c.METRIC_STATE_FAILURES) == failures + 2  # counted each time
    logged = [r for r in caplog.records if "budgets broke" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None  # logged once, with its traceback


SPENDER = """
import sys
from glassbox.guard import budgets
budgets.install(budgets.Budgets({"acme": {"day": 1.0}}))
for _ in range(int(sys.argv[1])):
    budgets.record_spend("acme", 0.01)
"""


def test_processes_on_one_host_share_the_spend_and_see_the_budget_run_out(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    spenders = [subprocess.Popen([sys.executable, "-c", SPENDER, "30"], env=dict(os.environ)) for _ in range(3)]
    assert [p.wait(timeout=60) for p in spenders] == [0, 0, 0]
    budgets.install(budgets.Budgets({"acme": {"day": 1.0}}))
    ((tenant, period, limit_usd, spent_usd),) = budgets.observe()
    assert (tenant, period, limit_usd) == ("acme", "day", 1.0)
    assert spent_usd == pytest.approx(0.9)
    state = state_module.get()
    state.settle(state.reserve("acme", {"day": 1.0}, 0.05, budgets.today()), 0.0)  # 0.95 fits
    with pytest.raises(BudgetExceeded, match="would exceed its day budget"):
        state.reserve("acme", {"day": 1.0}, 0.2, budgets.today())
    budgets.record_spend("acme", 0.1)
    with pytest.raises(BudgetExceeded, match=r"tenant acme has spent its day budget \(1 of 1 USD"):
        state.reserve("acme", {"day": 1.0}, 0.0, budgets.today())


def test_crossing_80_95_and_100_percent_writes_one_audit_event_each(tmp_path: Path) -> None:
    import json

    from glassbox.audit import events as audit_events
    from glassbox.audit.chain import AuditLog

    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    audit_events.use_log(log)
    budgets.install(budgets.Budgets({"acme": {"day": 1.0}}))
    try:
        for usd in (0.5, 0.35, 0.05, 0.15, 0.2):  # 0.85 crosses 80%; 1.05 crosses 95% and 100%
            budgets.record_spend("acme", usd)
    finally:
        budgets.install(None)
        audit_events.use_log(None)
    events = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [(e["action"], e["after"]["percent"]) for e in events] == [
        ("budget.threshold", 80),
        ("budget.threshold", 95),
        ("budget.threshold", 100),
    ]
    assert {e["tenant"] for e in events} == {"acme"} and events[2]["resource"]["id"] == "acme/day"


def test_a_budget_set_during_the_day_counts_what_the_tenant_already_spent(telemetry: Telemetry) -> None:
    """Spend is counted budget or not: a tenant that spent 3 USD cannot spend 2 more under a new 2 USD budget."""
    from glassbox.guard import core

    core.account(None, "acme", 3.0, None, 0)  # a priced call while no budget exists anywhere
    budgets.install(Budgets({"acme": {"day": 2.0}}))
    token = in_tenant("acme")
    try:
        refusal = core.check()
    finally:
        otel_context.detach(token)
    assert refusal is not None and refusal.reason == "budget_day", refusal
    assert "3 of 2 USD" in refusal.detail
