"""The single-host state's files against another account on the host: each test plants what an attacker could
(a symbolic link, a world-writable directory, a file left for the app to use) and shows the state refuses it, or
creates its files so that nobody else can read or change them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from glassbox.state import StateUnavailable
from glassbox.state.files import FileState


def state(tmp_path: Path, spend: Path) -> FileState:
    return FileState(spend, tmp_path / "switch" / "kill-switch", 1.0, "host")


def test_the_spend_file_is_created_private(tmp_path: Path) -> None:
    spend = tmp_path / "new" / "spend.sqlite"
    state(tmp_path, spend).add_spend("acme", 1.0, "2026-12-07")
    assert stat.S_IMODE(spend.stat().st_mode) == 0o600  # was 0644: every account could read every tenant's spend
    assert stat.S_IMODE(spend.parent.stat().st_mode) == 0o700
    for sidecar in spend.parent.glob("spend.sqlite-*"):  # SQLite's -wal and -shm take the database's mode
        assert stat.S_IMODE(sidecar.stat().st_mode) & 0o077 == 0, sidecar


def test_a_symlinked_spend_file_is_refused_and_its_target_untouched(tmp_path: Path) -> None:
    target = tmp_path / "someone-elses.db"
    target.write_bytes(b"theirs")
    link = tmp_path / "spend.sqlite"
    link.symlink_to(target)
    with pytest.raises(StateUnavailable, match="symbolic link"):
        state(tmp_path, link).add_spend("acme", 1.0, "2026-12-07")
    assert target.read_bytes() == b"theirs"


def test_a_spend_file_in_a_world_writable_directory_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # anyone could swap the file between two opens
    with pytest.raises(StateUnavailable, match="writable by"):
        state(tmp_path, shared / "spend.sqlite").add_spend("acme", 1.0, "2026-12-07")


def test_the_kill_switch_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    """The switch is written to a temporary file and renamed over its path: a link planted at either name is
    replaced or refused, and the file the link points to is never written."""
    files = state(tmp_path, tmp_path / "spend.sqlite")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    switch = tmp_path / "switch" / "kill-switch"
    switch.parent.mkdir(mode=0o700)
    partial = switch.with_name(f".{switch.name}.{os.getpid()}")
    partial.symlink_to(victim)
    switch.symlink_to(victim)
    files.set_kill_switch(True, None, "incident", "ops")
    assert victim.read_text() == "precious\n"
    assert not switch.is_symlink() and '"reason": "incident"' in switch.read_text()
    assert stat.S_IMODE(switch.stat().st_mode) == 0o600
    assert files.kill_switches()[0].reason == "incident"
