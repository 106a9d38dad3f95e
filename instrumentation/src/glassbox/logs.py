"""Logs: one JSON object per line on stdout, the same records once as OTLP log records.

* :class:`GlassboxLogFilter` runs on every handler of the root logger. It redacts secrets and personal data
  from the message and from every string ``extra`` (API keys, bearer tokens, passwords, emails, card and
  phone numbers), and adds the attribution from the baggage (``glassbox.tenant.id``, ``user.id``,
  ``session.id``, ``glassbox.request.id``) so the OTLP record carries them as attributes.
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
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LoggerProvider
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
# Characters that could forge a new line or drive a terminal in plain output.
_PLAIN_ESCAPES = {i: f"\\x{i:02x}" for i in list(range(0x20)) + list(range(0x7F, 0xA0))}
_PLAIN_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


class _RedactedMessage(str):
    """Marks a message already processed, so a record passing several handlers is redacted once."""


class GlassboxLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, _RedactedMessage):
            return True
        try:
            redactor = instruments_module.get().log_redactor
            record.msg = _RedactedMessage(redactor.redact(record.getMessage()))
            record.args = None
            fields = record.__dict__
            for key in fields.keys() - _STANDARD_RECORD_KEYS:
                value = fields[key]
                if isinstance(value, str):
                    fields[key] = redactor.redact(value)
            if record.exc_info:
                # The OTLP handler would export the raw exception message and stack trace: replace the
                # exception by its redacted text, under the semconv exception attribute names.
                exc_type, exc_value, _ = record.exc_info
                stacktrace = redactor.redact(logging.Formatter().formatException(record.exc_info))
                record.exc_text = stacktrace
                record.exc_info = None
                if exc_type is not None:
                    record.__dict__["exception.type"] = exc_type.__name__
                if exc_value is not None:
                    record.__dict__["exception.message"] = redactor.redact(str(exc_value))
                record.__dict__["exception.stacktrace"] = stacktrace
            for key, value in attribution.current().items():
                record.__dict__.setdefault(key, value)
        except Exception:
            # Never lose the line: pass it on unredacted-by-us rather than drop it, and count it.
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
    audit events): adds the attribution from the record's context when missing, and applies the content
    policy to GenAI events (content removed unless opted in, redacted when opted in)."""

    def __init__(self, *exporting: LogRecordProcessor, capture_content: bool | None = None) -> None:
        self._next = exporting
        self._capture_content = content.capture_enabled() if capture_content is None else capture_content

    def on_emit(self, log_record: Any) -> None:
        try:
            record = log_record.log_record
            attributes = record.attributes
            for key, value in attribution.current(record.context).items():
                if key not in attributes:
                    attributes[key] = value
            if (record.event_name or "").startswith("gen_ai."):
                redactor = instruments_module.get().content_redactor
                replaced, removed = content.apply(attributes, self._capture_content, redactor)
                for key in removed:
                    del attributes[key]
                attributes.update(replaced)
                if record.body is not None:
                    record.body = redactor.redact_value(record.body) if self._capture_content else None
        except Exception:
            instruments_module.get().count_dropped("logs", "processor_error")
        for processor in self._next:
            processor.on_emit(log_record)

    def shutdown(self) -> None:
        for processor in self._next:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self._next)


def _otlp_handler_present(root: logging.Logger) -> bool:
    return any(type(h).__name__ == "LoggingHandler" for h in root.handlers)


def install(logger_provider: LoggerProvider | None, service: str) -> None:
    """Root logger: the JSON (or plain) stdout handler and one OTLP handler, both behind the filter."""
    if not settings.get("GLASSBOX_CAPTURE_LOGS"):
        return
    root = logging.getLogger()
    level = settings.get("GLASSBOX_LOG_LEVEL")
    if level:
        root.setLevel(level.upper())
    if not any(getattr(h, "_glassbox", None) == "stdout" for h in root.handlers):
        stdout = logging.StreamHandler(sys.stdout)
        stdout._glassbox = "stdout"  # type: ignore[attr-defined]
        stdout.setFormatter(
            JsonLogFormatter(service) if settings.get("GLASSBOX_LOG_FORMAT") == "json" else PlainLogFormatter()
        )
        root.addHandler(stdout)
    if logger_provider is not None and not _otlp_handler_present(root) and not _otlp_logging_instrumented_elsewhere():
        from opentelemetry.instrumentation.logging.handler import LoggingHandler

        otlp = LoggingHandler(logger_provider=logger_provider)
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
