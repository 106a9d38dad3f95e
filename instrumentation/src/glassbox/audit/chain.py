"""The durable audit log: append-only JSON lines, hash-chained, with Ed25519-signed checkpoints kept apart.

Each record is one line of canonical JSON (sorted keys, no spaces, UTF-8) holding the event, its sequence
number ``seq``, the hash of the record before it (``prev``) and its own ``hash``: the SHA-256 of the canonical
JSON of the record without ``hash``. Editing, deleting, inserting or reordering a record breaks the chain at
that sequence number.

Several processes on one host append to the same file: each append takes an exclusive ``flock`` on the log,
reads the last record, writes the new line with one ``write`` on an ``O_APPEND`` descriptor and fsyncs it. A
writer killed in the middle of a line leaves a torn line without a newline; the next writer ends it with a
newline and chains from the last whole record, and ``verify`` reports the torn line without calling the chain
broken. The log, its checkpoints and the key are private files (glassbox.private_files): a symbolic link, a
file or directory of another user, or one that others may write, is refused.

**Checkpoints.** Under the log's lock, the writer signs the head with an Ed25519 key: at every record whose
``seq`` is a multiple of ``every`` (GLASSBOX_AUDIT_CHECKPOINT_EVERY), when ``checkpoint_seconds`` have passed,
when the newest checkpoint is ``every`` records behind (a checkpoint states the ``every`` its writer used, and
that promise is kept whatever the setting of the process writing next), and when there is no checkpoint, or
only one from before checkpoints stated their cadence. A signed checkpoint is
``{"seq", "hash", "time", "every", "key_id", "signature"}``, the signature over the canonical JSON of the five
others, appended to a checkpoint file in another directory and sent to the witness (glassbox.audit.witness:
Loki's audit stream). Checkpoints written before carry only ``seq``, ``hash``, ``time`` (and maybe ``key_id``)
and were signed over the first three: they still verify. A writer never signs a position it has passed: a
missing checkpoint stays missing.

**The cadence rule** (:func:`check_checkpoints`): after a trusted checkpoint at ``c`` stating ``every = e``, the
next one is at ``c + e`` at the latest, wherever the record ``c + e`` exists; before the first checkpoint the
same with the first's ``e`` (or, without any checkpoint, the setting). So a checkpoint deleted, a checkpoint file
emptied or cut short, and records deleted with the chain re-hashed (which invalidates every checkpoint after
them) all fail, except for this one case: fewer than ``e`` records cut from the end together with the
checkpoints after them leave no local trace. The witness holds those checkpoints and, with every record's
copy, catches it (``glassbox audit verify --against-loki``). A writer killed between a record that needed a
checkpoint and its checkpoint can leave a gap too, which ``verify`` reports like any other.

**Trust** comes from the public keys the operator pins (GLASSBOX_AUDIT_PUBLIC_KEY or ``--public-key``: a PEM
file, PEM text, or SHA-256 fingerprints of the raw public key), never from the ``.pub`` written beside the
private key: without a pin nothing is trusted, and a writer whose key is not pinned does not sign (counted as
``glassbox.telemetry.dropped{signal="audit", reason="checkpoint_unsigned"}`` and logged once).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from glassbox import instruments, private_files, settings
from glassbox.audit import witness
from glassbox.db.rows import canonical as canonical  # the records' canonical JSON: part of this module's API

GENESIS = "0" * 64
TAIL_BLOCK = 4096
# The checkpoint fields a signature covers, by format: with ``every`` (now), or without (before).
SIGNED_FIELDS = ("seq", "hash", "time", "every", "key_id")
LEGACY_SIGNED_FIELDS = ("seq", "hash", "time")
# How the witness and the OTel copies name a log: the host's file, or the fleet's table.
FILE_LOG, CENTRAL_LOG = "file", "central"

_logger = logging.getLogger("glassbox")
_reported: set[str] = set()
_reported_lock = threading.Lock()


class AuditWriteError(OSError):
    """The audit record could not be written durably."""


class UntrustedKeyError(ValueError):
    """The signing key is not among the pinned public keys (or there is none to sign with and none may be made)."""


class PinError(ValueError):
    """A pinned public key (GLASSBOX_AUDIT_PUBLIC_KEY or ``--public-key``) cannot be read."""


def record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical({k: v for k, v in record.items() if k != "hash"})).hexdigest()


CHAIN_FIELDS = frozenset({"seq", "prev", "hash"})


def event_digest(event: Mapping[str, Any]) -> str:
    """SHA-256 of the event's canonical JSON without what the log adds (seq, prev, hash): the same for the event
    as it happened and for its record in any chain."""
    return hashlib.sha256(canonical({k: v for k, v in event.items() if k not in CHAIN_FIELDS})).hexdigest()


def report_once(what: str, error: BaseException | str) -> None:
    """Log a problem of the audit trail once per distinct message on the ``glassbox`` logger."""
    message = f"{what}: {error}"
    with _reported_lock:
        if message in _reported or len(_reported) > 1000:
            return
        _reported.add(message)
    _logger.error("glassbox: %s", message)


def count_dropped(reason: str) -> None:
    """Count something of the audit trail that was not done (``glassbox.telemetry.dropped{signal="audit"}``)."""
    instruments.count_dropped_quietly("audit", reason)


def report_signing_refused(key_path: Path, error: BaseException) -> None:
    """A checkpoint that was due was not signed because the key at ``key_path`` may not sign (not pinned,
    unsafe, unreadable, or none may be made): counted
    (``glassbox.telemetry.dropped{signal="audit", reason="checkpoint_unsigned"}``) and logged once."""
    count_dropped("checkpoint_unsigned")
    report_once(f"audit checkpoints are not signed with {key_path}", error)


# --------------------------------------------------------------------------- keys and pins
def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: Ed25519PublicKey) -> str:
    """The SHA-256 of the raw public key, in hex: what GLASSBOX_AUDIT_PUBLIC_KEY may pin."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short name of a public key (the first 16 hex digits of its fingerprint), recorded with each checkpoint."""
    return fingerprint(public_key)[:16]


