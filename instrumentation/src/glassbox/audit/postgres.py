"""The central audit log: one hash chain for the fleet, in an append-only PostgreSQL table.

Records are the same canonical JSON as the file log's lines (glassbox.audit.chain): ``seq``, ``prev`` and
``hash`` over the event, kept whole in the ``record`` column, with the fields auditors search on copied into
indexed columns. Writers on many hosts are serialised by an advisory lock held for one transaction: each process
has one writer thread that takes every event its callers have queued (a batch) and hands it, as templates of
each event's canonical JSON, to ``glassbox.audit_append``, which locks, reads the head, chains and inserts the
batch inside the database and commits without waiting for the disk; the writer then waits for the WAL flush
(signing a checkpoint when one is due) outside the lock. So N concurrent events of a process cost one lock and
one flush, and the lock is never held across a client round trip.

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
import uuid
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
    AuditWriteError,
    Verification,
    canonical,
    check_chain,
    check_checkpoints,
    key_id,
    load_or_create_key,
)
from glassbox.state import schema
from glassbox.state.postgres import Database, describe

MAX_BATCH = 500
_APPEND = (
    "SELECT out_seq, out_hash, out_record, last_checkpoint FROM glassbox.audit_append(%s, %s, %s, %s, %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
)


def _columns(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """The indexed columns of an event's row: id, time, tenant, action, actor id, request id, trace id."""
    actor = event.get("actor") or {}
    return (
        str(event.get("id")),
        str(event.get("time")),
        event.get("tenant"),
        str(event.get("action")),
        actor.get("id"),
        event.get("request_id"),
        event.get("trace_id"),
    )


def _templates(event: Mapping[str, Any], seq_mark: str, prev_mark: str, hash_mark: str) -> tuple[str, str]:
    """The event's canonical JSON as a record without its hash (what is hashed) and as the whole record, with
    marks where the database puts the sequence number, the previous hash and the hash."""
    hashing = canonical({**event, "seq": seq_mark, "prev": prev_mark}).decode()
    stored = canonical({**event, "seq": seq_mark, "prev": prev_mark, "hash": hash_mark}).decode()
    for mark in (seq_mark, prev_mark, hash_mark):
        if (hashing + stored).count(mark) != (1 if mark == hash_mark else 2):
            raise ValueError("an audit event holds a chain mark")  # 128 random bits: never by chance
    return hashing, stored


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
    _connected: psycopg.Connection[Any] | None = field(default=None, repr=False)
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
        """Append events in order, in one transaction of the writer; returns their records. An event already in
        the chain (from a spool: its first write went through after its caller stopped waiting) is not written
        again."""
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
            live = [(item, future) for item, future in batch if future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                records = self._write([item for item, _ in live])
            except Exception as error:
                self._drop_connection()
                self.db.trip(describe(error))
                failure = AuditWriteError(f"{self.where}: {describe(error)}")
                for _, future in live:
                    future.set_exception(failure)
                continue
            for (_, future), record in zip(live, records, strict=True):
                future.set_result(record)

    def _connection(self) -> psycopg.Connection[Any]:
        """The writer thread's own connection, committing durably (the state's pool commits asynchronously)."""
        if self._connected is None or self._connected.closed or self._connected.broken:
            self._drop_connection()
            self._connected = psycopg.connect(self.db.conninfo, autocommit=True)
            self._connected.execute("SET synchronous_commit TO on")
        return self._connected

    def _drop_connection(self) -> None:
        if self._connected is not None:
            self._connected.close()
        self._connected = None

    def _write(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Chain and insert a batch: one call of glassbox.audit_append (the chain's lock is held only while the
        database chains it, and its transaction does not wait for the disk), then, in the same round trip, a
        durable transaction that waits for the WAL to be flushed past it (signing a checkpoint when one is due).
        A record whose flush is not confirmed can only be lost with every record after it, never leave a gap."""
        marks = (uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex)  # seq, prev, hash
        columns: list[list[Any]] = [[] for _ in range(9)]
        for event in events:
            for column, value in zip(columns, (*_columns(event), *_templates(event, *marks)), strict=True):
                column.append(value)
        connection = self._connection()
        with connection.pipeline():
            rows = connection.execute(_APPEND, (schema.AUDIT_LOCK, *marks, *columns)).fetchall()
            records = [json.loads(record) for _, _, record, _ in rows]
            written = [record for (seq, _, _, _), record in zip(rows, records, strict=True) if seq is not None]
            last_checkpoint = float(rows[0][3] or 0.0) if rows else 0.0
            due = any(record["seq"] % self.checkpoint_every == 0 for record in written)
            if written and (due or time.time() - last_checkpoint >= self.checkpoint_seconds) and self._can_sign():
                self._sign(connection, written[-1])  # durable: it waits for the flush itself
            else:
                connection.execute("SELECT pg_current_xact_id()")  # a durable commit: waits for the flush
        return records

    def _can_sign(self) -> bool:
        return self.create_key or self._key is not None or self.key_path.exists()

    def _sign(self, connection: psycopg.Connection[Any], last: Mapping[str, Any]) -> None:
        """Insert a checkpoint of ``last`` signed with this host's key."""
        head = {"seq": last["seq"], "hash": last["hash"], "time": round(time.time(), 3)}
        key = self.key()
        connection.execute(
            "INSERT INTO glassbox.audit_checkpoints (seq, hash, time, key_id, signature) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (seq) DO NOTHING",
            (head["seq"], head["hash"], head["time"], key_id(key.public_key()), key.sign(canonical(head)).hex()),
        )

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
