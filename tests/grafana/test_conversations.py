"""The Conversations dashboard: sessions from Tempo, one session's turns from Tempo and its logs from Loki, and no
session id anywhere near Prometheus."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from pathlib import Path

import httpx

from glassbox import conventions as c
from grafana import promql as p
from tests.e2e.test_demo_subprocess import demo_app, headers
from tests.support.binaries import requires
from tests.support.dashboard_queries import PanelQuery, dashboards, panels, queries, substitute
from tests.support.stack_fixtures import new_stack, otlp_http, wait_for

UID = "glassbox-conversations"


def test_the_variables_follow_env_service_tenant_then_the_session() -> None:
    variables = {v["name"]: v for v in dashboards()[UID]["templating"]["list"]}
    assert list(variables) == ["env", "service", "tenant", "session"]
    assert variables["session"]["type"] == "textbox"  # unbounded: typed in, never listed from Prometheus
    assert variables["tenant"]["datasource"]["type"] == "prometheus"


def test_the_panels_of_one_session_filter_by_the_session_variable() -> None:
    items = dashboards()[UID]["panels"]
    (row,) = [i for i, panel in enumerate(items) if panel["type"] == "row" and "$session" in panel["title"]]
    one_session = items[row + 1 :]
    assert {panel["type"] for panel in one_session} >= {"table", "logs"}
    for panel in one_session:
        for target in panel["targets"]:
            if target["datasource"]["type"] == "tempo":
                assert f'span.{c.SESSION_ID} = "$session"' in target["query"], panel["title"]
            else:
                assert target["datasource"]["type"] == "loki", panel["title"]
                assert f'| {c.loki_field(c.SESSION_ID)}="$session"' in target["expr"], panel["title"]


def test_the_sessions_table_groups_tempo_s_spans_by_session_tenant_and_user() -> None:
    (table,) = [panel for panel in panels(dashboards()[UID]) if panel["title"] == "Sessions"]
    assert table["datasource"]["type"] == "tempo"
    by = f"by (span.{c.SESSION_ID}, span.{c.TENANT_ID}, span.{c.USER_ID})"
    for target in table["targets"]:
        assert target["metricsQueryType"] == "instant" and target["query"].endswith(by), target["query"]
        for variable in ("$env", "$service", "$tenant"):
            assert variable in target["query"], (variable, target["query"])
    renamed = table["transformations"][1]["options"]["renameByName"]
    assert set(renamed.values()) == {"turns", "USD", "slowest turn", "failed spans", "rejected answers"}
    assert len(renamed) == len(table["targets"])


def test_no_prometheus_query_or_variable_carries_a_session_label() -> None:
    session_label = p.label(c.SESSION_ID)
    promql = [query for query in queries() if query.language == "promql"]
    assert promql
    for query in promql:
        assert not re.search(rf"\b{session_label}\b", query.expr), f"{query.where}: {query.expr}"
    for name, found in dashboards().items():
        for panel in panels(found):
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == "prometheus":
                    assert session_label not in target["expr"], f"{name} / {panel['title']}"


def test_the_dashboard_is_reached_from_home_like_the_others() -> None:
    boards = dashboards()
    (link,) = boards["glassbox-home"]["links"]
    assert link["type"] == "dashboards" and link["includeVars"] is True
    reached = {uid for uid, found in boards.items() if set(link["tags"]) <= set(found["tags"])}
    assert reached == set(boards), "every dashboard, the Conversations one among them, is in the home's list"
    assert UID in reached


@requires("tempo")
@requires("loki")
def test_every_conversations_query_finds_a_real_session(stub_url: str, tmp_path: Path) -> None:
    """Two turns of one session through the demo app, the collector, Tempo and Loki: each panel's TraceQL (search
    and instant metrics) and LogQL, as Grafana sends it with that session chosen, runs and names the session."""
    stack = new_stack(tmp_path)
    try:
        stack.up(["prometheus", "loki", "tempo", "collector"])
        session_id = f"chat-{uuid.uuid4().hex[:10]}"
        with demo_app(stub_url, otlp_http(stack), tmp_path) as app:
            client = httpx.Client(base_url=app["url"], timeout=30)
            for _ in range(2):
                sent = {**headers("acme"), "x-session-id": session_id}
                assert client.post("/agent", json={"task": "how do I export?"}, headers=sent).status_code == 200
        tempo = f"http://127.0.0.1:{stack.env['GLASSBOX_TEMPO_PORT']}"
        loki = f"http://127.0.0.1:{stack.env['GLASSBOX_LOKI_PORT']}"
        mine = [query for query in queries() if query.where.startswith(f"{UID} /") and "variable" not in query.where]
        assert {query.language for query in mine} == {"traceql", "logql"}

        def run(query: PanelQuery) -> httpx.Response:
            expr = substitute(query.expr, defaults={**query.defaults, "session": session_id})
            now = int(time.time())
            if query.language == "logql":
                window = {"start": (now - 3600) * 10**9, "end": (now + 60) * 10**9}
                return httpx.get(f"{loki}/loki/api/v1/query_range", params={"query": expr, **window}, timeout=30)
            window = {"start": now - 3600, "end": now + 60}
            path = "/api/metrics/query" if query.target.get("metricsQueryType") else "/api/search"
            return httpx.get(f"{tempo}{path}", params={"q": expr, **window}, timeout=30)

        def answered() -> dict[str, str] | None:
            answers = {query.where: run(query) for query in mine}
            errors = [f"{where}: {r.status_code} {r.text[:300]}" for where, r in answers.items() if r.is_error]
            assert not errors, "\n".join(errors)
            empty = {where: r.text for where, r in answers.items() if session_id not in r.text}
            return None if len(empty) > 3 else {w: r.text for w, r in answers.items()}

        with contextlib.suppress(AssertionError):  # the assertion below names the panels without the session
            wait_for(answered, timeout=120, what=f"session {session_id} in every Conversations panel")
        found = {query.where: run(query).text for query in mine}
        empty = {where: text[:200] for where, text in found.items() if session_id not in text}
        # The demo's turns neither fail nor get rejected; the log count is per service (the demo's).
        counted = f"{UID} / Log records of the session by service (A)"
        assert set(empty) == {f"{UID} / Sessions (D)", f"{UID} / Sessions (E)", counted}, empty
        assert '"service_name":"demo-agent"' in found[counted], found[counted]
    finally:
        stack.down()
