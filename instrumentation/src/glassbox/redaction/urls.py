"""URLs in ``url.full``, ``url.query`` and the like, sanitised as the HTTP semantic conventions describe.

User information (``https://user:password@host/``) becomes ``REDACTED:REDACTED``, and the value of every
sensitive query (and fragment) parameter becomes ``REDACTED``: the parameters the conventions name
(``AWSAccessKeyId``, ``Signature``, ``sig``, ``X-Goog-Signature``) and every parameter whose name is a secret's
(``api_key``, ``access_token``, ``password``, ``client_secret``, ...). The rest of the URL is kept as it was.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote_plus

REDACTED = "REDACTED"


def sanitize_pairs(text: str, is_secret_name: Callable[[str], bool], on_redact: Callable[[str], None]) -> str:
    """``a=1&api_key=x`` -> ``a=1&api_key=REDACTED`` (a query, or a fragment of such pairs)."""
    pairs = text.split("&")
    changed = False
    for index, pair in enumerate(pairs):
        name, equals, value = pair.partition("=")
        if equals and value and value != REDACTED and is_secret_name(unquote_plus(name)):
            pairs[index] = f"{name}={REDACTED}"
            on_redact("url_query")
            changed = True
    return "&".join(pairs) if changed else text


def sanitize_url(url: str, is_secret_name: Callable[[str], bool], on_redact: Callable[[str], None]) -> str:
    """``url`` without user information and with sensitive parameter values replaced (absolute or relative)."""
    rest, hash_mark, fragment = url.partition("#")
    rest, question_mark, query = rest.partition("?")
    scheme_end = rest.find("://")
    if scheme_end >= 0:
        authority_start = scheme_end + 3
        slash = rest.find("/", authority_start)
        authority_end = len(rest) if slash < 0 else slash
        at = rest.rfind("@", authority_start, authority_end)
        if at >= 0 and rest[authority_start:at] != f"{REDACTED}:{REDACTED}":
            rest = f"{rest[:authority_start]}{REDACTED}:{REDACTED}{rest[at:]}"
            on_redact("url_userinfo")
    if "=" in query:
        query = sanitize_pairs(query, is_secret_name, on_redact)
    if "=" in fragment:
        fragment = sanitize_pairs(fragment, is_secret_name, on_redact)
    return f"{rest}{question_mark}{query}{hash_mark}{fragment}"
