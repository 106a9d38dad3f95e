"""The guard in front of every model call: a kill switch, tenant budgets, per-request limits, fallbacks.

* :mod:`glassbox.guard.core`: the decision before a call, the accounting after it, the kill switch;
* :mod:`glassbox.guard.instrumentor`: :class:`GuardInstrumentor`, which wraps the model SDKs' calls;
* :mod:`glassbox.guard.budgets`: the budgets (file and shared state), their gauges and thresholds;
* :mod:`glassbox.guard.fallbacks`: canned answers in the SDKs' own types;
* :mod:`glassbox.guard.guardrail`: the prompt-injection guardrail (its normaliser, rules, scorer and detectors);
* :mod:`glassbox.guard.request`: how a model call's request and its messages are read;
* :mod:`glassbox.cli.guard`: ``glassbox budgets`` and ``glassbox kill-switch``.
"""

from glassbox.guard.core import AICallRefused, Fallback, set_fallback, set_kill_switch
from glassbox.guard.fallbacks import canned_answer, is_fallback
from glassbox.guard.instrumentor import GuardInstrumentor

__all__ = [
    "AICallRefused",
    "Fallback",
    "GuardInstrumentor",
    "canned_answer",
    "is_fallback",
    "set_fallback",
    "set_kill_switch",
]
