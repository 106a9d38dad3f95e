"""The SLOs' recording rules: the windows summed from the recorded series read the same as the counters' (and the
canary's minute-by-minute subquery) read directly, on a steady burn, a counter reset, no traffic at all and a burn
exactly at a factor; Prometheus loads the rules; and no SLO rule or panel runs a subquery of an hour or more."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import slos
from grafana.generate import RULES_DIR
from tests.grafana.test_slos import promtool, promtool_recorded

ROOT = Path(__file__).resolve().parents[2]
# The forms every window had before the recording rules, as the reference: the counters' increase over the window,
# and for the canary a verdict a minute over the window (a subquery) against the minutes since its first point.
EVENTS = "http_server_request_duration_seconds_count"
LABELS = 'deployment_environment_name="prod", job="checkout"'
GOOD = f'{EVENTS}{{{LABELS}, http_response_status_code="200"}}'
BAD = f'{EVENTS}{{{LABELS}, http_response_status_code="503"}}'
CANARY = 'glassbox_canary_timestamp_seconds{job="glassbox-doctor"}'


def _slo(name: str) -> slos.SLO:
    return next(slo for slo in slos.slos() if slo.name == name)


def counters_ratio(window: str) -> str:
    by = "sum by (deployment_environment_name, job)"
    bad = f'{by} (increase({EVENTS}{{http_response_status_code=~"5.."}}[{window}]))'
    total = f"{by} (increase({EVENTS}{{}}[{window}]))"
    return f"(({bad} or 0 * {total}) / ({total} > 0))"


def subquery_stale_ratio(window: str) -> str:
    gauge = "glassbox_canary_timestamp_seconds{}"
    fresh = f"count_over_time(max(max_over_time({gauge}[5m]))[{window}:1m])"
    first = f"min(min_over_time({gauge}[{slos.duration(slos.seconds(window) + 86400)}]))"
    steps = f"count_over_time(vector(1)[{window}:1m])"
    counted = f"clamp_max(floor((time() - {first}) / 60) + 1, scalar({steps}))"
    return f"(1 - ({fresh} or 0 * {first}) / {counted})"


def run(tmp_path: Path, series: dict[str, str], checks: list[dict[str, Any]], every: str) -> None:
    """promtool: each check holds over ``series``, with the recording rules evaluated every ``every`` (the
    group's own interval, as Prometheus runs it, or promtool's step in the alert tests)."""
    promtool_recorded(tmp_path, series, checks, every)


def same(exprs: tuple[str, str], at: str, value: float | None, labels: str) -> list[dict[str, Any]]:
    """Both expressions give ``value`` (None: no data)."""
    samples = [] if value is None else [{"labels": labels, "value": value}]
    return [{"expr": expr, "eval_time": at, "exp_samples": samples} for expr in exprs]


def equal(exprs: tuple[str, str], at: str, labels: str | None) -> list[dict[str, Any]]:
    """Both expressions give the same value for ``labels`` (None: both no data)."""
    if labels is None:
        return same(exprs, at, None, "")
    old, new = exprs
    return [{"expr": f"({new}) - ({old})", "eval_time": at, "exp_samples": [{"labels": labels, "value": 0}]}]


# 1000 requests a minute for 2 hours, at 0.5% errors (availability's budget: a burn of exactly 1), with both
# counters restarting from 0 after 70 minutes in the reset case.
STEADY = {GOOD: "0+995x120", BAD: "0+5x120"}
RESET = {GOOD: "0+995x70 0+995x49", BAD: "0+5x70 0+5x49"}
NOTHING = {GOOD: "0x120", BAD: "0x120"}
AT_FACTOR = {GOOD: "0+928x120", BAD: "0+72x120"}  # 7.2% errors: 14.4 times the 0.5% budget, the page's factor


@pytest.mark.parametrize(
    ("series", "ratio"),
    [(STEADY, 0.005), (RESET, 0.005), (NOTHING, None), (AT_FACTOR, 0.072)],
    ids=["steady", "counter-reset", "no-traffic", "exactly-at-the-page-factor"],
)
@pytest.mark.parametrize("every", ["5m", "1m"], ids=["group-every-5m", "group-every-1m"])
def test_the_recorded_error_ratio_is_the_counters_error_ratio(
    tmp_path: Path, series: dict[str, str], ratio: float | None, every: str
) -> None:
    """The 1-hour error ratio summed from the recorded 5-minute increases equals the counters' increase over the
    hour, whether the group runs every 5 minutes (Prometheus) or every minute (promtool's alert tests); no
    traffic is no data in both."""
    slo = _slo("availability")
    checks = same((counters_ratio("1h"), slos.error_ratio(slo, "1h")), "120m", ratio, f"{{{LABELS}}}")
    run(tmp_path, series, checks, every)


def test_the_burn_exactly_at_the_factor_does_not_fire_in_either_form(tmp_path: Path) -> None:
    """At exactly 14.4 times the budget both forms read 14.4 and neither pair condition (> 14.4) holds; a hair
    above it, both do."""
    slo = _slo("availability")
    window = slos.PAGE.windows[0]
    recorded = f"{slos.burn_rate(slo, window.long)} > {window.factor:g}"
    direct = f"{counters_ratio(window.long)} / {slo.budget:g} > {window.factor:g}"
    checks = same((direct, recorded), "120m", None, "")
    # The same float in both (72 x 60 of 60,000 requests over the budget: 14.399999999999999, not over 14.4).
    burn = 72 * 60 / 60000 / slo.budget
    checks += same(
        (f"{counters_ratio('1h')} / {slo.budget:g}", slos.burn_rate(slo, "1h")), "120m", burn, f"{{{LABELS}}}"
    )
    run(tmp_path, AT_FACTOR, checks, "5m")
    above = {GOOD: "0+927x120", BAD: "0+73x120"}
    run(tmp_path, above, same((direct, recorded), "120m", 73 * 60 / 60000 / slo.budget, f"{{{LABELS}}}"), "5m")


@pytest.mark.parametrize("every", ["5m", "1m", "10m"], ids=["group-every-5m", "group-every-1m", "every-10m"])
def test_the_recorded_count_of_events_is_the_counters_count(tmp_path: Path, every: str) -> None:
    """The minimum of events reads the recorded sums scaled by how often the group ran: the same count of
    requests over the hour however often that was, and across a counter reset."""
    slo = _slo("availability")
    direct = f"sum by (deployment_environment_name, job) (increase({EVENTS}{{}}[1h]))"
    # Within one evaluation's share: Prometheus 2's ranges hold both ends (an instant on an evaluation holds one
    # more), and the increases that span a reset each lose a little.
    spacing = 1000 * slos.seconds(every) // 60
    # A reset loses the minute before the counter's first value after it, in both forms (the recorded increases
    # that span it lose it too, unless the evaluations skip it).
    for series, count in ((STEADY, 60000), (RESET, 59000)):
        near = f"(({slos.events_in(slo, '1h')}) >= {count - spacing}) <= {60000 + spacing}"
        run(tmp_path, series, same((direct, f"({near}) * 0 + {count}"), "120m", count, f"{{{LABELS}}}"), every)


@pytest.mark.parametrize(
    ("series", "at", "ratio"),
    [
        ({CANARY: "0+60x180"}, "180m", 0),
        # Stopped for 30 minutes of the last hour: 25 of them stale (a point stays fresh for 5 minutes).
        ({CANARY: "0+60x150 _x30"}, "180m", 25 / 60),
        # Restarted (its value starts again from a later time after a gap): 10 stale minutes of the hour.
        ({CANARY: "0+60x150 _x15 9960+60x14"}, "180m", 10 / 60),
        ({'up{job="prometheus"}': "1x180"}, "180m", None),
    ],
    ids=["steady", "a-gap", "restarted-after-a-gap", "no-canary-at-all"],
)
def test_the_recorded_stale_minutes_are_the_subquerys(
    tmp_path: Path, series: dict[str, str], at: str, ratio: float | None
) -> None:
    """The canary's share of stale minutes over the hour from the recorded minute markers equals the subquery a
    minute it replaces."""
    slo = _slo("canary-freshness")
    checks = equal((subquery_stale_ratio("1h"), slos.error_ratio(slo, "1h")), at, None if ratio is None else "{}")
    if ratio is not None:
        # Of the hour's minutes (61 in Prometheus 2's closed range), the stale ones.
        checks.append(
            {
                "expr": f"round({slos.error_ratio(slo, '1h')} * 60)",
                "eval_time": at,
                "exp_samples": [{"labels": "{}", "value": round(ratio * 60)}],
            }
        )
    run(tmp_path, series, checks, slos.MINUTES_GROUP[1])


def test_the_canary_at_exactly_its_page_factor(tmp_path: Path) -> None:
    """9 stale minutes of the hour, a burn of about 14.75x a 1% budget: both forms read the same, and both are
    over the page's 14.4; 8 stale minutes are under it in both."""
    slo = _slo("canary-freshness")
    exprs = (f"{subquery_stale_ratio('1h')} / {slo.budget:g}", slos.burn_rate(slo, "1h"))
    over = tuple(f"{e} > 14.4" for e in exprs)
    series = {CANARY: "0+60x150 _x14 9840+60x15"}  # 14 minutes without a point: 9 stale
    checks = equal((exprs[0], exprs[1]), "180m", "{}") + equal((over[0], over[1]), "180m", "{}")
    run(tmp_path, series, checks, slos.MINUTES_GROUP[1])
    series = {CANARY: "0+60x150 _x13 9780+60x16"}  # 8 stale
    run(tmp_path, series, equal(exprs, "180m", "{}") + same(over, "180m", None, ""), slos.MINUTES_GROUP[1])


# --------------------------------------------------------------------------- what reads the recorded series
SUBQUERY = re.compile(r"\[(\d+[smhdw]):(\d+[smhdw])?\]")
RANGE = re.compile(r"\[(\d+[smhdw])\]")


def _slo_exprs() -> list[str]:
    board = yaml.safe_load((ROOT / "grafana" / "dashboards" / "glassbox-slos.json").read_text())
    exprs = [str(t["expr"]) for p in board["panels"] for t in p.get("targets", [])]
    exprs += [str(rule["expr"]) for rule in _generated_slo_rules()]
    return exprs


def _generated_slo_rules() -> list[dict[str, Any]]:
    grafana = yaml.safe_load((ROOT / "grafana" / "provisioning" / "alerting" / "rules.yaml").read_text())
    found = [
        {"expr": data["model"]["expr"]}
        for group in grafana["groups"]
        if group["name"] == slos.SLO_GROUP[0]
        for rule in group["rules"]
        for data in rule["data"]
        if "expr" in data["model"] and data["datasourceUid"] != "__expr__"
    ]
    prometheus = yaml.safe_load((RULES_DIR / "glassbox-alerts.yml").read_text())
    found += [r for g in prometheus["groups"] if g["name"] == slos.SLO_GROUP[0] for r in g["rules"]]
    return found


RECORDED = (slos.BAD_EVENTS, slos.ALL_EVENTS, slos.EVALUATIONS, slos.FRESH_MINUTES, slos.COUNTED_MINUTES)


def violations(expr: str) -> list[str]:
    """The subqueries of an hour or more in ``expr``, and its ranges of an hour or more over anything but the
    recorded series."""
    found = [m.group(0) for m in SUBQUERY.finditer(expr) if slos.seconds(m.group(1)) >= 3600]
    for match in RANGE.finditer(expr):
        if slos.seconds(match.group(1)) >= slos.seconds(slos.RECORDED_FROM):
            selector = expr[: match.start()].rsplit("(", 1)[1]
            if not selector.startswith(RECORDED):
                found.append(selector + match.group(0))
    return found


def test_no_slo_panel_or_rule_runs_a_subquery_of_an_hour_or_more() -> None:
    """Every generated SLO panel and alert rule (Grafana's and Prometheus's) reads windows of an hour or more only
    from the recorded series, and runs no subquery of an hour or more."""
    assert len(_generated_slo_rules()) == 2 * 2 * len(slos.slos())
    for expr in _slo_exprs():
        assert violations(expr) == [], expr


def test_the_check_finds_what_it_forbids() -> None:
    assert violations(subquery_stale_ratio("30d")) == [
        "[30d:1m]",
        "[30d:1m]",
        "glassbox_canary_timestamp_seconds{}[31d]",
        "glassbox_canary_timestamp_seconds{}[31d]",
    ]
    assert (
        violations(counters_ratio("6h"))
        == [f'{EVENTS}{{http_response_status_code=~"5.."}}[6h]'] + [f"{EVENTS}{{}}[6h]"] * 2
    )
    assert violations(counters_ratio("30m")) == []


def test_prometheus_loads_the_generated_recording_rules(tmp_path: Path) -> None:
    """The committed rules file is the generated one, promtool accepts it, and prometheus.yml loads it."""
    path = RULES_DIR / slos.RECORDING_RULES_FILE
    assert yaml.safe_load(path.read_text()) == slos.recording_rules()
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(g["rules"]) for g in slos.recording_rules()["groups"])
    assert f"SUCCESS: {rules} rules found" in result.stdout
    config = ROOT / "prometheus" / "prometheus.yml"
    assert f"rules/{slos.RECORDING_RULES_FILE}" in yaml.safe_load(config.read_text())["rule_files"]
    result = subprocess.run([promtool(), "check", "config", str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    intervals = {g["name"]: g["interval"] for g in slos.recording_rules()["groups"]}
    assert intervals == {"glassbox-slo-events": "1m", "glassbox-slo-minutes": "1m"}  # a burst counts within a minute
