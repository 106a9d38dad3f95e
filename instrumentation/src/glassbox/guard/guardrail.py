"""The prompt-injection guardrail: the new input of a model call scored before the call is made.

What is scored: the messages a call adds after the model's last turn, i.e. the user's input and any tool result
going into the prompt (OpenAI ``messages`` and Responses ``input``, Anthropic ``messages`` with ``tool_result``
blocks, Gemini ``contents`` with function responses, Bedrock Converse/InvokeModel, LiteLLM); system and developer
instructions are the app's own and are not scored. Each part is scored on its own by
:func:`glassbox.guard.injection.assess` (0-100) and the call takes the highest score and its level:

- ``none``/``low``: allowed;
- ``medium``: allowed, with a warning decision on the span;
- ``high``: allowed, and an audit event ``ai.prompt_injection`` is written (``GlassboxPromptInjectionHigh`` alerts);
- ``critical``: refused through the guard's refusal path (reason ``prompt_injection``: the fallback answers, or
  :class:`AICallRefused` is raised), audited as ``ai.call_refused``, and ``GlassboxPromptInjectionCritical``
  alerts security.

``GLASSBOX_GUARDRAIL_MODE``: ``enforce`` (the default, as above), ``monitor`` (records everything, refuses
nothing) or ``off`` (no check). Every check is an ``apply_guardrail`` span (the GenAI security semantic
conventions' guardian span: ``gen_ai.guardian.*``, ``gen_ai.security.target.type``, ``gen_ai.security.decision.*``,
and one ``gen_ai.security.finding`` event per part at medium or above), and is counted in
``glassbox.guardrail.checks`` by level, decision and tenant. The scored text itself is never recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from opentelemetry import metrics, trace

from glassbox import conventions as c
from glassbox import instruments, settings
from glassbox.guard import injection
from glassbox.version import __version__

MODE_ENFORCE, MODE_MONITOR, MODE_OFF = "enforce", "monitor", "off"
GUARDIAN_NAME = "glassbox.prompt_injection"
REFUSED_PROMPT_INJECTION = "prompt_injection"
SOURCE_USER, SOURCE_TOOL_RESULT = "user", "tool_result"
# Roles of the model's own turns (the new input is what comes after the last of them), and of the app's
# instructions (never scored).
MODEL_ROLES = frozenset({"assistant", "model"})
INSTRUCTION_ROLES = frozenset({"system", "developer"})
TOOL_ROLES = frozenset({"tool", "function"})
# Content blocks that carry a tool's output back into the prompt.
TOOL_RESULT_KEYS = ("tool_result", "function_response", "toolResult", "function_call_output")
# Parts of a message that are not text (OpenAI image_url/input_audio/file, Anthropic image/document source,
# Gemini inline_data/file_data).
NON_TEXT_KEYS = frozenset({"image_url", "input_audio", "file", "source", "inline_data", "file_data"})
TEXT_KEYS = ("text", "content", "output", "result", "response", "json", "parts")
SKIPPED_KEYS = frozenset({"type", "role", "id", "name", "tool_call_id", "tool_use_id", "toolUseId", "status"}) | (
    NON_TEXT_KEYS
)
# Characters of one call's new input that are scored at most (the rest is counted, not scored).
MAX_SCORED_CHARACTERS = 256 * 1024
_DECISIONS = {
    injection.LEVEL_NONE: "allow",
    injection.LEVEL_LOW: "allow",
    injection.LEVEL_MEDIUM: "warn",
    injection.LEVEL_HIGH: "warn",
    injection.LEVEL_CRITICAL: "deny",
}
# Inputs at these levels get a finding event, and make the check a span; below them a check is only counted
# (GLASSBOX_GUARDRAIL_SPANS=all: a span for every check).
FLAGGED_LEVELS = frozenset({injection.LEVEL_MEDIUM, injection.LEVEL_HIGH, injection.LEVEL_CRITICAL})
_checks: metrics.Counter | None = None
_tracer = trace.get_tracer("glassbox.guard", __version__)


def mode() -> str:
    return str(settings.get("GLASSBOX_GUARDRAIL_MODE"))


def spans_for_every_check() -> bool:
    return str(settings.get("GLASSBOX_GUARDRAIL_SPANS")) == "all"


def checks_counter() -> metrics.Counter:
    global _checks
    if _checks is None:
        _checks = metrics.get_meter("glassbox", __version__).create_counter(
            c.METRIC_GUARDRAIL_CHECKS,
            unit="{check}",
            description="Model-call inputs scored for prompt injection, by risk level and decision.",
        )
    return _checks


# --------------------------------------------------------------------------- what a call adds to the prompt
def field(value: Any, name: str) -> Any:
    """A request argument's field, from a dict or an SDK type."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _texts(value: Any, depth: int = 0) -> Iterator[str]:
    """Strings inside a message's content, however nested (text blocks, tool results, parts)."""
    if depth > 8 or value is None:
        return
    if isinstance(value, str):
        if not value.startswith("data:"):  # an inline image or file
            yield value
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item, depth + 1)
        return
    if hasattr(value, "model_dump") and not isinstance(value, dict):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, dict):
        known = [key for key in (*TEXT_KEYS, *TOOL_RESULT_KEYS) if key in value]
        for key in known:
            inner = value[key]
            if key == "json" and not isinstance(inner, str):
                inner = json.dumps(inner, default=str)
            yield from _texts(inner, depth + 1)
        if not known:  # a tool's own output shape ({"weather": ...}): every value but ids, names and media
            yield from _texts([v for k, v in value.items() if k not in SKIPPED_KEYS], depth + 1)


