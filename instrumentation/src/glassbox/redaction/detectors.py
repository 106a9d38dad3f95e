"""What counts as a secret or as personal data, and where each detector comes from.

Every detector is a regular expression that finds candidates, an optional check that confirms a candidate (a
checksum, a phone-number validity test), and the cheap condition under which it can match at all (literal
substrings, or a small expression): a text that meets none of the conditions skips every expression.

Sources, pinned in requirements/lock.txt and named in docs/telemetry.md ("Redaction"):

* **detect-secrets** (Yelp, 1.5.0): the expressions of every regex-based plugin (cloud keys, tokens of code
  hosts, chat and payment services, JWTs, private key headers, credentials in URLs), read from its plugin
  registry at start-up, and the keyword list of its ``KeywordDetector`` for ``name = value`` secrets. Left
  out: public IPv4 addresses (service addresses are telemetry, not secrets) and the entropy plugins (trace ids,
  hashes and UUIDs are high-entropy too).
* **python-stdnum** (2.2): the Luhn check of card numbers, the IBAN check (country format and mod-97) and the
  US social security number rules.
* **phonenumbers** (9.0, Google's libphonenumber): whether a candidate is a valid phone number, international
  (``+`` or ``00``) or national in one of ``GLASSBOX_REDACT_PHONE_REGIONS``.
* **glassbox** (this module): what those libraries do not cover. Provider keys newer than detect-secrets 1.5.0
  (``sk-ant-``/``sk-proj-`` model provider keys, Google ``AIza`` keys and ``ya29.`` OAuth tokens, Hugging Face
  ``hf_``, GitHub ``github_pat_``), ``Bearer``/``Basic`` credentials, ``name = value`` pairs built from the
  keyword lists, URL user information whatever characters the password has, whole PEM private key blocks, and
  the candidate shapes of emails (internationalised and full-width too), cards, IBANs, SSNs and phone numbers
  that the checks above confirm.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn as stdnum_luhn
from stdnum.us import ssn as stdnum_ssn

from glassbox import settings

# A check gets the text and a candidate match and returns the span to redact, or None to keep the text.
Check = Callable[[str, "re.Match[str]"], "tuple[int, int] | None"]


@dataclass(frozen=True)
class Detector:
    """One kind of secret or personal data.

    ``kind`` is the label of the redaction counters and the marker ``[REDACTED:<kind>]``. The detector runs on
    a text only when one of ``hints`` is in it, one of ``ignore_case_hints`` is in its lower-cased form, or
    ``trigger`` matches it; each of these must hold wherever ``patterns`` match (a test checks it)."""

    kind: str
    patterns: tuple[re.Pattern[str], ...]
    source: str
    hints: tuple[str, ...] = ()
    ignore_case_hints: tuple[str, ...] = ()
    trigger: str | None = None
    check: Check | None = None
    # Library expressions that stop inside a token (a fixed length, a lazy end) are extended over the rest of it.
    extend: bool = False
    # The group that holds the secret, in the expressions that have it (the rest of the match is its context).
    group: int | None = None
    # Lower-case substrings one of which every match's lower-cased form also contains, and an expression every
    # match also meets (tested only once a hint is found).
    requires: tuple[str, ...] = ()
    requires_pattern: re.Pattern[str] | None = None
    # The match must start a word (no letter, digit or "_" before it): checked here rather than with a leading
    # ``\b``, which would stop Python's engine from skipping ahead to the pattern's first character.
    word_start: bool = False
    # An expression that finds, in the lower-cased text, where a match can start; the pattern is then tried only
    # there (for a case-insensitive pattern of many keywords, which Python's engine would try at every position).
    anchor: re.Pattern[str] | None = None

    @property
    def words(self) -> frozenset[str]:
        """Every hint in lower case: a text whose lower-cased form holds none of them (and that does not meet
        ``trigger``) cannot match."""
        return frozenset(hint.lower() for hint in (*self.hints, *self.ignore_case_hints))


def _shortest(words: set[str]) -> set[str]:
    """``words`` without those that start with another of them (finding the shorter one finds both)."""
    return {w for w in words if not any(o != w and w.startswith(o) for o in words)}


def _trie(words: set[str]) -> str:
    """One expression that finds any of ``words`` (a word that starts with another is found as that one), shaped
    as a trie so that each position costs one path."""
    tree: dict[str, dict[str, Any]] = {}
    for word in _shortest(words):
        node = tree
        for char in word:
            node = node.setdefault(char, {})

    def expression(node: dict[str, dict[str, Any]]) -> str:
        branches = [re.escape(char) + expression(child) for char, child in sorted(node.items())]
        if not branches:
            return ""
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"

    return expression(tree)


def _first_class(trigger: str) -> tuple[str, str] | None:
    """``trigger`` as (the class of characters it starts with, the rest), when it starts with ``\\d``, a
    ``[class]`` or a letter."""
    if trigger.startswith("\\d"):
        return r"\d", trigger[2:]
    if trigger.startswith("[") and "]" in trigger[2:]:
        chars, rest = trigger[1:].split("]", 1)
        if re.fullmatch(r"[A-Za-z0-9]+", chars):
            return f"[{chars}]", rest
    if re.match(r"[A-Za-z0-9]", trigger):
        return trigger[0], trigger[1:]
    return None


@dataclass(frozen=True)
class QuickTest:
    """The cheap test every text meets first, and which detectors each of its findings calls for.

    ``words`` finds, in the lower-cased text, the shortest hints (a hint that starts with another is found as
    that one), shaped as a trie so that each position costs one path; lower-casing keeps the test sound (a hint
    in the text is in its lower-cased form, lower-cased). ``triggers`` joins the triggers, which need case or
    digits, into one expression on the text itself that starts with a single class of characters
    (``[\\dAMNOS](?:(?<=\\d)(?P<t0>...)|...)``): Python's engine skips every position whose character is not
    in that class, so that a text without digits or those capitals costs a few tens of nanoseconds. A trigger
    that does not start that way is in ``apart``, tested alone."""

    words: re.Pattern[str]
    word_detectors: dict[str, tuple[int, ...]]
    triggers: re.Pattern[str] | None
    trigger_detectors: dict[str, tuple[int, ...]]
    apart: tuple[tuple[re.Pattern[str], tuple[int, ...]], ...]


def quick_test(detectors: Sequence[Detector]) -> QuickTest:
    words = {word for d in detectors for word in d.words}
    minimal = _shortest(words)
    word_detectors = {
        short: tuple(i for i, d in enumerate(detectors) if any(w.startswith(short) for w in d.words))
        for short in minimal
    }
    classes: list[str] = []
    branches: list[str] = []
    trigger_detectors: dict[str, tuple[int, ...]] = {}
    apart: list[tuple[re.Pattern[str], tuple[int, ...]]] = []
    for trigger in dict.fromkeys(d.trigger for d in detectors if d.trigger):
        indexes = tuple(i for i, d in enumerate(detectors) if d.trigger == trigger)
        split = _first_class(trigger)
        if split is None:
            apart.append((re.compile(trigger), indexes))
            continue
        first, rest = split
        name = f"t{len(branches)}"
        classes.append(first.strip("[]"))
        branches.append(f"(?<={first})(?P<{name}>{rest})")
        trigger_detectors[name] = indexes
    triggers = re.compile(f"[{''.join(dict.fromkeys(classes))}](?:{'|'.join(branches)})") if branches else None
    return QuickTest(re.compile(_trie(minimal) or "(?!)"), word_detectors, triggers, trigger_detectors, tuple(apart))


# --------------------------------------------------------------------------- detect-secrets
DETECT_SECRETS = "detect-secrets 1.5.0"
# Plugins left out, with the reason (docs/telemetry.md repeats these).
DETECT_SECRETS_EXCLUDED = {
    "IPPublicDetector": "public IPv4 addresses are service addresses, which telemetry is meant to carry",
    "KeywordDetector": "not expression-based: its keyword list feeds glassbox's name = value detector",
    "Base64HighEntropyString": "entropy alone also flags trace ids, span ids, hashes and UUIDs",
    "HexHighEntropyString": "entropy alone also flags trace ids, span ids, hashes and UUIDs",
}
# Cheap conditions for the plugins of detect-secrets 1.5.0: (literal substrings, lower-case substrings). A plugin
# not listed here (a later release) is tested with its own expressions, which is always sound.
_PLUGIN_HINTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "AWSKeyDetector": (("A3T", "ABIA", "ACCA", "AKIA", "ASIA"), ("aws",)),
    "AzureStorageKeyDetector": (("AccountKey=",), ()),
    "BasicAuthDetector": (("@",), ()),
    "CloudantDetector": ((), ("key", "pw", "pass", "token", "cloudant.com")),
    "GitHubTokenDetector": (("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), ()),
    "GitLabTokenDetector": (
        ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "GR1348941", "glcbt-", "glimt-", "glptt-", "glagent-"),
        ("gloas-",),
    ),
    "IbmCosHmacDetector": ((), ("secret",)),
    "IbmCloudIamDetector": ((), ("key", "pwd", "pass", "token")),
    "JwtTokenDetector": (("eyJ",), ()),
    "MailchimpDetector": (("-us",), ()),
    "NpmDetector": (("_authToken=",), ()),
    "OpenAIDetector": (("T3BlbkFJ",), ()),
    "PrivateKeyDetector": (("BEGIN", "PuTTY-User-Key-File-2"), ()),
    "PypiTokenDetector": (("pypi-",), ()),
    "SendGridDetector": (("SG.",), ()),
    "SlackDetector": ((), ("xox", "hooks.slack.com")),
    "SoftlayerDetector": ((), ("key", "pwd", "pass", "token", "softlayer.com")),
    "SquareOAuthDetector": (("sq0csp-",), ()),
    "StripeDetector": (("k_live_",), ()),
}
_DIGIT_TRIGGER = r"\d(?:[\s\-./()_]{0,2}\d){6}"
_PLUGIN_TRIGGERS = {
    "TelegramBotTokenDetector": _DIGIT_TRIGGER,
    "DiscordBotTokenDetector": r"[MNO][\w-]{23}\.",
    "TwilioKeyDetector": r"[AS][CK][a-z0-9]{32}",
    "ArtifactoryDetector": r"A(?:KC[a-zA-Z0-9]{10}|P[\dA-F][a-zA-Z0-9]{8})",
}
# The keyword plugins' expressions are case-insensitive, which Python's engine tries at every position; the
# value each captures (a run of 24 to 64 token characters) is a cheaper necessary condition, tested first.
_PLUGIN_REQUIRES = {
    "CloudantDetector": re.compile(r"[A-Za-z0-9]{24}"),
    "IbmCloudIamDetector": re.compile(r"[A-Za-z0-9_-]{44}"),
    "IbmCosHmacDetector": re.compile(r"[A-Fa-f0-9]{48}"),
    "SoftlayerDetector": re.compile(r"[A-Za-z0-9]{64}"),
}
# Every expression of the Cloudant plugin names it: "cl", "clou", "cloudant" before the keyword, or its host.
_PLUGIN_REQUIRES_WORDS = {"CloudantDetector": ("cl",)}
# Plugins whose expressions capture the secret in their first group (the name before it, a URL around it).
_GROUP_PLUGINS = frozenset(
    {
        "AWSKeyDetector",
        "BasicAuthDetector",
        "CloudantDetector",
        "IbmCloudIamDetector",
        "IbmCosHmacDetector",
        "NpmDetector",
        "SoftlayerDetector",
    }
)
# Token-shaped plugins whose expression may end inside the token (fixed lengths, a lazy last part).
_EXTENDED_PLUGINS = frozenset(
    {"GitHubTokenDetector", "JwtTokenDetector", "SlackDetector", "StripeDetector", "TwilioKeyDetector"}
)


def either_case(word: str) -> str:
    """``word`` as an expression matching it in any case with character classes (``[Bb][Ee]...``), which keeps
    the engine's first-character skip that an ignore-case flag turns off."""
    return "".join(f"[{char.upper()}{char.lower()}]" if char.isalpha() else re.escape(char) for char in word)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _detect_secrets_plugins() -> list[tuple[str, str, tuple[re.Pattern[str], ...]]]:
    """(class name, secret type, expressions) of every expression-based detect-secrets plugin."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.plugins.base import RegexBasedDetector

    plugins = []
    mapping: dict[str, type[Any]] = dict(get_mapping_from_secret_type_to_class())
    for secret_type, plugin in sorted(mapping.items()):
        if plugin.__name__ in DETECT_SECRETS_EXCLUDED or not issubclass(plugin, RegexBasedDetector):
            continue
        plugins.append((plugin.__name__, secret_type, tuple(getattr(plugin, "denylist", ()))))
    return plugins


def detect_secrets_keywords() -> tuple[str, ...]:
    """The keyword expressions of detect-secrets' ``KeywordDetector`` (``password``, ``api_?key``, ...)."""
    from detect_secrets.plugins.keyword import DENYLIST

    return tuple(DENYLIST)


