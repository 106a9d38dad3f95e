"""Local processes as the stack runner, its PostgreSQL cluster and the benchmarks run them.

    port = free_port()
    process = start([binary, "--config", config], log, env=env)   # its own session, output to log
    wait_http("collector", process, log, f"http://127.0.0.1:{health}/", timeout=60)
    stop(process)                                                   # SIGTERM to its group, SIGKILL after a while

A process that exits or does not get ready in time raises NotReady, naming it and ending with its log's tail.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import httpx

HOST = "127.0.0.1"


def free_port(taken: set[int] | None = None) -> int:
    """A free TCP port on loopback; with taken, also not among those, and added to them."""
    while True:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if taken is None:
            return port
        if port not in taken:
            taken.add(port)
            return port


def port_in_use(port: int, host: str = HOST) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def start(
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: int | IO[Any] | None = None,
) -> subprocess.Popen[bytes]:
    """Start argv in a session of its own (so that stop() reaches whatever it starts), its output appended to log."""
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, env=env, cwd=cwd, stdin=stdin, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def tail(log: Path, lines: int = 15) -> str:
    """The last lines of a log, indented, and where the whole of it is."""
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(f"    {line}" for line in text[-lines:]) + f"\n  (full log: {log})"


class NotReady(RuntimeError):
    """A process that exited (exited is True) or did not get ready in time; the message ends with its log's tail."""

    def __init__(self, message: str, exited: bool) -> None:
        super().__init__(message)
        self.exited = exited


def _raise_if_exited(name: str, process: subprocess.Popen[Any] | None, log: Path) -> None:
    if process is not None and process.poll() is not None:
        raise NotReady(f"{name} exited with status {process.returncode}:\n{tail(log)}", exited=True)


def wait_until(
    name: str,
    process: subprocess.Popen[Any] | None,
    log: Path,
    ready: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.1,
    waiting: Callable[[], None] | None = None,
) -> None:
    """Poll ready() every interval seconds until it holds; NotReady when the process exits first or after timeout
    seconds (what: where it was waited for, for the message). waiting() runs after each poll that failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _raise_if_exited(name, process, log)
        if ready():
            return
        if waiting is not None:
            waiting()
        time.sleep(interval)
    raise NotReady(f"{name} was not ready within {timeout:g}s at {what}:\n{tail(log)}", exited=False)


def http_ready(url: str, timeout: float = 1.0) -> bool:
    """Whether url answers 200."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def wait_http(
    name: str,
    process: subprocess.Popen[Any] | None,
    log: Path,
    url: str,
    timeout: float,
    interval: float = 0.1,
    waiting: Callable[[], None] | None = None,
) -> None:
    """wait_until url answers 200."""
    wait_until(name, process, log, lambda: http_ready(url), timeout, url, interval, waiting)


def wait_alive(name: str, process: subprocess.Popen[Any], log: Path, seconds: float) -> None:
    """For a process without a readiness endpoint: NotReady unless it still runs after seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        _raise_if_exited(name, process, log)
        time.sleep(0.1)
    _raise_if_exited(name, process, log)


def stop(process: subprocess.Popen[Any] | int, timeout: float = 20.0, first: int = signal.SIGTERM) -> bool:
    """Stop a process started by start() and whatever it started: first (SIGTERM) to its process group, SIGKILL
    when it still runs after timeout seconds. process: a Popen, or the pid of one started earlier (a pid file's),
    watched through /proc. Returns False when it had already exited."""
    if not running(process):
        return False
    pid = process if isinstance(process, int) else process.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, first)
    if isinstance(process, int):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and running(pid):
            time.sleep(0.1)
    else:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    if running(process):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    if isinstance(process, int):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # when it is a child of this process
    else:
        process.wait(timeout)
    return True


def running(process: subprocess.Popen[Any] | int) -> bool:
    """Whether it runs: a Popen not yet exited, or a pid in /proc that is no zombie."""
    if not isinstance(process, int):
        return process.poll() is None
    return Path(f"/proc/{process}").exists() and not _is_zombie(process)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except (OSError, IndexError):
        return False
