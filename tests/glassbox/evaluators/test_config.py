"""Evaluators are checked when they are declared: every mistake names the evaluator and what is expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from glassbox.evaluators.config import EvaluatorConfigError, load, parse_entry


def test_a_file_of_every_kind_loads(tmp_path: Path) -> None:
    path = tmp_path / "evaluators.yaml"
    path.write_text(
        """
evaluators:
  - {name: no-refusal, kind: refusal}
  - {name: answer-json, version: "2", kind: json, schema: {type: object, required: [answer]}}
  - {name: short, kind: length, max: 2000}
  - {name: cites, kind: regex, pattern: '\\[\\d+\\]', expect: present, when: {prompt: support-answer}}
  - {name: no-pii, kind: pii, sample_rate: 0.5}
  - {name: uses-tools, kind: tool_call, tool: lookup_account}
  - {name: helpful, kind: judge, model: gpt-4o-mini, url: 'http://127.0.0.1:9/v1', sample_rate: 0.1,
     prompt: 'Rate the answer {answer} to {question}', pass_score: 0.7}
"""
    )
    found = load(path)
    assert [(e.name, e.kind, e.version) for e in found] == [
        ("no-refusal", "refusal", "1"), ("answer-json", "json", "2"), ("short", "length", "1"), ("cites", "regex", "1"),
        ("no-pii", "pii", "1"), ("uses-tools", "tool_call", "1"), ("helpful", "judge", "1"),
    ]  # fmt: skip
    assert found[3].when == {"prompt": frozenset({"support-answer"})}
    assert found[3].matches({"prompt": "support-answer"}) and not found[3].matches({"prompt": "other"})
    assert found[4].sample_rate == 0.5 and found[6].options["pass_score"] == 0.7


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "json"}, "name must be"),
        ({"name": "x", "kind": "vibes"}, "kind must be one of"),
        ({"name": "x", "kind": "json", "sample_rate": 2}, "sample_rate must be a number from 0 to 1"),
        ({"name": "x", "kind": "json", "schema": {"type": "nonsense"}}, "not a valid JSON schema"),
        ({"name": "x", "kind": "length"}, "length needs min, max or both"),
        ({"name": "x", "kind": "length", "min": 10, "max": 5}, "0 <= min <= max"),
        ({"name": "x", "kind": "regex", "pattern": "("}, "pattern does not compile"),
        ({"name": "x", "kind": "regex", "pattern": "a", "expect": "maybe"}, "expect must be present or absent"),
        ({"name": "x", "kind": "tool_call", "expect": "sometimes"}, "expect must be made or not_made"),
        ({"name": "x", "kind": "judge", "model": "m", "url": "u"}, "a judge needs prompt"),
        ({"name": "x", "kind": "judge", "model": "m", "url": "u", "prompt": "no placeholder"}, "must contain {answer}"),
        ({"name": "x", "kind": "judge", "model": "m", "url": "u", "prompt": "{answer} {secret}"}, "placeholder other"),
        ({"name": "x", "kind": "pii", "when": {"colour": ["red"]}}, "unknown filter 'colour'"),
        ({"name": "x", "kind": "pii", "schema": {}}, "unknown key(s) schema for kind pii"),
        ({"name": "x", "kind": "length", "max": "long"}, "max has the wrong type"),
        (
            {"name": "x", "kind": "judge", "model": "m", "url": "u", "prompt": "{answer}", "sdk": "cohere"},
            "sdk must be",
        ),
    ],
)
def test_a_mistake_names_the_evaluator_and_what_is_expected(entry: dict[str, object], message: str) -> None:
    with pytest.raises(EvaluatorConfigError, match="evaluator #1") as refused:
        parse_entry(entry, "#1")
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("evaluators: [", "not valid YAML"),
        ("judges: []", "expected a top-level `evaluators:` list"),
        ("evaluators:\n  - {name: a, kind: pii}\n  - {name: a, kind: refusal}\n", "used twice: a"),
    ],
)
def test_a_broken_file_is_named(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "evaluators.yaml"
    path.write_text(text)
    with pytest.raises(EvaluatorConfigError, match=r"evaluators\.yaml") as refused:
        load(path)
    assert message in str(refused.value)
