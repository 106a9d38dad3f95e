"""The durable audit log: append-only JSON lines, hash-chained, with Ed25519-signed checkpoints kept apart.

Each record is one line of canonical JSON (sorted keys, no spaces, UTF-8) holding the event, its sequence
number ``seq``, the hash of the record before it (``prev``) and its own ``hash``: the SHA-256 of the canonical
JSON of the record without ``hash``. Editing, deleting, inserting or reordering a record breaks the chain at
that sequence number.

Several processes on one host append to the same file: each append takes an exclusive ``flock`` on the log,
reads the last record, writes the new line with one ``write`` on an ``O_APPEND`` descriptor and fsyncs it. A
writer killed in the middle of a line leaves a torn line without a newline; the next writer ends it with a
newline and chains from the last whole record, and ``verify`` reports the torn line without calling the chain
broken.

Every ``checkpoint_every`` records or ``checkpoint_seconds`` seconds, the writer signs the head (sequence
number, hash, time) with an Ed25519 key and appends it to a checkpoint file in another directory. Deleting the
tail of the log, or rewriting the whole chain, is then detected against the signed heads (records after the
newest checkpoint can still be cut without trace: that window is what the two settings bound).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
TAIL_BLOCK = 4096


class AuditWriteError(OSError):
    """The audit record could not be written durably."""


def canonical(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


CHAIN_FIELDS = frozenset({"seq", "prev", "hash"})


def event_digest(event: Mapping[str, Any]) -> str:
    """SHA-256 of the event's canonical JSON without what the log adds (seq, prev, hash): the same for the event
    as it happened and for its record in any chain."""
    return hashlib.sha256(canonical({k: v for k, v in event.items() if k not in CHAIN_FIELDS})).hexdigest()


# --------------------------------------------------------------------------- keys
def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The signing key at ``path`` (PKCS#8 PEM), created with mode 0600 on first use, its public key beside it."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path}: not an Ed25519 private key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(pem)
    public_key_path(path).write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return key


def public_key_path(private_key: Path) -> Path:
    return private_key.with_name(private_key.name + ".pub")


def load_public_key(path: Path) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


# --------------------------------------------------------------------------- writing
def _last_record(descriptor: int) -> tuple[dict[str, Any] | None, bool]:
    """The last whole record in the file, and whether the file ends in a torn line (no final newline).

    Reads backwards from the end, a small block first (one record is a few hundred bytes), growing.
    """
    size = os.fstat(descriptor).st_size
    if size == 0:
        return None, False
    torn = os.pread(descriptor, 1, size - 1) != b"\n"
    position, carry, block = size, b"", TAIL_BLOCK
    while position > 0:
        step = min(block, position)
        position -= step
        data = os.pread(descriptor, step, position) + carry
        end = len(data)
        while True:
            newline = data.rfind(b"\n", 0, end)
            if newline < 0 and position > 0:
                carry = data[:end]  # the start of this line is in an earlier block
                break
            line = data[newline + 1 : end]
            parsed = _parse(line) if line else None
            if parsed is not None:
                return parsed, torn
            if newline < 0:
                break
            end = newline
        block *= 4
    return None, torn


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and "seq" in value and "hash" in value else None


@dataclass
class AuditLog:
    """One host's audit log and its checkpoint file; safe to share between processes."""

    path: Path
    checkpoints: Path
    key_path: Path
    checkpoint_every: int = 100
    checkpoint_seconds: float = 60.0
    fsync: bool = True
    _key: Ed25519PrivateKey | None = field(default=None, repr=False)
    _last_checkpoint_time: float | None = field(default=None, repr=False)
    _directories_made: bool = field(default=False, repr=False)

    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_or_create_key(self.key_path)
        return self._key

    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Append one event; returns the record as written (with ``seq``, ``prev`` and ``hash``)."""
        if CHAIN_FIELDS & set(event):
            raise ValueError("seq, prev and hash are set by the log")
        try:
            if not self._directories_made:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._directories_made = True
            descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
        except OSError as error:
            raise AuditWriteError(f"audit log {self.path}: {error}") from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            last, torn = _last_record(descriptor)
            record = dict(event)
            record["seq"] = (last["seq"] + 1) if last else 1
            record["prev"] = last["hash"] if last else GENESIS
            record["hash"] = record_hash(record)
            line = canonical(record) + b"\n"
            os.write(descriptor, (b"\n" if torn else b"") + line)
            if self.fsync:
                os.fsync(descriptor)
            self._maybe_checkpoint(record)
            return record
        except OSError as error:
            raise AuditWriteError(f"audit log {self.path}: {error}") from error
        finally:
            os.close(descriptor)  # releases the lock

    def _maybe_checkpoint(self, record: Mapping[str, Any]) -> None:
        """Every ``checkpoint_every``-th record, whichever process writes it, or when this process has not seen
        a checkpoint for ``checkpoint_seconds``."""
        if self._last_checkpoint_time is None:
            last = last_checkpoint(self.checkpoints)
            self._last_checkpoint_time = float(last["time"]) if last else 0.0
        due = record["seq"] % self.checkpoint_every == 0
        if due or time.time() - self._last_checkpoint_time >= self.checkpoint_seconds:
            self.checkpoint(record)

    def checkpoint(self, record: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Sign the head of the log (the given record, or the last one) into the checkpoint file."""
        if record is None:
            if not self.path.exists():
                return None
            with self.path.open("rb") as log:
                record, _ = _last_record(log.fileno())
            if record is None:
                return None
        head = {"seq": record["seq"], "hash": record["hash"], "time": round(time.time(), 3)}
        self._last_checkpoint_time = head["time"]
        signed = {**head, "signature": self.key().sign(canonical(head)).hex()}
        self.checkpoints.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.checkpoints, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, canonical(signed) + b"\n")
            if self.fsync:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        return signed


