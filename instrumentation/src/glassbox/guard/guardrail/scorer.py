"""Prompt-injection risk scoring: a fast, dependency-free heuristic over one piece of text.

:func:`assess` scores a user message, or a tool result / retrieved document before it is put in a model's context,
from 0 to 100 and names the rules that matched (:attr:`Assessment.findings`, a fixed, low-cardinality vocabulary:
:data:`~glassbox.guard.guardrail.rules.FINDINGS`, fit for a span attribute or a metric label).

What it detects and what it does not: :mod:`glassbox.guard.guardrail.rules`. How a text is normalised and its
obfuscations undone: :mod:`glassbox.guard.guardrail.normaliser`.

How a score is made: the text is normalised (Unicode NFKC, casefolded, zero-width / bidi / soft-hyphen characters
removed, Cyrillic and Greek look-alike letters mapped to Latin inside words that are otherwise Latin, whitespace
collapsed, a sentence hard-wrapped over several lines joined); then each rule, a
regular expression over the normalised text or over its words, adds its weight. A finding counts once, at the weight
of its strongest rule that matched (repeating a phrase a thousand times adds nothing); the score is the sum of the
findings' weights, capped at 100. One weak signal ("act as", "no restrictions", a ``[INST]`` token) stays LOW or
MEDIUM; a clear override, prompt-leak request, DAN persona or exfiltration link is HIGH on its own, and two of them
together are CRITICAL. Obfuscated or encoded text is scored as well through its decoded form, plus the
``obfuscation`` / ``encoded_payload`` weight.

Levels (:func:`level_of`): ``none`` 0, ``low`` 1-24, ``medium`` 25-49, ``high`` 50-79, ``critical`` 80-100.

Time: the patterns open with a literal word, or a short alternation of words or characters; they repeat only with
bounded counts over unambiguous tokens (a word then one space) or possessively, and have no nested quantifiers over
overlapping classes; rules that join two parts far apart ("note to the AI ..." then "... send") find each part once
and join them by position; so a call costs time linear in the text's length (about 0.5 ms for 2 KB of ordinary
text, 1 ms in Russian or Chinese, under 2 ms for 2 KB of adversarial repetition, on one core of the benchmark
machine).

Texts longer than :data:`MAX_SCAN_CHARS` are scanned on their first and last :data:`SCAN_EDGE_CHARS` characters
only: injections in documents and tool results sit at the start (headers, instructions first) or are appended at
the end far more often than in the middle, and this bounds one call's cost (tens of milliseconds) whatever the
input's size. An attacker who controls a long document can hide text in its middle; callers who need full coverage
can :func:`assess` a long text in chunks.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

from glassbox.guard.guardrail.normaliser import (
    DROP_INVISIBLE,
    INVISIBLE_IN_WORD,
    LEET,
    LEET_HINT,
    SPACED_RUN,
    TAG_RUN,
    casefold,
    decoded_runs,
    join_spaced,
    text_view,
    word_set,
    words_view,
)
from glassbox.guard.guardrail.rules import (
    BARE_URL_EMPTY_PARAMETER,
    EMPTY_TRAILING_PARAMETER,
    ENCODED_PAYLOAD,
    EXFILTRATION_LINK,
    FINDINGS,
    IMAGE_LINK_WEIGHT,
    INDIRECT_TEXT_RULES,
    INDIRECT_WORD_RULES,
    LINK_OPEN,
    LINK_WEIGHT,
    NEAR_CHARS,
    OBFUSCATION,
    PLACEHOLDER,
    SQUASHED,
    SQUASHED_MIN_LETTERS,
    TEMPLATE_URL_WEIGHT,
    TEXT_RULES,
    URL_REST,
    WORD_RULES,
    Rule,
)

# Where a text comes from (assess()'s ``source``): a tool result is also read with the rules for content that directs
# the model's answer.
from glassbox.guard.request import SOURCE_TOOL_RESULT as SOURCE_TOOL_RESULT
from glassbox.guard.request import SOURCE_USER as SOURCE_USER

LEVEL_NONE = "none"
LEVEL_LOW = "low"
LEVEL_MEDIUM = "medium"
LEVEL_HIGH = "high"
LEVEL_CRITICAL = "critical"
LEVELS = (LEVEL_NONE, LEVEL_LOW, LEVEL_MEDIUM, LEVEL_HIGH, LEVEL_CRITICAL)

# The lowest score of each level above ``none`` (0): low 1-24, medium 25-49, high 50-79, critical 80-100.
LOW_THRESHOLD = 1
MEDIUM_THRESHOLD = 25
HIGH_THRESHOLD = 50
CRITICAL_THRESHOLD = 80
MAX_SCORE = 100

# Texts longer than MAX_SCAN_CHARS are scanned on their first and last SCAN_EDGE_CHARS characters only.
SCAN_EDGE_CHARS = 32_768
MAX_SCAN_CHARS = 2 * SCAN_EDGE_CHARS
_ORDER = {name: index for index, name in enumerate(FINDINGS)}


@dataclass(frozen=True)
class Assessment:
    """The risk that a text tries to subvert a model's instructions or exfiltrate data."""

    score: int  # 0-100
    level: str  # one of LEVELS
    findings: tuple[str, ...]  # names from FINDINGS, in that order


