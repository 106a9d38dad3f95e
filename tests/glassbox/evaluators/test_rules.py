"""The rule evaluators, each on answers it must accept and answers it must reject."""

from __future__ import annotations

import pytest

from glassbox.evaluators.config import parse_entry
from glassbox.evaluators.rules import RULES, Answered, Verdict


def verdict(entry: dict[str, object], answer: str, tools: tuple[str, ...] = ()) -> Verdict:
    evaluator = parse_entry({"name": "rule", **entry}, "#1")
    return RULES[evaluator.kind](evaluator.options)(Answered("What is our refund policy?", answer, tools))


@pytest.mark.parametrize(
    ("entry", "answer", "tools", "label", "rejected"),
    [
        ({"kind": "refusal"}, "Refunds are accepted within 30 days.", (), "answered", False),
        ({"kind": "refusal"}, "I’m sorry, but I can’t help with that.", (), "refused", True),
        (
            {"kind": "refusal"},
            "Refunds take 30 days. " * 10 + "Saying 'I cannot help' is not our way.",
            (),
            "answered",
            False,
        ),
        ({"kind": "refusal", "phrases": ["as an ai"]}, "As an AI, no.", (), "refused", True),
        ({"kind": "json"}, '{"answer": "30 days"}', (), "valid", False),
        ({"kind": "json"}, '```json\n{"answer": "30 days"}\n```', (), "valid", False),
        ({"kind": "json"}, "30 days", (), "invalid_json", True),
        (
            {"kind": "json", "schema": {"type": "object", "required": ["answer"]}},
            '{"days": 30}',
            (),
            "schema_mismatch",
            True,
        ),
        ({"kind": "length", "min": 5, "max": 20}, "30 days, no receipt", (), "within_bounds", False),
        ({"kind": "length", "min": 5}, "ok", (), "too_short", True),
        ({"kind": "length", "max": 5}, "a long answer", (), "too_long", True),
        ({"kind": "regex", "pattern": r"\[\d+\]"}, "Within 30 days [1].", (), "as_expected", False),
        ({"kind": "regex", "pattern": r"\[\d+\]"}, "Within 30 days.", (), "absent", True),
        ({"kind": "regex", "pattern": "guarantee", "expect": "absent"}, "We guarantee it.", (), "present", True),
        ({"kind": "pii"}, "Refunds take 30 days.", (), "no_pii", False),
        ({"kind": "pii"}, "Write to jane.doe@example.com for it.", (), "pii_found", True),
        ({"kind": "tool_call"}, "", ("lookup_account",), "as_expected", False),
        ({"kind": "tool_call", "tool": "search_docs"}, "", ("lookup_account",), "no_tool_call", True),
        ({"kind": "tool_call", "expect": "not_made"}, "", ("lookup_account",), "tool_called", True),
    ],
)
def test_each_rule_accepts_and_rejects_what_it_should(
    entry: dict[str, object], answer: str, tools: tuple[str, ...], label: str, rejected: bool
) -> None:
    found = verdict(entry, answer, tools)
    assert (found.label, found.rejected, found.score) == (label, rejected, 0.0 if rejected else 1.0)


def test_the_pii_rule_names_kinds_never_values() -> None:
    found = verdict({"kind": "pii"}, "Call +1 415-555-0132 or write to jane.doe@example.com")
    assert found.explanation is not None and "email" in found.explanation
    assert "jane.doe" not in found.explanation and "555" not in found.explanation
