"""Redaction of secrets and personal data from text, before it leaves the process.

One compiled pattern list serves log lines, log record attributes and captured prompt/completion content.
Each match becomes ``[REDACTED:<kind>]``; card-like digit runs are only redacted when they pass the Luhn
check, so order numbers and timestamps survive. Extra patterns come from ``GLASSBOX_REDACT_PATTERNS``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from glassbox import settings

# (kind, pattern). Order matters: the first alternative that matches at a position wins.
BUILTIN_PATTERNS: tuple[tuple[str, str], ...] = (
    ("bearer", r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    ("password", r"(?i)\b(?:password|passwd|pwd|secret|api[_-]?key|token)\b\s*[=:]\s*\"?[^\s\",;]{3,}"),
    (
        "api_key",
        r"\b(?:sk-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}|AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}"
        r"|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35})\b",
    ),
    ("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"),
    ("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"),
    ("card", r"\b(?:\d[ -]?){12,18}\d\b"),
    # Not a decimal number (0.00199993, 3.14159265358): no start right after "<digit>.", nor on one.
    (
        "phone",
        r"(?<![\w+])(?<!\d\.)(?!\d+\.\d+(?![.\d]))\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}\b",
    ),
)


# Cheap tests that tell when a text may hold a match (every built-in pattern needs one of these), so
# ordinary log lines skip the full patterns. Plain substring tests beat one case-insensitive alternation
# several times over. A property test checks that they never skip a match.
_LOWER_HINTS = ("bearer", "pass", "pwd", "secret", "key", "token", "sk-", "akia", "ghp_", "gho_", "ghu_", "ghs_",
                "ghr_", "xox", "aiza", "eyj")  # fmt: skip
_DIGIT_RUN = re.compile(r"\d[\d ().+.-]{5,}\d")


def may_contain_sensitive(text: str) -> bool:
    if "@" in text:
        return True
    lower = text.lower()
    for hint in _LOWER_HINTS:
        if hint in lower:
            return True
    return _DIGIT_RUN.search(text) is not None


_BUILTIN_KINDS = frozenset(kind for kind, _ in BUILTIN_PATTERNS)


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


@dataclass
class Redactor:
    patterns: tuple[tuple[str, str], ...] = BUILTIN_PATTERNS
    on_redact: Callable[[str], None] | None = None
    _regex: re.Pattern[str] = field(init=False, repr=False)
    _kinds: list[str] = field(init=False, repr=False)
    _always: bool = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._kinds = []
        parts = []
        for index, (kind, pattern) in enumerate(self.patterns):
            self._kinds.append(kind)
            # Inline flags must lead the whole expression, so scope them to the group.
            flags = ""
            if pattern.startswith("(?i)"):
                flags, pattern = "i", pattern[4:]
            group = f"(?P<g{index}>{pattern})"
            parts.append(f"(?{flags}:{group})" if flags else group)
        self._regex = re.compile("|".join(parts))
        # Custom patterns have no cheap hint: with any of them, every text is scanned.
        self._always = any(kind not in _BUILTIN_KINDS for kind in self._kinds)

    def _replace(self, match: re.Match[str]) -> str:
        group = match.lastgroup or ""
        kind = self._kinds[int(group[1:])] if group.startswith("g") else "custom"
        text = match.group(0)
        if kind == "card":
            digits = "".join(c for c in text if c.isdigit())
            if not luhn_valid(digits):
                return text
        if self.on_redact is not None:
            self.on_redact(kind)
        return f"[REDACTED:{kind}]"

    def redact(self, text: str) -> str:
        if not text or not (self._always or may_contain_sensitive(text)):
            return text
        return self._regex.sub(self._replace, text)

    def redact_value(self, value: object) -> object:
        """Redact a string or every string in a list/tuple/dict (span and log attribute values)."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, (list, tuple)):
            return type(value)(self.redact_value(v) for v in value)
        if isinstance(value, dict):
            return {k: self.redact_value(v) for k, v in value.items()}
        return value


def patterns_from_settings() -> tuple[tuple[str, str], ...]:
    raw = settings.get("GLASSBOX_REDACT_PATTERNS")
    extra: list[tuple[str, str]] = []
    for pattern in (p for p in raw.split(";;") if p.strip()):
        try:
            re.compile(pattern)
        except re.error as exc:
            import sys

            print(f"glassbox: ignoring GLASSBOX_REDACT_PATTERNS entry {pattern!r}: {exc}", file=sys.stderr)
            continue
        extra.append(("custom", pattern))
    return BUILTIN_PATTERNS + tuple(extra)


def build_redactor(on_redact: Callable[[str], None] | None = None) -> Redactor:
    return Redactor(patterns=patterns_from_settings(), on_redact=on_redact)
