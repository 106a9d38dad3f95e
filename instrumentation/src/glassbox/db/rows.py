"""An audit event as the arguments of the database functions that chain it (glassbox/db/sql), and the canonical
JSON that both chains (the host's file, glassbox.audit.chain, and the database's) hash.

The database chains an event without parsing it back into Python's form: the client sends its canonical JSON
(:func:`canonical`) as two templates with marks where the sequence number, the previous hash and the hash go
(``hashing``: the record without ``hash``, what the hash is the SHA-256 of; ``stored``: the whole record), and
the fields auditors search on as columns. The functions check that the columns are the event's. Used by the
fleet's audit log (glassbox.audit.postgres) and by the control changes that chain their own event
(glassbox.state.postgres).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


def canonical(record: Mapping[str, Any]) -> bytes:
    """A record's canonical JSON: keys sorted, no spaces, UTF-8 as is (what the chains hash, byte for byte)."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Marks:
    """Three random marks (128 bits each: never in an event by chance) for one call."""

    seq: str
    prev: str
    hash: str

    @classmethod
    def new(cls) -> Marks:
        return cls(uuid.uuid4().hex, uuid.uuid4().hex, uuid.uuid4().hex)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def columns(event: Mapping[str, Any]) -> tuple[Any, ...]:
    """The indexed columns of an event's row: id, time, tenant, action, actor id, request id, trace id."""
    actor = event.get("actor") or {}
    return (
        str(event.get("id")),
        str(event.get("time")),
        _text(event.get("tenant")),
        str(event.get("action")),
        _text(actor.get("id")),
        _text(event.get("request_id")),
        _text(event.get("trace_id")),
    )


def templates(event: Mapping[str, Any], marks: Marks) -> tuple[str, str]:
    """The event's canonical JSON as a record without its hash and as the whole record, with the marks in place."""
    hashing = canonical({**event, "seq": marks.seq, "prev": marks.prev}).decode()
    stored = canonical({**event, "seq": marks.seq, "prev": marks.prev, "hash": marks.hash}).decode()
    for mark in (marks.seq, marks.prev, marks.hash):
        if (hashing + stored).count(mark) != (1 if mark == marks.hash else 2):
            raise ValueError("an audit event holds a chain mark")
    return hashing, stored


def arguments(event: Mapping[str, Any], marks: Marks) -> tuple[Any, ...]:
    """One event's arguments for a control-change function: the marks, the columns, the two templates."""
    return (marks.seq, marks.prev, marks.hash, *columns(event), *templates(event, marks))


# The placeholders of one event's arguments (:func:`arguments`) in a control-change function's call.
EVENT_PLACEHOLDERS = ", ".join(["%s"] * 12)
