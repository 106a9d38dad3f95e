"""The online evaluators an app runs: declared in ``GLASSBOX_EVALUATORS_FILE`` (YAML) or in code, checked once.

    evaluators:
      - name: answer-is-json
        version: "2"
        kind: json              # refusal | json | length | regex | pii | tool_call | judge
        sample_rate: 1.0        # share of matching calls evaluated, 0..1 (default 1)
        when: {model: [gpt-4o-mini], agent: [support], tenant: [acme], operation: [chat], prompt: [support-answer]}
        schema: {type: object, required: [answer]}

Every mistake is reported at start-up with the evaluator's place in the file and what is expected (a
:class:`EvaluatorConfigError`), so an app never starts with an evaluator that cannot run.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS = ("refusal", "json", "length", "regex", "pii", "tool_call", "judge", "code")
FILTERS = ("model", "agent", "tenant", "operation", "prompt")
_NAME = re.compile(r"^[A-Za-z0-9_.:/@-]{1,64}$")
_VERSION = re.compile(r"^[A-Za-z0-9_.+-]{1,32}$")
# What each kind reads from its entry beyond the common keys, with the type each must have.
_KIND_KEYS: dict[str, dict[str, type | tuple[type, ...]]] = {
    "refusal": {"phrases": list},
    "json": {"schema": dict},
    "length": {"min": int, "max": int},
    "regex": {"pattern": str, "expect": str},
    "pii": {},
    "tool_call": {"expect": str, "tool": str},
    "judge": {
        "sdk": str,
        "max_tokens": int,
        "model": str,
        "url": str,
        "api_key_env": str,
        "prompt": str,
        "pass_score": (int, float),
        "timeout": (int, float),
    },
}
_COMMON = {"name", "version", "kind", "sample_rate", "when", "pass_score"}


class EvaluatorConfigError(ValueError):
    """An evaluator that cannot run as declared: says which one and why."""


@dataclass(frozen=True)
class Evaluator:
    name: str
    version: str
    sample_rate: float
    when: Mapping[str, frozenset[str]]
    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)
    # A code evaluator's function (kind "code"): (Answered) -> Verdict
    function: Callable[..., Any] | None = None

    def matches(self, values: Mapping[str, str | None]) -> bool:
        """when: filter -> accepted values; a call matches when, for each filter given, its value is one of them."""
        return all(values.get(key) in accepted for key, accepted in self.when.items())


def _fail(where: str, message: str) -> EvaluatorConfigError:
    return EvaluatorConfigError(f"evaluator {where}: {message}")


def check_common(entry: Mapping[str, Any], where: str) -> tuple[str, str, float, dict[str, frozenset[str]]]:
    """(name, version, sample rate, filters) of an entry, checked: what every kind of evaluator has."""
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(where, "name must be 1-64 characters of letters, digits and _ . : / @ -")
    version = str(entry.get("version", "1"))
    if not _VERSION.match(version):
        raise _fail(where, "version must be 1-32 characters of letters, digits and _ . + -")
    rate = entry.get("sample_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 <= rate <= 1:
        raise _fail(where, f"sample_rate must be a number from 0 to 1, not {rate!r}")
    return name, version, float(rate), _when(entry.get("when"), where)


def parse_entry(entry: Any, where: str) -> Evaluator:
    """One evaluator from its YAML mapping; ``where`` names it in errors (``#2 (answer-is-json)``)."""
    if not isinstance(entry, dict):
        raise _fail(where, "must be a mapping with at least name and kind")
    name, version, rate, when = check_common(entry, where)
    where = f"{where} ({name})"
    kind = entry.get("kind")
    if kind not in _KIND_KEYS:
        raise _fail(where, f"kind must be one of {', '.join(k for k in KINDS if k != 'code')}, not {kind!r}")
    unknown = set(entry) - _COMMON - set(_KIND_KEYS[kind])
    if unknown:
        raise _fail(where, f"unknown key(s) {', '.join(sorted(unknown))} for kind {kind}")
    options: dict[str, Any] = {}
    for key, expected in _KIND_KEYS[kind].items():
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, expected):
                raise _fail(where, f"{key} has the wrong type ({type(value).__name__})")
            options[key] = value
    if "pass_score" in entry:
        options["pass_score"] = _pass_score(entry["pass_score"], where)
    _check_kind(kind, options, where)
    return Evaluator(name, version, rate, when, kind, options)