def _is_tool_result(part: Any) -> bool:
    if isinstance(part, dict):
        return part.get("type") in TOOL_RESULT_KEYS or any(k in part for k in TOOL_RESULT_KEYS)
    return any(getattr(part, k, None) is not None for k in TOOL_RESULT_KEYS)


def _message_parts(message: Any) -> Iterator[tuple[str, str]]:
    """(source, text) of one message: a tool message or tool-result block is a tool result, the rest the user's."""
    role = field(message, "role")
    if isinstance(message, str):
        yield SOURCE_USER, message
        return
    if role in TOOL_ROLES or field(message, "type") in TOOL_RESULT_KEYS:
        for text in _texts(message):
            yield SOURCE_TOOL_RESULT, text
        return
    content = field(message, "content")
    if content is None:
        content = field(message, "parts")
    if isinstance(content, str):
        yield SOURCE_USER, content
        return
    for part in content or ():
        source = SOURCE_TOOL_RESULT if _is_tool_result(part) else SOURCE_USER
        for text in _texts(part):
            yield source, text


def new_input(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, text) of what the call adds after the model's last turn, instructions left out."""
    for name in ("messages", "input", "contents"):
        value = kwargs.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return [(SOURCE_USER, value)]
        if not isinstance(value, (list, tuple)):
            return list(_message_parts(value))
        turn: list[Any] = []
        for message in reversed(value):
            if field(message, "role") in MODEL_ROLES:
                break
            if field(message, "role") not in INSTRUCTION_ROLES:
                turn.append(message)
        return [part for message in reversed(turn) for part in _message_parts(message)]
    return []


# --------------------------------------------------------------------------- the check
def safe_check(call: str, kwargs: dict[str, Any]) -> str | None:
    """:func:`check`, where a failure of the guardrail itself lets the call go on and is counted."""
    try:
        return check(call, kwargs)
    except Exception:
        instruments.get().count_dropped("traces", "guardrail_error")
        return None


def check(call: str, kwargs: dict[str, Any]) -> str | None:
    """Score the call's new input; the refusal detail when it must be refused (critical, enforce mode)."""
    current = mode()
    if current == MODE_OFF or call.endswith("embeddings"):  # text to embed is not a prompt
        return None
    parts = new_input(kwargs)
    if not parts:
        return None
    started = time.time_ns()
    worst = injection.Assessment(0, injection.LEVEL_NONE, ())
    findings: list[tuple[str, injection.Assessment]] = []
    budget = MAX_SCORED_CHARACTERS
    for source, text in parts:
        if budget <= 0:
            instruments.get().count_dropped("traces", "guardrail_input_not_scored")
            break
        assessment = injection.assess(text[:budget])
        budget -= len(text)
        if assessment.score > worst.score:
            worst = assessment
        if assessment.level in FLAGGED_LEVELS:
            findings.append((source, assessment))
    decision = _DECISIONS[worst.level]
    refuse = decision == "deny" and current == MODE_ENFORCE
    if decision == "deny" and not refuse:
        decision = "audit"  # monitor mode: recorded, not refused
    checks_counter().add(1, {c.GUARDRAIL_LEVEL: worst.level, c.GEN_AI_SECURITY_DECISION_TYPE: decision})
    if findings or spans_for_every_check():
        _record_span(kwargs, current, started, worst, decision, findings)
    if worst.level not in (injection.LEVEL_HIGH, injection.LEVEL_CRITICAL):
        return None
    detail = f"prompt injection risk {worst.score}/100 ({worst.level}: {', '.join(worst.findings)})"
    if not refuse:
        _audit_flagged(kwargs, detail)
    return detail if refuse else None


def _record_span(
    kwargs: dict[str, Any],
    current: str,
    started: int,
    worst: injection.Assessment,
    decision: str,
    findings: list[tuple[str, injection.Assessment]],
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
    if worst.level != injection.LEVEL_NONE:
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
        from glassbox.audit.events import audit

        audit("ai.prompt_injection", actor={"type": "system", "id": "glassbox.guard"}, outcome="flagged",
              reason=detail, resource={"type": "model", "id": str(kwargs.get("model", ""))})  # fmt: skip
    except Exception:
        instruments.get().count_dropped("logs", "guard_record_error")
