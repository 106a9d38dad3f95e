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
(glassbox.integrations.asgi_attribution) unless ``source`` is given; ``before``/``after`` are redacted like
every log line.

GLASSBOX_AUDIT_MODE decides what happens when the log cannot be written (a failing disk or database, or a log
file refused as unsafe by glassbox.private_files): ``fail-open`` (default) keeps the event in the process's
spool file on disk (glassbox.audit.spool; it survives a restart), counts it (``glassbox.audit.write_failures``;
``glassbox.audit.spooled`` is what waits) and a background drainer (one thread per process, retrying after
0.5 s, then backing off to every 5 s) moves the spool into the chain, in order, as soon as the log answers
again, holding the audit lock for one append at a time; the next event that can be written moves what still
waits first. ``fail-closed`` raises :class:`AuditRefused`, and ``audited`` does not run the action. Whatever
goes wrong inside (a value JSON cannot hold is written as text first) follows the mode too, and is logged once
with its traceback: auditing never breaks the app by surprise.

The OTel copy of an event spooled when it happened carries no sequence number; when the event enters the
chain, a second copy with its sequence number is sent, so every chained record has one in Loki. Each copy names
its log (``glassbox.audit.log``) and, when known, the chain (``glassbox.audit.chain``).
"""

from __future__ import annotations

import atexit
import functools
import inspect
import json
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, format_span_id, format_trace_id

from glassbox import attribution, instruments, private_files, settings
from glassbox import conventions as c
from glassbox.audit import store
from glassbox.audit.chain import CENTRAL_LOG, FILE_LOG, event_digest
from glassbox.audit.spool import Spool
from glassbox.audit.store import AuditStore
from glassbox.audit.witness import NO_TRACE
from glassbox.redaction import build_redactor
from glassbox.version import __version__

SCHEMA_VERSION = 1
# The type of an actor or resource named only by an id: nobody said what it is (a person, an agent, a system).
UNKNOWN_TYPE = "unknown"
F = TypeVar("F", bound=Callable[..., Any])
# The background drainer: first retry after this many seconds, doubling up to the second figure.
DRAIN_FIRST_RETRY_SECONDS = 0.5
DRAIN_MAX_RETRY_SECONDS = 5.0
_logger = logging.getLogger("glassbox")
# The problems already logged (report): each once per process.
_reported: set[str] = set()
_reported_lock = threading.Lock()
# A context whose span is invalid: a copy carries its event's trace, not whatever span is current.


class AuditRefused(RuntimeError):
    """Fail-closed: the audit record could not be written, so the audited action must not happen."""


def report(what: str, error: BaseException) -> None:
    """Log ``error`` (with its traceback) once per distinct problem on the ``glassbox`` logger."""
    key = f"{type(error).__name__}:{error}"  # one cause reached through several events is one problem
    with _reported_lock:
        if key in _reported or len(_reported) > 1000:
            return
        _reported.add(key)
    _logger.error("glassbox: %s: %s", what, error, exc_info=error)


def new_spool(directory: Path) -> Spool:
    """A spool in ``directory`` whose unreadable lines (a crash tore them) are counted as dropped, and whose
    refusals (an unsafe directory or file) are logged once."""
    return Spool(
        directory,
        lambda lines: instruments.get().count_dropped("audit", "spool_unreadable", lines),
        on_refused=lambda error: report("the audit spool cannot be used", error),
    )


def _refused(error: BaseException) -> bool:
    """Whether ``error`` comes from a file or directory refused as unsafe."""
    while error is not None:
        if isinstance(error, private_files.UnsafeFileError):
            return True
        error = error.__cause__  # type: ignore[assignment]
    return False


class _Drainer:
    """Moves this process's spool into the chain in the background once the log answers again.

    Runs while the spool holds events: tries after DRAIN_FIRST_RETRY_SECONDS, doubling the wait after each
    failure up to DRAIN_MAX_RETRY_SECONDS, and takes the audit lock for one append (one batch of the central
    log) at a time. Ends when the spool is empty (the next spooled event starts it again) and with the process.
    """

    def __init__(self, state: _State) -> None:
        self.state = state
        self.thread: threading.Thread | None = None
        self.stopping = threading.Event()

    def start(self) -> None:
        """Start draining unless a drainer of this process runs already (call under the audit lock)."""
        if self.thread is not None and self.thread.is_alive():
            return
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, name="glassbox-audit-drainer", daemon=True)
        self.thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self.stopping.set()
        thread = self.thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self) -> None:
        delay = DRAIN_FIRST_RETRY_SECONDS
        while not self.stopping.wait(delay):
            with self.state.lock:
                log, spool = self.state.log, self.state.spool
                if log is None or spool is None or not spool.pending():
                    self.thread = None  # under the lock: a spooled event after this starts a new drainer
                    return
            try:
                spool.drain(
                    log.append,
                    getattr(log, "append_many", None),
                    hold=lambda: self.state.lock,
                    on_moved=functools.partial(_chained, log=log),
                )
                delay = DRAIN_FIRST_RETRY_SECONDS
            except Exception:  # the log is still away: what is left stays, tried again later
                delay = min(delay * 2, DRAIN_MAX_RETRY_SECONDS)


def _chained(records: Iterable[Any], log: Any) -> None:
    """Send the copy, with its sequence number, of each spooled event that has just entered ``log``'s chain."""
    for record in records:
        if isinstance(record, Mapping) and record.get("seq") is not None:
            emit(record, log=_log_name(log), chain=getattr(log, "chain_id", None), on_span=False)


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
        self.drainer = _Drainer(self)

    def _observe_spooled(self, _options: CallbackOptions) -> Iterable[Observation]:
        yield Observation(self.spool.pending() if self.spool else 0)

    def open(self) -> tuple[AuditStore, Spool]:
        """The log and the spool, as the settings place them unless ``use_log`` chose (call under the lock)."""
        if self.log is None:
            self.log = store.default_log()
        if self.spool is None:
            self.spool = new_spool(settings.app_path(settings.AUDIT_SPOOL_DIR.get()))
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
    if _state is not None:
        _state.lock = threading.Lock()  # a thread of the parent may have held it at the fork
        _state.drainer = _Drainer(_state)  # the parent's drainer thread does not exist here
    if _state is not None and _state.spool is not None:
        _state.spool.after_fork()
    if _state is not None and hasattr(_state.log, "db"):
        _state.log = None  # the fleet's log: its writer thread and connection stayed in the parent


