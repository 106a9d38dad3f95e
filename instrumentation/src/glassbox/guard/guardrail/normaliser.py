"""Text normalisation for the prompt-injection scorer: the views of a text its rules read, and the de-obfuscation.

A text is normalised before the rules read it (:mod:`glassbox.guard.guardrail.scorer`): Unicode NFKC, casefolded
(:func:`casefold`), zero-width / bidi / soft-hyphen characters removed (:data:`DROP_INVISIBLE`), Cyrillic and Greek
look-alike letters mapped to Latin inside words that are otherwise Latin, whitespace collapsed and a sentence
hard-wrapped over several lines joined (:func:`text_view`). The rules read either that text view or its words view
(:func:`words_view`: words one space apart, punctuation gone, a ``|`` between clauses).

Obfuscations undone here, so that the rules read the text behind them: text hidden in Unicode tag characters
(:data:`TAG_RUN`, "ASCII smuggling"), words split by invisible characters (:data:`INVISIBLE_IN_WORD`), leetspeak
(:data:`LEET`), letters spaced or dotted out (:data:`SPACED_RUN`, :func:`join_spaced`) and base64
(:func:`decoded_runs`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable

# Base64 runs decoded and scanned per text, and the characters decoded from each.
MAX_ENCODED_RUNS = 8
MAX_DECODED_CHARS = 4096

# Zero-width, joiner, bidi control, soft hyphen and other invisible format characters: removed before matching.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u200b\u200c\u200d\u200e\u200f"
    "\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\u206a\u206b"
    "\u206c\u206d\u206e\u206f\u3164\ufe00\ufe01\ufe02\ufe03\ufe04\ufe05\ufe06\ufe07\ufe08\ufe09\ufe0a"
    "\ufe0b\ufe0c\ufe0d\ufe0e\ufe0f\ufeff\uffa0"
)
DROP_INVISIBLE = {ord(char): None for char in _INVISIBLE}
# An invisible character between two letters: a word split to dodge filters (emoji joiners sit between emoji).
INVISIBLE_IN_WORD = re.compile(f"[^\\W\\d_][{_INVISIBLE}]+[^\\W\\d_]")
# Unicode tag characters (U+E0000-U+E007F) mirror ASCII invisibly ("ASCII smuggling").
TAG_RUN = re.compile("[\U000e0000-\U000e007f]+")
# Cyrillic and Greek letters that look like Latin ones (after casefolding).
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
        "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d", "ԛ": "q", "ԝ": "w",
        "ɡ": "g", "ɩ": "i", "ο": "o", "α": "a", "ε": "e", "ι": "i", "κ": "k", "ν": "v", "ρ": "p", "τ": "t",
        "υ": "u", "χ": "x", "ϲ": "c", "ӏ": "l",
    }
)  # fmt: skip
# Digits and symbols read as letters in leetspeak.
LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
LEET_HINT = re.compile(r"[013457@$](?:(?<=[a-z][013457@$])|(?=[a-z]))")
# Letters spaced or dotted out: "i g n o r e", "i.g.n.o.r.e" (one separator between letters; words apart by more).
SPACED_RUN = re.compile(r"\b\w([ .\-*])\w(?:\1\w)+\b")
_SPACED_SEPARATOR = re.compile(r"[ .\-*]")
# Where a clause ends, the words view has a "|" that no rule's words cross ("instruction override, system prompt
# extraction" is a list, not "override system prompt"): at these characters and at a full stop before a space (not
# the dots inside domains and numbers). Every other ASCII character that is not a letter or digit becomes a space;
# other non-word characters too (_NON_WORD, for non-ASCII text).
_CLAUSE_BREAKS = ",;:!?()[]{}<>\n"
_ASCII_WORDS = str.maketrans(
    {
        chr(code): (" | " if chr(code) in _CLAUSE_BREAKS else " ")
        for code in range(128)
        if not chr(code).isalnum() and chr(code) != "|"
    }
)
_NON_WORD = re.compile(r"(?:[^\w|]|_)+")
# Base64 runs long enough to hold an instruction (24 characters decode to 18 bytes).
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{24,}+={0,2}")
_PRINTABLE_BYTES = bytes(range(32, 127)) + b"\t\n\r"


# A word of Latin letters with Cyrillic or Greek look-alikes in it ("іgnоrе"): words written wholly in another
# script ("игнорируй") are left as they are.
_MIXED_SCRIPT_WORD = re.compile(r"\b(?=[^\W\d_]*[a-z])(?=[^\W\d_]*[^\x00-\x7f])[^\W\d_]+")


def _unmix(word: re.Match[str]) -> str:
    return word.group().translate(_HOMOGLYPHS)


def casefold(text: str) -> str:
    """The text casefolded, with look-alike letters inside otherwise Latin words read as the Latin ones."""
    folded = text.casefold()
    return folded if folded.isascii() else _MIXED_SCRIPT_WORD.sub(_unmix, folded)


# A line at least this long that ends in a letter or a comma was wrapped in the middle of a sentence: it is joined to
# the next line (a hard-wrapped document reads as one sentence; a list of short items stays apart).
WRAPPED_LINE_CHARS = 40


def text_view(folded: str) -> str:
    """Whitespace runs collapsed to one space, line breaks kept (one per run of blank lines) except inside a
    sentence wrapped over several lines."""
    lines = [" ".join(words) for words in map(str.split, folded.splitlines()) if words]
    if len(lines) < 2:
        return "".join(lines)
    joined = [lines[0]]
    for line in lines[1:]:
        previous = joined[-1]
        wrapped = len(previous) >= WRAPPED_LINE_CHARS and (previous[-1].isalpha() or previous[-1] == ",")
        joined.append(" " + line if wrapped else "\n" + line)
    return "".join(joined)


def words_view(text: str) -> str:
    """Words only (letters and digits), one space apart, with a space at each end; a ``|`` between clauses."""
    spaced = text.replace(". ", " | ").translate(_ASCII_WORDS)
    if not spaced.isascii():
        spaced = _NON_WORD.sub(" ", spaced)
    return " " + " ".join(spaced.split()) + " "


def word_set(words: str) -> frozenset[str]:
    """The set of the words of a words view (what a rule's ``needs`` words are looked up in)."""
    return frozenset(words.split())


def join_spaced(match: re.Match[str]) -> str:
    """The letters of a run spaced or dotted out (:data:`SPACED_RUN`), joined."""
    return _SPACED_SEPARATOR.sub("", match.group())


def decoded_runs(text: str) -> Iterable[str]:
    """Base64 runs of the text that decode to mostly printable ASCII."""
    for count, match in enumerate(_BASE64_RUN.finditer(text)):
        if count >= MAX_ENCODED_RUNS:
            return
        run = match.group().rstrip("=")[: MAX_DECODED_CHARS * 4 // 3]
        run = run[: len(run) - len(run) % 4]
        try:
            data = base64.b64decode(run + "=" * (-len(run) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        if not data:
            continue
        if len(data.translate(None, _PRINTABLE_BYTES)) <= 0.1 * len(data):
            yield data.decode("ascii", "replace")
