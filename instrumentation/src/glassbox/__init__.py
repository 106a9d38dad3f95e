"""Glassbox: GenAI-aware OpenTelemetry for Python AI services.

Run an app under ``opentelemetry-instrument`` with this package installed and it gets traces, metrics
and logs with cost and tenant attribution and no code change. The few calls for code no instrumentation
covers are re-exported here.

The guard's and the pipeline's re-exports are imported on first use (PEP 562): OpenTelemetry loads the
``glassbox_baggage`` propagator (:mod:`glassbox.propagation`) while ``opentelemetry.instrumentation`` is still
being imported, and those two import it. Module paths that moved in 0.2 still import, with a warning, until 0.3
(:mod:`glassbox._moved`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from glassbox import _moved
from glassbox.api.activities import Activity, activity, running_activity
from glassbox.api.agents import agent, tool
from glassbox.api.evaluations import evaluation, feedback
from glassbox.api.prompts import prompt
from glassbox.api.queues import track_queue, untrack_queue
from glassbox.attribution import attributed_to, set_tenant
from glassbox.audit.events import AuditRefused, audit, audited
from glassbox.version import __version__

_moved.install()

if TYPE_CHECKING:
    from glassbox.evaluators import evaluator
    from glassbox.guard import AICallRefused, canned_answer, is_fallback, set_fallback, set_kill_switch
    from glassbox.guard.guardrail import trusted_history
    from glassbox.sdk.pipeline import configure

# public name imported on first use -> the module that defines it
_LATER = {
    "AICallRefused": "glassbox.guard",
    "canned_answer": "glassbox.guard",
    "is_fallback": "glassbox.guard",
    "set_fallback": "glassbox.guard",
    "set_kill_switch": "glassbox.guard",
    "trusted_history": "glassbox.guard.guardrail",
    "configure": "glassbox.sdk.pipeline",
    "evaluator": "glassbox.evaluators",
}


def __getattr__(name: str) -> Any:
    module = _LATER.get(name)
    if module is None:
        raise AttributeError(f"module 'glassbox' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LATER})


__all__ = [
    "AICallRefused",
    "Activity",
    "AuditRefused",
    "__version__",
    "activity",
    "agent",
    "attributed_to",
    "audit",
    "audited",
    "canned_answer",
    "configure",
    "evaluation",
    "evaluator",
    "feedback",
    "is_fallback",
    "prompt",
    "running_activity",
    "set_fallback",
    "set_kill_switch",
    "set_tenant",
    "tool",
    "track_queue",
    "trusted_history",
    "untrack_queue",
]