# --------------------------------------------------------------------------- name = value secrets
# Keywords glassbox adds to detect-secrets' list: token-style names, HTTP credentials and signed-URL parameters.
# They must end the name, so counts such as ``input_tokens`` and ids such as ``token_type`` stay.
EXTRA_SECRET_KEYWORDS = (
    "token",
    "api[_-]?key",
    "access[_-]?key",
    "signing[_-]?key",
    "encryption[_-]?key",
    "master[_-]?key",
    "authorization",
    "cookie",
    "credentials?",
    "signature",
    "sig",
    "passphrase",
)
# Parameters the HTTP semantic conventions name as sensitive in url.query / url.full.
SEMCONV_SENSITIVE_QUERY_KEYS = ("AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature")


def keyword_alternation() -> str:
    library = "|".join(detect_secrets_keywords())
    extra = "|".join(EXTRA_SECRET_KEYWORDS)
    # detect-secrets lets a suffix follow its keywords (password_secure = ...); glassbox's must end the name.
    return rf"(?:(?:{library})\w*|(?:{extra})\b)"


def secret_key_pattern() -> str:
    """An attribute or field name whose value is a secret: its last dotted part ends with a keyword."""
    library = "|".join(detect_secrets_keywords())
    extra = "|".join(EXTRA_SECRET_KEYWORDS)
    return rf"(?i)(?:^|[^a-z0-9])(?:{library}|{extra})$"


