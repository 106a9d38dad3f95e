"""The fleet state: one PostgreSQL database shared by every process on every host (``GLASSBOX_STATE_URL``).

* **Bounded.** Every call goes through :meth:`Database.call`: a worker thread runs it on a pooled connection
  (psycopg 3 + psycopg-pool) while the caller waits at most ``GLASSBOX_STATE_TIMEOUT``. A failure or a timeout
  raises :class:`StateUnavailable` and opens a short breaker, during which calls fail at once instead of each
  waiting out the timeout; the guard then follows ``GLASSBOX_STATE_FAILURE``. A connection the server closed
  (a restart) is retried once on a fresh one.
* **Spend** is one row per tenant and UTC day. A reservation is one statement: the UPDATE holds the day row and
  only succeeds while the day's and the month's spend plus what is reserved stay within the limits, and the
  reservation row is inserted from its result, so two hosts can never both take the last dollar. A reservation
  expires after ``RESERVATION_SECONDS`` (a process that died mid-call).
* **The kill switch and the budgets** are read by a listener thread on its own connection: ``LISTEN
  glassbox_state``, then the current state, then every change as it is notified (a change is written and
  notified in one transaction, so every process sees it within milliseconds). The thread re-reads both every
  ``HEARTBEAT_SECONDS``, which also notices a dead connection; while it cannot connect, the hot path is told
  its view is not current.
* **Per-request usage** is one row per request id, counted and checked in one statement on every host.
* **Durability where it matters.** Spend, reservations and request usage commit asynchronously (a database
  crash can lose their last fraction of a second); the kill switch, budgets and the audit chain wait for the
  WAL flush.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import date
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

from glassbox import conventions as c
from glassbox.state import schema
from glassbox.state.base import (
    EVERY_TENANT,
    REQUEST_USAGE_SECONDS,
    RESERVATION_SECONDS,
    BudgetExceeded,
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
from glassbox.version import __version__

T = TypeVar("T")
_logger = logging.getLogger("glassbox")

POOL_SIZE = 4
POOL_NAME = "glassbox-state"
# First statement of a transaction that must be on disk when it commits.
DURABLE = "SET LOCAL synchronous_commit TO on"
# After a failure, calls fail at once for this long instead of each waiting out the timeout.
BREAKER_SECONDS = 1.0
HEARTBEAT_SECONDS = 2.0
MAINTENANCE_SECONDS = 60.0
# How long a statement may run on the server, whatever the client does.
STATEMENT_TIMEOUT_MS = 5000
SETTING = "GLASSBOX_STATE_URL"


class StateConfigError(ValueError):
    """A GLASSBOX_STATE_URL that cannot be used as written; the message names the setting."""


class SchemaTooNew(StateUnavailable):
    """The database's glassbox schema is newer than this glassbox knows."""


def redact_url(text: str) -> str:
    """A URL (or a message quoting one) with its password masked."""
    text = re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
    return re.sub(r"(password=)\S+", r"\1***", text)


def check_url(url: str) -> dict[str, Any]:
    """The connection parameters of a ``postgresql://`` URL, or :class:`StateConfigError` saying what is wrong."""
    if not re.match(r"postgres(ql)?://", url):
        raise StateConfigError(f"{SETTING}={redact_url(url)!r}: expected a URL such as postgresql://user:pass@host/db")
    try:
        return pg_conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        raise StateConfigError(f"{SETTING}={redact_url(url)!r} is malformed: {redact_url(str(error))}") from None


def describe(error: BaseException) -> str:
    """One line about a database error (psycopg's messages can span several lines)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {redact_url(text)}"


class _OwnPoolWarnings(logging.Filter):
    """The pool warns at every failed reconnection; glassbox says it once (PostgresState), so drop those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return POOL_NAME not in record.getMessage()


def _quiet_pool_warnings() -> None:
    pool_logger = logging.getLogger("psycopg.pool")
    if not any(isinstance(f, _OwnPoolWarnings) for f in pool_logger.filters):
        pool_logger.addFilter(_OwnPoolWarnings())


