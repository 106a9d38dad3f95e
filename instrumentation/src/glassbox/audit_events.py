"""`glassbox.audit(...)`: one call records who did what to which resource, with what outcome.

    glassbox.audit("role.change", actor={"type": "human", "id": "u-7"}, resource={"type": "user", "id": "u-9"},
                   before={"role": "viewer"}, after={"role": "admin"})

    @glassbox.audited("refund.issue", resource_type="order")
    async def refund(order_id: str) -> ...: ...     # an "attempt" event before, its outcome after

Each event goes three ways: a record in the host's hash-chained audit log (glassbox.audit_chain), an OTel log
event (``event.name`` = ``glassbox.audit``, routed by the collector to Loki's audit stream), and an event on
the current span. Tenant and request id come from the baggage, trace and span ids from the current span, the
source address from the request being served (glassbox.edge) unless ``source`` is given; ``before``/``after``
are redacted like every log line.

GLASSBOX_AUDIT_MODE decides what happens when the log cannot be written: ``fail-open`` (default) keeps the
event in a bounded in-memory spool, counts it (``glassbox.audit.write_failures``, ``glassbox.audit.spooled``)
and writes the spool into the chain at the next successful append; ``fail-closed`` raises
:class:`AuditRefused`, and ``audited`` does not run the action.
"""

from __future__ import annotations

import functools
import inspect
import json
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import format_span_id, format_trace_id

from glassbox import attribution, audit_cli, instruments, settings
from glassbox import conventions as c
from glassbox.audit_chain import AuditLog, AuditWriteError
from glassbox.redaction import build_redactor
from glassbox.version import __version__

SCHEMA_VERSION = 1
SPOOL_LIMIT = 10_000
F = TypeVar("F", bound=Callable[..., Any])


class AuditRefused(RuntimeError):
    """Fail-closed: the audit record could not be written, so the audited action must not happen."""


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: AuditLog | None = None
        self.spool: deque[dict[str, Any]] = deque()
        meter = metrics.get_meter("glassbox", __version__)
        self.events = meter.create_counter(
            c.METRIC_AUDIT_EVENTS, unit="{event}", description="Audit events recorded, by outcome status."
        )
        self.failures = meter.create_counter(
            c.METRIC_AUDIT_WRITE_FAILURES,
            unit="{event}",
            description="Audit events the durable log could not take when they happened.",
        )
        self.spooled = meter.create_up_down_counter(
            c.METRIC_AUDIT_SPOOLED, unit="{event}", description="Audit events waiting in memory for the log."
        )
        self.redactor = build_redactor()


_state: _State | None = None
_state_lock = threading.Lock()


def _get() -> _State:
    global _state
    with _state_lock:
        if _state is None:
            _state = _State()
        return _state


def use_log(log: AuditLog | None) -> None:
    """Write to ``log`` from now on (None: the log the settings name)."""
    state = _get()
    with state.lock:
        state.log = log


def _mode() -> str:
    return str(settings.get("GLASSBOX_AUDIT_MODE"))


def _party(value: Mapping[str, Any] | str | None, default_type: str) -> dict[str, Any]:
    if value is None:
        return {"type": default_type}
    if isinstance(value, str):
        return {"type": default_type, "id": value}
    return {k: v for k, v in value.items() if k in ("type", "id", "name") and v is not None}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def build_event(
    action: str,
    *,
    actor: Mapping[str, Any] | str | None = None,
    resource: Mapping[str, Any] | str | None = None,
    outcome: str = "success",
    reason: str | None = None,
    before: Any = None,
    after: Any = None,
    tenant: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    """The event as the log and the exports carry it (without seq/prev/hash, which the log adds)."""
    state = _get()
    baggage = attribution.current()
    context = trace.get_current_span().get_span_context()
    user = baggage.get(c.USER_ID)
    event: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "id": uuid.uuid4().hex,
        "time": _now(),
        "actor": _party(actor if actor is not None else ({"type": "human", "id": user} if user else None), "system"),
        "action": action,
        "resource": _party(resource, "unknown") if resource is not None else None,
        "tenant": tenant or baggage.get(c.TENANT_ID),
        "outcome": {"status": outcome, "reason": state.redactor.redact(reason) if reason else None},
        "before": state.redactor.redact_value(before),
        "after": state.redactor.redact_value(after),
        "trace_id": format_trace_id(context.trace_id) if context.is_valid else None,
        "span_id": format_span_id(context.span_id) if context.is_valid else None,
        "request_id": baggage.get(c.REQUEST_ID),
        "source": source or attribution.client_address(),
    }
    return event