def _assignment_pattern() -> re.Pattern[str]:
    keyword = keyword_alternation()
    separator = r"""\\?["'\]]{0,2}\s*(?::=|=>|=|:)\s*"""
    # A value already replaced (``[REDACTED:kind]``, or ``REDACTED`` as the HTTP conventions write it) is left.
    quoted = r"""\\?(?P<quote>["'`])(?P<quoted>(?!\[?REDACTED\b)[^"'`\n]{1,512}?)\\?(?P=quote)"""
    bare = r"""(?P<bare>(?!\[?REDACTED\b)(?:(?:bearer|basic|token|digest)\s+)?[^\s"'`,;&)}\]<>\\]{1,512})"""
    return re.compile(rf"(?ai){keyword}{separator}(?:{quoted}|{bare})")


def literal_forms(keyword: str) -> set[str]:
    """The texts a keyword expression made of letters, ``[class]`` and ``?`` matches (``api[_-]?key`` ->
    ``api_key``, ``api-key``, ``apikey``)."""
    forms = {""}
    for item, optional in re.findall(r"(\[[^\]]+\]|[^\[?])(\??)", keyword):
        choices = set(item[1:-1]) if item.startswith("[") else {item}
        forms = {form + choice for form in forms for choice in choices} | (forms if optional else set())
    return forms


