"""glassbox.sdk.shutdown: what was configured last is flushed on SIGTERM and at the end of a uvicorn server, within
GLASSBOX_SHUTDOWN_TIMEOUT as it is when the flush runs, and the signal then goes where it went before."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys

import pytest
import uvicorn
from fastapi import FastAPI

from glassbox.sdk import shutdown
from glassbox.sdk.shutdown import UvicornShutdownInstrumentor


def test_the_uvicorn_shutdown_hook_is_instrumented_removed_and_instrumented_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flushed: list[bool] = []
    monkeypatch.setattr(shutdown, "flush_now", lambda: flushed.append(True))
    instrumentor = UvicornShutdownInstrumentor()
    was_on = instrumentor.is_instrumented_by_opentelemetry

    def shut_down_a_server() -> None:
        server = uvicorn.Server(uvicorn.Config(FastAPI(), lifespan="off"))
        server.servers, server.force_exit = [], True
        asyncio.run(server.shutdown())

    try:
        for on in (True, False, True):
            if on:
                instrumentor.instrument()
            else:
                instrumentor.uninstrument()
            flushed.clear()
            shut_down_a_server()
            assert flushed == ([True] if on else [])
    finally:
        if not was_on:
            instrumentor.uninstrument()


FLUSHING_PROCESS = """
import os, signal, sys
from glassbox.sdk import shutdown

class Pipeline:
    def __init__(self, name):
        self.name = name
    def force_flush(self, timeout_millis):
        print("flushed", self.name, timeout_millis, flush=True)
        return True

{before}
assert shutdown.install(Pipeline("first"))
assert shutdown.install(Pipeline("second"))
os.environ["GLASSBOX_SHUTDOWN_TIMEOUT"] = "2.5"
os.kill(os.getpid(), signal.SIGTERM)
print("still running", flush=True)
"""


def run(before: str = "") -> subprocess.CompletedProcess[str]:
    code = FLUSHING_PROCESS.format(before=before)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_sigterm_flushes_the_pipeline_configured_last_then_terminates_as_the_default_handler_does() -> None:
    result = run()
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert result.stdout.splitlines() == ["flushed second 2500"]


def test_sigterm_goes_on_to_the_handler_the_app_had_installed_before() -> None:
    before = "signal.signal(signal.SIGTERM, lambda signum, frame: print('app handler', signum, flush=True))"
    result = run(before)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["flushed second 2500", f"app handler {int(signal.SIGTERM)}", "still running"]


def test_an_ignored_sigterm_stays_ignored_after_the_flush() -> None:
    result = run("signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["flushed second 2500", "still running"]


def test_flush_now_flushes_the_pipeline_installed_last(monkeypatch: pytest.MonkeyPatch) -> None:
    flushed: list[tuple[str, int]] = []

    class Pipeline:
        def __init__(self, name: str) -> None:
            self.name = name

        def force_flush(self, timeout_millis: int) -> bool:
            flushed.append((self.name, timeout_millis))
            return True

    monkeypatch.setattr(shutdown, "_target", None)
    shutdown.flush_now()
    assert flushed == []
    monkeypatch.setenv("GLASSBOX_SHUTDOWN_TIMEOUT", "1.5")
    monkeypatch.setattr(shutdown, "_installed", True)  # the handler is the test process's business, not this test's
    shutdown.install(Pipeline("a"))
    shutdown.install(Pipeline("b"))
    shutdown.flush_now()
    assert flushed == [("b", 1500)]
