"""SLOs as code: grafana/slos.yaml refused when wrong, a page and a ticket per SLO with the workbook's windows and
factors, every alert run by promtool on its cases (which fail when a short window, a window pair or the minimum
of events is dropped), the dashboard's edges computed, and every query within the metrics retention."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import rules, slos
from stack.binaries import find_binary, missing_reason
from stack.components import NATIVE_DEFAULTS
from tests.stack.test_loki_config import seconds as duration

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["availability", "latency", "genai-errors", "genai-latency", "canary-freshness"]
# Grafana's variables at "All".
VARIABLES = {"$env": ".*", "$service": ".*"}


def promtool() -> str:
    found = find_binary("promtool")
    if found is None:
        pytest.fail(f"{missing_reason('promtool')}: `make test` installs Debian's prometheus package")
    return str(found)


def promtool_recorded(tmp_path: Path, series: dict[str, str], checks: list[dict[str, Any]], every: str = "1m") -> None:
    """Fails unless each promql_expr_test check holds over ``series`` (a value a minute), with the SLOs' recording
    rules evaluated every ``every``."""
    (tmp_path / slos.RECORDING_RULES_FILE).write_text(yaml.safe_dump(slos.recording_rules()))
    test = {
        "rule_files": [slos.RECORDING_RULES_FILE],
        "evaluation_interval": every,
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series.items()],
                "promql_expr_test": checks,
            }
        ],
    }
    path = tmp_path / "recorded.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run([promtool(), "test", "rules", path.name], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def promtool_expect(tmp_path: Path, series: dict[str, str], expr: str, samples: list[dict[str, Any]], at: str) -> None:
    promtool_recorded(tmp_path, series, [{"expr": expr, "eval_time": at, "exp_samples": samples}])


# --------------------------------------------------------------------------- the declarations
def test_the_slos_are_declared_with_their_objectives() -> None:
    declared = {slo.name: slo for slo in slos.slos()}
    assert list(declared) == NAMES
    assert {name: slo.objective for name, slo in declared.items()} == {
        "availability": 0.995,
        "latency": 0.99,
        "genai-errors": 0.99,
        "genai-latency": 0.95,
        "canary-freshness": 0.99,
    }
    assert {slo.period for slo in declared.values()} == {"30d"}
    assert {name: slo.sli.kind for name, slo in declared.items()} == {
        "availability": "bad",
        "latency": "good",
        "genai-errors": "bad",
        "genai-latency": "good",
        "canary-freshness": "fresh",
    }
    for name, slo in declared.items():
        assert slo.group_by == (() if name == "canary-freshness" else ("deployment_environment_name", "job")), name


def test_latency_slis_cut_at_a_bucket_boundary_the_instrumentation_has() -> None:
    """A good/total latency SLI counts one histogram bucket: its le must be a boundary the SDK really uses (the
    ASGI instrumentation's and util-genai's advisory buckets), and not a whole number (1 can arrive as 1 or 1.0)."""
    from opentelemetry.instrumentation._semconv import HTTP_DURATION_HISTOGRAM_BUCKETS_NEW
    from opentelemetry.util.genai._instruments import _GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS

    buckets = {
        "http_server_request_duration_seconds_bucket": HTTP_DURATION_HISTOGRAM_BUCKETS_NEW,
        "gen_ai_client_operation_duration_seconds_bucket": _GEN_AI_CLIENT_OPERATION_DURATION_BUCKETS,
    }
    cuts = {}
    for slo in slos.slos():
        le = slo.sli.events.equalities().get("le")
        if le is not None:
            assert float(le) in buckets[slo.sli.events.metric], f"{slo.name}: le={le} is no bucket boundary"
            assert not float(le).is_integer(), slo.name
            cuts[slo.name] = le
    assert cuts == {"latency": "2.5", "genai-latency": "10.24"}


def _entries() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(slos.SLO_FILE.read_text())
    return data


def _unknown_key(data: dict[str, Any]) -> None:
    data["slos"][0]["objectiv"] = data["slos"][0].pop("objective")


def _objective(value: object) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["slos"][0]["objective"] = value

    return change


def _without_sli(data: dict[str, Any]) -> None:
    del data["slos"][0]["sli"]


def _half_sli(data: dict[str, Any]) -> None:
    del data["slos"][0]["sli"]["total"]


def _unknown_metric(data: dict[str, Any]) -> None:
    data["slos"][0]["sli"]["total"] = "http_requests_total{}"


def _broken_selector(data: dict[str, Any]) -> None:
    data["slos"][0]["sli"]["bad"] = "http_server_request_duration_seconds_count{http_response_status_code=~5..}"


def _test_labels_that_do_not_match(data: dict[str, Any]) -> None:
    data["slos"][0]["test_labels"]["bad"] = {"http_response_status_code": "404"}


def _long_name(data: dict[str, Any]) -> None:
    data["slos"][0]["name"] = "service-availability"


def _short_period(data: dict[str, Any]) -> None:
    data["slos"][0]["period"] = "1d"


def _twice(data: dict[str, Any]) -> None:
    data["slos"][1]["name"] = data["slos"][0]["name"]


BAD_ENTRIES = {
    "an unknown key": (_unknown_key, "slos[0] (availability): objectiv: unknown key"),
    "an objective of 1.5": (_objective(1.5), "objective: 1.5 is not a number strictly between 0 and 1"),
    "an objective of 1": (_objective(1), "objective: 1 is not a number strictly between 0 and 1"),
    "an objective of 0": (_objective(0), "objective: 0 is not a number strictly between 0 and 1"),
    "an objective in percent": (_objective("99.5%"), "objective: '99.5%' is not a number"),
    "a budget no fast burn can reach": (_objective(0.9), "objective: 0.9 leaves a budget so large"),
    "no SLI": (_without_sli, "slos[0] (availability): sli: missing: give bad + total, good + total"),
    "half an SLI": (_half_sli, "sli: give bad + total, good + total, or fresh + max_age (found bad)"),
    "a metric glassbox does not declare": (_unknown_metric, "sli.total: http_requests_total is not a metric"),
    "an unquoted matcher": (_broken_selector, "sli.bad: cannot read the matchers"),
    "test labels the selector does not select": (_test_labels_that_do_not_match, "test_labels.bad: the test series"),
    "a name too long for Grafana's uid": (_long_name, "name: gives the alert uid"),
    "a period under the ticket's window": (_short_period, "period: 1d is shorter than the ticket's longest window"),
    "a name declared twice": (_twice, "slos[1] (availability): name: declared twice"),
}


@pytest.mark.parametrize("change", BAD_ENTRIES, ids=lambda name: name.replace(" ", "-"))
def test_a_bad_entry_is_refused_naming_the_file_and_the_field(tmp_path: Path, change: str) -> None:
    alter, message = BAD_ENTRIES[change]
    data = _entries()
    alter(data)
    path = tmp_path / "slos.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(slos.SLOError) as refused:
        slos.load(path)
    assert str(refused.value).startswith(f"{path}: slos["), refused.value
    assert message in str(refused.value)


def test_the_file_unchanged_loads_as_the_declared_slos(tmp_path: Path) -> None:
    path = tmp_path / "slos.yaml"
    path.write_text(yaml.safe_dump(_entries(), sort_keys=False))
    assert slos.load(path) == slos.slos()


# --------------------------------------------------------------------------- the alerts
def value(
    slo: slos.SLO,
    tier: slos.Tier,
    *,
    windows: tuple[slos.Window, ...] | None = None,
    short: bool = True,
    minimum: bool = True,
) -> str:
    """An alert's value from its parts: each pair (long window over its minimum of events, and short window, over
    the factor), or'ed; with a pair, the short windows or the minimum left out to break it."""
    pairs = []
    for window in tier.windows if windows is None else windows:
        at_least = slos.min_events(slo, window) if minimum else 0
        pair = f"{slos.burn_rate(slo, window.long, at_least=at_least)} > {window.factor:g}"
        if short:
            pair += f" and {slos.burn_rate(slo, window.short)} > {window.factor:g}"
        pairs.append(f"({pair})")
    return " or ".join(pairs)