class Database:
    """One PostgreSQL database: a connection pool, calls bounded in time, the schema."""

    def __init__(self, url: str, timeout: float, on_failure: Callable[[str], None] | None = None) -> None:
        params = check_url(url)
        self.url = url
        self.safe_url = redact_url(url)
        self.timeout = timeout
        self.on_failure = on_failure or (lambda operation: None)
        params.setdefault("application_name", "glassbox")
        params.setdefault("connect_timeout", str(max(2, math.ceil(timeout * 4))))
        # Spend, reservations and request usage commit without waiting for the WAL flush (a database crash can
        # lose their last few hundred milliseconds: a little budget, never a record); the kill switch, budgets
        # and the audit chain switch it back on for their own transactions (DURABLE).
        params.setdefault("options", f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c synchronous_commit=off")
        # A network that stops answering is noticed within seconds, not the kernel's minutes.
        params.setdefault("keepalives_idle", "5")
        params.setdefault("keepalives_interval", "2")
        params.setdefault("keepalives_count", "2")
        params.setdefault("tcp_user_timeout", "5000")
        self.conninfo = pg_conninfo.make_conninfo(**params)
        _quiet_pool_warnings()
        self.pool = ConnectionPool(
            self.conninfo,
            min_size=1,
            max_size=POOL_SIZE,
            kwargs={"autocommit": True},
            open=False,
            name=POOL_NAME,
            reconnect_timeout=3600,
        )
        self.pool.open(wait=False)
        self._executor = ThreadPoolExecutor(max_workers=POOL_SIZE, thread_name_prefix="glassbox-state")
        self._broken_until = 0.0
        self.last_error = ""
        # Set when the database must not be used at all (a schema newer than this glassbox knows).
        self.refusal: str | None = None

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own (the listener's), outside the pool."""
        return psycopg.connect(self.conninfo, autocommit=True)

    def _attempt(self, operation: Callable[[psycopg.Connection[Any]], T], timeout: float) -> T:
        for attempt in (1, 2):
            with self.pool.connection(timeout=timeout) as connection:
                try:
                    return operation(connection)
                except psycopg.OperationalError:
                    if attempt == 1 and connection.broken:
                        continue  # the server closed it (a restart): once more, on a fresh connection
                    raise
        raise AssertionError("unreachable")

    def call(self, name: str, operation: Callable[[psycopg.Connection[Any]], T], timeout: float | None = None) -> T:
        """``operation(connection)`` within ``timeout`` (default GLASSBOX_STATE_TIMEOUT), or StateUnavailable."""
        timeout = self.timeout if timeout is None else timeout
        if self.refusal is not None:
            self.on_failure(name)
            raise StateUnavailable(self.refusal)
        if time.monotonic() < self._broken_until:
            self.on_failure(name)
            raise StateUnavailable(f"{self.safe_url}: {self.last_error}")
        future = self._executor.submit(self._attempt, operation, timeout)
        try:
            return future.result(timeout)
        except FutureTimeout:
            reason = f"no answer within {timeout:g} s (GLASSBOX_STATE_TIMEOUT)"
        except (psycopg.Error, PoolTimeout) as error:
            if isinstance(error, psycopg.errors.InsufficientPrivilege):
                self.on_failure(name)
                raise StateUnavailable(f"{self.safe_url}: {describe(error)}") from error
            reason = describe(error)
        self.trip(reason)
        self.on_failure(name)
        raise StateUnavailable(f"{self.safe_url}: {reason}")

    def trip(self, reason: str) -> None:
        """A failure: for BREAKER_SECONDS every call fails at once with ``reason``."""
        self.last_error = reason
        self._broken_until = time.monotonic() + BREAKER_SECONDS

    def healthy(self) -> bool:
        return time.monotonic() >= self._broken_until

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.pool.close(timeout=1)


def migrate(connection: psycopg.Connection[Any], roles: bool = False) -> tuple[int, int]:
    """Bring the schema to :data:`schema.LATEST`; returns (version before, version after). ``roles``: also
    create the roles and apply the grants (always done after a migration)."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (schema.MIGRATION_LOCK,))
        exists = connection.execute("SELECT to_regclass('glassbox.schema_version')").fetchone()
        if exists is None or exists[0] is None:
            connection.execute("CREATE SCHEMA IF NOT EXISTS glassbox")
            connection.execute(
                "CREATE TABLE glassbox.schema_version (version integer PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now(), glassbox_version text NOT NULL)"
            )
        row = connection.execute("SELECT coalesce(max(version), 0) FROM glassbox.schema_version").fetchone()
        current = int(row[0]) if row else 0
        if current > schema.LATEST:
            raise SchemaTooNew(
                f"{SETTING}: the database's glassbox schema is version {current}; this glassbox ({__version__}) "
                f"knows versions up to {schema.LATEST}: upgrade glassbox here before using that database"
            )
        for version, statements in schema.MIGRATIONS:
            if version > current:
                connection.execute(statements.encode())
                connection.execute(
                    "INSERT INTO glassbox.schema_version (version, glassbox_version) VALUES (%s, %s)",
                    (version, __version__),
                )
        if roles or current < schema.LATEST:
            for statements in schema.ROLE_SETUP:
                connection.execute(statements.encode())
    return current, schema.LATEST


def _day(day: str) -> date:
    return date.fromisoformat(day)


class PostgresState(State):
    backend = "postgresql"
    remote = True
    scope = c.BUDGET_SCOPE_SHARED

    def __init__(self, database: Database, on_change: Callable[[str], None] | None = None) -> None:
        self.db = database
        self.on_change = on_change or (lambda what: None)
        self._switches: dict[str | None, KillSwitch] = {}
        self._budgets: dict[str, dict[str, float]] = {}
        self._listening = threading.Event()  # set while the listener is connected and has read the state
        self._first_attempt = threading.Event()  # set once the listener has connected, or failed to
        self._stopping = threading.Event()
        self._rows_known: set[tuple[str, str]] = set()
        self.connect_error = ""
        self._listener = threading.Thread(target=self._listen, name="glassbox-state-listener", daemon=True)
        self._listener.start()

    def wait_until_current(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for the first attempt to read the state (it may fail at once: a wrong password);
        whether the state is current."""
        self._first_attempt.wait(timeout)
        return self._listening.is_set()

    # ------------------------------------------------------------------ the listener
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
        with connection.transaction():
            connection.execute(
                "WITH expired AS (DELETE FROM glassbox.reservations WHERE expires_at < now() "
                "RETURNING tenant, day, usd), per_day AS (SELECT tenant, day, sum(usd) AS usd FROM expired "
                "GROUP BY tenant, day) UPDATE glassbox.spend s SET reserved_usd = greatest(s.reserved_usd - "
                "per_day.usd, 0) FROM per_day WHERE s.tenant = per_day.tenant AND s.day = per_day.day"
            )
            connection.execute(
                "DELETE FROM glassbox.request_usage WHERE updated_at < now() - make_interval(secs => %s::float8)",
                (REQUEST_USAGE_SECONDS,),
            )

    def _listen(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                with self.db.connect() as connection:
                    migrate(connection)
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
                message = describe(error) if not isinstance(error, SchemaTooNew) else str(error)
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

    # ------------------------------------------------------------------ kill switch
    def kill_switch(self, tenant: str | None) -> tuple[KillSwitch | None, bool]:
        switches = self._switches
        found = switches.get(None) or (switches.get(tenant) if tenant else None)
        return found, self._listening.is_set()

    def set_kill_switch(self, on: bool, tenant: str | None, reason: str | None, actor: str | None) -> None:
        key = EVERY_TENANT if tenant in (None, EVERY_TENANT) else str(tenant)

        def operation(connection: psycopg.Connection[Any]) -> None:
            with connection.transaction():
                connection.execute(DURABLE)
                if on:
                    connection.execute(
                        "INSERT INTO glassbox.kill_switch (tenant, reason, actor) VALUES (%s, %s, %s) "
                        "ON CONFLICT (tenant) DO UPDATE SET reason = excluded.reason, actor = excluded.actor, "
                        "since = now()",
                        (key, reason, actor),
                    )
                else:
                    connection.execute("DELETE FROM glassbox.kill_switch WHERE tenant = %s", (key,))
                connection.execute("SELECT pg_notify(%s, %s)", (schema.CHANNEL, schema.CHANGED_KILL_SWITCH))
            self._read_switches(connection)  # this process obeys at once

        self.db.call("kill_switch_set", operation, timeout=max(self.db.timeout, 5.0))

    def kill_switches(self) -> list[KillSwitch]:
        def operation(connection: psycopg.Connection[Any]) -> list[KillSwitch]:
            self._read_switches(connection)
            return list(self._switches.values())

        return self.db.call("kill_switch_read", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ budgets
    def budgets(self) -> dict[str, dict[str, float]]:
        return self._budgets  # replaced whole on every read, never changed in place: no copy per model call

    def set_budget(self, tenant: str, limits: Mapping[str, float] | None) -> dict[str, float] | None:
        def operation(connection: psycopg.Connection[Any]) -> dict[str, float] | None:
            with connection.transaction():
                connection.execute(DURABLE)
                row = connection.execute(
                    "SELECT day_usd, month_usd FROM glassbox.budgets WHERE tenant = %s FOR UPDATE", (tenant,)
                ).fetchone()
                if limits is None:
                    connection.execute("DELETE FROM glassbox.budgets WHERE tenant = %s", (tenant,))
                else:
                    connection.execute(
                        "INSERT INTO glassbox.budgets (tenant, day_usd, month_usd) VALUES (%s, %s, %s) "
                        "ON CONFLICT (tenant) DO UPDATE SET day_usd = excluded.day_usd, "
                        "month_usd = excluded.month_usd, updated_at = now()",
                        (tenant, limits.get(c.BUDGET_PERIOD_DAY), limits.get(c.BUDGET_PERIOD_MONTH)),
                    )
                connection.execute("SELECT pg_notify(%s, %s)", (schema.CHANNEL, schema.CHANGED_BUDGETS))
            self._read_budgets(connection)
            return limits_of(*row) if row else None

        return self.db.call("budget_set", operation, timeout=max(self.db.timeout, 5.0))

    def read_budgets(self) -> dict[str, dict[str, float]]:
        """The budgets in the database now (not the listener's copy), for `glassbox budgets list`."""

        def operation(connection: psycopg.Connection[Any]) -> dict[str, dict[str, float]]:
            self._read_budgets(connection)
            return dict(self._budgets)

        return self.db.call("budget_read", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ spend
    def _ensure_row(self, connection: psycopg.Connection[Any], tenant: str, day: str) -> None:
        if (tenant, day) not in self._rows_known:
            connection.execute(
                "INSERT INTO glassbox.spend (tenant, day) VALUES (%s, %s) ON CONFLICT DO NOTHING", (tenant, _day(day))
            )
            if len(self._rows_known) > 10_000:
                self._rows_known.clear()
            self._rows_known.add((tenant, day))

    def reserve(self, tenant: str, limits: Mapping[str, float], usd: float, day: str) -> Reservation:
        first, following = month_bounds(day)
        params = {
            "tenant": tenant,
            "day": _day(day),
            "first": _day(first),
            "next": _day(following),
            "usd": usd,
            "day_limit": limits.get(c.BUDGET_PERIOD_DAY),
            "month_limit": limits.get(c.BUDGET_PERIOD_MONTH),
            "ttl": RESERVATION_SECONDS,
        }

        def operation(connection: psycopg.Connection[Any]) -> Reservation:
            self._ensure_row(connection, tenant, day)
            row = connection.execute(_RESERVE, params).fetchone()
            if row is not None:
                return Reservation(tenant, day, usd, row[0])
            figures = connection.execute(_USED, params).fetchone()
            if figures is None:  # the row vanished (cleared by hand): make it again next time
                self._rows_known.discard((tenant, day))
                raise StateUnavailable(f"spend of tenant {tenant} on {day} is missing; retry")
            used = {c.BUDGET_PERIOD_DAY: float(figures[0]), c.BUDGET_PERIOD_MONTH: float(figures[1])}
            for period, limit in limits.items():
                if used[period] >= limit or used[period] + usd > limit:
                    raise BudgetExceeded(tenant, period, used[period], limit, usd)
            raise BudgetExceeded(tenant, c.BUDGET_PERIOD_DAY, used[c.BUDGET_PERIOD_DAY], usd, usd)  # a race: refuse

        return self.db.call("reserve", operation)

    def _change(self, row: Any, tenant: str, day: str, usd: float) -> SpendChange:
        spent, others = float(row[0]), float(row[1])
        return SpendChange(tenant, day, spent - usd, spent, others + spent - usd, others + spent)

    def settle(self, reservation: Reservation, usd: float) -> SpendChange:
        first, following = month_bounds(reservation.day)
        params = {
            "id": reservation.handle,
            "usd": usd,
            "tenant": reservation.tenant,
            "day": _day(reservation.day),
            "first": _day(first),
            "next": _day(following),
        }

        def operation(connection: psycopg.Connection[Any]) -> SpendChange:
            row = connection.execute(_SETTLE, params).fetchone()
            if row is None:  # its day row was removed by hand meanwhile
                row = connection.execute(_ADD, params).fetchone()
            return self._change(row, reservation.tenant, reservation.day, usd)

        change = self.db.call("settle", operation)
        reservation.done = True
        return change

    def add_spend(self, tenant: str, usd: float, day: str) -> SpendChange:
        first, following = month_bounds(day)
        params = {"usd": usd, "tenant": tenant, "day": _day(day), "first": _day(first), "next": _day(following)}

        def operation(connection: psycopg.Connection[Any]) -> SpendChange:
            return self._change(connection.execute(_ADD, params).fetchone(), tenant, day, usd)

        return self.db.call("settle", operation)

    def mark_threshold(self, tenant: str, period: str, period_key: str, ratio: float, limit: float) -> bool:
        def operation(connection: psycopg.Connection[Any]) -> bool:
            cursor = connection.execute(
                "INSERT INTO glassbox.budget_thresholds (tenant, period, period_key, ratio, limit_usd) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (tenant, period, period_key, ratio, limit),
            )
            return cursor.rowcount == 1

        return self.db.call("settle", operation)

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

        return self.db.call("spend_read", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ per-request usage
    def count_request_call(
        self, request_id: str, limits: RequestLimits, arrived: float, now: float
    ) -> tuple[str, str] | None:
        if limits.seconds and now - arrived >= limits.seconds:
            return RequestUsage(0, 0.0, 0, arrived).refusal(request_id, limits, now)
        params = {
            "id": request_id,
            "arrived": arrived,
            "calls": limits.calls,
            "usd": limits.usd,
            "tokens": limits.tokens,
            "seconds": limits.seconds,
        }

        def operation(connection: psycopg.Connection[Any]) -> tuple[str, str] | None:
            if connection.execute(_COUNT_CALL, params).fetchone() is not None:
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

        return self.db.call("request_count", operation)

    def add_request_spend(self, request_id: str, usd: float, tokens: int) -> None:
        def operation(connection: psycopg.Connection[Any]) -> None:
            connection.execute(
                "UPDATE glassbox.request_usage SET usd = usd + %s, tokens = tokens + %s, updated_at = now() "
                "WHERE request_id = %s",
                (usd, tokens, request_id),
            )

        self.db.call("request_spend", operation)

    # ------------------------------------------------------------------ lifecycle
    def healthy(self) -> bool:
        return self._listening.is_set() and self.db.healthy()

    def close(self) -> None:
        self._stopping.set()
        self._listener.join(timeout=HEARTBEAT_SECONDS + 1)
        self.db.close()


# The day row is held by the UPDATE (concurrent reservations of one tenant queue on it and re-check the limits
# against its newest version); the month adds the tenant's other days of the month.
_RESERVE = """
WITH others AS (
    SELECT coalesce(sum(spent_usd + reserved_usd), 0) AS usd FROM glassbox.spend
    WHERE tenant = %(tenant)s AND day >= %(first)s AND day < %(next)s AND day <> %(day)s
), held AS (
    UPDATE glassbox.spend s SET reserved_usd = s.reserved_usd + %(usd)s
    FROM others
    WHERE s.tenant = %(tenant)s AND s.day = %(day)s
      AND (%(day_limit)s::float8 IS NULL OR (s.spent_usd + s.reserved_usd < %(day_limit)s
           AND s.spent_usd + s.reserved_usd + %(usd)s <= %(day_limit)s))
      AND (%(month_limit)s::float8 IS NULL OR (others.usd + s.spent_usd + s.reserved_usd < %(month_limit)s
           AND others.usd + s.spent_usd + s.reserved_usd + %(usd)s <= %(month_limit)s))
    RETURNING s.tenant, s.day
)
INSERT INTO glassbox.reservations (tenant, day, usd, expires_at)
SELECT tenant, day, %(usd)s, now() + make_interval(secs => %(ttl)s::float8) FROM held
RETURNING id
"""

_USED = """
SELECT s.spent_usd + s.reserved_usd,
       s.spent_usd + s.reserved_usd + (SELECT coalesce(sum(o.spent_usd + o.reserved_usd), 0) FROM glassbox.spend o
           WHERE o.tenant = %(tenant)s AND o.day >= %(first)s AND o.day < %(next)s AND o.day <> %(day)s)
FROM glassbox.spend s WHERE s.tenant = %(tenant)s AND s.day = %(day)s
"""

_OTHER_DAYS = """(SELECT coalesce(sum(o.spent_usd), 0) FROM glassbox.spend o
    WHERE o.tenant = %(tenant)s AND o.day >= %(first)s AND o.day < %(next)s AND o.day <> %(day)s)"""

_SETTLE = f"""
WITH released AS (DELETE FROM glassbox.reservations WHERE id = %(id)s RETURNING usd)
UPDATE glassbox.spend SET spent_usd = spent_usd + %(usd)s,
    reserved_usd = greatest(reserved_usd - coalesce((SELECT usd FROM released), 0), 0)
WHERE tenant = %(tenant)s AND day = %(day)s
RETURNING spent_usd, {_OTHER_DAYS}
"""

_ADD = f"""
INSERT INTO glassbox.spend AS s (tenant, day, spent_usd) VALUES (%(tenant)s, %(day)s, %(usd)s)
ON CONFLICT (tenant, day) DO UPDATE SET spent_usd = s.spent_usd + excluded.spent_usd
RETURNING spent_usd, {_OTHER_DAYS}
"""

# The first call of a request inserts its row; every later one (from any host) counts only within the limits.
_COUNT_CALL = """
INSERT INTO glassbox.request_usage AS r (request_id, calls, started_at) VALUES (%(id)s, 1, to_timestamp(%(arrived)s))
ON CONFLICT (request_id) DO UPDATE SET calls = r.calls + 1, updated_at = now(),
    started_at = least(r.started_at, excluded.started_at)
WHERE (%(calls)s = 0 OR r.calls < %(calls)s)
  AND (%(usd)s = 0 OR r.usd < %(usd)s)
  AND (%(tokens)s = 0 OR r.tokens < %(tokens)s)
  AND (%(seconds)s = 0 OR now() - least(r.started_at, excluded.started_at)
       < make_interval(secs => %(seconds)s::float8))
RETURNING calls
"""
