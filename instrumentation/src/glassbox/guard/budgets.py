"""Tenant budgets: USD limits per tenant and UTC calendar period, what each tenant spent, two gauges.

    GLASSBOX_BUDGETS_FILE=budgets.yaml

    # USD per tenant per UTC calendar day / month. "*" applies to every tenant not listed (each its own).
    tenants:
      acme: {day: 5.0, month: 100.0}
      _none: {day: 0.5}          # requests that named no tenant
      "*": {day: 1.0, month: 20.0}
    # Every tenant together: a client that invents a new tenant id per request still stops here.
    total: {day: 50.0, month: 1000.0}

Budgets also live in the shared state (``glassbox budgets set acme --day 5 --month 100``; ``glassbox budgets set
--total --day 50`` for every tenant together; audited), where they can change while the app runs. For a tenant,
the first of these that exists applies, whole: its entry in the state, its entry in the file, the state's
``"*"``, the file's ``"*"`` (a period an entry leaves out has no budget; ``"*"`` gives each unlisted tenant a
budget of its own). Requests with no tenant, an invalid one or one past the label cap are budgeted like any
tenant, under their placeholders (``_none``, ``_invalid``): nothing escapes a ``"*"`` budget by leaving the tenant
out. The total (the state's entry, else the file's) caps every tenant together, reserved in the same atomic step
as the tenant's budget.

The guard reserves each model call's estimated cost against these limits before the call and settles it with
the real cost after (glassbox.guard.core); spend is counted per tenant and UTC day in the shared state, so
every process sharing it (one host with the files state, every host with PostgreSQL) enforces one budget. Spend
is counted for every tenant, budget or not: a budget set during the day applies to what the tenant already spent
that day and month.
When a tenant's spend crosses 80%, 95% or 100% of a budget, one ``budget.threshold`` audit event is written,
by whichever process first marks the crossing in the state.

Each metric collection reports ``glassbox.budget.limit`` and ``glassbox.budget.spent`` (USD) with the labels
``glassbox.tenant.id``, ``glassbox.budget.period`` and ``glassbox.budget.scope`` (the state's scope: this
host's name, or ``shared``): every process of a scope reports the same figure, so dashboards take one value
per scope and add the scopes up. The total is reported under the tenant label ``*total``. Tenant labels go
through the same cardinality cap as the cost metric (``GLASSBOX_MAX_TENANTS``); a tenant with a budget of its own
always keeps its label.

A file that cannot be used (unreadable, not YAML, an unknown key, an amount that is not a number of USD
>= 0) is reported once at ERROR on the ``glassbox`` logger and the file's budgets are off: the app keeps
running. :func:`load_budgets` raises :class:`BudgetConfigError` instead, for callers that want to fail fast.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from glassbox import attribution, instruments, settings
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.audit.events import audit
from glassbox.state import EVERY_TENANT, TOTAL_BUDGET, SpendChange, day_of
from glassbox.version import __version__

DEFAULT_TENANT = EVERY_TENANT
_TOP_LEVEL_KEYS = ("tenants", "total")
_logger = logging.getLogger("glassbox")

Clock = Callable[[], datetime]


class BudgetConfigError(ValueError):
    """A budgets file that cannot be used. The message names the file and the problem."""


@dataclass(frozen=True)
class Budgets:
    """USD limits per tenant and period (``day``, ``month``); the ``"*"`` entry is for unlisted tenants, ``total``
    for every tenant together (empty: none)."""

    limits: Mapping[str, Mapping[str, float]]
    total: Mapping[str, float] = field(default_factory=dict)

    @property
    def listed(self) -> tuple[str, ...]:
        """The tenants named (not ``"*"``)."""
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
    limits = {tenant: _periods(f"tenants.{tenant}", periods) for tenant, periods in _tenants(tenants)}
    total = data.get("total")
    return Budgets(limits, _periods("total", total) if total is not None else {})


def _tenants(tenants: Mapping[Any, Any]) -> Iterable[tuple[str, Any]]:
    for tenant, periods in tenants.items():
        if not isinstance(tenant, str):
            raise ValueError(f"tenant {tenant!r} must be a string (quote it)")
        if tenant != DEFAULT_TENANT and attribution.validate(c.TENANT_ID, tenant) != tenant:
            raise ValueError(f"tenant {tenant!r} is not a valid tenant id (up to 64 of A-Z a-z 0-9 . _ : @ + -)")
        yield tenant, periods


def _periods(where: str, periods: Any) -> dict[str, float]:
    if not isinstance(periods, dict):
        raise ValueError(f"{where} must be a mapping like {{day: 5.0, month: 100.0}}, got {periods!r}")
    limits: dict[str, float] = {}
    for period, amount in periods.items():
        if period not in c.BUDGET_PERIODS:
            raise ValueError(f"{where}: unknown key {period!r} (allowed: {', '.join(c.BUDGET_PERIODS)})")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)):
            raise ValueError(f"{where}.{period} must be a number of USD, got {amount!r}")
        if not math.isfinite(amount) or amount < 0:
            raise ValueError(f"{where}.{period} must be a finite amount of USD >= 0, got {amount!r}")
        limits[period] = float(amount)
    return limits


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


def check_limits(tenant: str, limits: Mapping[str, Any]) -> dict[str, float]:
    """``limits`` for ``tenant`` (or TOTAL_BUDGET) validated as in a budgets file; ValueError saying what is wrong."""
    if tenant == TOTAL_BUDGET:
        return _periods("total", dict(limits))
    return dict(_parse({"tenants": {tenant: dict(limits)}}).limits[tenant])


def _utc_now() -> datetime:
    return datetime.now(UTC)


_lock = threading.Lock()
_file: Budgets | None = None
_configured = False
_registered = False
_clock: Clock = _utc_now
_reported: set[str] = set()


def install(budgets: Budgets | None, clock: Clock | None = None) -> None:
    """Use ``budgets`` as the file's budgets from now on (``None``: none); ``clock`` is for tests."""
    global _file, _configured, _clock
    with _lock:
        _file, _configured, _clock = budgets, True, clock or _utc_now
    _register()


