"""An MCP tool server with no telemetry code: its spans come from the ``mcp`` SDK, its attribution from Glassbox.

Run it under ``opentelemetry-instrument`` as the app is run::

    opentelemetry-instrument python examples/frameworks_app/tools_server.py

It serves streamable HTTP at ``http://TOOLS_HOST:TOOLS_PORT/mcp`` (127.0.0.1:8011). A caller's trace context and
baggage (tenant, user, request id) arrive in each request's ``_meta``, so the ``tools/call {tool}`` span joins the
caller's trace with the caller's tenant.
"""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer

server = MCPServer("orders")


@server.tool()
def order_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"order {order_id} shipped yesterday"


if __name__ == "__main__":
    server.run(
        "streamable-http",
        host=os.environ.get("TOOLS_HOST", "127.0.0.1"),
        port=int(os.environ.get("TOOLS_PORT", "8011")),
    )