def public_key_path(private_key: Path) -> Path:
    return private_key.with_name(private_key.name + ".pub")


def public_pem(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _public_keys_in(pem: bytes, where: str) -> list[Ed25519PublicKey]:
    """Every public key in PEM text (several blocks allowed); a private key block gives its public key."""
    blocks = list(re.finditer(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", pem, re.DOTALL))
    keys: list[Ed25519PublicKey] = []
    for match in blocks:
        block = match.group(0)
        try:
            if b"PRIVATE" in match.group(1):
                private = serialization.load_pem_private_key(block, password=None)
                key: object = private.public_key()
            else:
                key = serialization.load_pem_public_key(block)
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise PinError(f"{where}: not a readable PEM key ({error})") from None
        if not isinstance(key, Ed25519PublicKey):
            raise PinError(f"{where}: not an Ed25519 key")
        keys.append(key)
    if not blocks:
        raise PinError(f"{where}: no PEM key in it")
    return keys


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The (first) Ed25519 public key in the PEM file ``path`` (:class:`PinError`, a ValueError, when none)."""
    return _public_keys_in(path.read_bytes(), str(path))[0]


_FINGERPRINT = re.compile(r"^(?:sha256:)?([0-9a-f]{64})$", re.IGNORECASE)


@dataclass(frozen=True)
class Pins:
    """The public keys an operator trusts: whole keys, and SHA-256 fingerprints of raw keys."""

    keys: tuple[Ed25519PublicKey, ...] = ()
    fingerprints: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.keys or self.fingerprints)

    def __or__(self, other: Pins) -> Pins:
        return Pins(self.keys + other.keys, self.fingerprints | other.fingerprints)

    def trusts(self, public_key: Ed25519PublicKey) -> bool:
        own = fingerprint(public_key)
        return own in self.fingerprints or any(fingerprint(key) == own for key in self.keys)

    def resolve(self, candidates: Iterable[Ed25519PublicKey] = ()) -> list[Ed25519PublicKey]:
        """The pinned keys, and each candidate (a key read from anywhere) whose fingerprint is pinned."""
        found: dict[str, Ed25519PublicKey] = {fingerprint(key): key for key in self.keys}
        for key in candidates:
            if fingerprint(key) in self.fingerprints:
                found.setdefault(fingerprint(key), key)
        return list(found.values())


def parse_pin(value: str, where: str = "GLASSBOX_AUDIT_PUBLIC_KEY") -> Pins:
    """One pin: PEM text, SHA-256 fingerprints (hex, separated by commas or spaces; ``sha256:`` allowed), or the
    path of a PEM file. :class:`PinError` when it is none of these or cannot be read."""
    text = value.strip()
    if not text:
        return Pins()
    if "-----BEGIN" in text:
        return Pins(tuple(_public_keys_in(text.encode(), where)))
    tokens = [token for token in re.split(r"[\s,]+", text) if token]
    matches = [_FINGERPRINT.match(token) for token in tokens]
    if all(matches):
        return Pins(fingerprints=frozenset(m.group(1).lower() for m in matches if m))
    path = Path(text).expanduser()
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PinError(f"{where}: {text!r} is neither PEM text, nor SHA-256 fingerprints, nor a readable file "
                       f"({error.strerror or error})") from None  # fmt: skip
    return Pins(tuple(_public_keys_in(data, str(path))))


def pinned_keys(given: Sequence[str] = (), environ: Mapping[str, str] | None = None) -> Pins:
    """What the operator pins: each ``--public-key`` value in ``given`` and GLASSBOX_AUDIT_PUBLIC_KEY."""
    pins = parse_pin(str(settings.AUDIT_PUBLIC_KEY.get(environ) or ""))
    for value in given:
        pins = pins | parse_pin(str(value), f"--public-key {value}")
    return pins


def trusted_public_keys(pins: Pins, environ: Mapping[str, str] | None = None) -> list[Ed25519PublicKey]:
    """The public keys signatures are checked against: those ``pins`` hold whole (see :func:`pinned_keys`), and for
    a pinned fingerprint the key that matches it among the keys this host can read (the ``.pub`` beside
    GLASSBOX_AUDIT_KEY_FILE, or that key itself). A ``.pub`` is only ever a candidate: a key whose fingerprint
    is not pinned is not trusted. Empty: nothing is pinned."""
    found: list[Ed25519PublicKey] = []
    if pins.fingerprints:
        key_file = settings.app_path(settings.AUDIT_KEY_FILE.get(environ))
        for path in (public_key_path(key_file), key_file):
            try:
                found.extend(_public_keys_in(path.read_bytes(), str(path)))
            except (OSError, PinError):
                continue
    return pins.resolve(found)


def load_signing_key(path: Path, create: bool) -> Ed25519PrivateKey:
    """The Ed25519 signing key at ``path`` (PKCS#8 PEM, a private file: mode 0600, not a symbolic link, this
    user's or root's, readable by nobody else). Missing and ``create``: made (``O_EXCL``) with its public key
    beside it as ``.pub`` for the operator to pin, unless GLASSBOX_AUDIT_PUBLIC_KEY pins keys already (a new
    key could not match them). :class:`UntrustedKeyError` when the key is not among the pinned ones, or none
    exists and none may be made; :class:`~glassbox.private_files.UnsafeFileError` when the file is unsafe."""
    pins = pinned_keys()
    try:
        data = private_files.read_file(path, secret=True)
    except FileNotFoundError:
        if not create:
            raise UntrustedKeyError(f"{path}: no signing key here (this command does not create one)") from None
        if pins:
            raise UntrustedKeyError(
                f"{path}: no signing key here, and GLASSBOX_AUDIT_PUBLIC_KEY pins keys a new one would not match"
            ) from None
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            private_files.write_new_file(path, pem, secret=True)
        except FileExistsError:  # another process made it meanwhile: use that one
            return load_signing_key(path, create=False)
        _write_public_key(public_key_path(path), key.public_key())
        return key
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    if pins and not pins.trusts(loaded.public_key()):
        raise UntrustedKeyError(
            f"{path}: its public key (SHA-256 {fingerprint(loaded.public_key())}) is not among the keys "
            "GLASSBOX_AUDIT_PUBLIC_KEY pins"
        )
    return loaded


def _write_public_key(path: Path, public_key: Ed25519PublicKey) -> None:
    """Write (or replace) the ``.pub`` beside a new key, mode 0644: for the operator to pin, never trusted as such."""
    try:
        descriptor = private_files.open_file(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    except OSError as error:
        report_once(f"the public key {path} cannot be written", error)
        return
    try:
        os.fchmod(descriptor, 0o644)
        os.write(descriptor, public_pem(public_key))
    finally:
        os.close(descriptor)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """:func:`load_signing_key` with ``create=True``."""
    return load_signing_key(path, create=True)


# --------------------------------------------------------------------------- checkpoints
def sign_checkpoint(key: Ed25519PrivateKey, seq: int, hash: str, every: int, at: float | None = None) -> dict[str, Any]:
    """A signed checkpoint of the record ``seq`` whose hash is ``hash``, by a writer that signs at least every
    ``every`` records: ``{"seq", "hash", "time", "every", "key_id", "signature"}``, the signature (hex) over the
    canonical JSON of the other five."""
    head = {
        "seq": int(seq),
        "hash": str(hash),
        "time": round(time.time() if at is None else at, 3),
        "every": int(every),
        "key_id": key_id(key.public_key()),
    }
    return {**head, "signature": key.sign(canonical(head)).hex()}


def signed_part(checkpoint: Mapping[str, Any]) -> dict[str, Any]:
    """What a checkpoint's signature covers: all five fields when it states ``every``, else seq, hash and time
    (the format before). KeyError when a field is missing."""
    names = LEGACY_SIGNED_FIELDS if checkpoint.get("every") is None else SIGNED_FIELDS
    return {name: checkpoint[name] for name in names}


# --------------------------------------------------------------------------- writing
def _last_record(descriptor: int, size: int | None = None) -> tuple[dict[str, Any] | None, bool]:
    """The last whole record in the file, and whether the file ends in a torn line (no final newline).

    Reads backwards from the end, a small block first (one record is a few hundred bytes), growing.
    """
    size = os.fstat(descriptor).st_size if size is None else size
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


def _first_record(descriptor: int) -> dict[str, Any] | None:
    """The first record of the file (None when its first line is not one)."""
    data, offset, block = b"", 0, TAIL_BLOCK
    while True:
        chunk = os.pread(descriptor, block, offset)
        data += chunk
        newline = data.find(b"\n")
        if newline >= 0 or not chunk:
            return _parse(data[:newline] if newline >= 0 else data)
        offset, block = offset + len(chunk), block * 4


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) and "seq" in value and "hash" in value else None


def chain_id(first_record: Mapping[str, Any]) -> str:
    """The identity of a chain: the start of its first record's hash (the same for every copy of the chain)."""
    return str(first_record.get("hash", ""))[:32]


@dataclass
class AuditLog:
    """One host's audit log and its checkpoint file; safe to share between processes."""

    path: Path
    checkpoints: Path
    key_path: Path
    checkpoint_every: int = 100
    checkpoint_seconds: float = 60.0
    fsync: bool = True
    # Apps create their key on first use; an operator's command signs only with a key that exists already.
    create_key: bool = True
    _key: Ed25519PrivateKey | None = field(default=None, repr=False)
    _key_retry_at: float = field(default=0.0, repr=False)
    _last_checkpoint: dict[str, Any] | None = field(default=None, repr=False)
    # The checkpoint file as it was when _last_checkpoint was read from it (device, inode, size, mtime).
    _checkpoints_seen: tuple[int, int, int, int] | None = field(default=None, repr=False)
    _chain: tuple[int, int, str] | None = field(default=None, repr=False)  # (device, inode, chain id)

    @property
    def chain_id(self) -> str | None:
        """The identity of the chain this log last wrote to (see :func:`chain_id`), once known."""
        return self._chain[2] if self._chain else None

    def key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = load_signing_key(self.key_path, create=self.create_key)
        return self._key

    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Append one event; returns the record as written (with ``seq``, ``prev`` and ``hash``)."""
        if CHAIN_FIELDS & set(event):
            raise ValueError("seq, prev and hash are set by the log")
        try:
            descriptor = private_files.open_file(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, group_readable=True)
        except OSError as error:
            raise AuditWriteError(f"audit log {self.path}: {error}") from error
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            status = os.fstat(descriptor)
            last, torn = _last_record(descriptor, status.st_size)
            record = dict(event)
            record["seq"] = (last["seq"] + 1) if last else 1
            record["prev"] = last["hash"] if last else GENESIS
            record["hash"] = record_hash(record)
            line = canonical(record) + b"\n"
            os.write(descriptor, (b"\n" if torn else b"") + line)
            if self.fsync:
                os.fsync(descriptor)
            self._note_chain(descriptor, status, record)
            self._maybe_checkpoint(record)
            return record
        except OSError as error:
            raise AuditWriteError(f"audit log {self.path}: {error}") from error
        finally:
            os.close(descriptor)  # releases the lock

    def _note_chain(self, descriptor: int, status: os.stat_result, record: Mapping[str, Any]) -> None:
        """Remember the identity of the chain the file holds (read once per file); never raises."""
        if self._chain is not None and self._chain[:2] == (status.st_dev, status.st_ino):
            return
        try:
            first = record if record["seq"] == 1 else _first_record(descriptor)
        except OSError:
            first = None
        self._chain = (status.st_dev, status.st_ino, chain_id(first)) if first else None

    # ------------------------------------------------------------------ checkpoints
    def _known_checkpoint(self) -> dict[str, Any] | None:
        """The newest checkpoint, whichever process signed it: read again only when the file changed."""
        try:
            status = os.lstat(self.checkpoints)
            seen = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
        except OSError:
            seen = None
        if seen != self._checkpoints_seen:  # both None: still no file, and what this process signed stands
            try:
                self._last_checkpoint = last_checkpoint(self.checkpoints) if seen else None
            except OSError:
                self._last_checkpoint = None
            self._checkpoints_seen = seen
        return self._last_checkpoint

    def _due(self, seq: int, last: Mapping[str, Any] | None) -> bool:
        if seq % self.checkpoint_every == 0 or last is None or last.get("every") is None:
            return True
        try:
            behind = seq - int(last["seq"]) >= int(last["every"])
            old = time.time() - float(last["time"]) >= self.checkpoint_seconds
        except (KeyError, TypeError, ValueError):
            return True
        return behind or old

    def _maybe_checkpoint(self, record: Mapping[str, Any]) -> None:
        """Sign a checkpoint of ``record`` when one is due (see the module's docstring). Never raises: what
        fails is counted and logged once, and the record stays written."""
        seq = int(record["seq"])
        try:
            if self._due(seq, self._known_checkpoint()):
                self.checkpoint(record)
        except Exception as error:
            count_dropped("checkpoint_unsigned")
            report_once("an audit checkpoint was not signed", error)

    def checkpoint(self, record: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Sign the head of the log (the given record, or the last one), append it to the checkpoint file and
        send it to the witness. None when there is nothing to sign, or the key cannot sign (counted, logged)."""
        if record is None:
            if not self.path.exists():
                return None
            descriptor = private_files.open_file(self.path, os.O_RDONLY, create_directory=False)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_SH)
                record, _ = _last_record(descriptor)
            finally:
                os.close(descriptor)
            if record is None:
                return None
        if time.monotonic() < self._key_retry_at:
            return None  # the key failed a moment ago (counted then): tried again once the time is up
        try:
            key = self.key()
        except (OSError, ValueError) as error:  # unpinned, unsafe or unreadable: tried again a while later
            self._key_retry_at = time.monotonic() + self.checkpoint_seconds
            report_signing_refused(self.key_path, error)
            return None
        signed = sign_checkpoint(key, int(record["seq"]), str(record["hash"]), self.checkpoint_every)
        try:
            descriptor = private_files.open_file(
                self.checkpoints, os.O_WRONLY | os.O_APPEND | os.O_CREAT, group_readable=True
            )
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX)
                os.write(descriptor, canonical(signed) + b"\n")
                if self.fsync:
                    os.fsync(descriptor)
                status = os.fstat(descriptor)  # this process's own write: no need to read the file again
                self._checkpoints_seen = (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)
            finally:
                os.close(descriptor)
        except OSError as error:
            count_dropped("checkpoint_not_written")
            report_once(f"the audit checkpoint file {self.checkpoints} cannot be written", error)
        self._last_checkpoint = signed  # known from now on, even when only the witness has it
        witness.send_checkpoint(signed, FILE_LOG, chain=self.chain_id)
        return signed


def last_checkpoint(path: Path) -> dict[str, Any] | None:
    """The newest checkpoint in the checkpoint file (None when there is none); :class:`OSError` when the file
    cannot be read or is unsafe."""
    try:
        descriptor = private_files.open_file(path, os.O_RDONLY, create_directory=False)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH)
        record, _ = _last_record(descriptor)
    finally:
        os.close(descriptor)
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
    # The chain's hashes (seq -> hash) and the signed heads that verified (seq -> hash), for the witness.
    hashes: dict[int, str] = field(default_factory=dict)
    signed_heads: dict[int, str] = field(default_factory=dict)
    # Whether any public key was trusted (False: the signatures were not checked, which is a failure).
    trusted: bool = True

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None and not self.problems

    def fail(self, seq: int, problem: str) -> None:
        if self.first_bad_seq is None or seq < self.first_bad_seq:
            self.first_bad_seq = seq
        self.problems.append(problem)


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
    result.hashes = hashes
    return hashes


def verify(
    path: Path,
    checkpoints: Path,
    public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey] | None,
    every: int | None = None,
) -> Verification:
    """Recompute the chain of the log file and check every signed checkpoint against it, signed by one of the
    public keys (None or none: nothing is trusted, which fails), and the cadence rule (``every``: the setting,
    used where no checkpoint states one). Reads only: nothing is written or signed."""
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
    if every is None:
        every = settings.AUDIT_CHECKPOINT_EVERY.get()
    check_checkpoints(result, signed, {key_id(k): k for k in trusted}, hashes, every)
    return result


