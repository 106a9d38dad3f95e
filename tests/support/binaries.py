"""Markers for tests that need a real backend binary: they run where it exists and say why they skip elsewhere."""

from __future__ import annotations

import pytest

from stack.binaries import find_binary, missing_reason


def requires(component: str) -> pytest.MarkDecorator:
    return pytest.mark.skipif(find_binary(component) is None, reason=missing_reason(component))
