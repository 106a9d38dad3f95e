"""Alerts delivered end to end: the shipped Prometheus rules, evaluated by the real Prometheus on what a real app
sends through the real collector, routed by the real Alertmanager (Debian's) with the shipped routing, reach a
webhook with their labels and an absolute runbook link.

Three failures are forced at once, as an incident would bring them: the stub LLM answers half of the calls with
a 500 (GlassboxLLMErrorRate), a tenant spends its day budget until the guard refuses its calls (the budget band
its spend lands in: a call is refused when the most it could cost would pass the budget, so the spend stops short
of it), and the canary stops (GlassboxCanaryStale). Nothing is shortened: the rules' ``for`` durations, windows
and group intervals and the routes' waits are the shipped ones, so the test waits for them (about seven minutes:
the canary counts as stale after five, an error rate must hold for five, and warnings wait a minute to be batched).

`make test` installs Prometheus and Alertmanager (the Makefile's `prometheus` target) and builds the collector: a
missing binary is an error here, not a skip.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from grafana.alerts import ALERTS
from stack.processes import free_port, start, stop, wait_http
from tests.conftest import EXAMPLES
from tests.e2e.test_demo_subprocess import demo_app
from tests.support.otlp_receiver import OTLPReceiver
from tests.support.stack_fixtures import native_stack, otlp_http, prom_query, wait_for
from tests.support.webhook_receiver import WebhookReceiver

RUNBOOKS = "https://runbooks.example.com/glassbox/docs/runbooks.md"
OVERSPENDER = "overspender"
BUDGETS = f"""tenants:
  {OVERSPENDER}: {{day: 0.001, month: 1.0}}
  "*": {{day: 100.0, month: 1000.0}}
"""
BY_NAME = {alert.name: alert for alert in ALERTS}
# The budget bands, lowest first: (lower bound, upper bound or None, alert); see grafana/alerts.py.
BANDS = sorted(
    (alert.above, alert.below, alert.name) for alert in ALERTS if alert.name.startswith("GlassboxTenantBudget")
)


@contextmanager
def failing_stub(tmp_path: Path, error_rate: float) -> Iterator[str]:
    """The stub LLM server answering ``error_rate`` of its calls with a 500."""
    port = free_port()
    log = tmp_path / "stub.log"
    process = start(
        [sys.executable, str(EXAMPLES / "stub_llm" / "server.py"), "--port", str(port), "--latency-ms", "1",
         "--error-rate", str(error_rate), "--seed", "7"],
        log,
    )  # fmt: skip
    try:
        wait_http("stub", process, log, f"http://127.0.0.1:{port}/health", 30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def steady_traffic(url: str, tenants: tuple[str, ...], per_second: float) -> Iterator[None]:
    """Chat requests, round robin over tenants, until the block ends (answers are not checked: half fail)."""
    done = threading.Event()

    def send() -> None:
        with httpx.Client(base_url=url, timeout=10) as client:
            number = 0
            while not done.wait(1 / per_second):
                tenant = tenants[number % len(tenants)]
                number += 1
                headers = {"x-tenant-id": tenant, "x-user-id": f"{tenant}-user", "x-request-id": f"alert-{number}"}
                with contextlib.suppress(httpx.HTTPError):  # an overloaded app is not what this test measures
                    client.post("/chat", json={"message": "What is our refund policy?"}, headers=headers)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(15)


def spend_until_refused(url: str, tenant: str, most: int = 3000) -> int:
    """Chat requests for ``tenant`` until the guard refuses one (the app answers with its fallback); how many."""
    with httpx.Client(base_url=url, timeout=10) as client:
        for number in range(1, most + 1):
            response = client.post(
                "/chat", json={"message": "What is our refund policy?"}, headers={"x-tenant-id": tenant}
            )
            if response.status_code == 200 and response.json().get("fallback"):
                return number
    raise AssertionError(f"{tenant}: no call refused by its budget in {most} requests")


def budget_share(stack: Any, tenant: str) -> float | None:
    """The tenant's day spend over its budget, as the budget rules compute it, when Prometheus has it."""
    query = (
        f'sum(max by (glassbox_budget_scope) (glassbox_budget_spent_usd{{glassbox_tenant_id="{tenant}",'
        f'glassbox_budget_period="day"}})) / max(glassbox_budget_limit_usd{{glassbox_tenant_id="{tenant}",'
        f'glassbox_budget_period="day"}})'
    )
    rows = prom_query(stack, query)
    return float(rows[0]["value"][1]) if rows else None


