"""The PostgreSQL state on a real server: schema migrations, atomic reservations, the kill switch by LISTEN/NOTIFY,
per-request limits across processes, budgets kept in the database, and bad URLs. Each test has a fresh database;
the processes connect as an app does, with a login role in glassbox_writer (tests/security/test_fleet_state.py
plays that role against the schema)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from opentelemetry import context as otel_context

from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.audit.chain import load_public_key, public_key_path
from glassbox.audit.events import build_event
from glassbox.db import Database, SchemaTooNew, StateConfigError, migrate, redact_url
from glassbox.db.schema import LATEST
from glassbox.state import BudgetExceeded, RequestLimits, StateUnavailable
from glassbox.state.postgres import PostgresState
from tests.conftest import Postgres, Telemetry

DAY = "2026-11-30"


@contextmanager
def fleet_state(url: str, timeout: float = 2.0) -> Iterator[PostgresState]:
    """One process's view of the shared state (several of them stand for several hosts)."""
    state = PostgresState(Database(url, timeout, on_failure=state_module.count_failure))
    assert state.wait_until_current(10), state.connect_error
    try:
        yield state
    finally:
        state.close()


def turn(state: PostgresState, on: bool, tenant: str | None, reason: str | None, actor: str) -> None:
    """Turn a kill switch on or off as glassbox.guard does: with its success audit event, in one transaction."""
    action = "kill_switch.on" if on else "kill_switch.off"
    resource = {"type": "kill_switch", "id": tenant or "*"}
    state.set_kill_switch(on, tenant, reason, actor, build_event(action, actor=actor, resource=resource, tenant=tenant))


def budget(state: PostgresState, tenant: str, limits: dict[str, float] | None) -> dict[str, float] | None:
    """Change a budget as `glassbox budgets` does: the entry read just before, the change's audit event with it."""
    before = state.read_budgets().get(tenant)
    event = build_event("budget.change", resource={"type": "budget", "id": tenant}, before=before, after=limits)
    return state.set_budget(tenant, limits, event)


