"""Builds the OpenTelemetry SDK the glassbox way. Called by the configurator, or directly::

    import glassbox
    glassbox.configure()   # for apps not started with opentelemetry-instrument

Standard ``OTEL_*`` variables choose exporters, sampler, endpoint and resource as usual.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk._configuration import (
    _get_exporter_names,
    _get_id_generator,
    _get_sampler,
    _import_exporters,
    _import_id_generator,
    _import_sampler,
)
from opentelemetry.sdk._logs import LoggerProvider, LogRecordProcessor
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.environment_variables import OTEL_METRICS_EXEMPLAR_FILTER
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, MetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace import sampling as sampling_module
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from glassbox import conventions as c
from glassbox import evaluators, settings
from glassbox import instruments as instruments_module
from glassbox.guard import budgets, spend_writer
from glassbox.instruments import Instruments
from glassbox.sdk import logs, metric_labels, metrics_endpoint, shutdown
from glassbox.sdk.sampling import KeptTraceExemplarFilter, KeptTraceMarker, NestedCallSampler
from glassbox.sdk.span_processor import GlassboxSpanProcessor
from glassbox.version import __version__

_logger = logging.getLogger(__name__)
_lock = threading.Lock()
SDK_SELF_METRICS = "OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"


@dataclass
class Pipeline:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    exporters: list[Any] = field(default_factory=list)

    def force_flush(self, timeout_millis: int) -> bool:
        """Flush traces, logs and metrics, giving up after ``timeout_millis``.

        The SDK's batch processors ignore a flush timeout, and an exporter retries each batch for up to its own
        timeout, so with the collector down a flush could take minutes. The flush runs on a thread of its own;
        past the deadline the exporters are shut down (their retries stop at once; what is left is counted as
        ``glassbox.telemetry.dropped{reason="shutdown_timeout"}`` and logged) and False is returned.
        """
        done = threading.Event()

        def flush() -> None:
            # Calls waiting for their online evaluations first (a share of the time): their results are logs.
            evaluators.drain(timeout_millis / 2000)
            # Then the spend of tenants without a budget, written behind (a judge's included).
            spend_writer.flush()
            for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
                try:
                    provider.force_flush(timeout_millis)
                except Exception:
                    _logger.debug("flush failed", exc_info=True)
            done.set()

        threading.Thread(target=flush, name="glassbox-flush", daemon=True).start()
        if done.wait(timeout_millis / 1000):
            return True
        instruments_module.get().count_dropped("all", c.DROP_SHUTDOWN_TIMEOUT)
        _logger.warning(
            "glassbox: telemetry not flushed within %g s (GLASSBOX_SHUTDOWN_TIMEOUT); what is left is dropped",
            timeout_millis / 1000,
        )
        for exporter in self.exporters:
            try:
                exporter.shutdown()
            except Exception:
                _logger.debug("exporter shutdown failed", exc_info=True)
        return False


_pipeline: Pipeline | None = None


def current() -> Pipeline | None:
    return _pipeline


@contextmanager
def _sdk_self_metrics() -> Iterator[None]:
    """Turn the SDK's own metrics on for what is built inside (processors and exporters) and only that.

    Those report queue overflows and failed exports, which glassbox wants counted. The same switch also
    makes every tracer and logger record per-span and per-record counters, which cost more than the rest of
    glassbox's span processing together, so it is switched back off before any tracer exists, unless the
    user set it.
    """
    user_value = os.environ.get(SDK_SELF_METRICS)
    os.environ.setdefault(SDK_SELF_METRICS, "true")
    try:
        yield
    finally:
        if user_value is None:
            os.environ.pop(SDK_SELF_METRICS, None)


def configure(auto_instrumentation_version: str | None = None) -> Pipeline:
    """Build and register the tracer, meter and logger providers (once per process)."""
    global _pipeline
    with _lock:
        if _pipeline is not None:
            return _pipeline
        settings.check_all()  # every malformed GLASSBOX_* setting reported now, before the app's first request
        resource_attributes: dict[str, Any] = {
            c.TELEMETRY_DISTRO_NAME: c.DISTRO_NAME,
            c.TELEMETRY_DISTRO_VERSION: __version__,
        }
        if auto_instrumentation_version:
            resource_attributes["telemetry.auto.version"] = auto_instrumentation_version
        resource = Resource.create(resource_attributes)
        if c.DEPLOYMENT_ENVIRONMENT not in resource.attributes:
            resource = resource.merge(Resource({c.DEPLOYMENT_ENVIRONMENT: settings.ENVIRONMENT.get()}))
        span_exporters, metric_exporters, log_exporters = _import_exporters(
            _get_exporter_names("traces"), _get_exporter_names("metrics"), _get_exporter_names("logs")
        )

        # Metrics first: the SDK's own processor/exporter metrics bind to the provider that exists then.
        port = settings.METRICS_PORT.get()
        host = settings.METRICS_HOST.get()
        endpoint = (host, port) if port and metrics_endpoint.start_server(host, port) else None
        pull_readers: list[MetricReader] = []
        push_exporters: list[MetricExporter] = []
        with _sdk_self_metrics():
            for exporter_class in metric_exporters.values():
                if issubclass(exporter_class, PrometheusMetricReader):
                    continue  # the /metrics endpoint is the Prometheus path
                if issubclass(exporter_class, MetricReader):
                    pull_readers.append(exporter_class())
                else:
                    push_exporters.append(exporter_class())
        readers = pull_readers + metrics_endpoint.build_readers(push_exporters, serve=endpoint is not None)
        keep_percent = settings.TRACE_KEEP_PERCENT.get()
        # OTEL_METRICS_EXEMPLAR_FILTER, when set, is the SDK's to read (always_on, always_off, trace_based).
        exemplar_filter = (
            None if os.environ.get(OTEL_METRICS_EXEMPLAR_FILTER) else KeptTraceExemplarFilter(keep_percent)
        )
        meter_provider = MeterProvider(resource=resource, metric_readers=readers, exemplar_filter=exemplar_filter)
        metric_labels.install(meter_provider, lambda tenant: instruments_module.get().tenants.label(tenant))
        metrics.set_meter_provider(meter_provider)
        instruments = Instruments(meter_provider=meter_provider)
        # A tenant with a budget of its own always keeps its label, however many other tenant ids clients send.
        instruments.tenants.always_label_from(budgets.listed)
        if port and endpoint is None:
            instruments.count_dropped("metrics", "endpoint_unavailable")
        instruments_module.install(instruments)

        with _sdk_self_metrics():
            span_exporter_objects = [exporter_class() for exporter_class in span_exporters.values()]
            log_exporter_objects = [exporter_class() for exporter_class in log_exporters.values()]
            exporting = [BatchSpanProcessor(exporter) for exporter in span_exporter_objects]
            log_processors: list[LogRecordProcessor] = [
                BatchLogRecordProcessor(exporter) for exporter in log_exporter_objects
            ]
        sampler = _import_sampler(_get_sampler()) or sampling_module._get_from_env_or_default()
        if not settings.NESTED_CALL_SPANS.get():
            sampler = NestedCallSampler(sampler)
        sampler = KeptTraceMarker(sampler, keep_percent)
        tracer_provider = TracerProvider(
            resource=resource,
            sampler=sampler,
            id_generator=_import_id_generator(_get_id_generator()),
        )
        tracer_provider.add_span_processor(
            GlassboxSpanProcessor(*exporting, instruments=instruments, export_nested=settings.NESTED_CALL_SPANS.get())
        )
        trace.set_tracer_provider(tracer_provider)

        logger_provider = LoggerProvider(resource=resource)
        if log_processors:
            logger_provider.add_log_record_processor(logs.GlassboxLogRecordProcessor(*log_processors))
        _logs.set_logger_provider(logger_provider)
        logs.install(logger_provider if log_processors else None, str(resource.attributes.get(c.SERVICE_NAME, "")))

        try:  # the budgets file now, so that its limits are reported before any spend
            budgets.ensure_configured()
        except Exception:
            _logger.debug("glassbox budgets failed to load", exc_info=True)
        try:  # the online evaluators: a mistake in them is named now, and the app runs without them
            evaluators.install()
        except (evaluators.EvaluatorConfigError, OSError) as error:
            print(f"glassbox: online evaluators not started: {error}", file=sys.stderr)
        _pipeline = Pipeline(
            tracer_provider,
            meter_provider,
            logger_provider,
            [*span_exporter_objects, *log_exporter_objects, *push_exporters],
        )
        shutdown.install(_pipeline)
        return _pipeline
