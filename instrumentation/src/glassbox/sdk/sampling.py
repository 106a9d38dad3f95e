"""Leaves out the HTTP client span that repeats a model call.

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
