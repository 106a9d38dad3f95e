"""Pipeline activities and job queues: the calls, the metrics and span events they emit, and bad input."""

from __future__ import annotations

import uuid

import pytest
from opentelemetry import baggage, context, trace

import glassbox
from glassbox import conventions as c
from tests.conftest import Telemetry

ROLE, DELIVERABLE = "writer", "report"


def transitions(telemetry: Telemetry, role: str, status: str) -> float:
    return telemetry.total(c.METRIC_ACTIVITY_TRANSITIONS, glassbox__agent__role=role, glassbox__activity__status=status)


def in_tenant(tenant: str) -> object:
    return context.attach(baggage.set_baggage(c.TENANT_ID, tenant))


def test_a_full_life_cycle_counts_each_status_and_the_duration(telemetry: Telemetry) -> None:
    role = f"role-{uuid.uuid4().hex[:8]}"
    before = telemetry.total(c.METRIC_APPROVAL_BACKLOG, glassbox__agent__role=role)
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("request"):
        task = glassbox.activity(role, DELIVERABLE)
        task.start()
        task.await_approval()
        assert telemetry.total(c.METRIC_APPROVAL_BACKLOG, glassbox__agent__role=role) == before + 1
        task.approve()
        task.complete()
    for status in c.ACTIVITY_STATUSES[:4]:
        total = transitions(telemetry, role, status)
        assert total == (2 if status == c.ACTIVITY_IN_PROGRESS else 1), status
    assert transitions(telemetry, role, "failed") == 0
    assert telemetry.total(c.METRIC_APPROVAL_BACKLOG, glassbox__agent__role=role) == before
    durations = telemetry.points(c.METRIC_ACTIVITY_DURATION, glassbox__agent__role=role)
    assert len(durations) == 1 and durations[0].count == 1
    events = [e.name for e in telemetry.finished()[-1].events]
    assert events == [
        f"glassbox.activity.{s}" for s in ("created", "in_progress", "awaiting_approval", "in_progress", "completed")
    ]


def test_measurements_keep_the_tenant_of_the_request_that_created_the_activity(telemetry: Telemetry) -> None:
    role = f"role-{uuid.uuid4().hex[:8]}"
    token = in_tenant("acme")
    try:
        task = glassbox.activity(role, DELIVERABLE)
        task.await_approval()
    finally:
        context.detach(token)
    token = in_tenant("globex")  # another request approves it
    try:
        task.approve()
    finally:
        context.detach(token)
    assert telemetry.total(c.METRIC_APPROVAL_BACKLOG, glassbox__agent__role=role, glassbox__tenant__id="acme") == 0
    assert not telemetry.points(c.METRIC_APPROVAL_BACKLOG, glassbox__agent__role=role, glassbox__tenant__id="globex")


def test_running_activity_fails_with_the_exception_type_and_reraises(telemetry: Telemetry) -> None:
    role = f"role-{uuid.uuid4().hex[:8]}"
    with pytest.raises(TimeoutError), glassbox.running_activity(role, DELIVERABLE):
        raise TimeoutError
    failed = telemetry.points(
        c.METRIC_ACTIVITY_DURATION, glassbox__agent__role=role, glassbox__activity__status="failed"
    )
    assert len(failed) == 1
    with glassbox.running_activity(role, DELIVERABLE):
        pass
    assert transitions(telemetry, role, "completed") == 1


def test_a_transition_out_of_a_final_state_is_ignored_and_counted(telemetry: Telemetry) -> None:
    role = f"role-{uuid.uuid4().hex[:8]}"
    dropped = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="invalid_activity_transition")
    task = glassbox.activity(role, DELIVERABLE)
    task.fail("timeout")
    task.complete()  # never raises into the app
    assert task.status == c.ACTIVITY_FAILED
    assert telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="invalid_activity_transition") == dropped + 1
    assert transitions(telemetry, role, "completed") == 0


@pytest.mark.parametrize("role", ["", "x" * 65, "has space", "user@example.com"])
def test_an_unbounded_role_becomes_invalid_and_is_counted(telemetry: Telemetry, role: str) -> None:
    invalid = telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="agent_role")
    task = glassbox.activity(role, DELIVERABLE)
    assert task.role == c.PLACEHOLDER_INVALID
    assert telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field="agent_role") == invalid + 1


def test_queues_report_depth_and_dead_letters_and_survive_a_broken_callback(telemetry: Telemetry) -> None:
    jobs = [1, 2, 3]
    name, broken = f"q-{uuid.uuid4().hex[:8]}", f"q-{uuid.uuid4().hex[:8]}"
    glassbox.track_queue(name, depth=lambda: len(jobs), dead_letters=lambda: 2)
    glassbox.track_queue(broken, depth=lambda: 1 / 0)
    dropped = telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="queue_callback_error")
    try:
        assert telemetry.total(c.METRIC_QUEUE_DEPTH, glassbox__queue__name=name) == 3
        assert telemetry.total(c.METRIC_QUEUE_DEAD_LETTERS, glassbox__queue__name=name) == 2
        assert not telemetry.points(c.METRIC_QUEUE_DEPTH, glassbox__queue__name=broken)
        assert telemetry.total(c.METRIC_TELEMETRY_DROPPED, reason="queue_callback_error") > dropped
        jobs.pop()
        assert telemetry.total(c.METRIC_QUEUE_DEPTH, glassbox__queue__name=name) == 2
    finally:
        glassbox.untrack_queue(name)
        glassbox.untrack_queue(broken)
    assert not telemetry.points(c.METRIC_QUEUE_DEPTH, glassbox__queue__name=name)