def configure(path: str | Path | None = None) -> Budgets | None:
    """Load ``path`` (default: ``GLASSBOX_BUDGETS_FILE``); a bad file is logged once, its budgets off."""
    if path is None:
        path = settings.BUDGETS_FILE.get()
    budgets = None
    if path:
        try:
            budgets = load_budgets(path)
        except BudgetConfigError as exc:
            message = f"{exc}; the file's tenant budgets are off"
            with _lock:
                first = message not in _reported
                _reported.add(message)
            if first:
                _logger.error(message)
    install(budgets)
    return budgets


def ensure_configured() -> None:
    """:func:`configure` from the settings unless budgets were configured or installed already."""
    if not _configured:
        configure()


def current() -> Budgets | None:
    """The budgets of the file, if any."""
    return _file


def reset() -> None:
    """Forget the file's budgets: the next use loads GLASSBOX_BUDGETS_FILE again (for tests)."""
    global _file, _configured, _clock
    with _lock:
        _file, _configured, _clock = None, False, _utc_now


def today(now: datetime | None = None) -> str:
    """The UTC day (of ``now``, default the clock's time) that spend is booked to."""
    return day_of(now or _clock())


def limits_for(tenant: str) -> Mapping[str, float]:
    """The limits that apply to ``tenant`` (empty: none). The first that exists: its entry in the shared state,
    its entry in the file, the state's "*", the file's "*". A request that named no tenant is ``_none``."""
    if tenant == TOTAL_BUDGET:
        return {}
    tenant = tenant or c.PLACEHOLDER_NONE
    ensure_configured()
    kept = state_module.get().budgets()
    file = _file.limits if _file is not None else {}
    for source, key in ((kept, tenant), (file, tenant), (kept, DEFAULT_TENANT), (file, DEFAULT_TENANT)):
        found = source.get(key)
        if found is not None:
            return found
    return {}


def total_limits() -> Mapping[str, float] | None:
    """The budget of every tenant together: the state's entry, else the file's ``total``; None when neither."""
    ensure_configured()
    kept = state_module.get().budgets().get(TOTAL_BUDGET)
    if kept is not None:
        return kept
    return _file.total if _file is not None and _file.total else None


