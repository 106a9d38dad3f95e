"""The demo app under ``opentelemetry-instrument`` as a subprocess, exporting to an OTLP endpoint the test runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from glassbox import conventions as c
from tests.conftest import EXAMPLES, free_port, instrumented_env, state_env, stop, wait_http
from tests.support.otlp_receiver import OTLPReceiver

ADMIN_TOKEN = "test-admin-token"


@contextmanager
def demo_app(
    stub_url: str, otlp_endpoint: str, tmp_path: Path, server: str = "uvicorn", **env: str
) -> Iterator[dict[str, Any]]:
    port, metrics_port = free_port(), free_port()
    bin_dir = str(Path(sys.executable).parent)
    settings = {
        **state_env(tmp_path),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint,
        "OTEL_SERVICE_NAME": "demo-agent",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "OTEL_BLRP_SCHEDULE_DELAY": "200",
        "GLASSBOX_METRICS_PORT": str(metrics_port),
        "GLASSBOX_BUDGETS_FILE": str(EXAMPLES / "demo_app" / "budgets.yaml"),
        "DEMO_PORT": str(port),
        "LLM_BASE_URL": stub_url,
        "DEMO_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    environment = instrumented_env(**{**settings, **env})
    stdout_path = tmp_path / f"demo-{port}.out"
    with open(stdout_path, "wb") as out:
        if server == "gunicorn":
            app_command = ["gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "2", "-b", f"127.0.0.1:{port}",
                           "--chdir", str(EXAMPLES / "demo_app"), "app:app"]  # fmt: skip
        else:
            app_command = ["python", str(EXAMPLES / "demo_app" / "app.py")]
        process = subprocess.Popen(
            [str(Path(bin_dir) / "opentelemetry-instrument"), *app_command],
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz", timeout=60, process=process)
            yield {
                "url": f"http://127.0.0.1:{port}",
                "metrics_url": f"http://127.0.0.1:{metrics_port}/metrics",
                "process": process,
                "stdout": stdout_path,
            }
        finally:
            stop(process)


def poll(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def headers(tenant: str, request_id: str | None = None) -> dict[str, str]:
    return {
        "x-tenant-id": tenant,
        "x-user-id": f"{tenant}-u1",
        "x-request-id": request_id or f"req-{uuid.uuid4().hex[:12]}",
        "x-admin-token": ADMIN_TOKEN,
    }


def test_demo_exports_traces_logs_and_metrics(stub_url: str, tmp_path: Path) -> None:
    # Every trace in the kept share (nothing samples here), so that these few requests give exemplars.
    with (
        OTLPReceiver() as receiver,
        demo_app(stub_url, receiver.endpoint, tmp_path, GLASSBOX_TRACE_KEEP_PERCENT="100") as app,
    ):
        client = httpx.Client(base_url=app["url"], timeout=30)
        assert client.post("/chat", json={"message": "hello"}, headers=headers("acme", "req-chat")).status_code == 200
        assert (
            client.post("/agent", json={"task": "refund?"}, headers=headers("globex", "req-agent")).status_code == 200
        )
        assert client.post("/search", json={"query": "invoice"}, headers=headers("initech")).status_code == 200
        assert client.post("/admin/config", json={"max_tokens": 128}, headers=headers("acme")).status_code == 200
        assert client.post("/chat", json={"message": "x", "model": "nope"}, headers=headers("acme")).status_code == 400

        # /metrics shows the last collection (every second here): wait for one after the traffic
        def scraped() -> str:
            text = httpx.get(app["metrics_url"]).text
            wanted = ("glassbox_gen_ai_cost_usd_total{", 'glassbox_tenant_id="initech"')
            return text if all(w in text for w in wanted) else ""

        scrape = poll(scraped)

        def agent_trace_complete() -> bool:
            names = {s["name"] for s in receiver.spans()}
            return {"invoke_agent support_agent", "execute_tool search_docs", "POST /agent"} <= names

        assert poll(agent_trace_complete), sorted({s["name"] for s in receiver.spans()})
        spans = receiver.spans()
        by_request = {s["attributes"].get(c.REQUEST_ID) for s in spans}
        assert {"req-chat", "req-agent"} <= by_request
        agent_spans = [s for s in spans if s["attributes"].get(c.REQUEST_ID) == "req-agent"]
        assert len({s["trace_id"] for s in agent_spans}) == 1
        names = [s["name"] for s in agent_spans]
        for expected in ("POST /agent", "invoke_agent support_agent", "execute_tool lookup_account",
                         "execute_tool search_docs", "chat claude-haiku-4-5", "chat gpt-4o-mini",
                         "embeddings text-embedding-3-small"):  # fmt: skip
            assert expected in names
        counted = [s for s in agent_spans if s["attributes"].get(c.USAGE_COUNTED) is True]
        # 2 Anthropic calls + 1 OpenAI chat + 1 embedding, each counted once, all priced, all under the agent
        assert len(counted) == 4
        assert all(s["attributes"][c.COST_USD] > 0 for s in counted)
        assert all(s["attributes"].get(c.GEN_AI_AGENT_NAME) == "support_agent" for s in counted)
        assert all(s["attributes"][c.TENANT_ID] == "globex" for s in agent_spans)
        assert all(s["resource"]["service.name"] == "demo-agent" for s in spans)
        assert all(s["resource"]["deployment.environment.name"] == "development" for s in spans)
        # the per-ASGI-message spans are left out by default (GLASSBOX_ASGI_MESSAGE_SPANS)
        assert not any(s["name"].endswith(("http send", "http receive")) for s in spans)
        # content is not captured by default
        assert not any(key in s["attributes"] for s in spans for key in c.CONTENT_ATTRIBUTES)

        # logs: OTLP records carry the trace id of a real span, once each
        span_traces = {s["trace_id"] for s in spans}
        records = poll(lambda: [r for r in receiver.logs() if r["body"] == "agent tools done"])
        assert len(records) == 1
        assert records[0]["trace_id"] in span_traces
        assert records[0]["attributes"][c.TENANT_ID] == "globex"

        # metrics over OTLP: tenant-labelled, standard names, exemplars attached
        def token_tenants() -> set[Any]:
            return {p.get(c.TENANT_ID) for p in receiver.metric_names().get(c.METRIC_TOKEN_USAGE, [])}

        assert poll(lambda: {"acme", "globex", "initech"} <= token_tenants()), token_tenants()
        metrics = receiver.metric_names()
        assert any(p["_exemplars"] for p in metrics[c.METRIC_OPERATION_DURATION])
        # each request's server span, its service's first span in the trace, is marked kept
        servers = [s for s in spans if s["attributes"].get("http.route") and s["parent_span_id"] in ("", None)]
        assert servers and all(s["attributes"].get(c.TRACE_KEPT) is True for s in servers)
        assert any(p.get(c.LABEL_REASON) is None for p in metrics[c.METRIC_COST])
        assert {p.get(c.TENANT_ID) for p in metrics[c.METRIC_HTTP_SERVER_DURATION]} >= {"acme", "globex"}

    # the same instruments on /metrics
    assert "glassbox_gen_ai_cost_usd_total{" in scrape
    assert 'glassbox_tenant_id="acme"' in scrape
    # the demo's tenant budgets (examples/demo_app/budgets.yaml)
    assert "glassbox_budget_limit_usd{" in scrape and "glassbox_budget_spent_usd{" in scrape
    # stdout: one JSON object per line, with the trace id
    lines = [json.loads(line) for line in app["stdout"].read_text().splitlines() if line.startswith("{")]
    agent_lines = [line for line in lines if line["message"] == "agent tools done"]
    assert agent_lines and agent_lines[0]["trace_id"] == records[0]["trace_id"]
    assert agent_lines[0]["tenant"] == "globex" and agent_lines[0]["request_id"] == "req-agent"


def test_every_demo_path_writes_its_audit_events(stub_url: str, tmp_path: Path) -> None:
    """Admin logins and failed ones, a configuration change, an approval and two kinds of AI decision."""
    with OTLPReceiver() as receiver, demo_app(stub_url, receiver.endpoint, tmp_path) as app:
        client = httpx.Client(base_url=app["url"], timeout=30)
        wrong = {**headers("acme"), "x-admin-token": "wrong"}
        assert client.get("/admin/config", headers=wrong).status_code == 403
        assert client.post("/admin/config", json={"max_tokens": 64}, headers=headers("acme")).status_code == 200
        answer = client.post("/agent", json={"task": "I was charged twice"}, headers=headers("globex", "req-a"))
        assert answer.status_code == 200 and answer.json()["approval"]
        approval = client.post(f"/admin/approvals/{answer.json()['approval']}", headers=headers("globex"))
        assert approval.status_code == 200
        chosen = client.post("/chat", json={"message": "hi", "model": "gpt-4o"}, headers=headers("initech", "req-c"))
        assert chosen.status_code == 200
        expected = ["admin.login", "admin.login", "config.change", "config.change", "ai.tool_call", "admin.login",
                    "approval.grant", "ai.model_choice"]  # fmt: skip

        def emitted() -> list[dict[str, Any]]:
            return [r for r in receiver.logs() if r["attributes"].get("event.name") == c.AUDIT_EVENT_NAME]

        assert poll(lambda: len(emitted()) >= len(expected)), emitted()
        events = emitted()
    environ = {
        **os.environ,
        "OTEL_SDK_DISABLED": "true",  # the command sends no OTel copies of its own audit events here
        "GLASSBOX_AUDIT_DIR": str(tmp_path / "audit"),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(tmp_path / "audit-checkpoints"),
        "GLASSBOX_AUDIT_KEY_FILE": str(tmp_path / "keys" / "audit.key"),
        # the operator pins the host's public key; verify trusts nothing else
        "GLASSBOX_AUDIT_PUBLIC_KEY": str(tmp_path / "keys" / "audit.key.pub"),
    }
    command = [sys.executable, "-m", "glassbox.cli", "audit"]
    verified = subprocess.run([*command, "verify"], env=environ, capture_output=True, text=True, timeout=60)
    # verify writes nothing before it has verified: the chain it read is the app's alone
    assert verified.returncode == 0 and f"OK    {len(expected)} records" in verified.stdout, verified.stdout
    exported = subprocess.run([*command, "export"], env=environ, capture_output=True, text=True, timeout=60)
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    reads = [(r["action"], r["outcome"]["status"]) for r in records[len(expected) :]]
    assert reads == [("audit.verify", "success")]  # reading the trail is audited too, once it is done
    records = records[: len(expected)]
    assert [r["action"] for r in records] == expected
    assert [r["outcome"]["status"] for r in records][:2] == ["failure", "success"]
    attempt, change = records[2], records[3]  # the change: an attempt, then its outcome
    assert (attempt["outcome"]["status"], change["outcome"]["status"]) == ("attempt", "success")
    assert change["before"]["max_tokens"] != 64 and change["after"]["max_tokens"] == 64
    assert attempt["after"] == change["after"] and attempt["trace_id"] == change["trace_id"]
    assert change["tenant"] == "acme" and records[1]["source"] == "127.0.0.1"
    decision = records[4]
    assert decision["actor"]["type"] == "agent" and decision["request_id"] == "req-a" and decision["trace_id"]
    assert records[7]["resource"] == {"type": "model", "id": "gpt-4o"} and records[7]["tenant"] == "initech"
    # the same events over OTLP, on the trace of the request that made them
    assert [e["attributes"][c.AUDIT_ACTION] for e in events] == expected
    assert {e["trace_id"] for e in events} >= {decision["trace_id"]}


def test_the_admin_kill_switch_stops_ai_calls_and_nothing_else(stub_url: str, tmp_path: Path) -> None:
    with OTLPReceiver() as receiver, demo_app(stub_url, receiver.endpoint, tmp_path) as app:
        client = httpx.Client(base_url=app["url"], timeout=30)
        assert client.post("/admin/kill-switch", json={"on": True, "reason": "drill"}, headers=headers("acme")).json()
        canned = client.post("/chat", json={"message": "hello"}, headers=headers("acme"))
        assert canned.status_code == 200 and canned.json()["fallback"] is True  # the demo's canned answer
        agent = client.post("/agent", json={"task": "where is my refund"}, headers=headers("acme"))
        assert agent.status_code == 200 and agent.json()["fallback"] is True and agent.json()["steps"] == 1
        refused = client.post("/search", json={"query": "refunds"}, headers=headers("acme"))
        assert refused.status_code == 503 and refused.json()["reason"] == "kill_switch"  # no canned embeddings
        assert client.get("/admin/config", headers=headers("acme")).status_code == 200  # everything else goes on
        assert client.post("/admin/kill-switch", json={"on": False}, headers=headers("acme")).status_code == 200
        answered = client.post("/chat", json={"message": "hello"}, headers=headers("acme"))
        assert answered.status_code == 200 and answered.json()["fallback"] is False
    environ = {**os.environ, "OTEL_SDK_DISABLED": "true", "GLASSBOX_AUDIT_DIR": str(tmp_path / "audit")}
    exported = subprocess.run([sys.executable, "-m", "glassbox.cli", "audit", "export"], env=environ,
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    actions = [json.loads(line)["action"] for line in exported.stdout.splitlines()]
    refusals = ["ai.call_refused"] * 3  # the chat, the agent's planner, the search
    on, off = ["kill_switch.on"] * 2, ["kill_switch.off"] * 2  # each an attempt and its success
    assert [a for a in actions if a not in ("admin.login", "audit.export")] == [*on, *refusals, *off]


def test_a_tenant_over_its_budget_gets_canned_answers_and_the_audit_says_why(stub_url: str, tmp_path: Path) -> None:
    """initech's day budget in the demo's budgets.yaml is 0.003 USD: a few dozen gpt-4o-mini chats spend it. Each
    call holds its most expensive outcome (its input and the 256 output tokens it allows), so the last call is
    refused a little before the spend reaches 100%."""
    with OTLPReceiver() as receiver, demo_app(stub_url, receiver.endpoint, tmp_path) as app:
        client = httpx.Client(base_url=app["url"], timeout=30)
        replies = []
        for _ in range(400):
            reply = client.post("/chat", json={"message": "Summarise my invoices " * 20},
                                headers=headers("initech"))  # fmt: skip
            assert reply.status_code == 200
            replies.append(reply.json()["fallback"])
            if replies[-1]:
                break
        assert replies[-1] is True and len(replies) > 1, replies  # answered by models, then the canned answer
        assert client.post("/chat", json={"message": "hi"}, headers=headers("globex")).json()["fallback"] is False
    environ = {**os.environ, "OTEL_SDK_DISABLED": "true", "GLASSBOX_AUDIT_DIR": str(tmp_path / "audit")}
    exported = subprocess.run([sys.executable, "-m", "glassbox.cli", "audit", "export", "--tenant", "initech"],
                              env=environ, capture_output=True, text=True, timeout=60)  # fmt: skip
    records = [json.loads(line) for line in exported.stdout.splitlines()]
    thresholds = [r["after"]["percent"] for r in records if r["action"] == "budget.threshold"]
    # in order, each once; the last ones are not reached when the most the next call can cost would go past 100%
    assert thresholds and thresholds == [80, 95, 100][: len(thresholds)], thresholds
    (refused,) = [r for r in records if r["action"] == "ai.call_refused"]
    assert refused["outcome"]["status"] == "refused" and "day budget" in refused["outcome"]["reason"]
    assert refused["request_id"] and refused["trace_id"]


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_sigterm_right_after_a_burst_loses_no_span(stub_url: str, tmp_path: Path, server: str) -> None:
    request_ids = [f"burst-{i}-{uuid.uuid4().hex[:6]}" for i in range(40)]
    # A long batch delay: only the flush on SIGTERM can deliver these spans in time.
    slow_batches = {"OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_BLRP_SCHEDULE_DELAY": "60000"}
    with OTLPReceiver() as receiver, demo_app(stub_url, receiver.endpoint, tmp_path, server, **slow_batches) as app:
        client = httpx.Client(base_url=app["url"], timeout=30)

        def send(request_id: str) -> int:
            return client.post("/chat", json={"message": "hi"}, headers=headers("acme", request_id)).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(send, request_ids)) == {200}
        process: subprocess.Popen[Any] = app["process"]
        process.send_signal(signal.SIGTERM)
        process.wait(30)
        assert process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM, 0), process.returncode
        server = [s for s in receiver.spans() if s["name"] == "POST /chat"]
        assert {s["attributes"].get(c.REQUEST_ID) for s in server} >= set(request_ids)
        chats = [s for s in receiver.spans() if s["attributes"].get(c.USAGE_COUNTED)]
        assert len(chats) >= len(request_ids)


@pytest.mark.parametrize("endpoint", ["closed-port"])
def test_collector_unreachable_app_serves_and_counts_the_loss(stub_url: str, tmp_path: Path, endpoint: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with demo_app(stub_url, dead, tmp_path, OTEL_EXPORTER_OTLP_TIMEOUT="1") as app:
        client = httpx.Client(base_url=app["url"], timeout=10)
        statuses = [
            client.post("/chat", json={"message": "hi"}, headers=headers("acme")).status_code for _ in range(30)
        ]
        assert statuses == [200] * 30

        def failed_exports() -> float:
            total = 0.0
            for line in httpx.get(app["metrics_url"]).text.splitlines():
                if line.startswith("otel_sdk_exporter_span_exported_total{") and "error_type=" in line:
                    total += float(line.rsplit(" ", 1)[1])
            return total

        assert poll(failed_exports, timeout=40) >= 1
        # only the processors' and exporters' self-metrics are on, not the per-span ones (see pipeline.py)
        scrape = httpx.get(app["metrics_url"]).text
        assert "otel_sdk_processor_span_queue_size" in scrape
        assert "otel_sdk_span_started_total" not in scrape


@pytest.mark.parametrize("keep", ["false", "true"])
def test_spans_that_repeat_a_model_call_are_left_out_unless_asked_for(stub_url: str, tmp_path: Path, keep: str) -> None:
    """The HTTP client span under a GenAI span and the Anthropic SDK's own span under the GenAI
    instrumentation's span describe the same call: by default they are not exported, and every call is still
    counted once with its usage and cost (GLASSBOX_NESTED_CALL_SPANS=true keeps them)."""
    with (
        OTLPReceiver() as receiver,
        demo_app(stub_url, receiver.endpoint, tmp_path, GLASSBOX_NESTED_CALL_SPANS=keep) as app,
    ):
        client = httpx.Client(base_url=app["url"], timeout=30)
        assert client.post("/agent", json={"task": "refund?"}, headers=headers("globex", "req-a")).status_code == 200

        def complete() -> list[dict[str, Any]]:
            spans = [s for s in receiver.spans() if s["attributes"].get(c.REQUEST_ID) == "req-a"]
            names = {s["name"] for s in spans}
            return spans if {"POST /agent", "invoke_agent support_agent", "chat gpt-4o-mini"} <= names else []

        spans = poll(complete)
        assert spans, sorted({s["name"] for s in receiver.spans()})
        time.sleep(0.5)  # anything exported late by the same batch
        spans = [s for s in receiver.spans() if s["attributes"].get(c.REQUEST_ID) == "req-a"]
    model_call_ids = {
        s["span_id"] for s in spans if s["attributes"].get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS
    }
    transport = [
        s for s in spans if s["parent_span_id"] in model_call_ids and c.GEN_AI_OPERATION_NAME not in s["attributes"]
    ]
    duplicates = [s for s in spans if s["attributes"].get(c.COST_STATUS) == c.COST_STATUS_DUPLICATE]
    counted = [s for s in spans if s["attributes"].get(c.USAGE_COUNTED) is True]
    # 2 Anthropic calls + 1 OpenAI chat + 1 embedding, each counted once, with usage and cost
    assert len(counted) == 4
    assert all(s["attributes"][c.COST_USD] > 0 and s["attributes"][c.GEN_AI_USAGE_INPUT_TOKENS] for s in counted)
    # no exported span has a parent that was left out
    exported = {s["span_id"] for s in spans}
    assert all(s["parent_span_id"] in exported for s in spans if s["name"] != "POST /agent")
    if keep == "true":
        assert len(transport) >= 4 and {s["kind"] for s in transport} == {3}  # SPAN_KIND_CLIENT
        assert len(duplicates) == 2
    else:
        assert transport == [] and duplicates == []


def test_sigterm_with_the_collector_down_exits_within_the_shutdown_timeout(stub_url: str, tmp_path: Path) -> None:
    """The SDK's flush ignores its timeout and each batch is retried for up to 10 s; glassbox gives up at
    GLASSBOX_SHUTDOWN_TIMEOUT, stops the retries and counts what it left."""
    dead = f"http://127.0.0.1:{free_port()}"
    # Batches that only the shutdown flush would send, to an endpoint nobody listens on (default 10 s timeout).
    slow = {"OTEL_BSP_SCHEDULE_DELAY": "60000", "OTEL_BLRP_SCHEDULE_DELAY": "60000", "GLASSBOX_SHUTDOWN_TIMEOUT": "2"}
    with demo_app(stub_url, dead, tmp_path, **slow) as app:
        client = httpx.Client(base_url=app["url"], timeout=10)
        for _ in range(20):
            assert client.post("/chat", json={"message": "hi"}, headers=headers("acme")).status_code == 200
        process: subprocess.Popen[Any] = app["process"]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(60)
        took = time.monotonic() - started
    # 2 s of flushing plus the server's own shutdown; without the deadline it takes minutes.
    assert took < 15, took
    assert process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM, 0), process.returncode


def test_online_evaluators_export_scores_and_no_prompt_or_answer(stub_url: str, tmp_path: Path) -> None:
    """The demo app under opentelemetry-instrument with a file of evaluators (a rule and a judge served by the
    stub), content capture off: every call's scores arrive, parented to its trace; no question or answer text
    leaves the process, in any signal."""
    evaluators = tmp_path / "evaluators.yaml"
    evaluators.write_text(
        "evaluators:\n"
        "  - {name: no-refusal, version: '2', kind: refusal}\n"
        f"  - {{name: helpful, kind: judge, model: gpt-4o-mini, url: '{stub_url}/v1', "
        "prompt: 'Rate the answer to {question}: {answer}'}\n"
    )
    secret = "zebra-quartz-417"
    with (
        OTLPReceiver() as receiver,
        demo_app(stub_url, receiver.endpoint, tmp_path, GLASSBOX_EVALUATORS_FILE=str(evaluators)) as app,
    ):
        client = httpx.Client(base_url=app["url"], timeout=30)
        for number in range(3):
            question = f"Where is my parcel {secret}-{number}?"
            response = client.post("/chat", json={"message": question}, headers=headers("acme", f"req-eval-{number}"))
            assert response.status_code == 200 and secret in response.text  # the stub echoes it back

        def scored() -> list[dict[str, Any]]:
            return [
                r
                for r in receiver.logs()
                if r.get("event_name") == c.GEN_AI_EVALUATION_EVENT
                and r["attributes"].get(c.EVALUATION_SOURCE) == c.EVALUATION_SOURCE_ONLINE
            ]

        assert poll(lambda: len(scored()) >= 6, timeout=60), scored()
        by_name: dict[str, int] = {}
        for record in scored():
            name = record["attributes"][c.GEN_AI_EVALUATION_NAME]
            by_name[name] = by_name.get(name, 0) + 1
            assert record["trace_id"] and record["span_id"] != "0" * 16
        assert by_name == {"no-refusal": 3, "helpful": 3}
        assert secret.encode() not in b"".join(receiver.raw)
