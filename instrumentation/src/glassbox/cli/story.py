"""`glassbox story <trace-id | request-id>`: the whole story of one request, as a JSON bundle and a timeline.

    glassbox story 4bf92f3577b34da6a3ce929d0e0e4736          # a trace id (32 hex digits)
    glassbox story req-8c1f2a --json story.json --since 24h  # a request id: every trace that carried it, in order
    glassbox story --session chat-5d2e --since 7d            # a session (conversation): every turn, in order

A request id's traces are found three ways, so a request that just finished has its story at once: the audit
trail (its events carry the request and trace ids; the fleet's table with GLASSBOX_STATE_URL, else the host's
log), Loki (every log record carries both as structured metadata), and Tempo's search, whose index lags recent
traces by about a minute. Then each trace is fetched from Tempo by id (which works at once), its log records
from Loki (by ``trace_id``), its audit events; and from the spans: every model call (model, tokens, USD) and
tool call, and the AI decisions the audit recorded. ``trace_sources`` says where each trace id was found. Every
section is present, empty or not; whatever could not be found is named under ``missing`` with the reason. The
whole bundle passes glassbox's redaction (glassbox.redaction) before it is printed or written: secrets, keys,
tokens, emails, phone, card, IBAN and social security numbers, URL credentials and secret-named fields are
masked everywhere in it. Reading the audit trail for a story is itself an audit event (``audit.read``), written
where glassbox.cli.operator.record_read allows. A feedback or evaluation result is told from its attributes.
Endpoints come from the GLASSBOX_* settings (see glassbox.stack_addresses).

A session (``--session``, the ``session.id`` an app sends per request, e.g. in the x-session-id header) is told
the same way over all its turns: its traces are found in Loki (log records carry ``session_id`` as structured
metadata) and by Tempo's search (every span carries ``session.id``); its audit events are those of these traces
(audit events carry no session). ``turns`` lists each trace once, in the order the turns started, with its
request id, duration, errors, model calls, tokens and USD.

The identifier goes into LogQL and TraceQL queries only once it is known to be a trace id (32 hex digits) or a
valid request or session id (``[A-Za-z0-9._:@+-]``, at most 128 characters, as glassbox.attribution accepts at the
edge), and then only as an escaped string literal; anything else is refused before any query is made. Trace
ids found in the audit trail, Loki or Tempo are used only when they are hex.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from glassbox import attribution, content, settings
from glassbox import conventions as c
from glassbox.audit import store
from glassbox.cli.operator import record_read, stdout_closed
from glassbox.redaction import build_redactor
from glassbox.stack_addresses import Endpoints

TRACE_ID = re.compile(r"[0-9a-fA-F]{32}")
_HEX_TRACE_ID = re.compile(r"[0-9a-fA-F]{1,32}")
SECTIONS = (
    "traces",
    "trace_sources",
    "spans",
    "logs",
    "audit",
    "llm_calls",
    "tool_calls",
    "decisions",
    "not_sampled",
    "turns",
    "totals",
    "timeline",
    "missing",
    "notes",
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Traces Tempo's search returns for one request or session.
MAX_TRACES = 500
FIELD_NAMES = {c.REQUEST_ID: "request", c.SESSION_ID: "session"}
INVALID = {
    c.REQUEST_ID: "trace id (32 hex digits) nor a valid request id",
    c.SESSION_ID: "valid session id",
}
RULE = "[A-Za-z0-9._:@+-], at most 128 characters"


def query_string(value: str) -> str:
    """``value`` as a double-quoted LogQL or TraceQL string literal: both read Go's escapes, of which JSON's
    (``\\"``, ``\\\\``, ``\\n``, ``\\uXXXX``) are a subset, so no character of ``value`` can end the literal."""
    return json.dumps(value, ensure_ascii=True)


def valid_identifier(identifier: str, key: str = c.REQUEST_ID) -> bool:
    """A trace id, or a request id (or the attribution id ``key`` names: a session id) as glassbox.attribution
    accepts one at the edge."""
    if key == c.REQUEST_ID and TRACE_ID.fullmatch(identifier):
        return True
    return attribution.validate(key, identifier) == identifier


def _hex(value: str) -> str:
    """A trace or span id as lower-case hex, from Tempo's base64 or hex."""
    if re.fullmatch(r"[0-9a-fA-F]+", value) and len(value) in (16, 32):
        return value.lower()
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, ValueError):
        return value.lower()


