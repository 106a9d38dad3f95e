"""Lose nothing at shutdown: flush every pending span, log record and metric on SIGTERM.

uvicorn (and anything built on it) handles SIGTERM itself, then restores the previous handler and raises
the signal again. With the default handler that kills the process before the SDK's exit hooks run, so the
last batch of telemetry is lost. Glassbox installs a SIGTERM handler at start-up (before the server takes
the signal), so the signal that uvicorn re-raises lands here: it flushes within
``GLASSBOX_SHUTDOWN_TIMEOUT`` seconds and then hands the signal to whatever handled it before glassbox
(the default one terminates the process with the usual status).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any, Protocol

from glassbox import settings


class Flushable(Protocol):
    def force_flush(self, timeout_millis: int) -> None: ...


_previous: Any = None
_installed = False


def install(pipeline: Flushable) -> bool:
    """Install the SIGTERM handler (main thread only). Returns False where it cannot be installed."""
    global _previous, _installed
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False
    timeout_millis = int(settings.get("GLASSBOX_SHUTDOWN_TIMEOUT") * 1000)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        pipeline.force_flush(timeout_millis)
        previous = _previous
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_IGN:
            return
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    _previous = signal.signal(signal.SIGTERM, on_sigterm)
    _installed = True
    return True
