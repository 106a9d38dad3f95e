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
from grafana import alerts, slos
from grafana.rules import (
    PROMETHEUS_RUNBOOKS_URL,
    RUNBOOK_URL_PLACEHOLDER,
    RUNBOOK_URL_VARIABLE,
    RUNBOOKS,
    Alert,
    render_runbook_url,
)
from tests.support.dashboard_queries import GRAFANA_RULES, PROMETHEUS_RULES, ROOT

RULES_DIR = PROMETHEUS_RULES.parent
TESTS_DIR = RULES_DIR / alerts.PROMETHEUS_TESTS_DIR
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
        (low,) = evaluator["params"]
        assert evaluator["type"] == "gt", name
        assert prometheus[name]["expr"] == f"({query['model']['expr']}) > {low:g}", name
        assert prometheus[name]["for"] == rule["for"], name
        assert prometheus[name]["labels"] == rule["labels"], name
        annotations = {k: render_runbook_url(v, PROMETHEUS_RUNBOOKS_URL) for k, v in rule["annotations"].items()}
        assert prometheus[name]["annotations"] == annotations, name
        assert query["datasourceUid"] == c.DATASOURCE_PROMETHEUS, name
        assert rule["condition"] == threshold["refId"], name


_THRESHOLD = re.compile(r"\) > (?P<above>[^ ()]+)$")
_AT_MOST = re.compile(r"\) <= (?P<below>[^ ()]+)$")


def _prometheus_terms(expr: str) -> tuple[float, float | None]:
    """The threshold and the optional inclusive upper bound of a Prometheus rule expression ((v) <= b) > a."""
    above = _THRESHOLD.search(expr)
    assert above, expr
    inner = expr[: above.start() + 1].removeprefix("(").removesuffix(")")
    below = _AT_MOST.search(inner)
    return float(above["above"]), float(below["below"]) if below else None


def _grafana_terms(rule: dict[str, Any]) -> tuple[float, float | None]:
    """The same from a Grafana rule: threshold C's parameter, and the bound at the end of query A."""
    query, threshold = rule["data"]
    evaluator = threshold["model"]["conditions"][0]["evaluator"]
    assert evaluator["type"] == "gt", rule["title"]
    below = _AT_MOST.search(query["model"]["expr"])
    return float(evaluator["params"][0]), float(below["below"]) if below else None


def test_both_rule_sets_have_the_same_alerts_thresholds_and_durations() -> None:
    """What a team runs, Grafana's rules or Prometheus's, pages on the same alerts at the same values after the
    same time: computed from each committed file on its own, and equal to the source's numbers."""
    grafana = {name: (*_grafana_terms(rule), rule["for"]) for name, rule in grafana_rules().items()}
    prometheus = {name: (*_prometheus_terms(str(r["expr"])), r["for"]) for name, r in prometheus_rules().items()}
    assert grafana == prometheus
    assert grafana == {a.name: (a.above, a.below, a.duration) for a in alerts.ALERTS}


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


def _promtool_test(directory: Path, rules: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """promtool over every alert's cases against ``rules`` instead of the generated ones, each alert against a rules
    file of its own (as prometheus/rules/tests/ does), two at a time; the outputs are joined in one result."""
    by_name = {r["alert"]: (g, r) for g in rules["groups"] for r in g["rules"]}

    def run(alert: Alert) -> subprocess.CompletedProcess[str]:
        group, rule = by_name[alert.name]
        stem = f"{alert.uid}.yml"
        (directory / stem).write_text(yaml.safe_dump({"groups": [{**group, "rules": [rule]}]}))
        tests = alerts.promtool_tests((alert,), stem, slos.RECORDING_RULES_FILE)
        tests = render_runbook_url(yaml.safe_dump(tests), PROMETHEUS_RUNBOOKS_URL)
        (directory / f"{alert.uid}.test.yml").write_text(tests)
        return _promtool(directory / f"{alert.uid}.test.yml")

    (directory / slos.RECORDING_RULES_FILE).write_text(yaml.safe_dump(slos.recording_rules()))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, alerts.ALERTS))
    return _joined(results)


def _promtool(test_file: Path) -> subprocess.CompletedProcess[str]:
    command = ["promtool", "test", "rules", test_file.name]
    return subprocess.run(command, cwd=test_file.parent, capture_output=True, text=True, timeout=300)


def _joined(results: list[subprocess.CompletedProcess[str]]) -> subprocess.CompletedProcess[str]:
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


def test_every_alert_fires_at_its_condition_and_stays_quiet_below_it() -> None:
    """The files users are given: one promtool test file per alert, against that alert's own rules file, each
    passing (in seconds: promtool evaluates only its one rule), with absolute runbook links and no placeholder."""
    test_files = sorted(TESTS_DIR.glob("*.test.yml"))
    assert {path.name for path in TESTS_DIR.iterdir()} == set(alerts.promtool_files())
    assert [path.name for path in test_files] == sorted(f"{alert.uid}.test.yml" for alert in alerts.ALERTS)
    for alert in alerts.ALERTS:
        tests = yaml.safe_load((TESTS_DIR / f"{alert.uid}.test.yml").read_text())
        rule_file, *recordings = tests["rule_files"]
        assert recordings == ([f"../{slos.RECORDING_RULES_FILE}"] if alert.group == slos.SLO_GROUP[0] else [])
        (group,) = yaml.safe_load((TESTS_DIR / rule_file).read_text())["groups"]
        assert [rule["alert"] for rule in group["rules"]] == [alert.name]
        cases = [t["alert_rule_test"][0] for t in tests["tests"]]
        assert {case["alertname"] for case in cases} == {alert.name}
        expected = [True, False] + [False] * len(alert.also_quiet)
        assert [bool(case["exp_alerts"]) for case in cases] == expected, alert.name
    for path in [PROMETHEUS_RULES, *TESTS_DIR.iterdir()]:
        text = path.read_text()
        assert RUNBOOK_URL_VARIABLE not in text and "$" not in text.replace("$labels", ""), path.name
        assert text.count(f"runbook_url: {PROMETHEUS_RUNBOOKS_URL}#") >= 1, path.name
    with ThreadPoolExecutor(max_workers=2) as pool:
        result = _joined(list(pool.map(_promtool, test_files)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(test_files)


def test_the_prometheus_files_can_be_written_for_a_team_s_runbooks(tmp_path: Path) -> None:
    from grafana.generate import main

    url = "https://git.example.com/team/glassbox/-/blob/main/docs/runbooks.md?plain=1&ref=x"
    assert main(["--runbook-url", url, "--out", str(tmp_path)]) == 0
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(RULES_DIR) for p in RULES_DIR.rglob("*") if p.is_file())
    for relative in written:
        committed = (RULES_DIR / relative).read_text()
        assert (tmp_path / relative).read_text() == committed.replace(PROMETHEUS_RUNBOOKS_URL, url)
    result = _promtool(tmp_path / alerts.PROMETHEUS_TESTS_DIR / "glassbox-kill-switch-on.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    with pytest.raises(SystemExit):
        main(["--runbook-url", "https://x.example/a|b", "--out", str(tmp_path / "refused")])
    assert not (tmp_path / "refused").exists()


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


def test_the_policy_routes_every_severity() -> None:
    (policy,) = yaml.safe_load((ALERTING / "policies.yaml").read_text())["policies"]
    routed = {route["object_matchers"][0][2]: route for route in policy["routes"]}
    assert set(routed) == {a.severity for a in alerts.ALERTS} | {"info"}
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


def test_runbook_links_are_made_absolute_from_the_setting(tmp_path: Path) -> None:
    from stack.components import grafana_provisioning

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
