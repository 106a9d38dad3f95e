"""Feedback and evaluations: how good an answer was, from users, reviewers, judges and rules.

    glassbox.feedback(request_id, score=0, label="thumbs_down", comment="wrong invoice total")
    glassbox.evaluation("faithfulness", score=0.92, label="faithful", model="gpt-4o", agent="support")

Each call emits one ``gen_ai.evaluation.result`` event (the GenAI semantic conventions' evaluation event: an OTel
log record with ``gen_ai.evaluation.name``, ``gen_ai.evaluation.score.value``, ``gen_ai.evaluation.score.label`` and
``gen_ai.evaluation.explanation``), linked to the trace it judges:

- ``trace_id`` (and ``span_id``) given: the event carries them, so Grafana goes from it to the trace;
- ``request_id`` given: the event carries ``glassbox.request.id`` (``glassbox story <request id>`` lists it), and
  the trace of that request when this process served it recently (the last ``REMEMBERED_REQUESTS`` requests);
- neither: the current span, for a judge that runs inside the request, which also gets the event on its span.

Each result is counted in ``glassbox.evaluation.results`` by evaluation name, outcome (``accepted``, ``rejected``
or ``unscored``), model, agent and tenant, and its score recorded in the ``glassbox.evaluation.score`` histogram.
A result is ``rejected`` when ``rejected=True`` is passed, or when no verdict is passed and its score is under
``pass_score`` (0.5: scores are expected in 0..1, thumbs up 1 and down 0); it is ``unscored`` with neither. Names,
models and agents are metric labels: a value that is not a short name becomes ``_invalid`` and is counted in
``glassbox.attribution.invalid``; the tenant goes through the tenant cardinality cap. The comment (explanation) is
redacted like log records and cut to ``MAX_EXPLANATION`` characters. Nothing here raises into the app: a failure
is counted in ``glassbox.telemetry.dropped`` (signal ``logs``, reason ``evaluation_error``).
"""

from __future__ import annotations

import math
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping

from opentelemetry import _logs, trace
from opentelemetry import context as otel_context
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import SpanContext

from glassbox import attribution, instruments
from glassbox import conventions as c
from glassbox.identifiers import LABEL_NAME
from glassbox.version import __version__

FEEDBACK_NAME = "user_feedback"
PASS_SCORE = 0.5
MAX_EXPLANATION = 1000
REMEMBERED_REQUESTS = 10_000
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")


class _RecentRequests:
    """Request id -> the span context of its server span, for the last ``size`` requests this process served."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._spans: OrderedDict[str, SpanContext] = OrderedDict()
        self._lock = threading.Lock()

    def remember(self, request_id: str, span: SpanContext) -> None:
        if not span.is_valid:
            return
        with self._lock:
            if request_id in self._spans:  # the request's first server span is the one to link to
                return
            self._spans[request_id] = span
            if len(self._spans) > self._size:
                self._spans.popitem(last=False)

    def find(self, request_id: str) -> SpanContext | None:
        with self._lock:
            return self._spans.get(request_id)


_recent_requests = _RecentRequests(REMEMBERED_REQUESTS)


def remember_request(request_id: str, server_span: SpanContext) -> None:
    """Note the server span of a request, so :func:`feedback` given by request id links to its trace.

    The span processor calls it for each server span that has a request id.
    """
    _recent_requests.remember(request_id, server_span)


def _label(value: str | None, field: str) -> str | None:
    return None if value is None else instruments.get().checked_label(value, field, LABEL_NAME)


def _hex_id(value: str | int | None, pattern: re.Pattern[str], field: str) -> int | None:
    """A trace or span id from its hex form (as in logs and Grafana) or an int; None if absent or malformed."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and pattern.match(value.lower()) and int(value, 16):
        return int(value, 16)
    instruments.get().count_invalid(field)
    return None


def _outcome(score: float | None, rejected: bool | None, pass_score: float) -> str:
    if rejected is not None:
        return c.EVALUATION_REJECTED if rejected else c.EVALUATION_ACCEPTED
    if score is None:
        return c.EVALUATION_UNSCORED
    return c.EVALUATION_REJECTED if score < pass_score else c.EVALUATION_ACCEPTED


def _explanation(text: str | None) -> str | None:
    if not text:
        return None
    redacted = instruments.get().log_redactor.redact(str(text))
    if len(redacted) > MAX_EXPLANATION:
        instruments.get().count_dropped("logs", "evaluation_explanation_truncated")
        redacted = redacted[: MAX_EXPLANATION - 1] + "…"
    return redacted