def check_checkpoints(
    result: Verification,
    signed: Iterable[tuple[str, Mapping[str, Any]]],
    keys: Mapping[str, Ed25519PublicKey],
    hashes: Mapping[int, str],
    every: int,
) -> None:
    """Check each signed head (where it came from, checkpoint) against ``keys`` (key id -> trusted public key; a
    checkpoint names its key with ``key_id``, or is tried with each), against the chain's ``hashes``, and the
    cadence rule (see the module's docstring) with ``every``, the setting, where no checkpoint states one.

    A checkpoint stating ``every`` is checked as signed over seq, hash, time, every and key_id; one without
    (``every`` missing or None, as a database row of the format before has it) over seq, hash and time. With no
    trusted key the signatures cannot be checked: that is a problem, and the rest is still reported."""
    if not keys:
        result.trusted = False
        result.problems.append(
            "no trusted public key (pin one with GLASSBOX_AUDIT_PUBLIC_KEY or --public-key): the checkpoints' "
            "signatures are not trusted"
        )
    heads: dict[int, int | None] = {}  # trusted checkpoints that match the chain: seq -> the every they state
    for where, checkpoint in signed:
        try:
            head = signed_part(checkpoint)
            seq, signed_hash = int(head["seq"]), str(head["hash"])
            stated = None if head.get("every") is None else int(head["every"])
            bytes.fromhex(str(checkpoint["signature"]))
        except (ValueError, KeyError, TypeError):
            result.problems.append(f"{where}: unreadable")
            continue
        if keys:
            untrusted = signature_problem(checkpoint, keys)
            if untrusted:
                result.problems.append(f"{where}: {untrusted}")
                continue
        result.checkpoints += 1
        if seq not in hashes:
            if result.first_bad_seq is None and seq > result.last_seq:
                result.fail(result.last_seq + 1, f"checkpoint {seq}: the log ends at {result.last_seq} (tail cut)")
            continue
        if hashes[seq] != signed_hash:
            result.fail(seq, f"checkpoint {seq}: the log's record {seq} is not the one signed (chain rewritten)")
            continue
        result.signed_heads[seq] = signed_hash
        if seq in heads and heads[seq] is not None:
            stated = max(stated or 0, heads[seq] or 0)
        heads[seq] = stated
    check_cadence(result, heads, every)


