"""The `glassbox` command.

    glassbox doctor [--require ...] [--timeout SECONDS] [--watch SECONDS]    checks a running stack end to end
    glassbox story <trace-id | request-id>                                   the whole story of one request
    glassbox audit verify | export | fingerprint [...]                       see glassbox.cli.audit
    glassbox budgets list | set | remove [...]                               see glassbox.cli.guard
    glassbox kill-switch on | off | status [--tenant T] [--reason TEXT]      see glassbox.cli.guard
    glassbox state migrate | role | status                                   see glassbox.cli.state

`python -m glassbox.cli ...` is the same command (the native stack's canary process runs it that way). The
commands that write audit events send their OTel copies to the collector (OTEL_EXPORTER_OTLP_ENDPOINT, else the
stack's), like an app does, so Loki's audit stream holds them too.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

COMMANDS = {
    "doctor": "glassbox.cli.doctor:main",
    "story": "glassbox.cli.story:main",
    "audit": "glassbox.cli.audit:main",
    "budgets": "glassbox.cli.guard:budgets_main",
    "kill-switch": "glassbox.cli.guard:kill_switch_main",
    "state": "glassbox.cli.state:main",
}
# Commands whose audit events get OTel copies (the doctor sends its own canary).
AUDITING = frozenset({"story", "audit", "budgets", "kill-switch"})


def _audit_copies() -> Callable[[], None]:
    """An OTLP log pipeline for the command's audit events; returns what flushes it."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or os.environ.get(
        "OTEL_LOGS_EXPORTER", ""
    ).strip().lower() in ("none", "console"):
        return lambda: None
    from opentelemetry import _logs
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
    from opentelemetry.sdk.resources import Resource

    from glassbox import conventions as c
    from glassbox.stack_addresses import Endpoints

    class Copies(LogRecordExporter):  # type: ignore[misc]
        """The OTLP log exporter, counting what it could not send."""

        def __init__(self, exporter: LogRecordExporter) -> None:
            self.exporter = exporter
            self.lost = 0

        def export(self, batch: Sequence[Any]) -> LogRecordExportResult:
            result = self.exporter.export(batch)
            if result != LogRecordExportResult.SUCCESS:
                self.lost += len(batch)
            return result

        def shutdown(self) -> None:
            self.exporter.shutdown()  # type: ignore[no-untyped-call]

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return bool(self.exporter.force_flush(timeout_millis))

    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or Endpoints.from_environ(os.environ).otlp_http
    endpoint = f"{base.rstrip('/')}/v1/logs"
    exporter = Copies(OTLPLogExporter(endpoint=endpoint, timeout=2))
    provider = LoggerProvider(resource=Resource.create({c.SERVICE_NAME: "glassbox-cli"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    _logs.set_logger_provider(provider)
    # The exporter's own retry warnings would bury the command's output: one line below says it instead.
    logging.getLogger("opentelemetry.exporter.otlp.proto.http").setLevel(logging.CRITICAL)

    def flush() -> None:
        provider.shutdown()
        if exporter.lost:
            print(
                f"glassbox: the OTel copies of {exporter.lost} audit events could not be sent to {endpoint} "
                "(is the collector up?); `glassbox audit verify --against-loki` will list them as missing",
                file=sys.stderr,
            )

    return flush


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: glassbox {" + ",".join(COMMANDS) + "} [options]  (glassbox doctor --help)"
    if args[:1] in (["-h"], ["--help"]):
        print(usage)
        return 0
    if not args or args[0] not in COMMANDS:
        print(usage, file=sys.stderr)
        return 2
    module, function = COMMANDS[args[0]].split(":")
    from glassbox.audit import store

    store.operator_command()  # an operator's command signs the fleet's audit log only with the fleet's key
    flush = _audit_copies() if args[0] in AUDITING and argv is None else (lambda: None)
    try:
        return int(getattr(importlib.import_module(module), function)(args[1:]))
    finally:
        flush()


if __name__ == "__main__":
    sys.exit(main())
