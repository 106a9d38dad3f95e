"""LLM-as-judge: a model rates an answer, through a model SDK the app has: ``sdk: openai`` (the default: any
OpenAI-compatible URL) or ``sdk: anthropic`` (Anthropic's messages API at ``url``).

The call is made like any other model call of the app, so the guard stands in front of it (kill switch, budgets)
and it is priced and counted, under its own tenant, ``_glassbox_eval`` (``GLASSBOX_EVALUATION_TENANT``): give
that tenant a budget in the budgets file to cap what judging costs. A judge's call is never evaluated itself.

The judge must answer with a JSON object: ``{"score": 0.8, "label": "helpful", "explanation": "..."}``, the
score from 0 to 1, the label and explanation optional (the first JSON object in its answer is read). Anything
else is a :class:`JudgeOutOfFormat`: counted, and no result is recorded.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from glassbox import attribution, settings
from glassbox.evaluators.rules import Answered, Verdict

_OBJECT = re.compile(r"\{.*\}", re.DOTALL)
DEFAULT_PASS_SCORE = 0.5


class JudgeOutOfFormat(ValueError):
    """The judge answered something that is not a verdict."""


def parse(text: str, pass_score: float) -> Verdict:
    """The verdict in a judge's answer, or JudgeOutOfFormat saying what was wrong."""
    found = _OBJECT.search(text)
    if found is None:
        raise JudgeOutOfFormat("no JSON object in the judge's answer")
    try:
        value = json.loads(found.group(0))
    except ValueError:
        raise JudgeOutOfFormat("the judge's answer holds no valid JSON object") from None
    score = value.get("score") if isinstance(value, dict) else None
    if (
        isinstance(score, bool)
        or not isinstance(score, (int, float))
        or not math.isfinite(score)
        or not 0 <= score <= 1
    ):
        raise JudgeOutOfFormat(f"the judge's score is not a number from 0 to 1: {score!r}")
    label = value.get("label")
    explanation = value.get("explanation")
    return Verdict(
        float(score),
        str(label)[:128] if label is not None else None,
        str(explanation) if explanation is not None else None,
        score < pass_score,
    )


def _ask_openai(options: Mapping[str, Any], api_key: str, timeout: float) -> Callable[[str], str]:
    import openai

    client = openai.OpenAI(base_url=options["url"], api_key=api_key, max_retries=0, timeout=timeout)

    def ask(prompt: str) -> str:
        response = client.chat.completions.create(
            model=options["model"], messages=[{"role": "user", "content": prompt}]
        )
        return (response.choices[0].message.content or "") if response.choices else ""

    return ask


def _ask_anthropic(options: Mapping[str, Any], api_key: str, timeout: float) -> Callable[[str], str]:
    import anthropic

    client = anthropic.Anthropic(base_url=options["url"], api_key=api_key, max_retries=0, timeout=timeout)

    def ask(prompt: str) -> str:
        response = client.messages.create(
            model=options["model"], max_tokens=int(options.get("max_tokens", 512)),
            messages=[{"role": "user", "content": prompt}],
        )  # fmt: skip
        return "\n".join(str(getattr(block, "text", "")) for block in response.content if block.type == "text")

    return ask


SDKS = {"openai": _ask_openai, "anthropic": _ask_anthropic}


def judge(options: Mapping[str, Any]) -> Callable[[Answered], Verdict]:
    api_key = os.environ.get(options.get("api_key_env", ""), "") or "not-set"
    ask = SDKS[options.get("sdk", "openai")](options, api_key, float(options.get("timeout", 30)))
    pass_score = float(options.get("pass_score", DEFAULT_PASS_SCORE))
    tenant = settings.EVALUATION_TENANT.get()

    def evaluate(call: Answered) -> Verdict:
        prompt = options["prompt"].format(question=call.question, answer=call.answer, context=call.context or "")
        with attribution.attributed_to(tenant):
            text = ask(prompt)
        return parse(text, pass_score)

    return evaluate
