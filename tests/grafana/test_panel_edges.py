"""Panels read right at the edges: computed with promtool over synthetic series, not only parsed.

`promtool test rules` evaluates any PromQL expression (``promql_expr_test``) over series given in the test
file, so each panel's own generated expression is run on the edge case it must survive.
"""

from __future__ import annotations

import datetime
import math
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack.binaries import find_binary, missing_reason
from tests.support.dashboard_queries import dashboards, panels

# Grafana's variables at "All", and the rate window at a fixed size.
VARIABLES = {"$env": ".*", "$service": ".*", "$__rate_interval": "5m", "$tenant": ".*", "$model": ".*"}
REQUESTS = "http_server_request_duration_seconds_count"


def panel(dashboard: str, title: str) -> dict[str, Any]:
    return next(p for p in panels(dashboards()[dashboard]) if p["title"] == title)


def expression(dashboard: str, title: str) -> str:
    expr = str(panel(dashboard, title)["targets"][0]["expr"])
    for variable, value in VARIABLES.items():
        expr = expr.replace(variable, value)
    return expr


def promtool_expect(
    tmp_path: Path, series: dict[str, str], expr: str, samples: list[dict[str, Any]], at: str = "20m"
) -> None:
    """Fails unless expr, evaluated at ``at`` over series (one value a minute), gives exactly samples. (The
    evaluation interval stays 1m: promtool loads input series only up to its evaluation steps.)"""
    promtool_expect_all(tmp_path, series, [{"expr": expr, "eval_time": at, "exp_samples": samples}])


