"""The three tenant-budget alerts tile: every share of the budget over the first threshold fires exactly one of
them, at and on either side of each boundary, in both committed rule sets.

Prometheus's rules run in promtool as they are. Grafana's run as Grafana evaluates them: query A in PromQL, then
threshold C's evaluator (pkg/expr/threshold.go in grafana/grafana: gt is x > a, within_range a < x < b,
within_range_included a <= x <= b), written here in PromQL and run in promtool too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from glassbox import conventions as c
from grafana import alerts
from grafana import promql as p
from tests.support.dashboard_queries import GRAFANA_RULES, PROMETHEUS_RULES

BANDS = ("GlassboxTenantBudget80", "GlassboxTenantBudget95", "GlassboxTenantBudget100")
STEP = 0.0005
# Share of the budget spent -> the one alert it fires (None: none). A band is "over its threshold, up to and
# including the next one": the descriptions say "has used over 80%", "over 95%", "all".
EXPECTED: dict[float, str | None] = {
    0.8 - STEP: None,
    0.8: None,
    0.8 + STEP: "GlassboxTenantBudget80",
    0.95 - STEP: "GlassboxTenantBudget80",
    0.95: "GlassboxTenantBudget80",
    0.95 + STEP: "GlassboxTenantBudget95",
    0.999 - STEP: "GlassboxTenantBudget95",
    0.999: "GlassboxTenantBudget95",
    0.999 + STEP: "GlassboxTenantBudget100",
    1.5: "GlassboxTenantBudget100",
}
GRAFANA_EVALUATORS = {
    "gt": lambda a: f"> {a[0]}",
    "within_range": lambda a: f"> {a[0]} < {a[1]}",
    "within_range_included": lambda a: f">= {a[0]} <= {a[1]}",
}
TENANT = {p.TENANT: "acme", p.PERIOD: c.BUDGET_PERIOD_DAY}


def grafana_rule(rule: dict[str, Any]) -> dict[str, Any]:
    query, threshold = rule["data"]
    evaluator = threshold["model"]["conditions"][0]["evaluator"]
    compare = GRAFANA_EVALUATORS[evaluator["type"]](evaluator["params"])
    return {"alert": f"{rule['title']}Grafana", "expr": f"({query['model']['expr']}) {compare}", "for": rule["for"]}


def rules() -> dict[str, dict[str, Any]]:
    """The three budget rules of each committed file, as Prometheus alert rules without annotations."""
    grafana = [r for g in yaml.safe_load(GRAFANA_RULES.read_text())["groups"] for r in g["rules"]]
    prometheus = [r for g in yaml.safe_load(PROMETHEUS_RULES.read_text())["groups"] for r in g["rules"]]
    found = {f"{r['title']}Grafana": grafana_rule(r) for r in grafana if r["title"] in BANDS}
    for rule in prometheus:
        if rule["alert"] in BANDS:
            found[f"{rule['alert']}Prometheus"] = {
                "alert": f"{rule['alert']}Prometheus",
                "expr": rule["expr"],
                "for": rule["for"],
            }
    assert len(found) == 2 * len(BANDS)
    return found


def case(share: float, rule_set: dict[str, dict[str, Any]]) -> dict[str, Any]:
    spent, limit = p.metric(c.METRIC_BUDGET_SPENT), p.metric(c.METRIC_BUDGET_LIMIT)
    labels = f'{p.TENANT}="acme", {p.PERIOD}="{c.BUDGET_PERIOD_DAY}", {p.label(c.BUDGET_SCOPE)}="h1"'
    severity = {a.name: a.severity for a in alerts.ALERTS}
    tests = []
    for name in rule_set:
        band = name.removesuffix("Grafana").removesuffix("Prometheus")
        fires = EXPECTED[share] == band
        exp = [{"exp_labels": {**alerts.APP, **TENANT, "severity": severity[band]}}] if fires else []
        tests.append({"eval_time": "5m", "alertname": name, "exp_alerts": exp})
    return {
        "name": f"{share:g} of the budget spent",
        "interval": "1m",
        "input_series": [
            {"series": alerts.series(spent, labels), "values": f"{share * 1000:g}x10"},
            {"series": alerts.series(limit, labels), "values": "1000x10"},
        ],
        "alert_rule_test": tests,
    }


def test_every_share_over_the_first_threshold_fires_exactly_one_budget_alert(tmp_path: Path) -> None:
    rule_set = rules()
    severity = {a.name: a.severity for a in alerts.ALERTS}
    for rule in rule_set.values():
        rule["labels"] = {"severity": severity[rule["alert"].removesuffix("Grafana").removesuffix("Prometheus")]}
    (tmp_path / "bands.yml").write_text(yaml.safe_dump({"groups": [{"name": "b", "rules": list(rule_set.values())}]}))
    tests = {"rule_files": ["bands.yml"], "evaluation_interval": "1m"}
    tests["tests"] = [case(share, rule_set) for share in EXPECTED]
    (tmp_path / "bands.test.yml").write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        ["promtool", "test", "rules", "bands.test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_bands_meet_at_the_thresholds_of_the_source() -> None:
    """Each band's upper bound is the next band's threshold: no gap, no overlap, by construction."""
    bands = [a for a in alerts.ALERTS if a.name in BANDS]
    assert [a.above for a in bands] == [c.BUDGET_ALERT_RATIOS[0], c.BUDGET_ALERT_RATIOS[1], 0.999]
    assert [a.below for a in bands] == [bands[1].above, bands[2].above, None]
