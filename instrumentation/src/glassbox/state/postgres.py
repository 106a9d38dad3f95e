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
* **Least privilege.** Every change goes through a SECURITY DEFINER function of the schema (glassbox.state.schema),
  so the app's role needs EXECUTE on them and SELECT, nothing else; a kill-switch or budget change is chained
  into the audit trail by the function that makes it. Apps never migrate: a schema older than this glassbox knows
  is reported (``glassbox state migrate`` with the admin URL brings it up to date), and an app whose role is a
  superuser or owns the glassbox tables is told, once, that the audit trail does not hold against it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from glassbox import conventions as c
from glassbox.audit.rows import Marks, arguments
from glassbox.state import schema
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
from glassbox.version import __version__

T = TypeVar("T")
_logger = logging.getLogger("glassbox")

POOL_SIZE = 4
POOL_NAME = "glassbox-state"
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


class SchemaTooOld(StateUnavailable):
    """The database's glassbox schema is missing or older than this glassbox needs: an operator migrates it."""


MASK = "***"
# Passwords of the URLs this process has read: masked wherever they appear, however the URL was written. One
# shorter than this is masked only where it stands in a URL (masking every "pw" in a message would garble it).
_passwords: set[str] = set()
MIN_REMEMBERED = 4


def _password_of(url: str) -> str | None:
    """The password in a ``postgresql://`` URL as written, found by parsing rather than by a pattern: the userinfo
    is everything before the URL's last ``@``, the password everything after its first ``:`` (so a raw ``@``, a
    space, a ``/``, a ``?`` or a ``#`` in it is still found)."""
    rest = url.split("://", 1)[1] if "://" in url else ""
    if "@" not in rest:
        return None
    userinfo = rest.rsplit("@", 1)[0]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


def remember_secret(url: str) -> None:
    """Note the password of ``url`` (and of its ``password=`` parameter), so :func:`redact_url` masks it anywhere."""
    from urllib.parse import quote, unquote

    found = [_password_of(url)]
    with contextlib.suppress(psycopg.Error):
        found.append(str(pg_conninfo.conninfo_to_dict(url).get("password") or ""))
    for secret in found:
        if secret:
            forms = (secret, unquote(secret), quote(secret, safe=""))
            _passwords.update(form for form in forms if len(form) >= MIN_REMEMBERED)


def redact_url(text: str) -> str:
    """``text`` (a URL, or a message quoting one) with every password this process knows, and any URL userinfo's or
    ``password=`` parameter's value, masked."""
    for secret in sorted(_passwords, key=len, reverse=True):
        text = text.replace(secret, MASK)
    scheme = text.find("://")
    while scheme >= 0:
        start = scheme + 3
        end = min((i for i in (text.find(c, start) for c in "/?#") if i >= 0), default=len(text))
        authority = text[start:end]
        if "@" in authority and ":" in authority.rsplit("@", 1)[0]:
            user = authority.rsplit("@", 1)[0].split(":", 1)[0]
            host = authority.rsplit("@", 1)[1]
            text = f"{text[:start]}{user}:{MASK}@{host}{text[end:]}"
        scheme = text.find("://", start)
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", rf"\1{MASK}", text)


def check_url(url: str) -> dict[str, Any]:
    """The connection parameters of a ``postgresql://`` URL, or :class:`StateConfigError` saying what is wrong."""
    remember_secret(url)
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
        # and the audit chain switch it back on inside their own functions.
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
            if not isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout)):
                # The server answered and refused this call (a privilege, a check of the schema's functions): no
                # reason to make the next calls wait.
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
    """Bring the schema to :data:`schema.LATEST` (as the role that owns it); returns (version before, version
    after). ``roles``: also create the roles and apply the grants (always done after a migration)."""
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
            raise _too_new(current)
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


def _too_new(version: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"{SETTING}: the database's glassbox schema is version {version}; this glassbox ({__version__}) "
        f"knows versions up to {schema.LATEST}: upgrade glassbox here before using that database"
    )


def check_schema(connection: psycopg.Connection[Any]) -> int:
    """The schema's version, when it is the one this glassbox uses; :class:`SchemaTooOld` (an operator must run
    ``glassbox state migrate``) or :class:`SchemaTooNew` otherwise. Never changes anything."""
    exists = connection.execute("SELECT to_regclass('glassbox.schema_version')").fetchone()
    version = 0
    if exists is not None and exists[0] is not None:
        row = connection.execute("SELECT coalesce(max(version), 0) FROM glassbox.schema_version").fetchone()
        version = int(row[0]) if row else 0
    if version > schema.LATEST:
        raise _too_new(version)
    if version < schema.LATEST:
        found = f"version {version}" if version else "no glassbox schema"
        raise SchemaTooOld(
            f"{SETTING}: the database has {found}; this glassbox ({__version__}) needs version {schema.LATEST}: run "
            f"`glassbox state migrate` with GLASSBOX_STATE_ADMIN_URL (the schema owner's URL) set"
        )
    return version


