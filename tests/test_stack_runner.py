"""The native runner's promises: it reports what is missing, and `down` stops only what `up` started."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stack.components import component_env, settings
from stack.native import NativeStack, StackError, main, out_of_order_window, set_aside_stale_wal

from .conftest import stop


def started(command: list[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """A process whose command line is visible in /proc (Popen can return a moment before it is)."""
    process = subprocess.Popen(command, **kwargs)  # type: ignore[call-overload]
    cmdline = Path(f"/proc/{process.pid}/cmdline")
    deadline = time.monotonic() + 5
    while not cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)
    return process


@pytest.fixture
def no_binaries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GLASSBOX_BIN_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr("stack.binaries.COLLECTOR_BUILD_DIR", tmp_path / "no-build")


def test_a_missing_optional_component_is_reported_not_fatal(no_binaries: None, tmp_path: Path) -> None:
    outcomes = NativeStack(tmp_path / "state", {}).up(["loki", "tempo", "grafana"])
    assert {(o.name, o.status) for o in outcomes} == {("loki", "missing"), ("tempo", "missing"), ("grafana", "missing")}
    assert all("GLASSBOX_BIN_DIR" in o.detail for o in outcomes)


def test_a_missing_collector_is_an_error_that_says_how_to_build_it(no_binaries: None, tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"collector/build\.sh"):
        NativeStack(tmp_path / "state", {}).up(["collector"])


def test_down_leaves_alone_a_process_it_did_not_start(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    stranger = started([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        # A stale pid file whose pid now belongs to another program: its command line does not match.
        (state / "prometheus.pid").write_text(json.dumps({"pid": stranger.pid, "command": ["/usr/bin/prometheus"]}))
        stack = NativeStack(state, {})
        assert stack.running_pid("prometheus") is None
        assert stack.down() == []
        assert stranger.poll() is None, "down killed a process it did not start"
        assert not (state / "prometheus.pid").exists(), "the stale pid file is cleaned up"
    finally:
        stop(stranger)


def test_down_stops_what_up_recorded(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    command = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = started(command, start_new_session=True)
    try:
        (state / "loki.pid").write_text(json.dumps({"pid": ours.pid, "command": command}))
        assert NativeStack(state, {}).down() == ["loki"]
        assert ours.wait(5) is not None
    finally:
        stop(ours)


def test_status_and_down_with_nothing_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = tmp_path / "state"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GLASSBOX_STATE_DIR", str(state))
        assert main(["status"]) == 0
        assert main(["down"]) == 0
    out = capsys.readouterr().out
    assert "collector  stopped" in out and "nothing was running" in out


def test_the_collector_gets_a_go_memory_limit_at_its_memory_limiter_limit(tmp_path: Path) -> None:
    env = component_env("collector", settings({"GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB": "300"}), tmp_path)
    assert env["GOMEMLIMIT"] == "300MiB"


def test_a_remote_write_wal_older_than_prometheus_accepts_is_set_aside(tmp_path: Path) -> None:
    """Points Prometheus 2.42 refuses with a retried 500 would block every fresh point behind them."""
    segment = tmp_path / "prometheus_wal" / "prom_remotewrite" / "00000000"
    segment.parent.mkdir(parents=True)
    segment.write_bytes(b"old points")
    window = out_of_order_window()
    assert window == 30 * 60  # prometheus/prometheus.yml
    written = segment.stat().st_mtime
    assert set_aside_stale_wal(tmp_path, window, now=written + window - 1) is None
    assert segment.exists()
    stale = set_aside_stale_wal(tmp_path, window, now=written + window + 1)
    assert stale is not None and stale.name.startswith("prometheus_wal.stale-")
    assert (stale / "prom_remotewrite" / "00000000").read_bytes() == b"old points"
    assert not (tmp_path / "prometheus_wal").exists()
    assert set_aside_stale_wal(tmp_path, window) is None  # nothing left to move