def _value(any_value: Mapping[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in any_value:
            return any_value[key]
    if "intValue" in any_value:
        return int(any_value["intValue"])
    if "arrayValue" in any_value:
        return [_value(v) for v in any_value["arrayValue"].get("values", [])]
    return None


def _attributes(items: Iterable[Mapping[str, Any]] | None) -> dict[str, Any]:
    return {item["key"]: _value(item.get("value", {})) for item in items or []}


def _iso(nanoseconds: int) -> str:
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC).isoformat(timespec="milliseconds")


def _event(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": event.get("name"),
        "time": _iso(int(event.get("timeUnixNano", 0))),
        "attributes": _attributes(event.get("attributes")),
    }


def spans_of(trace: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The spans of a Tempo trace (``/api/traces/{id}``: OTLP JSON under ``batches``), flattened."""
    batches = trace.get("batches") or trace.get("resourceSpans") or trace.get("trace", {}).get("resourceSpans", [])
    spans = []
    for batch in batches:
        service = _attributes(batch.get("resource", {}).get("attributes")).get(c.SERVICE_NAME)
        for scope in batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []:
            for span in scope.get("spans", []):
                start, end = int(span.get("startTimeUnixNano", 0)), int(span.get("endTimeUnixNano", 0))
                spans.append(
                    {
                        "trace_id": _hex(span.get("traceId", "")),
                        "span_id": _hex(span.get("spanId", "")),
                        "parent_span_id": _hex(span["parentSpanId"]) if span.get("parentSpanId") else None,
                        "name": span.get("name"),
                        "service": service,
                        "start": _iso(start),
                        "duration_ms": round((end - start) / 1e6, 3),
                        "status": (span.get("status") or {}).get("code", "STATUS_CODE_UNSET"),
                        "attributes": _attributes(span.get("attributes")),
                        "events": [_event(e) for e in span.get("events", [])],
                    }
                )
    return sorted(spans, key=lambda s: s["start"])


def llm_calls(spans: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One entry per model call, from the span that counts it (never twice for nested instrumentations)."""
    calls = []
    for span in spans:
        attributes = span["attributes"]
        if attributes.get(c.GEN_AI_OPERATION_NAME) not in c.MODEL_CALL_OPERATIONS:
            continue
        if attributes.get(c.USAGE_COUNTED) is False:
            continue
        calls.append(
            {
                "span_id": span["span_id"],
                "start": span["start"],
                "operation": attributes.get(c.GEN_AI_OPERATION_NAME),
                "provider": attributes.get(c.GEN_AI_PROVIDER_NAME),
                "model": attributes.get(c.GEN_AI_RESPONSE_MODEL) or attributes.get(c.GEN_AI_REQUEST_MODEL),
                "input_tokens": attributes.get(c.GEN_AI_USAGE_INPUT_TOKENS),
                "output_tokens": attributes.get(c.GEN_AI_USAGE_OUTPUT_TOKENS),
                "usd": attributes.get(c.COST_USD),
                "cost_status": attributes.get(c.COST_STATUS),
                "agent": attributes.get(c.GEN_AI_AGENT_NAME),
                "duration_ms": span["duration_ms"],
                "error": attributes.get(c.ERROR_TYPE),
            }
        )
    return calls


def tool_calls(spans: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "span_id": s["span_id"],
            "start": s["start"],
            "tool": s["attributes"].get(c.GEN_AI_TOOL_NAME),
            "duration_ms": s["duration_ms"],
            "status": s["status"],
        }
        for s in spans
        if s["attributes"].get(c.GEN_AI_OPERATION_NAME) == c.OPERATION_EXECUTE_TOOL
    ]


# A trace whose last log record or audit event is older than this and that Tempo does not have was not kept: the
# gateways decide within GLASSBOX_TAIL_DECISION_WAIT (10 s) and Tempo serves a trace by id seconds after it arrives.
NOT_SAMPLED_AFTER = 60.0


def last_seen(trace_id: str, logs: Iterable[Mapping[str, Any]], audit: Iterable[Mapping[str, Any]]) -> int | None:
    """Nanoseconds since the epoch of the latest log record or audit event of the trace, None when there is none."""
    times = [str(r["time"]) for r in logs if (r.get("fields") or {}).get(c.LOKI_TRACE_ID_FIELD) == trace_id]
    times += [str(r["time"]) for r in audit if r.get("trace_id") == trace_id and r.get("time")]
    parsed = []
    for value in times:
        try:
            parsed.append(int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9))
        except ValueError:
            continue
    return max(parsed, default=None)


