"""Tenant budgets: USD limits per tenant and UTC calendar period, and what each tenant spent, as two gauges.

    GLASSBOX_BUDGETS_FILE=budgets.yaml

    # USD per tenant per UTC calendar day / month. "*" applies to every tenant not listed.
    tenants:
      acme: {day: 5.0, month: 100.0}
      "*": {day: 1.0, month: 20.0}

Every priced model call adds its cost to the calling tenant's spend of the current UTC day and month (the
span processor calls :func:`record_spend`), and each metric collection reports ``glassbox.budget.limit`` and
``glassbox.budget.spent`` (USD) with the labels ``glassbox.tenant.id`` and ``glassbox.budget.period``, so
dashboards and alert rules can divide one by the other. A listed tenant's entry replaces ``"*"`` entirely:
a period it leaves out has no budget. ``"*"`` gives each unlisted tenant a budget of its own.

Spend is shared by every process on a host through one SQLite file (``GLASSBOX_BUDGETS_STATE``; empty:
counted per process), so the gauges of all instances on a host report the host's spend, labelled with
``host.name``: dashboards take the largest value per host and add the hosts up. Each host enforces its
budgets on its own spend (glassbox.guard refuses the calls of a tenant that has spent its budget): across
hosts, give each host its share of a tenant's budget. Tenant labels go through the same
cardinality cap as the cost metric (``GLASSBOX_MAX_TENANTS``), so they match its ``glassbox.tenant.id``
values; the ``_none``, ``_invalid`` and ``_other`` placeholders are not tenants and are not tracked.

A file that cannot be used (unreadable, not YAML, an unknown key, an amount that is not a number of USD
>= 0) is reported once at ERROR on the ``glassbox`` logger and budgets are off: the app keeps running.
:func:`load_budgets` raises :class:`BudgetConfigError` instead, for callers that want to fail fast.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from glassbox import attribution, instruments, settings
from glassbox import conventions as c
from glassbox.version import __version__

DEFAULT_TENANT = "*"
# Spend is shared per host: the gauges say which host, so dashboards take one value per host and add hosts up.
HOST = socket.gethostname()
_TOP_LEVEL_KEYS = ("tenants",)
_NOT_TENANTS = frozenset({c.PLACEHOLDER_NONE, c.PLACEHOLDER_INVALID, c.PLACEHOLDER_OVERFLOW})
_logger = logging.getLogger("glassbox")

Clock = Callable[[], datetime]


class BudgetConfigError(ValueError):
    """A budgets file that cannot be used. The message names the file and the problem."""


@dataclass(frozen=True)
class Budgets:
    """USD limits per tenant and period (``day``, ``month``); the ``"*"`` entry is for unlisted tenants."""

    limits: Mapping[str, Mapping[str, float]]

    @property
    def listed(self) -> tuple[str, ...]:
        """The tenants named in the file (not ``"*"``)."""
        return tuple(tenant for tenant in self.limits if tenant != DEFAULT_TENANT)

    def for_tenant(self, tenant: str) -> Mapping[str, float]:
        """The limits that apply to ``tenant``: its own entry, else ``"*"``'s, else none (empty)."""
        own = self.limits.get(tenant)
        if own is not None:
            return own
        return self.limits.get(DEFAULT_TENANT, {})


