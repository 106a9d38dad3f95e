"""What is sampled: the HTTP client span that repeats a model call is left out, and a share of traces is marked
for keeping (with the exemplars that name them).

**Kept traces and exemplars.** With the collector tiers, the gateways' tail sampling keeps every failed, slow,
costly or audited trace and drops most of the others, so a metric exemplar (a trace id on a histogram bucket or
the cost counter) could name a trace that Tempo never got. :class:`KeptTraceMarker` marks the first span each
service makes in a trace (``glassbox.trace.kept``) when the trace id falls in the kept share
(``GLASSBOX_TRACE_KEEP_PERCENT``, default 10): decided from the lowest 56 bits of the trace id, the part W3C
Trace Context makes random, so every service of a trace decides alike without talking. The gateways keep every
marked trace, and :class:`KeptTraceExemplarFilter` lets only measurements made inside a marked trace become
exemplars. An exemplar's trace is then kept unless it was lost on the way.

A model call made through an SDK shows up twice in a trace: the GenAI span (``chat gpt-4o-mini``, with the
model, tokens, cost and tenant) and, directly under it, the HTTP instrumentation's client span
(``POST``) for the one request the SDK sends. The second one says nothing the first does not, yet costs as
much to create, process and export. :class:`NestedCallSampler` drops a client span whose parent is a live
model-call span and which is not itself a GenAI span, before it is created (the SDK then makes a
non-recording span, so the request still carries the trace id). Every other decision is the configured
sampler's. ``GLASSBOX_NESTED_CALL_SPANS=true`` keeps these spans.

The other duplicate, an SDK's own span nested inside the GenAI instrumentation's span for the same call,
is a GenAI span whose usage the outer span needs, so it is created and then left out at export time by
:class:`glassbox.sdk.span_processor.GlassboxSpanProcessor`.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import ExemplarFilter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from glassbox import conventions as c


def is_model_call_span(span: object) -> bool:
    """True for a live (recording) span whose operation is a model call."""
    attributes = getattr(span, "attributes", None)
    return bool(attributes) and attributes.get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS  # type: ignore[union-attr]


class NestedCallSampler(Sampler):
    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT and not (attributes and c.GEN_AI_OPERATION_NAME in attributes):
            parent = trace.get_current_span(parent_context)
            if parent.is_recording() and is_model_call_span(parent):
                return SamplingResult(Decision.DROP, None, parent.get_span_context().trace_state)
        return self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"NestedCallSampler{{{self.inner.get_description()}}}"


# The lowest 56 bits of a trace id: random in every W3C Trace Context id (level 2's random flag promises them).
_RANDOM_BITS = (1 << 56) - 1


def keep_bound(percent: float) -> int:
    """The trace ids kept at ``percent`` are those whose lowest 56 bits are below this."""
    return round(percent / 100 * (1 << 56))


def is_kept(trace_id: int, bound: int) -> bool:
    return (trace_id & _RANDOM_BITS) < bound


class KeptTraceMarker(Sampler):
    """The inner sampler's decision, with ``glassbox.trace.kept`` on a sampled local root span of a kept trace."""

    def __init__(self, inner: Sampler, percent: float) -> None:
        self.inner = inner
        self.bound = keep_bound(percent)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        result = self.inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is not Decision.RECORD_AND_SAMPLE or not is_kept(trace_id, self.bound):
            return result
        parent = trace.get_current_span(parent_context).get_span_context()
        if parent.is_valid and not parent.is_remote:
            return result  # not the first span of this service in the trace
        marked = {**(result.attributes or {}), c.TRACE_KEPT: True}
        return SamplingResult(result.decision, marked, result.trace_state)

    def get_description(self) -> str:
        return f"KeptTraceMarker{{{self.inner.get_description()}}}"


class KeptTraceExemplarFilter(ExemplarFilter):
    """Only a measurement made in a sampled span of a kept trace may become an exemplar."""

    def __init__(self, percent: float) -> None:
        self.bound = keep_bound(percent)

    def should_sample(self, value: float, time_unix_nano: int, attributes: Attributes, context: Context) -> bool:
        span_context = trace.get_current_span(context).get_span_context()
        return span_context.is_valid and span_context.trace_flags.sampled and is_kept(span_context.trace_id, self.bound)
