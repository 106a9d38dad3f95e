"""The fleet's PostgreSQL state against its own app: each test is a move of someone holding an app's database role
(a login role in glassbox_writer), or of a reader, and shows that PostgreSQL refuses it or records it.

The threat model is docs/security.md: the app's role is what an attacker gets by taking one replica; the schema's
owner is the operator's and is trusted to keep the database running, not to leave no trace (pgaudit records it).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from glassbox import state as state_module
from glassbox.audit.chain import canonical, record_hash
from glassbox.audit.events import build_event
from glassbox.audit.postgres import PostgresAuditLog
from glassbox.db import Database, Marks, arguments, check_role
from glassbox.state import TOTAL_BUDGET, BudgetExceeded
from glassbox.state.postgres import PostgresState
from tests.conftest import Postgres

DAY = "2026-12-07"


@contextmanager
def app_state(url: str) -> Iterator[PostgresState]:
    state = PostgresState(Database(url, 5.0, on_failure=state_module.count_failure))
    assert state.wait_until_current(10), state.connect_error
    try:
        yield state
    finally:
        state.close()


def refused(url: str, statement: str, params: tuple[Any, ...] = ()) -> str:
    """Run ``statement`` as the role of ``url``; the error PostgreSQL refused it with (the test fails if it ran)."""
    with psycopg.connect(url, autocommit=True) as connection:
        try:
            connection.execute(statement.encode() if not params else statement, params or None)  # type: ignore[call-overload]
        except psycopg.Error as error:
            return " ".join(str(error).split())
    raise AssertionError(f"PostgreSQL ran: {statement}")


def chained(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as connection:
        return [json.loads(r[0]) for r in connection.execute("SELECT record FROM glassbox.audit_log ORDER BY seq")]


def an_event(**fields: Any) -> dict[str, Any]:
    return {"schema": 1, "id": uuid.uuid4().hex, "time": "2026-12-07T10:00:00.000+00:00", **fields}


def test_the_app_role_cannot_write_any_table_disable_a_trigger_or_read_around_the_functions(
    pg_url: str, pg_writer_url: str
) -> None:
    """Every direct write an app's role could try on the tables, and the owner's escape hatch, are refused."""
    forged = an_event(action="refund.issue", actor={"type": "human", "id": "mallory"})
    forged.update(seq=1, prev="0" * 64)
    forged["hash"] = record_hash(forged)
    attacks = {
        "DELETE FROM glassbox.kill_switch": "permission denied for table kill_switch",
        "DELETE FROM glassbox.budgets": "permission denied for table budgets",
        "UPDATE glassbox.spend SET spent_usd = 0": "permission denied for table spend",
        "TRUNCATE glassbox.request_usage": "permission denied for table request_usage",
        "INSERT INTO glassbox.audit_checkpoints VALUES (1, 'x', 0, 'k', 's')": "permission denied",
        "ALTER TABLE glassbox.audit_log DISABLE TRIGGER ALL": "must be owner of table audit_log",
        "SET session_replication_role = replica": "permission denied to set parameter",
        "CREATE FUNCTION glassbox.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'": "permission denied for schema",
    }
    for statement, refusal in attacks.items():
        assert refusal in refused(pg_writer_url, statement), statement
    # A backdated record with a correct hash, and one far in the future: neither goes in.
    insert = (
        "INSERT INTO glassbox.audit_log (seq, event_id, time, action, record, hash) "
        "VALUES (%s, %s, '2026-01-01', 'refund.issue', %s, %s)"
    )
    for seq in (1, 1_000_000):
        record = {**forged, "seq": seq}
        assert "permission denied for table audit_log" in refused(
            pg_writer_url, insert, (seq, forged["id"], canonical(record).decode(), record_hash(record))
        )
    assert chained(pg_url) == []
    with psycopg.connect(pg_writer_url) as connection:
        check = check_role(connection)
    assert not check.privileged and check.owns == []


def test_even_the_owner_cannot_insert_a_record_out_of_turn(pg_url: str) -> None:
    """The continuity trigger stands behind every writer: the next record is the head's successor, nothing else."""
    for seq in (0, 2, 1_000_000):
        assert "the next sequence number is 1" in refused(
            pg_url,
            "INSERT INTO glassbox.audit_log (seq, event_id, time, action, record, hash) "
            "VALUES (%s, %s, now(), 'x', '{}', 'h')",
            (seq, uuid.uuid4().hex),
        )


