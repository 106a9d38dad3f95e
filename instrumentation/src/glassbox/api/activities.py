"""Activities of an agent pipeline: created, in progress, awaiting approval, completed or failed.

    task = glassbox.activity(role="writer", deliverable="report")   # created
    task.start()                                                    # in_progress
    task.await_approval()                                           # awaiting_approval: the backlog grows
    task.approve()                                                  # in_progress again: the backlog shrinks
    task.complete()  # or task.fail("timeout")                      # the time since creation is recorded

Each transition adds one to ``glassbox.activity.transitions`` (by status, agent role and deliverable type),
the approval backlog is ``glassbox.activity.approval_backlog``, and ``glassbox.activity.duration`` holds the
time from creation to completion or failure. Every measurement is recorded in the context the activity was
created in, so it carries that request's tenant even when another request approves it. The current span gets
one event per transition. A transition out of a final state is ignored and counted in
``glassbox.telemetry.dropped`` (reason ``invalid_activity_transition``): telemetry never raises into the app.
Role and deliverable names should come from a small fixed set (they are metric labels); anything that is not
a short name becomes ``_invalid``.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context, trace

from glassbox import conventions as c
from glassbox import instruments

_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_FINAL = (c.ACTIVITY_COMPLETED, c.ACTIVITY_FAILED)


def _label(value: str, field: str) -> str:
    return instruments.get().checked_label(value, field, _NAME)


class Activity:
    def __init__(self, role: str, deliverable: str, activity_id: str | None = None) -> None:
        self.id = activity_id or uuid.uuid4().hex
        self.role = _label(role, "agent_role")
        self.deliverable = _label(deliverable, "deliverable_type")
        self.status = c.ACTIVITY_CREATED
        self._context = context.get_current()
        self._created = time.monotonic()
        self._record(c.ACTIVITY_CREATED)

    @property
    def labels(self) -> dict[str, str]:
        return {c.AGENT_ROLE: self.role, c.DELIVERABLE_TYPE: self.deliverable}

    def start(self) -> None:
        self._move(c.ACTIVITY_IN_PROGRESS)

    def await_approval(self) -> None:
        self._move(c.ACTIVITY_AWAITING_APPROVAL)

    def approve(self) -> None:
        self._move(c.ACTIVITY_IN_PROGRESS)

    def complete(self) -> None:
        self._move(c.ACTIVITY_COMPLETED)

    def fail(self, reason: str = "error") -> None:
        self._move(c.ACTIVITY_FAILED, reason)

    def _move(self, status: str, reason: str | None = None) -> None:
        if self.status in _FINAL or status == self.status:
            instruments.get().count_dropped("metrics", "invalid_activity_transition")
            return
        leaving_approval = self.status == c.ACTIVITY_AWAITING_APPROVAL
        self.status = status
        self._record(status, reason, leaving_approval)

    def _record(self, status: str, reason: str | None = None, leaving_approval: bool = False) -> None:
        tools = instruments.get()
        token = context.attach(self._context)
        try:
            tools.activity_transitions.add(1, {**self.labels, c.ACTIVITY_STATUS: status})
            if status == c.ACTIVITY_AWAITING_APPROVAL:
                tools.approval_backlog.add(1, self.labels)
            if leaving_approval:
                tools.approval_backlog.add(-1, self.labels)
            if status in _FINAL:
                attributes = {**self.labels, c.ACTIVITY_STATUS: status}
                tools.activity_duration.record(time.monotonic() - self._created, attributes)
        finally:
            context.detach(token)
        event = {c.ACTIVITY_ID: self.id, **self.labels}
        if reason is not None:
            event[c.ERROR_TYPE] = reason
        trace.get_current_span().add_event(f"glassbox.activity.{status}", event)


def activity(role: str, deliverable: str, activity_id: str | None = None) -> Activity:
    """A new pipeline activity, in state ``created``."""
    return Activity(role, deliverable, activity_id)


@contextmanager
def running_activity(role: str, deliverable: str, activity_id: str | None = None) -> Iterator[Activity]:
    """An activity started on entry, completed on exit, failed (with the exception's type) if the block raises."""
    task = Activity(role, deliverable, activity_id)
    task.start()
    try:
        yield task
    except BaseException as error:
        task.fail(type(error).__name__)
        raise
    if task.status not in _FINAL:
        task.complete()