def listed() -> list[str]:
    """The tenants named in the file or in the state (not "*" nor the total), in that order."""
    names = [*(_file.listed if _file is not None else ()), *state_module.get().budgets()]
    return list(dict.fromkeys(name for name in names if name not in (DEFAULT_TENANT, TOTAL_BUDGET)))


def record_spend(tenant: str, usd: float, now: datetime | None = None) -> None:
    """Add ``usd`` to ``tenant``'s spend of the current UTC day (and month), budget or not (a budget set later
    counts it), and to the total's when it has a budget; write the thresholds it crossed. Raises
    StateUnavailable when the state cannot take it."""
    limits, total = limits_for(tenant), total_limits()
    if not math.isfinite(usd) or usd <= 0:
        return
    change = state_module.get().add_spend(tenant or c.PLACEHOLDER_NONE, usd, today(now), total=total is not None)
    crossed(change, limits, total)


def crossed(change: SpendChange, limits: Mapping[str, float], total: Mapping[str, float] | None = None) -> None:
    """An audit event for each threshold (80%, 95%, 100%) of ``limits`` that ``change`` crossed (and of ``total``
    that its total crossed), written once by whichever process marks it first in the shared state."""
    for each, each_limits in ((change, limits), (change.total, total or {})):
        if each is None:
            continue
        totals = each.totals()
        for period, limit in each_limits.items():
            before, after = totals[period]
            for ratio in c.BUDGET_ALERT_RATIOS:
                if limit > 0 and before < ratio * limit <= after:
                    key = each.day if period == c.BUDGET_PERIOD_DAY else each.day[:7]
                    if state_module.get().mark_threshold(each.tenant, period, key, ratio, limit):
                        _audit_threshold(each.tenant, period, ratio, limit, after)


def _audit_threshold(tenant: str, period: str, ratio: float, limit: float, spent: float) -> None:
    """An audit event when a tenant's spend reaches 80%, 95% or 100% of a budget; never raises."""
    try:
        audit("budget.threshold", actor={"type": "system", "id": "glassbox.budgets"},
              tenant=None if tenant == TOTAL_BUDGET else tenant,
              resource={"type": "budget", "id": f"{tenant}/{period}"}, reason=f"{round(ratio * 100)}%",
              after={"percent": round(ratio * 100), "spent_usd": round(spent, 6), "limit_usd": limit})  # fmt: skip
    except Exception:  # fail-closed audit refuses actions, not the accounting of a call already made
        instruments.get().count_dropped("logs", "budget_audit_error")


def _register() -> None:
    global _registered
    with _lock:
        if _registered:
            return
        _registered = True
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
        description="US dollars a tenant spent on model calls in the current period, in the state's scope.",
    )


def observe(now: datetime | None = None) -> list[tuple[str, str, float, float]]:
    """``(tenant, period, limit, spent)`` for each named tenant and each tenant with a budget that spent this
    month (at most GLASSBOX_MAX_TENANTS of them: the label cap, which a named tenant always passes), and the total
    (tenant ``*total``) when it has a budget."""
    day = today(now)
    spent = state_module.get().spend_by_tenant(day)
    tenants = instruments.get().tenants
    named = set(listed())
    rows = []
    for tenant in dict.fromkeys([*named, *(t for t in spent if t != TOTAL_BUDGET)]):
        if tenants.label(tenant) != tenant:
            continue  # past the label cap
        for period, limit in limits_for(tenant).items():
            usd = spent.get(tenant, {}).get(period, 0.0)
            if tenant in named or usd > 0:  # a tenant under "*" only while it spends in the period
                rows.append((tenant, period, limit, usd))
    for period, limit in (total_limits() or {}).items():
        rows.append((TOTAL_BUDGET, period, limit, spent.get(TOTAL_BUDGET, {}).get(period, 0.0)))
    return rows


def _observe(_options: CallbackOptions, limit: bool) -> Iterable[Observation]:
    if _file is None and not state_module.get().budgets():
        return []
    try:
        rows = observe()
    except Exception:  # never break the collection of other metrics
        instruments.get().count_dropped("metrics", "budget_callback_error")
        return []
    scope = state_module.get().scope
    return [
        Observation(amount if limit else usd, {c.TENANT_ID: tenant, c.BUDGET_PERIOD: period, c.BUDGET_SCOPE: scope})
        for tenant, period, amount, usd in rows
    ]
