"""Agent and tool spans, entry points, and the docs that name what the code emits."""

from __future__ import annotations

import asyncio
import re
from importlib.metadata import entry_points
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import glassbox
from glassbox import conventions as c
from tests.conftest import ROOT, Telemetry


def test_agent_and_tool_spans_as_decorators_and_context_managers(telemetry: Telemetry) -> None:
    @glassbox.tool("lookup")
    def lookup(x: int) -> int:
        return x + 1

    @glassbox.agent("planner", agent_id="a-1")
    async def plan() -> int:
        with glassbox.tool("search", call_id="call-9") as span:
            span.set_attribute("app.hits", 2)
        return lookup(1)

    assert asyncio.run(plan()) == 2
    spans = {s.name: s for s in telemetry.finished()}
    agent = spans["invoke_agent planner"]
    assert agent.attributes[c.GEN_AI_OPERATION_NAME] == "invoke_agent"
    assert agent.attributes[c.GEN_AI_AGENT_ID] == "a-1"
    search = spans["execute_tool search"]
    assert search.attributes[c.GEN_AI_TOOL_NAME] == "search"
    assert search.attributes[c.GEN_AI_TOOL_CALL_ID] == "call-9"
    assert search.attributes["app.hits"] == 2
    assert search.parent.span_id == agent.context.span_id
    # tools inside an agent carry its name, so their model calls can be attributed
    assert spans["execute_tool lookup"].attributes[c.GEN_AI_AGENT_NAME] == "planner"


def test_failing_tool_records_error_type(telemetry: Telemetry) -> None:
    with pytest.raises(KeyError), glassbox.tool("broken"):
        raise KeyError("missing")
    (span,) = telemetry.finished()
    assert span.attributes[c.ERROR_TYPE] == "KeyError"
    assert span.status.status_code == StatusCode.ERROR
    assert span.events[0].name == "exception"


def test_entry_points_are_registered() -> None:
    def names(group: str) -> dict[str, Any]:
        return {ep.name: ep.value for ep in entry_points(group=group)}

    assert names("opentelemetry_distro")["glassbox"] == "glassbox.sdk.distro:GlassboxDistro"
    assert names("opentelemetry_configurator")["glassbox"] == "glassbox.sdk.distro:GlassboxConfigurator"
    assert (
        names("opentelemetry_instrumentor")["glassbox_edge"]
        == "glassbox.integrations.asgi_attribution:EdgeInstrumentor"
    )
    assert "glassbox" in names("opentelemetry_post_instrument")


def test_docs_name_only_metrics_the_code_emits() -> None:
    emitted = {getattr(c, name) for name in dir(c) if name.startswith("METRIC_")}
    text = (ROOT / "docs" / "telemetry.md").read_text()
    documented = set(re.findall(r"`((?:gen_ai|glassbox|http|otel)\.[a-z_.]+)`", text))
    metric_like = {name for name in documented if name in emitted or name.startswith("glassbox.gen_ai")}
    assert emitted <= documented, f"undocumented metrics: {emitted - documented}"
    assert metric_like <= emitted | set(c.CONTENT_ATTRIBUTES) | {c.COST_USD}


def test_prometheus_names_table_covers_dashboard_facing_metrics() -> None:
    assert set(c.PROMETHEUS_NAMES) <= {getattr(c, n) for n in dir(c) if n.startswith("METRIC_")}
    # Prometheus naming: snake case, lower case, the unit spelled out (glassbox_gen_ai_cost_usd_total)
    assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", name) for name in c.PROMETHEUS_NAMES.values())
    assert c.PROMETHEUS_NAMES[c.METRIC_COST] == "glassbox_gen_ai_cost_usd_total"


def test_docs_exist_for_every_doc_link() -> None:
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(((?:docs|benchmarks|examples)/[^)#]+)", readme):
        assert (ROOT / target).exists(), target
