"""The audit trail's witness: every signed checkpoint also goes to Loki's audit stream, off the app's host.

A checkpoint kept only beside the log can be deleted with the tail it covers, and whoever holds the signing key
can re-sign a rewritten chain. So each signed checkpoint is also sent, when it is signed, as an OTel log event
(``event.name`` = ``glassbox.audit.checkpoint``) that the collector routes like audit events into Loki's audit
stream, kept for years: its canonical JSON in ``glassbox.audit.checkpoint.signed``, its sequence number, which
log signed it (``glassbox.audit.log``: ``file`` or ``central``) and, when known, the chain's identity
(``glassbox.audit.chain``, the start of the first record's hash). The record carries no trace: a checkpoint
belongs to the chain, not to the request whose event happened to be due for one. In that JSON the signature
travels as ``ed25519`` (hex): secret scanners, glassbox's own log redaction included, mask any value that follows
a name like "signature", and this one is public and must arrive whole.

``glassbox audit verify --against-loki`` (glassbox.audit.loki) reads these copies back with
:func:`witnessed_checkpoint` and fails a chain whose records differ from a witnessed head (re-signed), that ends
before a witnessed checkpoint (tail cut), or lacks a witnessed checkpoint in its checkpoint file (deleted).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs, trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context

from glassbox import conventions as c
from glassbox import instruments
from glassbox.version import __version__

# A context whose span is invalid: the log record gets no trace id, whatever span is current.
NO_TRACE = trace.set_span_in_context(trace.INVALID_SPAN, Context())
SIGNED_FIELD = c.loki_field(c.AUDIT_CHECKPOINT_SIGNED)
SIGNATURE_IN_TRANSIT = "ed25519"
LOG_FIELD = c.loki_field(c.AUDIT_LOG)
CHAIN_FIELD = c.loki_field(c.AUDIT_CHAIN)


def send_checkpoint(checkpoint: Mapping[str, Any], log: str, chain: str | None = None) -> None:
    """Send a signed checkpoint to the witness; ``log`` names the chain that signed it (``file`` or
    ``central``), ``chain`` its identity when known. Never raises: a failure is counted
    (``glassbox.telemetry.dropped{signal="logs", reason="audit_checkpoint_emit_error"}``)."""
    try:
        seq = int(checkpoint["seq"])
        sent = {name: value for name, value in checkpoint.items() if name != "signature"}
        sent[SIGNATURE_IN_TRANSIT] = checkpoint["signature"]
        attributes: dict[str, Any] = {
            "event.name": c.AUDIT_CHECKPOINT_EVENT_NAME,
            c.AUDIT_CHECKPOINT_SIGNED: json.dumps(sent, sort_keys=True, separators=(",", ":")),
            c.AUDIT_CHECKPOINT_SEQUENCE: seq,
            c.AUDIT_LOG: log,
        }
        if chain:
            attributes[c.AUDIT_CHAIN] = chain
        _logs.get_logger("glassbox.audit", __version__).emit(
            LogRecord(
                body=f"audit checkpoint {seq} of the {log} audit log",
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                attributes=attributes,
                event_name=c.AUDIT_CHECKPOINT_EVENT_NAME,
                context=NO_TRACE,
            )
        )
    except Exception:
        instruments.get().count_dropped("logs", "audit_checkpoint_emit_error")


@dataclass
class Witnessed:
    """A checkpoint as the witness received it: the signed checkpoint, which log and chain sent it, and when."""

    checkpoint: dict[str, Any]
    log: str | None
    chain: str | None
    time: str


def witnessed_checkpoint(fields: Mapping[str, str], time: str) -> Witnessed | None:
    """The checkpoint in one entry of Loki's audit stream (its labels and structured metadata, as
    ``glassbox.audit.loki.fields_of`` gathers them), or None when the entry is not a checkpoint or is unreadable."""
    text = fields.get(SIGNED_FIELD)
    if not text:
        return None
    try:
        checkpoint = json.loads(text)
    except ValueError:
        return None
    if not isinstance(checkpoint, dict):
        return None
    if SIGNATURE_IN_TRANSIT in checkpoint:
        checkpoint["signature"] = checkpoint.pop(SIGNATURE_IN_TRANSIT)
    return Witnessed(checkpoint, fields.get(LOG_FIELD) or None, fields.get(CHAIN_FIELD) or None, time)
