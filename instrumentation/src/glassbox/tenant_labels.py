"""Bounded metric labels: a bounded number of distinct tenant values, or prompt versions, per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Hashable
from typing import Generic, TypeVar

from glassbox import conventions as c
from glassbox.identifiers import validate

K = TypeVar("K", bound=Hashable)


class LabelCap(Generic[K]):
    """At most ``limit`` distinct values per process keep their own label, first come first served.

    :meth:`admits` says whether a value keeps its label; a later one does not, and each such refusal calls
    ``on_overflow`` (the caller then reports the value as ``_other``). Values named by :meth:`_kept` keep their
    label whatever the cap and are served first: the others share what is left of ``limit``.
    """

    def __init__(self, limit: int, on_overflow: Callable[[], None] | None = None) -> None:
        self.limit = limit
        self._seen: set[K] = set()  # every value that has its own label
        self._others = 0  # how many of them are not kept by _kept
        self._lock = threading.Lock()
        self._on_overflow = on_overflow

    def forget(self) -> None:
        """Free every label slot: the next values seen take them again, first come first served."""
        with self._lock:
            self._seen.clear()
            self._others = 0

    def _kept(self) -> Collection[K]:
        """The values that always keep their own label (called under the lock)."""
        return ()

    def admits(self, value: K, count: bool = True) -> bool:
        """Whether ``value`` keeps its own label (taking a free slot if it has none); a refusal calls ``on_overflow``
        unless ``count`` is false."""
        if value in self._seen:
            return True
        with self._lock:
            if value in self._seen:
                return True
            kept = self._kept()
            if value in kept:
                self._seen.add(value)
                return True
            if self._others < self.limit - len(kept):
                self._seen.add(value)
                self._others += 1
                return True
        if count and self._on_overflow is not None:
            self._on_overflow()
        return False


def version_order(version: str) -> tuple[int, tuple[int, ...], str]:
    """How prompt versions of one name are ordered: numerically when made of numbers (``7`` < ``12``, ``1.9`` <
    ``1.10``, compared part by part between dots), otherwise as strings (``2024-05-01`` < ``2024-06-01``). A numeric
    version is never compared with another kind: :meth:`PromptLimiter.baselines` looks for a lower one of its kind.
    """
    parts = version.split(".")
    if all(part.isascii() and part.isdigit() for part in parts):
        return (0, tuple(int(part) for part in parts), "")
    return (1, (), version)


class PromptLimiter(LabelCap[tuple[str, str]]):
    """Maps (prompt name, version) pairs to their metric labels, at most ``limit`` distinct pairs per process.

    Later pairs are both ``_other`` (each such mapping calls ``on_overflow``). The pair is expected checked
    already (:mod:`glassbox.api.prompts`); a placeholder pair (``_invalid``) takes no slot.

    It also keeps the versions the process declared (:meth:`declare`), each with the version it is compared with:
    the one the app named, else the next lower version of the same name and kind (:func:`version_order`) declared
    so far. :meth:`baselines` lists them for the ``glassbox.prompt.versions`` gauge.
    """

    def __init__(self, limit: int, on_overflow: Callable[[], None] | None = None) -> None:
        super().__init__(limit, on_overflow)
        self._declared: dict[tuple[str, str], str | None] = {}  # (name, version) -> the baseline the app named

    def forget(self) -> None:
        super().forget()
        with self._lock:
            self._declared.clear()

    def labels(self, name: str, version: str) -> dict[str, str]:
        pair = (name, version)
        if c.PLACEHOLDER_INVALID in pair or self.admits(pair):
            return {c.PROMPT_NAME: name, c.PROMPT_VERSION: version}
        return {c.PROMPT_NAME: c.PLACEHOLDER_OVERFLOW, c.PROMPT_VERSION: c.PLACEHOLDER_OVERFLOW}

    def declare(self, name: str, version: str, baseline: str | None = None) -> None:
        """Note that the process uses ``version`` of prompt ``name`` (compared with ``baseline`` if given, else the
        next lower version); only checked values within the cap are kept."""
        pair = (name, version)
        if c.PLACEHOLDER_INVALID in pair or not self.admits(pair, count=False):
            return
        if baseline == c.PLACEHOLDER_INVALID:  # counted as invalid already: the version falls back to the next lower
            baseline = None
        with self._lock:
            if baseline is not None or pair not in self._declared:
                self._declared[pair] = baseline

    def baselines(self) -> dict[tuple[str, str], str | None]:
        """Each declared (name, version) -> the version it is compared with, or None when it has none."""
        with self._lock:
            declared = dict(self._declared)
        found: dict[tuple[str, str], str | None] = {}
        for (name, version), named in declared.items():
            if named is not None:
                found[(name, version)] = named
                continue
            key = version_order(version)
            lower = [
                other
                for (other_name, other) in declared
                if other_name == name and version_order(other)[0] == key[0] and version_order(other) < key
            ]
            found[(name, version)] = max(lower, key=version_order) if lower else None
        return found


class TenantLimiter(LabelCap[str]):
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
        super().__init__(limit, on_overflow)
        self._on_invalid = on_invalid
        self._on_error = on_error
        self._always_label = always_label
        self._refresh_seconds = refresh_seconds
        self._kept_tenants: frozenset[str] = frozenset()
        self._kept_at = float("-inf")

    def always_label_from(self, always_label: Callable[[], Collection[str]] | None) -> None:
        """Name (or replace) the source of the tenants that always keep their own label; read it at once."""
        with self._lock:
            self._always_label = always_label
            self._kept_at = float("-inf")

    def _kept(self) -> frozenset[str]:
        """The tenants that keep their label, refreshed when older than ``refresh_seconds`` (under the lock)."""
        if self._always_label is None:
            return frozenset()
        now = time.monotonic()
        if now - self._kept_at >= self._refresh_seconds:
            self._kept_at = now
            try:
                self._kept_tenants = frozenset(self._always_label())
            except Exception:
                if self._on_error is not None:
                    self._on_error()
        return self._kept_tenants

    def label(self, tenant: object) -> str:
        if not tenant:
            return c.PLACEHOLDER_NONE
        tenant = str(tenant)
        if tenant in self._seen or tenant in (c.PLACEHOLDER_INVALID, c.PLACEHOLDER_OVERFLOW, c.PLACEHOLDER_NONE):
            return tenant
        if validate(c.TENANT_ID, tenant, self._on_invalid) != tenant:
            return c.PLACEHOLDER_INVALID
        return tenant if self.admits(tenant) else c.PLACEHOLDER_OVERFLOW
