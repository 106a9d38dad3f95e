"""The span processor at the centre of glassbox.

It sits in front of the exporting processors and, for every span:

* on start: copies the attribution baggage (tenant, user, session, request id) onto the span, passes the
  agent name down to the model and tool calls made inside an agent, puts the prompt name and version of the
  ``glassbox.prompt`` block it starts in on every GenAI span (:mod:`glassbox.api.prompts`), and notes model
  calls nested inside another model call (two instrumentations seeing one call, e.g. the Anthropic SDK's own
  span inside the GenAI instrumentation's span). The outermost model-call span also takes over the budget
  reservation the guard made for its call. An MCP client span is named and marked as the conventions say
  (:mod:`glassbox.integrations.mcp`);
* on end: a model-call span nested in another one for the same call is accounted for by the outer one and,
  unless ``GLASSBOX_NESTED_CALL_SPANS`` is true, not exported. For the outermost span of each model call, it
  computes the USD cost, records it in the cost counter with the tenant, agent and prompt labels (each call
  counted once, with the span as exemplar), settles the call's reservation with it or adds it to the tenant's spend
  (:func:`glassbox.guard.core.account`), and writes ``glassbox.cost.*`` attributes. (Token usage and
  durations are the upstream instrumentations' own metrics, given the tenant label by
  :mod:`glassbox.sdk.metric_labels`.)
* on end, for every span: captured prompt/completion content is removed unless capture was opted in, and
  every string the span exports is redacted (:mod:`glassbox.redaction`): attributes of every type, event
  attributes (exception messages and stack traces), the status message and the name. A span whose redaction
  fails is exported without attributes, events and status message (counted as
  ``glassbox.telemetry.dropped{signal="traces", reason="redaction_error"}``) rather than unredacted.

A failure inside the processor is counted in ``glassbox.telemetry.dropped{signal="traces"}`` and the
span is still exported, redacted: observability never breaks the app, and never leaks what it failed on.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.trace import SpanKind, Status

from glassbox import attribution, content, cost
from glassbox import conventions as c
from glassbox import instruments as instruments_module
from glassbox.api import evaluations, prompts
from glassbox.evaluators import calls as evaluator_calls
from glassbox.guard import core as guard
from glassbox.instruments import Instruments
from glassbox.integrations import mcp as mcp_spans
from glassbox.state import Reservation

_logger = logging.getLogger(__name__)
_MAX_PENDING = 10_000
_CONTENT_ATTRIBUTES = frozenset(c.CONTENT_ATTRIBUTES)


def _live_attributes(context: Context | None) -> Mapping[str, Any] | None:
    parent = trace.get_current_span(context)
    attributes = getattr(parent, "attributes", None)
    if attributes is None or not parent.is_recording():
        return None
    return attributes  # type: ignore[no-any-return]


def _plain(span: ReadableSpan, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """The span's attributes as the plain dict the SDK keeps them in, when it can be reached.

    ``ReadableSpan.attributes`` is a read-only proxy over ``BoundedAttributes``, whose every read takes a lock:
    reading an ended span's attributes through it costs more than redacting most of them."""
    bounded = getattr(span, "_attributes", None)
    plain = getattr(bounded, "_dict", None)
    return plain if isinstance(plain, dict) else attributes


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
                evaluations.remember_request(values[c.REQUEST_ID], span.context)
        own = span.attributes or {}
        if c.MCP_METHOD_NAME in own:
            own = mcp_spans.follow_conventions(span, own)
        if c.GEN_AI_OPERATION_NAME in own and c.PROMPT_NAME not in own:
            used = prompts.current()
            if used is not None:
                span.set_attributes({c.PROMPT_NAME: used[0], c.PROMPT_VERSION: used[1]})
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
        try:
            if c.attribute(attributes, c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS:
                extra = self._account_model_call(span, attributes)
                self._note_for_evaluators(span, attributes)
        except Exception:
            # The accounting failed: counted, and the span is still redacted before it goes on.
            _logger.debug("glassbox span accounting failed", exc_info=True)
            self.instruments.count_dropped("traces", "processor_error")
        return self._rebuilt(span, attributes, extra)

    @staticmethod
    def _note_for_evaluators(span: ReadableSpan, attributes: Mapping[str, Any]) -> None:
        """The online evaluators parent each result to this span, found by the guard when the call returns."""
        if not guard.observing() or span.context is None or attributes.get(c.USAGE_COUNTED) is False:
            # Nobody evaluates (no work per model call then), or an SDK's own span inside the GenAI
            # instrumentation's: the outer one is the call.
            return
        model = attributes.get(c.GEN_AI_REQUEST_MODEL)
        agent, tenant = attributes.get(c.GEN_AI_AGENT_NAME), attributes.get(c.TENANT_ID)
        operation = attributes.get(c.GEN_AI_OPERATION_NAME)
        evaluator_calls.note_model_call(
            evaluator_calls.ModelCall(
                span.context,
                span.start_time or 0,
                str(model) if model is not None else None,
                str(agent) if agent is not None else None,
                str(tenant) if tenant is not None else None,
                str(operation) if operation is not None else None,
            )
        )

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
        prompt_name, prompt_version = attributes.get(c.PROMPT_NAME), attributes.get(c.PROMPT_VERSION)
        if isinstance(prompt_name, str) and isinstance(prompt_version, str):
            labels.update(self.instruments.prompts.labels(prompt_name, prompt_version))
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

    # ------------------------------------------------------------------ content and redaction
    def _redacted_attributes(self, attributes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """(attributes to replace, attributes to remove): content by the content policy, the rest redacted."""
        instruments = self.instruments
        replaced, removed = content.apply(attributes, self._capture_content, instruments.content_redactor)
        replaced.update(instruments.span_redactor.redact_attributes(attributes, skip=_CONTENT_ATTRIBUTES))
        return replaced, removed

    def _rebuilt(self, span: ReadableSpan, attributes: Mapping[str, Any], extra: dict[str, Any]) -> ReadableSpan:
        """The span with ``extra`` attributes, its content policy applied and every string redacted: attributes,
        event attributes (exception messages and stack traces included), the status message and the name."""
        try:
            replaced, removed = self._redacted_attributes(_plain(span, attributes))
            events_changed = False
            new_events: list[Event] = []
            for event in span.events:
                event_replaced, event_removed = self._redacted_attributes(event.attributes or {})
                if event_replaced or event_removed:
                    events_changed = True
                    event_attributes = {k: v for k, v in (event.attributes or {}).items() if k not in event_removed}
                    event_attributes.update(event_replaced)
                    new_events.append(Event(event.name, event_attributes, event.timestamp))
                else:
                    new_events.append(event)
            redactor = self.instruments.span_redactor
            status = span.status
            if status.description:
                description = redactor.redact(status.description)
                if description is not status.description:
                    status = Status(status.status_code, description)
            name = redactor.redact(span.name) if span.name else span.name
        except Exception:
            # Export nothing unredacted: the span goes out without its attributes, events and status message.
            _logger.debug("glassbox span redaction failed", exc_info=True)
            self.instruments.count_dropped("traces", "redaction_error")
            replaced, removed = {}, list(attributes)
            new_events, events_changed, status, name = [], bool(span.events), Status(span.status.status_code), span.name
        if not (extra or replaced or removed or events_changed or status is not span.status or name is not span.name):
            return span
        merged: dict[str, Any] = {k: v for k, v in attributes.items() if k not in removed}
        merged.update(replaced)
        merged.update(extra)
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=merged,
            events=new_events,
            links=span.links,
            kind=span.kind,
            status=status,
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
