"""An app built on LangGraph, the OpenAI Agents SDK and google-genai, under ``opentelemetry-instrument``.

No telemetry code in the app (``examples/frameworks_app/app.py``): the glassbox distro loads the official GenAI
instrumentations the package's extras install, and every model call arrives as one span with its usage, USD cost
and tenant; the agent's call carries the agent's name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from glassbox import conventions as c

from .conftest import EXAMPLES, free_port, stop, wait_http
from .otlp_receiver import OTLPReceiver
from .test_demo_subprocess import poll


def test_a_framework_app_gets_one_priced_span_per_model_call_with_no_code(stub_url: str, tmp_path: Path) -> None:
    port = free_port()
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "opentelemetry-instrument"), sys.executable, str(EXAMPLES / "frameworks_app" / "app.py")]
    with OTLPReceiver() as receiver:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_", "OPENAI_"))},
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
            "OTEL_PYTHON_DISTRO": "glassbox",
            "OTEL_PYTHON_CONFIGURATOR": "glassbox",
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "frameworks-app",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            "GLASSBOX_METRICS_PORT": "0",
            "GLASSBOX_BUDGETS_STATE": str(tmp_path / "spend.sqlite"),
            "GLASSBOX_AUDIT_DIR": str(tmp_path / "audit"),
            "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit-checkpoints"),
            "GLASSBOX_AUDIT_KEY_FILE": str(tmp_path / "keys" / "audit.key"),
            "GLASSBOX_AUDIT_SPOOL_DIR": str(tmp_path / "audit-spool"),
            "GLASSBOX_KILL_SWITCH_FILE": str(tmp_path / "kill-switch"),
            "FRAMEWORKS_PORT": str(port),
            "LLM_BASE_URL": stub_url,
        }
        with open(tmp_path / "app.out", "wb") as out:
            process = subprocess.Popen(
                command,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
            try:
                wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90, process=process)
                requests = {route: f"req-{route.strip('/')}-{uuid.uuid4().hex[:6]}" for route in
                            ("/graph", "/agent", "/gemini")}  # fmt: skip
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
                    return by_request if all(by_request.values()) else {}

                found = poll(counted, timeout=30)
                assert found, (tmp_path / "app.out").read_text()[-3000:]
            finally:
                stop(process)
        spans = receiver.spans()
    graph, agent, gemini = (found[requests[r]] for r in ("/graph", "/agent", "/gemini"))
    assert len(graph) == 1 and graph[0]["scope"].endswith("langchain")
    assert len(gemini) == 1 and gemini[0]["attributes"][c.GEN_AI_PROVIDER_NAME] == "gemini"
    # the agent: one call that chose the tool, one that answered, both attributed to it
    assert len(agent) == 2 and all(s["attributes"][c.GEN_AI_AGENT_NAME] == "support" for s in agent)
    for span in graph + agent + gemini:
        assert span["attributes"][c.COST_USD] > 0 and span["attributes"][c.TENANT_ID] == "acme"
    names = {s["name"] for s in spans}
    assert {"invoke_agent support", "execute_tool order_status"} <= names, names