def audit(action: str, **fields: Any) -> dict[str, Any]:
    """Record one audit event; returns it (with ``seq`` once it is in the durable log)."""
    event = build_event(action, **fields)
    state = _get()
    with state.lock:
        if state.log is None:
            state.log = audit_cli.default_log()
        try:
            while state.spool:  # what waited for the log goes in first, in order
                state.log.append(state.spool[0])
                state.spool.popleft()
                state.spooled.add(-1)
            event = state.log.append(event)
        except (AuditWriteError, OSError) as error:
            state.failures.add(1, {c.AUDIT_MODE: _mode()})
            if _mode() == "fail-closed":
                raise AuditRefused(f"audit event {action!r} not recorded: {error}") from error
            if len(state.spool) >= SPOOL_LIMIT:
                instruments.get().count_dropped("audit", "spool_full")
            else:
                state.spool.append(event)
                state.spooled.add(1)
    state.events.add(1, {c.AUDIT_OUTCOME: event["outcome"]["status"]})
    _emit(event)
    return event


def _attributes(event: Mapping[str, Any]) -> dict[str, Any]:
    actor, resource = event.get("actor") or {}, event.get("resource") or {}
    values = {
        "event.name": c.AUDIT_EVENT_NAME,
        c.AUDIT_ACTION: event["action"],
        c.AUDIT_ACTOR_TYPE: actor.get("type"),
        c.AUDIT_ACTOR_ID: actor.get("id"),
        c.AUDIT_RESOURCE_TYPE: resource.get("type"),
        c.AUDIT_RESOURCE_ID: resource.get("id"),
        c.AUDIT_OUTCOME: event["outcome"]["status"],
        c.AUDIT_EVENT_ID: event["id"],
        c.AUDIT_SEQUENCE: event.get("seq"),
        c.TENANT_ID: event.get("tenant"),
        c.REQUEST_ID: event.get("request_id"),
    }
    return {k: v for k, v in values.items() if v is not None}


def _emit(event: Mapping[str, Any]) -> None:
    """The OTel log event and the span event; never raises (the durable record is already written)."""
    try:
        attributes = _attributes(event)
        body = json.dumps({k: event[k] for k in ("actor", "resource", "outcome", "before", "after") if event.get(k)})
        _logs.get_logger("glassbox.audit", __version__).emit(
            LogRecord(
                body=body,
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                attributes=attributes,
                event_name=c.AUDIT_EVENT_NAME,
            )
        )
        trace.get_current_span().add_event(c.AUDIT_EVENT_NAME, attributes)
    except Exception:
        instruments.get().count_dropped("logs", "audit_emit_error")


def audited(
    action: str, *, resource_type: str | None = None, actor: Mapping[str, Any] | str | None = None
) -> Callable[[F], F]:
    """Audit a function: an ``attempt`` event before it runs, then ``success`` or ``failure`` (with the
    exception type as reason). Fail-closed, an attempt that cannot be recorded stops the call."""

    def decorate(function: F) -> F:
        def fields(outcome: str, reason: str | None = None) -> dict[str, Any]:
            resource = {"type": resource_type} if resource_type else None
            return {"actor": actor, "resource": resource, "outcome": outcome, "reason": reason}

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                audit(action, **fields("attempt"))
                try:
                    result = await function(*args, **kwargs)
                except Exception as error:
                    audit(action, **fields("failure", type(error).__name__))
                    raise
                audit(action, **fields("success"))
                return result

            return cast(F, run_async)

        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> Any:
            audit(action, **fields("attempt"))
            try:
                result = function(*args, **kwargs)
            except Exception as error:
                audit(action, **fields("failure", type(error).__name__))
                raise
            audit(action, **fields("success"))
            return result

        return cast(F, run)

    return decorate
