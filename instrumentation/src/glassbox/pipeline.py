"""Builds the OpenTelemetry SDK the glassbox way. Called by the configurator, or directly::

    import glassbox
    glassbox.configure()   # for apps not started with opentelemetry-instrument

Standard ``OTEL_*`` variables choose exporters, sampler, endpoint and resource as usual.
"""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
from typing import Any

from opentelemetry import _logs, metrics, trace
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
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import DropAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from glassbox import conventions as c
from glassbox import instruments as instruments_module
from glassbox import logs, settings, shutdown
from glassbox.instruments import Instruments
from glassbox.spans import GlassboxSpanProcessor
from glassbox.version import __version__

_logger = logging.getLogger(__name__)
_lock = threading.Lock()


@dataclass
class Pipeline:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    instruments: Instruments
    metrics_endpoint: tuple[str, int] | None

    def force_flush(self, timeout_millis: int) -> None:
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            try:
                provider.force_flush(timeout_millis)
            except Exception:
                _logger.debug("flush failed", exc_info=True)

    def shutdown(self) -> None:
        for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
            try:
                provider.shutdown()
            except Exception:
                _logger.debug("shutdown failed", exc_info=True)


_pipeline: Pipeline | None = None


def current() -> Pipeline | None:
    return _pipeline


def replaced_instrument_views() -> list[View]:
    """Views that drop the upstream copies of the instruments glassbox records itself."""
    return [
        View(meter_name=meter, instrument_name=instrument, aggregation=DropAggregation())
        for meter, instrument in c.REPLACED_UPSTREAM_INSTRUMENTS
    ]


def _start_metrics_endpoint() -> tuple[MetricReader | None, tuple[str, int] | None]:
    port = settings.get("GLASSBOX_METRICS_PORT")
    if not port:
        return None, None
    host = settings.get("GLASSBOX_METRICS_HOST")
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import start_http_server

    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        print(
            f"glassbox: /metrics endpoint not started on {host}:{port} ({exc}); metrics still go out by OTLP",
            file=sys.stderr,
        )
        return None, None
    return PrometheusMetricReader(), (host, port)


def configure(auto_instrumentation_version: str | None = None) -> Pipeline:
    """Build and register the tracer, meter and logger providers (once per process)."""
    global _pipeline
    with _lock:
        if _pipeline is not None:
            return _pipeline
        resource_attributes: dict[str, Any] = {
            c.TELEMETRY_DISTRO_NAME: c.DISTRO_NAME,
            c.TELEMETRY_DISTRO_VERSION: __version__,
        }
        if auto_instrumentation_version:
            resource_attributes["telemetry.auto.version"] = auto_instrumentation_version
        resource = Resource.create(resource_attributes)
        if c.DEPLOYMENT_ENVIRONMENT not in resource.attributes:
            resource = resource.merge(Resource({c.DEPLOYMENT_ENVIRONMENT: settings.get("GLASSBOX_ENVIRONMENT")}))
        span_exporters, metric_exporters, log_exporters = _import_exporters(
            _get_exporter_names("traces"), _get_exporter_names("metrics"), _get_exporter_names("logs")
        )

        # Metrics first: the SDK's own processor/exporter metrics bind to the provider that exists then.
        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        readers: list[MetricReader] = []
        for exporter_class in metric_exporters.values():
            if issubclass(exporter_class, PrometheusMetricReader):
                continue  # the /metrics endpoint below is the Prometheus path
            if issubclass(exporter_class, MetricReader):
                readers.append(exporter_class())
            else:
                readers.append(PeriodicExportingMetricReader(exporter_class()))
        prometheus_reader, endpoint = _start_metrics_endpoint()
        if prometheus_reader is not None:
            readers.append(prometheus_reader)
        meter_provider = MeterProvider(resource=resource, metric_readers=readers, views=replaced_instrument_views())
        metrics.set_meter_provider(meter_provider)
        instruments = Instruments(meter_provider=meter_provider)
        if endpoint is None and settings.get("GLASSBOX_METRICS_PORT"):
            instruments.count_dropped("metrics", "endpoint_unavailable")
        instruments_module.install(instruments)

        tracer_provider = TracerProvider(
            resource=resource,
            sampler=_import_sampler(_get_sampler()),
            id_generator=_import_id_generator(_get_id_generator()),
        )
        exporting = [BatchSpanProcessor(exporter_class()) for exporter_class in span_exporters.values()]
        tracer_provider.add_span_processor(GlassboxSpanProcessor(*exporting, instruments=instruments))
        trace.set_tracer_provider(tracer_provider)

        logger_provider = LoggerProvider(resource=resource)
        log_processors: list[LogRecordProcessor] = [
            BatchLogRecordProcessor(exporter_class()) for exporter_class in log_exporters.values()
        ]
        for processor in log_processors:
            logger_provider.add_log_record_processor(processor)
        _logs.set_logger_provider(logger_provider)
        logs.install(logger_provider if log_processors else None, str(resource.attributes.get(c.SERVICE_NAME, "")))

        _pipeline = Pipeline(tracer_provider, meter_provider, logger_provider, instruments, endpoint)
        shutdown.install(_pipeline)
        return _pipeline
