"""`glassbox budgets`, `glassbox kill-switch` and `glassbox state`, on the files state and on PostgreSQL: what
they change, what they print, what they audit, and the mistakes they refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from glassbox import state as state_module
from glassbox.audit import events as audit_events
from glassbox.audit import store as audit_store
from glassbox.audit.chain import AuditLog
from glassbox.cli.guard import NOBODY_WATCHING, budgets_main, kill_switch_main
from glassbox.cli.state import main as state_main
from glassbox.db.schema import LATEST
from glassbox.guard import budgets, core, spend_writer
from glassbox.state.postgres import PostgresState


@pytest.fixture(params=["files", "postgresql"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    if request.param == "postgresql":  # as on an app host: the apps' role, a member of glassbox_writer
        monkeypatch.setenv("GLASSBOX_STATE_URL", request.getfixturevalue("pg_writer_url"))
        monkeypatch.setenv("GLASSBOX_STATE_ADMIN_URL", request.getfixturevalue("pg_url"))
    return str(request.param)


@pytest.fixture
def log(backend: str, tmp_path: Path) -> Any:
    """Where the commands' audit events go: the host's file, or the fleet's table (the state chains a control
    change's success event itself, in the change's transaction)."""
    if backend == "postgresql":
        audit_events.use_log(None)
        yield None
    else:  # the apps' log, where the settings put it (the commands write their events there, not beside them)
        audit_log = audit_store.file_log()
        audit_log.key()  # as the first app would have made it: a command never does
        audit_events.use_log(audit_log)
        yield audit_log
    audit_events.use_log(None)


def records(log: AuditLog | None) -> list[dict[str, Any]]:
    if log is None:
        import os

        import psycopg

        with psycopg.connect(os.environ["GLASSBOX_STATE_URL"]) as connection:
            rows = connection.execute("SELECT record FROM glassbox.audit_log ORDER BY seq").fetchall()
        return [json.loads(record) for (record,) in rows]
    return [json.loads(line) for line in log.path.read_text().splitlines()] if log.path.exists() else []


def test_budgets_set_list_and_remove_change_every_process_s_budgets_audited(
    backend: str, log: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "budgets.yaml"
    file.write_text("tenants:\n  acme: {day: 1.0, month: 10.0}\n  globex: {day: 3.0}\n")
    monkeypatch.setenv("GLASSBOX_BUDGETS_FILE", str(file))
    assert budgets_main(["set", "acme", "--day", "5"]) == 0
    assert budgets_main(["set", "acme", "--month", "50"]) == 0  # the day it had is kept
    assert "acme: {'day': 5.0} -> {'day': 5.0, 'month': 50.0}" in capsys.readouterr().out
    budgets.reset()
    assert budgets.limits_for("acme") == {"day": 5.0, "month": 50.0}  # the state's entry wins over the file's
    assert budgets.limits_for("globex") == {"day": 3.0}
    assert budgets_main(["list"]) == 0
    listing = capsys.readouterr().out
    assert "acme" in listing and "state" in listing and "globex" in listing and "file" in listing
    assert f"state: {backend}" in listing
    assert budgets_main(["remove", "acme"]) == 0
    capsys.readouterr()
    state_module.get().budgets()  # the files state re-reads at most every second
    changes = [r for r in records(log) if r["action"] == "budget.change"]
    assert [(r["outcome"]["status"], r["before"], r["after"]) for r in changes] == [
        ("attempt", None, {"day": 5.0}),
        ("success", None, {"day": 5.0}),
        ("attempt", None, {"day": 5.0, "month": 50.0}),
        ("success", {"day": 5.0}, {"day": 5.0, "month": 50.0}),
        ("attempt", None, None),
        ("success", {"day": 5.0, "month": 50.0}, None),
    ]
    assert changes[0]["actor"]["type"] == "human" and changes[0]["resource"] == {"type": "budget", "id": "acme"}


def test_budgets_list_shows_what_a_tenant_spent_before_its_budget_existed(
    backend: str, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    core.account(None, "acme", 0.75, None, 0)  # a priced call while no budget exists anywhere
    spend_writer.flush()  # the app writes it within a second; the command reads the state
    assert budgets_main(["set", "acme", "--day", "5"]) == 0
    capsys.readouterr()
    assert budgets_main(["list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("acme "))
    assert row.split()[-2:] == ["0.750000", "0.750000"]  # spent today, this month: was 0


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["set", "acme corp", "--day", "1"], "not a valid tenant id"),
        (["set", "acme", "--day", "-1"], "finite amount of USD >= 0"),
        (["set", "acme", "--day", "five"], "not an amount of USD"),
        (["set", "acme"], "give --day, --month or both"),
    ],
)
def test_budgets_set_refuses_what_is_not_a_budget(
    argv: list[str], problem: str, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        budgets_main(argv)
    assert exited.value.code == 2 and problem in capsys.readouterr().err
    assert records(log) == []


def test_the_kill_switch_command_for_one_tenant_and_for_all(
    backend: str, log: AuditLog, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kill_switch_main(["status"]) == 0
    assert "off for every tenant" in capsys.readouterr().out
    # no process watches the state: the switch is turned on all the same, and the command says so and exits 3
    assert kill_switch_main(["on", "--tenant", "acme", "--reason", "abuse"]) == NOBODY_WATCHING
    assert "no process is watching" in capsys.readouterr().err
    state = state_module.get()
    assert state.kill_switch("acme")[0] is not None and state.kill_switch("globex")[0] is None
    app = state_module.open_state(watching=True)  # an app's guard, watching the same state
    try:
        app.wait_until_current(5.0) if isinstance(app, PostgresState) else None
        assert kill_switch_main(["on", "--reason", "incident"]) == 0
        assert kill_switch_main(["status"]) == 0
        out = capsys.readouterr().out
        assert "ON for tenant acme" in out and "ON for every tenant" in out and "incident" in out
        assert "1 process watching it" in out and state.location in out
    finally:
        app.close()
    assert kill_switch_main(["off"]) == 0 and kill_switch_main(["off", "--tenant", "acme"]) == 0
    assert state_module.get().kill_switch("acme")[0] is None  # the state each command opened
    switched = [(r["action"], r["outcome"]["status"], r["resource"]["id"]) for r in records(log)]
    assert switched[:2] == [("kill_switch.on", "attempt", "acme"), ("kill_switch.on", "success", "acme")]
    assert len(switched) == 8 and switched[-1] == ("kill_switch.off", "success", "acme")


def test_state_status_and_migrate_say_what_the_state_is(
    backend: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "files":
        monkeypatch.delenv("GLASSBOX_STATE_ADMIN_URL", raising=False)
    assert state_main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"state: {backend}" in out and "answers: yes" in out
    code = state_main(["migrate"])
    out, err = capsys.readouterr()
    if backend == "files":
        assert code == 2 and "give --admin-url or set GLASSBOX_STATE_ADMIN_URL" in err
    else:
        assert code == 0 and f"schema already at version {LATEST}" in out and "glassbox_writer" in out
        assert "reads of the audit table: recorded by pgaudit" in out


def test_state_role_makes_a_login_role_of_one_group_with_the_password_from_the_environment(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uuid

    import psycopg

    from glassbox.db import check_role

    name = f"app_{uuid.uuid4().hex[:8]}"
    monkeypatch.delenv("GLASSBOX_STATE_ROLE_PASSWORD", raising=False)
    assert state_main(["role", name, "--writer", "--admin-url", pg_url]) == 2  # never a password on the command line
    assert "set GLASSBOX_STATE_ROLE_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("GLASSBOX_STATE_ROLE_PASSWORD", "a password with spaces & @")
    monkeypatch.setenv("GLASSBOX_STATE_ADMIN_URL", pg_url)
    assert state_main(["role", name, "--writer"]) == 0
    assert f"{name} logs in as a member of glassbox_writer" in capsys.readouterr().out
    host, database = pg_url.rsplit("@", 1)[1].rsplit("/", 1)
    with psycopg.connect(f"postgresql://{name}@{host}/{database}", password="a password with spaces & @") as app:
        assert not check_role(app).privileged
        assert app.execute("SELECT pg_has_role('glassbox_writer', 'MEMBER')").fetchone() == (True,)
    assert state_main(["role", name, "--reader", "--admin-url", "postgresql://nobody:x@127.0.0.1:1/none"]) == 1
    assert "x@" not in capsys.readouterr().err
