"""The prompt-injection guardrail: what the model will read, scored before the call is made.

What is scored: every message of the request that a client can have written, wherever it sits in the
conversation: the user turns and every tool result (OpenAI ``tool`` messages and Responses
``function_call_output`` items, Anthropic ``tool_result`` blocks, Gemini function responses, Bedrock Converse
``toolResult`` and InvokeModel bodies, LiteLLM), and the ``assistant`` and ``developer`` turns too, since an app
that passes its clients' conversation history on passes whatever they wrote there (a fabricated assistant turn
that "agreed" to an attack, an instruction sent with the ``developer`` role). System instructions (a ``system``
turn, Anthropic's ``system``, Responses ``instructions``, Gemini's ``system_instruction``) are the app's own and
are not scored, nor is text sent for embedding.

An app that builds every history itself (it stores the model's answers and never takes turns from its clients)
says so, and its ``assistant`` and ``developer`` turns are then not scored: for the whole process with
``GLASSBOX_GUARDRAIL_HISTORY=app``, or for the calls made inside ``with trusted_history():`` (a context variable,
so it holds across ``await`` and in the tasks started inside it, and nowhere else). User turns and tool results
are scored either way.

Each message is scored on its own by :func:`glassbox.guard.guardrail.scorer.assess` (0-100), and by the detectors
named in ``GLASSBOX_GUARDRAIL_DETECTORS`` (:mod:`glassbox.guard.guardrail.detectors`); a message takes the highest
of these scores and the call takes its highest message's score and level:

- ``none``/``low``: allowed;
- ``medium``: allowed, with a warning decision on the span;
- ``high``: allowed, and an audit event ``ai.prompt_injection`` is written (``GlassboxPromptInjectionHigh`` alerts);
- ``critical``: refused through the guard's refusal path (reason ``prompt_injection``: the fallback answers, or
  :class:`AICallRefused` is raised), audited as ``ai.call_refused``, and ``GlassboxPromptInjectionCritical``
  alerts security.

A message keeps its score for as long as it is in the conversation: a critical one in the history refuses every
later call that sends it again. The scores of the last ``GLASSBOX_GUARDRAIL_CACHE`` messages are remembered in a
least-recently-used table keyed by a hash of the message's source and text (BLAKE2b keyed with a secret drawn when
the process starts; the text itself is never kept), so a long conversation costs only its new messages. The
newest messages are scored first; past :data:`MAX_SCORED_CHARACTERS` of new text in one call the older rest is
counted in ``glassbox.telemetry.dropped`` (reason ``guardrail_input_not_scored``) and not scored.

``GLASSBOX_GUARDRAIL_MODE``: ``enforce`` (the default, as above), ``monitor`` (records everything, refuses
nothing) or ``off`` (no check). Every check is counted in ``glassbox.guardrail.checks`` by level and decision; a
check that flags something (medium or above; ``GLASSBOX_GUARDRAIL_SPANS=all``: every check) is an
``apply_guardrail`` span (the GenAI security semantic conventions' guardian span: ``gen_ai.guardian.*``,
``gen_ai.security.target.type``, ``gen_ai.security.decision.*``, and one ``gen_ai.security.finding`` event per
flagged message, with its source). The scored text itself is never recorded.

The SDK calls are given their input as lists: a generator or any other one-pass iterable passed as ``messages``,
``input`` or ``contents`` is read into a list once by the guard's instrumentor (:func:`materialise`), and both the
guardrail and the SDK read that list.

The package's modules: :mod:`~glassbox.guard.guardrail.normaliser` (the views of a text the rules read),
:mod:`~glassbox.guard.guardrail.rules` (the rule table), :mod:`~glassbox.guard.guardrail.scorer` (the 0-100 score of
one text: ``assess``), :mod:`~glassbox.guard.guardrail.detectors` (detectors plugged in by entry point); how a request's
messages are read is :mod:`glassbox.guard.request`'s, shared with the guard's cost estimate.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import hashlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import metrics, trace

from glassbox import conventions as c
from glassbox import instruments, settings
from glassbox.audit.events import audit
from glassbox.guard.guardrail import detectors, scorer
from glassbox.guard.request import (
    INPUT_ARGUMENTS,
    NON_TEXT_KEYS,
    SOURCE_ASSISTANT,
    SOURCE_DEVELOPER,
    SOURCE_TOOL_RESULT,
    SOURCE_USER,
    field,
    is_one_pass,
    materialise,
    message_parts,
)
from glassbox.version import __version__

MODE_ENFORCE, MODE_MONITOR, MODE_OFF = "enforce", "monitor", "off"
GUARDIAN_NAME = "glassbox.prompt_injection"
REFUSED_PROMPT_INJECTION = "prompt_injection"
# Characters of one call's messages that are scored at most, newest first (the rest is counted, not scored).
MAX_SCORED_CHARACTERS = 256 * 1024
HISTORY_CLIENT, HISTORY_APP = "client", "app"
# The finding of a message that a detector could not score, when GLASSBOX_GUARDRAIL_DETECTOR_FAILURE=fail-closed.
DETECTOR_UNAVAILABLE = "detector_unavailable"
_DECISIONS = {
    scorer.LEVEL_NONE: "allow",
    scorer.LEVEL_LOW: "allow",
    scorer.LEVEL_MEDIUM: "warn",
    scorer.LEVEL_HIGH: "warn",
    scorer.LEVEL_CRITICAL: "deny",
}
# Inputs at these levels get a finding event, and make the check a span; below them a check is only counted
# (GLASSBOX_GUARDRAIL_SPANS=all: a span for every check).
FLAGGED_LEVELS = frozenset({scorer.LEVEL_MEDIUM, scorer.LEVEL_HIGH, scorer.LEVEL_CRITICAL})
_checks: metrics.Counter | None = None
_tracer = trace.get_tracer("glassbox.guard", __version__)
_trusted: contextvars.ContextVar[bool] = contextvars.ContextVar("glassbox_guardrail_trusted_history", default=False)


def mode() -> str:
    return settings.GUARDRAIL_MODE.get()


def spans_for_every_check() -> bool:
    return settings.GUARDRAIL_SPANS.get() == "all"


def checks_counter() -> metrics.Counter:
    global _checks
    if _checks is None:
        _checks = metrics.get_meter("glassbox", __version__).create_counter(
            c.METRIC_GUARDRAIL_CHECKS,
            unit="{check}",
            description="Model-call inputs scored for prompt injection, by risk level and decision.",
        )
    return _checks


# --------------------------------------------------------------------------- whose history it is
@contextlib.contextmanager
def trusted_history() -> Iterator[None]:
    """The model calls made inside send a history the app built itself: their ``assistant`` and ``developer``
    turns are not scored (user turns and tool results still are).

    Use it only around calls whose every earlier turn the app wrote or stored itself, never around a call that
    forwards a conversation a client sent."""
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


def history_is_trusted() -> bool:
    """Whether the app built the history of the calls made now (``trusted_history()`` or
    ``GLASSBOX_GUARDRAIL_HISTORY=app``)."""
    return _trusted.get() or settings.GUARDRAIL_HISTORY.get() == HISTORY_APP


# --------------------------------------------------------------------------- the remembered scores
class ScoreCache:
    """Scores of messages already seen, least recently used first out, keyed by a keyed hash of source and text."""

    def __init__(self) -> None:
        self._secret = os.urandom(32)
        self._entries: collections.OrderedDict[bytes, scorer.Assessment] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._generation: tuple[int, str] = (0, "")

    def key(self, source: str, text: str) -> bytes:
        digest = hashlib.blake2b(key=self._secret, digest_size=16, person=source.encode()[:16])
        digest.update(text.encode("utf-8", "surrogatepass"))
        return digest.digest()

    def get(self, key: bytes, size: int, generation: str) -> scorer.Assessment | None:
        with self._lock:
            if self._generation != (size, generation):  # resized, or other detectors: the old scores are void
                self._generation = (size, generation)
                self._entries.clear()
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: bytes, assessment: scorer.Assessment, size: int) -> None:
        with self._lock:
            self._entries[key] = assessment
            self._entries.move_to_end(key)
            while len(self._entries) > size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


cache = ScoreCache()


def cache_size() -> int:
    return settings.GUARDRAIL_CACHE.get()


# --------------------------------------------------------------------------- what is scored
def scored_input(kwargs: dict[str, Any], trusted: bool = False) -> list[tuple[str, str]]:
    """(source, text) of every message of the request the model will read that a client can have written, in the
    conversation's order; with ``trusted``, the assistant and developer turns are left out."""
    for name in INPUT_ARGUMENTS:
        value = kwargs.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return [(SOURCE_USER, value)]
        if is_one_pass(value):  # only a caller that bypassed materialise() gets here: reading it would consume it
            instruments.get().count_dropped("traces", "guardrail_input_not_scored")
            return []
        return list(message_parts(value, trusted))
    return []