def band(share: float) -> str | None:
    """The budget alert whose band holds ``share`` (over the lower bound, at most the upper): None below all."""
    for above, below, name in BANDS:
        if share > above and (below is None or share <= below):
            return name
    return None


@pytest.mark.timeout(900)
def test_forced_failures_reach_the_webhook_with_their_labels_and_runbook_links(tmp_path: Path) -> None:
    budgets = tmp_path / "budgets.yaml"
    budgets.write_text(BUDGETS)
    components = ("alertmanager", "prometheus", "collector", "canary")
    settings = {
        "GLASSBOX_ALERTMANAGER_PORT": str(free_port()),
        "GLASSBOX_CANARY_INTERVAL": "5",
        "GLASSBOX_RUNBOOK_URL": RUNBOOKS,
    }
    with (
        WebhookReceiver() as webhook,
        OTLPReceiver() as sink,
        failing_stub(tmp_path, 0.5) as stub_url,
        native_stack(tmp_path, sink.port, components, GLASSBOX_ALERT_WEBHOOK_URL=webhook.url, **settings) as stack,
        demo_app(stub_url, otlp_http(stack), tmp_path, GLASSBOX_BUDGETS_FILE=str(budgets)) as app,
    ):
        # The canary has been seen, then stops: its freshness alert is due five minutes after its last pass.
        wait_for(lambda: prom_query(stack, "glassbox_canary_timestamp_seconds"), 120, "the canary in Prometheus")
        stack.stop("canary")
        with steady_traffic(app["url"], ("acme",), per_second=3):
            # The overspender's calls are refused once the next could pass its budget: its spend settles there.
            spend_until_refused(app["url"], OVERSPENDER)
            share = wait_for(lambda: (s := budget_share(stack, OVERSPENDER)) and s > 0.8 and s, 60, "the spend")
            expected = {"GlassboxLLMErrorRate", "GlassboxCanaryStale"}
            budget_alert = band(share)
            assert budget_alert is not None, f"{OVERSPENDER} spent {share:.3f} of its budget: no band holds it"
            expected.add(budget_alert)
            wait_for(lambda: expected <= webhook.firing(), 780, f"{sorted(expected)} at the webhook")

    notified = {
        alert["labels"]["alertname"]: alert for alert in webhook.alerts() if alert["labels"]["alertname"] in expected
    }
    for name, alert in notified.items():
        rule = BY_NAME[name]
        assert alert["labels"]["severity"] == rule.severity
        assert alert["annotations"]["runbook_url"] == f"{RUNBOOKS}#{rule.runbook}"
        assert "{{" not in alert["annotations"]["summary"] + alert["annotations"]["description"]
        assert alert["startsAt"] and alert["generatorURL"].startswith("http")
    budget = notified[budget_alert]["labels"]
    assert (budget["glassbox_tenant_id"], budget["glassbox_budget_period"]) == (OVERSPENDER, "day")
    assert OVERSPENDER in notified[budget_alert]["annotations"]["summary"]
    errors = notified["GlassboxLLMErrorRate"]["labels"]
    assert errors["job"] == "demo-agent" and errors["gen_ai_request_model"]
    # One receiver, as the shipped routing names it, for every notification.
    assert {n["receiver"] for n in webhook.notifications} == {"glassbox-webhook"}