os.register_at_fork(after_in_child=_after_fork_in_child)


@atexit.register
def _stop_drainer() -> None:
    if _state is not None:
        _state.drainer.stop()


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
    return settings.AUDIT_MODE.get()


def _actor(given: Mapping[str, Any] | str | None, user: str | None) -> dict[str, Any]:
    """Who acted. As given: a string is an id whose type nobody stated, so its type is ``unknown`` (a mapping
    without a ``type`` too); only a mapping says ``human``, ``agent`` or ``system``. Not given: the baggage's user
    as a ``human``, else the app itself, ``system``."""
    if given is None:
        return {"type": "human", "id": user} if user else {"type": "system"}
    return {"type": UNKNOWN_TYPE, **_party(given, UNKNOWN_TYPE)}


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
    event: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "id": uuid.uuid4().hex,
        "time": _now(),
        "actor": _actor(actor, baggage.get(c.USER_ID)),
        "action": action,
        "resource": _party(resource, UNKNOWN_TYPE) if resource is not None else None,
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
            report("the audit log cannot be opened", error)
            if _mode() == "fail-closed":
                raise AuditRefused(f"audit event {action!r} not recorded: {error}") from error
            instruments.get().count_dropped("audit", "log_unavailable")
            emit(event)
            return event
        if _made_by_its_change(event) and not hasattr(log, "checkpoints"):
            # The fleet's chain takes a control change's success only from the change itself (the state's
            # function, in its transaction): refused here, with the reason, rather than spooled forever.
            refusal = ValueError(f"a {action} success is recorded by the change itself (glassbox.set_kill_switch, "
                                 "glassbox budgets), not by glassbox.audit")  # fmt: skip
            state.failures.add(1, {c.AUDIT_MODE: _mode()})
            report(f"audit event {action!r} refused", refusal)
            if _mode() == "fail-closed":
                raise AuditRefused(f"audit event {action!r} not recorded: {refusal}") from refusal
            instruments.get().count_dropped("audit", "refused_by_log")
            return event
        moved: list[Any] = []
        try:
            if spool.pending() or spool.sweep_due():  # what waited goes in first, in order
                spool.drain(log.append, getattr(log, "append_many", None), on_moved=moved.extend)
            event = log.append(event)
        except Exception as error:
            state.failures.add(1, {c.AUDIT_MODE: _mode()})
            if not isinstance(error, OSError) or _refused(error):  # else the storage: a condition the metrics show
                report(f"audit event {action!r} could not be written", error)
            if _mode() == "fail-closed":
                raise AuditRefused(f"audit event {action!r} not recorded: {error}") from error
            if spool.put(event) == "dropped":
                instruments.get().count_dropped("audit", "spool_full")
            state.drainer.start()
    _chained(moved, log)
    state.events.add(1, {c.AUDIT_OUTCOME: event["outcome"]["status"]})
    emit(event, log=_log_name(log), chain=getattr(log, "chain_id", None))
    return event


