"""Alertmanager for the Prometheus rule set: the shipped config loads in Debian's Alertmanager tools and routes
as Grafana's policy does; the native stack picks one rule set, writes the receiver's URL privately, and gives
Prometheus the alert rules and the Alertmanager only when Prometheus evaluates the alerts."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from grafana import alerts
from stack.binaries import ROOT, find_binary
from stack.components import alert_rules, alertmanager_config, grafana_provisioning
from stack.native import NativeStack

CONFIG = ROOT / "alertmanager" / "alertmanager.yml"


def amtool() -> Path:
    binary = find_binary("amtool")
    if binary is None:
        pytest.fail("amtool not found: `make test` installs Debian's prometheus-alertmanager (make prometheus)")
    return binary


def test_amtool_accepts_the_shipped_config() -> None:
    result = subprocess.run([str(amtool()), "check-config", str(CONFIG)], capture_output=True, text=True)
    assert result.returncode == 0 and "SUCCESS" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("severity", [*alerts.SEVERITIES, "unknown"])
def test_every_severity_reaches_the_webhook_receiver(severity: str) -> None:
    result = subprocess.run(
        [str(amtool()), "config", "routes", "test", f"--config.file={CONFIG}", f"severity={severity}",
         "alertname=GlassboxAny", f"--verify.receivers={alerts.CONTACT_POINT}"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_routes_wait_and_repeat_as_grafana_s_policy_does() -> None:
    routes = yaml.safe_load(CONFIG.read_text())["route"]["routes"]
    policy = alerts.policies()["policies"][0]["routes"]
    timing = ("group_wait", "group_interval", "repeat_interval")
    assert [{k: r[k] for k in timing} for r in routes] == [{k: p[k] for k in timing} for p in policy]
    assert [r["matchers"] for r in routes] == [
        [f'severity="{m[0][2]}"'] for m in (p["object_matchers"] for p in policy)
    ]


@pytest.mark.parametrize(
    ("setting", "components", "chosen"),
    [
        ("", {"prometheus", "grafana"}, "grafana"),
        ("", {"prometheus", "alertmanager"}, "prometheus"),
        ("prometheus", {"prometheus", "grafana"}, "prometheus"),
        ("grafana", {"prometheus"}, "grafana"),
    ],
)
def test_one_rule_set_is_chosen(setting: str, components: set[str], chosen: str) -> None:
    assert alert_rules({"GLASSBOX_ALERT_RULES": setting}, components) == chosen


def test_a_rule_set_that_does_not_exist_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="GLASSBOX_ALERT_RULES='both'"):
        alert_rules({"GLASSBOX_ALERT_RULES": "both"}, set())


def test_the_native_copy_posts_to_the_setting_s_url_and_only_its_owner_reads_it(tmp_path: Path) -> None:
    url = "https://hooks.example.com/T000/secret-token"
    path = alertmanager_config({"GLASSBOX_ALERT_WEBHOOK_URL": url}, tmp_path / "alertmanager")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    webhooks = [w for r in yaml.safe_load(path.read_text())["receivers"] for w in r["webhook_configs"]]
    assert [w["url"] for w in webhooks] == [url]
    path.chmod(0o644)  # a copy left readable by an earlier run is made private again
    alertmanager_config({}, tmp_path / "alertmanager")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [w["url"] for r in yaml.safe_load(path.read_text())["receivers"] for w in r["webhook_configs"]] == [
        alerts.WEBHOOK_URL_UNSET
    ]


def test_grafana_gets_no_alert_rules_when_prometheus_evaluates_them(tmp_path: Path) -> None:
    with_rules = grafana_provisioning({"GLASSBOX_ALERT_RULES": "grafana"}, tmp_path / "a")
    without = grafana_provisioning({"GLASSBOX_ALERT_RULES": "prometheus"}, tmp_path / "b")
    assert (with_rules / "alerting" / "rules.yaml").is_file()
    assert not (without / "alerting" / "rules.yaml").exists()
    assert (without / "alerting" / "contact-points.yaml").is_file()


@pytest.mark.parametrize(
    ("components", "alerting"), [({"prometheus", "alertmanager"}, True), ({"prometheus", "grafana"}, False)]
)
def test_prometheus_loads_the_alert_rules_only_when_it_evaluates_them(
    tmp_path: Path, components: set[str], alerting: bool
) -> None:
    stack = NativeStack(tmp_path, {"GLASSBOX_RUNBOOK_URL": "https://runbooks.example.com/r.md"})
    stack.write_prometheus_config(components)
    config = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    rules = f"rules/{alerts.PROMETHEUS_RULES_FILE}"
    assert (rules in config["rule_files"]) is alerting
    if alerting:
        target = f"127.0.0.1:{stack.env['GLASSBOX_ALERTMANAGER_PORT']}"
        assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [target]
        text = (tmp_path / "prometheus" / rules).read_text()
        assert "https://runbooks.example.com/r.md#" in text and "glassbox-runbooks.invalid" not in text
    else:
        assert "alerting" not in config
