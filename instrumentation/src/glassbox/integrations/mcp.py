"""MCP client spans in the shape of the semantic conventions, so tool calls over MCP read like any other.

The ``mcp`` SDK (2.x, the ``glassbox-otel[mcp]`` extra) traces itself: a CLIENT span per request it sends, a SERVER span
per request it handles, and the W3C trace context (with the baggage that carries tenant, user and request id)
travels in the request's ``_meta``, so the server's spans join the caller's trace and attribution. Its server
spans already follow the conventions (``tools/call {tool}``, ``gen_ai.operation.name=execute_tool``,
``gen_ai.tool.name``); its client spans are named ``MCP send {method} {target}`` and carry only the method. On
start, :func:`follow_conventions` names a client span ``{method} {target}`` and, for ``tools/call``, marks it
``execute_tool`` with the tool's name, which also gives it the name of the agent that made the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.trace import SpanKind

from glassbox import conventions as c

_CLIENT_PREFIX = "MCP send "


def follow_conventions(span: Any, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """Rename and mark an MCP client span in place; return its attributes as they now are."""
    if span.kind is not SpanKind.CLIENT or not span.name.startswith(_CLIENT_PREFIX):
        return attributes
    name = span.name[len(_CLIENT_PREFIX) :]
    span.update_name(name)
    method = attributes.get(c.MCP_METHOD_NAME)
    target = name[len(method) + 1 :] if isinstance(method, str) and name.startswith(f"{method} ") else ""
    if method == c.MCP_METHOD_CALL_TOOL and c.GEN_AI_OPERATION_NAME not in attributes:
        span.set_attribute(c.GEN_AI_OPERATION_NAME, c.OPERATION_EXECUTE_TOOL)
        if target:
            span.set_attribute(c.GEN_AI_TOOL_NAME, target)
    return span.attributes or {}