def level_of(score: int) -> str:
    """The level of a score from 0 to 100: none 0, low 1-24, medium 25-49, high 50-79, critical 80-100."""
    if not 0 <= score <= MAX_SCORE:
        raise ValueError(f"score must be between 0 and {MAX_SCORE}, not {score}")
    if score >= CRITICAL_THRESHOLD:
        return LEVEL_CRITICAL
    if score >= HIGH_THRESHOLD:
        return LEVEL_HIGH
    if score >= MEDIUM_THRESHOLD:
        return LEVEL_MEDIUM
    if score >= LOW_THRESHOLD:
        return LEVEL_LOW
    return LEVEL_NONE


def may_match(rule: Rule, view: str, words: frozenset[str]) -> bool:
    """Whether ``rule``'s cheap necessary condition holds: the text has one of its words, or one of its substrings."""
    if rule.words:
        return not rule.words.isdisjoint(words)
    return any(substring in view for substring in rule.substrings)


def _links(text: str, hits: dict[str, int]) -> None:
    """Images and links whose URL carries a placeholder for conversation data: exfiltration_link."""
    position = 0
    while hits.get(EXFILTRATION_LINK, 0) < IMAGE_LINK_WEIGHT:
        match = LINK_OPEN.search(text, position)
        if match is None:
            break
        rest = URL_REST.match(text, match.end())
        url = rest.group() if rest else ""
        position = match.end() + len(url)  # each character belongs to at most one URL examined: linear
        if "?" not in url and "=" not in url:
            continue
        query = url[url.find("?") :] if "?" in url else url
        image = match.group().startswith("<img") or text.rfind("![", max(0, match.start() - 200), match.start()) >= 0
        if PLACEHOLDER.search(query) or EMPTY_TRAILING_PARAMETER.search(query):
            _hit(hits, EXFILTRATION_LINK, IMAGE_LINK_WEIGHT if image else LINK_WEIGHT)
    if EXFILTRATION_LINK not in hits and "?" in text and BARE_URL_EMPTY_PARAMETER.search(text):
        _hit(hits, EXFILTRATION_LINK, TEMPLATE_URL_WEIGHT)


def _hit(hits: dict[str, int], finding: str, weight: int) -> None:
    if weight > hits.get(finding, 0):
        hits[finding] = weight


def _match(rules: tuple[Rule, ...], view: str, words: frozenset[str], hits: dict[str, int]) -> None:
    for rule in rules:
        if rule.weight <= hits.get(rule.finding, 0) or not may_match(rule, view, words):
            continue
        if rule.then is None:
            if rule.pattern.search(view):
                hits[rule.finding] = rule.weight
        elif _near(rule.pattern, rule.then, view):
            hits[rule.finding] = rule.weight


def _near(first: re.Pattern[str], then: re.Pattern[str], view: str) -> bool:
    """Whether ``then`` matches starting within NEAR_CHARS after the end of a match of ``first``."""
    starts: list[int] | None = None
    for match in first.finditer(view):
        if starts is None:
            starts = [found.start() for found in then.finditer(view)]
            if not starts:
                return False
        index = bisect.bisect_left(starts, match.end())
        if index < len(starts) and starts[index] <= match.end() + NEAR_CHARS:
            return True
    return False


