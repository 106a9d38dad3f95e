"""The shared state's one interface: spend and budgets, the kill switch, per-request usage.

Two backends implement it: :mod:`glassbox.state.files` (the zero-setup default: SQLite and files, shared by the
processes of one host) and :mod:`glassbox.state.postgres` (``GLASSBOX_STATE_URL=postgresql://...``: one state
for every process on every host). The guard, the budgets and the audit trail talk to this interface only.

Every method either answers within ``GLASSBOX_STATE_TIMEOUT`` or raises :class:`StateUnavailable`; the caller
then follows ``GLASSBOX_STATE_FAILURE``. Money is USD as float; days are UTC (``YYYY-MM-DD``).
"""

from __future__ import annotations

import abc
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from glassbox import conventions as c

# A reservation not settled or released within this long (a process that died mid-call, a stream never read to
# its end) stops counting against the budget.
RESERVATION_SECONDS = 15 * 60
# Per-request usage is forgotten this long after the request's last model call.
REQUEST_USAGE_SECONDS = 24 * 3600
# Everywhere a tenant can be named, "*" stands for every tenant (the kill switch, the budgets).
EVERY_TENANT = "*"
# The budget that caps every tenant together (and its spend).
TOTAL_BUDGET = c.BUDGET_TOTAL_TENANT


class StateUnavailable(RuntimeError):
    """The shared state could not answer (unreachable, timed out, unusable); the message says why."""


class ChangeConflict(StateUnavailable):
    """A budget change lost a race with another one (its audit event's ``before`` is stale): read and try again."""


class BudgetExceeded(Exception):
    """A reservation refused: the period whose budget the call would cross, and the figures."""

    def __init__(self, tenant: str, period: str, used: float, limit: float, estimate: float) -> None:
        self.tenant, self.period, self.used, self.limit, self.estimate = tenant, period, used, limit, estimate
        whose, its = ("every tenant together", "the total") if tenant == TOTAL_BUDGET else (f"tenant {tenant}", "its")
        if used >= limit - 1e-9:  # sums of floats: 10 x 0.1 is just under 1
            text = f"{whose} has spent {its} {period} budget ({used:.6g} of {limit:.6g} USD spent or reserved)"
        else:
            text = (
                f"{whose} would exceed {its} {period} budget: {used:.6g} of {limit:.6g} USD spent or reserved, "
                f"this call is estimated at up to {estimate:.6g} USD"
            )
        super().__init__(text)

    @property
    def total(self) -> bool:
        """Whether the budget of every tenant together refused it (not the tenant's own)."""
        return self.tenant == TOTAL_BUDGET


@dataclass
class Reservation:
    """USD held against a tenant's budget for one model call, until the call's real cost settles it."""

    tenant: str
    day: str
    usd: float
    # The backend's handle of it (a row id).
    handle: Any
    # Whether it also holds ``usd`` against the budget of every tenant together (TOTAL_BUDGET).
    total: bool = False
    # The model-call span that took it over settles it when it ends (see glassbox.guard).
    claimed: bool = False
    done: bool = False


@dataclass(frozen=True)
class SpendChange:
    """A tenant's spend of the day and of the month, before and after one addition."""

    tenant: str
    day: str
    day_before: float
    day_after: float
    month_before: float
    month_after: float
    # The same addition to the spend of every tenant together, when it was booked there too.
    total: SpendChange | None = None

    def totals(self) -> dict[str, tuple[float, float]]:
        return {
            c.BUDGET_PERIOD_DAY: (self.day_before, self.day_after),
            c.BUDGET_PERIOD_MONTH: (self.month_before, self.month_after),
        }


@dataclass(frozen=True)
class KillSwitch:
    """A kill switch that is on: for every tenant (``tenant`` is None) or one."""

    tenant: str | None
    reason: str | None
    actor: str | None
    since: str