def last_checkpoint(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    with path.open("rb") as file:
        record, _ = _last_record(file.fileno())
    return record


# --------------------------------------------------------------------------- verifying
@dataclass
class Verification:
    records: int = 0
    last_seq: int = 0
    checkpoints: int = 0
    # The first sequence number where the log stops being trustworthy, and why.
    first_bad_seq: int | None = None
    problems: list[str] = field(default_factory=list)
    # Lines a writer left half-written (byte offset, text): reported, not a break in the chain.
    torn: list[tuple[int, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and not self.problems

    def fail(self, seq: int, problem: str) -> None:
        if self.first_bad_seq is None or seq < self.first_bad_seq:
            self.first_bad_seq = seq
        self.problems.append(problem)


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short name of a public key (the start of the SHA-256 of its raw bytes), recorded with each checkpoint the
    central log signs."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def check_chain(result: Verification, records: Iterable[tuple[str, dict[str, Any]]]) -> dict[int, str]:
    """Recompute the chain of ``records`` (where each came from, record) into ``result``; returns seq -> hash of
    the records that chain. Stops at the first break."""
    hashes: dict[int, str] = {}
    expected_seq, prev = 1, GENESIS
    for where, record in records:
        seq = record.get("seq")
        if not isinstance(seq, int) or seq != expected_seq:
            result.fail(expected_seq, f"{where}: sequence number {seq}, expected {expected_seq}")
            break
        if record.get("prev") != prev:
            result.fail(seq, f"record {seq}: does not chain to record {seq - 1} (a record before it changed)")
            break
        if record_hash(record) != record.get("hash"):
            result.fail(seq, f"record {seq}: its content does not match its hash (edited)")
            break
        hashes[seq] = record["hash"]
        result.records += 1
        result.last_seq = seq
        expected_seq, prev = seq + 1, record["hash"]
    return hashes


def verify(
    path: Path, checkpoints: Path, public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None
) -> Verification:
    """Recompute the chain of the log file and check every signed checkpoint against it (signed by one of the
    public keys; None: signatures not checked)."""
    result = Verification()
    data = path.read_bytes() if path.exists() else b""

    def lines() -> Iterator[tuple[str, dict[str, Any]]]:
        offset = 0
        for raw in data.split(b"\n"):
            start, offset = offset, offset + len(raw) + 1
            if not raw:
                continue
            record = _parse(raw)
            if record is None:
                result.torn.append((start, raw[:200].decode(errors="replace")))
                continue
            yield f"record at byte {start}", record

    hashes = check_chain(result, lines())
    signed = []
    if checkpoints.exists():
        for number, raw in enumerate(checkpoints.read_bytes().splitlines(), start=1):
            try:
                signed.append((f"checkpoint line {number}", json.loads(raw)))
            except ValueError:
                result.problems.append(f"checkpoint line {number}: unreadable")
    elif result.records:
        result.problems.append(f"no checkpoint file at {checkpoints}")
    trusted = [public_key] if isinstance(public_key, Ed25519PublicKey) else list(public_key or [])
    check_checkpoints(result, signed, {key_id(k): k for k in trusted}, hashes, require_key=public_key is not None)
    return result


def check_checkpoints(
    result: Verification,
    signed: Iterable[tuple[str, Mapping[str, Any]]],
    keys: Mapping[str, Ed25519PublicKey],
    hashes: Mapping[int, str],
    require_key: bool = True,
) -> None:
    """Check each signed head (where it came from, checkpoint) against ``keys`` (key id -> public key; a
    checkpoint names its key with ``key_id``, or is tried with each) and against the chain's hashes."""
    for where, checkpoint in signed:
        try:
            head = {"seq": checkpoint["seq"], "hash": checkpoint["hash"], "time": checkpoint["time"]}
            signature = bytes.fromhex(checkpoint["signature"])
        except (ValueError, KeyError, TypeError):
            result.problems.append(f"{where}: unreadable")
            continue
        if require_key:
            named = str(checkpoint.get("key_id") or "")
            candidates = [keys[named]] if named in keys else ([] if named else list(keys.values()))
            if not candidates:
                result.problems.append(f"{where}: signed by key {named}, which is not among the trusted public keys")
                continue
            if not any(_signed_by(key, signature, head) for key in candidates):
                result.problems.append(f"{where}: bad signature")
                continue
        result.checkpoints += 1
        seq = head["seq"]
        if seq not in hashes:
            if result.first_bad_seq is None and seq > result.last_seq:
                result.fail(result.last_seq + 1, f"checkpoint {seq}: the log ends at {result.last_seq} (tail cut)")
            continue
        if hashes[seq] != head["hash"]:
            result.fail(seq, f"checkpoint {seq}: the log's record {seq} is not the one signed (chain rewritten)")


def _signed_by(key: Ed25519PublicKey, signature: bytes, head: Mapping[str, Any]) -> bool:
    try:
        key.verify(signature, canonical(head))
    except InvalidSignature:
        return False
    return True
