"""The shared state, as the settings choose it: :func:`get` returns this process's :class:`State`.

``GLASSBOX_STATE_URL`` unset: :class:`~glassbox.state.files.FileState` (one host, zero setup). Set to
``postgresql://...``: :class:`~glassbox.state.postgres.PostgresState` (every host). A URL that cannot be used
(malformed, wrong password, missing database, a schema from a newer glassbox) is logged at ERROR on the
``glassbox`` logger with the reason, counted in ``glassbox.state.failures{operation="connect"}``, and the app
goes on under ``GLASSBOX_STATE_FAILURE``; ``glassbox.state.connected`` says whether the state answers.

The files state's relative paths (the defaults ``.glassbox/...``) start from ``GLASSBOX_APP_DIR``, else the working
directory (:func:`files_paths`). A process whose guard obeys the state calls :func:`watch`: it logs where the state
is, absolute, and is counted among the state's watchers until it exits (what ``glassbox kill-switch`` reports).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from glassbox import conventions as c
from glassbox import instruments, settings
from glassbox.state.base import (
    EVERY_TENANT,
    TOTAL_BUDGET,
    BudgetExceeded,
    ChangeConflict,
    KillSwitch,
    RequestLimits,
    Reservation,
    SpendChange,
    State,
    StateUnavailable,
    day_of,
    host_name,
)
from glassbox.state.files import FileState
from glassbox.version import __version__

__all__ = [
    "EVERY_TENANT",
    "TOTAL_BUDGET",
    "BudgetExceeded",
    "ChangeConflict",
    "KillSwitch",
    "RequestLimits",
    "Reservation",
    "SpendChange",
    "State",
    "StateUnavailable",
    "count_failure",
    "current",
    "day_of",
    "files_paths",
    "get",
    "open_state",
    "report",
    "use",
    "watch",
]

# How long opening the PostgreSQL state waits for its first read (the kill switch, the budgets) before the
# process goes on without it.
STARTUP_WAIT = 3.0
_logger = logging.getLogger("glassbox")
_lock = threading.Lock()
_state: State | None = None
_state_pid = 0
_reported: set[str] = set()
# Whether this process's guard obeys the state (watch): a state opened later registers it too.
_watching = False


class UnusableState(State):
    """A state that cannot even be opened (a malformed URL): every call says why."""

    backend = "postgresql"
    scope = c.BUDGET_SCOPE_SHARED
    audits_changes = True

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _fail(self, operation: str) -> StateUnavailable:
        count_failure(operation)
        return StateUnavailable(self.reason)

    def kill_switch(self, tenant: str | None) -> tuple[KillSwitch | None, bool]:
        return None, False

    def set_kill_switch(
        self,
        on: bool,
        tenant: str | None,
        reason: str | None,
        actor: str | None,
        event: dict[str, Any] | None = None,
    ) -> None:
        raise self._fail("kill_switch_set")

    def kill_switches(self) -> list[KillSwitch]:
        raise self._fail("kill_switch_read")

    def budgets(self) -> dict[str, dict[str, float]]:
        return {}

    def set_budget(
        self, tenant: str, limits: Mapping[str, float] | None, event: dict[str, Any] | None = None
    ) -> dict[str, float] | None:
        raise self._fail("budget_set")

    def reserve(
        self,
        tenant: str,
        limits: Mapping[str, float],
        usd: float,
        day: str,
        total: Mapping[str, float] | None = None,
    ) -> Reservation:
        raise self._fail("reserve")

    def settle(self, reservation: Reservation, usd: float) -> SpendChange:
        raise self._fail("settle")

    def add_spend(self, tenant: str, usd: float, day: str, total: bool = False) -> SpendChange:
        raise self._fail("settle")

    def mark_threshold(self, tenant: str, period: str, period_key: str, ratio: float, limit: float) -> bool:
        raise self._fail("settle")

    def spent(self, tenant: str, day: str) -> dict[str, float]:
        raise self._fail("spend_read")

    def spend_by_tenant(self, day: str) -> dict[str, dict[str, float]]:
        raise self._fail("spend_read")

    def count_request_call(
        self, request_id: str, limits: RequestLimits, arrived: float, now: float
    ) -> tuple[str, str] | None:
        raise self._fail("request_count")

    def add_request_spend(self, request_id: str, usd: float, tokens: int) -> None:
        raise self._fail("request_spend")

    @property
    def location(self) -> str:
        return f"unusable ({self.reason})"

    def watchers(self) -> list[str]:
        raise self._fail("watchers")

    def healthy(self) -> bool:
        return False


def count_failure(operation: str) -> None:
    """One operation the shared state could not do (``glassbox.state.failures``)."""
    instruments.get().state_failures.add(1, {c.STATE_OPERATION: operation})


def report(what: str, error: BaseException) -> None:
    """Log ``error`` (with its traceback) once per distinct problem on the ``glassbox`` logger."""
    key = f"{type(error).__name__}:{error}"  # one cause reached through several operations is one problem
    with _lock:
        if key in _reported or len(_reported) > 1000:
            return
        _reported.add(key)
    _logger.error("glassbox: %s: %s", what, error, exc_info=error)


def files_paths(app_dir: str = "") -> tuple[Path | None, Path, bool]:
    """The files state's spend file (None: in each process's memory) and kill-switch file, absolute: a relative
    setting starts from ``app_dir`` (default ``GLASSBOX_APP_DIR``), else from the working directory; and whether
    the working directory decided where either is (an operator's command must then not guess)."""
    base = app_dir or settings.APP_DIR.get()
    spend, switch = settings.BUDGETS_STATE.get(), settings.KILL_SWITCH_FILE.get()
    guessed = not Path(base).is_absolute() and any(value and not Path(value).is_absolute() for value in (spend, switch))
    return (settings.app_path(spend, base) if spend else None), settings.app_path(switch, base), guessed


def open_state(app_dir: str = "", watching: bool = False) -> State:
    """A new state as the settings describe it (the caller owns it); the files state's relative paths start from
    ``app_dir`` (default: see :func:`files_paths`). ``watching``: this process's guard obeys it (:func:`watch`)."""
    instruments.get().state_failures.add(0, {c.STATE_OPERATION: "connect"})  # the series exists before a failure
    url = settings.STATE_URL.get()
    timeout = settings.STATE_TIMEOUT.get()
    if url:
        try:
            # Lazy: psycopg is an optional extra (glassbox-otel[postgres]); the files state needs none of it.
            from glassbox.db import Database, StateConfigError
            from glassbox.state.postgres import PostgresState
        except ImportError as error:
            reason = (
                f"GLASSBOX_STATE_URL is set but psycopg is missing ({error}): pip install 'glassbox-otel[postgres]'"
            )
            count_failure("connect")
            _logger.error("glassbox: %s; AI calls follow GLASSBOX_STATE_FAILURE", reason)
            return UnusableState(reason)
        try:
            database = Database(url, timeout, on_failure=count_failure)
        except StateConfigError as error:
            count_failure("connect")
            _logger.error("glassbox: %s; AI calls follow GLASSBOX_STATE_FAILURE", error)
            return UnusableState(str(error))
        postgres = PostgresState(database, watching=watching)
        postgres.wait_until_current(STARTUP_WAIT)
        return postgres
    spend_file, switch_file, _ = files_paths(app_dir)
    files = FileState(spend_file, switch_file, timeout, host_name(os.environ), on_failure=count_failure)
    if watching:
        files.watch()
    return files


def get() -> State:
    """This process's state, opened on first use (a forked child opens its own)."""
    global _state, _state_pid
    state = _state
    if state is not None and _state_pid == os.getpid():
        return state
    with _lock:
        if _state is None or _state_pid != os.getpid():
            _state, _state_pid = open_state(watching=_watching), os.getpid()
        return _state


def watch() -> State:
    """This process's guard obeys the state from now on: count it among the state's watchers until it exits, and
    log where the state is (absolute paths, or the database with its password masked)."""
    global _watching
    with _lock:
        first, _watching = not _watching, True
    state = get()
    state.watch()
    if first:
        _logger.info(
            "glassbox: this process obeys the kill switch and budgets of the %s state: %s",
            state.backend,
            state.location,
        )
    return state


def current() -> State | None:
    """The state if this process opened one (never opens it)."""
    return _state if _state_pid == os.getpid() else None


def use(state: State | None) -> State | None:
    """Use ``state`` from now on (None: the next :func:`get` opens what the settings say); returns the one it
    replaces, which the caller may close."""
    global _state, _state_pid
    with _lock:
        previous, _state, _state_pid = _state, state, (os.getpid() if state is not None else 0)
    return previous


def _observe(_options: CallbackOptions) -> Iterable[Observation]:
    state = current()
    if state is not None:
        yield Observation(1 if state.healthy() else 0, {c.STATE_BACKEND: state.backend})


# Made once, when this module is imported (the API's proxy meter binds it to the provider set later): never from
# inside a metric collection, whose lock the SDK holds while it calls the callbacks.
metrics.get_meter("glassbox", __version__).create_observable_gauge(
    c.METRIC_STATE_CONNECTED,
    callbacks=[_observe],
    unit="{state}",
    description="1 while the shared state (files or PostgreSQL) answers this process, else 0.",
)
