"""glassbox.feedback and glassbox.evaluation: the gen_ai.evaluation.result event, its trace link, the counts."""

from __future__ import annotations

import uuid
from typing import Any

from opentelemetry import baggage, context, trace
from opentelemetry.trace import SpanKind

import glassbox
from glassbox import conventions as c
from glassbox.api import evaluations
from tests.conftest import Telemetry


def events(telemetry: Telemetry) -> list[Any]:
    """The evaluation log records exported so far."""
    records = [data.log_record for data in telemetry.logs.get_finished_logs()]
    return [r for r in records if r.event_name == c.GEN_AI_EVALUATION_EVENT]


def results(telemetry: Telemetry, name: str, outcome: str, **match: Any) -> float:
    return telemetry.total(
        c.METRIC_EVALUATION_RESULTS, gen_ai__evaluation__name=name, glassbox__evaluation__outcome=outcome, **match
    )


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_a_judge_inside_the_request_links_its_event_to_the_current_span(telemetry: Telemetry) -> None:
    name = unique("faithfulness")
    with trace.get_tracer("test").start_as_current_span("chat") as span:
        glassbox.evaluation(name, score=0.92, label="faithful", explanation="cites the invoice", model="gpt-4o")
        expected = span.get_span_context()
    [record] = events(telemetry)
    assert (record.trace_id, record.span_id) == (expected.trace_id, expected.span_id)
    attributes = dict(record.attributes or {})
    assert attributes[c.GEN_AI_EVALUATION_NAME] == name
    assert attributes[c.GEN_AI_EVALUATION_SCORE_VALUE] == 0.92
    assert attributes[c.GEN_AI_EVALUATION_SCORE_LABEL] == "faithful"
    assert attributes[c.GEN_AI_EVALUATION_EXPLANATION] == "cites the invoice"
    assert attributes[c.EVALUATION_SOURCE] == c.EVALUATION_SOURCE_EVALUATION
    # The evaluated span also carries it, so the trace view shows the verdict.
    [finished] = [s for s in telemetry.finished() if s.name == "chat"]
    assert [e.name for e in finished.events] == [c.GEN_AI_EVALUATION_EVENT]
    assert results(telemetry, name, c.EVALUATION_ACCEPTED, gen_ai__request__model="gpt-4o") == 1
    [point] = telemetry.points(c.METRIC_EVALUATION_SCORE, gen_ai__evaluation__name=name)
    assert point.count == 1 and point.sum == 0.92


def test_feedback_by_trace_id_links_to_that_trace_outside_any_request(telemetry: Telemetry) -> None:
    trace_id = uuid.uuid4().hex
    glassbox.feedback(trace_id=trace_id, score=0, label="thumbs_down", comment="wrong total", agent="billing")
    [record] = events(telemetry)
    assert record.trace_id == int(trace_id, 16) and record.span_id == 0
    attributes = dict(record.attributes or {})
    assert attributes[c.GEN_AI_EVALUATION_NAME] == evaluations.FEEDBACK_NAME
    assert attributes[c.EVALUATION_SOURCE] == c.EVALUATION_SOURCE_FEEDBACK
    assert attributes[c.EVALUATION_OUTCOME] == c.EVALUATION_REJECTED
    assert attributes[c.GEN_AI_AGENT_NAME] == "billing"


def test_feedback_by_request_id_finds_the_trace_of_a_request_this_process_served(telemetry: Telemetry) -> None:
    request_id = unique("req")
    token = context.attach(baggage.set_baggage(c.REQUEST_ID, request_id))
    try:
        with trace.get_tracer("test").start_as_current_span("POST /chat", kind=SpanKind.SERVER) as span:
            served = span.get_span_context()
    finally:
        context.detach(token)
    glassbox.feedback(request_id, score=1, label="thumbs_up")
    [record] = events(telemetry)
    assert (record.trace_id, record.span_id) == (served.trace_id, served.span_id)
    assert dict(record.attributes or {})[c.REQUEST_ID] == request_id
    # A request another process served: the event still carries the request id, for `glassbox story`.
    other = unique("req")
    glassbox.feedback(other, score=1)
    record = events(telemetry)[-1]
    assert record.trace_id == 0 and dict(record.attributes or {})[c.REQUEST_ID] == other