def test_each_slo_has_a_page_and_a_ticket_with_the_workbooks_windows_and_factors() -> None:
    windows = {tier.severity: [(w.long, w.short, w.factor) for w in tier.windows] for tier in slos.TIERS}
    assert windows == {
        "critical": [("1h", "5m", 14.4), ("6h", "30m", 6)],
        "warning": [("1d", "2h", 3), ("3d", "6h", 1)],
    }
    # The share of a 30-day budget spent when each pair fires: 2% in an hour, 5% in 6 hours, 10% in 1 and 3 days.
    spent = {w.long: round(w.factor * duration(w.long) / duration("30d"), 6) for t in slos.TIERS for w in t.windows}
    assert spent == {"1h": 0.02, "6h": 0.05, "1d": 0.1, "3d": 0.1}
    generated = {alert.name: alert for alert in slos.slo_alerts()}
    assert len(generated) == 2 * len(NAMES)
    for slo in slos.slos():
        for tier, severity, suffix in ((slos.PAGE, "critical", "FastBurn"), (slos.TICKET, "warning", "SlowBurn")):
            alert = generated[slo.alert_name(tier)]
            assert alert.name.startswith("GlassboxSLO") and alert.name.endswith(suffix)
            assert (alert.group, alert.severity, alert.runbook) == (slos.SLO_GROUP[0], severity, tier.runbook)
            assert alert.labels == {"severity": severity, "slo": slo.name}
            assert len(alert.uid) <= slos.MAX_UID_LENGTH, alert.uid
            assert alert.value == value(slo, tier), alert.name
            assert alert.expr == f"({alert.value}) > 0", alert.name
            for window in tier.windows:
                pair = slos.condition(slo, window)
                assert pair in alert.value
                ranges = set(re.findall(r"\[(\d+[smhd])[\]:]", pair))
                assert {window.long, window.short} <= ranges, (alert.name, ranges)
                assert pair.count(f" > {window.factor:g}") == 2, alert.name
                assert pair.count(f" / {slo.budget:g} > ") == 2, alert.name


