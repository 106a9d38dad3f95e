"""One PostgreSQL database (``GLASSBOX_STATE_URL``): its URL checked and its password kept out of every message, a
connection pool, and calls bounded in time.

* **Bounded.** Every call goes through :meth:`Database.call`: a worker thread runs it on a pooled connection
  (psycopg 3 + psycopg-pool) while the caller waits at most ``GLASSBOX_STATE_TIMEOUT``. A failure or a timeout
  raises :class:`DatabaseUnavailable` and opens a short breaker, during which calls fail at once instead of each
  waiting out the timeout. A connection the server closed (a restart) is retried once on a fresh one.
* **Secrets.** The password of every URL this process has read is masked wherever it appears
  (:func:`redact_url`, :func:`describe`).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg_pool import ConnectionPool, PoolTimeout

T = TypeVar("T")

POOL_SIZE = 4
POOL_NAME = "glassbox-state"
# After a failure, calls fail at once for this long instead of each waiting out the timeout.
BREAKER_SECONDS = 1.0
# How long a statement may run on the server, whatever the client does.
STATEMENT_TIMEOUT_MS = 5000
SETTING = "GLASSBOX_STATE_URL"


class StateConfigError(ValueError):
    """A GLASSBOX_STATE_URL that cannot be used as written; the message names the setting."""


class DatabaseUnavailable(RuntimeError):
    """The database did not answer in time, or refused: the message says why (its URL's password masked)."""


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
    """One PostgreSQL database: a connection pool, calls bounded in time."""

    def __init__(
        self, url: str, timeout: float, on_failure: Callable[[str], None] | None = None, pool_at_start: bool = True
    ) -> None:
        """``pool_at_start`` False: the pool connects at the first :meth:`call` (a user that only makes connections
        of its own, such as the audit writer, then holds no idle pooled one)."""
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
        self._pool_open = pool_at_start
        if pool_at_start:
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
        """``operation(connection)`` within ``timeout`` (default GLASSBOX_STATE_TIMEOUT), or DatabaseUnavailable."""
        timeout = self.timeout if timeout is None else timeout
        if self.refusal is not None:
            self.on_failure(name)
            raise DatabaseUnavailable(self.refusal)
        if time.monotonic() < self._broken_until:
            self.on_failure(name)
            raise DatabaseUnavailable(f"{self.safe_url}: {self.last_error}")
        if not self._pool_open:
            self.pool.open(wait=False)  # safe to repeat: another thread may have opened it meanwhile
            self._pool_open = True
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
                raise DatabaseUnavailable(f"{self.safe_url}: {describe(error)}") from error
            reason = describe(error)
        self.trip(reason)
        self.on_failure(name)
        raise DatabaseUnavailable(f"{self.safe_url}: {reason}")

    def trip(self, reason: str) -> None:
        """A failure: for BREAKER_SECONDS every call fails at once with ``reason``."""
        self.last_error = reason
        self._broken_until = time.monotonic() + BREAKER_SECONDS

    def healthy(self) -> bool:
        return time.monotonic() >= self._broken_until

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.pool.close(timeout=1)
