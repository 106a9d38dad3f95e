"""The single-host state: a SQLite file for spend, budgets and thresholds, files for the kill switch.

The default (``GLASSBOX_STATE_URL`` unset), with nothing to set up: every process on the host opens the same
SQLite file (``GLASSBOX_BUDGETS_STATE``; empty: an in-memory database, so spend is counted per process) and
reads the same kill-switch files. A reservation is one ``BEGIN IMMEDIATE`` transaction, which SQLite
serialises across the host's processes; a lock held longer than ``GLASSBOX_STATE_TIMEOUT`` is a
:class:`StateUnavailable`, not a stalled model call.

The kill switch is the file ``GLASSBOX_KILL_SWITCH_FILE`` (every tenant: it exists while the switch is on) and,
for one tenant, ``<that file>.tenants/tenant-<id>``. Each process reads them at most every
``KILL_SWITCH_REFRESH`` seconds, so a switch turned on by another process is obeyed within that time.
Per-request usage stays in the process (a request is served by one process of one host).

A process whose guard obeys the state (:meth:`FileState.watch`) keeps a small file in ``<kill-switch
file>.watchers/`` (its host, pid and working directory), touched every ``WATCHER_HEARTBEAT`` seconds by a
thread of its own and removed when it exits; :meth:`FileState.watchers` counts those whose process is alive
(same host) and whose file was touched within ``WATCHER_STALE`` seconds, so an operator's command can say how
many processes will obey a change.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import math
import os
import socket
import sqlite3
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from glassbox import conventions as c
from glassbox import private_files
from glassbox.state.base import (
    EVERY_TENANT,
    RESERVATION_SECONDS,
    TOTAL_BUDGET,
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

KILL_SWITCH_REFRESH = 0.25
BUDGETS_REFRESH = 1.0
REQUESTS_TRACKED = 10_000
SWEEP_SECONDS = 60.0
TENANT_FILE_PREFIX = "tenant-"
# A watcher's file is touched this often, and no longer counted once older than WATCHER_STALE.
WATCHER_HEARTBEAT = 2.0
WATCHER_STALE = 10.0
T = TypeVar("T")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS spend_days (tenant TEXT NOT NULL, day TEXT NOT NULL, spent REAL NOT NULL DEFAULT 0, "
    "reserved REAL NOT NULL DEFAULT 0, PRIMARY KEY (tenant, day))",
    "CREATE TABLE IF NOT EXISTS reservations (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, day TEXT NOT NULL, "
    "usd REAL NOT NULL, expires REAL NOT NULL, total INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS budgets (tenant TEXT PRIMARY KEY, day REAL, month REAL, updated REAL NOT NULL)",
    "CREATE TABLE IF NOT EXISTS thresholds (tenant TEXT NOT NULL, period TEXT NOT NULL, period_key TEXT NOT NULL, "
    "ratio REAL NOT NULL, limit_usd REAL NOT NULL, PRIMARY KEY (tenant, period, period_key, ratio, limit_usd))",
)


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _safe(name: str) -> str:
    """``name`` with only the characters a file name may safely hold."""
    return "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in name)[:64] or "host"


def _alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # another user's process
    except (OSError, OverflowError):
        return False
    return True


def _check_usd(usd: float) -> None:
    if not (math.isfinite(usd) and usd >= 0):
        raise ValueError(f"{usd!r} is not an amount of USD >= 0")


class FileState(State):
    backend = "files"
    obeyed_within = KILL_SWITCH_REFRESH

    def __init__(
        self,
        spend_file: Path | None,
        kill_switch_file: Path,
        timeout: float,
        scope: str,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.spend_file = spend_file
        self.on_failure = on_failure or (lambda operation: None)
        self.kill_switch_file = kill_switch_file
        self.tenant_switches = kill_switch_file.with_name(kill_switch_file.name + ".tenants")
        self.watchers_dir = kill_switch_file.with_name(kill_switch_file.name + ".watchers")
        self._watch_file: Path | None = None
        self._watch_pid = 0
        self._watch_stop = threading.Event()
        self._watch_failing = False
        self.timeout = timeout
        self.scope = scope
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._connection_pid = 0
        self._last_sweep = 0.0
        self._ok = True
        # kill switch: what the files said, and when they were read
        self._switches: dict[str | None, KillSwitch] = {}
        self._switches_read = -KILL_SWITCH_REFRESH
        self._switches_current = True
        self._budgets: dict[str, dict[str, float]] = {}
        self._budgets_read = -BUDGETS_REFRESH
        # request id -> [model calls, USD, tokens, wall time it arrived]
        self._requests: OrderedDict[str, list[float]] = OrderedDict()

    # ------------------------------------------------------------------ SQLite
    def _db(self) -> sqlite3.Connection:
        """This process's connection (a forked worker opens its own)."""
        if self._connection is None or self._connection_pid != os.getpid():
            if self.spend_file is None:
                connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            else:
                # Created 0600 (SQLite gives its -wal and -shm files the same mode), in a directory created 0700;
                # refused when it is a symbolic link, another user's, or writable by others.
                os.close(private_files.open_file(self.spend_file, os.O_RDWR | os.O_CREAT))
                connection = sqlite3.connect(
                    self.spend_file, timeout=self.timeout, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")
            for statement in SCHEMA:
                connection.execute(statement)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(reservations)")}
            if "total" not in columns:  # a file made by an earlier glassbox
                connection.execute("ALTER TABLE reservations ADD COLUMN total INTEGER NOT NULL DEFAULT 0")
            self._connection, self._connection_pid = connection, os.getpid()
        return self._connection

    def _run(self, name: str, operation: Callable[[sqlite3.Connection], T], write: bool = True) -> T:
        """Run ``operation`` in one transaction (``BEGIN IMMEDIATE`` when it writes); any failure of the file is
        a :class:`StateUnavailable` naming it."""
        with self._lock:
            try:
                db = self._db()
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = operation(db)
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            except (sqlite3.Error, OSError) as error:
                self._ok = False
                self.on_failure(name)
                where = self.spend_file or "(in memory)"
                raise StateUnavailable(f"spend file {where} (GLASSBOX_BUDGETS_STATE): {error}") from error
            self._ok = True
            return result

    @staticmethod
    def _month(db: sqlite3.Connection, tenant: str, day: str, exclude_day: bool) -> float:
        first, following = month_bounds(day)
        query = "SELECT COALESCE(SUM(spent + reserved), 0) FROM spend_days WHERE tenant = ? AND day >= ? AND day < ?"
        args: tuple[Any, ...] = (tenant, first, following)
        if exclude_day:
            query += " AND day <> ?"
            args = (*args, day)
        return float(db.execute(query, args).fetchone()[0])

    def _sweep(self, db: sqlite3.Connection) -> None:
        """Release reservations whose call never settled them (its process died mid-call)."""
        now = time.time()
        if now - self._last_sweep < SWEEP_SECONDS:
            return
        self._last_sweep = now
        for tenant, day, usd, total in db.execute(
            "DELETE FROM reservations WHERE expires < ? RETURNING tenant, day, usd, total", (now,)
        ).fetchall():
            for key in (tenant, TOTAL_BUDGET) if total else (tenant,):
                db.execute(
                    "UPDATE spend_days SET reserved = MAX(reserved - ?, 0) WHERE tenant = ? AND day = ?",
                    (usd, key, day),
                )

    # ------------------------------------------------------------------ spend
    @classmethod
    def _hold(cls, db: sqlite3.Connection, key: str, limits: Mapping[str, float], usd: float, day: str) -> None:
        """Hold ``usd`` on one spend row (a tenant's or the total's), or BudgetExceeded."""
        db.execute("INSERT OR IGNORE INTO spend_days (tenant, day) VALUES (?, ?)", (key, day))
        spent, reserved = db.execute(
            "SELECT spent, reserved FROM spend_days WHERE tenant = ? AND day = ?", (key, day)
        ).fetchone()
        used = {c.BUDGET_PERIOD_DAY: spent + reserved}
        if c.BUDGET_PERIOD_MONTH in limits:
            used[c.BUDGET_PERIOD_MONTH] = cls._month(db, key, day, exclude_day=True) + spent + reserved
        for period, limit in limits.items():
            if used[period] >= limit or used[period] + usd > limit:
                raise BudgetExceeded(key, period, used[period], limit, usd)
        db.execute("UPDATE spend_days SET reserved = reserved + ? WHERE tenant = ? AND day = ?", (usd, key, day))

    def reserve(
        self,
        tenant: str,
        limits: Mapping[str, float],
        usd: float,
        day: str,
        total: Mapping[str, float] | None = None,
    ) -> Reservation:
        _check_usd(usd)
        if tenant == TOTAL_BUDGET:
            raise ValueError(f"{tenant} is not a tenant")

        def operation(db: sqlite3.Connection) -> Reservation:
            self._sweep(db)
            self._hold(db, tenant, limits, usd, day)
            if total is not None:
                self._hold(db, TOTAL_BUDGET, total, usd, day)  # refused: the transaction rolls the tenant's back
            row = db.execute(
                "INSERT INTO reservations (tenant, day, usd, expires, total) VALUES (?, ?, ?, ?, ?) RETURNING id",
                (tenant, day, usd, time.time() + RESERVATION_SECONDS, int(total is not None)),
            ).fetchone()
            return Reservation(tenant, day, usd, row[0], total=total is not None)

        return self._run("reserve", operation)

    def _add(self, db: sqlite3.Connection, key: str, day: str, usd: float, released: float) -> SpendChange:
        db.execute("INSERT OR IGNORE INTO spend_days (tenant, day) VALUES (?, ?)", (key, day))
        (spent,) = db.execute(
            "UPDATE spend_days SET spent = spent + ?, reserved = MAX(reserved - ?, 0) WHERE tenant = ? AND day = ? "
            "RETURNING spent",
            (usd, released, key, day),
        ).fetchone()
        first, following = month_bounds(day)
        (others,) = db.execute(
            "SELECT COALESCE(SUM(spent), 0) FROM spend_days WHERE tenant = ? AND day >= ? AND day < ? AND day <> ?",
            (key, first, following, day),
        ).fetchone()
        month = float(others) + spent
        return SpendChange(key, day, spent - usd, spent, month - usd, month)

    def _book(
        self, db: sqlite3.Connection, tenant: str, day: str, usd: float, released: float, total: bool
    ) -> SpendChange:
        change = self._add(db, tenant, day, usd, released)
        if not total:
            return change
        return dataclasses.replace(change, total=self._add(db, TOTAL_BUDGET, day, usd, released))

    def settle(self, reservation: Reservation, usd: float) -> SpendChange:
        _check_usd(usd)

        def operation(db: sqlite3.Connection) -> SpendChange:
            row = db.execute(
                "DELETE FROM reservations WHERE id = ? RETURNING usd, total", (reservation.handle,)
            ).fetchone()
            held, total = (row[0], bool(row[1])) if row else (0.0, reservation.total)
            return self._book(db, reservation.tenant, reservation.day, usd, held, total)

        change = self._run("settle", operation)
        reservation.done = True
        return change

    def add_spend(self, tenant: str, usd: float, day: str, total: bool = False) -> SpendChange:
        _check_usd(usd)
        return self._run("settle", lambda db: self._book(db, tenant, day, usd, 0.0, total))

    def mark_threshold(self, tenant: str, period: str, period_key: str, ratio: float, limit: float) -> bool:
        def operation(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "INSERT OR IGNORE INTO thresholds VALUES (?, ?, ?, ?, ?)", (tenant, period, period_key, ratio, limit)
            )
            return cursor.rowcount == 1

        return self._run("settle", operation)

    def spent(self, tenant: str, day: str) -> dict[str, float]:
        def operation(db: sqlite3.Connection) -> dict[str, float]:
            first, following = month_bounds(day)
            today, month = db.execute(
                "SELECT COALESCE(SUM(CASE WHEN day = ? THEN spent ELSE 0 END), 0), COALESCE(SUM(spent), 0) "
                "FROM spend_days WHERE tenant = ? AND day >= ? AND day < ?",
                (day, tenant, first, following),
            ).fetchone()
            return {c.BUDGET_PERIOD_DAY: float(today), c.BUDGET_PERIOD_MONTH: float(month)}

        return self._run("spend_read", operation, write=False)

    def spend_by_tenant(self, day: str) -> dict[str, dict[str, float]]:
        def operation(db: sqlite3.Connection) -> dict[str, dict[str, float]]:
            first, following = month_bounds(day)
            rows = db.execute(
                "SELECT tenant, SUM(CASE WHEN day = ? THEN spent ELSE 0 END), SUM(spent) FROM spend_days "
                "WHERE day >= ? AND day < ? GROUP BY tenant",
                (day, first, following),
            ).fetchall()
            return {t: {c.BUDGET_PERIOD_DAY: float(d), c.BUDGET_PERIOD_MONTH: float(m)} for t, d, m in rows}

        return self._run("spend_read", operation, write=False)

    # ------------------------------------------------------------------ budgets
    def budgets(self) -> dict[str, dict[str, float]]:
        """The budgets in the file, re-read at most every BUDGETS_REFRESH seconds (the guard asks every call)."""
        now = time.monotonic()
        if now - self._budgets_read < BUDGETS_REFRESH:
            return self._budgets

        def operation(db: sqlite3.Connection) -> dict[str, dict[str, float]]:
            rows = db.execute("SELECT tenant, day, month FROM budgets").fetchall()
            return {tenant: limits_of(day, month) for tenant, day, month in rows}

        try:
            self._budgets = self._run("budget_read", operation, write=False)
        finally:
            self._budgets_read = now
        return self._budgets

    def set_budget(
        self, tenant: str, limits: Mapping[str, float] | None, event: dict[str, Any] | None = None
    ) -> dict[str, float] | None:
        def operation(db: sqlite3.Connection) -> dict[str, float] | None:
            row = db.execute("SELECT day, month FROM budgets WHERE tenant = ?", (tenant,)).fetchone()
            if limits is None:
                db.execute("DELETE FROM budgets WHERE tenant = ?", (tenant,))
            else:
                db.execute(
                    "INSERT OR REPLACE INTO budgets VALUES (?, ?, ?, ?)",
                    (tenant, limits.get(c.BUDGET_PERIOD_DAY), limits.get(c.BUDGET_PERIOD_MONTH), time.time()),
                )
            return limits_of(*row) if row else None

        before = self._run("budget_set", operation)
        self._budgets_read = -BUDGETS_REFRESH
        return before

    # ------------------------------------------------------------------ kill switch
    def _tenant_file(self, tenant: str) -> Path:
        return self.tenant_switches / f"{TENANT_FILE_PREFIX}{tenant}"

    @staticmethod
    def _read_switch(path: Path, tenant: str | None) -> KillSwitch:
        try:
            text = path.read_text(errors="replace")
        except (PermissionError, IsADirectoryError) as error:  # it exists: the switch is on, whoever made it
            return KillSwitch(tenant, f"{path} exists but cannot be read ({error.strerror})", None, "")
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if not isinstance(record, dict):  # a file made by hand (touch, echo): its text is the reason
            since = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
            return KillSwitch(tenant, text.strip() or None, None, since)
        return KillSwitch(tenant, record.get("reason"), record.get("actor"), str(record.get("since", "")))

    def _scan(self) -> dict[str | None, KillSwitch]:
        switches: dict[str | None, KillSwitch] = {}
        if self.kill_switch_file.exists():
            switches[None] = self._read_switch(self.kill_switch_file, None)
        if self.tenant_switches.is_dir():
            for path in self.tenant_switches.iterdir():
                if path.name.startswith(TENANT_FILE_PREFIX):
                    tenant = path.name[len(TENANT_FILE_PREFIX) :]
                    switches[tenant] = self._read_switch(path, tenant)
        return switches

    def kill_switch(self, tenant: str | None) -> tuple[KillSwitch | None, bool]:
        now = time.monotonic()
        if now - self._switches_read >= KILL_SWITCH_REFRESH:
            try:
                self._switches, self._switches_current = self._scan(), True
            except OSError:
                self._switches_current = False  # unreadable: keep what was last seen
            self._switches_read = now
        switches = self._switches
        found = switches.get(None) or (switches.get(tenant) if tenant else None)
        return found, self._switches_current

    def set_kill_switch(
        self,
        on: bool,
        tenant: str | None,
        reason: str | None,
        actor: str | None,
        event: dict[str, Any] | None = None,
    ) -> None:
        path = self.kill_switch_file if tenant in (None, EVERY_TENANT) else self._tenant_file(str(tenant))
        if on:
            record = {"reason": reason, "actor": actor, "since": _now_iso()}
            partial = path.with_name(f".{path.name}.{os.getpid()}")
            partial.unlink(missing_ok=True)  # a crash's leftover (unlink never follows a link)
            private_files.write_new_file(partial, (json.dumps(record) + "\n").encode())  # O_EXCL: never a link
            partial.replace(path)  # the rename replaces whatever is at ``path``, a link included, never its target
        else:
            path.unlink(missing_ok=True)
        self._switches_read = -KILL_SWITCH_REFRESH  # this process obeys at its next call

    def kill_switches(self) -> list[KillSwitch]:
        return list(self._scan().values())

    # ------------------------------------------------------------------ per-request usage
    def _usage(self, request_id: str, arrived: float) -> list[float]:
        usage = self._requests.get(request_id)
        if usage is None:
            usage = self._requests[request_id] = [0, 0.0, 0, arrived]
            while len(self._requests) > REQUESTS_TRACKED:
                self._requests.popitem(last=False)
        else:
            self._requests.move_to_end(request_id)
        return usage

    def count_request_call(
        self, request_id: str, limits: RequestLimits, arrived: float, now: float
    ) -> tuple[str, str] | None:
        with self._lock:
            usage = self._usage(request_id, arrived)
            refusal = RequestUsage(int(usage[0]), usage[1], int(usage[2]), usage[3]).refusal(request_id, limits, now)
            if refusal is None:
                usage[0] += 1
            return refusal

    def add_request_spend(self, request_id: str, usd: float, tokens: int) -> None:
        with self._lock:
            usage = self._requests.get(request_id)
            if usage is not None:
                usage[1] += usd
                usage[2] += tokens

    # ------------------------------------------------------------------ who obeys it
    @property
    def location(self) -> str:
        spend = self.spend_file or "in each process's memory (GLASSBOX_BUDGETS_STATE is empty)"
        return f"kill switch {self.kill_switch_file}, spend {spend}"

    def watch(self) -> None:
        if self._watch_file is not None and self._watch_pid == os.getpid():
            return
        self._watch_pid = os.getpid()
        self._watch_file = self.watchers_dir / f"{_safe(socket.gethostname())}-{os.getpid()}"
        self._watch_stop = threading.Event()
        self._beat()
        threading.Thread(target=self._heartbeat, name="glassbox-state-watcher", daemon=True).start()
        atexit.register(self._unwatch)

    def _beat(self) -> None:
        """Touch this process's watcher file (written anew when missing); the first of a run of failures is
        counted (``glassbox.state.failures{operation="watch"}``), none is raised."""
        path = self._watch_file
        if path is None:
            return
        failing, self._watch_failing = self._watch_failing, True
        try:
            try:
                os.utime(path, follow_symlinks=False)
            except FileNotFoundError:
                record = {"pid": os.getpid(), "host": socket.gethostname(), "cwd": os.getcwd(), "since": _now_iso()}
                partial = path.with_name(f".{path.name}")
                partial.unlink(missing_ok=True)
                private_files.write_new_file(partial, (json.dumps(record) + "\n").encode())
                partial.replace(path)
        except OSError:
            if not failing:
                self.on_failure("watch")
            return
        self._watch_failing = False

    def _heartbeat(self) -> None:
        stop = self._watch_stop
        while not stop.wait(WATCHER_HEARTBEAT):
            if os.getpid() != self._watch_pid:
                return  # a forked child: it registers with a state of its own
            self._beat()

    def _unwatch(self) -> None:
        if self._watch_file is not None and self._watch_pid == os.getpid():
            self._watch_stop.set()
            self._watch_file.unlink(missing_ok=True)
            self._watch_file = None

    def watchers(self) -> list[str]:
        """The live watchers: their file touched within WATCHER_STALE seconds and, on this host, their pid alive.
        OSError when the directory cannot be read."""
        try:
            paths = sorted(self.watchers_dir.iterdir())
        except FileNotFoundError:
            return []
        here, now, found = socket.gethostname(), time.time(), []
        for path in paths:
            try:
                status = path.lstat()
                record = json.loads(path.read_text()) if stat.S_ISREG(status.st_mode) else None
            except (OSError, ValueError):
                continue  # removed meanwhile, or not a watcher's file
            if not isinstance(record, dict) or now - status.st_mtime > WATCHER_STALE:
                continue
            pid, host = record.get("pid"), record.get("host")
            if not isinstance(pid, int) or (host == here and not _alive(pid)):
                continue
            found.append(f"pid {pid} on {host} in {record.get('cwd')}")
        return found

    # ------------------------------------------------------------------ lifecycle
    def healthy(self) -> bool:
        return self._ok and self._switches_current

    def close(self) -> None:
        self._unwatch()
        with self._lock:
            if self._connection is not None and self._connection_pid == os.getpid():
                self._connection.close()
            self._connection = None
