"""Prompt-injection detectors plugged in beside the guardrail's rules: a model classifier, a provider's service.

A detector is installed as an entry point of the group :data:`ENTRY_POINT_GROUP` (``glassbox.guardrail_detectors``)
and switched on by naming it in ``GLASSBOX_GUARDRAIL_DETECTORS`` (comma-separated). The entry point names a
callable taking no argument (a class, or a factory function) that returns the detector; it is loaded once, the
first time a check needs it. The detector is a callable ``detector(text, source)`` where ``text`` is one message
(or one tool result) and ``source`` says where it comes from (``user``, ``tool_result``, ``assistant`` or
``developer``); it returns a risk score on the guardrail's scale, 0 to 100 (medium from 25, high from 50,
critical from 80), or None when it has no opinion. It runs on a worker thread: a detector that calls a service
over the network should set its own socket timeouts as well.

Every message a check scores is given to every configured detector, all at once, and the check waits at most
``GLASSBOX_GUARDRAIL_DETECTOR_TIMEOUT`` seconds for them all. A message's score is the highest of the rules' and the
detectors' scores. A detector that cannot be loaded, raises, returns something that is not a score, or has not
answered in time is counted in ``glassbox.telemetry.dropped`` (reasons ``guardrail_detector_error``,
``guardrail_detector_timeout``, ``guardrail_detector_busy``) and never breaks the call:
``GLASSBOX_GUARDRAIL_DETECTOR_FAILURE=fail-open`` (the default) lets the other scores decide, ``fail-closed``
refuses the call (in enforce mode) because it could not be shown safe. At most :data:`MAX_IN_FLIGHT` detector
calls run or wait at once in a process; past that a message is not given to the detectors (counted as busy), so a
detector that hangs costs threads and memory that stay bounded.
"""

from __future__ import annotations

import concurrent.futures
import math
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from glassbox import instruments, settings

ENTRY_POINT_GROUP = "glassbox.guardrail_detectors"
# Worker threads that run detectors, and detector calls running or queued at most (the rest is "busy").
WORKERS = 4
MAX_IN_FLIGHT = 32
REASON_ERROR = "guardrail_detector_error"
REASON_TIMEOUT = "guardrail_detector_timeout"
REASON_BUSY = "guardrail_detector_busy"
Detector = Callable[[str, str], Any]


@dataclass(frozen=True)
class Loaded:
    """A configured detector: its entry-point name, and the detector (None when it could not be loaded)."""

    name: str
    detect: Detector | None


@dataclass(frozen=True)
class Answer:
    """One detector's answer on one message: its score (None: no opinion or no answer), or why it gave none."""

    name: str
    score: int | None
    failure: str | None = None


_lock = threading.Lock()
_loaded: tuple[str, tuple[Loaded, ...]] = ("", ())
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)


def names() -> tuple[str, ...]:
    """The detectors ``GLASSBOX_GUARDRAIL_DETECTORS`` names, in order, without repeats."""
    raw = settings.GUARDRAIL_DETECTORS.get()
    return tuple(dict.fromkeys(name.strip() for name in raw.split(",") if name.strip()))


def timeout() -> float:
    return settings.GUARDRAIL_DETECTOR_TIMEOUT.get()


def fail_closed() -> bool:
    return settings.GUARDRAIL_DETECTOR_FAILURE.get() == "fail-closed"


def configured() -> tuple[Loaded, ...]:
    """The configured detectors, loaded once per value of ``GLASSBOX_GUARDRAIL_DETECTORS``."""
    global _loaded
    raw = settings.GUARDRAIL_DETECTORS.get()
    current = _loaded
    if current[0] == raw:
        return current[1]
    with _lock:
        if _loaded[0] != raw:
            _loaded = (raw, tuple(_load(name) for name in names()))
        return _loaded[1]


def _load(name: str) -> Loaded:
    """The entry point ``name`` of the group, called to make the detector; a failure is reported once and counted."""
    try:
        found = [point for point in metadata.entry_points(group=ENTRY_POINT_GROUP) if point.name == name]
        if not found:
            raise LookupError(f"no entry point {name!r} in the group {ENTRY_POINT_GROUP}")
        detector = found[0].load()()
        if not callable(detector):
            raise TypeError(f"{found[0].value} did not return a callable")
        return Loaded(name, detector)
    except Exception as error:
        print(f"glassbox: the guardrail detector {name!r} cannot be used: {error}", file=sys.stderr)
        instruments.get().count_dropped("traces", REASON_ERROR)
        return Loaded(name, None)


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _lock:
            if _executor is None:
                _executor = concurrent.futures.ThreadPoolExecutor(WORKERS, thread_name_prefix="glassbox-detector")
    return _executor


def _score(value: Any) -> int | None:
    """A detector's return value as a score from 0 to 100; ValueError when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"a detector returned {type(value).__name__}, not a score from 0 to 100")
    if not 0 <= value <= 100:
        raise ValueError("a detector returned a score outside 0 to 100")
    return round(value)


def _run(detect: Detector, text: str, source: str) -> int | None:
    return _score(detect(text, source))


def _release(_future: concurrent.futures.Future[int | None]) -> None:
    """A detector call's place, given back when it ends or is cancelled before it starts."""
    _in_flight.release()


def ask(detectors: Sequence[Loaded], messages: Sequence[tuple[str, str]]) -> list[list[Answer]]:
    """Every detector's answer on every ``(source, text)`` message, waiting at most the timeout for them all.

    Returns one list of answers per message, in the detectors' order. Never raises: every failure is counted and
    comes back as an answer with ``failure`` set."""
    answers: list[list[Answer]] = [[] for _ in messages]
    pending: dict[concurrent.futures.Future[int | None], tuple[int, str]] = {}
    for index, (source, text) in enumerate(messages):
        for detector in detectors:
            if detector.detect is None:
                answers[index].append(Answer(detector.name, None, REASON_ERROR))
                continue
            if not _in_flight.acquire(blocking=False):
                instruments.get().count_dropped("traces", REASON_BUSY)
                answers[index].append(Answer(detector.name, None, REASON_BUSY))
                continue
            try:
                future = _pool().submit(_run, detector.detect, text, source)
            except RuntimeError:  # the interpreter is shutting down
                _in_flight.release()
                answers[index].append(Answer(detector.name, None, REASON_ERROR))
                continue
            future.add_done_callback(_release)
            pending[future] = (index, detector.name)
    if pending:
        deadline = time.monotonic() + timeout()
        concurrent.futures.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
    for future, (index, name) in pending.items():
        answers[index].append(_answer(future, name))
    order = {detector.name: position for position, detector in enumerate(detectors)}
    for answer_list in answers:
        answer_list.sort(key=lambda answer: order[answer.name])
    return answers


def _answer(future: concurrent.futures.Future[int | None], name: str) -> Answer:
    if not future.done():
        future.cancel()  # still queued: never runs; already running: finishes on its own, its result unused
        instruments.get().count_dropped("traces", REASON_TIMEOUT)
        return Answer(name, None, REASON_TIMEOUT)
    try:
        return Answer(name, future.result())
    except Exception:
        instruments.get().count_dropped("traces", REASON_ERROR)
        return Answer(name, None, REASON_ERROR)