def pgaudit_on(connection: psycopg.Connection[Any]) -> bool:
    """Whether PostgreSQL records reads of the audit table here (pgaudit loaded, its object-audit role set)."""
    row = connection.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgaudit') "
        "AND coalesce(current_setting('pgaudit.role', true), '') = 'glassbox_pgaudit'"
    ).fetchone()
    return bool(row and row[0])


def create_login_role(
    connection: psycopg.Connection[Any], name: str, password: str, group: str, tenants: Sequence[str] = ()
) -> None:
    """Create (or update) the login role ``name`` with ``password`` as a member of ``group`` and nothing more: no
    superuser, no role or database creation, no replication, no bypass of row-level security. For a tenant auditor,
    ``tenants`` are the tenants whose audit events it reads."""
    if group not in schema.ROLES:
        raise ValueError(f"{group!r} is not one of {', '.join(schema.ROLES)}")
    options = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}").format(
        sql.Literal(password)
    )
    with connection.transaction():
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
        connection.execute(sql.SQL("{} {} {}").format(verb, sql.Identifier(name), options))
        connection.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
        for tenant in tenants:
            connection.execute(
                "INSERT INTO glassbox.audit_readers (role_name, tenant) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (name, tenant),
            )


@dataclass(frozen=True)
class RoleCheck:
    """What the connected role may do beyond an app's needs (for the start-up warning and `glassbox doctor`)."""

    role: str
    superuser: bool
    owns: list[str]

    @property
    def privileged(self) -> bool:
        return self.superuser or bool(self.owns)

    def problem(self) -> str:
        why = "is a superuser" if self.superuser else f"owns {', '.join(self.owns)}"
        return (
            f"the database role {self.role} {why}: it can disable the audit trail's triggers and change budgets and "
            f"the kill switch without an audit event; give the app a login role in glassbox_writer (docs/security.md)"
        )


def check_role(connection: psycopg.Connection[Any]) -> RoleCheck:
    """Whether the connected role is a superuser or owns (directly or through a role it belongs to) any glassbox
    table, sequence or function."""
    row = connection.execute(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    role, superuser = (str(row[0]), bool(row[1])) if row else ("?", False)
    owned = connection.execute(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'glassbox' AND pg_has_role(current_user, c.relowner, 'USAGE') "
        "UNION ALL SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'glassbox' AND pg_has_role(current_user, p.proowner, 'USAGE') ORDER BY 1"
    ).fetchall()
    return RoleCheck(role, superuser, sorted({str(name) for (name,) in owned}))


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

    def __init__(self, database: Database, on_change: Callable[[str], None] | None = None) -> None:
        self.db = database
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
                "SELECT glassbox.kill_switch_change(%s, %s, %s, %s, " + _CONTROL_EVENT + ")",
                (on, key, reason, actor, *arguments(event, marks)),
            ).fetchone()
            _complete(event, row)
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
                    "SELECT glassbox.budget_change(%s, %s, %s, %s, " + _CONTROL_EVENT + ")",
                    (tenant, day, month, limits is None, *arguments(event, marks)),
                ).fetchone()
            except pg_errors.SerializationFailure as error:
                raise ChangeConflict(f"the budget of {tenant} changed meanwhile: {describe(error)}") from None
            _complete(event, row)
            self._read_budgets(connection)
            before = event.get("before")
            return dict(before) if isinstance(before, Mapping) else None

        return self.db.call("budget_set", operation, timeout=max(self.db.timeout, 5.0))

    def read_budgets(self) -> dict[str, dict[str, float]]:
        """The budgets in the database now (not the listener's copy), for `glassbox budgets list`."""

        def operation(connection: psycopg.Connection[Any]) -> dict[str, dict[str, float]]:
            self._read_budgets(connection)
            return dict(self._budgets)

        return self.db.call("budget_read", operation, timeout=max(self.db.timeout, 5.0))

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

        return self.db.call("reserve", operation)

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

        return self.db.call("settle", operation)

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

        return self.db.call("request_count", operation)

    def add_request_spend(self, request_id: str, usd: float, tokens: int) -> None:
        def operation(connection: psycopg.Connection[Any]) -> None:
            connection.execute("SELECT glassbox.request_add_spend(%s, %s, %s)", (request_id, usd, tokens))

        self.db.call("request_spend", operation)

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

# The arguments of one audit event in a control-change function (glassbox.audit.rows.arguments).
_CONTROL_EVENT = ", ".join(["%s"] * 12)