@dataclass(frozen=True)
class RequestLimits:
    """Per-request limits (0: none)."""

    calls: int = 0
    usd: float = 0.0
    tokens: int = 0
    seconds: float = 0.0

    @property
    def any(self) -> bool:
        return bool(self.calls or self.usd or self.tokens or self.seconds)

    @property
    def on_spend(self) -> bool:
        """Whether the calls' cost or tokens must be added up."""
        return bool(self.usd or self.tokens)


@dataclass(frozen=True)
class RequestUsage:
    calls: int
    usd: float
    tokens: int
    started: float  # wall-clock seconds when the request arrived (its earliest arrival on any host)

    def refusal(self, request_id: str, limits: RequestLimits, now: float) -> tuple[str, str] | None:
        """(reason, sentence) when the next model call of this request must not be made."""
        if limits.calls and self.calls >= limits.calls:
            return "request_calls", f"request {request_id} made its {limits.calls} model calls"
        if limits.usd and self.usd >= limits.usd:
            return "request_usd", f"request {request_id} spent its {limits.usd} USD"
        if limits.tokens and self.tokens >= limits.tokens:
            return "request_tokens", f"request {request_id} used its {limits.tokens} tokens"
        if limits.seconds and now - self.started >= limits.seconds:
            return "request_time", f"request {request_id} ran past its {limits.seconds} s"
        return None


def limits_of(day: float | None, month: float | None) -> dict[str, float]:
    """A budget entry from its stored day and month USD (None: no limit for that period)."""
    limits = {c.BUDGET_PERIOD_DAY: day, c.BUDGET_PERIOD_MONTH: month}
    return {period: float(usd) for period, usd in limits.items() if usd is not None}


def day_of(now: datetime) -> str:
    """The UTC day of ``now`` (a naive ``now`` is taken as UTC)."""
    utc = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    return utc.date().isoformat()


def month_bounds(day: str) -> tuple[str, str]:
    """The first day of ``day``'s month and the first day of the next month."""
    first = date.fromisoformat(day).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.isoformat(), following.isoformat()


def host_name(environ: Mapping[str, str]) -> str:
    """This host's name: ``host.name`` from OTEL_RESOURCE_ATTRIBUTES when set there, else the system's."""
    for item in environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == c.HOST_NAME and value.strip():
            return value.strip()
    return socket.gethostname()