def evaluation(
    name: str,
    *,
    score: float | None = None,
    label: str | None = None,
    explanation: str | None = None,
    rejected: bool | None = None,
    pass_score: float = PASS_SCORE,
    request_id: str | None = None,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
    response_id: str | None = None,
    model: str | None = None,
    agent: str | None = None,
    tenant: str | None = None,
    source: str = c.EVALUATION_SOURCE_EVALUATION,
    provenance: Mapping[str, str] | None = None,
) -> None:
    """Record one evaluation result of a model answer (LLM-as-judge, a rule, a reviewer). ``provenance``: labels
    saying what produced it (an online evaluator's version and kind), on the record and the metric points."""
    try:
        _record(
            name, score, label, explanation, rejected, pass_score, request_id, trace_id, span_id, response_id,
            model, agent, tenant, source, provenance,
        )  # fmt: skip
    except Exception:
        instruments.get().count_dropped("logs", "evaluation_error")


def feedback(
    request_id: str | None = None,
    *,
    trace_id: str | int | None = None,
    span_id: str | int | None = None,
    score: float | None = None,
    label: str | None = None,
    comment: str | None = None,
    rejected: bool | None = None,
    name: str = FEEDBACK_NAME,
    model: str | None = None,
    agent: str | None = None,
    tenant: str | None = None,
) -> None:
    """Record a user's or reviewer's verdict on the answer to a request (by its request id or trace id)."""
    evaluation(
        name,
        score=score,
        label=label,
        explanation=comment,
        rejected=rejected,
        request_id=request_id,
        trace_id=trace_id,
        span_id=span_id,
        model=model,
        agent=agent,
        tenant=tenant,
        source=c.EVALUATION_SOURCE_FEEDBACK,
    )


def _record(
    name: str,
    score: float | None,
    label: str | None,
    explanation: str | None,
    rejected: bool | None,
    pass_score: float,
    request_id: str | None,
    trace_id: str | int | None,
    span_id: str | int | None,
    response_id: str | None,
    model: str | None,
    agent: str | None,
    tenant: str | None,
    source: str,
    provenance: Mapping[str, str] | None = None,
) -> None:
    tools = instruments.get()
    if score is not None and (isinstance(score, bool) or not math.isfinite(float(score))):
        tools.count_invalid("evaluation_score")
        score = None
    evaluated = _evaluated_span(request_id, trace_id, span_id)
    outcome = _outcome(score, rejected, pass_score)
    labels: dict[str, str] = {
        c.GEN_AI_EVALUATION_NAME: _label(name, "evaluation_name") or c.PLACEHOLDER_INVALID,
        c.EVALUATION_OUTCOME: outcome,
    }
    for key, value, field in ((c.GEN_AI_REQUEST_MODEL, model, "model"), (c.GEN_AI_AGENT_NAME, agent, "agent")):
        checked = _label(value, field)
        if checked is not None:
            labels[key] = checked
    if tenant is not None:
        labels[c.TENANT_ID] = tools.tenants.label(attribution.validate(c.TENANT_ID, tenant, tools.count_invalid))
    labels.update(provenance or {})
    tools.evaluation_results.add(1, labels)
    if score is not None:
        tools.evaluation_score.record(float(score), labels)

    attributes: dict[str, str | float | bool] = {**labels, c.EVALUATION_SOURCE: source}
    if score is not None:
        attributes[c.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
    if label is not None:
        attributes[c.GEN_AI_EVALUATION_SCORE_LABEL] = str(label)[:128]
    text = _explanation(explanation)
    if text is not None:
        attributes[c.GEN_AI_EVALUATION_EXPLANATION] = text
    if request_id is not None:
        attributes[c.REQUEST_ID] = attribution.validate(c.REQUEST_ID, request_id, tools.count_invalid)
    if response_id is not None:
        attributes[c.GEN_AI_RESPONSE_ID] = str(response_id)[:256]
    current = trace.get_current_span().get_span_context()
    if evaluated is None and current.is_valid:
        evaluated = current
    # The record's trace context is the evaluated span's (a span id of 0 when only the trace is known).
    # ... and its attribution the current one (the request's, or what an online evaluator restored), so that the
    # record carries the session and user of the answer it judges.
    base = otel_context.get_current()
    linked = trace.set_span_in_context(trace.NonRecordingSpan(evaluated), base) if evaluated else base
    record = LogRecord(
        context=linked,
        severity_number=SeverityNumber.INFO,
        severity_text="INFO",
        body=f"{labels[c.GEN_AI_EVALUATION_NAME]}: {outcome}",
        attributes=attributes,
        event_name=c.GEN_AI_EVALUATION_EVENT,
    )
    _logs.get_logger("glassbox.evaluations", __version__).emit(record)
    if evaluated is not None and current.is_valid and evaluated.trace_id == current.trace_id:
        trace.get_current_span().add_event(c.GEN_AI_EVALUATION_EVENT, attributes)


def _evaluated_span(
    request_id: str | None, trace_id: str | int | None, span_id: str | int | None
) -> SpanContext | None:
    trace_number = _hex_id(trace_id, _TRACE_ID, "trace_id")
    if trace_number is not None:
        span_number = _hex_id(span_id, _SPAN_ID, "span_id") or 0
        return SpanContext(trace_number, span_number, is_remote=True)
    if request_id is not None:
        return _recent_requests.find(request_id)
    return None
