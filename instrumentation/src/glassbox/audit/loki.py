"""`glassbox audit verify --against-loki`: the chain compared with the copies Loki received as events happened.

Every audit event is also sent, when it happens, to Loki's audit stream with its id, a digest of its content
(``glassbox.audit.digest``, the SHA-256 of its canonical JSON without seq/prev/hash), which log it went to and,
once chained, its sequence number: an event spooled while the log was down is sent without one when it happens,
and again with it when it enters the chain. Every signed checkpoint goes there too (glassbox.audit.witness).
Loki is the witness: what a rewrite on the app's host, or in the database, cannot reach.

Every copy must agree with the chain, and with the other copies of its event:

* a record whose copy has another digest was rewritten; a copy without a digest proves nothing and is a finding;
* a chained record with no copy carrying its sequence number, or a copy with another sequence number (unless
  the same event is chained twice there, as a spool moved after a crash may do), means records were removed or
  inserted before it;
* an event in Loki with a sequence number of this chain but not in the chain was removed (a cut tail, too);
* a witnessed checkpoint past the chain's end (tail cut), over another record than the chain's (rewritten and
  re-signed) or missing from the chain's checkpoints (deleted) is a finding; one whose signature no trusted key
  made is ignored (anyone who can send to the collector can send that), and counted;
* records with no copy at all are reported when older than the grace period (lost on the way, or added later);
* events Loki received without a sequence number that are in no chain are held outside the chain: waiting in a
  host's spool, or lost with it. They are counted, not failed.

Copies of another chain in the same Loki (another host's file, another fleet, an earlier run) are told apart by
their ``glassbox.audit.chain`` (the start of the chain's first record hash) and ``glassbox.audit.log``. When the
chain is known, a copy or checkpoint naming no chain is this chain's only when it is of one of its events (of one
of its records, for a checkpoint); the others cannot be placed and are counted (``unattributed``), not failed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from glassbox import conventions as c
from glassbox.audit.chain import Verification, event_digest, signature_problem
from glassbox.audit.store import parse_time
from glassbox.audit.witness import CHAIN_FIELD, LOG_FIELD, Witnessed, witnessed_checkpoint

WINDOW_SECONDS = 7 * 86400  # below Loki's default max_query_length (30d1h)
PAGE = 5000
SLACK_SECONDS = 3600  # Loki's timestamps are when the copy was sent: look a little around the chain's times
ID_FIELD = c.loki_field(c.AUDIT_EVENT_ID)
SEQ_FIELD = c.loki_field(c.AUDIT_SEQUENCE)
DIGEST_FIELD = c.loki_field(c.AUDIT_DIGEST)
SAMPLE = 10  # sequence numbers named in one finding


@dataclass
class Copy:
    """One copy of an audit event in Loki. ``seq`` is None when it was sent before the event was chained;
    ``malformed`` when it carried a sequence number that is not one."""

    event_id: str
    digest: str | None
    seq: int | None
    time: str
    log: str | None = None
    chain: str | None = None
    malformed: bool = False


@dataclass
class Stream:
    """What Loki's audit stream holds: every event copy (several per event: none is dropped) and checkpoint."""

    copies: list[Copy] = field(default_factory=list)
    checkpoints: list[Witnessed] = field(default_factory=list)


@dataclass
class Comparison:
    compared: int = 0
    missing: list[tuple[int, str]] = field(default_factory=list)  # (seq, event id) with no copy in Loki
    recent: int = 0  # records younger than the grace period, not compared
    waiting: list[str] = field(default_factory=list)  # in Loki but in no chain: in a host's spool, or lost with it
    checkpoints_compared: int = 0
    checkpoints_untrusted: int = 0  # witnessed checkpoints no trusted key signed: ignored
    # The chain's signed checkpoints not in Loki: signed before the witness existed, very recently, or lost.
    checkpoints_unwitnessed: int = 0
    # Numbered copies and checkpoints naming no chain that are not of this chain's events: not compared.
    unattributed: int = 0


def fields_of(stream: Mapping[str, Any], entry: list[Any]) -> dict[str, str]:
    """Labels and structured metadata of one Loki entry, whichever way Loki returned them."""
    found = dict(stream.get("stream") or {})
    if len(entry) > 2 and isinstance(entry[2], dict):
        extra = entry[2]
        found.update(extra.get("structuredMetadata") or {})
        found.update(extra.get("parsed") or {})
        if not ({"structuredMetadata", "parsed"} & set(extra)):
            found.update(extra)
    return found


