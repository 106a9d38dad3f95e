"""The alert rules: one source, unit-tested by promtool, complete for Grafana, each with its runbook."""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from glassbox import conventions as c
from grafana import alerts
from grafana.rules import RUNBOOK_URL_PLACEHOLDER, RUNBOOK_URL_VARIABLE, RUNBOOKS, Alert, render_runbook_url
from tests.support.dashboard_queries import GRAFANA_RULES, PROMETHEUS_RULES, ROOT

RULES_DIR = PROMETHEUS_RULES.parent
TESTS = RULES_DIR / "glassbox-alerts.test.yml"
ALERTING = ROOT / "grafana" / "provisioning" / "alerting"
REQUIRED = {
    "HTTP 5xx rate": "GlassboxHTTP5xxRate",
    "p95 latency over an SLO": "GlassboxHTTPLatencyP95",
    "LLM error rate above 5%": "GlassboxLLMErrorRate",
    "tenant spend at 80%": "GlassboxTenantBudget80",
    "tenant spend at 95%": "GlassboxTenantBudget95",
    "tenant spend at 100%": "GlassboxTenantBudget100",
    "spend spike against the same hour last week": "GlassboxSpendSpike",
    "a service that stopped sending data": "GlassboxServiceStoppedSending",
    "collector export failures": "GlassboxCollectorExportFailures",
    "collector refused data": "GlassboxCollectorRefusedData",
    "collector queue above 80% of capacity": "GlassboxCollectorQueueNearlyFull",
    "a backend target down": "GlassboxStackComponentDown",
    "audit write failures": "GlassboxAuditWriteFailures",
    "audit events the app could not write to its log": "GlassboxAuditLogWriteFailures",
    "audit events waiting in the fail-open spool": "GlassboxAuditEventsWaiting",
    "canary stale": "GlassboxCanaryStale",
    "the AI kill switch left on": "GlassboxKillSwitchOn",
}


def grafana_rules() -> dict[str, dict[str, object]]:
    groups = yaml.safe_load(GRAFANA_RULES.read_text())["groups"]
    return {rule["title"]: rule for group in groups for rule in group["rules"]}


def prometheus_rules() -> dict[str, dict[str, object]]:
    groups = yaml.safe_load(PROMETHEUS_RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_every_required_alert_exists_in_both_forms() -> None:
    assert set(REQUIRED.values()) <= set(grafana_rules())
    assert set(grafana_rules()) == set(prometheus_rules()) == {a.name for a in alerts.ALERTS}


def test_grafana_and_prometheus_rules_are_the_same_rule() -> None:
    """The committed files agree: Prometheus's expression is Grafana's query A compared as its threshold C."""
    prometheus = prometheus_rules()
    for name, rule in grafana_rules().items():
        query, threshold = rule["data"]  # type: ignore[misc]
        evaluator = threshold["model"]["conditions"][0]["evaluator"]
        low, *high = evaluator["params"]
        expected = f"({query['model']['expr']}) > {low:g}" + (f" < {high[0]:g}" if high else "")
        assert evaluator["type"] == ("within_range" if high else "gt"), name
        assert prometheus[name]["expr"] == expected, name
        assert prometheus[name]["for"] == rule["for"], name
        assert prometheus[name]["labels"] == rule["labels"], name
        assert prometheus[name]["annotations"] == rule["annotations"], name
        assert query["datasourceUid"] == c.DATASOURCE_PROMETHEUS, name
        assert rule["condition"] == threshold["refId"], name


def test_every_rule_says_what_it_means_and_how_to_handle_it() -> None:
    runbooks = (ROOT / RUNBOOKS).read_text()
    for name, rule in grafana_rules().items():
        annotations, labels = rule["annotations"], rule["labels"]
        assert isinstance(annotations, dict) and isinstance(labels, dict)
        assert annotations["summary"] and annotations["description"], name
        assert labels["severity"] in alerts.SEVERITIES, name
        assert rule["noDataState"] in ("OK", "NoData", "Alerting"), name
        assert rule["execErrState"] in ("Error", "Alerting", "OK"), name
        assert re.fullmatch(r"\d+[smh]", str(rule["for"])), name
        page, anchor = str(annotations["runbook_url"]).split("#")
        assert page == RUNBOOK_URL_PLACEHOLDER, name
        assert runbooks.count(f'<a id="{anchor}"></a>') == 1, f"{name}: no runbook section {anchor}"


def test_each_runbook_section_has_checks_and_commands() -> None:
    text = (ROOT / RUNBOOKS).read_text()
    sections = re.split(r'<a id="[^"]+"></a>', text)[1:]
    assert len(sections) == len({alert.runbook for alert in alerts.ALERTS})  # the SLO rules share two
    for section in sections:
        heading = section.strip().splitlines()[0]
        assert "First three checks" in section, heading
        assert "```sh" in section, heading


def _promtool_test(directory: Path, rules: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    """promtool over every alert's cases, each alert against a rules file of its own (promtool evaluates every
    rule of the file at every step of every case: the day-long cases would otherwise take minutes), two at a time.
    ``rules``: the Prometheus rules to test instead of the generated ones. The outputs are joined in one result."""
    rules = rules or alerts.prometheus_rules()
    by_name = {r["alert"]: (g, r) for g in rules["groups"] for r in g["rules"]}

    def run(alert: Alert) -> subprocess.CompletedProcess[str]:
        group, rule = by_name[alert.name]
        stem = f"{alert.uid}.yml"
        (directory / stem).write_text(yaml.safe_dump({"groups": [{**group, "rules": [rule]}]}))
        (directory / f"{alert.uid}.test.yml").write_text(yaml.safe_dump(alerts.promtool_tests((alert,), stem)))
        command = ["promtool", "test", "rules", f"{alert.uid}.test.yml"]
        return subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, alerts.ALERTS))
    failed = [r for r in results if r.returncode != 0]
    return subprocess.CompletedProcess(
        ["promtool", "test", "rules"],
        1 if failed else 0,
        "".join(r.stdout for r in results),
        "".join(r.stderr for r in results),
    )


