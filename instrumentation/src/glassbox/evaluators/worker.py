"""The evaluators' worker: one background thread and a bounded queue, so the request never waits.

The guard tells :meth:`Worker.observe` of every model call that returned. It picks the evaluators whose filters
match and whose sample draw wins, copies the request's message list (an app may append to it for the next turn)
and queues the call; a full queue drops it, counted per evaluator in ``glassbox.evaluation.dropped`` (reason
``queue_full``). Queuing wakes nobody: the thread takes what is queued in batches, every
:data:`BATCH_INTERVAL_S` or as soon as the queue is half full, so the request's thread does not hand the
interpreter lock to it after every call. The thread reads the question and the answer, runs each evaluator, and
records each verdict as a ``gen_ai.evaluation.result`` event parented to the call's GenAI span, with the
evaluator's version and kind. The texts are held only until then and never exported. An evaluator that raises
is counted (``evaluator_error``) and logged once with its traceback; a judge that answers out of format is
counted (``judge_out_of_format``).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace

from glassbox import attribution, instruments
from glassbox import conventions as c
from glassbox.api import evaluations, prompts
from glassbox.evaluators import calls
from glassbox.evaluators.config import Evaluator
from glassbox.evaluators.judge import JudgeOutOfFormat, judge
from glassbox.evaluators.rules import RULES, Answered, Verdict

_logger = logging.getLogger(__name__)
# How long a queued call may wait for the worker when the queue is less than half full.
BATCH_INTERVAL_S = 0.25
Run = Callable[[Answered], Verdict]


@dataclass(frozen=True)
class Job:
    evaluators: Sequence[tuple[Evaluator, Run]]
    request: dict[str, Any]
    response: Any
    span: trace.SpanContext | None
    model: str | None
    agent: str | None
    tenant: str | None
    prompt: tuple[str, str] | None
    # The request's attribution (user, session, request id), restored when its results are recorded.
    attributed: dict[str, str]


def runner(evaluator: Evaluator) -> Run:
    if evaluator.kind == "code":
        assert evaluator.function is not None
        return evaluator.function
    if evaluator.kind == "judge":
        return judge(evaluator.options)
    return RULES[evaluator.kind](evaluator.options)


class Worker:
    def __init__(self, evaluators: Sequence[Evaluator], capacity: int) -> None:
        self.evaluators = [(e, runner(e)) for e in evaluators]
        self.queue: queue.Queue[Job | None] = queue.Queue(capacity)
        self._wake_at = max(1, capacity // 2)
        self._wake = threading.Event()
        self._failed: set[str] = set()
        self._random = random.Random()
        self._thread = threading.Thread(target=self._run, name="glassbox-evaluators", daemon=True)
        self._thread.start()

    # -- on the request path -------------------------------------------------------------------------
    def observe(self, call: str, request: dict[str, Any], response: Any, started: int) -> None:
        if calls.evaluating.get():
            return  # a judge's own call
        model_call = calls.model_call_since(started)
        model = model_call.model if model_call else request.get("model")
        tenant = model_call.tenant if model_call else attribution.tenant()
        prompt = prompts.current()
        values = {
            "model": str(model) if model is not None else None,
            "agent": model_call.agent if model_call else None,
            "tenant": tenant,
            "operation": model_call.operation if model_call else None,
            "prompt": prompt[0] if prompt else None,
        }
        chosen = [
            (e, run)
            for e, run in self.evaluators
            if e.matches(values) and (e.sample_rate >= 1 or self._random.random() < e.sample_rate)
        ]
        if not chosen:
            return
        copied = {k: list(v) if isinstance(v, list) else v for k, v in request.items()}
        span = model_call.context if model_call else trace.get_current_span().get_span_context()
        judged = span if span.is_valid else None
        job = Job(
            chosen, copied, response, judged, values["model"], values["agent"], tenant, prompt, attribution.current()
        )
        try:
            self.queue.put_nowait(job)  # nobody waits on the queue itself: this wakes no thread
        except queue.Full:
            for evaluator, _ in chosen:
                self._dropped(evaluator, c.EVALUATION_DROP_QUEUE_FULL)
            return
        if self.queue.qsize() >= self._wake_at:
            self._wake.set()

    # -- on the worker thread ------------------------------------------------------------------------
    def _run(self) -> None:
        calls.evaluating.set(True)
        while True:
            self._wake.wait(BATCH_INTERVAL_S)
            self._wake.clear()
            while True:
                try:
                    job = self.queue.get_nowait()
                except queue.Empty:
                    break
                try:
                    if job is None:
                        return
                    self._evaluate(job)
                except Exception:  # never let the thread die
                    _logger.debug("glassbox evaluation failed", exc_info=True)
                finally:
                    self.queue.task_done()

    def _evaluate(self, job: Job) -> None:
        answered = calls.answer(job.response)
        if answered is None:
            for evaluator, _ in job.evaluators:
                self._dropped(evaluator, c.EVALUATION_DROP_NO_ANSWER)
            return
        text, tools = answered
        subject = Answered(calls.question(job.request), text, tools)
        for evaluator, run in job.evaluators:
            try:
                verdict = run(subject)
            except JudgeOutOfFormat as error:
                self._dropped(evaluator, c.EVALUATION_DROP_JUDGE_OUT_OF_FORMAT)
                self._log_once(evaluator, f"judge answered out of format: {error}", with_traceback=False)
                continue
            except Exception:
                self._dropped(evaluator, c.EVALUATION_DROP_EVALUATOR_ERROR)
                self._log_once(evaluator, "raised", with_traceback=True)
                continue
            with self._prompt(job.prompt), self._attributed(job.attributed):
                evaluations.evaluation(
                    evaluator.name,
                    score=verdict.score,
                    label=verdict.label,
                    explanation=verdict.explanation,
                    rejected=verdict.rejected,
                    trace_id=job.span.trace_id if job.span else None,
                    span_id=job.span.span_id if job.span else None,
                    model=job.model,
                    agent=job.agent,
                    tenant=job.tenant,
                    source=c.EVALUATION_SOURCE_ONLINE,
                    provenance={c.EVALUATOR_VERSION: evaluator.version, c.EVALUATOR_KIND: evaluator.kind},
                )

    @staticmethod
    @contextlib.contextmanager
    def _prompt(prompt: tuple[str, str] | None) -> Iterator[None]:
        """The judged call's prompt version, so the result is counted under it."""
        if prompt is None:
            yield
            return
        with prompts.prompt(prompt[0], version=prompt[1]):
            yield

    @staticmethod
    def _attributed(values: dict[str, str]) -> contextlib.AbstractContextManager[None]:
        """The judged request's attribution, so the result is logged with its user and session."""
        if not values:
            return contextlib.nullcontext()
        return attribution.attributed_to(
            values.get(c.TENANT_ID),
            user=values.get(c.USER_ID),
            session=values.get(c.SESSION_ID),
            request_id=values.get(c.REQUEST_ID),
        )

    def _dropped(self, evaluator: Evaluator, reason: str) -> None:
        instruments.get().evaluation_dropped.add(1, {c.GEN_AI_EVALUATION_NAME: evaluator.name, c.LABEL_REASON: reason})

    def _log_once(self, evaluator: Evaluator, what: str, with_traceback: bool) -> None:
        key = f"{evaluator.name}:{what.split(':')[0]}"
        if key in self._failed:
            return
        self._failed.add(key)
        _logger.warning(
            "glassbox evaluator %s (version %s) %s; counted in glassbox.evaluation.dropped from now on",
            evaluator.name, evaluator.version, what, exc_info=with_traceback,
        )  # fmt: skip

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds until every queued call has been evaluated."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self.queue.all_tasks_done:
            while self.queue.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.queue.all_tasks_done.wait(left)
        return True

    def close(self, timeout: float) -> bool:
        """Evaluate what is queued, then stop; False when that took longer than ``timeout``."""
        self._wake.set()
        try:
            self.queue.put(None, timeout=timeout)
        except queue.Full:
            return False
        finally:
            self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()