def _entries(payload: Mapping[str, Any]) -> Iterator[tuple[int, dict[str, str]]]:
    for stream in (payload.get("data") or {}).get("result") or []:
        for entry in stream.get("values") or []:
            yield int(entry[0]), fields_of(stream, entry)


def add_page(into: Stream, payload: Mapping[str, Any]) -> tuple[int, int]:
    """Add the copies and checkpoints of one ``query_range`` answer (its JSON, as Loki returns it) to ``into``;
    returns how many entries it held and the newest timestamp (ns)."""
    count, newest = 0, 0
    for timestamp, found in _entries(payload):
        count += 1
        newest = max(newest, timestamp)
        when = datetime.fromtimestamp(timestamp / 1e9, UTC).isoformat()
        witnessed = witnessed_checkpoint(found, when)
        if witnessed is not None:
            into.checkpoints.append(witnessed)
            continue
        event_id = found.get(ID_FIELD)
        if not event_id:
            continue
        raw_seq, malformed, seq = found.get(SEQ_FIELD), False, None
        if raw_seq not in (None, ""):
            try:
                seq = int(str(raw_seq))
            except ValueError:
                malformed = True
        into.copies.append(
            Copy(
                event_id,
                found.get(DIGEST_FIELD) or None,
                seq,
                when,
                found.get(LOG_FIELD) or None,
                found.get(CHAIN_FIELD) or None,
                malformed,
            )
        )
    return count, newest


def read_stream(loki: str, start: float, end: float, timeout: float = 30.0) -> Stream:
    """Every copy and checkpoint in Loki's audit stream between ``start`` and ``end`` (epoch seconds)."""
    query = f'{{{c.LOKI_AUDIT_STREAM_LABEL}="{c.AUDIT_STREAM_VALUE}"}}'
    stream = Stream()
    headers = {"X-Loki-Response-Encoding-Flags": "categorize-labels"}
    with httpx.Client(timeout=timeout, headers=headers) as client:
        window_start = int(start * 1e9)
        final = int(end * 1e9)
        while window_start < final:
            window_end = min(final, window_start + WINDOW_SECONDS * 10**9)
            page_start = window_start
            while True:
                response = client.get(
                    f"{loki}/loki/api/v1/query_range",
                    params={
                        "query": query,
                        "start": page_start,
                        "end": window_end,
                        "limit": PAGE,
                        "direction": "forward",
                    },
                )
                response.raise_for_status()
                count, newest = add_page(stream, response.json())
                if count < PAGE:
                    break
                # The next page starts at the newest timestamp again: entries sharing it may continue there;
                # an entry read twice is a duplicate copy, which agrees with itself.
                page_start = max(newest, page_start + 1)
            window_start = window_end
    return stream


def _young(record: Mapping[str, Any], now: float, grace: float) -> bool:
    try:
        return now - parse_time(str(record.get("time"))).timestamp() < grace
    except ValueError:
        return False


def compare(
    result: Verification,
    records: Iterable[Mapping[str, Any]],
    stream: Stream,
    grace: float,
    *,
    keys: Mapping[str, Ed25519PublicKey] | None = None,
    log: str | None = None,
    chain: str | None = None,
) -> Comparison:
    """Check each record of the chain against its copies, and the chain against the witnessed checkpoints
    (signed by one of ``keys``, key id -> public key); problems go into ``result``. ``log`` and ``chain`` name
    this chain (None: any copy may be this chain's). Records younger than ``grace`` seconds are not expected in
    Loki yet."""
    outcome = Comparison()
    now = time.time()
    chained = [record for record in records if isinstance(record.get("seq"), int)]
    by_seq = {int(record["seq"]): record for record in chained}
    ids = {str(record.get("id")) for record in chained}

    def ours(copy_log: str | None, copy_chain: str | None) -> bool:
        return (chain is None or copy_chain is None or copy_chain == chain) and (
            log is None or copy_log is None or copy_log == log
        )

    by_id: dict[str, list[Copy]] = defaultdict(list)
    chained_elsewhere: set[str] = set()
    for copy in stream.copies:
        unplaced = chain is not None and copy.chain is None and copy.event_id not in ids
        if ours(copy.log, copy.chain) and not (unplaced and copy.seq is not None):
            by_id[copy.event_id].append(copy)
        elif copy.seq is not None:
            chained_elsewhere.add(copy.event_id)
            outcome.unattributed += int(ours(copy.log, copy.chain))
    for record in chained:
        _check_record(result, outcome, record, by_id.get(str(record.get("id")), []), by_seq, now, grace)
    removed: dict[int, str] = {}
    for event_id, found in by_id.items():
        if event_id in ids:
            continue
        numbered = sorted({copy.seq for copy in found if copy.seq is not None})
        if numbered:
            removed[numbered[0]] = f"event {event_id} (sequence {numbered[0]}, sent {found[0].time})"
        elif event_id not in chained_elsewhere:
            outcome.waiting.append(event_id)
    for seq in sorted(removed)[:SAMPLE]:
        result.fail(seq, f"{removed[seq]} is in Loki but not in the chain (removed)")
    if len(removed) > SAMPLE:
        result.fail(min(removed), f"{len(removed) - SAMPLE} more events in Loki are not in the chain (removed)")
    if outcome.missing:
        first = outcome.missing[0][0]
        sample = ", ".join(str(seq) for seq, _ in outcome.missing[:SAMPLE])
        result.fail(
            first,
            f"{len(outcome.missing)} records have no copy in Loki (lost on the way, or added to "
            f"the chain afterwards): sequence {sample}",
        )
    _check_witnessed(result, outcome, stream.checkpoints, keys or {}, ours, placed=chain is None)
    return outcome