def test_a_control_change_happens_only_with_its_audit_event_and_its_success_only_with_the_change(
    pg_url: str, pg_writer_url: str, tmp_path: Path
) -> None:
    kill = build_event("kill_switch.on", resource={"type": "kill_switch", "id": "*"}, reason="incident")
    with app_state(pg_writer_url) as state:
        # A success record with no change behind it, appended as any other event: refused.
        log = PostgresAuditLog(Database(pg_writer_url, 5.0), tmp_path / "key")
        with pytest.raises(OSError, match=r"kill_switch\.off success is written by the change itself"):
            log.append(build_event("kill_switch.off", resource={"type": "kill_switch", "id": "*"}))
        # The change with an event about something else: refused, and the switch stays off.
        other = build_event("kill_switch.on", resource={"type": "kill_switch", "id": "acme"})
        with pytest.raises(state_module.StateUnavailable, match="does not describe the change"):
            state.set_kill_switch(True, None, "incident", "ops", other)
        assert state.kill_switches() == []
        # The change with its event: both, in one transaction.
        state.set_kill_switch(True, None, "incident", "ops", kill)
        assert [s.tenant for s in state.kill_switches()] == [None]
        # A budget change whose "before" is not the entry as it is: refused (a stale or forged before).
        lie = build_event("budget.change", resource={"type": "budget", "id": "acme"}, before={"day": 99.0},
                          after={"day": 1000.0})  # fmt: skip
        with pytest.raises(state_module.ChangeConflict):
            state.set_budget("acme", {"day": 1000.0}, lie)
        assert state.read_budgets() == {}
    records = chained(pg_url)
    assert [(r["action"], r["outcome"]["status"]) for r in records] == [("kill_switch.on", "success")]
    assert records[0]["id"] == kill["id"] and kill["seq"] == records[0]["seq"] == 1


def test_a_reader_may_record_its_reading_and_nothing_else(postgres: Postgres, pg_url: str, tmp_path: Path) -> None:
    reader = postgres.login(pg_url, "glassbox_reader")
    log = PostgresAuditLog(Database(reader, 5.0), tmp_path / "key")
    verified = log.append(an_event(action="audit.verify", actor={"type": "human", "id": "auditor"}))
    assert verified["seq"] == 1
    for action in ("refund.issue", "kill_switch.on"):
        with pytest.raises(OSError, match="permission denied for function audit_append"):
            log.append(an_event(action=action))
    marks = Marks.new()
    sneaked = an_event(action="refund.issue")
    columns = [[value] for value in arguments(sneaked, marks)[3:]]
    message = refused(
        reader,
        "SELECT * FROM glassbox.audit_append_reads(%s, %s, %s, " + ", ".join(["%s::text[]"] * 9) + ")",
        (marks.seq, marks.prev, marks.hash, *columns),
    )
    assert "action refund.issue is not allowed here" in message
    assert [r["action"] for r in chained(pg_url)] == ["audit.verify"]


def test_reads_of_the_audit_table_and_the_owner_disabling_a_trigger_are_recorded_by_postgresql(
    postgres: Postgres, pg_url: str
) -> None:
    """pgaudit: what psql or any client reads from the trail, and the owner's DDL, land in the server's log."""
    reader = postgres.login(pg_url, "glassbox_reader")
    marker = uuid.uuid4().hex
    with psycopg.connect(reader) as connection:
        connection.execute(f"SELECT count(*) FROM glassbox.audit_log WHERE event_id <> '{marker}'").fetchone()
    with psycopg.connect(pg_url, autocommit=True) as owner:
        owner.execute(f"ALTER TABLE glassbox.audit_log DISABLE TRIGGER audit_log_append_only /* {marker} */")
        owner.execute("ALTER TABLE glassbox.audit_log ENABLE TRIGGER audit_log_append_only")
    deadline = time.monotonic() + 10
    while True:
        lines = [line for line in postgres.log().splitlines() if marker in line and "AUDIT:" in line]
        if len(lines) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert any("OBJECT" in line and "READ,SELECT,TABLE,glassbox.audit_log" in line for line in lines), lines
    assert any("SESSION" in line and "DDL,ALTER TABLE" in line and "DISABLE TRIGGER" in line for line in lines), lines


def test_spend_cannot_be_taken_back_and_a_tenant_cannot_book_onto_the_total(pg_writer_url: str) -> None:
    settle = "SELECT * FROM glassbox.spend_settle(NULL, %s, %s, '2026-12-07', '2026-12-01', '2027-01-01', false, %s)"
    assert "is not an amount of USD" in refused(pg_writer_url, settle, (-5.0, "acme", TOTAL_BUDGET))
    assert "is not an amount of USD" in refused(pg_writer_url, settle, (float("nan"), "acme", TOTAL_BUDGET))
    assert "is not a tenant" in refused(pg_writer_url, settle, (1.0, TOTAL_BUDGET, TOTAL_BUDGET))
    spend = "SELECT glassbox.request_add_spend('r', %s, %s)"
    assert "is not an amount of USD" in refused(pg_writer_url, spend, (-1.0, 0))
    assert "is not a number of tokens" in refused(pg_writer_url, spend, (0.0, -10))


