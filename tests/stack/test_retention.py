"""Every metrics query reads only what the metrics store still keeps.

The longest look-back of each dashboard (its default time range, plus the longest range vector or offset in
its queries, plus one panel interval more, since Grafana aligns a panel's steps to multiples of its interval)
and of each alert rule (range plus offset) must fit in GLASSBOX_METRICS_RETENTION, whose default is the same in
the native run, docker-compose.yml, docker-compose.scale.yml (Mimir), the Helm values and .env.example.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from stack.components import NATIVE_DEFAULTS
from tests.stack.test_compose import COMPOSE_FILE, compose_variables, env_example
from tests.stack.test_loki_config import seconds as duration
from tests.support.dashboard_queries import DASHBOARDS, dashboards, panels

ROOT = Path(__file__).resolve().parents[2]
RULE_FILES = [ROOT / "prometheus" / "rules" / "glassbox-alerts.yml"]
DURATION = r"(\d+(?:ms|s|m|h|d|w|y))"
RANGE = re.compile(rf"\[{DURATION}(?::{DURATION})?\]")
OFFSET = re.compile(rf"\boffset\s+{DURATION}")


def look_back(expr: str) -> float:
    """The longest range vector plus the longest offset in one PromQL expression."""
    ranges = [duration(m.group(1)) for m in RANGE.finditer(expr)]
    offsets = [duration(m.group(1)) for m in OFFSET.finditer(expr)]
    return max(ranges, default=0.0) + max(offsets, default=0.0)


def dashboard_reach(path: Path) -> float:
    dashboard = dashboards()[path.stem]
    window = duration(dashboard["time"]["from"].removeprefix("now-"))
    reach = window
    for panel in panels(dashboard):
        interval = duration(panel["interval"]) if panel.get("interval") else 0.0
        # A panel with its own range ("now/M": this month so far) reads at most that range.
        own_window = {"now/M": 31 * 86400, "now/d": 86400}.get(panel.get("timeFrom", ""), window)
        for target in panel.get("targets", []):
            expr = str(target.get("expr", "")).replace("$__range", f"{int(own_window)}s")
            own = look_back(expr.replace("$__interval", panel.get("interval") or "1m"))
            reach = max(reach, own_window + own + interval)
    return reach


def rule_reach() -> float:
    exprs = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            exprs += [str(rule["expr"]) for rule in group["rules"]]
    assert exprs, "the alert rules hold queries"
    return max(look_back(expr) for expr in exprs)


def retentions() -> dict[str, str]:
    """The default metrics retention wherever one is set."""
    scale = ROOT / "docker-compose.scale.yml"
    helm = yaml.safe_load((ROOT / "kubernetes" / "mimir.values.yaml").read_text())
    return {
        "native run": NATIVE_DEFAULTS["GLASSBOX_METRICS_RETENTION"],
        "docker-compose.yml": str(compose_variables(COMPOSE_FILE)["GLASSBOX_METRICS_RETENTION"]),
        "docker-compose.scale.yml": str(compose_variables(scale)["GLASSBOX_METRICS_RETENTION"]),
        ".env.example": env_example()["GLASSBOX_METRICS_RETENTION"],
        "kubernetes/mimir.values.yaml": helm["mimir"]["structuredConfig"]["limits"][
            "compactor_blocks_retention_period"
        ],
    }


def test_the_default_retention_is_the_same_everywhere() -> None:
    found = retentions()
    assert len(set(found.values())) == 1, found


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda path: path.stem)
def test_every_dashboard_reads_only_kept_data(path: Path) -> None:
    kept = duration(retentions()["native run"])
    reach = dashboard_reach(path)
    assert reach <= kept, f"{path.name} reads {reach / 86400:.1f} days back; metrics are kept {kept / 86400:.0f}"


def test_every_alert_rule_reads_only_kept_data() -> None:
    kept = duration(retentions()["native run"])
    assert rule_reach() <= kept


def test_the_reach_is_computed_from_the_queries() -> None:
    # A month's panel at a 30-day interval over a 7-day range reads 7 + 30 + 30 days back.
    assert look_back("sum(increase(x[30d]))") == 30 * 86400
    assert look_back("rate(x[1h] offset 1w)") == 3600 + 604800
    assert look_back("sum(rate(x[5m:1m]))") == 300
