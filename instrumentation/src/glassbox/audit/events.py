"""`glassbox.audit(...)`: one call records who did what to which resource, with what outcome.

    glassbox.audit("role.change", actor={"type": "human", "id": "u-7"}, resource={"type": "user", "id": "u-9"},
                   before={"role": "viewer"}, after={"role": "admin"})

    @glassbox.audited("refund.issue", resource_type="order")
    async def refund(order_id: str) -> ...: ...     # an "attempt" event before, its outcome after

Each event goes three ways: a record in the hash-chained audit log (the host's file, glassbox.audit.chain, or
the fleet's table with GLASSBOX_STATE_URL, glassbox.audit.postgres), an OTel log event (``event.name`` =
``glassbox.audit``, routed by the collector to Loki's audit stream, with a digest of the event that
``glassbox audit verify --against-loki`` compares), and an event on the current span. Tenant and request id come
from the baggage, trace and span ids from the current span, the source address from the request being served
(glassbox.edge) unless ``source`` is given; ``before``/``after`` are redacted like every log line.

GLASSBOX_AUDIT_MODE decides what happens when the log cannot be written: ``fail-open`` (default) keeps the
event in the process's spool file on disk (glassbox.audit.spool; it survives a restart), counts it
(``glassbox.audit.write_failures``; ``glassbox.audit.spooled`` is what waits) and moves the spool into the
chain, in order, before the next event that can be written; ``fail-closed`` raises :class:`AuditRefused`, and
``audited`` does not run the action. Whatever goes wrong inside (a value JSON cannot hold is written as text
first) follows the mode too, and is logged once with its traceback: auditing never breaks the app by surprise.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import format_span_id, format_trace_id

from glassbox import attribution, instruments, settings
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.audit import store
from glassbox.audit.chain import event_digest
from glassbox.audit.spool import Spool
from glassbox.audit.store import AuditStore
from glassbox.redaction import build_redactor
from glassbox.version import __version__

SCHEMA_VERSION = 1
F = TypeVar("F", bound=Callable[..., Any])


class AuditRefused(RuntimeError):
    """Fail-closed: the audit record could not be written, so the audited action must not happen."""


def new_spool(directory: Path) -> Spool:
    """A spool in ``directory`` whose unreadable lines (a crash tore them) are counted as dropped."""
    return Spool(directory, lambda lines: instruments.get().count_dropped("audit", "spool_unreadable", lines))


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.log: AuditStore | None = None
        self.spool: Spool | None = None
        meter = metrics.get_meter("glassbox", __version__)
        self.events = meter.create_counter(
            c.METRIC_AUDIT_EVENTS, unit="{event}", description="Audit events recorded, by outcome status."
        )
        self.failures = meter.create_counter(
            c.METRIC_AUDIT_WRITE_FAILURES,
            unit="{event}",
            description="Audit events the durable log could not take when they happened.",
        )
        self.failures.add(0, {c.AUDIT_MODE: _mode()})  # the series exists before the first failure
        meter.create_observable_gauge(
            c.METRIC_AUDIT_SPOOLED,
            callbacks=[self._observe_spooled],
            unit="{event}",
            description="Audit events of this process waiting in its spool for the log.",
        )
        self.redactor = build_redactor()

    def _observe_spooled(self, _options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self.spool.pending() if self.spool else 0)

    def open(self) -> tuple[AuditStore, Spool]:
        """The log and the spool, as the settings place them unless ``use_log`` chose (call under the lock)."""
        if self.log is None:
            self.log = store.default_log()
        if self.spool is None:
            self.spool = new_spool(Path(settings.get("GLASSBOX_AUDIT_SPOOL_DIR")))
        return self.log, self.spool


_state: _State | None = None
_state_lock = threading.Lock()


def _get() -> _State:
    global _state
    with _state_lock:
        if _state is None:
            _state = _State()
        return _state


def _after_fork_in_child() -> None:
    if _state is not None and _state.spool is not None:
        _state.spool.after_fork()
    if _state is not None and hasattr(_state.log, "db"):
        _state.log = None  # the fleet's log: its writer thread and connection stayed in the parent


os.register_at_fork(after_in_child=_after_fork_in_child)


def use_log(log: AuditStore | None, spool_dir: Path | None = None) -> None:
    """Write to ``log`` from now on, spooling in ``spool_dir`` (None: where the settings say). What waits in
    the current spool stays on disk for the next sweep of its directory."""
    if _state is None and log is None and spool_dir is None:
        return  # nothing opened yet: the first event opens what the settings name
    state = _get()
    with state.lock:
        if state.spool is not None:
            state.spool.close()
        state.log = log
        state.spool = None
        if spool_dir is not None:
            state.spool = new_spool(spool_dir)


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


def _as_text(value: Any) -> Any:
    """What JSON cannot hold: a set as a list, a datetime or date in ISO 8601, anything else as ``str()``."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    isoformat = getattr(value, "isoformat", None)
    return isoformat() if callable(isoformat) else str(value)


def jsonable(value: Any) -> Any:
    """``value`` as JSON holds it: datetimes, decimals, sets, UUIDs and other objects become text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.loads(json.dumps(value, default=_as_text))


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
        "before": state.redactor.redact_value(jsonable(before)),
        "after": state.redactor.redact_value(jsonable(after)),
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
        try:
            log, spool = state.open()
        except Exception as error:  # the log cannot even be opened: no spool either, so refuse or drop
            state.failures.add(1, {c.AUDIT_MODE: _mode()})
            state_module.report("the audit log cannot be opened", error)
            if _mode() == "fail-closed":
                raise AuditRefused(f"audit event {action!r} not recorded: {error}") from error
            instruments.get().count_dropped("audit", "log_unavailable")
            _emit(event)
            return event
        try:
            if spool.pending() or spool.sweep_due():
                spool.drain(log.append, getattr(log, "append_many", None))  # what waited goes in first, in order
            event = log.append(event)
        except Exception as error:
            state.failures.add(1, {c.AUDIT_MODE: _mode()})
            if not isinstance(error, OSError):  # OSError: the log's storage, a condition the metrics show
                state_module.report(f"audit event {action!r} could not be written", error)
            if _mode() == "fail-closed":
                raise AuditRefused(f"audit event {action!r} not recorded: {error}") from error
            if spool.put(event) == "dropped":
                instruments.get().count_dropped("audit", "spool_full")
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
        c.AUDIT_DIGEST: event_digest(event),
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
