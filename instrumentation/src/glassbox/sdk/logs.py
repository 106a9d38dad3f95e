"""Logs: one JSON object per line on stdout, the same records once as OTLP log records.

* :class:`GlassboxLogFilter` runs on every handler of the root logger. It adds the attribution from the
  baggage (``glassbox.tenant.id``, ``user.id``, ``session.id``, ``glassbox.request.id``) so the OTLP record
  carries them as attributes, then redacts secrets and personal data (:mod:`glassbox.redaction`) from the
  message, from every ``extra`` of any type (nested dicts and lists included; the value of a secret-named
  extra whole), from the exception text and from the stack. If that fails, the line still goes out with its
  content withheld (counted).
* :class:`GlassboxLogRecordProcessor` redacts the body and attributes of every OTLP record that did not come
  through the filter (GenAI events, audit events, the OTel Logs API, another OTLP handler).
* :class:`JsonLogFormatter` (python-json-logger) writes ``time, level, logger, message, service,
  trace_id, span_id, tenant, request_id`` and then any ``extra``. JSON escaping keeps newlines, ANSI and
  other control characters inside the line, so log-forging input cannot start a new line.
* :func:`install` puts the stdout handler and exactly one OTLP handler on the root logger. It leaves the
  root level to the app (unless ``GLASSBOX_LOG_LEVEL`` is set), and ``logging.basicConfig(level=...)`` still
  sets it: glassbox's handlers stand in for the one ``basicConfig`` would have added.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LogRecordProcessor
from pythonjsonlogger.json import JsonEncoder, JsonFormatter

from glassbox import attribution, content, settings
from glassbox import conventions as c
from glassbox import instruments as instruments_module

_STANDARD_RECORD_KEYS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_SHORT_NAMES = {
    c.TENANT_ID: "tenant",
    c.REQUEST_ID: "request_id",
    c.USER_ID: "user",
    c.SESSION_ID: "session",
}
# Record keys that are printed as fields of their own (or as exc_info) rather than as extras.
_NOT_EXTRA = frozenset(
    {c.TENANT_ID, c.REQUEST_ID, "exception.type", "exception.message", "exception.stacktrace", "color_message"}
)
_SKIPPED = _STANDARD_RECORD_KEYS | _NOT_EXTRA
_CONTENT_KEYS = frozenset(c.CONTENT_ATTRIBUTES)
# What a record whose redaction failed keeps: who it is for and what event it is.
_KEPT_ON_FAILURE = frozenset({*c.ATTRIBUTION_KEYS, "event.name"})
# Characters that could forge a new line or drive a terminal in plain output.
_PLAIN_ESCAPES = {i: f"\\x{i:02x}" for i in list(range(0x20)) + list(range(0x7F, 0xA0))}
_PLAIN_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


class _RedactedMessage(str):
    """Marks a message already processed, so a record passing several handlers is redacted once."""


# The message of a record whose redaction failed: the line still goes out (time, level, logger, trace), its
# content does not.
REDACTION_FAILED = "[REDACTED:redaction_failed]"
# True while glassbox's OTLP handler emits a record its filter redacted: the log record processor then leaves
# the record's strings alone instead of searching them a second time.
_REDACTED_BY_FILTER: ContextVar[bool] = ContextVar("glassbox_redacted_by_filter", default=False)


class GlassboxLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, _RedactedMessage):
            return True
        try:
            redactor = instruments_module.get().log_redactor
            fields = record.__dict__
            for key, value in attribution.current().items():
                fields.setdefault(key, value)
            message = redactor.redact(record.getMessage())
            for key in fields.keys() - _STANDARD_RECORD_KEYS:
                value = fields[key]
                redacted = redactor.redact_attribute(key, value)
                if redacted is not value:
                    fields[key] = redacted
            if record.exc_info:
                # The OTLP handler would export the raw exception message and stack trace: replace the
                # exception by its redacted text, under the semconv exception attribute names.
                exc_type, exc_value, _ = record.exc_info
                stacktrace = redactor.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_text = stacktrace
                record.exc_info = None
                if exc_type is not None:
                    fields["exception.type"] = exc_type.__name__
                if exc_value is not None:
                    fields["exception.message"] = redactor.redact(str(exc_value))
                fields["exception.stacktrace"] = stacktrace
            elif record.exc_text:
                record.exc_text = redactor.redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redactor.redact(record.stack_info)
            record.msg = _RedactedMessage(message)
            record.args = None
        except Exception:
            # Never lose the line, never leak it: it goes out with its content withheld, and is counted.
            record.msg, record.args, record.exc_info, record.exc_text, record.stack_info = (
                _RedactedMessage(REDACTION_FAILED),
                None,
                None,
                None,
                None,
            )
            for key in record.__dict__.keys() - _STANDARD_RECORD_KEYS - set(c.ATTRIBUTION_KEYS):
                del record.__dict__[key]
            instruments_module.get().count_dropped("logs", "filter_error")
        return True


# One encoder for every line: json.dumps(cls=...) would build a new one per record.
_ENCODER = JsonEncoder(ensure_ascii=True)


class JsonLogFormatter(JsonFormatter):
    """python-json-logger's formatter with glassbox's fields, built in one pass per record."""

    def __init__(self, service: str = "") -> None:
        super().__init__()
        self.service = service
        self._second = -1
        self._second_text = ""

    def _time(self, record: logging.LogRecord) -> str:
        # ISO 8601 UTC with milliseconds; the part up to the second is formatted once per second.
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int(record.msecs):03d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        message_dict: dict[str, Any] = {}
        if isinstance(record.msg, dict):
            message_dict = record.msg.copy()
            record.message = ""
        else:
            record.message = record.getMessage()
        if record.exc_info and not message_dict.get("exc_info"):
            message_dict["exc_info"] = self.formatException(record.exc_info)
        if not message_dict.get("exc_info") and record.exc_text:
            message_dict["exc_info"] = record.exc_text
        if record.stack_info and not message_dict.get("stack_info"):
            message_dict["stack_info"] = self.formatStack(record.stack_info)
        log_data: dict[str, Any] = {}
        self.add_fields(log_data, record, message_dict)
        return _ENCODER.encode(log_data)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        span_context = trace.get_current_span().get_span_context()
        fields = record.__dict__
        log_data["time"] = self._time(record)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data["service"] = self.service
        if span_context.is_valid:
            log_data["trace_id"] = format(span_context.trace_id, "032x")
            log_data["span_id"] = format(span_context.span_id, "016x")
        else:
            log_data["trace_id"] = log_data["span_id"] = None
        log_data["tenant"] = fields.get(c.TENANT_ID)
        log_data["request_id"] = fields.get(c.REQUEST_ID)
        for key in fields.keys() - _SKIPPED:
            log_data[_SHORT_NAMES.get(key, key)] = fields[key]
        if message_dict:
            log_data.update(message_dict)

    def formatException(self, ei: Any) -> str:  # type: ignore[override]
        return instruments_module.get().log_redactor.redact(super().formatException(ei))  # type: ignore[arg-type]


class PlainLogFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return super().format(record).translate(_PLAIN_ESCAPES)


class GlassboxLogRecordProcessor(LogRecordProcessor):
    """In front of the exporting log processors, for records from any source (stdlib logging, GenAI events,
    audit events, the OTel Logs API): adds the attribution from the record's context when missing, applies the
    content policy to GenAI events (content removed unless opted in, redacted when opted in), and redacts the
    body (strings, nested maps and lists) and every attribute. Records that glassbox's own OTLP handler emits
    were redacted by :class:`GlassboxLogFilter` already and are not searched again. A record whose redaction
    fails goes out with its body withheld and only its attribution and event name (counted)."""

    def __init__(self, *exporting: LogRecordProcessor, capture_content: bool | None = None) -> None:
        self._next = exporting
        self._capture_content = content.capture_enabled() if capture_content is None else capture_content

    def on_emit(self, log_record: Any) -> None:
        record = log_record.log_record
        try:
            attributes = record.attributes
            if attributes is None:
                attributes = record.attributes = {}
            for key, value in attribution.current(record.context).items():
                if key not in attributes:
                    attributes[key] = value
            instruments = instruments_module.get()
            redactor = instruments.log_redactor
            is_genai_event = (record.event_name or "").startswith("gen_ai.")
            if is_genai_event:
                content_redactor = instruments.content_redactor
                replaced, removed = content.apply(attributes, self._capture_content, content_redactor)
                for key in removed:
                    del attributes[key]
                attributes.update(replaced)
                if record.body is not None:
                    record.body = content_redactor.redact_value(record.body) if self._capture_content else None
            if not _REDACTED_BY_FILTER.get():
                attributes.update(redactor.redact_attributes(attributes, skip=_CONTENT_KEYS if is_genai_event else ()))
                if record.body is not None and not is_genai_event:
                    record.body = redactor.redact_value(record.body)
        except Exception:
            try:
                kept = {k: v for k, v in (record.attributes or {}).items() if k in _KEPT_ON_FAILURE}
                record.body, record.attributes = REDACTION_FAILED, kept
            except Exception:
                pass
            instruments_module.get().count_dropped("logs", "processor_error")
        for processor in self._next:
            processor.on_emit(log_record)

    def shutdown(self) -> None:
        for processor in self._next:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self._next)


class GlassboxLoggingHandler(LoggingHandler):
    """The OTLP handler glassbox installs: the upstream handler, telling the log record processor which records
    :class:`GlassboxLogFilter` redacted already (the filter runs before every emit)."""

    def emit(self, record: logging.LogRecord) -> None:
        token = _REDACTED_BY_FILTER.set(isinstance(record.msg, _RedactedMessage))
        try:
            super().emit(record)
        finally:
            _REDACTED_BY_FILTER.reset(token)


def _otlp_handler_present(root: logging.Logger) -> bool:
    return any(isinstance(h, LoggingHandler) for h in root.handlers)


def install(logger_provider: LoggerProvider | None, service: str) -> None:
    """Root logger: the JSON (or plain) stdout handler and one OTLP handler, both behind the filter."""
    if not settings.CAPTURE_LOGS.get():
        return
    root = logging.getLogger()
    level = settings.LOG_LEVEL.get()
    if level:
        root.setLevel(level.upper())
    if not any(getattr(h, "_glassbox", None) == "stdout" for h in root.handlers):
        stdout = logging.StreamHandler(sys.stdout)
        stdout._glassbox = "stdout"  # type: ignore[attr-defined]
        stdout.setFormatter(JsonLogFormatter(service) if settings.LOG_FORMAT.get() == "json" else PlainLogFormatter())
        root.addHandler(stdout)
    if logger_provider is not None and not _otlp_handler_present(root) and not _otlp_logging_instrumented_elsewhere():
        otlp = GlassboxLoggingHandler(logger_provider=logger_provider)
        otlp._glassbox = "otlp"  # type: ignore[attr-defined]
        root.addHandler(otlp)
    attach_filters()
    if not isinstance(logging.basicConfig, _BasicConfig):
        logging.basicConfig = _BasicConfig(logging.basicConfig)  # type: ignore[assignment]


class _BasicConfig:
    """``logging.basicConfig`` that still works when the only root handlers are glassbox's.

    ``basicConfig`` does nothing once the root logger has a handler, so under glassbox an app's
    ``basicConfig(level=logging.INFO)`` would be ignored. When glassbox's handlers are the only ones, they
    stand in for the handler ``basicConfig`` would add and its ``level`` is applied; with ``force=True`` the
    other handlers are removed as usual and glassbox's kept. Anything else goes to the original.
    """

    def __init__(self, original: Any) -> None:
        self.original = original

    def __call__(self, **kwargs: Any) -> None:
        root = logging.getLogger()
        ours = [h for h in root.handlers if getattr(h, "_glassbox", False)]
        if not ours:
            self.original(**kwargs)
            return
        if kwargs.get("force"):
            for handler in [h for h in root.handlers if h not in ours]:
                root.removeHandler(handler)
                handler.close()
        elif len(root.handlers) > len(ours):
            return  # configured already: basicConfig does nothing
        if kwargs.get("level") is not None:
            root.setLevel(kwargs["level"])


def _otlp_logging_instrumented_elsewhere() -> bool:
    """True when the user turned on another OTLP log handler (the logging instrumentor or the SDK's)."""
    return (
        os.environ.get("OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION", "").strip().lower() == "true"
        or os.environ.get("OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", "").strip().lower() == "true"
    )


def attach_filters() -> None:
    """Put the glassbox filter on every root handler (also run after all instrumentors have loaded)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, GlassboxLogFilter) for f in handler.filters):
            handler.addFilter(GlassboxLogFilter())
