"""The distro and the configurator that ``opentelemetry-instrument`` loads through entry points.

:class:`GlassboxDistro` only sets defaults where the user set nothing: every standard ``OTEL_*`` variable
still wins. With ``OTEL_PROPAGATORS`` unset it installs W3C trace context and glassbox's allowlisted baggage
propagator (:mod:`glassbox.propagation`) as the global propagators. :class:`GlassboxConfigurator` builds
the SDK: resource, tracer provider (the glassbox span processor in front of the exporting processors), meter
provider (OTLP and the Prometheus ``/metrics`` endpoint fed by the same instruments), logger provider and
logging handlers, and the flush on SIGTERM.

OpenTelemetry imports this module for its ``post_instrument`` entry point whatever distro runs, so the parts
only glassbox's own distro uses (the propagators, the SDK pipeline, the guard, the log filters) are imported in
the functions that use them: under another distro, installing glassbox costs no import of them.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import wrapt
from opentelemetry.instrumentation.distro import BaseDistro  # type: ignore[attr-defined]
from opentelemetry.sdk._configuration import _BaseConfigurator

from glassbox import settings

_logger = logging.getLogger(__name__)

DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318",
    # Stable HTTP semantic conventions: http.route, http.response.status_code, http.server.request.duration.
    "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
    # /metrics shows the last collection, so collect more often than the SDK's 60 s default.
    "OTEL_METRIC_EXPORT_INTERVAL": "15000",
    # Glassbox installs the one OTLP log handler itself (see glassbox.sdk.logs).
    "OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION": "false",
    # Health checks and scrapes are not worth a trace each.
    "OTEL_PYTHON_FASTAPI_EXCLUDED_URLS": "/healthz,/readyz,/metrics",
    # Ride out a collector restart of about 30 s: the OTLP exporter retries a batch 6 times, backing off 1, 2, 4,
    # 8 and 16 s (jittered), up to this deadline in seconds (the SDK's default, 10, covers about 7 s), while new
    # spans and log records wait in the batch processors' queues (2048 by default: about 13 s of 160 items/s).
    # Measured: about 2.6 KB of RSS per item held, so both queues full cost about 85 MB (docs/telemetry.md).
    "OTEL_EXPORTER_OTLP_TIMEOUT": "45",
    "OTEL_BSP_MAX_QUEUE_SIZE": "16384",
    "OTEL_BLRP_MAX_QUEUE_SIZE": "16384",
    # An export batch is encoded on the processor's thread holding the interpreter lock, and the requests in flight
    # wait for it: 128 items at a time instead of the SDK's 512 take the app-logger shape's p99 from about 60 ms
    # to about 42 ms at the same throughput (benchmarks/RESULTS.md), for four times as many (smaller) exports.
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "128",
    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "128",
}
# OTEL_PROPAGATORS is defaulted apart from DEFAULTS: to "tracecontext,glassbox_baggage" (trace context to every
# host, baggage only to GLASSBOX_BAGGAGE_HOSTS; see glassbox.propagation). It is not written to the environment:
# opentelemetry.propagate has read the variable before any distro runs, so the distro installs the propagators
# itself, and a child process without glassbox that inherited the value would fail to import
# opentelemetry.propagate ("Propagator glassbox_baggage not found").
PROPAGATORS_VARIABLE = "OTEL_PROPAGATORS"


def propagators_chosen(environ: Any = None) -> bool:
    """Whether the user set ``OTEL_PROPAGATORS`` (an empty value counts as unset, as OpenTelemetry reads it)."""
    environ = os.environ if environ is None else environ
    return bool(str(environ.get(PROPAGATORS_VARIABLE, "")).strip())


def install_default_propagators(environ: Any = None) -> bool:
    """Make glassbox's propagators the global ones unless the user chose others; True when installed.

    A user's choice of OpenTelemetry's plain ``baggage`` propagator is kept, with a warning: it sends every
    baggage entry (tenant, user id) to every host the app calls, model providers included.
    """
    environ = os.environ if environ is None else environ
    if propagators_chosen(environ):
        from glassbox import propagation

        if propagation.plain_baggage_configured(environ.get(PROPAGATORS_VARIABLE)):
            _logger.warning(
                "glassbox: OTEL_PROPAGATORS=%s sends baggage (tenant, user id) to every host this app calls, model "
                "providers included; use %s with GLASSBOX_BAGGAGE_HOSTS instead of baggage",
                environ.get(PROPAGATORS_VARIABLE),
                propagation.ENTRY_POINT_NAME,
            )
        return False
    from opentelemetry import propagate

    from glassbox import propagation

    propagate.set_global_textmap(propagation.default_propagator())
    return True


def default_service_name(argv: list[str] | None = None) -> str:
    argv = sys.argv if argv is None else argv
    script = Path(argv[0]).stem if argv and argv[0] else ""
    return script if script and script not in ("-c", "-m", "__main__") else "python-app"


def apply_defaults(environ: Any = None) -> None:
    """Set glassbox's defaults in ``environ`` (default ``os.environ``) without overriding anything set."""
    environ = os.environ if environ is None else environ
    for key, value in DEFAULTS.items():
        environ.setdefault(key, value)
    resource = environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    keys = {item.split("=", 1)[0].strip() for item in resource.split(",") if "=" in item}
    additions = []
    if "service.name" not in keys and not environ.get("OTEL_SERVICE_NAME"):
        environ["OTEL_SERVICE_NAME"] = default_service_name()
    if "deployment.environment.name" not in keys:
        additions.append(f"deployment.environment.name={settings.ENVIRONMENT.get(environ)}")
    if additions:
        environ["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(p for p in [resource.strip(","), *additions] if p)


# Instrumentations that import a library costing a good part of a second or more at start-up (llama_index.core:
# about 1.2 s and 100 MB; litellm: over 3 s and 200 MB; google-genai's instrumentation: about 0.9 s with the SDK;
# the Bedrock instrumentation: botocore): loaded when the app imports the library, so a process that has it
# installed but never uses it does not pay. Entry point name -> the module to wait for.
LOAD_WHEN_IMPORTED = {
    "llama_index": "llama_index.core",
    "glassbox_litellm": "litellm",
    "google-genai": "google.genai",
    "bedrock": "botocore.client",
}

# Settings an instrumentor must not change for the others: google-genai's sets OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT
# to true when it instruments, so every GenAI call of every SDK then logs a gen_ai.client.inference.operation.details
# event (with content capture off, an empty one: a log record per model call). The user's value, or its absence
# (events only when content capture asks for them), stands.
KEPT_FROM_INSTRUMENTORS = ("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT",)

_distro_loaded = False


class GlassboxDistro(BaseDistro):  # type: ignore[misc]
    def _configure(self, **kwargs: Any) -> None:
        global _distro_loaded
        _distro_loaded = True
        apply_defaults()
        try:
            install_default_propagators()
        except Exception:
            _logger.exception("glassbox could not install its propagators; OpenTelemetry's defaults stay")

    def load_instrumentor(self, entry_point: Any, **kwargs: Any) -> None:
        # The ASGI instrumentation adds an "http send"/"http receive" span per ASGI message (three or more per
        # request) that only repeat the server span's timing; glassbox leaves them out unless asked for.
        if entry_point.name == "fastapi" and not settings.ASGI_MESSAGE_SPANS.get():
            kwargs.setdefault("exclude_spans", ["receive", "send"])
        library = LOAD_WHEN_IMPORTED.get(entry_point.name)
        if library is not None and library not in sys.modules:
            wrapt.register_post_import_hook(lambda _module: self._load_late(entry_point, kwargs), library)
            return
        self._load_keeping_the_environment(entry_point, kwargs)

    def _load_late(self, entry_point: Any, kwargs: dict[str, Any]) -> None:
        """Inside the app's import of the library: a failure is logged, never raised into that import."""
        try:
            self._load_keeping_the_environment(entry_point, kwargs)
        except Exception:
            _logger.exception("glassbox could not load the %s instrumentation", entry_point.name)

    def _load_keeping_the_environment(self, entry_point: Any, kwargs: dict[str, Any]) -> None:
        """Load an instrumentor, then undo what it set in the environment for every other instrumentation."""
        kept = {name: os.environ.get(name) for name in KEPT_FROM_INSTRUMENTORS}
        try:
            super().load_instrumentor(entry_point, **kwargs)
        finally:
            for name, value in kept.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class GlassboxConfigurator(_BaseConfigurator):
    def _configure(self, **kwargs: Any) -> None:
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return
        from glassbox.sdk.pipeline import configure

        configure(auto_instrumentation_version=kwargs.get("auto_instrumentation_version"))


def post_instrument() -> None:
    """Runs after every instrumentor loaded: filters on all log handlers, including ones added late, and the
    guard in front of the model SDKs (outermost, so a refused call makes no request and no GenAI span).

    Only under the glassbox distro: with another distro selected, an installed glassbox stays out of the way.
    """
    if not _distro_loaded:
        return
    from glassbox.guard import GuardInstrumentor
    from glassbox.sdk import logs

    logs.attach_filters()
    GuardInstrumentor().instrument()