def test_a_single_bad_event_stays_under_every_factor() -> None:
    """The minimum of events in a long window: one bad event out of that many burns at most the factor."""
    minimums = {}
    for slo in slos.slos():
        for tier in slos.TIERS:
            for window in tier.windows:
                least = slos.min_events(slo, window)
                if slo.sli.kind == "fresh":
                    assert least == 0
                    continue
                assert 1 / least / slo.budget <= window.factor < 1 / (least - 1) / slo.budget
                minimums[(slo.name, window.long)] = least
    assert minimums[("availability", "1h")] == 14
    assert minimums[("availability", "3d")] == 200


def test_every_alert_has_cases_that_fire_and_cases_that_stay_quiet() -> None:
    for alert in slos.slo_alerts():
        cases = dict(slos.labelled_cases(alert.name))
        firing = [label for label, case in cases.items() if case.fires]
        quiet = [label for label, case in cases.items() if not case.fires]
        assert firing and firing[0].startswith("fires") and cases[firing[0]] is alert.fires, alert.name
        assert len(firing) >= (1 if alert.severity == "warning" and "Canary" in alert.name else 2), alert.name
        assert "stays quiet without events (0/0)" in quiet, alert.name
        assert "stays quiet at half the budget for 3 days" in quiet, alert.name
        assert alert.quiet in cases.values() and all(case in cases.values() for case in alert.also_quiet)
        # The Alert keeps the cases of hours (grafana.alerts runs them every minute); the days ones are extra.
        assert all(slos.evaluation_step(case) == 1 for case in (alert.fires, alert.quiet, *alert.also_quiet))


def promtool_run(
    directory: Path, exprs: dict[str, str] | None = None, only: Callable[[str], bool] | None = None
) -> subprocess.CompletedProcess[str]:
    """promtool over the SLO alerts' cases (``only`` the tests whose name it accepts), each alert against a rules
    file of its own, two at a time. ``exprs``: alert name -> expression to test instead of the generated one."""
    for name, content in slos.promtool_files(slos.slo_alerts()).items():
        if name.endswith(".test.yml"):
            content["tests"] = [t for t in content["tests"] if only is None or only(t["name"])]
            if not content["tests"]:
                continue
        elif name != slos.RECORDING_RULES_FILE:
            for rule in content["groups"][0]["rules"]:
                rule["expr"] = (exprs or {}).get(rule["alert"], rule["expr"])
        (directory / name).write_text(yaml.safe_dump(content, sort_keys=False))
    command = promtool()

    def run(test_file: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [command, "test", "rules", test_file], cwd=directory, capture_output=True, text=True, timeout=300
        )

    test_files = sorted(path.name for path in directory.glob("*.test.yml"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, test_files))
    return subprocess.CompletedProcess(
        [command, "test", "rules", *test_files],
        max(r.returncode for r in results),
        "".join(r.stdout for r in results),
        "".join(r.stderr for r in results),
    )


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    path = tmp_path / slos.PROMETHEUS_RULES_FILE
    path.write_text(yaml.safe_dump(slos.prometheus_rules(slos.slo_alerts())))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {2 * len(NAMES)} rules found" in result.stdout


