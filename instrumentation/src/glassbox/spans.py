"""The span processor at the centre of glassbox.

It sits in front of the exporting processors and, for every span:

* on start: copies the attribution baggage (tenant, user, session, request id) onto the span, passes the
  agent name down to the model and tool calls made inside an agent, and notes model calls nested inside
  another model call (two instrumentations seeing one call, e.g. the Anthropic SDK's own span inside the
  GenAI instrumentation's span). The outermost model-call span also takes over the budget reservation the
  guard made for its call. An MCP client span is named and marked as the conventions say
  (:mod:`glassbox.mcp_spans`);
* on end: a model-call span nested in another one for the same call is accounted for by the outer one and,
  unless ``GLASSBOX_NESTED_CALL_SPANS`` is true, not exported. For the outermost span of each model call, it
  computes the USD cost, records it in the cost counter with the tenant and agent labels (each call counted
  once, with the span as exemplar), settles the call's reservation with it or adds it to the tenant's spend
  (:func:`glassbox.guard.core.account`), and writes ``glassbox.cost.*`` attributes; captured
  prompt/completion content is redacted, or removed when capture was not opted in. (Token usage and
  durations are the upstream instrumentations' own metrics, given the tenant label by
  :mod:`glassbox.metric_labels`.)

A failure inside the processor is counted in ``glassbox.telemetry.dropped{signal="traces"}`` and the
span is still exported unchanged: observability never breaks the app.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind

from glassbox import attribution, content, cost, evaluations, mcp_spans
from glassbox import conventions as c
from glassbox import instruments as instruments_module
from glassbox.guard import core as guard
from glassbox.instruments import Instruments
from glassbox.state import Reservation

_logger = logging.getLogger(__name__)
_MAX_PENDING = 10_000


def _live_attributes(context: Context | None) -> Mapping[str, Any] | None:
    parent = trace.get_current_span(context)
    attributes = getattr(parent, "attributes", None)
    if attributes is None or not parent.is_recording():
        return None
    return attributes  # type: ignore[no-any-return]


class GlassboxSpanProcessor(SpanProcessor):
    def __init__(
        self,
        *exporting: SpanProcessor,
        instruments: Instruments | None = None,
        capture_content: bool | None = None,
        export_nested: bool = True,
    ) -> None:
        self._next: Sequence[SpanProcessor] = exporting
        # False: a model-call span nested in another one for the same call is accounted, not exported.
        self._export_nested = export_nested
        self._instruments = instruments
        self._capture_content = content.capture_enabled() if capture_content is None else capture_content
        # span id of a nested model-call span -> span id of the model-call span around it
        self._nested: OrderedDict[int, int] = OrderedDict()
        # span id of an outer model-call span -> usage reported by the nested span(s)
        self._child_usage: OrderedDict[int, cost.Usage] = OrderedDict()
        # span id of a model-call span -> the budget reservation of its call, settled when it ends
        self._reservations: OrderedDict[int, Reservation] = OrderedDict()

    @property
    def instruments(self) -> Instruments:
        return self._instruments or instruments_module.get()

    # ------------------------------------------------------------------ start
    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        try:
            self._start(span, parent_context)
        except Exception:
            _logger.debug("glassbox span start failed", exc_info=True)
            self.instruments.count_dropped("traces", "processor_error")
        for processor in self._next:
            processor.on_start(span, parent_context=parent_context)

    def _start(self, span: Any, parent_context: Context | None) -> None:
        values = attribution.current(parent_context)
        if values:
            span.set_attributes(values)
            if span.kind == SpanKind.SERVER and c.REQUEST_ID in values:
                evaluations.recent_requests.remember(values[c.REQUEST_ID], span.context)
        own = span.attributes or {}
        if c.MCP_METHOD_NAME in own:
            own = mcp_spans.follow_conventions(span, own)
        if own.get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS:
            reservation = guard.claim_reservation()
            if reservation is not None:
                self._remember(self._reservations, span.context.span_id, reservation)
        parent = _live_attributes(parent_context)
        if not parent:
            return
        agent = parent.get(c.GEN_AI_AGENT_NAME)
        if agent and c.GEN_AI_OPERATION_NAME in own and c.GEN_AI_AGENT_NAME not in own:
            span.set_attribute(c.GEN_AI_AGENT_NAME, agent)
        if parent.get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS:
            parent_span = trace.get_current_span(parent_context)
            self._remember(self._nested, span.context.span_id, parent_span.get_span_context().span_id)

    @staticmethod
    def _remember(store: OrderedDict[int, Any], key: int, value: Any) -> None:
        store[key] = value
        if len(store) > _MAX_PENDING:
            store.popitem(last=False)

    # ------------------------------------------------------------------ end
    def _on_ending(self, span: Any) -> None:
        for processor in self._next:
            processor._on_ending(span)

    def on_end(self, span: ReadableSpan) -> None:
        try:
            span = self._end(span)
        except Exception:
            _logger.debug("glassbox span end failed", exc_info=True)
            self.instruments.count_dropped("traces", "processor_error")
        if not self._export_nested and (span.attributes or {}).get(c.COST_STATUS) == c.COST_STATUS_DUPLICATE:
            return
        for processor in self._next:
            processor.on_end(span)

    def _end(self, span: ReadableSpan) -> ReadableSpan:
        attributes = span.attributes or {}
        extra: dict[str, Any] = {}
        if c.attribute(attributes, c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS:
            extra = self._account_model_call(span, attributes)
        return self._rebuilt(span, attributes, extra)

    def _exemplar_context(self, span: ReadableSpan) -> Context | None:
        if span.context is None:
            return None
        return trace.set_span_in_context(trace.NonRecordingSpan(span.context))

    def _account_model_call(self, span: ReadableSpan, attributes: Mapping[str, Any]) -> dict[str, Any]:
        span_id = span.context.span_id if span.context else 0
        usage = cost.Usage.from_attributes(attributes)
        scope = span.instrumentation_scope.name if span.instrumentation_scope else ""
        input_without_cache = scope in c.INPUT_TOKENS_WITHOUT_CACHE_SCOPES and usage.input_tokens is not None
        if input_without_cache:
            usage = usage.with_cache_in_input()
        outer = self._nested.pop(span_id, None)
        if outer is not None:
            # Another instrumentation's span around this one accounts for the call.
            if not usage.empty:
                self._remember(self._child_usage, outer, usage)
            return {c.USAGE_COUNTED: False, c.COST_STATUS: c.COST_STATUS_DUPLICATE}
        child_usage = self._child_usage.pop(span_id, None)
        reservation = self._reservations.pop(span_id, None)
        tenant = str(attributes.get(c.TENANT_ID) or "")
        if usage.empty and child_usage is not None:
            usage = child_usage
        provider = c.attribute(attributes, c.GEN_AI_PROVIDER_NAME)
        model = attributes.get(c.GEN_AI_RESPONSE_MODEL) or attributes.get(c.GEN_AI_REQUEST_MODEL)
        labels: dict[str, Any] = {
            c.GEN_AI_OPERATION_NAME: attributes.get(c.GEN_AI_OPERATION_NAME),
            c.GEN_AI_PROVIDER_NAME: provider or "unknown",
            c.GEN_AI_REQUEST_MODEL: attributes.get(c.GEN_AI_REQUEST_MODEL) or "unknown",
            c.TENANT_ID: self.instruments.tenants.label(attributes.get(c.TENANT_ID)),
        }
        response_model = attributes.get(c.GEN_AI_RESPONSE_MODEL)
        if response_model:
            labels[c.GEN_AI_RESPONSE_MODEL] = response_model
        agent = attributes.get(c.GEN_AI_AGENT_NAME)
        if agent:
            labels[c.GEN_AI_AGENT_NAME] = agent
        error_type = attributes.get(c.ERROR_TYPE)
        extra: dict[str, Any] = {c.USAGE_COUNTED: True}
        if input_without_cache or (child_usage is not None and usage is child_usage):
            extra[c.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
            extra[c.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
        if error_type and usage.empty:
            # A failed call that reported no usage is not billed; it is not an unpriced call either.
            extra[c.COST_STATUS] = c.COST_STATUS_ERROR
            guard.account(reservation, tenant, None, None, 0)
            return {k: v for k, v in extra.items() if v is not None}
        for token_type, tokens in (
            (c.TOKEN_TYPE_CACHE_READ, usage.cache_read_tokens),
            (c.TOKEN_TYPE_CACHE_WRITE, usage.cache_write_tokens),
        ):
            if tokens:
                self.instruments.cache_tokens.add(tokens, {**labels, c.GEN_AI_TOKEN_TYPE: token_type})
        result = cost.price(provider, model, usage)
        extra[c.COST_STATUS] = result.status
        if result.usd is not None:
            extra[c.COST_USD] = result.usd
            extra[c.COST_PRICE_SOURCE] = cost.PRICE_SOURCE
            extra[c.COST_PRICE_DATE] = result.price_date
            self.instruments.cost.add(result.usd, labels, context=self._exemplar_context(span))
        else:
            self.instruments.cost_unpriced.add(1, dict(labels, **{c.LABEL_REASON: result.status}))
        tokens = (usage.input_tokens or 0) + (usage.output_tokens or 0)
        guard.account(reservation, tenant, result.usd, attributes.get(c.REQUEST_ID), tokens)
        return {k: v for k, v in extra.items() if v is not None}

    # ------------------------------------------------------------------ content
    def _content(self, attributes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        return content.apply(attributes, self._capture_content, self.instruments.content_redactor)

    def _rebuilt(self, span: ReadableSpan, attributes: Mapping[str, Any], extra: dict[str, Any]) -> ReadableSpan:
        replaced, removed = self._content(attributes)
        events = span.events
        events_changed = False
        new_events: list[Event] = []
        for event in events:
            event_replaced, event_removed = self._content(event.attributes or {})
            if event_replaced or event_removed:
                events_changed = True
                event_attributes = {k: v for k, v in (event.attributes or {}).items() if k not in event_removed}
                event_attributes.update(event_replaced)
                new_events.append(Event(event.name, event_attributes, event.timestamp))
            else:
                new_events.append(event)
        if not (extra or replaced or removed or events_changed):
            return span
        merged: dict[str, Any] = {k: v for k, v in attributes.items() if k not in removed}
        merged.update(replaced)
        merged.update(extra)
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=merged,
            events=new_events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    # ------------------------------------------------------------------ lifecycle
    def shutdown(self) -> None:
        for processor in self._next:
            processor.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(processor.force_flush(timeout_millis) for processor in self._next)
