"""An app built on LangGraph, the OpenAI Agents SDK, google-genai, LlamaIndex and an MCP tool server, under
``opentelemetry-instrument``.

No telemetry code in the app (``examples/frameworks_app/app.py``) or its tool server (``tools_server.py``): the
glassbox distro loads the official GenAI instrumentations the package's extras install, and every model call
arrives as one span with its usage, USD cost and tenant; an agent's calls carry the agent's name; the MCP tool
call is a client span in the app and a server span in the tool server, in one trace with the caller's tenant.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from glassbox import conventions as c
from tests.conftest import EXAMPLES, free_port, instrumented_env, state_env, stop, wait_http
from tests.e2e.test_demo_subprocess import poll
from tests.support.otlp_receiver import OTLPReceiver

ROUTES = ("/graph", "/agent", "/gemini", "/llama", "/order")


def test_a_framework_app_gets_one_priced_span_per_model_call_with_no_code(stub_url: str, tmp_path: Path) -> None:
    port, tools_port = free_port(), free_port()
    bin_dir = Path(sys.executable).parent

    def command(script: str) -> list[str]:
        return [str(bin_dir / "opentelemetry-instrument"), sys.executable, str(EXAMPLES / "frameworks_app" / script)]

    with OTLPReceiver() as receiver:
        env = instrumented_env(
            **state_env(tmp_path),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_SERVICE_NAME="frameworks-app",
            OTEL_BSP_SCHEDULE_DELAY="200",
            FRAMEWORKS_PORT=str(port),
            LLM_BASE_URL=stub_url,
            TOOLS_PORT=str(tools_port),
            TOOLS_URL=f"http://127.0.0.1:{tools_port}/mcp",
            # The mcp SDK's client span names no host: its _meta carries the tenant only where every host may.
            GLASSBOX_BAGGAGE_HOSTS="*",
        )
        env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}  # the Agents SDK's own exporter stays off
        tools_env = {**env, "OTEL_SERVICE_NAME": "tools-server", "GLASSBOX_AUDIT_DIR": str(tmp_path / "tools-audit")}
        with open(tmp_path / "app.out", "wb") as out, open(tmp_path / "tools.out", "wb") as tools_out:
            tools = subprocess.Popen(
                command("tools_server.py"), env=tools_env, stdout=tools_out, stderr=subprocess.STDOUT
            )
            process = subprocess.Popen(command("app.py"), env=env, stdout=out, stderr=subprocess.STDOUT)
            try:
                wait_http(f"http://127.0.0.1:{tools_port}/mcp", timeout=90, process=tools)
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90, process=process)
                requests = {route: f"req-{route.strip('/')}-{uuid.uuid4().hex[:6]}" for route in ROUTES}
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                    for route, request_id in requests.items():
                        headers = {"x-tenant-id": "acme", "x-request-id": request_id}
                        response = client.post(route, json={"question": "what is the refund policy"}, headers=headers)
                        assert response.status_code == 200, (route, response.text)
                        assert "stub" in response.json()["answer"]

                def counted() -> dict[str, list[dict[str, Any]]]:
                    spans = [s for s in receiver.spans() if s["attributes"].get(c.USAGE_COUNTED) is True]
                    by_request = {r: [s for s in spans if s["attributes"].get(c.REQUEST_ID) == r] for r in
                                  requests.values()}  # fmt: skip
                    served = any(s["resource"].get("service.name") == "tools-server" for s in receiver.spans())
                    return by_request if served and all(by_request.values()) else {}

                found = poll(counted, timeout=30)
                assert found, (tmp_path / "app.out").read_text()[-3000:]
            finally:
                stop(process)
                stop(tools)
        spans = receiver.spans()
    graph, agent, gemini, llama, order = (found[requests[r]] for r in ROUTES)
    assert len(graph) == 1 and graph[0]["scope"].endswith("langchain")
    assert len(gemini) == 1 and gemini[0]["attributes"][c.GEN_AI_PROVIDER_NAME] == "gemini"
    # the agents: one call that chose the tool, one that answered, both attributed to the agent
    assert len(agent) == 2 and all(s["attributes"][c.GEN_AI_AGENT_NAME] == "support" for s in agent)
    assert len(llama) == 2 and all(s["attributes"][c.GEN_AI_AGENT_NAME] == "librarian" for s in llama)
    assert len(order) == 1
    for span in graph + agent + gemini + llama + order:
        assert span["attributes"][c.COST_USD] > 0 and span["attributes"][c.TENANT_ID] == "acme"
    names = {s["name"] for s in spans}
    assert {"invoke_agent support", "execute_tool order_status", "invoke_agent librarian"} <= names, names
    # the MCP tool call: the app's client span, and the tool server's span under it with the caller's attribution
    tool_calls = [s for s in spans if s["name"] == "tools/call order_status"]
    client = next(s for s in tool_calls if s["attributes"].get(c.REQUEST_ID) == requests["/order"] and
                  s["resource"].get("service.name") == "frameworks-app")  # fmt: skip
    handler = next(s for s in tool_calls if s["resource"].get("service.name") == "tools-server")
    assert (
        client["attributes"][c.GEN_AI_OPERATION_NAME]
        == handler["attributes"][c.GEN_AI_OPERATION_NAME]
        == (c.OPERATION_EXECUTE_TOOL)
    )
    assert handler["trace_id"] == client["trace_id"] and handler["parent_span_id"] == client["span_id"]
    assert handler["attributes"][c.TENANT_ID] == "acme" and handler["attributes"][c.REQUEST_ID] == requests["/order"]