def test_every_alert_fires_and_stays_quiet_as_its_cases_say(tmp_path: Path) -> None:
    """Every case of every alert: a fast burn, a slow burn on each window pair, half the budget for 7 hours and
    for 3 days, no events at all, a single bad event, a burn that ended (the short window must clear it)."""
    result = promtool_run(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    test_files = list(tmp_path.glob("*.test.yml"))
    assert result.stdout.count("SUCCESS") == len(test_files) == 2 * 2 * len(NAMES)
    tests = [t for path in test_files for t in yaml.safe_load(path.read_text())["tests"]]
    assert len(tests) == sum(len(slos.labelled_cases(a.name)) for a in slos.slo_alerts())


def _case_names(alert_names: list[str], descriptions: tuple[str, ...]) -> list[str]:
    return [
        f"{name} {label}" for name in alert_names for label, _ in slos.labelled_cases(name) if label in descriptions
    ]


BREAKS: dict[str, tuple[Callable[[slos.SLO, slos.Tier], str | None], tuple[str, ...]]] = {
    # Without the short windows, an outage that has ended keeps the alert firing for up to the long window.
    "no short windows": (
        lambda slo, tier: value(slo, tier, short=False),
        ("stays quiet when an outage ended 6 minutes ago", "stays quiet when a 5x burn ended 6 hours ago"),
    ),
    # Without the minimum of events, a single failed request in hours pages.
    "no minimum of events": (
        lambda slo, tier: value(slo, tier, minimum=False),
        ("stays quiet when the only event in hours was bad",),
    ),
    "the page without its 1h/5m pair": (
        lambda slo, tier: value(slo, tier, windows=tier.windows[1:]) if tier is slos.PAGE else None,
        ("fires when all is bad for minutes after hours of good (the 1h/5m pair)",),
    ),
    "the page without its 6h/30m pair": (
        lambda slo, tier: value(slo, tier, windows=tier.windows[:1]) if tier is slos.PAGE else None,
        ("fires at 10x for 4 hours (the 6h/30m pair)",),
    ),
    "the ticket without its 1d/2h pair": (
        lambda slo, tier: value(slo, tier, windows=tier.windows[1:]) if tier is slos.TICKET else None,
        ("fires at 4x for a day after a burst of good traffic (the 1d/2h pair)",),
    ),
    "the ticket without its 3d/6h pair": (
        lambda slo, tier: value(slo, tier, windows=tier.windows[:1]) if tier is slos.TICKET else None,
        ("fires at 2.5x for 7 hours (the 3d/6h pair)",),
    ),
}


@pytest.mark.parametrize("broken", BREAKS, ids=lambda name: name.replace(" ", "-").replace("/", "-"))
def test_the_cases_fail_when_the_expression_is_broken(tmp_path: Path, broken: str) -> None:
    """Each part of the rule has a case that fails without it (run alone: the other cases stay as they were)."""
    build, descriptions = BREAKS[broken]
    exprs = {}
    for slo in slos.slos():
        for tier in slos.TIERS:
            mutated = build(slo, tier)
            # (A time-based SLI has no minimum of events to leave out.)
            if mutated is not None and mutated != value(slo, tier):
                exprs[slo.alert_name(tier)] = f"({mutated}) > 0"
    expected = _case_names(list(exprs), descriptions)
    assert expected, broken
    result = promtool_run(tmp_path, exprs, only=lambda name: name in expected)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    for name in expected:
        assert f"name: {name}," in output, f"{name} passes with {broken}"


# --------------------------------------------------------------------------- the dashboard
def _panels(board: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {panel["title"]: panel for panel in board["panels"] if panel["type"] != "row"}


def test_the_dashboard_has_a_row_per_slo_with_its_sli_budget_and_burn_rates() -> None:
    board = slos.slo_dashboard()
    assert (board["uid"], board["title"]) == ("glassbox-slos", "Glassbox / SLOs")
    assert [v["name"] for v in board["templating"]["list"]] == ["env", "service"]
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert rows == [f"{slo.title}: {slo.objective * 100:g}% over {slo.period}" for slo in slos.slos()]
    panels = _panels(board)
    for slo in slos.slos():
        sli = panels[f"{slo.title}: SLI over {slo.period}"]
        budget = panels[f"{slo.title}: error budget left"]
        burn = panels[f"{slo.title}: burn rate"]
        steps = {t: p["fieldConfig"]["defaults"]["thresholds"]["steps"] for t, p in (("sli", sli), ("budget", budget))}
        assert steps["sli"] == [{"color": "red", "value": None}, {"color": "green", "value": slo.objective}]
        assert steps["budget"] == [
            {"color": "red", "value": None},
            {"color": "orange", "value": 0},
            {"color": "green", "value": 0.25},
        ]
        assert sli["fieldConfig"]["defaults"]["unit"] == budget["fieldConfig"]["defaults"]["unit"] == "percentunit"
        assert all(t["instant"] for t in sli["targets"] + budget["targets"])
        assert f"[{slo.period}" in budget["targets"][0]["expr"]
        assert budget["targets"][0]["expr"].endswith(f" / {slo.budget:g}")
        burn_steps = burn["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [(s["value"], s["color"]) for s in burn_steps[1:]] == [(6, "orange"), (14.4, "red")]
        assert burn["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "line"
        assert [t["legendFormat"].split(" ")[0] for t in burn["targets"]] == ["1h", "6h"]
        for panel in (sli, budget, burn):
            assert panel["description"].strip() and "\n" not in panel["description"], panel["title"]
            event_slo = slo.sli.kind != "fresh"
            assert all(('job=~"$service"' in t["expr"]) == event_slo for t in panel["targets"]), panel["title"]


def expression(title: str, target: int = 0) -> str:
    expr = str(_panels(slos.slo_dashboard())[title]["targets"][target]["expr"])
    for variable, replacement in VARIABLES.items():
        expr = expr.replace(variable, replacement)
    return expr


REQUESTS = "http_server_request_duration_seconds_count"
CHECKOUT = '{job="checkout", deployment_environment_name="prod"}'


def requests(status: str) -> str:
    return f'{REQUESTS}{{job="checkout", deployment_environment_name="prod", http_response_status_code="{status}"}}'


@pytest.mark.parametrize(
    ("ok", "failed", "left"),
    [("0x30", "0x30", None), ("0+100x30", "0x30", 1), ("0x30", "0+100x30", -199)],
    ids=["no-traffic-no-data", "all-good-all-left", "all-failed-overspent-not-minus-infinity"],
)
def test_the_error_budget_left_reads_right_at_its_edges(tmp_path: Path, ok: str, failed: str, left: float) -> None:
    """No requests: No data (0/0 is never NaN on the panel); every request fine: 100%; every request failed: the
    budget overspent 200 times over, -19900%, a finite number."""
    expr = expression("Service availability: error budget left")
    samples = [] if left is None else [{"labels": CHECKOUT, "value": left}]
    promtool_expect(tmp_path, {requests("200"): ok, requests("503"): failed}, expr, samples, "30m")


def test_the_burn_rate_has_no_value_without_traffic(tmp_path: Path) -> None:
    series = {requests("200"): "0x90", requests("503"): "0x90"}
    for target in (0, 1):
        promtool_expect(tmp_path, series, expression("Service availability: burn rate", target), [], "90m")


CANARY = 'glassbox_canary_timestamp_seconds{job="glassbox-doctor"}'


@pytest.mark.parametrize(
    ("values", "at", "burn"),
    [
        ({}, "2h", None),
        ({CANARY: "0+60x120"}, "2h", 0),
        # Stopped 70 minutes ago: every minute of the last hour is stale, 100% against a 1% budget.
        ({CANARY: "0+60x60 _x70"}, "130m", 100),
        # Stopped two days ago: past the day the minutes count for, no data again.
        ({CANARY: "0+60x60 _x2880"}, "2940m", None),
    ],
    ids=["no-canary-no-data", "fresh-zero", "stopped-an-hour-ago-all-stale", "stopped-days-ago-no-data"],
)
def test_the_canary_burn_rate_reads_right_at_its_edges(
    tmp_path: Path, values: dict[str, str], at: str, burn: float | None
) -> None:
    expr = expression("Canary freshness: burn rate")
    series = values or {'up{job="prometheus"}': "1x10"}
    promtool_expect(tmp_path, series, expr, [] if burn is None else [{"labels": "{}", "value": burn}], at)


def test_every_dashboard_and_alert_expression_parses(tmp_path: Path) -> None:
    exprs = [str(t["expr"]) for p in _panels(slos.slo_dashboard()).values() for t in p["targets"]]
    exprs += [alert.expr for alert in slos.slo_alerts()]
    groups = []
    for i, expr in enumerate(exprs):
        for variable, replacement in VARIABLES.items():
            expr = expr.replace(variable, replacement)
        groups.append({"name": f"q{i}", "rules": [{"record": f"glassbox:slo_check:{i}", "expr": expr}]})
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": groups}))
    result = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in result.stdout


# --------------------------------------------------------------------------- retention
RANGE = re.compile(r"\[(\d+(?:ms|[smhdwy]))(?::(\d+(?:ms|[smhdwy])))?\]")


def _opening(expr: str, closing: int) -> int:
    depth = 0
    for index in range(closing, -1, -1):
        depth += {")": 1, "(": -1}.get(expr[index], 0)
        if depth == 0:
            return index
    raise ValueError(f"unbalanced parentheses in {expr}")


def reach(expr: str) -> float:
    """How far back an expression reads: each range's length plus those of the subqueries around it."""
    subqueries = []
    for match in RANGE.finditer(expr):
        if match.group(2) is not None and expr[match.start() - 1] == ")":
            subqueries.append((_opening(expr, match.start() - 1), match.start(), duration(match.group(1))))
    furthest = 0.0
    for match in RANGE.finditer(expr):
        around = sum(length for start, end, length in subqueries if start < match.start() < end)
        furthest = max(furthest, duration(match.group(1)) + around)
    return furthest


def test_the_reach_adds_the_subqueries_around_a_range() -> None:
    assert reach("sum(increase(x{}[1h])) / sum(increase(x{}[5m]))") == 3600
    assert reach("count_over_time(max(max_over_time(x{}[5m]))[3d:1m])") == 3 * 86400 + 300
    assert reach("avg_over_time((time() - max(last_over_time(x{}[1d])))[3d:1m])") == 4 * 86400


def test_every_slo_query_reads_only_kept_data() -> None:
    kept = duration(NATIVE_DEFAULTS["GLASSBOX_METRICS_RETENTION"])
    for alert in slos.slo_alerts():
        # Grafana's query range for the rule covers what it reads.
        assert reach(alert.expr) <= alert.window_seconds <= kept, alert.name
    board = slos.slo_dashboard()
    window = duration(board["time"]["from"].removeprefix("now-"))
    for title, panel in _panels(board).items():
        for target in panel["targets"]:
            assert window + reach(target["expr"]) <= kept, title
    # The canary's SLI over 30 days reads the minutes recorded in them.
    assert reach(expression("Canary freshness: SLI over 30d")) == 30 * 86400


# --------------------------------------------------------------------------- texts and runbooks
def test_every_alert_says_what_it_means_with_only_its_own_labels() -> None:
    for slo in slos.slos():
        for tier in slos.TIERS:
            alert = next(a for a in slos.slo_alerts() if a.name == slo.alert_name(tier))
            for text in (alert.summary, alert.description):
                # Only {{ $labels.x }} of the labels the SLO keeps (promtool renders them in the cases too).
                assert set(re.findall(r"\$labels\.(\w+)", text)) <= set(slo.group_by), alert.name
                rules.render(text, {})
            who = "{{ $labels.job }}" if "job" in slo.group_by else "the stack"
            assert who in alert.summary, alert.name
            assert f"{slo.objective * 100:g}%" in alert.description
            rule = rules.grafana_rule(alert)
            assert rule["data"][0]["model"]["expr"] == alert.value
            assert rule["data"][1]["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [0]}


def test_the_runbook_sections_exist_with_checks_and_commands() -> None:
    text = (ROOT / rules.RUNBOOKS).read_text()
    anchors = [tier.runbook for tier in slos.TIERS]
    for alert in slos.slo_alerts():
        assert text.count(f'<a id="{alert.runbook}"></a>') == 1, alert.name
    for anchor in anchors:
        section = text.split(f'<a id="{anchor}"></a>', 1)[1].split('<a id="', 1)[0]
        heading = section.strip().splitlines()[0]
        for part in ("**Alert.**", "**What it means.**", "**First three checks.**", "**Commands.**", "**Resolve.**"):
            assert part in section, (heading, part)
        assert "```sh" in section, heading
    described = (ROOT / "docs" / "slos.md").read_text()
    for slo in slos.slos():
        assert f"`{slo.name}`" in described, f"docs/slos.md does not describe {slo.name}"