def test_rotating_tenant_ids_stops_at_the_total_budget_on_every_host(pg_writer_url: str) -> None:
    """Each new tenant id gets a fresh "*" budget of 1 USD; the total of 3 USD caps them all, across two hosts."""
    per_tenant, total = {"day": 1.0}, {"day": 3.0}
    taken, refusals = 0, []
    with app_state(pg_writer_url) as host_a, app_state(pg_writer_url) as host_b:
        for n in range(40):
            state = host_a if n % 2 else host_b
            try:
                reservation = state.reserve(f"rotating-{n}", per_tenant, 0.25, DAY, total)
            except BudgetExceeded as over:
                refusals.append(over)
                continue
            change = state.settle(reservation, 0.25)
            assert change.total is not None
            taken += 1
        assert taken == 12 and len(refusals) == 28
        assert all(over.total and over.period == "day" for over in refusals)
        assert host_a.spend_by_tenant(DAY)[TOTAL_BUDGET]["day"] == pytest.approx(3.0)


def test_doctor_fails_an_app_that_connects_as_the_owner_or_a_superuser(postgres: Postgres, pg_url: str) -> None:
    """The careless operator's move: every replica gets the admin URL. `glassbox doctor` says so and fails."""
    from glassbox.cli.doctor import FAIL, PASS, state_check

    superuser = state_check({"GLASSBOX_STATE_URL": pg_url})
    assert superuser is not None and superuser.result == FAIL and "is a superuser" in superuser.detail
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute("CREATE ROLE owner_role NOLOGIN")
        connection.execute("ALTER TABLE glassbox.budgets OWNER TO owner_role")
    member = postgres.login(pg_url, "glassbox_writer")
    with psycopg.connect(pg_url, autocommit=True) as connection:
        connection.execute(f"GRANT owner_role TO {member.split('://', 1)[1].split(':', 1)[0]}")
    owner = state_check({"GLASSBOX_STATE_URL": member})
    assert owner is not None and owner.result == FAIL and "owns budgets" in owner.detail, owner.detail
    writer = state_check({"GLASSBOX_STATE_URL": postgres.login(pg_url, "glassbox_writer")})
    assert writer is not None and writer.result == PASS, writer.detail
    unmigrated = state_check({"GLASSBOX_STATE_URL": postgres.database(migrated=False)})
    assert unmigrated is not None and unmigrated.result == FAIL and "glassbox state migrate" in unmigrated.detail
    assert state_check({}) is None
    assert password_of(pg_url) not in superuser.detail


def password_of(url: str) -> str:
    return url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]


@pytest.mark.parametrize("password", ["pass word", "p@ss@word", "p/ss?#&word", "p%20ss"])
def test_a_state_url_password_never_shows_whatever_its_characters(
    postgres: Postgres, pg_url: str, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A password with a space or a raw "@" slipped past the pattern that masked URLs: found by parsing now."""
    from glassbox.db import Database, StateConfigError, redact_url

    raw = f"postgresql://glassbox:{password}@127.0.0.1:{postgres.cluster.port}/no_such_database"
    for url in (raw, raw.replace("postgresql://", "postgres://"), f"{raw}?sslmode=bogus"):
        try:
            database = Database(url, 0.5)
        except StateConfigError as error:
            assert password not in str(error), str(error)
            continue
        state = PostgresState(database, on_change=None)
        try:
            state.wait_until_current(5)
            assert password not in state.connect_error and password not in database.safe_url
        finally:
            state.close()
    assert password not in redact_url(f"could not connect to {raw}: refused")
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert password not in logged


def test_an_app_s_own_control_success_event_is_refused_with_its_reason_not_spooled_forever(
    pg_writer_url: str, monkeypatch: pytest.MonkeyPatch, telemetry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """glassbox.audit("kill_switch.off", outcome="success") with the fleet's state: the database would refuse it
    (only the change writes it), so it is refused at once, counted and named, and the spool stays empty."""
    from glassbox import audit
    from glassbox import conventions as c
    from glassbox.audit import events as audit_events

    monkeypatch.setenv("GLASSBOX_STATE_URL", pg_writer_url)
    audit_events.use_log(None)
    dropped = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="refused_by_log")
    audit("kill_switch.off", outcome="success", resource={"type": "kill_switch", "id": "*"})
    audit("refund.issue", resource={"type": "order", "id": "o-1"})  # an ordinary event still goes in
    assert telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="refused_by_log") == dropped + 1
    assert any("recorded by the change itself" in r.getMessage() for r in caplog.records)
    assert [r["action"] for r in chained(pg_writer_url)] == ["refund.issue"]
    state = audit_events._get()
    assert state.spool is not None and state.spool.pending() == 0


def test_the_schema_and_the_package_name_the_same_control_actions_and_notifications() -> None:
    from glassbox import conventions as c
    from glassbox.db.schema import CHANGED_BUDGETS, CHANGED_KILL_SWITCH, CHANNEL, MIGRATIONS

    sql = dict(MIGRATIONS)[2]
    listed = "(" + ", ".join(f"'{action}'" for action in c.CONTROL_CHANGE_ACTIONS) + ")"
    assert f"actions[i] IN {listed}" in sql
    # the control functions notify on the channel, with the payloads, the listener waits for
    for changed in (CHANGED_KILL_SWITCH, CHANGED_BUDGETS):
        assert f"pg_notify('{CHANNEL}', '{changed}')" in sql
