"""The tenant metric label: a bounded number of distinct tenant values per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection

from glassbox import conventions as c
from glassbox.identifiers import validate


class TenantLimiter:
    """Maps tenant ids to metric label values, with a bounded number of distinct values per process.

    Tenants named by ``always_label`` (a callable returning them, e.g. the tenants with a budget) always keep
    their own label, whatever the cap, and are served first: other tenants share what is left of ``limit``
    (``limit`` minus the number of such tenants), first come first served. Later ones share ``_other``, and
    each such mapping increments ``glassbox.attribution.tenant_overflow`` (``on_overflow``). A missing tenant
    is ``_none``; a value that is not a valid tenant id is ``_invalid`` (``on_invalid``).

    ``always_label`` is called on a tenant not seen before, at most once per ``refresh_seconds``; if it raises,
    the tenants it returned last are kept and ``on_error`` is called.
    """

    def __init__(
        self,
        limit: int,
        on_overflow: Callable[[], None] | None = None,
        *,
        always_label: Callable[[], Collection[str]] | None = None,
        refresh_seconds: float = 10.0,
        on_invalid: Callable[[str], None] | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.limit = limit
        self._seen: set[str] = set()  # every tenant that has its own label
        self._others = 0  # how many of them are not kept by always_label
        self._lock = threading.Lock()
        self._on_overflow = on_overflow
        self._on_invalid = on_invalid
        self._on_error = on_error
        self._always_label = always_label
        self._refresh_seconds = refresh_seconds
        self._kept: frozenset[str] = frozenset()
        self._kept_at = float("-inf")

    def forget(self) -> None:
        """Free every label slot: the next tenants seen take them again, first come first served."""
        with self._lock:
            self._seen.clear()
            self._others = 0

    def always_label_from(self, always_label: Callable[[], Collection[str]] | None) -> None:
        """Name (or replace) the source of the tenants that always keep their own label; read it at once."""
        with self._lock:
            self._always_label = always_label
            self._kept_at = float("-inf")

    def _kept_tenants(self) -> frozenset[str]:
        """The tenants that keep their label, refreshed when older than ``refresh_seconds`` (under the lock)."""
        if self._always_label is None:
            return frozenset()
        now = time.monotonic()
        if now - self._kept_at >= self._refresh_seconds:
            self._kept_at = now
            try:
                self._kept = frozenset(self._always_label())
            except Exception:
                if self._on_error is not None:
                    self._on_error()
        return self._kept

    def label(self, tenant: object) -> str:
        if not tenant:
            return c.PLACEHOLDER_NONE
        tenant = str(tenant)
        if tenant in self._seen or tenant in (c.PLACEHOLDER_INVALID, c.PLACEHOLDER_OVERFLOW, c.PLACEHOLDER_NONE):
            return tenant
        if validate(c.TENANT_ID, tenant, self._on_invalid) != tenant:
            return c.PLACEHOLDER_INVALID
        with self._lock:
            if tenant in self._seen:
                return tenant
            kept = self._kept_tenants()
            if tenant in kept:
                self._seen.add(tenant)
                return tenant
            if self._others < self.limit - len(kept):
                self._seen.add(tenant)
                self._others += 1
                return tenant
        if self._on_overflow is not None:
            self._on_overflow()
        return c.PLACEHOLDER_OVERFLOW
