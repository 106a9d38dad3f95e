"""Spend of tenants no budget applies to, written behind: summed in memory and written to the shared state by a
thread of its own every :data:`INTERVAL_S`, instead of one write per model call on the request's thread.

A call whose tenant, or every tenant together, has a budget is booked at once, as before: budgets are enforced
exactly as without this. A tenant with no budget is booked only so that ``glassbox budgets list`` shows its spend
and a budget set later counts the period's spend so far. For that, the guard writes a tenant's pending spend
before it reserves against the tenant's first budget (:func:`flush_before_budget`), so this process's spend is
never left out of a budget; another process's reaches the state within :data:`INTERVAL_S`. What is pending is
also written when the pipeline flushes (at shutdown). When the state cannot take it, it is kept and
written later (the state counts the failure in ``glassbox.state.failures`` and it is logged once); past
:data:`MAX_PENDING` tenant-days waiting, a new one is dropped and counted
(``glassbox.state.failures{operation="spend_dropped"}``).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict

from glassbox import state as state_module

_logger = logging.getLogger(__name__)

INTERVAL_S = 1.0
MAX_PENDING = 10_000
OPERATION_DROPPED = "spend_dropped"


class SpendWriter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: defaultdict[tuple[str, str], float] = defaultdict(float)
        self._flushing = threading.Lock()  # one write of the pending spend at a time
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def add(self, tenant: str, usd: float, day: str) -> None:
        """Book ``usd`` to ``tenant`` on ``day`` within the next :data:`INTERVAL_S`. Never raises, never blocks on
        the state."""
        key = (tenant, day)
        with self._lock:
            if key not in self._pending and len(self._pending) >= MAX_PENDING:
                state_module.count_failure(OPERATION_DROPPED)
                return
            self._pending[key] += usd
        if self._thread is None or self._pid != os.getpid():  # none yet, or this is a forked worker
            self._start()

    def waiting(self, tenant: str | None) -> bool:
        """Whether spend of ``tenant`` (None: of any tenant) is pending."""
        with self._lock:
            if tenant is None:
                return bool(self._pending)
            return any(key[0] == tenant for key in self._pending)

    def pending(self) -> dict[tuple[str, str], float]:
        with self._lock:
            return dict(self._pending)

    def flush(self) -> bool:
        """Write what is pending now; True when the state took all of it (what it refused stays pending)."""
        with self._flushing:
            with self._lock:
                taken, self._pending = self._pending, defaultdict(float)
            if not taken:
                return True
            state = state_module.get()
            left: dict[tuple[str, str], float] = {}
            for (tenant, day), usd in taken.items():
                if left:  # the state failed on this flush already: keep the rest for the next one
                    left[(tenant, day)] = usd
                    continue
                try:
                    state.add_spend(tenant, usd, day)
                except Exception as error:  # StateUnavailable, counted by the state; anything else is a bug
                    state_module.report("glassbox could not write the spend of tenants without a budget", error)
                    left[(tenant, day)] = usd
            if left:
                with self._lock:
                    for key, usd in left.items():
                        self._pending[key] += usd
            return not left

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="glassbox-spend-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(INTERVAL_S)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # never let the thread die
                _logger.debug("glassbox spend writer failed", exc_info=True)


_writer = SpendWriter()


def add(tenant: str, usd: float, day: str) -> None:
    _writer.add(tenant, usd, day)


def flush() -> bool:
    """Write the pending spend now (the pipeline's flush, tests); True when none is left."""
    return _writer.flush()


def flush_before_budget(tenant: str, total: bool) -> None:
    """Before a reservation against ``tenant``'s budget (``total``: the budget of every tenant together), write the
    spend pending for it (for every tenant), so the budget counts all this process spent. Cheap when none is."""
    who = None if total else tenant
    if _writer.waiting(who):
        _writer.flush()


def pending() -> dict[tuple[str, str], float]:
    """(tenant, day) -> dollars booked but not yet written."""
    return _writer.pending()
