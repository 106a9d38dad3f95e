"""The fail-open spool: events the log could not take wait on disk, survive their process, and reach the chain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg
import pytest

import glassbox
from glassbox import conventions as c
from glassbox.audit import events as audit_events
from glassbox.audit.chain import AuditLog
from glassbox.audit.spool import Spool, waiting
from tests.conftest import Postgres, Telemetry
from tests.glassbox.audit.test_audit import broken_log, new_log
from tests.glassbox.audit.test_audit_chain import check


def records(log: AuditLog) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.path.read_text().splitlines()]


def no_unreadable(_lines: int) -> None:
    raise AssertionError("no spool line should be unreadable here")


def test_spooled_events_wait_on_disk_and_reach_the_chain_first(
    telemetry: Telemetry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-open")
    spool_dir = tmp_path / "spool"
    audit_events.use_log(broken_log(tmp_path), spool_dir)
    failures = telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES)
    first = glassbox.audit("login", actor="user-1", outcome="failure", reason="bad password")
    second = glassbox.audit("login", actor="user-1")
    assert "seq" not in first and "seq" not in second  # not in the chain yet
    assert telemetry.total(c.METRIC_AUDIT_WRITE_FAILURES) == failures + 2
    assert telemetry.total(c.METRIC_AUDIT_SPOOLED) == 2
    (spool_file,) = spool_dir.glob("spool-*.jsonl")
    assert [json.loads(line)["id"] for line in spool_file.read_text().splitlines()] == [first["id"], second["id"]]
    assert waiting(spool_dir) == 2

    good = new_log(tmp_path / "good")
    audit_events.use_log(good, spool_dir)  # the log is back (a new one here): the old spool file is swept
    third = glassbox.audit("logout", actor="user-1")
    assert third["seq"] == 3
    assert [r["id"] for r in records(good)] == [first["id"], second["id"], third["id"]]
    assert check(good).ok and waiting(spool_dir) == 0 and not list(spool_dir.glob("spool-*.jsonl"))
    assert telemetry.total(c.METRIC_AUDIT_SPOOLED) == 0


def test_a_process_that_dies_with_spooled_events_leaves_them_to_the_next_process(tmp_path: Path) -> None:
    """The events of a process killed (SIGKILL) while its log was unwritable reach the chain in a new process."""
    spool_dir, blocker = tmp_path / "spool", tmp_path / "not-a-directory"
    blocker.write_text("")
    environ = {
        **os.environ,
        "GLASSBOX_AUDIT_MODE": "fail-open",
        "GLASSBOX_AUDIT_DIR": str(blocker / "audit"),
        "GLASSBOX_AUDIT_SPOOL_DIR": str(spool_dir),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(tmp_path / "cp"),
        "GLASSBOX_AUDIT_KEY_FILE": str(tmp_path / "key"),
    }
    script = textwrap.dedent("""
        import sys, glassbox
        for n in range(3):
            event = glassbox.audit("refund.issue", actor="agent-1", resource={"type": "order", "id": str(n)})
            assert "seq" not in event  # the log is unwritable: spooled
            print(event["id"], flush=True)
        sys.stdin.readline()
    """)
    writer = subprocess.Popen([sys.executable, "-c", script], env=environ, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert writer.stdout is not None
        ids = [writer.stdout.readline().strip() for _ in range(3)]
        # While the writer lives, its spool is its own: another process's sweep leaves it alone.
        log = new_log(tmp_path / "good")
        assert Spool(spool_dir, no_unreadable).drain(log.append) == 0
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=10)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=10)
    blocker.unlink()
    subprocess.run([sys.executable, "-c", "import glassbox; glassbox.audit('service.start')"], env=environ,
                   check=True, timeout=60)  # fmt: skip
    restarted = AuditLog(blocker / "audit" / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    assert [r["id"] for r in records(restarted)][:3] == ids
    assert [r["action"] for r in records(restarted)] == ["refund.issue"] * 3 + ["service.start"]
    assert check(restarted).ok and waiting(spool_dir) == 0


def test_a_swept_file_with_a_torn_line_moves_the_whole_ones_and_counts_the_rest(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    good = [{"action": "a", "id": "1"}, {"action": "b", "id": "2"}]
    lines = "".join(json.dumps(e) + "\n" for e in good) + '{"action": "c", "i'
    (spool_dir / "spool-1-dead.jsonl").write_text(lines)
    unreadable: list[int] = []
    log = new_log(tmp_path)
    assert Spool(spool_dir, unreadable.append).drain(log.append) == 2
    assert [r["action"] for r in records(log)] == ["a", "b"] and unreadable == [1]
    assert not (spool_dir / "spool-1-dead.jsonl").exists()


def test_a_sweep_that_fails_half_way_keeps_what_it_did_not_move(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    (spool_dir / "spool-1-dead.jsonl").write_text("".join(json.dumps({"id": str(n)}) + "\n" for n in range(4)))
    log, taken = new_log(tmp_path), []

    def append_two_then_fail(event: Any) -> None:
        if len(taken) == 2:
            raise OSError("disk full")
        taken.append(log.append(event))

    with pytest.raises(OSError, match="disk full"):
        Spool(spool_dir, no_unreadable).drain(append_two_then_fail)
    assert waiting(spool_dir) == 2
    assert Spool(spool_dir, no_unreadable).drain(log.append) == 2
    assert [r["id"] for r in records(log)] == ["0", "1", "2", "3"] and check(log).ok


def test_a_forked_child_spools_in_a_file_of_its_own(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    parent = Spool(spool_dir, no_unreadable)
    assert parent.put({"id": "parent-1"}) == "disk"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: the child only writes a file
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 3
        try:
            audit_events._after_fork_in_child()  # what os.register_at_fork runs; here on a spool of the test's
            parent.after_fork()
            status = parent.pending()  # the parent's waiting event is not the child's to move
            parent.put({"id": "child-1"})
        finally:
            os._exit(status)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert parent.pending() == 1
    log = new_log(tmp_path)
    parent.drain(log.append)  # its own event, then the ended child's file (the first sweep)
    assert [r["id"] for r in records(log)] == ["parent-1", "child-1"]
    assert waiting(spool_dir) == 0


def test_fail_open_with_no_room_on_disk_waits_in_memory_then_drops_and_counts(
    telemetry: Telemetry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GLASSBOX_AUDIT_MODE", "fail-open")
    (tmp_path / "spool-is-a-file").write_text("")
    audit_events.use_log(broken_log(tmp_path), tmp_path / "spool-is-a-file")
    spool = audit_events._get().spool
    assert spool is not None
    spool.memory_limit = 2
    dropped = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="spool_full")
    kept = [glassbox.audit("login", actor=f"user-{n}") for n in range(3)]
    assert spool.pending() == 2 and [e["id"] for e in spool.memory] == [kept[0]["id"], kept[1]["id"]]
    assert telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="spool_full") == dropped + 1


def test_verify_says_how_many_events_still_wait_in_the_spool(tmp_path: Path) -> None:
    log = new_log(tmp_path)
    log.append({"action": "x"})
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, no_unreadable)
    spool.put({"action": "waiting"})
    spool.close()
    paths = ["--log", log.path, "--checkpoints", log.checkpoints, "--public-key", f"{log.key_path}.pub"]
    command = [sys.executable, "-m", "glassbox.cli", "audit", "verify", *map(str, paths), "--spool-dir", str(spool_dir)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"WAIT  1 events in the fail-open spool {spool_dir}" in result.stdout


def test_a_drain_takes_the_lock_for_one_append_at_a_time(tmp_path: Path) -> None:
    """Draining never holds its caller's lock across the whole spool: one append (one batch) per hold, and each
    batch's records are handed on after the hold is let go."""
    spool_dir = tmp_path / "spool"
    spool = Spool(spool_dir, no_unreadable)
    for n in range(4):
        assert spool.put({"id": f"own-{n}"}) == "disk"
    log, holding, moved = new_log(tmp_path), [], []

    class Hold:
        def __enter__(self) -> None:
            holding.append(True)

        def __exit__(self, *exc: Any) -> None:
            holding.remove(True)

    def handed_on(records: list[Any]) -> None:
        assert not holding  # told after the hold is let go
        moved.extend(records)

    def append(event: Any) -> Any:
        assert holding == [True]  # under the hold, exactly once
        return log.append(event)

    assert spool.drain(append, hold=Hold, on_moved=handed_on) == 4
    assert [r["seq"] for r in moved] == [1, 2, 3, 4] and spool.pending() == 0


