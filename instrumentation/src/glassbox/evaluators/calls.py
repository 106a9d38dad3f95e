"""What the online evaluators read of a model call: the question, the answer, the tools it asked for, and the
call's GenAI span (the one each result is parented to).

The span processor notes each model-call span as it ends (:func:`note_model_call`) in a context variable; the
guard, the outermost layer around the SDK call, tells the evaluators when the call returned, in the same context,
so the span noted since the call started is the call's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanContext

from glassbox.guard.request import INPUT_ARGUMENTS, MODEL_ROLES, SYSTEM_ROLES, field, texts


@dataclass(frozen=True)
class ModelCall:
    """A model-call span as it ended: its context, start (ns since the epoch) and the attributes filters read."""

    context: SpanContext
    start: int
    model: str | None
    agent: str | None
    tenant: str | None
    operation: str | None


_last_model_call: ContextVar[ModelCall | None] = ContextVar("glassbox_last_model_call", default=None)
# Set in the evaluators' worker: a call made there (a judge's) is never evaluated itself.
evaluating: ContextVar[bool] = ContextVar("glassbox_evaluating", default=False)


def note_model_call(call: ModelCall) -> None:
    _last_model_call.set(call)


def model_call_since(started: int) -> ModelCall | None:
    """The model-call span that ended in this context and started at or after ``started`` (ns), if any."""
    call = _last_model_call.get()
    return call if call is not None and call.start >= started else None


def _text(value: Any) -> str:
    return "\n".join(t for t in texts(value) if t)


def question(request: Mapping[str, Any]) -> str:
    """The last user turn of the request (what the answer answers); the whole input when it is a string."""
    for name in INPUT_ARGUMENTS:
        value = request.get(name)
        if value is None:
            continue
        if isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)):
            for message in reversed(value):
                role = field(message, "role")
                if role not in MODEL_ROLES and role not in SYSTEM_ROLES and role not in ("tool", "function"):
                    return _text(field(message, "content") if field(message, "content") is not None else message)
    return ""


def _first(value: Any, *path: str | int) -> Any:
    for step in path:
        if value is None:
            return None
        if isinstance(step, int):
            value = value[step] if isinstance(value, (list, tuple)) and len(value) > step else None
        else:
            value = field(value, step)
    return value


def answer(response: Any) -> tuple[str, Sequence[str]] | None:
    """(text, names of the tools asked for) of an SDK's answer; None for what has no answer yet (a stream)."""
    # OpenAI chat completions, LiteLLM
    message = _first(response, "choices", 0, "message")
    if message is not None:
        tools = [str(_first(t, "function", "name")) for t in (field(message, "tool_calls") or [])]
        return _text(field(message, "content") or ""), tools
    # OpenAI responses
    output = field(response, "output")
    if isinstance(output, list) and field(response, "output_text") is not None:
        tools = [str(field(item, "name")) for item in output if field(item, "type") == "function_call"]
        return str(field(response, "output_text") or ""), tools
    # Anthropic messages
    content = field(response, "content")
    if isinstance(content, list) and field(response, "role") == "assistant":
        text = "\n".join(str(field(b, "text")) for b in content if field(b, "type") == "text")
        tools = [str(field(b, "name")) for b in content if field(b, "type") == "tool_use"]
        return text, tools
    # Gemini
    parts = _first(response, "candidates", 0, "content", "parts")
    if isinstance(parts, list):
        text = "\n".join(str(field(p, "text")) for p in parts if field(p, "text"))
        tools = [str(_first(p, "function_call", "name")) for p in parts if field(p, "function_call") is not None]
        return text, tools
    # Bedrock converse
    blocks = _first(response, "output", "message", "content")
    if isinstance(blocks, list):
        text = "\n".join(str(b["text"]) for b in blocks if isinstance(b, dict) and "text" in b)
        tools = [str(_first(b, "toolUse", "name")) for b in blocks if isinstance(b, dict) and "toolUse" in b]
        return text, tools
    return None