def check_cadence(result: Verification, heads: Mapping[int, int | None], every: int) -> None:
    """Fail where a run of records is longer than the checkpoints promised: after a checkpoint at ``c`` stating
    ``e``, the next is at ``c + e`` at the latest, wherever record ``c + e`` exists. Before the first checkpoint
    the first's ``e`` applies (the setting ``every`` without any checkpoint, or when the first states none);
    after one that states none (the format before) the setting applies to the end of the log only. With the
    chain broken, only the part before the break is checked."""
    last = result.last_seq
    if last == 0:
        return
    seqs = sorted(seq for seq in heads if seq <= last)
    anchor = 0
    promise: int | None = (heads[seqs[0]] if seqs else None) or every
    for seq in seqs:
        if promise is not None and seq > anchor + promise:
            _missing(result, anchor, promise, seq)
        anchor, promise = seq, heads[seq]
    if result.first_bad_seq is not None and result.first_bad_seq <= last + 1:
        return  # the chain ends in a break: what comes after it is already reported
    promise = promise or every
    if last >= anchor + promise:
        _missing(result, anchor, promise, None)


def _missing(result: Verification, anchor: int, promise: int, next_seq: int | None) -> None:
    after = f"checkpoint {anchor}" if anchor else "the start of the log"
    until = f"the next at {next_seq}" if next_seq is not None else f"the log's end at {result.last_seq}"
    result.fail(
        anchor + promise,
        f"record {anchor + promise}: no signed checkpoint from {after} to {until}, though one is signed at least "
        f"every {promise} records (checkpoints deleted, or records deleted and the chain re-hashed)",
    )


def signature_problem(checkpoint: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """Why ``checkpoint`` is not signed by one of ``keys`` (key id -> public key; a checkpoint names its key with
    ``key_id``, or is tried with each), or None when it is."""
    try:
        head = signed_part(checkpoint)
        signature = bytes.fromhex(str(checkpoint["signature"]))
    except (ValueError, KeyError, TypeError):
        return "unreadable"
    named = str(checkpoint.get("key_id") or "")
    candidates = [keys[named]] if named in keys else ([] if named else list(keys.values()))
    if not candidates:
        return f"signed by key {named}, which is not among the trusted public keys"
    if not any(_signed_by(key, signature, head) for key in candidates):
        return "bad signature"
    return None


def _signed_by(key: Ed25519PublicKey, signature: bytes, head: Mapping[str, Any]) -> bool:
    try:
        key.verify(signature, canonical(head))
    except InvalidSignature:
        return False
    return True
