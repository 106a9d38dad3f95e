"""Glassbox: GenAI-aware OpenTelemetry for Python AI services.

Run an app under ``opentelemetry-instrument`` with this package installed and it gets traces, metrics
and logs with cost and tenant attribution and no code change. The few calls for code no instrumentation
covers are re-exported here.
"""

from glassbox.activities import Activity, activity, running_activity
from glassbox.agents import agent, tool
from glassbox.audit.events import AuditRefused, audit, audited
from glassbox.evaluations import evaluation, feedback
from glassbox.guard import AICallRefused, canned_answer, is_fallback, set_fallback, set_kill_switch
from glassbox.pipeline import configure
from glassbox.queues import track_queue, untrack_queue
from glassbox.version import __version__

__all__ = [
    "AICallRefused",
    "Activity",
    "AuditRefused",
    "__version__",
    "activity",
    "agent",
    "audit",
    "audited",
    "canned_answer",
    "configure",
    "evaluation",
    "feedback",
    "is_fallback",
    "running_activity",
    "set_fallback",
    "set_kill_switch",
    "tool",
    "track_queue",
    "untrack_queue",
]