def test_the_outcome_follows_the_verdict_then_the_score(telemetry: Telemetry) -> None:
    name = unique("review")
    glassbox.evaluation(name, score=0.49)
    glassbox.evaluation(name, score=0.5)
    glassbox.evaluation(name, score=0.9, rejected=True)  # a reviewer's verdict wins over the score
    glassbox.evaluation(name, label="needs_citation")  # no score, no verdict
    glassbox.evaluation(name, score=3, pass_score=4)  # a 1-5 scale with its own pass mark
    assert results(telemetry, name, c.EVALUATION_REJECTED) == 3
    assert results(telemetry, name, c.EVALUATION_ACCEPTED) == 1
    assert results(telemetry, name, c.EVALUATION_UNSCORED) == 1


def test_results_carry_the_tenant_of_the_request_or_the_one_given(telemetry: Telemetry) -> None:
    name = unique("judge")
    token = context.attach(baggage.set_baggage(c.TENANT_ID, "acme"))
    try:
        glassbox.evaluation(name, score=1)
    finally:
        context.detach(token)
    glassbox.feedback(trace_id=uuid.uuid4().hex, name=name, score=0, tenant="globex")
    assert results(telemetry, name, c.EVALUATION_ACCEPTED, glassbox__tenant__id="acme") == 1
    assert results(telemetry, name, c.EVALUATION_REJECTED, glassbox__tenant__id="globex") == 1


def test_bad_input_is_counted_and_loses_nothing_else(telemetry: Telemetry) -> None:
    invalid_before = telemetry.total(c.METRIC_ATTRIBUTION_INVALID)
    dropped_before = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="evaluation_explanation_truncated")
    glassbox.feedback(
        trace_id="not-a-trace-id",
        name="a name with spaces",
        model="x" * 500,
        score=float("nan"),
        label="bad",
        comment="call me on +1 415 555 0100 or mail jane@example.com " + "z" * 5000,
    )
    [record] = events(telemetry)
    attributes = dict(record.attributes or {})
    assert attributes[c.GEN_AI_EVALUATION_NAME] == c.PLACEHOLDER_INVALID
    assert attributes[c.GEN_AI_REQUEST_MODEL] == c.PLACEHOLDER_INVALID
    assert c.GEN_AI_EVALUATION_SCORE_VALUE not in attributes  # NaN is no score
    assert attributes[c.EVALUATION_OUTCOME] == c.EVALUATION_UNSCORED
    explanation = str(attributes[c.GEN_AI_EVALUATION_EXPLANATION])
    assert len(explanation) == evaluations.MAX_EXPLANATION
    assert "jane@example.com" not in explanation and "555 0100" not in explanation
    # trace id, name, model and score: four invalid values, each counted.
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID) == invalid_before + 4
    after = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="evaluation_explanation_truncated")
    assert after == dropped_before + 1


def test_a_failure_inside_never_reaches_the_app_and_is_counted(telemetry: Telemetry, monkeypatch: Any) -> None:
    before = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="evaluation_error")

    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("logger provider gone")

    monkeypatch.setattr(evaluations, "_record", broken)
    glassbox.feedback("req-1", score=1)
    assert telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="evaluation_error") == before + 1


def test_only_the_last_requests_are_remembered() -> None:
    recent = evaluations._RecentRequests(2)
    spans = [trace.SpanContext(n, n, is_remote=False) for n in (1, 2, 3)]
    for n, span in enumerate(spans):
        recent.remember(f"r{n}", span)
    assert recent.find("r0") is None and recent.find("r2") == spans[2]
    recent.remember("r1", spans[0])  # a second server span of the same request does not move the link
    assert recent.find("r1") == spans[1]