def _check_record(
    result: Verification,
    outcome: Comparison,
    record: Mapping[str, Any],
    found: list[Copy],
    by_seq: Mapping[int, Mapping[str, Any]],
    now: float,
    grace: float,
) -> None:
    seq, event_id = int(record["seq"]), str(record.get("id"))
    if not found:
        if _young(record, now, grace):
            outcome.recent += 1
        else:
            outcome.missing.append((seq, event_id))
        return
    outcome.compared += 1
    digest = event_digest(record)
    name = f"record {seq} (event {event_id})"
    if any(copy.digest is None for copy in found):
        result.fail(seq, f"{name}: a copy in Loki carries no digest, so it proves nothing")
    if any(copy.digest not in (None, digest) for copy in found):
        result.fail(seq, f"{name}: differs from the copy Loki received when it happened (rewritten)")
    if any(copy.malformed for copy in found):
        result.fail(seq, f"{name}: a copy in Loki carries a sequence number that is not a number")
    numbered = sorted({copy.seq for copy in found if copy.seq is not None})
    if not numbered:
        if not _young(record, now, grace):
            result.fail(seq, f"{name}: no copy in Loki carries its sequence number (the copy sent when it was "
                        "chained never arrived, or the record was added to the chain afterwards)")  # fmt: skip
        return
    for other_seq in numbered:
        if other_seq == seq:
            continue
        other = by_seq.get(other_seq)
        if other is not None and str(other.get("id")) == event_id and event_digest(other) == digest:
            continue  # the same event chained twice (a spool moved again after a crash): both copies stand
        result.fail(
            seq,
            f"{name}: was sequence {other_seq} when it was written (records removed or inserted before it)",
        )


def _check_witnessed(
    result: Verification,
    outcome: Comparison,
    witnessed: Iterable[Witnessed],
    keys: Mapping[str, Ed25519PublicKey],
    ours: Any,
    placed: bool,
) -> None:
    """Check the witnessed checkpoints of this chain (``ours``); with ``placed`` False (the chain is known), one
    naming no chain counts only when it signs one of the chain's records."""
    seen: set[int] = set()
    for copy in witnessed:
        if not ours(copy.log, copy.chain):
            continue
        checkpoint = copy.checkpoint
        if not keys or signature_problem(checkpoint, keys):
            outcome.checkpoints_untrusted += 1
            continue
        try:
            seq, signed_hash = int(checkpoint["seq"]), str(checkpoint["hash"])
        except (KeyError, TypeError, ValueError):
            outcome.checkpoints_untrusted += 1
            continue
        if not placed and copy.chain is None and result.hashes.get(seq) != signed_hash:
            outcome.unattributed += 1
            continue
        outcome.checkpoints_compared += 1
        seen.add(seq)
        where = f"checkpoint {seq} witnessed in Loki (sent {copy.time})"
        if seq > result.last_seq:
            result.fail(result.last_seq + 1, f"{where}: the log ends at {result.last_seq} (tail cut)")
        elif seq in result.hashes and result.hashes[seq] != signed_hash:
            result.fail(seq, f"{where}: the log's record {seq} is not the one signed then (chain rewritten)")
        elif seq in result.hashes and seq not in result.signed_heads:
            result.fail(seq, f"{where}: missing from the log's signed checkpoints (deleted)")
    for seq in result.signed_heads:
        if seq not in seen:
            outcome.checkpoints_unwitnessed += 1