def _score_plain(text: str, indirect: bool = False) -> dict[str, int]:
    """The findings of a cleaned, casefolded text, and of its leetspeak and spaced-out letters read as words; with
    ``indirect``, the rules for tool results too."""
    hits: dict[str, int] = {}
    view = text_view(text)
    words = words_view(view)
    all_words = word_set(words)
    _match(TEXT_RULES, view, all_words, hits)
    _links(view, hits)
    _match(WORD_RULES, words, all_words, hits)
    if indirect:
        _match(INDIRECT_TEXT_RULES, view, all_words, hits)
        _match(INDIRECT_WORD_RULES, words, all_words, hits)
    variants: list[str] = []
    if LEET_HINT.search(view):
        variants.append(words_view(view.translate(LEET)))
    if SPACED_RUN.search(text):
        joined = SPACED_RUN.sub(join_spaced, text)
        variants.append(words_view(text_view(joined)))
        for run in SPACED_RUN.finditer(text):
            letters = join_spaced(run)
            if len(letters) >= SQUASHED_MIN_LETTERS:
                for finding, weight, pattern in SQUASHED:
                    if weight > hits.get(finding, 0) and pattern.search(letters):
                        hits[finding] = weight
                        _hit(hits, OBFUSCATION, 20)
    for variant in variants:
        if variant == words:
            continue
        extra: dict[str, int] = {}
        _match(WORD_RULES, variant, word_set(variant), extra)
        new = {finding: weight for finding, weight in extra.items() if weight > hits.get(finding, 0)}
        if new:
            hits.update(new)
            _hit(hits, OBFUSCATION, 20)
    return hits


def _window(text: str) -> str:
    if len(text) <= MAX_SCAN_CHARS:
        return text
    return text[:SCAN_EDGE_CHARS] + "\n" + text[-SCAN_EDGE_CHARS:]


def assess(text: str, source: str = SOURCE_USER) -> Assessment:
    """Score how likely ``text`` is an attempt to override the model's instructions or exfiltrate data.

    ``source`` is where the text comes from: ``tool_result`` (a page, document, e-mail or tool answer put into the
    prompt) adds the rules for content that directs the model's answer; anything else is scored as a user's turn."""
    if not isinstance(text, str):
        raise TypeError(f"assess() takes a str, not {type(text).__name__}")
    raw = _window(text)
    hits: dict[str, int] = {}
    hidden = ""
    if not raw.isascii():
        if TAG_RUN.search(raw):
            hidden = " ".join(
                "".join(chr(ord(char) - 0xE0000) for char in run.group()) for run in TAG_RUN.finditer(raw)
            )
            raw = TAG_RUN.sub("", raw)
        split_words = len(INVISIBLE_IN_WORD.findall(raw))
        raw = unicodedata.normalize("NFKC", raw).translate(DROP_INVISIBLE)
    else:
        split_words = 0
    folded = casefold(raw)
    indirect = source == SOURCE_TOOL_RESULT
    hits = _score_plain(folded, indirect)
    if split_words >= 2:
        # Words split by invisible characters: the rules matched on the text with them removed.
        _hit(hits, OBFUSCATION, 20 if hits else 10)
    if hidden:
        extra = _score_plain(casefold(unicodedata.normalize("NFKC", hidden)), indirect)
        for finding, weight in extra.items():
            _hit(hits, finding, weight)
        _hit(hits, OBFUSCATION, 30 if extra else 20 if len(hidden.strip()) > 16 else 0)
    for decoded in decoded_runs(raw):
        extra = _score_plain(casefold(decoded), indirect)
        if extra:
            for finding, weight in extra.items():
                _hit(hits, finding, weight)
            _hit(hits, ENCODED_PAYLOAD, 40)
    hits = {finding: weight for finding, weight in hits.items() if weight > 0}
    score = min(MAX_SCORE, sum(hits.values()))
    findings = tuple(sorted(hits, key=_ORDER.__getitem__))
    return Assessment(score=score, level=level_of(score), findings=findings)
