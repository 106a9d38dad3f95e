"""What a valid tenant, user, session or request id looks like: the one check every way in applies.

Base layer: imports no glassbox module but the conventions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from glassbox import conventions as c

MAX_LENGTH: Mapping[str, int] = {c.TENANT_ID: 64, c.USER_ID: 128, c.SESSION_ID: 128, c.REQUEST_ID: 128}
_VALID = re.compile(r"[A-Za-z0-9._:@+\-]+")
# A name an app gives that becomes a metric label (an evaluation's, a prompt's and its version): short, no spaces.
LABEL_NAME = re.compile(r"^[A-Za-z0-9_.:/@-]{1,128}$")

# Short field names used in the invalid-value counter and in log lines.
FIELD_NAMES: Mapping[str, str] = {
    c.TENANT_ID: "tenant",
    c.USER_ID: "user",
    c.SESSION_ID: "session",
    c.REQUEST_ID: "request_id",
}


def validate(key: str, value: str, on_invalid: Callable[[str], None] | None = None) -> str:
    """``value`` if it is a safe identifier for ``key``, else the ``_invalid`` placeholder (counted)."""
    if len(value) <= MAX_LENGTH.get(key, 128) and _VALID.fullmatch(value):
        return value
    if on_invalid is not None:
        on_invalid(FIELD_NAMES.get(key, key))
    return c.PLACEHOLDER_INVALID