def audit_into(log: AuditStore, action: str, **fields: Any) -> dict[str, Any]:
    """Record one event straight into ``log``, outside this process's own log and spool: an operator's command
    recording that it read the trail (glassbox.cli.operator). Raises what the log raises, for the command to say
    the read is not recorded; the OTel copy is sent once the record is written."""
    record = log.append(build_event(action, **fields))
    _get().events.add(1, {c.AUDIT_OUTCOME: record["outcome"]["status"]})
    emit(record, log=_log_name(log), chain=getattr(log, "chain_id", None))
    return record


def _made_by_its_change(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is the success record of a control change (written, with the fleet's state, by the
    change's own transaction)."""
    return event.get("action") in c.CONTROL_CHANGE_ACTIONS and (event.get("outcome") or {}).get("status") == "success"


def _log_name(log: Any) -> str:
    """How the copies name ``log``: ``file`` (the host's) or ``central`` (the fleet's)."""
    return FILE_LOG if hasattr(log, "checkpoints") else CENTRAL_LOG


def _attributes(event: Mapping[str, Any], log: str | None = None, chain: str | None = None) -> dict[str, Any]:
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
        c.AUDIT_LOG: log,
        c.AUDIT_CHAIN: chain,
    }
    return {k: v for k, v in values.items() if v is not None}


def _event_context(event: Mapping[str, Any]) -> Context:
    """A context holding only the event's own span (its trace and span ids), for a copy sent after the fact."""
    try:
        trace_id, span_id = int(str(event.get("trace_id")), 16), int(str(event.get("span_id")), 16)
    except ValueError:
        return NO_TRACE
    span = SpanContext(trace_id, span_id, is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(span), Context()) if span.is_valid else NO_TRACE


def record_chained_elsewhere(record: Mapping[str, Any]) -> None:
    """A record the fleet's state chained in a change's own transaction (a kill-switch or budget change's success):
    counted and sent like those :func:`audit` writes. Never raises."""
    state = _get()
    state.events.add(1, {c.AUDIT_OUTCOME: (record.get("outcome") or {}).get("status", "success")})
    emit(record, chain=getattr(state.log, "chain_id", None))


def emit(record: Mapping[str, Any], *, log: str | None = None, chain: str | None = None, on_span: bool = True) -> None:
    """Send the OTel copy of an audit event or record (with its ``seq`` once chained) on the event's own trace,
    and, when it is sent as the event happens (``on_span``), add the event to the current span and let the log
    pipeline add the current baggage; never raises (the durable record is already written).

    ``log`` names the chain (``file`` or ``central``; default: the one the settings choose) and ``chain`` its
    identity when known. Call it after the transaction that chained the record has committed."""
    try:
        if log is None:
            log = CENTRAL_LOG if store.central() else FILE_LOG
        attributes = _attributes(record, log, chain)
        body = json.dumps({k: record[k] for k in ("actor", "resource", "outcome", "before", "after") if record.get(k)})
        _logs.get_logger("glassbox.audit", __version__).emit(
            LogRecord(
                body=body,
                severity_number=SeverityNumber.INFO,
                severity_text="INFO",
                attributes=attributes,
                event_name=c.AUDIT_EVENT_NAME,
                context=None if on_span else _event_context(record),  # a late copy: not the current request's
            )
        )
        if on_span:
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
