"""The collector's ``redaction`` processor, generated from the same detectors as the in-process redaction.

The collector (contrib ``redactionprocessor`` v0.161.0) masks, with ``****``, every match of a Go RE2
expression in ``blocked_values`` in span, span event, log and metric attributes and in log bodies, and the
whole value of every attribute whose name matches ``blocked_key_patterns``; ``redact_all_types: true`` makes it
look at numbers and booleans too (an integer card number), converting a value only when something in it
matches. ``stack/collector_redaction.py`` writes :func:`processor_config` into collector/config.yaml, and the
tier configs follow it; a test checks the files are current.

RE2 has no look-around and no back-references, and an expression cannot run a checksum. So:

* detect-secrets' expressions are converted mechanically: look-arounds are dropped and repeat counts over
  RE2's limit of 1000 made unbounded, which only removes conditions and so widens what they mask; an
  expression with a back-reference would be left out (detect-secrets 1.5.0 has none;
  :func:`library_left_out` lists them);
* glassbox's own detectors have the RE2 forms below, written next to what they approximate;
* what needs code is approximated or left out, and listed in :data:`NOT_IN_RE2`: Luhn (cards are matched by
  issuer prefix and length only), IBAN mod-97 (matched by shape only), US SSN area rules (shape only), phone
  numbers (libphonenumber's per-region metadata: a few common layouts only), ``Basic`` credentials (need
  base64 decoding), and the semantic-conventions URL form (``REDACTED`` in place of a parameter value: the
  collector masks ``name=value`` whole instead).
"""

from __future__ import annotations

import re
from typing import Any

from glassbox.redaction.detectors import (
    DETECT_SECRETS,
    Detector,
    builtin_detectors,
    keyword_alternation,
    secret_key_pattern,
)

_UNICODE_WORD = r"\p{L}\p{N}_"
_SECRET_VALUE = r"""[^\s"'`,;&)}\]<>\\\[][^\s"'`,;&)}\]<>\\]*"""


def _assignment_re2() -> str:
    """The in-process ``name = value`` detector in RE2 (no look-arounds: the value is masked whole)."""
    separator = r"""\\?["'\]]{0,2}\s*(?::=|=>|=|:)\s*\\?["'`]?"""
    return rf"(?i){keyword_alternation()}{separator}(?:(?:bearer|basic|token|digest)\s+)?{_SECRET_VALUE}"


# RE2 forms of glassbox's own detectors, by kind (None: not expressible, the reason is in NOT_IN_RE2).
OWN_RE2: dict[str, tuple[str, ...] | None] = {
    "private_key": (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.*?)"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|\z)",
    ),
    "model_provider_key": (r"\bsk-(?:ant-(?:api|admin|oat)\d\d-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",),
    "google_api_key": (r"\bAIza[0-9A-Za-z_-]{35}",),
    "google_oauth_token": (r"\bya29\.[0-9A-Za-z_-]{20,}",),
    "huggingface_token": (r"\bhf_[A-Za-z0-9]{30,}",),
    "github_token": (r"\bgithub_pat_[A-Za-z0-9_]{22,}",),
    "bearer": (r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}",),
    "basic_auth": None,
    "url_userinfo": (r"://[^\s/?#@:]*:[^\s/?#]*@",),
    "secret_assignment": (_assignment_re2(),),
    "email": (
        rf"[{_UNICODE_WORD}.%+'-]{{1,64}}[@\x{{FF20}}\x{{FE6B}}][{_UNICODE_WORD}-]{{1,63}}"
        rf"(?:[.\x{{FF0E}}\x{{FF61}}\x{{3002}}][{_UNICODE_WORD}-]{{1,63}})*[.\x{{FF0E}}\x{{FF61}}\x{{3002}}]"
        rf"(?:xn--[{_UNICODE_WORD}-]{{2,59}}|\p{{L}}{{2,24}})",
    ),
    "card": (
        r"\b(?:4\d{3}|5[1-5]\d{2}|2[2-7]\d{2}|6011|6[45]\d{2}|62\d{2}|35\d{2})(?:[ .\-_/\x{00A0}]?\d{4}){3}"
        r"(?:[ .\-_/\x{00A0}]?\d{1,3})?\b",
        r"\b3[47]\d{2}[ .\-_/\x{00A0}]?\d{6}[ .\-_/\x{00A0}]?\d{5}\b",
        r"\b3(?:0[0-5]|[689]\d)\d[ .\-_/\x{00A0}]?\d{6}[ .\-_/\x{00A0}]?\d{4}\b",
    ),
    "iban": (r"\b[A-Z]{2}\d{2}(?:[ \x{00A0}]?[A-Z0-9]){11,30}\b",),
    "ssn": (r"\b\d{3}[- .]\d{2}[- .]\d{4}\b", r"(?i)(?:\bssn\b|social security)\D{0,16}\b\d{9}\b"),
    "phone": (
        r"\+\d{1,3}[ .\-\x{00A0}]?\(?\d{1,4}\)?(?:[ .\-\x{00A0}]?\d{2,5}){2,4}\b",
        r"\b00\d{2,3}[ .\-\x{00A0}]\d{1,4}(?:[ .\-\x{00A0}]\d{2,5}){2,4}\b",
        r"\(\d{3}\) ?\d{3}[ .-]\d{4}\b",
        r"\b\d{3}[.-]\d{3}[.-]\d{4}\b",
    ),
}

