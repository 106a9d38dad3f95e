"""The central audit log: one hash chain for the fleet, in an append-only PostgreSQL table.

Records are the same canonical JSON as the file log's lines (glassbox.audit.chain): ``seq``, ``prev`` and
``hash`` over the event, kept whole in the ``record`` column, with the fields auditors search on copied into
indexed columns. Writers on many hosts are serialised by the row lock of ``glassbox.audit_head`` held for one
transaction: each process has one writer thread that takes every event its callers have queued (a batch) and
hands it, as templates of each event's canonical JSON (glassbox.db.rows), to ``glassbox.audit_append``, a
SECURITY DEFINER function that locks the head, chains and inserts the batch inside the database and commits
without waiting for the disk; the writer then waits for the WAL flush (signing the checkpoints due) outside the
lock. So N concurrent events of a process cost one lock and one flush, and the lock is never held across a client
round trip. The app's role has no INSERT on the table: the function and the table's continuity trigger decide
each record's sequence number. A batch of nothing but reading records (``audit.verify``, ``audit.export``,
``audit.read``) goes through ``glassbox.audit_append_reads``, which the reader roles may call.

An event whose ``id`` is already in the chain (written by a transaction whose caller had given up waiting and
spooled it) is not written twice: the append returns the record already there.

Checkpoints (``glassbox.audit_checkpoints``, written through ``glassbox.audit_checkpoint``, which refuses the
head of a record that is not in the chain) are signed at every record whose sequence number is a multiple of
``checkpoint_every`` and after ``checkpoint_seconds``, with the host's key (``GLASSBOX_AUDIT_KEY_FILE``), named by
:func:`~glassbox.audit.chain.key_id`: give every replica the same key, or pin each host's public key. Each also
goes to the witness (glassbox.audit.witness). The glassbox commands (``audit``, ``budgets``, ``kill-switch``,
``story``) sign only with a key that exists already.
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

from glassbox.audit import witness
from glassbox.audit.chain import (
    CENTRAL_LOG,
    CHAIN_FIELDS,
    AuditWriteError,
    Verification,
    check_chain,
    check_checkpoints,
    key_id,
    load_signing_key,
    report_signing_refused,
    sign_checkpoint,
)
from glassbox.audit.chain import chain_id as chain_of
from glassbox.db import Database, Marks, describe, rows, schema

MAX_BATCH = 500
# The actions a reader of the trail may append (the record of its own reading: glassbox.audit_append_reads).
READ_ACTIONS = frozenset({"audit.verify", "audit.export", "audit.read"})
_ARRAYS = ", ".join(["%s::text[]"] * 9)
_COLUMNS = "out_seq, out_hash, out_record, last_checkpoint, last_checkpoint_seq, last_checkpoint_every"
_APPEND = f"SELECT {_COLUMNS} FROM glassbox.audit_append(%s, %s, %s, %s, {_ARRAYS})"
_APPEND_READS = f"SELECT {_COLUMNS} FROM glassbox.audit_append_reads(%s, %s, %s, {_ARRAYS})"


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
    _chain_id: str | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        return f"the audit table of {self.db.safe_url}"

    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_signing_key(self.key_path, create=self.create_key)
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
        """Chain and insert a batch: one call of glassbox.audit_append (the head's lock is held only while the
        database chains it, and its transaction does not wait for the disk), then, in the same round trip, a
        durable transaction that waits for the WAL to be flushed past it: the signed checkpoints due, or an empty
        one. A record whose flush is not confirmed can only be lost with every record after it, never leave a gap.

        Due: every record whose sequence number is a multiple of ``checkpoint_every`` since the newest checkpoint
        (one a reader's or a keyless command's append passed over is signed by the next writer that has the key:
        no role an app holds can delete a checkpoint, so signing late never covers one up), and the last record
        when the newest checkpoint is older than ``checkpoint_seconds``."""
        marks = Marks.new()
        columns: list[list[Any]] = [[] for _ in range(9)]
        for event in events:
            for column, value in zip(columns, (*rows.columns(event), *rows.templates(event, marks)), strict=True):
                column.append(value)
        reads_only = all(event.get("action") in READ_ACTIONS for event in events)
        connection = self._connection()
        with connection.pipeline():
            if reads_only:  # any role that may read the trail may record its reading
                result = connection.execute(_APPEND_READS, (marks.seq, marks.prev, marks.hash, *columns))
            else:
                result = connection.execute(_APPEND, (schema.AUDIT_LOCK, marks.seq, marks.prev, marks.hash, *columns))
            found = result.fetchall()
            records = [json.loads(row[2]) for row in found]
            written = [record for row, record in zip(found, records, strict=True) if row[0] is not None]
            if written:
                self._learn_chain_id(connection, written)
            signed: list[dict[str, Any]] = []
            if written and not reads_only and self._can_sign():
                due = self._due(written[-1]["seq"], *found[0][3:6])
                hashes = {record["seq"]: record["hash"] for record in written}
                signed = [c for seq in due if (c := self._sign(connection, seq, hashes.get(seq))) is not None]
            if not signed:
                connection.execute("SELECT pg_current_xact_id()")  # a durable commit: waits for the flush
        for checkpoint in signed:
            witness.send_checkpoint(checkpoint, CENTRAL_LOG, self.chain_id)
        return records

    def _due(self, head: int, last_time: float | None, last_seq: int | None, last_every: int | None) -> list[int]:
        """The records to sign after the chain reached ``head``, the newest checkpoint being record ``last_seq``
        (signed at ``last_time``, stating ``last_every``): every multiple of this writer's ``checkpoint_every``
        after it, and the head when the newest checkpoint is as many records behind as the ``every`` it states
        (another writer's setting may be larger than this one's) or older than ``checkpoint_seconds``."""
        after = last_seq or 0
        every = self.checkpoint_every
        due = list(range(after - after % every + every, head + 1, every))
        behind = last_every is not None and head - after >= last_every
        late = time.time() - (last_time or 0.0) >= self.checkpoint_seconds
        if (behind or late) and head not in due:
            due.append(head)
        return due

    @property
    def chain_id(self) -> str | None:
        """The chain's identity (the start of record 1's hash, as glassbox.audit.chain names a chain), once this
        process's writer has seen it; never waits for the database."""
        return self._chain_id

    def _learn_chain_id(self, connection: psycopg.Connection[Any], written: list[dict[str, Any]]) -> None:
        """Note the chain's identity on the writer's connection, once per process."""
        if self._chain_id is not None:
            return
        first = next((record for record in written if record["seq"] == 1), None)
        if first is None:
            row = connection.execute("SELECT hash FROM glassbox.audit_log WHERE seq = 1").fetchone()
            first = {"hash": str(row[0])} if row else None
        if first is not None:
            self._chain_id = chain_of(first)

    def _can_sign(self) -> bool:
        return self.create_key or self._key is not None or self.key_path.exists()

    def _sign(self, connection: psycopg.Connection[Any], seq: int, hash_: str | None) -> dict[str, Any] | None:
        """Insert a checkpoint of record ``seq`` (its hash, read from the table when not given) signed with this
        host's key (it waits for the flush itself); None when this host's key may not sign (it does not match the
        pinned public key: counted, logged once)."""
        try:
            key = self.key()
        except Exception as error:
            report_signing_refused(self.key_path, error)
            return None
        if hash_ is None:
            row = connection.execute("SELECT hash FROM glassbox.audit_log WHERE seq = %s", (seq,)).fetchone()
            if row is None:
                return None
            hash_ = str(row[0])
        checkpoint = sign_checkpoint(key, seq, hash_, self.checkpoint_every)
        fields = ("seq", "hash", "time", "every", "key_id", "signature")
        connection.execute(
            "SELECT glassbox.audit_checkpoint(%s, %s, %s, %s, %s, %s)", tuple(checkpoint[name] for name in fields)
        )
        return checkpoint

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
            fields = ("seq", "hash", "time", "key_id", "signature", "every")
            signed = [
                (f"checkpoint {row[0]}", dict(zip(fields, row, strict=True)))
                for row in connection.execute(
                    f"SELECT {', '.join(fields)} FROM glassbox.audit_checkpoints ORDER BY seq"
                )
            ]
        check_checkpoints(result, signed, keys, hashes, self.checkpoint_every)
        return result
