"""Every query the committed dashboards and alert rules run, read from the generated files that ship."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
GRAFANA_RULES = ROOT / "grafana" / "provisioning" / "alerting" / "rules.yaml"
PROMETHEUS_RULES = ROOT / "prometheus" / "rules" / "glassbox-alerts.yml"

# What Grafana puts in for its variables when a query runs over the last hour with every value selected.
SUBSTITUTIONS = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
    "$__auto": "1m",
}
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^{}]*)\}")


@dataclass(frozen=True)
class PanelQuery:
    where: str  # "dashboard / panel" or "alert rule X" or "dashboard / variable $x"
    language: str  # promql | logql | traceql
    expr: str
    target: dict[str, Any]
    # Free-text variables of the dashboard and their default values.
    defaults: dict[str, str] = field(default_factory=dict)


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in DASHBOARDS}


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def queries() -> list[PanelQuery]:
    found: list[PanelQuery] = []
    for name, board in dashboards().items():
        defaults = {v["name"]: v["query"] for v in board["templating"]["list"] if v["type"] == "textbox"}
        for variable in board["templating"]["list"]:
            if variable["type"] == "query":
                language = "logql" if variable["datasource"]["type"] == "loki" else "promql"
                found.append(
                    PanelQuery(f"{name} / variable ${variable['name']}", language, variable["definition"], variable)
                )
        for panel in panels(board):
            for target in panel.get("targets", []):  # an alert list shows Grafana's alerts: no query
                where = f"{name} / {panel['title']} ({target['refId']})"
                kind = target["datasource"]["type"]
                if kind == "prometheus":
                    found.append(PanelQuery(where, "promql", target["expr"], target, defaults))
                elif kind == "loki":
                    found.append(PanelQuery(where, "logql", target["expr"], target, defaults))
                elif kind == "tempo":
                    found.append(PanelQuery(where, "traceql", target["query"], target, defaults))
                else:
                    raise AssertionError(f"{where}: unknown datasource type {kind}")
    for group in yaml.safe_load(GRAFANA_RULES.read_text())["groups"]:
        for rule in group["rules"]:
            for data in rule["data"]:
                if data["datasourceUid"] != "__expr__":
                    found.append(PanelQuery(f"alert rule {rule['title']}", "promql", data["model"]["expr"], data))
    return found


def substitute(expr: str, builtins: bool = True, defaults: dict[str, str] | None = None) -> str:
    """The expression with free-text variables at their defaults, every other template variable at All and,
    unless builtins is False (Grafana fills them in), Grafana's built-in variables at fixed windows."""
    if builtins:
        for name, value in SUBSTITUTIONS.items():
            expr = expr.replace(name, value)
    for name, value in sorted((defaults or {}).items(), key=lambda item: -len(item[0])):
        expr = expr.replace(f"${name}", value)
    return re.sub(r"\$(?!__)[a-z_]+", ".*", expr)


def selectors(expr: str) -> list[str]:
    """The series selectors in a PromQL expression (each written name{...} by grafana.promql)."""
    return [match.group(0) for match in SELECTOR.finditer(expr)]


def selector_metric(selector: str) -> str:
    match = SELECTOR.fullmatch(selector)
    assert match, selector
    if match.group(1):
        return match.group(1)
    name = re.search(r'__name__=~?"([^"]+)"', match.group(2))
    assert name, f"{selector} names no metric"
    return name.group(1)