# --------------------------------------------------------------------------- the check
def safe_check(call: str, kwargs: dict[str, Any]) -> str | None:
    """:func:`check`, where a failure of the guardrail itself lets the call go on and is counted."""
    try:
        return check(call, kwargs)
    except Exception:
        instruments.get().count_dropped("traces", "guardrail_error")
        return None


def _combined(rules: scorer.Assessment, answers: list[detectors.Answer]) -> scorer.Assessment:
    """The rules' assessment raised to the highest detector score, naming each detector that scored above 0."""
    score, findings = rules.score, list(rules.findings)
    for answer in answers:
        if answer.score:
            score = max(score, answer.score)
            findings.append(f"detector.{answer.name}")
    if score == rules.score and len(findings) == len(rules.findings):
        return rules
    return scorer.Assessment(score, scorer.level_of(score), tuple(findings))


def check(call: str, kwargs: dict[str, Any]) -> str | None:
    """Score what the model will read; the refusal detail when the call must be refused (enforce mode)."""
    current = mode()
    if current == MODE_OFF or call.endswith("embeddings"):  # text to embed is not a prompt
        return None
    parts = scored_input(kwargs, history_is_trusted())
    if not parts:
        return None
    started = time.time_ns()
    size, loaded = cache_size(), detectors.configured()
    generation = ",".join(detector.name for detector in loaded)
    scored: list[tuple[str, scorer.Assessment] | None] = [None] * len(parts)
    fresh: list[tuple[int, bytes | None, str, str, scorer.Assessment]] = []
    budget = MAX_SCORED_CHARACTERS
    for index in range(len(parts) - 1, -1, -1):  # newest first: the budget goes to what is new
        source, text = parts[index]
        key = cache.key(source, text) if size else None
        known = cache.get(key, size, generation) if key is not None else None
        if known is not None:
            scored[index] = (source, known)
            continue
        if budget <= 0:
            instruments.get().count_dropped("traces", "guardrail_input_not_scored")
            continue
        scanned = min(len(text), scorer.MAX_SCAN_CHARS)  # assess() reads a long text's head and tail
        window = text if scanned <= budget else text[:budget]
        budget -= scanned
        fresh.append((index, key if window is text else None, source, window, scorer.assess(window, source)))
    unavailable = False
    answers = detectors.ask(loaded, [(source, window) for _i, _k, source, window, _a in fresh]) if loaded else []
    for position, (index, key, source, _window, rules) in enumerate(fresh):
        mine = answers[position] if answers else []
        assessment = _combined(rules, mine)
        failed = any(answer.failure for answer in mine)
        unavailable = unavailable or failed
        scored[index] = (source, assessment)
        if key is not None and not failed:
            cache.put(key, assessment, size)
    worst = scorer.Assessment(0, scorer.LEVEL_NONE, ())
    findings: list[tuple[str, scorer.Assessment]] = []
    for item in scored:
        if item is None:
            continue
        source, assessment = item
        if assessment.score > worst.score:
            worst = assessment
        if assessment.level in FLAGGED_LEVELS:
            findings.append((source, assessment))
    closed = unavailable and detectors.fail_closed()
    decision = "deny" if closed else _DECISIONS[worst.level]
    refuse = decision == "deny" and current == MODE_ENFORCE
    if decision == "deny" and not refuse:
        decision = "audit"  # monitor mode: recorded, not refused
    checks_counter().add(1, {c.GUARDRAIL_LEVEL: worst.level, c.GEN_AI_SECURITY_DECISION_TYPE: decision})
    if closed:
        worst = scorer.Assessment(worst.score, worst.level, (*worst.findings, DETECTOR_UNAVAILABLE))
    if findings or closed or spans_for_every_check():
        _record_span(kwargs, current, started, worst, decision, findings)
    if worst.level not in (scorer.LEVEL_HIGH, scorer.LEVEL_CRITICAL) and not closed:
        return None
    if closed and worst.level != scorer.LEVEL_CRITICAL:
        detail = f"a prompt-injection detector did not answer (fail-closed); risk {worst.score}/100 ({worst.level})"
    else:
        detail = f"prompt injection risk {worst.score}/100 ({worst.level}: {', '.join(worst.findings)})"
    if not refuse:
        _audit_flagged(kwargs, detail)
    return detail if refuse else None