def _pass_score(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _fail(where, f"pass_score must be a number from 0 to 1, not {value!r}")
    return float(value)


def _when(value: Any, where: str) -> dict[str, frozenset[str]]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(where, f"when must map {', '.join(FILTERS)} to lists of values")
    out: dict[str, frozenset[str]] = {}
    for key, accepted in value.items():
        if key not in FILTERS:
            raise _fail(where, f"when: unknown filter {key!r} (known: {', '.join(FILTERS)})")
        values = [accepted] if isinstance(accepted, str) else accepted
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise _fail(where, f"when.{key} must be a value or a list of values")
        out[key] = frozenset(values)
    return out


def _check_kind(kind: str, options: dict[str, Any], where: str) -> None:
    if kind == "json" and "schema" in options:
        try:
            import jsonschema
        except ImportError:
            raise _fail(where, "a JSON schema needs the jsonschema package (glassbox-otel[evaluators])") from None
        try:
            jsonschema.validators.validator_for(options["schema"]).check_schema(options["schema"])
        except jsonschema.SchemaError as error:
            raise _fail(where, f"schema is not a valid JSON schema: {error.message}") from None
    if kind == "length":
        low, high = options.get("min", 0), options.get("max")
        if low < 0 or (high is not None and high < low):
            raise _fail(where, "length needs 0 <= min <= max")
        if "min" not in options and "max" not in options:
            raise _fail(where, "length needs min, max or both")
    if kind == "regex":
        if "pattern" not in options:
            raise _fail(where, "regex needs a pattern")
        try:
            options["compiled"] = re.compile(options["pattern"])
        except re.error as error:
            raise _fail(where, f"pattern does not compile: {error}") from None
        if options.setdefault("expect", "present") not in ("present", "absent"):
            raise _fail(where, "expect must be present or absent")
    if kind == "tool_call" and options.setdefault("expect", "made") not in ("made", "not_made"):
        raise _fail(where, "expect must be made or not_made")
    if kind == "refusal" and not all(isinstance(p, str) and p for p in options.get("phrases", [])):
        raise _fail(where, "phrases must be a list of non-empty strings")
    if kind == "judge":
        missing = [key for key in ("model", "url", "prompt") if key not in options]
        if missing:
            raise _fail(where, f"a judge needs {', '.join(missing)}")
        if "{answer}" not in options["prompt"]:
            raise _fail(where, "the judge's prompt must contain {answer} (and may contain {question}, {context})")
        try:
            options["prompt"].format(question="", answer="", context="")
        except (KeyError, IndexError, ValueError) as error:
            message = f"the judge's prompt has a placeholder other than question, answer, context: {error}"
            raise _fail(where, message) from None
        sdk = options.setdefault("sdk", "openai")
        if sdk not in ("openai", "anthropic"):
            raise _fail(where, f"sdk must be openai or anthropic, not {sdk!r}")
        try:
            importlib.import_module(sdk)
        except ImportError:
            raise _fail(where, f"a judge with sdk {sdk} needs the {sdk} package, which is not installed") from None


def load(path: str | Path) -> list[Evaluator]:
    """Every evaluator of the file, checked; names must be unique."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise EvaluatorConfigError(f"{path}: not valid YAML: {error}") from None
    entries = document.get("evaluators") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise EvaluatorConfigError(f"{path}: expected a top-level `evaluators:` list")
    found = [parse_entry(entry, f"#{index + 1}") for index, entry in enumerate(entries)]
    names = [e.name for e in found]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise EvaluatorConfigError(f"{path}: evaluator name(s) used twice: {', '.join(duplicated)}")
    return found