def _parse(data: Any) -> Budgets:
    """The budgets in parsed YAML, or ``ValueError`` saying what is wrong (without the file name)."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a mapping with the key 'tenants', got {type(data).__name__}")
    unknown = [key for key in data if key not in _TOP_LEVEL_KEYS]
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (allowed: {', '.join(_TOP_LEVEL_KEYS)})")
    tenants = data.get("tenants")
    if tenants is None:
        tenants = {}
    if not isinstance(tenants, dict):
        raise ValueError(f"'tenants' must be a mapping of tenant to limits, got {type(tenants).__name__}")
    limits: dict[str, dict[str, float]] = {}
    for tenant, periods in tenants.items():
        if not isinstance(tenant, str):
            raise ValueError(f"tenant {tenant!r} must be a string (quote it)")
        if tenant != DEFAULT_TENANT and attribution.validate(c.TENANT_ID, tenant) != tenant:
            raise ValueError(f"tenant {tenant!r} is not a valid tenant id (up to 64 of A-Z a-z 0-9 . _ : @ + -)")
        where = f"tenants.{tenant}"
        if not isinstance(periods, dict):
            raise ValueError(f"{where} must be a mapping like {{day: 5.0, month: 100.0}}, got {periods!r}")
        limits[tenant] = {}
        for period, amount in periods.items():
            if period not in c.BUDGET_PERIODS:
                raise ValueError(f"{where}: unknown key {period!r} (allowed: {', '.join(c.BUDGET_PERIODS)})")
            if isinstance(amount, bool) or not isinstance(amount, (int, float)):
                raise ValueError(f"{where}.{period} must be a number of USD, got {amount!r}")
            if not math.isfinite(amount) or amount < 0:
                raise ValueError(f"{where}.{period} must be a finite amount of USD >= 0, got {amount!r}")
            limits[tenant][period] = float(amount)
    return Budgets(limits)


def load_budgets(path: str | Path) -> Budgets:
    """Read and validate a budgets file; :class:`BudgetConfigError` names the file and the problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BudgetConfigError(f"budgets file {path}: cannot be read: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise BudgetConfigError(f"budgets file {path}: not valid YAML: {exc}") from exc
    try:
        return _parse(data)
    except ValueError as exc:
        raise BudgetConfigError(f"budgets file {path}: {exc}") from exc


def _period_keys(now: datetime) -> dict[str, str]:
    """The current day and month of ``now`` in UTC (a naive ``now`` is taken as UTC)."""
    utc = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    month = f"{utc.year:04d}-{utc.month:02d}"
    return {c.BUDGET_PERIOD_DAY: f"{month}-{utc.day:02d}", c.BUDGET_PERIOD_MONTH: month}


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BudgetTracker:
    """In-process spend per tenant label and period, against one :class:`Budgets`. Thread-safe."""

    def __init__(self, budgets: Budgets, clock: Clock | None = None, store: Path | None = None) -> None:
        self.budgets = budgets
        self._clock = clock or _utc_now
        self._lock = threading.Lock()
        # tenant label -> period -> (period key such as "2026-11-22" or "2026-11", USD spent in it)
        self._spent: dict[str, dict[str, tuple[str, float]]] = {}
        # With a store, spend lives in one SQLite file every process on the host adds to and reads.
        self.store = store
        self._connection: sqlite3.Connection | None = None
        self._connection_pid = 0

    def _db(self) -> sqlite3.Connection:
        """The store's connection for this process (a forked worker opens its own)."""
        if self._connection is None or self._connection_pid != os.getpid():
            assert self.store is not None
            self.store.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.store, timeout=5, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS spend (tenant TEXT, period TEXT, key TEXT, usd REAL NOT NULL, "
                "PRIMARY KEY (tenant, period, key))"
            )
            self._connection, self._connection_pid = connection, os.getpid()
        return self._connection

    def _load(self, keys: Mapping[str, str]) -> dict[str, dict[str, tuple[str, float]]]:
        """Spend of the current periods, from the store."""
        rows = (
            self._db()
            .execute(
                "SELECT tenant, period, key, usd FROM spend WHERE (period = 'day' AND key = ?) OR "
                "(period = 'month' AND key = ?)",
                (keys[c.BUDGET_PERIOD_DAY], keys[c.BUDGET_PERIOD_MONTH]),
            )
            .fetchall()
        )
        spent: dict[str, dict[str, tuple[str, float]]] = {}
        for tenant, period, key, usd in rows:
            spent.setdefault(tenant, {})[period] = (key, float(usd))
        return spent

    def record(self, tenant: str, usd: float, now: datetime | None = None) -> list[tuple[str, float, float, float]]:
        """Add ``usd`` to the spend of ``tenant`` (a metric label value) in the periods it has a limit for.

        Returns the thresholds (``c.BUDGET_ALERT_RATIOS``) this spend crossed: ``(period, ratio, limit, spent)``.
        With a shared store exactly one process sees each crossing: the one whose addition crossed it.
        """
        limits = self.budgets.for_tenant(tenant)
        if not limits or tenant in _NOT_TENANTS or not math.isfinite(usd) or usd <= 0:
            return []
        keys = _period_keys(now or self._clock())
        totals: dict[str, float] = {}
        with self._lock:
            if self.store is not None:
                for period in limits:
                    (total,) = (
                        self._db()
                        .execute(
                            "INSERT INTO spend VALUES (?, ?, ?, ?) ON CONFLICT (tenant, period, key) "
                            "DO UPDATE SET usd = usd + excluded.usd RETURNING usd",
                            (tenant, period, keys[period], usd),
                        )
                        .fetchone()
                    )
                    totals[period] = float(total)
            else:
                spent = self._spent.setdefault(tenant, {})
                for period in limits:
                    key = keys[period]
                    previous_key, total = spent.get(period, (key, 0.0))
                    if key < previous_key:
                        continue  # late spend for a period that is over
                    spent[period] = (key, (total if key == previous_key else 0.0) + usd)
                    totals[period] = spent[period][1]
        crossed = []
        for period, after in totals.items():
            limit = limits[period]
            for ratio in c.BUDGET_ALERT_RATIOS:
                if limit > 0 and after - usd < ratio * limit <= after:
                    crossed.append((period, ratio, limit, after))
        return crossed

    def spent(self, tenant: str, now: datetime | None = None) -> dict[str, float]:
        """What ``tenant`` spent in each current period it spent anything in (one tenant, not all of them:
        the guard asks before every model call)."""
        keys = _period_keys(now or self._clock())
        with self._lock:
            if self.store is not None:
                rows = (
                    self._db()
                    .execute(
                        "SELECT period, usd FROM spend WHERE tenant = ? AND ((period = 'day' AND key = ?) OR "
                        "(period = 'month' AND key = ?))",
                        (tenant, keys[c.BUDGET_PERIOD_DAY], keys[c.BUDGET_PERIOD_MONTH]),
                    )
                    .fetchall()
                )
                return {period: float(usd) for period, usd in rows}
            periods = self._spent.get(tenant, {})
            return {period: usd for period, (key, usd) in periods.items() if key == keys[period]}

    def observe(self, now: datetime | None = None) -> list[tuple[str, str, float, float]]:
        """``(tenant, period, limit, spent)`` for each listed tenant and each tenant that spent this period."""
        keys = _period_keys(now or self._clock())
        with self._lock:
            if self.store is not None:
                spent = self._load(keys)
            else:
                spent = {tenant: dict(periods) for tenant, periods in self._spent.items()}
        rows = []
        for tenant in (*self.budgets.listed, *(t for t in spent if t not in self.budgets.limits)):
            listed = tenant in self.budgets.limits
            for period, limit in self.budgets.for_tenant(tenant).items():
                key, usd = spent.get(tenant, {}).get(period, ("", 0.0))
                if key != keys[period]:
                    if not listed:
                        continue
                    usd = 0.0
                rows.append((tenant, period, limit, usd))
        return rows


_lock = threading.RLock()
_tracker: BudgetTracker | None = None
_configured = False
_registered = False
_reported: set[str] = set()


def install(budgets: Budgets | None, clock: Clock | None = None, store: Path | None = None) -> None:
    """Report ``budgets`` from now on (``None``: report nothing). ``store``: the host's shared spend file
    (None: spend in this process only). ``clock`` is for tests."""
    global _tracker, _configured
    with _lock:
        _tracker = None if budgets is None else BudgetTracker(budgets, clock, store)
        _configured = True
        if budgets is not None:
            _register()


def current() -> Budgets | None:
    """The budgets being reported, if any."""
    tracker = _tracker
    return None if tracker is None else tracker.budgets


def configure(path: str | Path | None = None) -> Budgets | None:
    """Load ``path`` (default: ``GLASSBOX_BUDGETS_FILE``) and report it; a bad file is logged, budgets off."""
    if path is None:
        path = str(settings.get("GLASSBOX_BUDGETS_FILE"))
    budgets = None
    if path:
        try:
            budgets = load_budgets(path)
        except BudgetConfigError as exc:
            message = f"{exc}; tenant budgets are off"
            with _lock:
                first = message not in _reported
                _reported.add(message)
            if first:
                _logger.error(message)
    state = str(settings.get("GLASSBOX_BUDGETS_STATE"))
    install(budgets, store=Path(state) if state else None)
    return budgets


def ensure_configured() -> None:
    """:func:`configure` from the environment unless budgets were already configured or installed."""
    if _configured:
        return
    with _lock:
        if not _configured:
            configure()


def record_spend(tenant: str, usd: float, now: datetime | None = None) -> None:
    """Add ``usd`` to ``tenant``'s spend of the current UTC day and month (``now``: default the clock's time).

    Tenants without a budget (not listed, and no ``"*"``) are not tracked. The tenant goes through the
    tenant label cap, so an already-mapped label (as on the cost metric) stays as it is.
    """
    if not _configured:
        ensure_configured()
    tracker = _tracker
    if tracker is None or not tracker.budgets.for_tenant(tenant):
        return
    label = instruments.get().tenants.label(tenant)
    for period, ratio, limit, spent in tracker.record(label, usd, now):
        _audit_threshold(label, period, ratio, limit, spent)


def _audit_threshold(tenant: str, period: str, ratio: float, limit: float, spent: float) -> None:
    """An audit event when a tenant's spend reaches 80%, 95% or 100% of a budget; never raises."""
    from glassbox.audit_events import audit

    try:
        audit("budget.threshold", actor={"type": "system", "id": "glassbox.budgets"}, tenant=tenant,
              resource={"type": "budget", "id": f"{tenant}/{period}"}, reason=f"{round(ratio * 100)}%",
              after={"percent": round(ratio * 100), "spent_usd": round(spent, 6), "limit_usd": limit})  # fmt: skip
    except Exception:  # fail-closed audit refuses actions, not the accounting of a call already made
        instruments.get().count_dropped("logs", "budget_audit_error")


def _register() -> None:
    global _registered
    if _registered:
        return
    meter = metrics.get_meter("glassbox", __version__)
    meter.create_observable_gauge(
        c.METRIC_BUDGET_LIMIT,
        callbacks=[lambda options: _observe(options, limit=True)],
        unit=c.UNIT_USD,
        description="Tenant budget in US dollars for the period (UTC day or month).",
    )
    meter.create_observable_gauge(
        c.METRIC_BUDGET_SPENT,
        callbacks=[lambda options: _observe(options, limit=False)],
        unit=c.UNIT_USD,
        description="US dollars a tenant spent on model calls in the current period, on this host.",
    )
    _registered = True


def _observe(_options: CallbackOptions, limit: bool) -> Iterable[Observation]:
    tracker = _tracker
    if tracker is None:
        return []
    try:
        rows = tracker.observe()
    except Exception:  # never break the collection of other metrics
        instruments.get().count_dropped("metrics", "budget_callback_error")
        return []
    return [
        Observation(amount if limit else usd, {c.TENANT_ID: tenant, c.BUDGET_PERIOD: period, c.HOST_NAME: HOST})
        for tenant, period, amount, usd in rows
    ]


def exhausted(
    tenant_label: str, now: datetime | None = None, estimate: Callable[[], float] | None = None
) -> tuple[str, str] | None:
    """The period (``day`` or ``month``) whose budget ``tenant_label`` has spent, or that the next call would
    exceed (``estimate()``: its least expected cost in USD, asked only when the tenant has a budget), with a
    sentence saying so; None when the call may go on. No spend yet counts as 0."""
    tracker = _tracker
    if tracker is None:
        return None
    limits = tracker.budgets.for_tenant(tenant_label)
    if not limits:
        return None
    spent = tracker.spent(tenant_label, now)
    cost = estimate() if estimate is not None else 0.0
    for period, limit in limits.items():
        usd = spent.get(period, 0.0)
        if usd >= limit:
            return period, f"tenant {tenant_label} has spent its {period} budget ({usd:.6g} of {limit:.6g} USD)"
        if usd + cost > limit:
            return period, (
                f"tenant {tenant_label} would exceed its {period} budget: {usd:.6g} of {limit:.6g} USD spent, "
                f"this call's input alone is estimated at {cost:.6g} USD"
            )
    return None
