"""Lose nothing at shutdown: flush every pending span, log record and metric on SIGTERM.

uvicorn (and anything built on it) handles SIGTERM itself, then restores the previous handler and raises
the signal again. With the default handler that kills the process before the SDK's exit hooks run, so the
last batch of telemetry is lost. Glassbox installs a SIGTERM handler at start-up (before the server takes
the signal), so the signal that uvicorn re-raises lands here: it flushes within
``GLASSBOX_SHUTDOWN_TIMEOUT`` seconds and then hands the signal to whatever handled it before glassbox
(the default one terminates the process with the usual status). Under gunicorn's uvicorn workers the
handler is reset in each worker, so :class:`UvicornShutdownInstrumentor` also flushes at the end of
uvicorn's own shutdown.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Collection
from types import FrameType
from typing import Any, Protocol

import wrapt
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap

from glassbox import settings


class Flushable(Protocol):
    def force_flush(self, timeout_millis: int) -> object: ...


_previous: Any = None
_installed = False
_target: Flushable | None = None  # the pipeline to flush: the one configured last


def install(pipeline: Flushable) -> bool:
    """Flush ``pipeline`` at exit: install the SIGTERM handler (main thread only; False where it cannot be
    installed) and make ``pipeline`` what :func:`flush_now` flushes."""
    global _previous, _installed, _target
    _target = pipeline
    if _installed:
        return True
    if threading.current_thread() is not threading.main_thread():
        return False

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        flush_now()
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


def flush_now() -> None:
    """Flush the configured pipeline, if any, within ``GLASSBOX_SHUTDOWN_TIMEOUT``."""
    if _target is not None:
        _target.force_flush(int(settings.SHUTDOWN_TIMEOUT.get() * 1000))


async def _flush_after(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    try:
        await wrapped(*args, **kwargs)
    finally:
        flush_now()


class UvicornShutdownInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Flushes telemetry when a uvicorn server has finished shutting down, before it re-raises the signal.

    The SIGTERM handler above is enough for ``uvicorn.run``; under gunicorn, the ``UvicornWorker`` resets
    SIGTERM to the default handler in each worker after the fork, so the signal uvicorn re-raises would kill
    the worker unflushed. Wrapping ``Server.shutdown`` (wrapt) covers both, whatever the signal handlers.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("uvicorn >= 0.20",)

    def _instrument(self, **kwargs: Any) -> None:
        wrapt.wrap_function_wrapper("uvicorn.server", "Server.shutdown", _flush_after)

    def _uninstrument(self, **kwargs: Any) -> None:
        from uvicorn.server import Server

        unwrap(Server, "shutdown")
