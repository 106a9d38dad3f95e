"""Glassbox: GenAI-aware OpenTelemetry for Python AI services.

Run an app under ``opentelemetry-instrument`` with this package installed and it gets traces, metrics
and logs with cost and tenant attribution and no code change. The few calls for code no instrumentation
covers are re-exported here.
"""

from glassbox.agents import agent, tool
from glassbox.pipeline import configure
from glassbox.version import __version__

__all__ = ["__version__", "agent", "configure", "tool"]
