"""Reading a model call's request: its fields, and the messages in it as the model will read them.

The guard reads requests of several SDKs (OpenAI chat and Responses, Anthropic, Gemini, Bedrock Converse and
InvokeModel bodies, LiteLLM), as dicts or as the SDKs' own types: :func:`field` reads one field of either;
:data:`NON_TEXT_KEYS` names the parts of a message that are not text (images, audio, files), which neither the
guard's cost estimate (:mod:`glassbox.guard.core`) nor the guardrail (:mod:`glassbox.guard.guardrail`) reads as
text; :func:`message_parts` gives the (source, text) of each message, where the source says who can have written it.

The SDK calls are given their input as lists: a generator or any other one-pass iterable passed as ``messages``,
``input`` or ``contents`` is read into a list once by the guard's instrumentor (:func:`materialise`), and both the
guardrail and the SDK read that list.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, TypeGuard

# Where a message comes from (the glassbox.guardrail.source of a guardrail finding): a user's turn, a tool's result
# going into the prompt, the model's own turn, instructions sent with the developer role.
SOURCE_USER, SOURCE_TOOL_RESULT = "user", "tool_result"
SOURCE_ASSISTANT, SOURCE_DEVELOPER = "assistant", "developer"
# Roles of the model's own turns, of the app's instructions (never scored), of instructions a client may send.
MODEL_ROLES = frozenset({"assistant", "model"})
SYSTEM_ROLES = frozenset({"system"})
DEVELOPER_ROLES = frozenset({"developer"})
TOOL_ROLES = frozenset({"tool", "function", "ipython"})
# Content blocks and items that carry a tool's output back into the prompt.
TOOL_RESULT_KEYS = (
    "tool_result", "function_response", "toolResult", "function_call_output", "custom_tool_call_output",
    "computer_call_output", "mcp_tool_result",
)  # fmt: skip
# Responses API items that are the model's own turns (its calls and reasoning).
MODEL_ITEM_TYPES = frozenset({"function_call", "custom_tool_call", "computer_call", "reasoning", "mcp_call"})
# Parts of a message that are not text (OpenAI image_url/input_audio/file, Anthropic image/document source,
# Gemini inline_data/file_data).
NON_TEXT_KEYS = frozenset({"image_url", "input_audio", "file", "source", "inline_data", "file_data"})
TEXT_KEYS = ("text", "content", "output", "result", "response", "json", "parts")
SKIPPED_KEYS = (
    frozenset(
        {"type", "role", "id", "name", "tool_call_id", "tool_use_id", "toolUseId", "status", "call_id", "signature"}
    )
    | NON_TEXT_KEYS
)
# The request arguments that hold the conversation, and are read into a list when they are one-pass iterables.
INPUT_ARGUMENTS = ("messages", "input", "contents")


def field(value: Any, name: str) -> Any:
    """A request argument's field, from a dict or an SDK type."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def fields(value: Any) -> dict[str, Any]:
    """Every field of a request argument, from a dict or an SDK type (pydantic); empty for anything else."""
    if isinstance(value, dict):
        return value
    dumped = value.model_dump(exclude_none=True) if hasattr(value, "model_dump") else {}
    return dumped if isinstance(dumped, dict) else {}


def is_one_pass(value: Any) -> TypeGuard[Iterable[Any]]:
    """Whether ``value`` is an iterable that is not a list, a tuple, a string, a mapping or an SDK type (a
    generator, an iterator, a ``map``): reading it to score it would leave nothing for the SDK."""
    if value is None or isinstance(value, (str, bytes, bytearray, list, tuple, Mapping)):
        return False
    if hasattr(value, "model_dump"):  # pydantic SDK types iterate over their fields
        return False
    return isinstance(value, Iterable)


def materialise(kwargs: dict[str, Any]) -> None:
    """Replace each one-pass iterable among the conversation arguments of ``kwargs`` by a list of its items, in
    place, so that the guardrail and the SDK call read the same messages."""
    for name in INPUT_ARGUMENTS:
        value = kwargs.get(name)
        if is_one_pass(value):
            kwargs[name] = list(value)


def texts(value: Any, depth: int = 0) -> Iterator[str]:
    """Strings inside a message's content, however nested (text blocks, tool results, parts)."""
    if depth > 8 or value is None:
        return
    if isinstance(value, str):
        if not value.startswith("data:"):  # an inline image or file
            yield value
        return
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from texts(item, depth + 1)
        return
    if hasattr(value, "model_dump") and not isinstance(value, dict):
        value = value.model_dump(exclude_none=True)
    if isinstance(value, dict):
        known = [key for key in (*TEXT_KEYS, *TOOL_RESULT_KEYS) if key in value]
        for key in known:
            inner = value[key]
            if key == "json" and not isinstance(inner, str):
                inner = json.dumps(inner, default=str)
            yield from texts(inner, depth + 1)
        if not known:  # a tool's own output shape ({"weather": ...}): every value but ids, names and media
            yield from texts([v for k, v in value.items() if k not in SKIPPED_KEYS], depth + 1)


def is_tool_result(part: Any) -> bool:
    """Whether a content block or item carries a tool's output."""
    if isinstance(part, dict):
        return part.get("type") in TOOL_RESULT_KEYS or any(k in part for k in TOOL_RESULT_KEYS)
    return any(getattr(part, k, None) is not None for k in TOOL_RESULT_KEYS)


def message_parts(message: Any, trusted: bool, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(source, text) of one message as the model will read it; nothing for system instructions, nor for the
    assistant's and developer's turns of a trusted history."""
    if isinstance(message, str):
        yield SOURCE_USER, message
        return
    if isinstance(message, (list, tuple)):  # an InvokeModel body's messages, a list of Gemini parts
        if depth < 4:
            for item in message:
                yield from message_parts(item, trusted, depth + 1)
        return
    role, kind = field(message, "role"), field(message, "type")
    if role in SYSTEM_ROLES:
        return
    if role in TOOL_ROLES or kind in TOOL_RESULT_KEYS:
        for text in texts(message):
            yield SOURCE_TOOL_RESULT, text
        return
    if role in MODEL_ROLES or kind in MODEL_ITEM_TYPES:
        if trusted:
            return
        source = SOURCE_ASSISTANT
    elif role in DEVELOPER_ROLES:
        if trusted:
            return
        source = SOURCE_DEVELOPER
    else:
        source = SOURCE_USER
    content = field(message, "content")
    if content is None:
        content = field(message, "parts")
    if content is None and kind in MODEL_ITEM_TYPES:  # a Responses function call or reasoning item
        content = [value for key, value in fields(message).items() if key not in SKIPPED_KEYS]
    if isinstance(content, str):
        yield source, content
    else:
        for part in content or ():
            part_source = SOURCE_TOOL_RESULT if is_tool_result(part) else source
            for text in texts(part):
                yield part_source, text
    if source == SOURCE_ASSISTANT:  # the arguments of the tool calls a fabricated turn claims the model made
        for text in texts(field(message, "tool_calls")):
            yield source, text
