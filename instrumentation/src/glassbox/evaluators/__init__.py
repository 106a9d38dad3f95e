"""Online evaluators: rules and LLM judges run on the app's own model calls, in its process, off the request path.

The evaluator sees the question and the answer in memory and exports only its verdict (a
``gen_ai.evaluation.result`` event with a score, a label and a redacted explanation), so answer quality is
measured on production traffic without exporting prompts or answers. Declared in ``GLASSBOX_EVALUATORS_FILE``
(see :mod:`glassbox.evaluators.config`) or in code::

    @glassbox.evaluator("cites-a-source", version="3", when={"prompt": ["support-answer"]})
    def cites_a_source(call: glassbox.Answered) -> glassbox.Verdict:
        return glassbox.Verdict(1.0 if "[1]" in call.answer else 0.0)

:func:`install` (run when the SDK is configured) loads the file, checks every evaluator (a mistake stops the
start with a clear error), starts the worker and asks the guard to tell it of every model call that returns.
docs/evaluations.md has the kinds, the judge's format and what is counted.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from glassbox import settings
from glassbox.evaluators.config import Evaluator, EvaluatorConfigError, check_common, load
from glassbox.evaluators.rules import Answered, Verdict
from glassbox.evaluators.worker import Worker
from glassbox.guard import core as guard_core

__all__ = ["Answered", "EvaluatorConfigError", "Verdict", "drain", "evaluator", "install", "shutdown"]

_registered: list[Evaluator] = []
_lock = threading.Lock()
_worker: Worker | None = None

CodeEvaluator = Callable[[Answered], Verdict]


def evaluator(
    name: str,
    *,
    version: str = "1",
    sample_rate: float = 1.0,
    when: Mapping[str, str | Sequence[str]] | None = None,
) -> Callable[[CodeEvaluator], CodeEvaluator]:
    """Register a function as an online evaluator (checked like a file's entry; a mistake raises at once)."""
    common = check_common(
        {"name": name, "version": version, "sample_rate": sample_rate, "when": _listed(when)}, f"{name!r} (code)"
    )

    def register(function: CodeEvaluator) -> CodeEvaluator:
        entry = Evaluator(*common, kind="code", function=function)
        with _lock:
            if any(e.name == name for e in _registered):
                raise EvaluatorConfigError(f"evaluator {name!r} (code): registered twice")
            _registered.append(entry)
        return function

    return register


def _listed(when: Mapping[str, str | Sequence[str]] | None) -> dict[str, list[str]] | None:
    if when is None:
        return None
    return {key: [value] if isinstance(value, str) else list(value) for key, value in when.items()}


def install(app_dir: str = "") -> Worker | None:
    """Load and check the evaluators, start the worker and observe the guard's calls; None when there are none.
    Raises EvaluatorConfigError for an evaluator that cannot run."""
    global _worker
    path = settings.EVALUATORS_FILE.get()
    declared = load(settings.app_path(path, app_dir)) if path else []
    with _lock:
        everything = [*declared, *_registered]
    names = [e.name for e in everything]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise EvaluatorConfigError(f"evaluator name(s) both in {path} and in code: {', '.join(clash)}")
    shutdown(0)
    if not everything:
        return None
    _worker = Worker(everything, settings.EVALUATION_QUEUE.get())
    guard_core.set_answer_observer(_worker.observe)
    return _worker


def drain(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the queued evaluations; True when none is left."""
    worker = _worker
    return True if worker is None else worker.drain(timeout)


def shutdown(timeout: float) -> bool:
    """Stop observing, evaluate what is queued (up to ``timeout`` seconds) and stop the worker."""
    global _worker
    worker, _worker = _worker, None
    if worker is None:
        return True
    guard_core.set_answer_observer(None)
    return worker.close(timeout)
