"""The Prometheus ``/metrics`` endpoint, fed by the same collection as the OTLP metric export.

Every metric reader of an SDK meter provider keeps its own storage, so every measurement is aggregated
once per reader. Glassbox avoids a second reader for Prometheus: :class:`PushAndServeReader` is the OTLP
periodic reader, and each collection it makes is also kept for ``/metrics``, translated by the OpenTelemetry
Prometheus exporter's collector when scraped. One aggregation, two outputs that cannot disagree; the
endpoint shows the state of the last collection (``OTEL_METRIC_EXPORT_INTERVAL``, 15 s by default under
glassbox). A scrape never triggers an export, so it cannot take exemplars away from the OTLP path.

Where no OTLP metric exporter is configured, or the exporter asks for delta temporality (which Prometheus
cannot show), the ordinary pull reader is used instead.
"""

from __future__ import annotations

import contextlib
import sys
from collections import deque
from collections.abc import Iterable
from typing import Any

from opentelemetry.exporter.prometheus import PrometheusMetricReader, _CustomCollector
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from prometheus_client import REGISTRY, CollectorRegistry, start_http_server


class _LatestCollector(_CustomCollector):  # type: ignore[misc]
    """Serves the most recent collection on every scrape (the base class forgets it after one)."""

    def __init__(self) -> None:
        super().__init__()
        self._latest: MetricsData | None = None

    def add_metrics_data(self, metrics_data: MetricsData) -> None:
        self._latest = metrics_data

    def collect(self) -> Iterable[Any]:
        latest = self._latest
        self._metrics_datas = deque([latest] if latest is not None else [])
        yield from super().collect()


class PushAndServeReader(PeriodicExportingMetricReader):
    def __init__(self, exporter: MetricExporter, registry: CollectorRegistry = REGISTRY) -> None:
        super().__init__(exporter)
        self._collector = _LatestCollector()
        self._registry = registry
        registry.register(self._collector)

    def _receive_metrics(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> None:
        if metrics_data is not None:
            self._collector.add_metrics_data(metrics_data)
        super()._receive_metrics(metrics_data, timeout_millis, **kwargs)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        with contextlib.suppress(KeyError):
            self._registry.unregister(self._collector)
        super().shutdown(timeout_millis, **kwargs)


def _cumulative(exporter: MetricExporter) -> bool:
    preferred = getattr(exporter, "_preferred_temporality", {}) or {}
    return all(t == AggregationTemporality.CUMULATIVE for t in preferred.values())


def build_readers(push_exporters: list[MetricExporter], serve: bool) -> list[MetricReader]:
    """Metric readers for the push exporters, with ``/metrics`` riding on the first one when it can."""
    readers: list[MetricReader] = []
    served = not serve
    for exporter in push_exporters:
        if not served and _cumulative(exporter):
            readers.append(PushAndServeReader(exporter))
            served = True
        else:
            readers.append(PeriodicExportingMetricReader(exporter))
    if not served:
        readers.append(PrometheusMetricReader())
    return readers


def start_server(host: str, port: int) -> bool:
    """Start the ``/metrics`` HTTP server; False (and a line on stderr) when the port cannot be bound."""
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        print(
            f"glassbox: /metrics endpoint not started on {host}:{port} ({exc}); metrics still go out by OTLP",
            file=sys.stderr,
        )
        return False
    return True
