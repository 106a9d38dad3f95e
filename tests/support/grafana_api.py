"""Run each committed dashboard panel's queries through a running Grafana's query API, as a browser would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.dashboard_queries import dashboards, panels, substitute

# Queries Grafana's backend runs itself; these datasource types answer /api/ds/query.
QUERYABLE = {"prometheus", "loki", "tempo"}


def query_body(target: dict[str, Any], window: str, defaults: dict[str, str]) -> dict[str, Any]:
    query = dict(target)
    for key in ("expr", "query"):
        if key in query:
            query[key] = substitute(query[key], builtins=False, defaults=defaults)
    query.setdefault("intervalMs", 15000)
    query.setdefault("maxDataPoints", 500)
    return {"queries": [query], "from": f"now-{window}", "to": "now"}


def rows(response: dict[str, Any]) -> int:
    """How many values the frames of a /api/ds/query answer hold."""
    count = 0
    for result in response.get("results", {}).values():
        for frame in result.get("frames", []):
            values = frame.get("data", {}).get("values", [])
            count += max((len(column) for column in values), default=0)
    return count


def panel_results(
    base: str, auth: tuple[str, str], window: str = "1h", datasources: set[str] = QUERYABLE
) -> dict[str, tuple[int, str]]:
    """'dashboard / panel (ref)' -> (values returned, error text) for every panel query."""
    results: dict[str, tuple[int, str]] = {}
    with httpx.Client(base_url=base, auth=auth, timeout=30) as client:
        for name, board in dashboards().items():
            defaults = {v["name"]: v["query"] for v in board["templating"]["list"] if v["type"] == "textbox"}
            for panel in panels(board):
                for target in panel["targets"]:
                    if target["datasource"]["type"] not in datasources:
                        continue
                    where = f"{name} / {panel['title']} ({target['refId']})"
                    response = client.post("/api/ds/query", json=query_body(target, window, defaults))
                    body = response.json()
                    errors = [r.get("error", "") for r in body.get("results", {}).values() if r.get("error")]
                    error = body.get("message", "") if response.status_code >= 400 else "; ".join(errors)
                    results[where] = (rows(body), error)
    return results
