"""Tool calls over MCP with the real ``mcp`` SDK: client and server spans in the conventions' shape, one trace.

An ``MCPServer`` serves streamable HTTP from a thread of the test process (so both sides' spans land in the test's
SDK) and the client calls it over HTTP; ``test_frameworks_subprocess`` covers two processes under
``opentelemetry-instrument``. (A client connected to a server object in-process takes the SDK's direct path, which
makes no client span.)
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from mcp import Client
from mcp.server.mcpserver import MCPServer

import glassbox
from glassbox import conventions as c
from tests.conftest import Telemetry, free_port

server = MCPServer("orders")


@server.tool()
def order_status(order_id: str) -> str:
    """The shipping status of an order."""
    return f"order {order_id} shipped yesterday"


@server.tool()
def cancel_order(order_id: str) -> str:
    """Cancel an order (always fails here)."""
    raise ValueError(f"order {order_id} cannot be cancelled")


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    port = free_port()
    http = uvicorn.Server(
        uvicorn.Config(server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=http.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not http.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert http.started, "the MCP server did not start"
    yield f"http://127.0.0.1:{port}/mcp"
    http.should_exit = True
    thread.join(timeout=10)


async def call(url: str, tool: str, **arguments: Any) -> Any:
    async with Client(url) as client:
        return await client.call_tool(tool, arguments)


def tool_spans(telemetry: Telemetry) -> list[Any]:
    return [s for s in telemetry.finished() if s.attributes.get(c.GEN_AI_OPERATION_NAME) == c.OPERATION_EXECUTE_TOOL]


def test_a_tool_call_is_a_client_span_and_a_server_span_in_one_trace(
    mcp_url: str, telemetry: Telemetry, tenant: str
) -> None:
    with glassbox.agent("support"):
        result = asyncio.run(call(mcp_url, "order_status", order_id="42"))
    assert "shipped" in result.content[0].text
    by_kind = {s.kind.name: s for s in tool_spans(telemetry)}
    client, handler = by_kind["CLIENT"], by_kind["SERVER"]
    assert client.name == handler.name == "tools/call order_status"
    assert client.attributes[c.MCP_METHOD_NAME] == c.MCP_METHOD_CALL_TOOL
    assert client.attributes[c.GEN_AI_TOOL_NAME] == handler.attributes[c.GEN_AI_TOOL_NAME] == "order_status"
    # the trace context and the attribution baggage travel in the request's _meta
    assert handler.context.trace_id == client.context.trace_id and handler.parent.span_id == client.context.span_id
    assert client.attributes[c.TENANT_ID] == handler.attributes[c.TENANT_ID] == tenant
    assert client.attributes[c.GEN_AI_AGENT_NAME] == "support"  # the agent that called the tool
    assert not [s for s in telemetry.finished() if s.name.startswith("MCP send ")]


def test_a_failing_tool_is_an_error_on_the_server_span(mcp_url: str, telemetry: Telemetry, tenant: str) -> None:
    result = asyncio.run(call(mcp_url, "cancel_order", order_id="42"))
    assert result.is_error
    (handler,) = [s for s in tool_spans(telemetry) if s.kind.name == "SERVER"]
    assert handler.attributes[c.ERROR_TYPE] == "tool_error" and handler.status.status_code.name == "ERROR"


def test_requests_other_than_tool_calls_keep_their_method_name(mcp_url: str, telemetry: Telemetry) -> None:
    async def list_tools() -> Any:
        async with Client(mcp_url) as client:
            return await client.list_tools()

    tools = asyncio.run(list_tools())
    assert {tool.name for tool in tools.tools} == {"order_status", "cancel_order"}
    listed = [s for s in telemetry.finished() if s.attributes.get(c.MCP_METHOD_NAME) == "tools/list"]
    assert {s.kind.name for s in listed} == {"CLIENT", "SERVER"}
    assert all(s.name == "tools/list" and c.GEN_AI_OPERATION_NAME not in s.attributes for s in listed)


@pytest.mark.parametrize("name", ["MCP send tools/call", "tools/call order_status"])
def test_only_the_sdks_client_span_names_are_rewritten(name: str, telemetry: Telemetry) -> None:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes={c.MCP_METHOD_NAME: "tools/call"}):
        pass
    (span,) = telemetry.finished()
    assert span.name == name.removeprefix("MCP send ")
    assert span.attributes.get(c.GEN_AI_OPERATION_NAME) == (
        c.OPERATION_EXECUTE_TOOL if name.startswith("MCP") else None
    )
    assert c.GEN_AI_TOOL_NAME not in span.attributes  # no target in the name: no tool name invented
