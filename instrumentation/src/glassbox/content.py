"""Prompt and completion content: removed unless the user opted in, redacted when they did.

One policy for the three places content can leave the process: span attributes, span events, and GenAI
events sent as log records. The opt-in is the standard ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from glassbox import conventions as c
from glassbox.redaction import Redactor

CONTENT_CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


def capture_enabled() -> bool:
    """True when the standard GenAI content capture variable opts in (any mode but off/false)."""
    value = os.environ.get(CONTENT_CAPTURE_ENV, "").strip().lower()
    return value not in ("", "false", "0", "no", "off", "no_content")


def apply(attributes: Mapping[str, Any], capture: bool, redactor: Redactor) -> tuple[dict[str, Any], list[str]]:
    """(attributes to replace with their redacted value, attributes to remove) for one attribute map."""
    replaced: dict[str, Any] = {}
    removed: list[str] = []
    for key in c.CONTENT_ATTRIBUTES:
        if key not in attributes:
            continue
        if capture:
            replaced[key] = redactor.redact_value(attributes[key])
        else:
            removed.append(key)
    return replaced, removed
