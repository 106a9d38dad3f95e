"""The operator's reading commands (`glassbox audit verify | export`, `glassbox story`) run as a new user runs
them: from any directory, pointed at an app's audit files by path. They never start a log or a signing key where
they happen to run, never write into a log the settings do not name, and end quietly when their reader leaves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from glassbox.audit.chain import AuditLog, public_key_path
from tests.conftest import free_port

APP_EVERY = 2  # the app signs every 2 records: a reader's event at the end of its 3 records is due a checkpoint


def app_log(app: Path, every: int = APP_EVERY) -> AuditLog:
    """The app's audit files where the defaults put them when the app runs in ``app``."""
    glassbox_dir = app / ".glassbox"
    return AuditLog(
        glassbox_dir / "audit" / "audit.jsonl",
        glassbox_dir / "audit-checkpoints" / "audit.checkpoints",
        glassbox_dir / "keys" / "audit.key",
        checkpoint_every=every,
    )


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m glassbox.cli ...`` in ``cwd`` with no GLASSBOX_* or OTEL_* setting but ``env``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    environment.update({"OTEL_SDK_DISABLED": "true", **env})
    command = [sys.executable, "-m", "glassbox.cli", *args]
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def everything_under(directory: Path) -> list[str]:
    return sorted(str(path.relative_to(directory)) for path in directory.rglob("*"))


@pytest.fixture
def app(tmp_path: Path) -> AuditLog:
    log = app_log(tmp_path / "app")
    for n in range(3):  # checkpoints at 1 and 2; the record after 3 is due one
        log.append({"action": "config.change", "actor": {"type": "human", "id": "admin-1"}, "after": {"n": n}})
    return log


def pinned(log: AuditLog) -> str:
    """The app's public key as the operator pins it: its PEM file (a fingerprint would need the .pub beside
    GLASSBOX_AUDIT_KEY_FILE, which a command run elsewhere does not have)."""
    return str(public_key_path(log.key_path))


@pytest.mark.parametrize("pointed", ["by path only", "log and checkpoints by settings, key left to its default"])
@pytest.mark.parametrize("command", ["verify", "export", "story"])
def test_a_read_from_another_directory_writes_nothing_there_and_leaves_the_app_s_trail_verifiable(
    app: AuditLog, tmp_path: Path, command: str, pointed: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env: dict[str, str] = {"GLASSBOX_AUDIT_PUBLIC_KEY": pinned(app)}
    if pointed != "by path only":
        env["GLASSBOX_AUDIT_DIR"] = str(app.path.parent)
        env["GLASSBOX_AUDIT_CHECKPOINT_DIR"] = str(app.checkpoints.parent)
    args = {
        "verify": ["audit", "verify", "--log", str(app.path), "--checkpoints", str(app.checkpoints)],
        "export": ["audit", "export", "--log", str(app.path)],
        "story": ["story", "0" * 31 + "1", "--audit-log", str(app.path), "--timeout", "2"],
    }[command]
    nowhere = {"GLASSBOX_TEMPO_PORT": str(free_port()), "GLASSBOX_LOKI_PORT": str(free_port())}
    before = app.path.read_bytes()
    read = run(args, elsewhere, **env, **nowhere)
    assert read.returncode == 0, read.stdout + read.stderr
    assert everything_under(elsewhere) == []  # no log, no checkpoint, no key, no spool where it ran
    assert "this read is not recorded in an audit log" in read.stderr, read.stderr
    assert "GLASSBOX_AUDIT_KEY_FILE" in read.stderr and str(elsewhere) in read.stderr
    assert app.path.read_bytes() == before  # nor in the app's log, which it was not pointed at as its own
    again = run(["audit", "verify"], app.path.parent.parent.parent, GLASSBOX_AUDIT_PUBLIC_KEY=pinned(app))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "not among the trusted public keys" not in again.stdout and "OK    3 records" in again.stdout


def test_a_read_pointed_at_the_app_s_files_is_recorded_there_signed_with_the_app_s_key(
    app: AuditLog, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        "GLASSBOX_AUDIT_DIR": str(app.path.parent),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(app.checkpoints.parent),
        "GLASSBOX_AUDIT_KEY_FILE": str(app.key_path),
        "GLASSBOX_AUDIT_PUBLIC_KEY": pinned(app),
    }
    read = run(["audit", "verify"], elsewhere, **env)
    assert read.returncode == 0 and "not recorded" not in read.stderr, read.stdout + read.stderr
    assert everything_under(elsewhere) == []
    records = [json.loads(line) for line in app.path.read_text().splitlines()]
    assert [r["action"] for r in records][-1] == "audit.verify"
    signed = [json.loads(line) for line in app.checkpoints.read_text().splitlines()]
    assert signed[-1]["seq"] == 4  # the reader's record was due a checkpoint: signed with the app's key
    again = run(["audit", "verify"], elsewhere, **env)
    assert again.returncode == 0 and "OK    4 records, 3 signed checkpoints" in again.stdout, again.stdout


def test_a_read_never_creates_a_signing_key_even_where_it_is_pointed(app: AuditLog, tmp_path: Path) -> None:
    keys = tmp_path / "operator-keys"
    env = {
        "GLASSBOX_AUDIT_DIR": str(app.path.parent),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(app.checkpoints.parent),
        "GLASSBOX_AUDIT_KEY_FILE": str(keys / "audit.key"),  # no key there, and none pinned that would stop one
    }
    read = run(["audit", "export"], tmp_path, **env)
    assert read.returncode == 0, read.stderr
    assert not keys.exists()
    assert json.loads(app.path.read_text().splitlines()[-1])["action"] == "audit.export"  # written, not signed
    assert [json.loads(line)["seq"] for line in app.checkpoints.read_text().splitlines()] == [1, 2]


def test_export_into_a_reader_that_stops_after_one_line_ends_quietly(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key",
                   checkpoint_every=100_000, fsync=False)  # fmt: skip
    for n in range(3000):  # far more than a pipe holds: the command is still writing when the reader leaves
        log.append({"action": "config.change", "after": {"n": n, "padding": "x" * 200}})
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    environment["OTEL_SDK_DISABLED"] = "true"
    export = subprocess.Popen(
        [sys.executable, "-m", "glassbox.cli", "audit", "export", "--log", str(log.path)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None and export.stderr is not None
    first = json.loads(export.stdout.readline())
    assert first["seq"] == 1
    export.stdout.close()  # as `| head -1` does
    status = export.wait(timeout=120)
    errors = export.stderr.read().decode()
    export.stderr.close()
    assert status == 0, errors
    assert "Traceback" not in errors and "Broken pipe" not in errors and "BrokenPipeError" not in errors, errors
