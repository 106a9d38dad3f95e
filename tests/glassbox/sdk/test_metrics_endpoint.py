"""The /metrics endpoint rides on the OTLP collection: one aggregation, two outputs."""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)
from prometheus_client import CollectorRegistry, generate_latest

from glassbox.sdk import metrics_endpoint
from glassbox.sdk.metrics_endpoint import PushAndServeReader


class RecordingExporter(MetricExporter):
    def __init__(self, temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE) -> None:
        super().__init__(preferred_temporality={Counter: temporality})
        self.exported: list[MetricsData] = []

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        pass


def counter_value(data: MetricsData) -> float:
    return sum(
        point.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == "orders"
        for point in metric.data.data_points
    )


def test_scrape_serves_the_last_collection_and_never_exports() -> None:
    registry = CollectorRegistry()
    exporter = RecordingExporter()
    reader = PushAndServeReader(exporter, registry=registry)
    provider = MeterProvider(metric_readers=[reader])
    try:
        counter = provider.get_meter("shop").create_counter("orders")
        counter.add(3, {"glassbox.tenant.id": "acme"})
        assert b"orders_total" not in generate_latest(registry)  # nothing collected yet
        provider.force_flush()
        assert len(exporter.exported) == 1 and counter_value(exporter.exported[0]) == 3
        for _ in range(3):  # every scrape sees the same collection, and none triggers an export
            text = generate_latest(registry).decode()
            assert 'orders_total{glassbox_tenant_id="acme"' in text
            assert text.count("orders_total{") == 1
        assert len(exporter.exported) == 1
        counter.add(2, {"glassbox.tenant.id": "acme"})
        provider.force_flush()
        assert counter_value(exporter.exported[-1]) == 5
        assert 'orders_total{glassbox_tenant_id="acme",otel_scope_name="shop"' in generate_latest(registry).decode()
        assert "} 5.0" in generate_latest(registry).decode()
    finally:
        provider.shutdown()
    assert b"orders_total" not in generate_latest(registry)  # unregistered at shutdown


def kinds(readers: Sequence[object]) -> list[str]:
    return [type(r).__name__ for r in readers]


def test_reader_choice() -> None:
    cumulative, delta = RecordingExporter(), RecordingExporter(AggregationTemporality.DELTA)
    readers = metrics_endpoint.build_readers([cumulative], serve=True)
    assert kinds(readers) == ["PushAndServeReader"]
    readers[0].shutdown()
    # delta temporality cannot be shown by Prometheus: a pull reader of its own serves /metrics
    readers = metrics_endpoint.build_readers([delta], serve=True)
    assert kinds(readers) == ["PeriodicExportingMetricReader", "PrometheusMetricReader"]
    assert isinstance(readers[1], PrometheusMetricReader)
    for reader in readers:
        reader.shutdown()
    # no OTLP at all: the pull reader alone
    readers = metrics_endpoint.build_readers([], serve=True)
    assert kinds(readers) == ["PrometheusMetricReader"]
    readers[0].shutdown()
    readers = metrics_endpoint.build_readers([RecordingExporter()], serve=False)
    assert all(type(r) is PeriodicExportingMetricReader for r in readers)
    readers[0].shutdown()


def test_taken_port_is_reported_not_raised(capsys: object) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert metrics_endpoint.start_server("127.0.0.1", port) is False