def test_the_schema_is_created_once_and_a_newer_one_is_refused(postgres: Postgres) -> None:
    with psycopg.connect(postgres.database(migrated=False), autocommit=True) as connection:
        assert migrate(connection, roles=True) == (0, LATEST)
        assert migrate(connection) == (LATEST, LATEST)
        tables = {row[0] for row in connection.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'glassbox'")}
        assert {"spend", "reservations", "budgets", "kill_switch", "request_usage", "audit_log"} <= tables
        roles = {row[0] for row in connection.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'glassbox_%'")}
        groups = {"glassbox_writer", "glassbox_reader", "glassbox_tenant_auditor", "glassbox_pgaudit"}
        assert groups <= roles  # and the login roles other tests made in this cluster
        connection.execute("INSERT INTO glassbox.schema_version (version, glassbox_version) VALUES (99, '9.0')")
        with pytest.raises(SchemaTooNew, match=rf"GLASSBOX_STATE_URL: .*schema is version 99.*up to {LATEST}: upgrade"):
            migrate(connection)


def test_two_hosts_never_both_take_the_last_dollar(pg_writer_url: str) -> None:
    """Sixteen threads on two "hosts" reserve 0.1 USD each against a 1 USD day budget: exactly ten fit."""
    limits = {c.BUDGET_PERIOD_DAY: 1.0}
    with fleet_state(pg_writer_url) as host_a, fleet_state(pg_writer_url) as host_b:
        taken: list[object] = []
        refused: list[BudgetExceeded] = []
        start = threading.Barrier(16)

        def spend(state: PostgresState) -> None:
            start.wait()
            for _ in range(3):
                try:
                    taken.append(state.reserve("acme", limits, 0.1, DAY))
                except BudgetExceeded as over:
                    refused.append(over)

        threads = [threading.Thread(target=spend, args=(host_a if i % 2 else host_b,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(taken) == 10 and len(refused) == 38
        assert refused[0].period == "day" and "has spent its day budget" in str(refused[-1])
        for reservation in taken:  # each call cost a little less than it reserved
            host_a.settle(reservation, 0.08)  # type: ignore[arg-type]
        assert host_b.spent("acme", DAY) == pytest.approx({"day": 0.8, "month": 0.8})
        assert host_b.reserve("acme", limits, 0.2, DAY).usd == 0.2  # what settling gave back fits again
        with pytest.raises(BudgetExceeded, match=r"its day budget.*1 of 1 USD spent or reserved"):
            host_a.reserve("acme", limits, 0.01, DAY)


def test_the_month_adds_up_the_days_and_a_new_month_starts_at_zero(pg_writer_url: str) -> None:
    limits = {c.BUDGET_PERIOD_DAY: 5.0, c.BUDGET_PERIOD_MONTH: 6.0}
    with fleet_state(pg_writer_url) as state:
        state.add_spend("acme", 4.0, "2026-11-29")
        change = state.add_spend("acme", 1.5, DAY)
        assert (change.day_before, change.day_after) == (0.0, 1.5)
        assert (change.month_before, change.month_after) == (4.0, 5.5)
        with pytest.raises(BudgetExceeded) as over:
            state.reserve("acme", limits, 1.0, DAY)
        assert over.value.period == "month" and over.value.used == pytest.approx(5.5)
        reservation = state.reserve("acme", limits, 1.0, "2026-12-01")  # December: nothing spent yet
        state.settle(reservation, 0.0)  # released
        assert state.spend_by_tenant("2026-12-01") == {"acme": {"day": 0.0, "month": 0.0}}
        assert state.spend_by_tenant(DAY)["acme"] == pytest.approx({"day": 1.5, "month": 5.5})


def test_a_threshold_is_marked_once_across_the_fleet(pg_writer_url: str) -> None:
    with fleet_state(pg_writer_url) as host_a, fleet_state(pg_writer_url) as host_b:
        marks = [state.mark_threshold("acme", "day", DAY, 0.8, 1.0) for state in (host_a, host_b, host_a)]
        assert marks == [True, False, False]
        assert host_b.mark_threshold("acme", "day", DAY, 0.8, 2.0)  # a new limit: a new crossing


def test_the_kill_switch_reaches_every_process_at_once_and_a_late_one_reads_it_first(pg_writer_url: str) -> None:
    with fleet_state(pg_writer_url) as host_a, fleet_state(pg_writer_url) as host_b:
        assert host_b.kill_switch("acme") == (None, True)
        turn(host_a, True, None, "provider incident", "ops-1")
        started = time.monotonic()
        while host_b.kill_switch("acme")[0] is None:
            assert time.monotonic() - started < 1.0, "host b did not obey within 1 s"
            time.sleep(0.005)
        switch, current = host_b.kill_switch("globex")
        assert current and switch is not None and (switch.reason, switch.actor) == ("provider incident", "ops-1")
        with fleet_state(pg_writer_url) as late:
            assert late.kill_switch("initech")[0] is not None  # read before it answers anything
        turn(host_b, False, None, None, "ops-1")
        turn(host_a, True, "acme", "abuse", "ops-2")
        deadline = time.monotonic() + 1.0
        while host_b.kill_switch("acme")[0] is None and time.monotonic() < deadline:
            time.sleep(0.005)
        assert host_b.kill_switch("acme")[0] is not None and host_b.kill_switch("globex")[0] is None
        assert [s.tenant for s in host_a.kill_switches()] == ["acme"]


def test_a_request_id_is_limited_across_hosts(pg_writer_url: str) -> None:
    limits = RequestLimits(calls=3, usd=0.5)
    now = time.time()
    with fleet_state(pg_writer_url) as host_a, fleet_state(pg_writer_url) as host_b:
        assert host_a.count_request_call("req-1", limits, now, now) is None
        assert host_b.count_request_call("req-1", limits, now, now) is None
        assert host_a.count_request_call("req-1", limits, now, now) is None
        assert host_b.count_request_call("req-1", limits, now, now) == (
            "request_calls",
            "request req-1 made its 3 model calls",
        )
        assert host_b.count_request_call("req-2", limits, now, now) is None
        host_a.add_request_spend("req-2", 0.6, 100)
        refusal = host_b.count_request_call("req-2", limits, now, now)
        assert refusal is not None and refusal[0] == "request_usd"
        slow = RequestLimits(seconds=5)
        assert host_a.count_request_call("req-3", slow, now - 10, now) == (
            "request_time",
            "request req-3 ran past its 5 s",
        )


def test_budgets_set_in_the_database_reach_every_process(pg_writer_url: str) -> None:
    with fleet_state(pg_writer_url) as host_a, fleet_state(pg_writer_url) as host_b:
        assert budget(host_a, "acme", {"day": 5.0}) is None
        assert budget(host_a, "acme", {"day": 2.0, "month": 40.0}) == {"day": 5.0}
        deadline = time.monotonic() + 1.0
        while host_b.budgets().get("acme") != {"day": 2.0, "month": 40.0}:
            assert time.monotonic() < deadline, host_b.budgets()
            time.sleep(0.005)
        assert budget(host_b, "acme", None) == {"day": 2.0, "month": 40.0}


@pytest.mark.parametrize(
    "url, problem",
    [
        ("mysql://user@host/db", "expected a URL such as postgresql://"),
        ("postgresql://user:secret@[::1/db", "malformed"),
        ("postgresql://user:secret@127.0.0.1/db?colour=blue", "malformed"),
    ],
)
def test_a_malformed_url_is_refused_naming_the_setting_and_hiding_the_password(url: str, problem: str) -> None:
    with pytest.raises(StateConfigError) as raised:
        Database(url, 0.5)
    assert "GLASSBOX_STATE_URL" in str(raised.value) and problem in str(raised.value)
    assert "secret" not in str(raised.value)
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize("fault", ["wrong password", "missing database", "newer schema", "no schema"])
def test_a_state_that_cannot_be_used_is_reported_counted_and_calls_follow_the_failure_mode(
    postgres: Postgres, pg_url: str, fault: str, telemetry: Telemetry, caplog: pytest.LogCaptureFixture
) -> None:
    url = {
        "wrong password": postgres.cluster.url(pg_url.rsplit("/", 1)[1], password="not-the-password"),
        "missing database": postgres.cluster.url("no_such_database"),
        "newer schema": pg_url,
        "no schema": postgres.database(migrated=False),
    }[fault]
    if fault == "newer schema":
        with psycopg.connect(pg_url, autocommit=True) as connection:
            connection.execute("INSERT INTO glassbox.schema_version (version, glassbox_version) VALUES (99, 'x')")
    failures = telemetry.total(c.METRIC_STATE_FAILURES, glassbox__state__operation="connect")
    state = PostgresState(Database(url, 0.5, on_failure=state_module.count_failure))
    try:
        assert not state.wait_until_current(1.5)
        assert state.kill_switch("acme") == (None, False)  # not current: the guard's failure mode decides
        expected = {
            "wrong password": "password authentication failed",
            "missing database": 'database "no_such_database" does not exist',
            "newer schema": "schema is version 99",
            "no schema": "run `glassbox state migrate` with GLASSBOX_STATE_ADMIN_URL",
        }[fault]
        assert expected in state.connect_error
        assert telemetry.total(c.METRIC_STATE_FAILURES, glassbox__state__operation="connect") == failures + 1
        logged = [r.getMessage() for r in caplog.records if r.name == "glassbox"]
        assert any(expected in m and "not-the-password" not in m for m in logged), logged
        with pytest.raises(StateUnavailable):
            state.reserve("acme", {"day": 1.0}, 0.1, DAY)
    finally:
        state.close()


def test_the_central_chain_is_byte_for_byte_the_file_log_s_and_an_event_is_written_once(
    pg_writer_url: str, tmp_path: Path
) -> None:
    """The database chains and hashes the canonical JSON the client templates: a record verifies in Python, any
    text survives unchanged, and an event appended again (a spool's copy of a write that went through) is not."""
    from glassbox.audit.chain import record_hash
    from glassbox.audit.postgres import PostgresAuditLog

    log = PostgresAuditLog(Database(pg_writer_url, 5.0), tmp_path / "key", checkpoint_every=2)
    odd = {"name": 'Zoë ✓ 北京 " \\ \n \u2028 🚀 \x00', "nested": [{"seq": 7, "prev": "x"}, None, 1.5, True]}
    first = log.append({"id": "e1", "action": "note", "time": "2026-11-30T10:00:00+00:00", "after": odd})
    second = log.append({"id": "e2", "action": "note", "time": "2026-11-30T10:00:01+00:00", "tenant": "acme"})
    assert (first["seq"], second["seq"]) == (1, 2) and second["prev"] == first["hash"]
    assert first["after"] == odd and record_hash(first) == first["hash"] and record_hash(second) == second["hash"]
    again = log.append_many([{"id": "e2", "action": "note", "time": "2026-11-30T10:00:01+00:00", "tenant": "acme"}])
    assert again == [second]
    assert [r["id"] for r in log.records()] == ["e1", "e2"]
    result = log.verify([load_public_key(public_key_path(tmp_path / "key"))])
    assert result.ok and (result.records, result.checkpoints) == (2, 2), result.problems  # the first, and #2


@pytest.mark.parametrize("mode", ["fail-open", "fail-closed"])
def test_a_process_that_loses_the_database_follows_the_failure_mode_and_comes_back(
    postgres: Postgres, pg_writer_url: str, mode: str, monkeypatch: pytest.MonkeyPatch, telemetry: Telemetry
) -> None:
    """fail-open keeps the last kill-switch state it saw (here: on for acme); fail-closed refuses every call."""
    from glassbox import attribution
    from glassbox.guard import core as guard

    monkeypatch.setenv("GLASSBOX_STATE_FAILURE", mode)
    guard.reset()

    def refusal(tenant: str) -> str | None:
        token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: tenant}))
        try:
            refused = guard.check(guard.OPENAI_CHAT, {"model": "gpt-4o-mini"})
        finally:
            otel_context.detach(token)
        return None if refused is None else refused.reason

    with fleet_state(pg_writer_url) as state:
        state_module.use(state)
        try:
            turn(state, True, "acme", "abuse", "ops")
            assert (refusal("acme"), refusal("globex")) == ("kill_switch", None)
            postgres.cluster.stop(postgres.process)
            try:
                deadline = time.monotonic() + 10
                while state.kill_switch(None)[1] and time.monotonic() < deadline:
                    time.sleep(0.05)
                assert not state.healthy()
                # the switch it knew still refuses acme; fail-closed refuses globex too, for want of the state
                expected = ("kill_switch", None if mode == "fail-open" else c.REFUSED_STATE_UNAVAILABLE)
                assert (refusal("acme"), refusal("globex")) == expected
            finally:
                postgres.process = postgres.cluster.start()
                postgres.cluster.wait_ready(postgres.process)
            deadline = time.monotonic() + 15
            while not state.kill_switch(None)[1]:
                assert time.monotonic() < deadline, "the process did not reconnect"
                time.sleep(0.05)
            assert (refusal("acme"), refusal("globex")) == ("kill_switch", None)
        finally:
            state_module.use(None)
