"""Evaluators that need no model: each reads one answer (and what the call asked) and gives a verdict.

* ``refusal``: the answer declines (a phrase of ``phrases``, or the built-in ones, near its start): rejected;
* ``json``: the answer is JSON (a fenced code block counts) and, with ``schema``, matches it;
* ``length``: the answer has ``min`` to ``max`` characters;
* ``regex``: ``pattern`` is ``present`` in the answer (or ``absent``, with ``expect: absent``);
* ``pii``: the answer holds what the redactor's detectors find (emails, phone numbers, cards, keys...): rejected,
  and the explanation names the kinds found, never the values;
* ``tool_call``: the model asked for a tool (``tool``: that one) or, with ``expect: not_made``, did not.

A verdict's score is 1 (accepted) or 0 (rejected), with a label saying why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from glassbox.redaction import build_redactor


@dataclass(frozen=True)
class Verdict:
    score: float | None
    label: str | None = None
    explanation: str | None = None
    rejected: bool | None = None


@dataclass(frozen=True)
class Answered:
    """What an evaluator reads of one model call; held in memory only until its evaluations end."""

    question: str
    answer: str
    tool_calls: Sequence[str] = ()
    context: str | None = None


REFUSALS = (
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i'm unable to",
    "i am unable to",
    "i'm sorry, but i can",
    "i won't be able to",
    "i can't provide",
    "i cannot provide",
)
# Where a refusal must start to count: a refusal leads the answer, it is not quoted at its end.
REFUSAL_WINDOW = 200
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def _verdict(ok: bool, good: str, bad: str, explanation: str | None = None) -> Verdict:
    return Verdict(1.0 if ok else 0.0, good if ok else bad, explanation, not ok)


def refusal(options: Mapping[str, Any]) -> Callable[[Answered], Verdict]:
    phrases = tuple(p.lower() for p in options.get("phrases") or REFUSALS)

    def evaluate(call: Answered) -> Verdict:
        head = call.answer[:REFUSAL_WINDOW].lower().replace("\u2019", "'")
        return _verdict(not any(p in head for p in phrases), "answered", "refused")

    return evaluate


def json_answer(options: Mapping[str, Any]) -> Callable[[Answered], Verdict]:
    schema = options.get("schema")
    validator: Any = None
    if schema is not None:
        import jsonschema

        validator = jsonschema.validators.validator_for(schema)(schema)

    def evaluate(call: Answered) -> Verdict:
        text = call.answer.strip()
        fenced = _FENCE.match(text)
        try:
            value = json.loads(fenced.group(1) if fenced else text)
        except ValueError:
            return Verdict(0.0, "invalid_json", None, True)
        if validator is not None:
            error = next(iter(validator.iter_errors(value)), None)
            if error is not None:
                where = "/".join(str(p) for p in error.absolute_path) or "the answer"
                return Verdict(0.0, "schema_mismatch", f"{where}: {error.validator} failed", True)
        return Verdict(1.0, "valid", None, False)

    return evaluate


def length(options: Mapping[str, Any]) -> Callable[[Answered], Verdict]:
    low, high = int(options.get("min", 0)), options.get("max")

    def evaluate(call: Answered) -> Verdict:
        size = len(call.answer)
        if size < low:
            return Verdict(0.0, "too_short", f"{size} characters, fewer than {low}", True)
        if high is not None and size > high:
            return Verdict(0.0, "too_long", f"{size} characters, more than {high}", True)
        return Verdict(1.0, "within_bounds", None, False)

    return evaluate


def regex(options: Mapping[str, Any]) -> Callable[[Answered], Verdict]:
    pattern: re.Pattern[str] = options["compiled"]
    wanted = options.get("expect", "present") == "present"

    def evaluate(call: Answered) -> Verdict:
        found = pattern.search(call.answer) is not None
        return _verdict(found == wanted, "as_expected", "present" if found else "absent")

    return evaluate


def pii(options: Mapping[str, Any]) -> Callable[[Answered], Verdict]:
    found: list[str] = []
    redactor = build_redactor(on_redact=found.append)  # one worker thread runs an evaluator at a time

    def evaluate(call: Answered) -> Verdict:
        found.clear()
        redactor.redact(call.answer)
        kinds = sorted(set(found))
        return _verdict(not kinds, "no_pii", "pii_found", f"found: {', '.join(kinds)}" if kinds else None)

    return evaluate


def tool_call(options: Mapping[str, Any]) -> Callable[[Answered], Verdict]:
    tool = options.get("tool")
    wanted = options.get("expect", "made") == "made"

    def evaluate(call: Answered) -> Verdict:
        made = bool(call.tool_calls) if tool is None else tool in call.tool_calls
        return _verdict(made == wanted, "as_expected", "tool_called" if made else "no_tool_call")

    return evaluate


RULES: dict[str, Callable[[Mapping[str, Any]], Callable[[Answered], Verdict]]] = {
    "refusal": refusal,
    "json": json_answer,
    "length": length,
    "regex": regex,
    "pii": pii,
    "tool_call": tool_call,
}