def _record_span(
    kwargs: dict[str, Any],
    current: str,
    started: int,
    worst: scorer.Assessment,
    decision: str,
    findings: list[tuple[str, scorer.Assessment]],
) -> None:
    """The check as an apply_guardrail span (from when scoring started), with one finding event per flagged part."""
    span = _tracer.start_span(f"apply_guardrail {GUARDIAN_NAME}", kind=trace.SpanKind.INTERNAL, start_time=started)
    span.set_attributes(
        {
            c.GEN_AI_OPERATION_NAME: c.OPERATION_APPLY_GUARDRAIL,
            c.GEN_AI_GUARDIAN_NAME: GUARDIAN_NAME,
            c.GEN_AI_GUARDIAN_PROVIDER_NAME: "glassbox",
            c.GEN_AI_GUARDIAN_VERSION: __version__,
            c.GEN_AI_SECURITY_TARGET_TYPE: c.SECURITY_TARGET_LLM_INPUT,
            c.GEN_AI_REQUEST_MODEL: str(kwargs.get("model") or ""),
            c.GUARDRAIL_MODE: current,
            c.GEN_AI_SECURITY_DECISION_TYPE: decision,
            c.GUARDRAIL_SCORE: worst.score,
            c.GUARDRAIL_LEVEL: worst.level,
        }
    )
    if worst.level != scorer.LEVEL_NONE:
        span.set_attribute(c.GEN_AI_SECURITY_DECISION_REASON, ",".join(worst.findings) or REFUSED_PROMPT_INJECTION)
    for source, assessment in findings:
        span.add_event(
            c.GEN_AI_SECURITY_FINDING_EVENT,
            {
                c.GEN_AI_SECURITY_RISK_CATEGORY: REFUSED_PROMPT_INJECTION,
                c.GEN_AI_SECURITY_RISK_SEVERITY: assessment.level,
                c.GEN_AI_SECURITY_RISK_SCORE: assessment.score / 100,
                c.GEN_AI_SECURITY_RISK_METADATA: list(assessment.findings),
                c.GUARDRAIL_SOURCE: source,
            },
        )
    span.end()


