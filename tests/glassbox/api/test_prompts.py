"""glassbox.prompt: the prompt name and version on GenAI spans and metric points, checked and bounded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.metrics import MeterProvider

import glassbox
from glassbox import conventions as c
from glassbox.api import prompts
from glassbox.instruments import Instruments
from glassbox.tenant_labels import PromptLimiter, version_order
from tests.conftest import Telemetry


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def fresh_prompts(telemetry: Telemetry) -> Iterator[Telemetry]:
    """Every prompt-version slot free, whatever ran before; the cap as configured after."""
    limiter = telemetry.instruments.prompts
    limit = limiter.limit
    limiter.forget()
    yield telemetry
    limiter.limit = limit
    limiter.forget()


@pytest.fixture
def oai(stub_url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{stub_url}/v1", api_key="sk-test", max_retries=0)


def model_spans(telemetry: Telemetry) -> list[Any]:
    return [s for s in telemetry.finished() if (s.attributes or {}).get(c.GEN_AI_OPERATION_NAME) == "chat"]


def prompt_of(attributes: Any) -> tuple[Any, Any]:
    attributes = dict(attributes or {})
    return attributes.get(c.PROMPT_NAME), attributes.get(c.PROMPT_VERSION)


def invalid(telemetry: Telemetry, field: str) -> float:
    return telemetry.total(c.METRIC_ATTRIBUTION_INVALID, field=field)


# --------------------------------------------------------------------------- the context


def test_the_block_sets_the_prompt_and_restores_none_after(telemetry: Telemetry) -> None:
    assert prompts.current() is None
    with glassbox.prompt("support-answer", version="7"):
        assert prompts.current() == ("support-answer", "7")
    assert prompts.current() is None


def test_the_inner_block_wins_and_the_outer_one_comes_back(telemetry: Telemetry) -> None:
    with glassbox.prompt("support-answer", version="7"):
        with glassbox.prompt("summary", version="2"):
            assert prompts.current() == ("summary", "2")
        assert prompts.current() == ("support-answer", "7")
    assert prompts.current() is None


def test_the_prompt_is_restored_when_the_block_raises(telemetry: Telemetry) -> None:
    with pytest.raises(KeyError), glassbox.prompt("support-answer", version="7"):
        raise KeyError("the app's own error goes through")
    assert prompts.current() is None


def test_a_decorated_function_runs_inside_its_prompt(telemetry: Telemetry) -> None:
    @glassbox.prompt("support-answer", version="8")
    def answer(question: str) -> tuple[str, tuple[str, str] | None]:
        return question, prompts.current()

    assert answer("why?") == ("why?", ("support-answer", "8"))
    assert answer.__name__ == "answer"
    assert prompts.current() is None


def test_decorated_coroutines_running_together_each_keep_their_prompt(telemetry: Telemetry) -> None:
    @glassbox.prompt("support-answer", version="7")
    async def old(ready: asyncio.Event, go: asyncio.Event) -> tuple[str, str] | None:
        ready.set()
        await go.wait()  # the other coroutine sets its prompt meanwhile
        return prompts.current()

    @glassbox.prompt("support-answer", version="8")
    async def new(ready: asyncio.Event, go: asyncio.Event) -> tuple[str, str] | None:
        await ready.wait()
        seen = prompts.current()
        go.set()
        return seen

    async def both() -> list[tuple[str, str] | None]:
        ready, go = asyncio.Event(), asyncio.Event()
        return list(await asyncio.gather(old(ready, go), new(ready, go)))

    assert asyncio.run(both()) == [("support-answer", "7"), ("support-answer", "8")]
    assert asyncio.iscoroutinefunction(old)


def test_an_int_version_is_its_decimal_string(telemetry: Telemetry) -> None:
    with glassbox.prompt("support-answer", version=12):
        assert prompts.current() == ("support-answer", "12")


@pytest.mark.parametrize(
    ("name", "version", "expected"),
    [
        ("", "7", (c.PLACEHOLDER_INVALID, "7")),
        ("x" * 129, "7", (c.PLACEHOLDER_INVALID, "7")),
        ("support answer", "7", (c.PLACEHOLDER_INVALID, "7")),
        ("support-answer", "", ("support-answer", c.PLACEHOLDER_INVALID)),
        ("support-answer", "7\n", ("support-answer", c.PLACEHOLDER_INVALID)),
        ("support-answer", None, ("support-answer", c.PLACEHOLDER_INVALID)),
        ("support-answer", True, ("support-answer", c.PLACEHOLDER_INVALID)),
        (None, 1.5, (c.PLACEHOLDER_INVALID, c.PLACEHOLDER_INVALID)),
    ],
)
def test_a_bad_name_or_version_is_invalid_and_counted_never_raised(
    telemetry: Telemetry, name: Any, version: Any, expected: tuple[str, str]
) -> None:
    before = {field: invalid(telemetry, field) for field in ("prompt_name", "prompt_version")}
    with glassbox.prompt(name, version=version):
        assert prompts.current() == expected
    assert invalid(telemetry, "prompt_name") == before["prompt_name"] + (expected[0] == c.PLACEHOLDER_INVALID)
    assert invalid(telemetry, "prompt_version") == before["prompt_version"] + (expected[1] == c.PLACEHOLDER_INVALID)


# --------------------------------------------------------------------------- spans and metric points


def test_model_calls_inside_carry_the_prompt_on_span_and_metrics(fresh_prompts: Telemetry, oai: openai.OpenAI) -> None:
    telemetry = fresh_prompts
    name = unique("support-answer")
    with glassbox.prompt(name, version="7"):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one two three"}])
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "outside"}])
    inside, outside = model_spans(telemetry)
    assert prompt_of(inside.attributes) == (name, "7")
    assert prompt_of(outside.attributes) == (None, None)
    labels = {"glassbox__prompt__name": name, "glassbox__prompt__version": "7"}
    for metric in (c.METRIC_TOKEN_USAGE, c.METRIC_OPERATION_DURATION):
        [*points] = telemetry.points(metric, **labels)
        assert points and all(p.count >= 1 for p in points), metric
    cost = dict(inside.attributes or {})[c.COST_USD]
    assert cost > 0
    assert telemetry.total(c.METRIC_COST, **labels) == pytest.approx(cost)


def test_a_stream_read_after_the_block_costs_under_the_prompt_it_started_in(
    fresh_prompts: Telemetry, oai: openai.OpenAI
) -> None:
    telemetry = fresh_prompts
    name = unique("support-answer")
    with glassbox.prompt(name, version="3"):
        stream = oai.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "one two"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    for _ in stream:
        pass
    [span] = model_spans(telemetry)
    assert prompt_of(span.attributes) == (name, "3")
    cost = dict(span.attributes or {})[c.COST_USD]
    assert telemetry.total(c.METRIC_COST, glassbox__prompt__name=name, glassbox__prompt__version="3") == (
        pytest.approx(cost)
    )


def test_an_evaluation_inside_the_block_is_counted_under_the_prompt(fresh_prompts: Telemetry) -> None:
    telemetry = fresh_prompts
    name, evaluation = unique("support-answer"), unique("faithfulness")
    with glassbox.prompt(name, version="7"):
        glassbox.evaluation(evaluation, score=0.2)
    glassbox.evaluation(evaluation, score=0.9)
    labelled = {"glassbox__prompt__name": name, "glassbox__prompt__version": "7"}
    assert telemetry.total(
        c.METRIC_EVALUATION_RESULTS, gen_ai__evaluation__name=evaluation, glassbox__evaluation__outcome="rejected",
        **labelled,
    ) == 1  # fmt: skip
    [inside] = telemetry.points(c.METRIC_EVALUATION_SCORE, gen_ai__evaluation__name=evaluation, **labelled)
    assert inside.sum == 0.2
    [outside] = [
        p
        for p in telemetry.points(c.METRIC_EVALUATION_SCORE, gen_ai__evaluation__name=evaluation)
        if c.PROMPT_NAME not in dict(p.attributes)
    ]
    assert outside.sum == 0.9


def test_pairs_beyond_the_cap_are_other_and_counted(fresh_prompts: Telemetry) -> None:
    telemetry = fresh_prompts
    telemetry.instruments.prompts.limit = 2
    evaluation = unique("faithfulness")
    name = unique("support-answer")
    before = telemetry.total(c.METRIC_PROMPT_OVERFLOW)
    for version in ("1", "2", "3", "1", "4"):
        with glassbox.prompt(name, version=version):
            glassbox.evaluation(evaluation, score=1.0)
    seen = {
        prompt_of(p.attributes): p.value
        for p in telemetry.points(c.METRIC_EVALUATION_RESULTS, gen_ai__evaluation__name=evaluation)
    }
    assert seen == {(name, "1"): 2, (name, "2"): 1, (c.PLACEHOLDER_OVERFLOW, c.PLACEHOLDER_OVERFLOW): 2}
    # Each measurement labelled _other is counted: two blocks over the cap, a result and a score in each.
    assert telemetry.total(c.METRIC_PROMPT_OVERFLOW) == before + 2 * 2


def test_the_limiter_keeps_placeholders_out_of_the_cap() -> None:
    overflows: list[int] = []
    limiter = PromptLimiter(1, on_overflow=lambda: overflows.append(1))
    invalid_pair = {c.PROMPT_NAME: c.PLACEHOLDER_INVALID, c.PROMPT_VERSION: "7"}
    assert limiter.labels(c.PLACEHOLDER_INVALID, "7") == invalid_pair
    assert limiter.labels("a", "1") == {c.PROMPT_NAME: "a", c.PROMPT_VERSION: "1"}
    assert limiter.labels("a", "2") == {c.PROMPT_NAME: c.PLACEHOLDER_OVERFLOW, c.PROMPT_VERSION: c.PLACEHOLDER_OVERFLOW}
    assert overflows == [1]


def test_the_cap_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASSBOX_PROMPT_VERSIONS_MAX", "3")
    assert Instruments(meter_provider=MeterProvider()).prompts.limit == 3
    monkeypatch.delenv("GLASSBOX_PROMPT_VERSIONS_MAX")
    assert Instruments(meter_provider=MeterProvider()).prompts.limit == 50


# --------------------------------------------------------------------------- baselines


def test_versions_order_numerically_when_numbers_else_as_strings() -> None:
    versions = ["12", "1.10", "7", "1.9", "b", "a"]
    assert sorted(versions, key=version_order) == ["1.9", "1.10", "7", "12", "a", "b"]


def test_each_version_is_compared_with_the_next_lower_one_or_the_one_named(fresh_prompts: Telemetry) -> None:
    telemetry = fresh_prompts
    name, other = unique("support-answer"), unique("summary")
    glassbox.prompt(name, version="12")
    glassbox.prompt(name, version="7")
    glassbox.prompt(name, version="9")
    glassbox.prompt(name, version="draft")  # no lower version of its kind: no baseline
    glassbox.prompt(other, version="3", baseline="1")  # named by the app, though never declared here
    glassbox.prompt(other, version="4", baseline="bad value")  # an invalid baseline: the next lower one
    gauge = {
        (a.get(c.PROMPT_NAME), a.get(c.PROMPT_VERSION)): a.get(c.PROMPT_BASELINE)
        for a in (dict(p.attributes) for p in telemetry.points(c.METRIC_PROMPT_VERSIONS))
        if a.get(c.PROMPT_NAME) in (name, other)
    }
    assert gauge == {
        (name, "7"): None,
        (name, "9"): "7",
        (name, "12"): "9",
        (name, "draft"): None,
        (other, "3"): "1",
        (other, "4"): "3",
    }
