"""The fleet state: one PostgreSQL database shared by every process on every host (``GLASSBOX_STATE_URL``).

* **Bounded.** Every call goes through :meth:`glassbox.db.Database.call`: a worker thread runs it on a pooled
  connection (psycopg 3 + psycopg-pool) while the caller waits at most ``GLASSBOX_STATE_TIMEOUT``. A failure or a
  timeout raises :class:`StateUnavailable` and opens a short breaker, during which calls fail at once instead of
  each waiting out the timeout; the guard then follows ``GLASSBOX_STATE_FAILURE``. A connection the server closed
  (a restart) is retried once on a fresh one.
* **Spend** is one row per tenant and UTC day. A reservation is one statement: the UPDATE holds the day row and
  only succeeds while the day's and the month's spend plus what is reserved stay within the limits, and the
  reservation row is inserted from its result, so two hosts can never both take the last dollar. A reservation
  expires after ``RESERVATION_SECONDS`` (a process that died mid-call).
* **The kill switch and the budgets** are read by a listener thread on its own connection: ``LISTEN
  glassbox_state``, then the current state, then every change as it is notified (a change is written and
  notified in one transaction, so every process sees it within milliseconds). The thread re-reads both every
  ``HEARTBEAT_SECONDS``, which also notices a dead connection; while it cannot connect, the hot path is told
  its view is not current. In a process whose guard obeys the state (:meth:`PostgresState.watch`) that
  connection's ``application_name`` is ``WATCHER_APPLICATION``, which every role may read in
  ``pg_stat_activity``: :meth:`PostgresState.watchers` counts those connections, so an operator's command can say
  how many processes will obey a change.
* **Per-request usage** is one row per request id, counted and checked in one statement on every host.
* **Durability where it matters.** Spend, reservations and request usage commit asynchronously (a database
  crash can lose their last fraction of a second); the kill switch, budgets and the audit chain wait for the
  WAL flush.
* **Least privilege.** Every change goes through a SECURITY DEFINER function of the schema (glassbox.db.schema),
  so the app's role needs EXECUTE on them and SELECT, nothing else; a kill-switch or budget change is chained
  into the audit trail by the function that makes it. Apps never migrate: a schema older than this glassbox knows
  is reported (``glassbox state migrate`` with the admin URL brings it up to date), and an app whose role is a
  superuser or owns the glassbox tables is told, once, that the audit trail does not hold against it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors

from glassbox import conventions as c
from glassbox.db import (
    Database,
    DatabaseUnavailable,
    Marks,
    RoleCheck,
    SchemaTooNew,
    SchemaTooOld,
    arguments,
    check_role,
    check_schema,
    describe,
    schema,
)
from glassbox.db.rows import EVENT_PLACEHOLDERS
from glassbox.state.base import (
    EVERY_TENANT,
    REQUEST_USAGE_SECONDS,
    RESERVATION_SECONDS,
    TOTAL_BUDGET,
    BudgetExceeded,
    ChangeConflict,
    KillSwitch,
    RequestLimits,
    RequestUsage,
    Reservation,
    SpendChange,
    State,
    StateUnavailable,
    limits_of,
    month_bounds,
)

T = TypeVar("T")
_logger = logging.getLogger("glassbox")

HEARTBEAT_SECONDS = 2.0
# The application_name of the listener of a process whose guard obeys the state.
WATCHER_APPLICATION = "glassbox-watcher"
MAINTENANCE_SECONDS = 60.0


def _complete(event: dict[str, Any], row: Any) -> None:
    """Give ``event`` the chain fields of the record the database made of it."""
    record = json.loads(row[0]) if row and row[0] else {}
    event.update({key: record[key] for key in ("seq", "prev", "hash") if key in record})


def _day(day: str) -> date:
    return date.fromisoformat(day)


class PostgresState(State):
    backend = "postgresql"
    remote = True
    scope = c.BUDGET_SCOPE_SHARED
    audits_changes = True
    obeyed_within = HEARTBEAT_SECONDS  # the listener is notified within milliseconds; it re-reads at the latest then

    def __init__(
        self, database: Database, on_change: Callable[[str], None] | None = None, watching: bool = False
    ) -> None:
        self.db = database
        self._watching = threading.Event()
        if watching:
            self._watching.set()
        self.on_change = on_change or (lambda what: None)
        self._switches: dict[str | None, KillSwitch] = {}
        self._budgets: dict[str, dict[str, float]] = {}
        self._listening = threading.Event()  # set while the listener is connected and has read the state
        self._first_attempt = threading.Event()  # set once the listener has connected, or failed to
        self._stopping = threading.Event()
        self.role: RoleCheck | None = None
        self._role_reported = False
        self.connect_error = ""
        self._listener = threading.Thread(target=self._listen, name="glassbox-state-listener", daemon=True)
        self._listener.start()

    def wait_until_current(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the first attempt to read the state (it may fail at once: a wrong password);
        whether the state is current."""
        self._first_attempt.wait(timeout)
        return self._listening.is_set()

    def _call(self, name: str, operation: Callable[[psycopg.Connection[Any]], T], timeout: float | None = None) -> T:
        """``operation`` through the database's bounded call; its unavailability is the state's."""
        try:
            return self.db.call(name, operation, timeout)
        except DatabaseUnavailable as error:
            raise StateUnavailable(str(error)) from error

    # ------------------------------------------------------------------ the listener
    def _check_role(self, connection: psycopg.Connection[Any]) -> None:
        """Tell the operator, once per process, when this app's role could undo what the schema guarantees."""
        self.role = check_role(connection)
        if self.role.privileged and not self._role_reported:
            self._role_reported = True
            _logger.error("glassbox: %s", self.role.problem())

    def _read_switches(self, connection: psycopg.Connection[Any]) -> None:
        rows = connection.execute("SELECT tenant, reason, actor, since FROM glassbox.kill_switch").fetchall()
        self._switches = {
            (None if tenant == EVERY_TENANT else tenant): KillSwitch(
                None if tenant == EVERY_TENANT else tenant, reason, actor, since.isoformat(timespec="seconds")
            )
            for tenant, reason, actor, since in rows
        }

    def _read_budgets(self, connection: psycopg.Connection[Any]) -> None:
        rows = connection.execute("SELECT tenant, day_usd, month_usd FROM glassbox.budgets").fetchall()
        budgets = {tenant: limits_of(day, month) for tenant, day, month in rows}
        changed = budgets != self._budgets
        self._budgets = budgets
        if changed:
            self.on_change(schema.CHANGED_BUDGETS)

    def _maintain(self, connection: psycopg.Connection[Any]) -> None:
        """Release expired reservations and forget old per-request usage (any process may do it)."""
        connection.execute("SELECT glassbox.state_maintain(%s, %s)", (float(REQUEST_USAGE_SECONDS), TOTAL_BUDGET))

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                with self.db.connect() as connection:
                    check_schema(connection)
                    self._check_role(connection)
                    named = self._name(connection)
                    connection.execute(f"LISTEN {schema.CHANNEL}")
                    self._read_switches(connection)
                    self._read_budgets(connection)
                    self._listening.set()
                    self._first_attempt.set()
                    self.connect_error, backoff = "", 0.5
                    last_maintenance = last_read = time.monotonic()
                    while not self._stopping.is_set():
                        # No query may run on the connection inside notifies(): take one notice (or none), then read.
                        changed = {n.payload for n in connection.notifies(timeout=HEARTBEAT_SECONDS, stop_after=1)}
                        named = named or self._name(connection)
                        if not changed or time.monotonic() - last_read >= HEARTBEAT_SECONDS:
                            changed = {schema.CHANGED_KILL_SWITCH, schema.CHANGED_BUDGETS}  # the heartbeat
                            last_read = time.monotonic()
                        if schema.CHANGED_KILL_SWITCH in changed:
                            self._read_switches(connection)
                        if schema.CHANGED_BUDGETS in changed:
                            self._read_budgets(connection)
                        if time.monotonic() - last_maintenance >= MAINTENANCE_SECONDS:
                            last_maintenance = time.monotonic()
                            self._maintain(connection)
            except Exception as error:
                self._listening.clear()
                if self._stopping.is_set():
                    return
                if isinstance(error, SchemaTooNew):
                    self.db.refusal = str(error)  # its tables may mean something else now: use none of them
                message = str(error) if isinstance(error, (SchemaTooNew, SchemaTooOld)) else describe(error)
                if message != self.connect_error:
                    self.connect_error = message
                    self.db.on_failure("connect")
                    _logger.error(
                        "glassbox: the shared state %s cannot be used: %s; AI calls follow GLASSBOX_STATE_FAILURE "
                        "until it can (retrying)",
                        self.db.safe_url,
                        message,
                    )
                self._first_attempt.set()
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _name(self, connection: psycopg.Connection[Any]) -> bool:
        """Name the listener's connection a watcher's once this process watches; whether it is named."""
        if not self._watching.is_set():
            return False
        connection.execute("SELECT set_config('application_name', %s, false)", (WATCHER_APPLICATION,))
        return True

    # ------------------------------------------------------------------ who obeys it
    @property
    def location(self) -> str:
        return f"database {self.db.safe_url}"

    def watch(self) -> None:
        """The listener names its connection a watcher's (at once when it connects, else within
        HEARTBEAT_SECONDS)."""
        self._watching.set()

    def watchers(self) -> list[str]:
        """The listeners of watching processes connected to this database now (from pg_stat_activity, whose
        application_name and pid every role may read)."""

        def operation(connection: psycopg.Connection[Any]) -> list[str]:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = %s "
                "ORDER BY pid",
                (WATCHER_APPLICATION,),
            ).fetchall()
            return [f"server process {pid}" for (pid,) in rows]

        return self._call("watchers", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ kill switch
    def kill_switch(self, tenant: str | None) -> tuple[KillSwitch | None, bool]:
        switches = self._switches
        found = switches.get(None) or (switches.get(tenant) if tenant else None)
        return found, self._listening.is_set()

    def set_kill_switch(
        self,
        on: bool,
        tenant: str | None,
        reason: str | None,
        actor: str | None,
        event: dict[str, Any] | None = None,
    ) -> None:
        key = EVERY_TENANT if tenant in (None, EVERY_TENANT) else str(tenant)
        if event is None:
            raise ValueError("the kill switch changes with its audit event (State.audits_changes)")
        marks = Marks.new()

        def operation(connection: psycopg.Connection[Any]) -> None:
            row = connection.execute(
                "SELECT glassbox.kill_switch_change(%s, %s, %s, %s, " + EVENT_PLACEHOLDERS + ")",
                (on, key, reason, actor, *arguments(event, marks)),
            ).fetchone()
            _complete(event, row)
            self._read_switches(connection)  # this process obeys at once

        self._call("kill_switch_set", operation, timeout=max(self.db.timeout, 5.0))

    def kill_switches(self) -> list[KillSwitch]:
        def operation(connection: psycopg.Connection[Any]) -> list[KillSwitch]:
            self._read_switches(connection)
            return list(self._switches.values())

        return self._call("kill_switch_read", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ budgets
    def budgets(self) -> dict[str, dict[str, float]]:
        return self._budgets  # replaced whole on every read, never changed in place: no copy per model call

    def set_budget(
        self, tenant: str, limits: Mapping[str, float] | None, event: dict[str, Any] | None = None
    ) -> dict[str, float] | None:
        if event is None:
            raise ValueError("a budget changes with its audit event (State.audits_changes)")
        marks = Marks.new()
        day = None if limits is None else limits.get(c.BUDGET_PERIOD_DAY)
        month = None if limits is None else limits.get(c.BUDGET_PERIOD_MONTH)

        def operation(connection: psycopg.Connection[Any]) -> dict[str, float] | None:
            try:
                row = connection.execute(
                    "SELECT glassbox.budget_change(%s, %s, %s, %s, " + EVENT_PLACEHOLDERS + ")",
                    (tenant, day, month, limits is None, *arguments(event, marks)),
                ).fetchone()
            except pg_errors.SerializationFailure as error:
                raise ChangeConflict(f"the budget of {tenant} changed meanwhile: {describe(error)}") from None
            _complete(event, row)
            self._read_budgets(connection)
            before = event.get("before")
            return dict(before) if isinstance(before, Mapping) else None

        return self._call("budget_set", operation, timeout=max(self.db.timeout, 5.0))

    def read_budgets(self) -> dict[str, dict[str, float]]:
        """The budgets in the database now (not the listener's copy), for `glassbox budgets list`."""

        def operation(connection: psycopg.Connection[Any]) -> dict[str, dict[str, float]]:
            self._read_budgets(connection)
            return dict(self._budgets)

        return self._call("budget_read", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ spend
    def reserve(
        self,
        tenant: str,
        limits: Mapping[str, float],
        usd: float,
        day: str,
        total: Mapping[str, float] | None = None,
    ) -> Reservation:
        first, following = month_bounds(day)
        arguments_ = (
            tenant,
            _day(day),
            _day(first),
            _day(following),
            usd,
            limits.get(c.BUDGET_PERIOD_DAY),
            limits.get(c.BUDGET_PERIOD_MONTH),
            total is not None,
            TOTAL_BUDGET,
            (total or {}).get(c.BUDGET_PERIOD_DAY),
            (total or {}).get(c.BUDGET_PERIOD_MONTH),
            float(RESERVATION_SECONDS),
        )

        def operation(connection: psycopg.Connection[Any]) -> Reservation:
            row = connection.execute(
                f"SELECT reservation, refused FROM glassbox.spend_reserve({', '.join(['%s'] * 12)})", arguments_
            ).fetchone()
            if row is not None and row[0] is not None:
                return Reservation(tenant, day, usd, row[0], total=total is not None)
            over, over_limits = (TOTAL_BUDGET, total or {}) if row and row[1] == "total" else (tenant, limits)
            params = {"tenant": over, "day": _day(day), "first": _day(first), "next": _day(following)}
            figures = connection.execute(_USED, params).fetchone()
            used = {
                c.BUDGET_PERIOD_DAY: float(figures[0]) if figures else 0.0,
                c.BUDGET_PERIOD_MONTH: float(figures[1]) if figures else 0.0,
            }
            for period, limit in over_limits.items():
                if used[period] >= limit or used[period] + usd > limit:
                    raise BudgetExceeded(over, period, used[period], limit, usd)
            raise BudgetExceeded(over, c.BUDGET_PERIOD_DAY, used[c.BUDGET_PERIOD_DAY], usd, usd)  # a race: refuse

        return self._call("reserve", operation)

    @staticmethod
    def _changes(row: Any, tenant: str, day: str, usd: float) -> SpendChange:
        """The tenant's (and the total's, when booked) spend before and after adding ``usd``."""
        spent, others, total_spent, total_others = (float(v) if v is not None else None for v in row)
        total = None
        if total_spent is not None and total_others is not None:
            total = SpendChange(
                TOTAL_BUDGET, day, total_spent - usd, total_spent, total_others + total_spent - usd,
                total_others + total_spent,
            )  # fmt: skip
        assert spent is not None and others is not None
        return SpendChange(tenant, day, spent - usd, spent, others + spent - usd, others + spent, total)

    def _book(self, handle: Any, tenant: str, day: str, usd: float, total: bool) -> SpendChange:
        first, following = month_bounds(day)
        params = (handle, usd, tenant, _day(day), _day(first), _day(following), total, TOTAL_BUDGET)

        def operation(connection: psycopg.Connection[Any]) -> SpendChange:
            row = connection.execute("SELECT * FROM glassbox.spend_settle(%s, %s, %s, %s, %s, %s, %s, %s)", params)
            return self._changes(row.fetchone(), tenant, day, usd)

        return self._call("settle", operation)

    def settle(self, reservation: Reservation, usd: float) -> SpendChange:
        change = self._book(reservation.handle, reservation.tenant, reservation.day, usd, reservation.total)
        reservation.done = True
        return change

    def add_spend(self, tenant: str, usd: float, day: str, total: bool = False) -> SpendChange:
        return self._book(None, tenant, day, usd, total)

    def mark_threshold(self, tenant: str, period: str, period_key: str, ratio: float, limit: float) -> bool:
        def operation(connection: psycopg.Connection[Any]) -> bool:
            row = connection.execute(
                "SELECT glassbox.budget_threshold_mark(%s, %s, %s, %s, %s)", (tenant, period, period_key, ratio, limit)
            ).fetchone()
            return bool(row and row[0])

        return self._call("settle", operation)

    def spent(self, tenant: str, day: str) -> dict[str, float]:
        return self.spend_by_tenant(day, tenant).get(tenant, {c.BUDGET_PERIOD_DAY: 0.0, c.BUDGET_PERIOD_MONTH: 0.0})

    def spend_by_tenant(self, day: str, tenant: str | None = None) -> dict[str, dict[str, float]]:
        first, following = month_bounds(day)

        def operation(connection: psycopg.Connection[Any]) -> dict[str, dict[str, float]]:
            rows = connection.execute(
                "SELECT tenant, coalesce(sum(spent_usd) FILTER (WHERE day = %(day)s), 0), sum(spent_usd) "
                "FROM glassbox.spend WHERE day >= %(first)s AND day < %(next)s "
                "AND (%(tenant)s::text IS NULL OR tenant = %(tenant)s) GROUP BY tenant",
                {"day": _day(day), "first": _day(first), "next": _day(following), "tenant": tenant},
            ).fetchall()
            return {t: {c.BUDGET_PERIOD_DAY: float(d), c.BUDGET_PERIOD_MONTH: float(m)} for t, d, m in rows}

        return self._call("spend_read", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ per-request usage
    def count_request_call(
        self, request_id: str, limits: RequestLimits, arrived: float, now: float
    ) -> tuple[str, str] | None:
        if limits.seconds and now - arrived >= limits.seconds:
            return RequestUsage(0, 0.0, 0, arrived).refusal(request_id, limits, now)
        params = (request_id, arrived, limits.calls, limits.usd, limits.tokens, limits.seconds)

        def operation(connection: psycopg.Connection[Any]) -> tuple[str, str] | None:
            counted = connection.execute(
                "SELECT glassbox.request_count_call(%s, %s, %s, %s, %s, %s)", params
            ).fetchone()
            if counted is not None and counted[0] is not None:
                return None
            row = connection.execute(
                "SELECT calls, usd, tokens, extract(epoch FROM started_at), extract(epoch FROM now()) "
                "FROM glassbox.request_usage WHERE request_id = %s",
                (request_id,),
            ).fetchone()
            if row is None:
                return None
            usage = RequestUsage(int(row[0]), float(row[1]), int(row[2]), float(min(row[3], arrived)))
            return usage.refusal(request_id, limits, float(row[4])) or (
                "request_calls",
                f"request {request_id} reached a limit",
            )

        return self._call("request_count", operation)

    def add_request_spend(self, request_id: str, usd: float, tokens: int) -> None:
        def operation(connection: psycopg.Connection[Any]) -> None:
            connection.execute("SELECT glassbox.request_add_spend(%s, %s, %s)", (request_id, usd, tokens))

        self._call("request_spend", operation)

    # ------------------------------------------------------------------ lifecycle
    def healthy(self) -> bool:
        return self._listening.is_set() and self.db.healthy()

    def close(self) -> None:
        self._stopping.set()
        self._listener.join(timeout=HEARTBEAT_SECONDS + 1)
        self.db.close()


# The spend of a tenant (or of every tenant together) of the day and of the month, spent or reserved.
_USED = """
SELECT s.spent_usd + s.reserved_usd,
       s.spent_usd + s.reserved_usd + (SELECT coalesce(sum(o.spent_usd + o.reserved_usd), 0) FROM glassbox.spend o
           WHERE o.tenant = %(tenant)s AND o.day >= %(first)s AND o.day < %(next)s AND o.day <> %(day)s)
FROM glassbox.spend s WHERE s.tenant = %(tenant)s AND s.day = %(day)s
"""
