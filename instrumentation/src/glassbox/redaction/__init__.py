"""Redaction of secrets and personal data from everything the process exports.

One :class:`Redactor` pass serves span attributes and span events (exception events included), span status
messages, log bodies and log attributes of every type, captured prompt/completion content and the
``glassbox story`` bundle:

* a string is searched by the detectors of :mod:`glassbox.redaction.detectors` (detect-secrets' plugin
  expressions and keywords, python-stdnum's checksums, libphonenumber's validity test, and glassbox's own
  shapes); each finding becomes ``[REDACTED:<kind>]`` and is counted by kind;
* the value of a field whose name is a secret's (``password``, ``api_key``, ``*_token``, ``authorization``,
  ``cookie``, ...) becomes ``[REDACTED:secret_field]`` whole, whatever its type;
* URL attributes (``url.full``, ``url.query``, ...) lose their user information (``REDACTED:REDACTED``) and
  the values of sensitive query parameters (``REDACTED``), as the HTTP semantic conventions describe;
* sequences are redacted item by item, mappings value by value (nested), and integers of seven digits or more
  are checked as card and phone numbers. Metric attribute values are not redacted: metric labels are bounded
  sets chosen by code (the collector still checks them).

Cost: a string first meets one expression made of every detector's cheap condition (literal substrings such
as ``AKIA`` or ``@``, keywords, a run of seven digits); only the few strings that meet it are searched in full,
and a short string searched in full without a finding is remembered, so that a repeated one costs a set lookup.
Extra expressions come from ``GLASSBOX_REDACT_PATTERNS`` (``;;``-separated); they have no cheap condition, so
with any of them every string is searched.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Any

from glassbox import conventions as c
from glassbox import settings
from glassbox.redaction import urls
from glassbox.redaction.detectors import (
    SEMCONV_SENSITIVE_QUERY_KEYS,
    Detector,
    QuickTest,
    builtin_detectors,
    quick_test,
    secret_key_pattern,
)

__all__ = ["MASK_SECRET_FIELD", "Redactor", "build_redactor", "marker", "patterns_from_settings"]

SECRET_FIELD = "secret_field"


def marker(kind: str) -> str:
    """What a finding of ``kind`` is replaced with."""
    return f"[REDACTED:{kind}]"


MASK_SECRET_FIELD = marker(SECRET_FIELD)
# No built-in detector matches fewer characters than this ("pwd=x", "a@b.co", seven digits).
_SHORTEST_MATCH = 5
# Strings searched in full without a finding are remembered up to this length and this many.
_CLEAN_MAX_LENGTH = 256
_CLEAN_MAX_ENTRIES = 1024
# Library matches carry boundary characters (a space, a quote, "=") that are not part of the secret.
_BOUNDARY = " \t\r\n\"'=:"
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.")
# Integers this large may be card or phone numbers; smaller ones (counts, ports, status codes) are not searched.
_SMALLEST = 1_000_000


@lru_cache(maxsize=8)
def _quick_test(detectors: tuple[Detector, ...]) -> QuickTest:
    return quick_test(detectors)


@lru_cache(maxsize=1)
def _secret_name_expression() -> re.Pattern[str]:
    return re.compile(secret_key_pattern())


class Redactor:
    """Redacts strings, attribute values and nested values; ``on_redact(kind)`` is called once per finding."""

    def __init__(
        self,
        detectors: Iterable[Detector] | None = None,
        custom: Iterable[re.Pattern[str]] = (),
        on_redact: Callable[[str], None] | None = None,
    ) -> None:
        self.detectors = tuple(builtin_detectors() if detectors is None else detectors)
        self.custom = tuple(custom)
        self.on_redact = on_redact
        self._quick = _quick_test(self.detectors)
        self._shortest = 1 if self.custom else _SHORTEST_MATCH
        # Strings searched without a finding, in two generations: when the newer is full it becomes the older and
        # the older is dropped, so that strings seen again and again stay while one-off ones (ids) pass through.
        self._clean: set[str] = set()
        self._clean_older: set[str] = set()
        self._secret_names: dict[str, bool] = {}
        self._plain_names: dict[str, bool] = {}

    # ------------------------------------------------------------------ strings
    def _count(self, kind: str) -> None:
        if self.on_redact is not None:
            self.on_redact(kind)

    def _chosen(self, text: str) -> set[int]:
        """The detectors that may match ``text``: those of every hint and trigger found (searching again from
        the character after each finding, so that none hides another)."""
        quick = self._quick
        chosen: set[int] = set()
        lowered = text.lower()
        match = quick.words.search(lowered)
        while match is not None:
            chosen.update(quick.word_detectors[match.group()])
            match = quick.words.search(lowered, match.start() + 1)
        if quick.triggers is not None:
            match = quick.triggers.search(text)
            while match is not None:
                chosen.update(quick.trigger_detectors[match.lastgroup or ""])
                match = quick.triggers.search(text, match.start() + 1)
        for expression, indexes in quick.apart:
            if expression.search(text) is not None:
                chosen.update(indexes)
        return chosen

    def findings(self, text: str, every_detector: bool = False) -> list[tuple[int, int, str]]:
        """(start, end, kind) of every finding in ``text``, in order, overlapping findings merged.
        ``every_detector`` runs them all, cheap test or not (what tests compare the cheap test against)."""
        spans: list[tuple[int, int, str]] = []
        chosen = range(len(self.detectors)) if every_detector else sorted(self._chosen(text))
        lowered = text.lower() if chosen else text
        for index in chosen:
            detector = self.detectors[index]
            if detector.requires and not any(part in lowered for part in detector.requires):
                continue
            if detector.requires_pattern is not None and detector.requires_pattern.search(text) is None:
                continue
            spans.extend(self._detect(detector, text))
        for pattern in self.custom:
            spans.extend((m.start(), m.end(), "custom") for m in pattern.finditer(text) if m.end() > m.start())
        if len(spans) < 2:
            return spans
        spans.sort(key=lambda span: (span[0], -span[1]))
        merged = [spans[0]]
        for start, end, kind in spans[1:]:
            last_start, last_end, last_kind = merged[-1]
            if start < last_end:
                if end > last_end:
                    merged[-1] = (last_start, end, last_kind)
            else:
                merged.append((start, end, kind))
        return merged

    @staticmethod
    def _matches(detector: Detector, pattern: re.Pattern[str], text: str) -> Iterable[re.Match[str]]:
        if detector.anchor is None:
            yield from pattern.finditer(text)
            return
        lowered = text.lower()
        if len(lowered) != len(text):  # lower-casing moved the positions: search the whole text
            yield from pattern.finditer(text)
            return
        end = 0
        for hit in detector.anchor.finditer(lowered):
            if hit.start() < end:
                continue
            match = pattern.match(text, hit.start())
            if match is not None:
                end = match.end()
                yield match

    @classmethod
    def _detect(cls, detector: Detector, text: str) -> Iterable[tuple[int, int, str]]:
        for pattern in detector.patterns:
            for match in cls._matches(detector, pattern, text):
                if detector.word_start and match.start() > 0:
                    before = text[match.start() - 1]
                    if before.isalnum() or before == "_":
                        continue
                if detector.check is not None:
                    span = detector.check(text, match)
                    if span is None:
                        continue
                    start, end = span
                elif detector.group is not None and pattern.groups >= detector.group and match.group(detector.group):
                    start, end = match.span(detector.group)
                else:
                    start, end = match.span()
                    while start < end and text[start] in _BOUNDARY:
                        start += 1
                    while end > start and text[end - 1] in _BOUNDARY:
                        end -= 1
                if detector.extend:
                    while end < len(text) and text[end] in _TOKEN_CHARS:
                        end += 1
                    while end > start and text[end - 1] == ".":
                        end -= 1
                # A value replaced already (by an instrumentation, as the HTTP conventions say, or by an earlier
                # pass) is left as it is, so that redacting twice changes nothing.
                if end > start and text[start:end] != urls.REDACTED and not text.startswith("[REDACTED:", start):
                    yield start, end, detector.kind

    def _known_clean(self, text: str) -> bool:
        if text in self._clean:
            return True
        if text in self._clean_older:
            self._remember_clean(text)
            return True
        return False

    def _remember_clean(self, text: str) -> None:
        if len(self._clean) >= _CLEAN_MAX_ENTRIES:
            self._clean_older, self._clean = self._clean, set()
        self._clean.add(text)

    def redact(self, text: str) -> str:
        """``text`` with every finding replaced by ``[REDACTED:<kind>]``."""
        if len(text) < self._shortest or self._known_clean(text):
            return text
        found = self.findings(text)
        if not found:
            if len(text) <= _CLEAN_MAX_LENGTH:
                self._remember_clean(text)
            return text
        pieces = []
        position = 0
        for start, end, kind in found:
            pieces.append(text[position:start])
            pieces.append(marker(kind))
            self._count(kind)
            position = end
        pieces.append(text[position:])
        return "".join(pieces)

    # ------------------------------------------------------------------ names and attributes
    def is_secret_name(self, name: str) -> bool:
        """True when a field named ``name`` holds a secret (``db.password``, ``x-api-key``, ``access_token``), or a
        query parameter the HTTP semantic conventions name as sensitive (``AWSAccessKeyId``, ``sig``, ...)."""
        known = self._secret_names.get(name)
        if known is None:
            known = name in SEMCONV_SENSITIVE_QUERY_KEYS or _secret_name_expression().search(name) is not None
            if len(self._secret_names) >= _CLEAN_MAX_ENTRIES:
                self._secret_names.clear()
            self._secret_names[name] = known
        return known

    def _redact_url(self, name: str, text: str) -> str:
        if name in c.URL_ATTRIBUTES:
            if "@" in text or "?" in text or "#" in text:
                text = urls.sanitize_url(text, self.is_secret_name, self._count)
        elif "=" in text:
            text = urls.sanitize_pairs(text, self.is_secret_name, self._count)
        return self.redact(text)

    def redact_attribute(self, name: str, value: Any) -> Any:
        """One span or log attribute: ``value`` itself when nothing changes, else its redacted form."""
        kind = type(value)
        if kind is str:
            if not value:
                return value
            if self.is_secret_name(name):
                if value == MASK_SECRET_FIELD:
                    return value
                self._count(SECRET_FIELD)
                return MASK_SECRET_FIELD
            if name in c.URL_ATTRIBUTES or name in c.URL_QUERY_ATTRIBUTES:
                return self._redact_url(name, value)
            return self.redact(value)
        if kind is int:
            if self.is_secret_name(name):
                self._count(SECRET_FIELD)
                return MASK_SECRET_FIELD
            if -_SMALLEST < value < _SMALLEST:
                return value
            text = str(value)
            redacted = self.redact(text)
            return value if redacted is text else redacted
        if kind is tuple or kind is list:
            items = [self.redact_attribute(name, item) for item in value]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return tuple(items) if kind is tuple else items
        if isinstance(value, (dict, list, tuple)):  # log attributes may nest
            return self.redact_value(value, name)
        return value

    def _is_plain_name(self, name: str) -> bool:
        """True when a field named ``name`` is neither a secret's nor a URL's (cached per name)."""
        plain = self._plain_names.get(name)
        if plain is None:
            plain = not (self.is_secret_name(name) or name in c.URL_ATTRIBUTES or name in c.URL_QUERY_ATTRIBUTES)
            if len(self._plain_names) >= _CLEAN_MAX_ENTRIES:
                self._plain_names.clear()
            self._plain_names[name] = plain
        return plain

    def redact_attributes(self, attributes: Mapping[str, Any], skip: Iterable[str] = ()) -> dict[str, Any]:
        """The entries of ``attributes`` (but those in ``skip``) whose value redaction changes, redacted.

        The common case stays in this loop: a string under an ordinary name that is short or known clean, or a
        small integer, costs a few dictionary lookups."""
        changed: dict[str, Any] = {}
        skipped = skip if isinstance(skip, (set, frozenset)) else frozenset(skip)
        # The SDK's BoundedAttributes takes a lock on every read; its plain dict does not (spans that ended and
        # records being emitted are not written to any more).
        entries = getattr(attributes, "_dict", attributes)
        plain_names, clean, shortest = self._plain_names, self._clean, self._shortest  # clean: the newer generation
        for name, value in entries.items():
            if name in skipped:
                continue
            plain = plain_names.get(name)
            if plain is None:
                plain = self._is_plain_name(name)
            if plain:
                kind = type(value)
                if kind is str:
                    if len(value) < shortest or value in clean:
                        continue
                    redacted = self.redact(value)
                elif kind is bool or kind is float or (kind is int and -_SMALLEST < value < _SMALLEST):
                    continue
                else:
                    redacted = self.redact_attribute(name, value)
            else:
                redacted = self.redact_attribute(name, value)
            if redacted is not value:
                changed[name] = redacted
        return changed

    def redact_value(self, value: Any, name: str | None = None) -> Any:
        """A string, or every string in nested lists, tuples and dicts (log bodies, extras, bundles).

        A value under a secret's name is masked whole; dict keys are redacted like strings.
        """
        if isinstance(value, dict):
            result = {}
            for key, item in value.items():
                new_key = self.redact(key) if isinstance(key, str) else key
                result[new_key] = self.redact_value(item, key if isinstance(key, str) else None)
            return result
        if isinstance(value, (list, tuple)):
            if name is not None and value and self.is_secret_name(name):
                self._count(SECRET_FIELD)
                return MASK_SECRET_FIELD
            return type(value)(self.redact_value(item, name) for item in value)
        if isinstance(value, bool) or value is None:
            return value
        if name is not None:
            return self.redact_attribute(name, value)
        if isinstance(value, str):
            return self.redact(value)
        if type(value) is int:
            return self.redact_attribute("", value)
        return value


def patterns_from_settings() -> tuple[re.Pattern[str], ...]:
    """The valid expressions of ``GLASSBOX_REDACT_PATTERNS`` (an invalid one is reported and skipped, once)."""
    return _compiled(settings.REDACT_PATTERNS.get())


@lru_cache(maxsize=8)
def _compiled(raw: str) -> tuple[re.Pattern[str], ...]:
    extra: list[re.Pattern[str]] = []
    for pattern in (p for p in raw.split(";;") if p.strip()):
        try:
            extra.append(re.compile(pattern))
        except re.error as exc:
            print(f"glassbox: ignoring GLASSBOX_REDACT_PATTERNS entry {pattern!r}: {exc}", file=sys.stderr)
    return tuple(extra)


def build_redactor(on_redact: Callable[[str], None] | None = None) -> Redactor:
    """The built-in detectors and ``GLASSBOX_REDACT_PATTERNS``, counting each finding with ``on_redact``."""
    return Redactor(custom=patterns_from_settings(), on_redact=on_redact)
