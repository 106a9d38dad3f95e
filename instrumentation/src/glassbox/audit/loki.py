"""`glassbox audit verify --against-loki`: the chain compared with the copies Loki received as events happened.

Every audit event is also sent, when it happens, to Loki's audit stream with its id, its sequence number (when
the chain took it at once) and a digest of its content (``glassbox.audit.digest``, the SHA-256 of its canonical
JSON without seq/prev/hash). A chain rewritten and re-signed inside the database, by whoever holds the signing
key, still differs from those copies: a changed record has another digest, a removed one is in Loki only, an
inserted one moves the sequence numbers of every record after it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from glassbox import conventions as c
from glassbox.audit.chain import Verification, event_digest
from glassbox.audit.store import parse_time

WINDOW_SECONDS = 7 * 86400  # below Loki's default max_query_length (30d1h)
PAGE = 5000
SLACK_SECONDS = 3600  # Loki's timestamps are when the copy was sent: look a little around the chain's times
ID_FIELD = c.loki_field(c.AUDIT_EVENT_ID)
SEQ_FIELD = c.loki_field(c.AUDIT_SEQUENCE)
DIGEST_FIELD = c.loki_field(c.AUDIT_DIGEST)


@dataclass
class Copy:
    event_id: str
    digest: str | None
    seq: int | None
    time: str


@dataclass
class Comparison:
    compared: int = 0
    missing: list[tuple[int, str]] = field(default_factory=list)  # (seq, event id) with no copy in Loki
    recent: int = 0  # records younger than the grace period, not compared
    waiting: list[str] = field(default_factory=list)  # sent while the log was unreachable, not chained yet


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


def loki_copies(loki: str, start: float, end: float, timeout: float = 30.0) -> dict[str, Copy]:
    """Every audit copy in Loki's audit stream between ``start`` and ``end`` (epoch seconds), by event id."""
    query = f'{{{c.LOKI_AUDIT_STREAM_LABEL}="{c.AUDIT_STREAM_VALUE}"}}'
    copies: dict[str, Copy] = {}
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
                newest, count = page_start, 0
                for stream in response.json().get("data", {}).get("result", []):
                    for entry in stream.get("values", []):
                        count += 1
                        timestamp = int(entry[0])
                        newest = max(newest, timestamp)
                        found = fields_of(stream, entry)
                        event_id = found.get(ID_FIELD)
                        if event_id:
                            seq = found.get(SEQ_FIELD)
                            copies.setdefault(
                                event_id,
                                Copy(
                                    event_id,
                                    found.get(DIGEST_FIELD),
                                    int(seq) if seq else None,
                                    datetime.fromtimestamp(timestamp / 1e9, UTC).isoformat(),
                                ),
                            )
                if count < PAGE:
                    break
                page_start = newest + 1
            window_start = window_end
    return copies


def compare(
    result: Verification, records: Iterable[Mapping[str, Any]], copies: Mapping[str, Copy], grace: float
) -> Comparison:
    """Check each record against its copy (problems go into ``result``); records younger than ``grace`` seconds
    are not expected in Loki yet."""
    outcome = Comparison()
    seen: set[str] = set()
    now = time.time()
    for record in records:
        seq, event_id = int(record.get("seq", 0)), str(record.get("id"))
        seen.add(event_id)
        copy = copies.get(event_id)
        if copy is None:
            try:
                young = now - parse_time(str(record.get("time"))).timestamp() < grace
            except ValueError:
                young = False
            if young:
                outcome.recent += 1
            else:
                outcome.missing.append((seq, event_id))
            continue
        outcome.compared += 1
        if copy.digest and copy.digest != event_digest(record):
            result.fail(
                seq,
                f"record {seq} (event {event_id}): differs from the copy Loki received when it happened (rewritten)",
            )
        elif copy.seq is not None and copy.seq != seq:
            result.fail(
                seq,
                f"record {seq} (event {event_id}): was sequence {copy.seq} when it was written "
                f"(records removed or inserted before it)",
            )
    for event_id, copy in copies.items():
        if event_id in seen:
            continue
        if copy.seq is None:  # sent from a spool: it enters the chain when its process can write again
            outcome.waiting.append(event_id)
        else:
            result.fail(
                copy.seq,
                f"event {event_id} (sequence {copy.seq}, sent {copy.time}) is in Loki but not in the chain (removed)",
            )
    if outcome.missing:
        first = outcome.missing[0][0]
        sample = ", ".join(str(seq) for seq, _ in outcome.missing[:10])
        result.fail(
            first,
            f"{len(outcome.missing)} records have no copy in Loki (lost on the way, or added to "
            f"the chain afterwards): sequence {sample}",
        )
    return outcome
