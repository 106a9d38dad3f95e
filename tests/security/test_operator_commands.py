"""An operator's `glassbox kill-switch` against the apps' real state: each test is one careless or hurried move
during an incident (the command run from another directory, without the fleet's URL, after the app died), with
real app processes, and shows the command acts on the state the apps obey, or refuses and says why, and never
reports a success that stops nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from glassbox.cli.guard import NOBODY_WATCHING, REFUSED
from glassbox.state.files import KILL_SWITCH_REFRESH, WATCHER_STALE
from glassbox.state.postgres import PostgresState
from tests.conftest import stop

# An app: its guard obeys the state (and logs which), then answers each line on stdin with the guard's decision
# on one model call.
APP = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from glassbox.guard import core
core.configure()
print("ready", flush=True)
for line in sys.stdin:
    refusal = core.check()
    print("refused " + refusal.reason if refusal else "allowed", flush=True)
"""


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any GLASSBOX_* or OTEL_* of the test run's own (the defaults apply), then
    ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLASSBOX_", "OTEL_"))}
    env.update(OTEL_SDK_DISABLED="true", **settings)
    return env


class App:
    """One app process, started in ``cwd`` with the default (relative) files state unless ``settings`` say else."""

    def __init__(self, cwd: Path, **settings: str) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-c", APP],
            cwd=cwd,
            env=clean_env(**settings),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.read() == "ready"

    def read(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line:
            stop(self.process)
            raise AssertionError(f"the app stopped: {self.process.stderr.read() if self.process.stderr else ''}")
        return line

    def call(self) -> str:
        """The guard's decision on the app's next model call."""
        assert self.process.stdin is not None
        self.process.stdin.write("call\n")
        self.process.stdin.flush()
        return self.read()

    def exit(self) -> str:
        """Let the app end as an app does (its stdin closed); what it logged."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
        return self.process.stderr.read() if self.process.stderr else ""


@pytest.fixture
def apps() -> Iterator[list[App]]:
    started: list[App] = []
    yield started
    for app in started:
        stop(app.process)
        for stream in (app.process.stdin, app.process.stdout, app.process.stderr):
            if stream is not None:
                stream.close()


def command(cwd: Path, *argv: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """`glassbox ARGV` as an operator runs it, from ``cwd``, with only ``settings`` in the environment."""
    cwd.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "glassbox.cli", *argv],
        cwd=cwd,
        env=clean_env(**settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_kill_switch_from_another_directory_is_refused_not_written_beside_the_operator(
    tmp_path: Path, apps: list[App]
) -> None:
    apps.append(App(tmp_path / "app"))
    ops = tmp_path / "ops"
    done = command(ops, "kill-switch", "on", "--reason", "incident")
    assert done.returncode == REFUSED, done.stdout + done.stderr
    relative = "GLASSBOX_KILL_SWITCH_FILE=.glassbox/kill-switch and GLASSBOX_BUDGETS_STATE=.glassbox/spend.sqlite are"
    assert f"refused: {relative} relative" in done.stderr
    assert "--app-dir" in done.stderr and "GLASSBOX_APP_DIR" in done.stderr and "GLASSBOX_STATE_URL" in done.stderr
    assert not (ops / ".glassbox" / "kill-switch").exists()  # was written here, and the app kept answering
    assert apps[0].call() == "allowed"


def test_the_kill_switch_with_the_app_dir_stops_the_app_and_says_where_and_who_watches(
    tmp_path: Path, apps: list[App]
) -> None:
    app_dir = tmp_path / "app"
    apps.append(App(app_dir))
    assert apps[0].call() == "allowed"
    done = command(tmp_path / "ops", "kill-switch", "on", "--reason", "incident", "--app-dir", str(app_dir))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"kill switch {app_dir / '.glassbox' / 'kill-switch'}" in done.stdout
    assert f"1 process watching it, each obeying within {KILL_SWITCH_REFRESH:g} s" in done.stdout
    assert f"pid {apps[0].process.pid} " in done.stdout
    time.sleep(KILL_SWITCH_REFRESH)  # the documented latency: the app re-reads the switch at most this often
    assert apps[0].call() == "refused kill_switch"
    logged = apps[0].exit()
    assert f"obeys the kill switch and budgets of the files state: kill switch {app_dir}/.glassbox/" in logged


def test_the_app_dir_setting_names_the_same_state_for_the_app_and_the_command(tmp_path: Path, apps: list[App]) -> None:
    """One setting both read: the app runs from anywhere, the operator from anywhere else."""
    state_home = tmp_path / "srv"
    apps.append(App(tmp_path / "somewhere", GLASSBOX_APP_DIR=str(state_home)))
    done = command(tmp_path / "ops", "kill-switch", "on", GLASSBOX_APP_DIR=str(state_home))
    assert done.returncode == 0 and "1 process watching it" in done.stdout, done.stdout + done.stderr
    assert (state_home / ".glassbox" / "kill-switch").exists()
    time.sleep(KILL_SWITCH_REFRESH)
    assert apps[0].call() == "refused kill_switch"


def test_a_switch_nobody_watches_warns_and_exits_non_zero_after_the_app_died(tmp_path: Path, apps: list[App]) -> None:
    """An app killed outright (no exit handler ran) leaves its watcher file: a dead pid is not counted."""
    app_dir = tmp_path / "app"
    apps.append(App(app_dir))
    os.kill(apps[0].process.pid, signal.SIGKILL)
    apps[0].process.wait(30)
    assert list((app_dir / ".glassbox" / "kill-switch.watchers").iterdir())  # what it left behind
    done = command(tmp_path / "ops", "kill-switch", "on", "--app-dir", str(app_dir))
    assert done.returncode == NOBODY_WATCHING, done.stdout + done.stderr
    assert "WARNING: no process is watching" in done.stderr
    assert (app_dir / ".glassbox" / "kill-switch").exists()  # on all the same, for the apps that start later


def test_a_hung_app_whose_heartbeat_is_old_is_not_counted(tmp_path: Path, apps: list[App]) -> None:
    """A frozen process (alive, but not refreshing its watcher file) obeys nothing: it is not counted."""
    app_dir = tmp_path / "app"
    apps.append(App(app_dir))
    os.kill(apps[0].process.pid, signal.SIGSTOP)
    try:
        (heartbeat,) = (app_dir / ".glassbox" / "kill-switch.watchers").iterdir()
        old = time.time() - WATCHER_STALE - 1
        os.utime(heartbeat, (old, old))  # as it would be after WATCHER_STALE seconds frozen
        done = command(tmp_path / "ops", "kill-switch", "on", "--app-dir", str(app_dir))
        assert done.returncode == NOBODY_WATCHING and "no process is watching" in done.stderr, done.stdout
    finally:
        os.kill(apps[0].process.pid, signal.SIGCONT)


def test_an_app_that_exits_is_no_longer_counted(tmp_path: Path, apps: list[App]) -> None:
    app_dir = tmp_path / "app"
    apps.append(App(app_dir))
    apps.append(App(app_dir))
    before = command(tmp_path / "ops", "kill-switch", "status", "--app-dir", str(app_dir))
    assert "2 processes watching it" in before.stdout, before.stdout + before.stderr
    apps[0].exit()
    after = command(tmp_path / "ops", "kill-switch", "status", "--app-dir", str(app_dir))
    assert "1 process watching it" in after.stdout and f"pid {apps[1].process.pid} " in after.stdout


def test_the_fleet_s_switch_without_its_url_is_refused_and_with_it_stops_every_replica(
    tmp_path: Path, apps: list[App], pg_writer_url: str
) -> None:
    for replica in ("a", "b"):
        apps.append(App(tmp_path / replica, GLASSBOX_STATE_URL=pg_writer_url))
    assert [app.call() for app in apps] == ["allowed", "allowed"]
    ops = tmp_path / "ops"
    guessed = command(ops, "kill-switch", "on", "--reason", "incident")  # GLASSBOX_STATE_URL not in this shell
    assert guessed.returncode == REFUSED and "GLASSBOX_STATE_URL" in guessed.stderr
    assert not (ops / ".glassbox").exists()
    assert [app.call() for app in apps] == ["allowed", "allowed"]
    done = command(ops, "kill-switch", "on", "--reason", "incident", GLASSBOX_STATE_URL=pg_writer_url)
    assert done.returncode == 0, done.stdout + done.stderr
    password = pg_writer_url.split("@")[0].rsplit(":", 1)[1]
    assert "in the postgresql state: database postgresql://" in done.stdout and ":***@" in done.stdout
    assert password not in done.stdout + done.stderr
    assert f"2 processes watching it, each obeying within {PostgresState.obeyed_within:g} s" in done.stdout
    time.sleep(PostgresState.obeyed_within)  # the documented latency (a notification is usually milliseconds)
    assert [app.call() for app in apps] == ["refused kill_switch", "refused kill_switch"]