def promtool_expect_all(tmp_path: Path, series: dict[str, str], checks: list[dict[str, Any]]) -> None:
    """Fails unless each promql_expr_test check holds over series (one value a minute)."""
    promtool = find_binary("promtool")
    if promtool is None:
        pytest.fail(f"{missing_reason('promtool')}: `make test` installs Debian's prometheus package")
    test = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": name, "values": values} for name, values in series.items()],
                "promql_expr_test": checks,
            }
        ],
    }
    path = tmp_path / "edge.test.yml"
    path.write_text(yaml.safe_dump(test, sort_keys=False))
    result = subprocess.run([str(promtool), "test", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def series(status: str) -> str:
    return (
        f'{REQUESTS}{{job="shop/api", deployment_environment_name="prod", http_route="/chat", '
        f'http_response_status_code="{status}"}}'
    )


def test_the_5xx_error_rate_is_zero_not_no_data_when_nothing_failed(tmp_path: Path) -> None:
    expr = expression("glassbox-system-health", "5xx error rate")
    promtool_expect(tmp_path, {series("200"): "0+60x30"}, expr, [{"labels": '{job="shop/api"}', "value": 0}])


def test_the_5xx_error_rate_is_the_share_of_failed_requests(tmp_path: Path) -> None:
    expr = expression("glassbox-system-health", "5xx error rate")
    requests = {series("200"): "0+54x30", series("503"): "0+6x30"}
    promtool_expect(tmp_path, requests, expr, [{"labels": '{job="shop/api"}', "value": 0.1}])


def test_the_5xx_error_rate_has_no_value_without_traffic(tmp_path: Path) -> None:
    expr = expression("glassbox-system-health", "5xx error rate")
    promtool_expect(tmp_path, {series("200"): "0x30"}, expr, [])


def all_panels() -> list[dict[str, Any]]:
    return [item for board in dashboards().values() for item in panels(board)]


def test_every_share_shown_as_a_bar_or_stat_fills_against_100_percent() -> None:
    shares = [
        p
        for p in all_panels()
        if p["type"] in ("bargauge", "stat") and p["fieldConfig"]["defaults"]["unit"] == "percentunit"
    ]
    assert shares, "the dashboards show shares as bars or stats"
    for item in shares:
        defaults = item["fieldConfig"]["defaults"]
        assert (defaults.get("min"), defaults.get("max")) == (0, 1), item["title"]


def test_every_time_series_with_thresholds_draws_them() -> None:
    with_thresholds = [
        p
        for p in all_panels()
        if p["type"] == "timeseries" and len(p["fieldConfig"]["defaults"]["thresholds"]["steps"]) > 1
    ]
    assert with_thresholds, "some time series have thresholds"
    for item in with_thresholds:
        style = item["fieldConfig"]["defaults"].get("custom", {}).get("thresholdsStyle", {})
        assert style.get("mode") not in (None, "off"), f"{item['title']}: thresholds are never drawn"


def activities(status: str) -> str:
    return (
        'glassbox_activity_transitions_total{job="shop/agents", deployment_environment_name="prod", '
        f'glassbox_tenant_id="acme", glassbox_agent_role="writer", glassbox_deliverable_type="report", '
        f'glassbox_activity_status="{status}"}}'
    )


GROUP = '{glassbox_agent_role="writer", glassbox_deliverable_type="report"}'


def test_the_pipeline_failure_rate_is_finite_when_nothing_was_created_in_the_window(tmp_path: Path) -> None:
    expr = expression("glassbox-pipeline", "Failure rate by agent role and deliverable")
    # Activities created long before; in the window only one failure ends: 100%, not +Inf.
    history = {activities("created"): "0+1x5 5x25", activities("failed"): "0x17 1x13"}
    promtool_expect(tmp_path, history, expr, [{"labels": GROUP, "value": 1}])


def test_the_pipeline_failure_rate_is_zero_when_every_activity_completed(tmp_path: Path) -> None:
    expr = expression("glassbox-pipeline", "Failure rate by agent role and deliverable")
    history = {activities("created"): "0+2x30", activities("completed"): "0+2x30"}
    promtool_expect(tmp_path, history, expr, [{"labels": GROUP, "value": 0}])


def test_the_pipeline_failure_rate_is_the_share_of_ended_activities_that_failed(tmp_path: Path) -> None:
    expr = expression("glassbox-pipeline", "Failure rate by agent role and deliverable")
    history = {activities("completed"): "0+3x30", activities("failed"): "0+1x30"}
    promtool_expect(tmp_path, history, expr, [{"labels": GROUP, "value": 0.25}])


def test_monthly_spend_is_this_calendar_month_so_far_not_an_epoch_aligned_30_day_step() -> None:
    monthly = [p for p in all_panels() if "month" in p["title"].lower() and p["datasource"]["type"] == "prometheus"]
    assert {p["title"] for p in monthly} >= {"Spend this month by model", "Spend this month by tenant"}
    for item in monthly:
        assert item.get("timeFrom") == "now/M", item["title"]
        assert item.get("interval") != "30d", item["title"]
        (target,) = item["targets"]
        assert target["instant"] and "[$__range]" in target["expr"], item["title"]


def test_tables_ask_prometheus_for_tables_and_join_on_a_label_every_query_keeps() -> None:
    tables = [p for p in all_panels() if p["type"] == "table" and p["datasource"]["type"] == "prometheus"]
    assert any(p["title"] == "Tenants at risk" for p in tables)
    for item in tables:
        assert all(t.get("format") == "table" for t in item["targets"]), f"{item['title']}: not in table format"
        for transformation in item.get("transformations", []):
            if transformation["id"] == "joinByField":
                field = transformation["options"]["byField"]
                for target in item["targets"]:
                    assert f"by ({field})" in target["expr"] or f", {field})" in target["expr"], (
                        f"{item['title']}: query {target['refId']} does not keep {field}, the join has nothing to join"
                    )


def test_the_audit_dashboards_service_takes_lokis_service_names_and_its_metric_panels_match_them() -> None:
    """$service filters the audit stream by Loki's service_name; Prometheus's job is namespace/name for a
    namespaced service, so the dashboard's metric panels match the name after any namespace."""
    from glassbox import conventions as c

    board = dashboards()["glassbox-audit"]
    (service,) = [v for v in board["templating"]["list"] if v["name"] == "service"]
    assert service["datasource"]["type"] == "loki" and service["query"]["label"] in c.LOKI_INDEX_LABELS
    prometheus = [t["expr"] for p in panels(board) for t in p["targets"] if p["datasource"]["type"] == "prometheus"]
    assert prometheus, "the audit dashboard has metric panels"
    for expr in prometheus:
        assert 'job=~"(.+/)?$service"' in expr, expr


def evaluation_results(outcome: str, model: str = "gpt-4o") -> str:
    return (
        f'glassbox_evaluation_results_total{{job="shop/api", deployment_environment_name="prod", '
        f'gen_ai_evaluation_name="user_feedback", gen_ai_request_model="{model}", '
        f'glassbox_evaluation_outcome="{outcome}"}}'
    )


def rejected_by_model() -> str:
    return expression("glassbox-llm-cost", "Answers rejected by model").replace("$__range", "20m")


def test_rejected_answers_are_zero_not_no_data_when_every_scored_answer_was_accepted(tmp_path: Path) -> None:
    results = {evaluation_results("accepted"): "0+3x30", evaluation_results("rejected", "claude"): "0+1x30"}
    expected = [
        {"labels": '{gen_ai_request_model="gpt-4o"}', "value": 0},
        {"labels": '{gen_ai_request_model="claude"}', "value": 1},
    ]
    promtool_expect(tmp_path, results, rejected_by_model(), expected)


def test_rejected_answers_are_the_share_of_scored_results_leaving_unscored_ones_out(tmp_path: Path) -> None:
    results = {
        evaluation_results("accepted"): "0+3x30",
        evaluation_results("rejected"): "0+1x30",
        evaluation_results("unscored"): "0+50x30",
    }
    promtool_expect(
        tmp_path, results, rejected_by_model(), [{"labels": '{gen_ai_request_model="gpt-4o"}', "value": 0.25}]
    )


def test_rejected_answers_have_no_value_when_nothing_was_scored(tmp_path: Path) -> None:
    results = {evaluation_results("unscored"): "0+5x30", evaluation_results("accepted"): "0x30"}
    promtool_expect(tmp_path, results, rejected_by_model(), [])


def model_calls(error_type: str = "") -> str:
    error = f', error_type="{error_type}"' if error_type else ""
    return (
        f'gen_ai_client_operation_duration_seconds_count{{job="shop/api", deployment_environment_name="prod", '
        f'gen_ai_request_model="gpt-4o"{error}}}'
    )


def test_the_model_call_error_rate_atop_the_cost_dashboard_is_zero_when_nothing_failed(tmp_path: Path) -> None:
    expr = expression("glassbox-llm-cost", "Model call error rate")
    promtool_expect(tmp_path, {model_calls(): "0+10x30"}, expr, [{"labels": "{}", "value": 0}])
    calls = {model_calls(): "0+3x30", model_calls("openai.RateLimitError"): "0+1x30"}
    promtool_expect(tmp_path, calls, expr, [{"labels": "{}", "value": 0.25}])


def test_the_cost_dashboard_opens_on_the_kill_switch_budgets_errors_and_latency() -> None:
    board = dashboards()["glassbox-llm-cost"]
    first_row = []
    for item in board["panels"][1:]:
        if item["type"] == "row":
            break
        first_row.append(item["title"])
    assert board["panels"][0]["type"] == "row"
    assert {"Kill switch", "Budget used per tenant", "Model call error rate", "Model call latency p95"} <= set(
        first_row
    )
    assert all(p["gridPos"]["y"] <= 1 for p in board["panels"][1 : len(first_row) + 1]), "the first row wraps"


# --------------------------------------------------------------------------- spend per day
DAY = 86400
COST_SERIES = (
    'glassbox_gen_ai_cost_usd_total{job="shop/api", deployment_environment_name="prod", gen_ai_request_model="gpt-4o"}'
)


def spend_per_minute(day: int) -> float:
    """USD a minute on day ``day`` since 1970-01-01 (UTC): a different amount every day, so a bar a day late shows."""
    return (day % 7 + 1) / 100


def cost_counter(now_minutes: int) -> str:
    """The cost counter from 0 at 1970-01-01 00:00 to ``now_minutes``, a point a minute, at each day's own rate."""
    parts, value, minute = ["0"], 0.0, 0
    while minute < now_minutes:
        day = minute // 1440
        minutes = min((day + 1) * 1440, now_minutes) - minute
        rate = spend_per_minute(day)
        parts.append(f"{value + rate:.6f}+{rate:.6f}x{minutes - 1}")
        value += rate * minutes
        minute += minutes
    return " ".join(parts)


def grafana_steps(start: int, end: int, step: int) -> list[int]:
    """The times a range query is evaluated at: Grafana rounds start and end down to a multiple of the step (UTC
    dashboards: no offset; AlignTimeRange in Grafana's pkg/promlib/models/query.go), Prometheus steps from start to
    end inclusive."""
    first, last = start // step * step, end // step * step
    return list(range(first, last + 1, step))


def spent(start: int, end: int) -> float:
    """USD spent between two times (seconds since 1970), from spend_per_minute."""
    return sum(spend_per_minute(minute // 1440) for minute in range(start // 60, end // 60))


def spend_bars_hold_their_own_day(tmp_path: Path, now: int, shown: int) -> list[int]:
    """Runs the "Spend per day by model" panel's query at each of Grafana's steps over the last ``shown`` seconds
    before ``now``; fails unless each bar is its own day's spend (today's so far). Returns the steps."""
    item = panel("glassbox-llm-cost", "Spend per day by model")
    step = {"1d": DAY}[item["interval"]]
    expr = expression("glassbox-llm-cost", "Spend per day by model").replace("$__interval", item["interval"])
    steps = grafana_steps(now - shown, now, step)
    checks = []
    for at in steps:
        want = spent(at, min(at + step, now))
        # Prometheus extrapolates a range that ends after the last point by half a point's interval (30 s): today so
        # far may read up to 30 s of spend more. A whole day reads exactly.
        high = want + spend_per_minute(at // DAY) / 2 + 1e-9
        checks.append(
            {
                "expr": f"({expr}) >= bool {want - 1e-9:.9f} and ({expr}) <= {high:.9f}",
                "eval_time": f"{at}s",
                "exp_samples": [{"labels": '{gen_ai_request_model="gpt-4o"}', "value": 1}],
            }
        )
    # promtool loads the input series up to its last evaluation time: a check at now loads today's points, which the
    # bar at today's midnight reads.
    total = spent(0, now)
    checks.append(
        {
            "expr": f"{COST_SERIES} > bool {total - 1e-6:.6f}",
            "eval_time": f"{now}s",
            "exp_samples": [{"labels": COST_SERIES.removeprefix("glassbox_gen_ai_cost_usd_total"), "value": 1}],
        }
    )
    promtool_expect_all(tmp_path, {COST_SERIES: cost_counter(now // 60)}, checks)
    return steps


def test_spend_per_day_bars_show_their_own_day_and_today_so_far_across_a_day_boundary(tmp_path: Path) -> None:
    now = 2 * DAY + 10 * 3600  # 1970-01-03 10:00 UTC
    steps = spend_bars_hold_their_own_day(tmp_path, now, 2 * DAY)
    assert steps == [0, DAY, 2 * DAY], "Grafana's steps are the UTC midnights, today's the last"


def test_spend_per_day_bars_show_their_own_day_and_today_so_far_across_a_month_boundary(tmp_path: Path) -> None:
    now = 31 * DAY + 10 * 3600
    moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
    assert (moment.month, moment.day, moment.hour) == (2, 1, 10), "1 February 1970, 10:00 UTC"
    steps = spend_bars_hold_their_own_day(tmp_path, now, 2 * DAY)
    days = [datetime.datetime.fromtimestamp(at, datetime.UTC).date().isoformat() for at in steps]
    assert days == ["1970-01-30", "1970-01-31", "1970-02-01"]
    assert math.isclose(spent(steps[-1], now), 600 * spend_per_minute(31))
