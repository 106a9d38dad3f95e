"""The kept share of traces: marked on each service's first span, decided from the trace id alone, and the only
source of metric exemplars."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from glassbox import conventions as c
from glassbox.sdk.sampling import KeptTraceExemplarFilter, KeptTraceMarker, is_kept, keep_bound

KEPT = 0x0123456789ABCDEF_0000000000000001  # lowest 56 bits tiny: kept at any share above 0
DROPPED = 0x0000000000000000_FFFFFFFFFFFFFF  # lowest 56 bits at their highest: kept only at 100%


def test_the_decision_reads_only_the_lowest_56_bits_and_its_edges() -> None:
    assert is_kept(KEPT, keep_bound(10)) and not is_kept(DROPPED, keep_bound(10))
    # The high bits (not random in every generator's ids: X-Ray puts a time there) change nothing.
    assert is_kept(KEPT ^ (0xFF << 120), keep_bound(10))
    assert not any(is_kept(t, keep_bound(0)) for t in (KEPT, DROPPED, 0))
    assert all(is_kept(t, keep_bound(100)) for t in (KEPT, DROPPED, 0))
    share = sum(is_kept(t * 0x9E3779B97F4A7C15, keep_bound(10)) for t in range(20000)) / 20000
    assert 0.09 < share < 0.11


def _spans(sampler: KeptTraceMarker, parent: Context | None = None) -> list[dict[str, object]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    with (
        tracer.start_as_current_span("root", context=parent, attributes={"keep.me": 1}),
        tracer.start_as_current_span("child"),
    ):
        pass
    return [dict(span.attributes or {}) for span in sorted(exporter.get_finished_spans(), key=lambda s: s.name)]


def _remote(trace_id: int, sampled: bool = True) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = NonRecordingSpan(SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=flags))
    return trace.set_span_in_context(parent)


def test_the_first_span_of_a_kept_trace_is_marked_and_its_children_are_not() -> None:
    child, root = _spans(KeptTraceMarker(ParentBased(ALWAYS_ON), 100))
    assert root == {"keep.me": 1, c.TRACE_KEPT: True}  # the sampler's own attributes kept
    assert c.TRACE_KEPT not in child


@pytest.mark.parametrize(("trace_id", "marked"), [(KEPT, True), (DROPPED, False)])
def test_a_service_called_with_a_remote_parent_decides_from_the_trace_id(trace_id: int, marked: bool) -> None:
    _, root = _spans(KeptTraceMarker(ParentBased(ALWAYS_ON), 10), _remote(trace_id))
    assert (c.TRACE_KEPT in root) is marked


def test_a_trace_the_inner_sampler_drops_is_not_marked() -> None:
    assert _spans(KeptTraceMarker(ALWAYS_OFF, 100)) == []
    assert _spans(KeptTraceMarker(ParentBased(ALWAYS_ON), 100), _remote(KEPT, sampled=False)) == []


@pytest.mark.parametrize(
    ("trace_id", "sampled", "exemplar"), [(KEPT, True, True), (DROPPED, True, False), (KEPT, False, False)]
)
def test_only_a_sampled_span_of_a_kept_trace_gives_an_exemplar(trace_id: int, sampled: bool, exemplar: bool) -> None:
    reader = InMemoryMetricReader()
    meter = MeterProvider([reader], exemplar_filter=KeptTraceExemplarFilter(10)).get_meter("t")
    meter.create_histogram("latency").record(0.2, context=_remote(trace_id, sampled))
    meter.create_histogram("no_span").record(0.2, context=Context())
    data = reader.get_metrics_data()
    assert data is not None
    exemplars = {
        metric.name: [e.trace_id for point in metric.data.data_points for e in point.exemplars]
        for metric in data.resource_metrics[0].scope_metrics[0].metrics
    }
    assert exemplars == {"latency": [trace_id] if exemplar else [], "no_span": []}