def _assignment_anchor() -> re.Pattern[str]:
    """Where a keyword starts, in lower-cased text: every literal form of the keywords in one trie."""
    words = {
        form for keyword in (*detect_secrets_keywords(), *EXTRA_SECRET_KEYWORDS) for form in literal_forms(keyword)
    }
    return re.compile(_trie(words))


def _assignment_check(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    group = "quoted" if match.group("quoted") is not None else "bare"
    return match.span(group)


# --------------------------------------------------------------------------- personal data
# The domain part, from the "@" (full-width and small forms too): the local part is taken by the check, which
# lets the expression start at the rare "@" rather than at every letter.
EMAIL = re.compile(
    r"[@\uff20\ufe6b][\w-]{1,63}(?:[.\uff0e\uff61\u3002][\w-]{1,63})*[.\uff0e\uff61\u3002]"
    r"(?:xn--[\w-]{2,59}|[^\W\d_]{2,24})(?![\w-])"
)
_EMAIL_LOCAL_PUNCTUATION = frozenset("._%+'-")
CARD = re.compile(r"\d(?:[ \u00a0\u2009\-./_]?\d){12,18}(?![\w]|[.,]\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ \u00a0]?[A-Z0-9]){11,30}\b")
SSN = re.compile(r"\d{3}([ \-.])\d{2}\1\d{4}(?![\w-])")
SSN_NAMED = re.compile(rf"(?:{either_case('ssn')}\b|{either_case('social security')})\D{{0,16}}\b(\d{{9}})\b")
# Groups of digits apart from each other by separators (or one run of 7-15 digits), so that a long run of digits
# costs one attempt per starting position.
PHONE = re.compile(
    r"(?<![\w+.,/-])(?:\+|\b00)?[ \u00a0]?\(?(?:\d{7,15}|\d{1,10}(?:[ \u00a0.\-/()]{1,3}\d{1,10}){1,6})\)?"
    r"(?![\w]|[.,:/-]\d)"
)
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_DECIMAL = re.compile(r"\d+[.,]\d+")


def _digits(text: str) -> str:
    """The decimal digits of ``text`` as ASCII (full-width and other scripts' digits included)."""
    return "".join(str(unicodedata.decimal(char)) for char in text if char.isdecimal())


# Issuer prefixes of payment cards (first digit 2-6: Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard,
# Discover/UnionPay/Maestro): other Luhn-valid digit runs, such as nanosecond timestamps, are not cards.
def _starts_a_word(text: str, start: int, also: str) -> bool:
    return start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_" or text[start - 1] in also)


def _email_check(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    at = start = match.start()
    while start > 0 and at - start < 64:
        char = text[start - 1]
        if not (char.isalnum() or char in _EMAIL_LOCAL_PUNCTUATION):
            break
        start -= 1
    # "REDACTED:REDACTED@host" is a URL whose user information was removed already, not an address.
    return (start, match.end()) if start < at and text[start:at] != "REDACTED" else None


def _card_check(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    if not _starts_a_word(text, match.start(), ".,"):
        return None
    digits = _digits(match.group(0))
    if not 13 <= len(digits) <= 19 or digits[0] not in "23456":
        return None
    return match.span() if stdnum_luhn.is_valid(digits) else None


def _iban_check(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    # The candidate may run on into the next word ("... 0130 00 EUR"): try it shorter, one character at a time.
    candidate = match.group(0)
    end = len(candidate)
    while end >= 15:
        if candidate[end - 1] != " " and stdnum_iban.is_valid(candidate[:end]):
            return match.start(), match.start() + end
        end -= 1
    return None


def _ssn_check(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    if match.re is SSN and not _starts_a_word(text, match.start(), "-"):
        return None
    span = match.span(1) if match.re is SSN_NAMED else match.span()
    return span if stdnum_ssn.is_valid(_digits(text[span[0] : span[1]])) else None


def phone_regions() -> tuple[str, ...]:
    """``GLASSBOX_REDACT_PHONE_REGIONS`` as region codes (an unknown code matches no number)."""
    raw = settings.REDACT_PHONE_REGIONS.get()
    return tuple(region.strip().upper() for region in raw.split(",") if region.strip()) or ("US",)


def _phone_check(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    candidate = match.group(0).strip()
    digits = _digits(candidate)
    if not 7 <= len(digits) <= 15:
        return None
    plain = candidate.lstrip("+")
    if _IPV4.fullmatch(plain) or _DATE.match(plain) or _DECIMAL.fullmatch(plain):
        return None
    regions: tuple[str | None, ...]
    if candidate.startswith("00") and len(digits) > 10:
        candidate, regions = "+" + digits[2:], (None,)
    else:
        regions = (None,) if candidate.startswith("+") else phone_regions()
    for region in regions:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            raw = match.group(0)
            start = match.start() + len(raw) - len(raw.lstrip())
            return start, match.start() + len(raw.rstrip())
    return None


# --------------------------------------------------------------------------- glassbox's own token shapes
_PRIVATE_KEY_BLOCK = (
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
    r"(?: BLOCK)?-----|[\s\S]*)"
)
GLASSBOX = "glassbox"


def _own(
    kind: str,
    pattern: str,
    hints: Sequence[str] = (),
    ignore_case: Sequence[str] = (),
    check: Check | None = None,
    requires: tuple[str, ...] = (),
    word_start: bool = False,
    anchor: re.Pattern[str] | None = None,
) -> Detector:
    return Detector(
        kind,
        (re.compile(pattern),),
        GLASSBOX,
        tuple(hints),
        tuple(ignore_case),
        check=check,
        requires=requires,
        word_start=word_start,
        anchor=anchor,
    )


def _basic_check(text: str, match: re.Match[str]) -> tuple[int, int] | None:
    value = match.group("basic")
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return match.span("basic") if b":" in decoded else None


def _own_detectors() -> list[Detector]:
    return [
        _own("private_key", _PRIVATE_KEY_BLOCK, hints=("PRIVATE KEY",)),
        _own(
            "model_provider_key",
            r"sk-(?:ant-(?:api|admin|oat)\d\d-|proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}",
            hints=("sk-",),
            word_start=True,
        ),
        _own("google_api_key", r"AIza[0-9A-Za-z_-]{35}", hints=("AIza",), word_start=True),
        _own("google_oauth_token", r"ya29\.[0-9A-Za-z_-]{20,}", hints=("ya29.",), word_start=True),
        _own("huggingface_token", r"hf_[A-Za-z0-9]{30,}", hints=("hf_",), word_start=True),
        _own("github_token", r"github_pat_[A-Za-z0-9_]{22,}", hints=("github_pat_",), word_start=True),
        _own("bearer", either_case("bearer") + r"\s+[A-Za-z0-9._~+/=-]{8,}", ignore_case=("bearer",), word_start=True),
        _own(
            "basic_auth",
            either_case("basic") + r"\s+(?P<basic>[A-Za-z0-9+/]{6,}={0,2})",
            ignore_case=("basic",),
            check=_basic_check,
            word_start=True,
        ),
        _own("url_userinfo", r"(?<=://)(?!REDACTED:REDACTED@)[^\s/?#@:]*:[^\s/?#]*(?=@)", hints=("@",)),
        _own(
            "secret_assignment",
            _assignment_pattern().pattern,
            ignore_case=_assignment_hints(),
            check=_assignment_check,
            requires=("=", ":"),
            anchor=_assignment_anchor(),
        ),
        Detector("email", (EMAIL,), GLASSBOX, hints=("@", "\uff20", "\ufe6b"), check=_email_check),
        Detector("card", (CARD,), "python-stdnum 2.2 (luhn)", trigger=_DIGIT_TRIGGER, check=_card_check),
        Detector("iban", (IBAN,), "python-stdnum 2.2 (iban)", trigger=_DIGIT_TRIGGER, check=_iban_check),
        Detector("ssn", (SSN,), "python-stdnum 2.2 (us.ssn)", trigger=_DIGIT_TRIGGER, check=_ssn_check),
        Detector(
            "ssn",
            (SSN_NAMED,),
            "python-stdnum 2.2 (us.ssn)",
            ignore_case_hints=("ssn", "social security"),
            check=_ssn_check,
        ),
        Detector("phone", (PHONE,), "phonenumbers 9.0", trigger=_DIGIT_TRIGGER, check=_phone_check),
    ]


def _assignment_hints() -> tuple[str, ...]:
    """Lower-case substrings one of which every keyword contains."""
    return ("key", "pass", "pwd", "secret", "contrase", "token", "authorization", "cookie", "credential", "sig")


def _library_detectors() -> list[Detector]:
    detectors = []
    for name, secret_type, patterns in _detect_secrets_plugins():
        hints, ignore_case = _PLUGIN_HINTS.get(name, ((), ()))
        trigger = _PLUGIN_TRIGGERS.get(name)
        if not (hints or ignore_case or trigger):
            trigger = "|".join(f"(?:{p.pattern})" for p in patterns if not p.flags & re.VERBOSE) or None
        detectors.append(
            Detector(
                _slug(secret_type),
                patterns,
                f"{DETECT_SECRETS} ({name})",
                hints,
                ignore_case,
                trigger,
                extend=name in _EXTENDED_PLUGINS,
                group=1 if name in _GROUP_PLUGINS else None,
                requires=_PLUGIN_REQUIRES_WORDS.get(name, ()),
                requires_pattern=_PLUGIN_REQUIRES.get(name),
            )
        )
    return detectors


@lru_cache(maxsize=1)
def builtin_detectors() -> tuple[Detector, ...]:
    """Every built-in detector, glassbox's before the library's (the first to claim a span names its kind)."""
    return (*_own_detectors(), *_library_detectors())