class State(abc.ABC):
    """What the processes of a deployment share. Thread-safe; a forked child opens its own connections."""

    # "files" or "postgresql".
    backend: str
    # Whether its operations cross a network (an async caller then runs them off its event loop).
    remote: bool = False
    # Who shares this state's spend: the host's name (files) or "shared" (PostgreSQL); the budget gauges carry
    # it, so dashboards add up one value per scope and never multiply a shared figure by the number of hosts.
    scope: str

    # ------------------------------------------------------------------ kill switch
    @abc.abstractmethod
    def kill_switch(self, tenant: str | None) -> tuple[KillSwitch | None, bool]:
        """The switch that stops ``tenant``'s calls (the global one first), from what this process knows, and
        whether that knowledge is current (False: the state cannot be reached and this is the last state seen).
        Never does I/O that can block: the hot path calls it before every model call."""

    # Whether a kill-switch or budget change is chained into the audit trail by the state itself, in the change's
    # own transaction (PostgreSQL): the caller then passes the change's success event and gets its record back.
    audits_changes: bool = False

    @abc.abstractmethod
    def set_kill_switch(
        self,
        on: bool,
        tenant: str | None,
        reason: str | None,
        actor: str | None,
        event: dict[str, Any] | None = None,
    ) -> None:
        """Turn the switch for ``tenant`` (None: every tenant) on or off, for every process sharing the state. Where
        :attr:`audits_changes`, ``event`` is the change's success audit event: chained with the change, in its
        transaction, and completed with its chain fields (``seq``, ``prev``, ``hash``)."""

    @abc.abstractmethod
    def kill_switches(self) -> list[KillSwitch]:
        """Every switch that is on, read from the state itself."""

    # ------------------------------------------------------------------ budgets kept in the state
    @abc.abstractmethod
    def budgets(self) -> dict[str, dict[str, float]]:
        """Budgets set in the state (``glassbox budgets set``): tenant (or "*") -> period -> USD."""

    @abc.abstractmethod
    def set_budget(
        self, tenant: str, limits: Mapping[str, float] | None, event: dict[str, Any] | None = None
    ) -> dict[str, float] | None:
        """Set ``tenant``'s budgets (None: remove its entry); returns the entry it had before. Where
        :attr:`audits_changes`, ``event`` is the change's success audit event (its ``before`` the entry as read just
        before): chained with the change and completed with its chain fields; :class:`ChangeConflict` when the
        entry changed meanwhile."""

    # ------------------------------------------------------------------ spend
    @abc.abstractmethod
    def reserve(
        self,
        tenant: str,
        limits: Mapping[str, float],
        usd: float,
        day: str,
        total: Mapping[str, float] | None = None,
    ) -> Reservation:
        """Hold ``usd`` against ``tenant``'s ``limits`` and, when ``total`` is given, against the budget of every tenant
        together, atomically: raises :class:`BudgetExceeded` (its tenant TOTAL_BUDGET for the total) when a day or
        month spend plus what is reserved is already at a limit, or would go past it with ``usd``."""

    @abc.abstractmethod
    def settle(self, reservation: Reservation, usd: float) -> SpendChange:
        """Replace the reservation by the call's real cost ``usd`` (0 releases it), in the total too when it held it."""

    @abc.abstractmethod
    def add_spend(self, tenant: str, usd: float, day: str, total: bool = False) -> SpendChange:
        """Add the cost of a call made without a reservation (to the total too when ``total``)."""

    @abc.abstractmethod
    def mark_threshold(self, tenant: str, period: str, period_key: str, ratio: float, limit: float) -> bool:
        """Whether this is the first time anyone marks ``tenant`` crossing ``ratio`` of ``limit`` in that period."""

    @abc.abstractmethod
    def spent(self, tenant: str, day: str) -> dict[str, float]:
        """USD ``tenant`` spent in the day and in the month of ``day`` (settled calls only)."""

    @abc.abstractmethod
    def spend_by_tenant(self, day: str) -> dict[str, dict[str, float]]:
        """USD spent per tenant in the day and the month of ``day``, for every tenant that spent this month."""

    # ------------------------------------------------------------------ per-request usage
    @abc.abstractmethod
    def count_request_call(
        self, request_id: str, limits: RequestLimits, arrived: float, now: float
    ) -> tuple[str, str] | None:
        """Count one more model call of ``request_id`` unless a limit refuses it: (reason, sentence) then."""

    @abc.abstractmethod
    def add_request_spend(self, request_id: str, usd: float, tokens: int) -> None:
        """Add a call's cost and tokens to its request's usage."""

    # ------------------------------------------------------------------ who obeys it
    # At most how long a watching process takes to obey a change of the kill switch, in seconds.
    obeyed_within: float = 1.0

    @property
    def location(self) -> str:
        """Where this state is, for an operator: absolute paths, or the database's URL with its password masked."""
        return self.backend

    def watch(self) -> None:  # noqa: B027 (a hook: a state that cannot count watchers has nothing to do)
        """Count this process, from now until it exits, among the processes whose guard obeys this state
        (:meth:`watchers`)."""

    def watchers(self) -> list[str]:
        """The processes whose guard obeys this state now, one description each (what an operator's command
        reports after a change: a change nobody watches stops nothing)."""
        return []

    # ------------------------------------------------------------------ lifecycle
    def healthy(self) -> bool:
        """Whether the last exchange with the state worked (for the ``glassbox.state.connected`` gauge)."""
        return True

    def close(self) -> None:  # noqa: B027 (a hook: the files state holds nothing to release)
        """Release connections and threads."""