class Story:
    def __init__(
        self, endpoints: Endpoints, timeout: float, since_seconds: float, audit_log: Path | None, central: Any = None
    ) -> None:
        self.endpoints = endpoints
        self.client = httpx.Client(timeout=timeout)
        self.since = since_seconds
        # The audit trail: the fleet's (central, a PostgresAuditLog) or the host's log file.
        self.audit_log = audit_log
        self.central = central
        self.missing: list[str] = []
        # What the reader should know that is no missing part (Tempo's search lagging, say).
        self.notes: list[str] = []
        self.sources: dict[str, list[str]] = {}

    def _note(self, note: str) -> None:
        if note not in self.missing:
            self.missing.append(note)

    def _get(self, backend: str, url: str, params: Mapping[str, Any] | None = None) -> Any:
        try:
            response = self.client.get(url, params=params)
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError) as error:
            self._note(f"{backend}: {type(error).__name__}: {error}".strip())
            return None

    def _audit_records(self, request_id: str | None = None, trace_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
        """Audit records of the request or of the traces, from the fleet's table or the host's log."""
        try:
            if self.central is not None:
                from glassbox.audit.postgres import Filters

                found = list(self.central.records(Filters(request_id=request_id))) if request_id else []
                found += list(self.central.records(Filters(trace_ids=list(trace_ids)))) if trace_ids else []
            else:
                wanted = set(trace_ids)
                found = [
                    r
                    for r in store.file_records(self.audit_log or Path("/nonexistent"))
                    if (request_id and r.get("request_id") == request_id) or r.get("trace_id") in wanted
                ]
        except Exception as error:
            self._note(f"audit: {type(error).__name__}: {error}")
            return []
        unique = {str(r.get("id") or id(r)): r for r in found}
        return sorted(unique.values(), key=lambda r: (str(r.get("time")), r.get("seq") or 0))

    def _found(self, trace_id: str, source: str) -> None:
        if not _HEX_TRACE_ID.fullmatch(trace_id):
            self._note(f"{source}: ignored a trace id that is not hex")
            return
        sources = self.sources.setdefault(trace_id.lower().rjust(32, "0"), [])
        if source not in sources:
            sources.append(source)

    def _from_loki(self, key: str, value: str) -> None:
        """The trace ids of the log records whose ``key`` (request or session id) is ``value``: one series per
        trace id, so a long session's records are not cut at a line limit."""
        selected = f'{{{c.loki_field(c.SERVICE_NAME)}=~".+"}} | {c.loki_field(key)}={query_string(value)}'
        query = f"sum by ({c.LOKI_TRACE_ID_FIELD}) (count_over_time({selected} [{int(self.since)}s]))"
        body = self._get("loki", f"{self.endpoints.loki}/loki/api/v1/query", {"query": query, "time": time.time_ns()})
        for series in (body or {}).get("data", {}).get("result", []):
            trace_id = (series.get("metric") or {}).get(c.LOKI_TRACE_ID_FIELD)
            if trace_id and TRACE_ID.fullmatch(trace_id):
                self._found(trace_id, "loki")

    def _from_tempo(self, key: str, value: str) -> bool:
        now = int(time.time())
        query = f"{{ span.{key} = {query_string(value)} }}"
        found = self._get(
            "tempo",
            f"{self.endpoints.tempo}/api/search",
            {"q": query, "limit": MAX_TRACES, "start": now - int(self.since), "end": now},
        )
        if found is None:
            return False
        for trace in sorted(found.get("traces", []), key=lambda t: int(t.get("startTimeUnixNano", 0))):
            self._found(trace["traceID"], "tempo search")
        return True

    def trace_ids(self, identifier: str, key: str = c.REQUEST_ID) -> list[str]:
        """The traces of a trace id, a request id or (``key`` c.SESSION_ID) a session id."""
        what = FIELD_NAMES[key]
        if key == c.REQUEST_ID and TRACE_ID.fullmatch(identifier):
            self._found(identifier, "given")
            return [identifier.lower()]
        if not valid_identifier(identifier, key):
            self._note(f"query: not a {INVALID[key]}; nothing was looked up")
            return []
        if key == c.REQUEST_ID:  # audit events carry the request id, not the session
            for record in self._audit_records(request_id=identifier):
                if record.get("trace_id"):
                    self._found(str(record["trace_id"]), "audit")
        self._from_loki(key, identifier)
        searched = self._from_tempo(key, identifier)
        elsewhere = [t for t, sources in self.sources.items() if "tempo search" not in sources]
        if searched and elsewhere:
            self.notes.append(
                f"tempo search: found {len(self.sources) - len(elsewhere)} of the {len(self.sources)} traces of "
                f"{what} {identifier} (its index lags recent traces by about a minute); the others, found in "
                f"the audit trail or Loki, were fetched by id"
            )
        if not self.sources:
            where = "in the audit trail, in Loki" if key == c.REQUEST_ID else "in Loki"
            self._note(f"{what} {identifier}: no trace found {where} or by Tempo's search")
        return list(self.sources)

    def trace(self, trace_id: str) -> list[dict[str, Any]] | None:
        """The trace's spans from Tempo by id; None when Tempo has no such trace (or did not answer)."""
        if not TRACE_ID.fullmatch(trace_id):
            return []
        body = self._get("tempo", f"{self.endpoints.tempo}/api/traces/{trace_id}")
        return spans_of(body) if body else None

    def not_in_tempo(self, trace_id: str, last_seen_ns: int | None) -> str:
        """Why Tempo has no trace whose logs or audit events were found, from how long ago the last of them was:
        older than NOT_SAMPLED_AFTER, it was not kept (the collector tiers' tail sampling) or was lost."""
        if last_seen_ns is None:
            return f"tempo: trace {trace_id} not found (a trace that just ended can take a few seconds)"
        age = max(0.0, time.time() - last_seen_ns / 1e9)
        if age < NOT_SAMPLED_AFTER:
            return (
                f"tempo: trace {trace_id} not found yet (its last record is {age:.0f} s old; Tempo can take a few "
                f"seconds)"
            )
        return (
            f"tempo: trace {trace_id} is not in Tempo {age:.0f} s after its last record: not sampled (with the "
            f"collector tiers, tail sampling keeps every failed, slow, costly or audited trace and a share of the "
            f"rest) or lost on the way; its logs and audit events are here, its spans and cost are not"
        )

    def logs(self, trace_id: str) -> list[dict[str, Any]]:
        if not TRACE_ID.fullmatch(trace_id):
            return []
        now = time.time_ns()
        query = f'{{{c.loki_field(c.SERVICE_NAME)}=~".+"}} | {c.LOKI_TRACE_ID_FIELD}={query_string(trace_id)}'
        body = self._get(
            "loki",
            f"{self.endpoints.loki}/loki/api/v1/query_range",
            {"query": query, "start": now - int(self.since * 1e9), "end": now, "limit": 5000, "direction": "forward"},
        )
        records = []
        for stream in (body or {}).get("data", {}).get("result", []):
            labels = stream.get("stream", {})
            for timestamp, line, *metadata in stream.get("values", []):
                records.append(
                    {
                        "time": _iso(int(timestamp)),
                        "service": labels.get(c.loki_field(c.SERVICE_NAME)),
                        "stream": labels.get(c.LOKI_AUDIT_STREAM_LABEL) or "app",
                        "line": line,
                        # Loki returns structured metadata as stream labels (or, when asked, apart).
                        "fields": {
                            **{k: v for k, v in labels.items() if k not in c.LOKI_INDEX_LABELS},
                            **(metadata[0] if metadata and isinstance(metadata[0], dict) else {}),
                        },
                    }
                )
        return sorted(records, key=lambda r: r["time"])

    def audit(self, identifier: str, trace_ids: Sequence[str], key: str = c.REQUEST_ID) -> list[dict[str, Any]]:
        if not valid_identifier(identifier, key):
            return []
        request_id = identifier if key == c.REQUEST_ID and not TRACE_ID.fullmatch(identifier) else None
        if request_id is None and not trace_ids:
            return []
        return self._audit_records(request_id=request_id, trace_ids=trace_ids)

    def bundle(self, identifier: str, *, session: bool = False) -> dict[str, Any]:
        """The story of a trace or request id, or with ``session`` of a session id: every turn of it."""
        key = c.SESSION_ID if session else c.REQUEST_ID
        self.missing, self.notes, self.sources = [], [], {}
        trace_ids = self.trace_ids(identifier, key)
        logs = [record for trace_id in trace_ids for record in self.logs(trace_id)] if trace_ids else []
        audit = self.audit(identifier, trace_ids, key)
        spans: list[dict[str, Any]] = []
        not_sampled: list[str] = []
        for trace_id in trace_ids:
            found = self.trace(trace_id)
            if found is not None:
                spans += found
                continue
            if any(note.startswith("tempo:") for note in self.missing):
                continue  # Tempo did not answer: said once
            note = self.not_in_tempo(trace_id, last_seen(trace_id, logs, audit))
            if "not sampled" in note:
                not_sampled.append(trace_id)
            self._note(note)
        calls = llm_calls(spans)
        decisions = [a for a in audit if str(a.get("action", "")).startswith("ai.")]
        in_order = turns(trace_ids, spans, logs, audit)
        bundle: dict[str, Any] = {
            "query": identifier if valid_identifier(identifier, key) else "[REDACTED:invalid_identifier]",
            "kind": "session" if session else "trace" if TRACE_ID.fullmatch(identifier) else "request",
            "generated": datetime.now(UTC).isoformat(timespec="seconds"),
            "traces": [turn["trace_id"] for turn in in_order],
            "trace_sources": self.sources,
            "spans": spans,
            "logs": logs,
            "audit": audit,
            "llm_calls": calls,
            "tool_calls": tool_calls(spans),
            "decisions": decisions,
            "not_sampled": not_sampled,
            "turns": in_order,
            "totals": {
                # False when a trace is not in Tempo: its model calls, tokens and cost are not counted here.
                "complete": not any(note.startswith("tempo:") for note in self.missing),
                "model_calls": len(calls),
                "input_tokens": sum(call["input_tokens"] or 0 for call in calls),
                "output_tokens": sum(call["output_tokens"] or 0 for call in calls),
                "usd": round(sum(call["usd"] or 0 for call in calls), 8),
                "unpriced_calls": sum(1 for call in calls if call["usd"] is None),
            },
            "missing": self.missing,
            "notes": self.notes,
        }
        bundle["timeline"] = timeline(bundle)
        masked: dict[str, Any] = build_redactor().redact_value(bundle)  # type: ignore[assignment]
        return masked


def _time(value: Any) -> str:
    """An ISO time as glassbox writes it (UTC, milliseconds), so times from spans, Loki and the audit trail sort
    together; the text as it is when it is no ISO time."""
    try:
        return _iso(int(datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp() * 1e9))
    except ValueError:
        return str(value)


def turns(
    trace_ids: Sequence[str],
    spans: Sequence[Mapping[str, Any]],
    logs: Sequence[Mapping[str, Any]],
    audit: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """One entry per trace (a turn: one request), in the order they started: its first span, else its first log
    record or audit event. Model calls, tokens and USD come from its spans (none when Tempo lacks the trace);
    evaluations from its ``gen_ai.evaluation.result`` log records (feedback and judges' results)."""
    found = []
    for trace_id in trace_ids:
        own = [s for s in spans if s["trace_id"] == trace_id]
        records = [r for r in logs if (r.get("fields") or {}).get(c.LOKI_TRACE_ID_FIELD) == trace_id]
        events = [a for a in audit if a.get("trace_id") == trace_id]
        roots = [s for s in own if not s["parent_span_id"]] or own[:1]
        times = [s["start"] for s in own] or [r["time"] for r in records] + [_time(a.get("time")) for a in events]
        request_ids = [s["attributes"].get(c.REQUEST_ID) for s in own]
        request_ids += [(r.get("fields") or {}).get(c.loki_field(c.REQUEST_ID)) for r in records]
        request_ids += [a.get("request_id") for a in events]
        calls = llm_calls(own)
        found.append(
            {
                "trace_id": trace_id,
                "start": min(times, default=None),
                "request_id": next((r for r in request_ids if r), None),
                "name": roots[0]["name"] if roots else None,
                "service": roots[0]["service"] if roots else None,
                "duration_ms": roots[0]["duration_ms"] if roots else None,
                "in_tempo": bool(own),
                "errors": sum(1 for s in own if s["status"] == "STATUS_CODE_ERROR"),
                "model_calls": len(calls),
                "input_tokens": sum(call["input_tokens"] or 0 for call in calls),
                "output_tokens": sum(call["output_tokens"] or 0 for call in calls),
                "usd": round(sum(call["usd"] or 0 for call in calls), 8),
                "evaluations": [
                    {
                        "name": fields.get(c.loki_field(c.GEN_AI_EVALUATION_NAME)),
                        "outcome": fields.get(c.loki_field(c.EVALUATION_OUTCOME)),
                        "score": fields.get(c.loki_field(c.GEN_AI_EVALUATION_SCORE_VALUE)),
                    }
                    for fields in (r.get("fields") or {} for r in records)
                    if fields.get(c.loki_field(c.GEN_AI_EVALUATION_NAME)) is not None
                ],
            }
        )
    # Sorted by start; a turn with no time at all (nothing but its id) last.
    return sorted(found, key=lambda turn: (turn["start"] is None, turn["start"] or ""))


def timeline(bundle: Mapping[str, Any]) -> list[str]:
    """Readable lines in time order: turns, spans, model and tool calls, log records, audit events."""
    entries: list[tuple[str, str]] = []
    if bundle["kind"] == "session":
        for number, turn in enumerate(bundle["turns"], 1):
            if turn["start"] is not None:
                request = f" request {turn['request_id']}" if turn["request_id"] else ""
                entries.append((turn["start"], f"turn   {number}: trace {turn['trace_id']}{request}"))
    for span in bundle["spans"]:
        entries.append((span["start"], f"span   {span['service']}: {span['name']} ({span['duration_ms']} ms)"))
    for call in bundle["llm_calls"]:
        cost = f"${call['usd']:.6f}" if call["usd"] is not None else f"no price ({call['cost_status']})"
        entries.append(
            (call["start"], f"model  {call['model']}: {call['input_tokens']} in, {call['output_tokens']} out, {cost}")
        )
    for tool in bundle["tool_calls"]:
        entries.append((tool["start"], f"tool   {tool['tool']} ({tool['duration_ms']} ms)"))
    for record in bundle["logs"]:
        entries.append((record["time"], _log_line(record)))
    for event in bundle["audit"]:
        actor = event.get("actor") or {}
        outcome = (event.get("outcome") or {}).get("status")
        who = f"{actor.get('type')}:{actor.get('id')}"
        entries.append((str(event.get("time")), f"audit  #{event.get('seq')} {who} {event.get('action')} -> {outcome}"))
    return [f"{when}  {text}" for when, text in sorted(entries)]


def _log_line(record: Mapping[str, Any]) -> str:
    """A log record's timeline line; a feedback or evaluation result (``gen_ai.evaluation.result``, whose body
    the content policy removes) by its name, verdict, score, label and whether a comment came with it. The
    comment itself is shown only with content capture on (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT)."""
    fields = record.get("fields") or {}
    name = fields.get(c.loki_field(c.GEN_AI_EVALUATION_NAME))
    if name is None:
        return f"log    {record['service']} [{record['stream']}]: {str(record['line'])[:160]}"
    kind = "feedback" if fields.get(c.loki_field(c.EVALUATION_SOURCE)) == c.EVALUATION_SOURCE_FEEDBACK else "eval"
    parts = [str(fields.get(c.loki_field(c.EVALUATION_OUTCOME)) or "no verdict")]
    for label, field in (("score", c.GEN_AI_EVALUATION_SCORE_VALUE), ("label", c.GEN_AI_EVALUATION_SCORE_LABEL)):
        if fields.get(c.loki_field(field)) not in (None, ""):
            parts.append(f"{label} {fields[c.loki_field(field)]}")
    comment = fields.get(c.loki_field(c.GEN_AI_EVALUATION_EXPLANATION))
    if not comment:
        parts.append("no comment")
    elif content.capture_enabled():
        parts.append(f"comment {str(comment)[:120]!r}")
    else:
        parts.append("with a comment (shown with content capture on)")
    return f"{kind:<6} {record['service']}: {name}: {', '.join(parts)}"


def _seconds(raw: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", raw)
    if not match:
        raise argparse.ArgumentTypeError("a duration such as 90s, 30m, 24h or 7d")
    return float(match.group(1)) * UNITS[match.group(2)]


def _audit_the_read(identifier: str, records: int, kind: str = "request") -> None:
    """Reading the audit trail for a story is itself audited where glassbox.cli.operator.record_read says
    (never fails the story)."""
    record_read("story", "audit.read", {"type": kind, "id": identifier}, "success",
                {"purpose": "glassbox story", "records": records})  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox story", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("id", nargs="?", help="a trace id (32 hex digits) or a request id")
    parser.add_argument("--session", help="a session id instead: the story of every turn of that session")
    parser.add_argument("--json", type=Path, help="write the bundle here (default: print it after the timeline)")
    parser.add_argument("--since", type=_seconds, default=_seconds("24h"), help="how far back to look (24h)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per backend request")
    parser.add_argument("--audit-log", type=Path, help="a host's audit log file (default: the fleet's table with "
                        "GLASSBOX_STATE_URL, else GLASSBOX_AUDIT_DIR/audit.jsonl)")  # fmt: skip
    args = parser.parse_args(argv)
    if (args.id is None) == (args.session is None):
        parser.error("give a trace or request id, or --session with a session id (one of them)")
    session = args.session is not None
    key = c.SESSION_ID if session else c.REQUEST_ID
    identifier = args.session if session else args.id
    if not valid_identifier(identifier, key):
        print(f"story: not a {INVALID[key]} ({RULE})", file=sys.stderr)
        return 2
    central = None
    if args.audit_log is None and store.central():
        from glassbox.db import Database, StateConfigError

        try:
            central = store.central_log(Database(settings.STATE_URL.get(), args.timeout))
        except StateConfigError as error:
            print(f"story: {error}", file=sys.stderr)
    audit_log = args.audit_log or store.file_log().path
    story = Story(Endpoints.from_environ(os.environ), args.timeout, args.since, audit_log, central)
    try:
        bundle = story.bundle(identifier, session=session)
    finally:
        story.client.close()
    _audit_the_read(identifier, len(bundle["audit"]), "session" if session else "request")
    text = json.dumps(bundle, indent=2, ensure_ascii=False, default=str)
    if args.json:
        args.json.write_text(text + "\n")
    try:
        _print(bundle, None if args.json else text)
        if args.json:
            print(f"bundle written to {args.json}")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`| head`)
        stdout_closed()
    return 0 if bundle["traces"] or bundle["audit"] else 1


def _print(bundle: Mapping[str, Any], text: str | None) -> None:
    """The timeline, the totals, what is missing, and the bundle's JSON (``text``) unless it went to a file."""
    for line in bundle["timeline"]:
        print(line)
    totals = bundle["totals"]
    turns = f"{len(bundle['turns'])} turn(s): " if bundle["kind"] == "session" else ""
    print(
        f"{turns}{len(bundle['traces'])} trace(s), {len(bundle['spans'])} spans, {len(bundle['logs'])} log records, "
        f"{len(bundle['audit'])} audit events, {totals['model_calls']} model calls, "
        f"{totals['input_tokens']}+{totals['output_tokens']} tokens, ${totals['usd']:.6f}"
    )
    if not totals["complete"]:
        print("totals: without the traces Tempo does not have (see missing)")
    for note in bundle["missing"]:
        print(f"missing: {note}")
    for note in bundle["notes"]:
        print(f"note: {note}")
    if text is not None:
        print(text)