# What the collector's expressions cannot do that the process does (docs/telemetry.md repeats this list).
NOT_IN_RE2: dict[str, str] = {
    "card": "no Luhn check: 13-19 digit runs with a card issuer's prefix are masked, valid or not",
    "iban": "no mod-97 or country-format check: the IBAN shape is masked",
    "ssn": "no area/group/serial rules: the 3-2-4 digit shape is masked",
    "phone": "no libphonenumber validity test: international (+ or 00) numbers and US layouts only",
    "basic_auth": "needs base64 decoding to tell credentials from prose; the Authorization header is a blocked key",
    "url_query": "the collector masks `name=value` whole; the process writes `name=REDACTED` as the HTTP "
    "semantic conventions say",
}


# A look-around without nested groups, and a group that only held look-behinds once they are dropped.
_LOOKAROUND = re.compile(r"\(\?<?[=!](?:[^()\\]|\\.)*\)")
_EMPTY_ALTERNATION = re.compile(r"\(\?:\|*\)")
_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\(\?P=|\\[1-9]")
# Go's RE2 allows repeat counts up to 1000: a larger upper bound becomes unbounded (wider, never narrower).
_LARGE_REPEAT = re.compile(r"\{(\d+),(\d{4,})\}")


def library_re2(detector: Detector) -> tuple[list[str], list[str]]:
    """(RE2 forms of a detect-secrets plugin's expressions, the expressions that have none)."""
    converted, left_out = [], []
    for pattern in detector.patterns:
        text = pattern.pattern
        if pattern.flags & re.VERBOSE and re.search(r"\s|#", text):
            left_out.append(text)
            continue
        text = _EMPTY_ALTERNATION.sub("", _LOOKAROUND.sub("", text))
        text = _LARGE_REPEAT.sub(lambda m: f"{{{m.group(1)},}}" if int(m.group(2)) > 1000 else m.group(0), text)
        if _UNSUPPORTED.search(text):
            left_out.append(pattern.pattern)
            continue
        if detector.extend:
            # The expression may stop inside the token (a fixed length, a lazy end): mask the rest of it too.
            text = f"(?:{text})[A-Za-z0-9_.-]*"
        if pattern.flags & re.IGNORECASE:
            text = f"(?i){text}"
        converted.append(text)
    return converted, left_out


def blocked_values() -> list[tuple[str, str, str]]:
    """(kind, source, RE2 expression) for every detector that has one, own detectors first."""
    values: list[tuple[str, str, str]] = []
    seen: set[str] = set()

    def add(kind: str, source: str, expression: str) -> None:
        if expression not in seen:
            seen.add(expression)
            values.append((kind, source, expression))

    for detector in builtin_detectors():
        if not detector.source.startswith(DETECT_SECRETS):
            for expression in OWN_RE2.get(detector.kind) or ():
                add(detector.kind, detector.source, expression)
        else:
            converted, _ = library_re2(detector)
            for expression in converted:
                add(detector.kind, detector.source, expression)
    return values


def processor_config() -> dict[str, Any]:
    """The ``redaction`` processor block of the collector configs."""
    return {
        "allow_all_keys": True,
        "redact_all_types": True,
        "blocked_key_patterns": [secret_key_pattern()],
        "blocked_values": [expression for _, _, expression in blocked_values()],
        # No per-record summary attributes: on metrics they would create new series.
        "summary": "silent",
    }
