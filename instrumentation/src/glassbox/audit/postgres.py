"""The central audit log: one hash chain for the fleet, in an append-only PostgreSQL table.

Records are the same canonical JSON as the file log's lines (glassbox.audit.chain): ``seq``, ``prev`` and
``hash`` over the event, kept whole in the ``record`` column, with the fields auditors search on copied into
indexed columns. Writers on many hosts are serialised by an advisory lock held for one transaction: each process
has one writer thread that takes every event its callers have queued (a batch), locks, reads the head of the
chain, chains and inserts the batch, signs a checkpoint when one is due, and commits. So N concurrent events
of a process cost one lock and one commit.

An event whose ``id`` is already in the chain (written by a transaction whose caller had given up waiting and
spooled it) is not written twice: the append returns the record already there.

Checkpoints (``glassbox.audit_checkpoints``) sign the head with the host's key (``GLASSBOX_AUDIT_KEY_FILE``) and
name the key by :func:`~glassbox.audit.chain.key_id`: give every replica the same key, or verify with each
host's public key. The glassbox commands (``audit``, ``budgets``, ``kill-switch``, ``story``) sign only with a key
that exists already.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glassbox.audit.chain import (
    CHAIN_FIELDS,
    GENESIS,
    AuditWriteError,
    Verification,
    canonical,
    check_chain,
    check_checkpoints,
    key_id,
    load_or_create_key,
    record_hash,
)
from glassbox.state import schema
from glassbox.state.postgres import Database, describe

MAX_BATCH = 500
_INSERT = (
    "INSERT INTO glassbox.audit_log (seq, event_id, time, tenant, action, actor_id, request_id, trace_id, record, "
    "hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


@dataclass
class Filters:
    """What `glassbox audit export` asks for (None: anything)."""

    since: datetime | None = None
    until: datetime | None = None
    tenant: str | None = None
    actor: str | None = None
    action: str | None = None
    request_id: str | None = None
    trace_ids: Sequence[str] = field(default_factory=list)


@dataclass
class PostgresAuditLog:
    """The fleet's audit log in ``glassbox.audit_log``; ``append`` has the file log's contract."""

    db: Database
    key_path: Path
    checkpoint_every: int = 100
    checkpoint_seconds: float = 60.0
    # Apps create their key on first use; a command run by an operator signs only with a key it already has
    # (the fleet's), so that no checkpoint is signed by a key the verifiers do not know.
    create_key: bool = True
    _key: Ed25519PrivateKey | None = field(default=None, repr=False)
    _last_checkpoint: float | None = field(default=None, repr=False)
    _queue: list[tuple[dict[str, Any], Future[dict[str, Any]]]] = field(default_factory=list, repr=False)
    _wake: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _writer: threading.Thread | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"the audit table of {self.db.safe_url}"

    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_or_create_key(self.key_path)
        return self._key

    # ------------------------------------------------------------------ writing
    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Append one event (with the events other threads of this process append meanwhile); returns its record.
        :class:`AuditWriteError` when the database does not take it within GLASSBOX_STATE_TIMEOUT."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Append events in order, in one transaction of the writer; returns their records."""
        if any(CHAIN_FIELDS & set(event) for event in events):
            raise ValueError("seq, prev and hash are set by the log")
        if not self.db.healthy():  # it failed a moment ago: do not make every caller wait out the timeout
            raise AuditWriteError(f"{self.where}: {self.db.last_error}")
        futures: list[Future[dict[str, Any]]] = [Future() for _ in events]
        with self._wake:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="glassbox-audit-writer", daemon=True)
                self._writer.start()
            self._queue.extend(zip((dict(event) for event in events), futures, strict=True))
            self._wake.notify()
        deadline = time.monotonic() + self.db.timeout * (1 + len(events) // MAX_BATCH)
        try:
            return [future.result(max(deadline - time.monotonic(), 0.0)) for future in futures]
        except FutureTimeout:
            for future in futures:
                future.cancel()  # not written yet: it never will be; being written: the spool's copy is skipped
            self.db.trip(f"the audit log did not answer within {self.db.timeout:g} s (GLASSBOX_STATE_TIMEOUT)")
            raise AuditWriteError(f"{self.where}: no answer within {self.db.timeout:g} s") from None

    def _write_loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue:
                    self._wake.wait()
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            live = [(event, future) for event, future in batch if future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                records = self._write([event for event, _ in live])
            except Exception as error:
                self.db.trip(describe(error))
                failure = AuditWriteError(f"{self.where}: {describe(error)}")
                for _, future in live:
                    future.set_exception(failure)
                continue
            for (_, future), record in zip(live, records, strict=True):
                future.set_result(record)

    def _write(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.db.pool.connection(timeout=self.db.timeout) as connection:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (schema.AUDIT_LOCK,))
                head = connection.execute(
                    "SELECT seq, hash FROM glassbox.audit_log ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                present = {
                    event_id: json.loads(record)
                    for event_id, record in connection.execute(
                        "SELECT event_id, record FROM glassbox.audit_log WHERE event_id = ANY(%s)",
                        ([str(e.get("id")) for e in events],),
                    )
                }
                seq, prev = (int(head[0]), str(head[1])) if head else (0, GENESIS)
                records, rows = [], []
                for event in events:
                    if str(event.get("id")) in present:
                        records.append(present[str(event.get("id"))])
                        continue
                    seq += 1
                    record = {**event, "seq": seq, "prev": prev}
                    record["hash"] = prev = record_hash(record)
                    records.append(record)
                    present[str(record.get("id"))] = record
                    rows.append(_row(record))
                if rows:
                    with connection.cursor() as cursor:
                        cursor.executemany(_INSERT, rows)
                    self._maybe_checkpoint(connection, records[-1] if rows else None, rows)
            return records

    def _maybe_checkpoint(
        self, connection: psycopg.Connection[Any], last: Mapping[str, Any] | None, rows: list[tuple[Any, ...]]
    ) -> None:
        if last is None or (not self.create_key and self._key is None and not self.key_path.exists()):
            return
        if self._last_checkpoint is None:
            row = connection.execute("SELECT max(time) FROM glassbox.audit_checkpoints").fetchone()
            self._last_checkpoint = float(row[0]) if row and row[0] is not None else 0.0
        due = any(row[0] % self.checkpoint_every == 0 for row in rows)
        if due or time.time() - self._last_checkpoint >= self.checkpoint_seconds:
            head = {"seq": last["seq"], "hash": last["hash"], "time": round(time.time(), 3)}
            key = self.key()
            connection.execute(
                "INSERT INTO glassbox.audit_checkpoints (seq, hash, time, key_id, signature) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (seq) DO NOTHING",
                (head["seq"], head["hash"], head["time"], key_id(key.public_key()), key.sign(canonical(head)).hex()),
            )
            self._last_checkpoint = head["time"]

    def checkpoint(self) -> dict[str, Any] | None:
        """Sign the head of the chain now (for `glassbox audit verify --checkpoint` and tests)."""

        def operation(connection: psycopg.Connection[Any]) -> dict[str, Any] | None:
            with connection.transaction():
                connection.execute("SELECT pg_advisory_xact_lock(%s)", (schema.AUDIT_LOCK,))
                row = connection.execute(
                    "SELECT seq, hash FROM glassbox.audit_log ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                if row is None:
                    return None
                self._last_checkpoint = 0.0
                self._maybe_checkpoint(connection, {"seq": row[0], "hash": row[1]}, [])
                return {"seq": row[0], "hash": row[1]}

        return self.db.call("audit_checkpoint", operation, timeout=max(self.db.timeout, 5.0))

    # ------------------------------------------------------------------ reading
    def records(self, filters: Filters | None = None) -> Iterator[dict[str, Any]]:
        """The chained records matching ``filters``, in sequence order (streamed: any size)."""
        filters = filters or Filters()
        where: list[str] = ["true"]
        params: dict[str, Any] = {}
        for column, value in (
            ("tenant", filters.tenant),
            ("actor_id", filters.actor),
            ("action", filters.action),
            ("request_id", filters.request_id),
        ):
            if value is not None:
                where.append(f"{column} = %({column})s")
                params[column] = value
        if filters.since is not None:
            where.append("time >= %(since)s")
            params["since"] = filters.since
        if filters.until is not None:
            where.append("time < %(until)s")
            params["until"] = filters.until
        if filters.trace_ids:
            where.append("trace_id = ANY(%(trace_ids)s)")
            params["trace_ids"] = list(filters.trace_ids)
        query = f"SELECT record FROM glassbox.audit_log WHERE {' AND '.join(where)} ORDER BY seq"
        with psycopg.connect(self.db.conninfo) as connection, connection.cursor(name="glassbox_audit_read") as cursor:
            cursor.itersize = 2000
            cursor.execute(query.encode(), params)
            for (record,) in cursor:
                yield json.loads(record)

    def verify(self, public_keys: Sequence[Ed25519PublicKey]) -> Verification:
        """Recompute the whole chain and check every signed checkpoint (against ``public_keys``; empty: the
        signatures are not checked) and that each row's indexed columns match its record."""
        result = Verification()
        keys = {key_id(key): key for key in public_keys}
        with psycopg.connect(self.db.conninfo) as connection:
            with connection.cursor(name="glassbox_audit_verify") as cursor:
                cursor.itersize = 2000
                cursor.execute(
                    "SELECT seq, event_id, tenant, action, request_id, trace_id, record FROM glassbox.audit_log "
                    "ORDER BY seq"
                )

                def rows() -> Iterator[tuple[str, dict[str, Any]]]:
                    for seq, event_id, tenant, action, request_id, trace_id, text in cursor:
                        try:
                            record = json.loads(text)
                        except ValueError:
                            result.fail(seq, f"record {seq}: not readable JSON (edited)")
                            record = {"seq": seq}
                        columns = (seq, event_id, tenant, action, request_id, trace_id)
                        fields = ("seq", "id", "tenant", "action", "request_id", "trace_id")
                        if columns != tuple(record.get(name) for name in fields):
                            result.fail(seq, f"record {seq}: its indexed columns do not match its content (edited)")
                        yield f"row with seq {seq}", record

                hashes = check_chain(result, rows())
            signed = [
                (
                    f"checkpoint {row[0]}",
                    {"seq": row[0], "hash": row[1], "time": row[2], "key_id": row[3], "signature": row[4]},
                )
                for row in connection.execute(
                    "SELECT seq, hash, time, key_id, signature FROM glassbox.audit_checkpoints ORDER BY seq"
                )
            ]
        if result.records and not signed:
            result.problems.append("no signed checkpoint in glassbox.audit_checkpoints")
        check_checkpoints(result, signed, keys, hashes, require_key=bool(keys))
        return result


def _row(record: Mapping[str, Any]) -> tuple[Any, ...]:
    actor = record.get("actor") or {}
    return (
        record["seq"],
        str(record.get("id")),
        record.get("time"),
        record.get("tenant"),
        str(record.get("action")),
        actor.get("id"),
        record.get("request_id"),
        record.get("trace_id"),
        canonical(record).decode(),
        record["hash"],
    )
