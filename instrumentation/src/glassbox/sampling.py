"""Deprecated: moved to :mod:`glassbox.sdk.sampling` in 0.2; this name goes in 0.3."""

from glassbox._moved import alias

alias(__name__, "glassbox.sdk.sampling")