def _audit_flagged(kwargs: dict[str, Any], detail: str) -> None:
    """The audit event of an input let through at high (or critical, monitoring) risk; never raises."""
    try:
        audit("ai.prompt_injection", actor={"type": "system", "id": "glassbox.guard"}, outcome="flagged",
              reason=detail, resource={"type": "model", "id": str(kwargs.get("model", ""))})  # fmt: skip
    except Exception:
        instruments.get().count_dropped("logs", "guard_record_error")


__all__ = [
    "DETECTOR_UNAVAILABLE",
    "FLAGGED_LEVELS",
    "GUARDIAN_NAME",
    "HISTORY_APP",
    "HISTORY_CLIENT",
    "INPUT_ARGUMENTS",
    "MAX_SCORED_CHARACTERS",
    "MODE_ENFORCE",
    "MODE_MONITOR",
    "MODE_OFF",
    "NON_TEXT_KEYS",
    "REFUSED_PROMPT_INJECTION",
    "SOURCE_ASSISTANT",
    "SOURCE_DEVELOPER",
    "SOURCE_TOOL_RESULT",
    "SOURCE_USER",
    "ScoreCache",
    "cache",
    "cache_size",
    "check",
    "checks_counter",
    "detectors",
    "field",
    "history_is_trusted",
    "is_one_pass",
    "materialise",
    "mode",
    "safe_check",
    "scored_input",
    "scorer",
    "spans_for_every_check",
    "trusted_history",
]