def test_promtool_checks_the_prometheus_rules() -> None:
    result = subprocess.run(["promtool", "check", "rules", str(PROMETHEUS_RULES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts.ALERTS)} rules found" in result.stdout


def test_every_alert_fires_at_its_condition_and_stays_quiet_below_it(tmp_path: Path) -> None:
    tests = yaml.safe_load(TESTS.read_text())["tests"]
    for alert in alerts.ALERTS:
        cases = [t for t in tests if t["alert_rule_test"][0]["alertname"] == alert.name]
        expected = [True, False] + [False] * len(alert.also_quiet)
        assert [bool(t["alert_rule_test"][0]["exp_alerts"]) for t in cases] == expected, alert.name
    # The committed test file is the same cases, against the committed rules file.
    assert yaml.safe_load(TESTS.read_text()) == alerts.promtool_tests()
    result = _promtool_test(tmp_path, yaml.safe_load(PROMETHEUS_RULES.read_text()))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_unit_tests_fail_when_a_threshold_is_wrong(tmp_path: Path) -> None:
    """Raise every threshold out of reach: each alert's "fires" test must then fail, by name."""
    rules = yaml.safe_load(PROMETHEUS_RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["expr"] = re.sub(r"\) > [^)]*$", ") > 1e15", rule["expr"])
    result = _promtool_test(tmp_path, rules)
    assert result.returncode != 0
    for alert in alerts.ALERTS:
        assert f"name: {alert.name} fires," in result.stdout + result.stderr, alert.name


def test_contact_point_is_a_webhook_from_the_environment() -> None:
    (point,) = yaml.safe_load((ALERTING / "contact-points.yaml").read_text())["contactPoints"]
    (receiver,) = point["receivers"]
    assert receiver["type"] == "webhook"
    assert receiver["settings"]["url"] == f"${alerts.WEBHOOK_URL_VARIABLE}"
    examples = yaml.safe_load((ROOT / "grafana" / "alerting-examples" / "contact-points.yaml").read_text())
    assert {r["type"] for p in examples["contactPoints"] for r in p["receivers"]} == {"email", "slack"}
    for point in examples["contactPoints"]:
        for receiver in point["receivers"]:
            assert all(str(v).startswith("$") for k, v in receiver["settings"].items() if k in ("url", "addresses"))


def test_the_policy_routes_every_severity_to_a_known_receiver() -> None:
    points = {p["name"] for p in yaml.safe_load((ALERTING / "contact-points.yaml").read_text())["contactPoints"]}
    (policy,) = yaml.safe_load((ALERTING / "policies.yaml").read_text())["policies"]
    assert policy["receiver"] in points
    routed = {route["object_matchers"][0][2]: route for route in policy["routes"]}
    assert set(routed) == {a.severity for a in alerts.ALERTS} | {"info"}
    assert all(route["receiver"] in points for route in routed.values())
    assert routed["critical"]["repeat_interval"] != routed["warning"]["repeat_interval"]


def test_an_error_ratio_needs_traffic_before_it_pages() -> None:
    """One request every 5 minutes, every one failing, is a 100% error ratio and still not an incident: the
    promtool case above keeps both error-ratio alerts quiet on it, and without the traffic guard they fire."""
    guarded = [alert for alert in alerts.ALERTS if alert.name in ("GlassboxHTTP5xxRate", "GlassboxLLMErrorRate")]
    assert len(guarded) == 2
    for alert in guarded:
        (values,) = [v for case in alert.also_quiet for v in case.series.values()]
        assert values == "0+0.2x30" and all("500" in s or "Error" in s for c in alert.also_quiet for s in c.series)
        unguarded = alert.value.split(") and (")[0].lstrip("(")
        assert unguarded != alert.value, f"{alert.name} has no traffic guard"


def test_the_alert_table_in_the_docs_lists_every_rule() -> None:
    table = (ROOT / "docs" / "dashboards.md").read_text()
    missing = [alert.name for alert in alerts.ALERTS if f"| `{alert.name}` |" not in table]
    assert not missing, f"docs/dashboards.md has no row for {missing}"


def test_runbook_links_are_made_absolute_from_the_setting_and_a_bad_url_is_refused(tmp_path: Path) -> None:
    from stack.components import grafana_provisioning

    text = (ALERTING / "rules.yaml").read_text()
    with pytest.raises(ValueError, match="GLASSBOX_RUNBOOK_URL must be an absolute URL"):
        render_runbook_url(text, "docs/runbooks.md")
    with pytest.raises(ValueError):
        render_runbook_url(text, "https://x.example/a|b")
    # Natively, `make up` gives Grafana a rendered copy: this checkout's runbooks unless the setting says otherwise.
    for env, base in (
        ({}, (ROOT / "docs" / "runbooks.md").as_uri()),
        ({RUNBOOK_URL_VARIABLE: "https://d.example/r.md"}, "https://d.example/r.md"),
    ):
        directory = grafana_provisioning(env, tmp_path / base.split(":")[0])
        rules = yaml.safe_load((directory / "alerting" / "rules.yaml").read_text())
        links = [r["annotations"]["runbook_url"] for g in rules["groups"] for r in g["rules"]]
        assert len(links) == len(alerts.ALERTS) and all(link.startswith(base + "#") for link in links)
        assert (directory / "dashboards" / "glassbox.yaml").read_text() == (
            ROOT / "grafana" / "provisioning" / "dashboards" / "glassbox.yaml"
        ).read_text()