APP = """
import sys, glassbox
for line in sys.stdin:
    count = int(line)
    if not count:
        break
    for _ in range(count):
        event = glassbox.audit("refund.issue", actor="agent-1")
        print(event["id"], "seq" in event, flush=True)
"""


def test_fleet_mode_a_spool_drains_by_itself_once_the_database_is_back(
    postgres: Postgres, pg_url: str, tmp_path: Path
) -> None:
    """Events spooled while PostgreSQL was down enter the chain within seconds of its return, though the
    process audits nothing more: a host lost after that loses none of them."""
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))},
        "OTEL_SDK_DISABLED": "true",
        "GLASSBOX_STATE_URL": pg_url,
        "GLASSBOX_STATE_TIMEOUT": "0.5",
        "GLASSBOX_AUDIT_MODE": "fail-open",
        "GLASSBOX_AUDIT_SPOOL_DIR": str(tmp_path / "spool"),
        "GLASSBOX_AUDIT_KEY_FILE": str(tmp_path / "keys" / "audit.key"),
    }
    app = subprocess.Popen([sys.executable, "-c", APP], env=environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           text=True, cwd=tmp_path)  # fmt: skip
    assert app.stdin is not None and app.stdout is not None

    def write(count: int) -> list[tuple[str, bool]]:
        assert app.stdin is not None and app.stdout is not None
        app.stdin.write(f"{count}\n")
        app.stdin.flush()
        return [(line.split()[0], line.split()[1] == "True") for line in (app.stdout.readline() for _ in range(count))]

    def chained() -> set[str]:
        with psycopg.connect(pg_url) as connection:
            return {row[0] for row in connection.execute("SELECT event_id FROM glassbox.audit_log")}

    try:
        assert [chained_now for _, chained_now in write(1)] == [True]
        postgres.cluster.stop(postgres.process)
        try:
            spooled = write(3)
            assert [chained_now for _, chained_now in spooled] == [False, False, False]
            assert waiting(tmp_path / "spool") == 3
        finally:
            postgres.process = postgres.cluster.start()
            postgres.cluster.wait_ready(postgres.process)
        deadline = time.monotonic() + 60
        while not {event_id for event_id, _ in spooled} <= chained() and time.monotonic() < deadline:
            time.sleep(0.5)  # the app writes nothing meanwhile
        assert {event_id for event_id, _ in spooled} <= chained()
        assert waiting(tmp_path / "spool") == 0
        app.stdin.write("0\n")
        app.stdin.close()
        assert app.wait(timeout=30) == 0
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(timeout=10)
