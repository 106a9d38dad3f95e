"""The "Prompt versions" dashboard read at its edges, computed with promtool over synthetic series."""

from __future__ import annotations

from pathlib import Path

from tests.grafana.test_panel_edges import VARIABLES, panel, promtool_expect

EVALUATIONS = "glassbox_evaluation_results_total"
CALLS = "gen_ai_client_operation_duration_seconds_count"
APP = 'job="shop/api", deployment_environment_name="prod", glassbox_tenant_id="acme"'
TABLE = "Prompt versions side by side"


def column(title: str, ref: str) -> str:
    """A table column's query (by its refId), the variables at All and the range at 20 minutes."""
    [target] = [t for t in panel("glassbox-prompt-versions", TABLE)["targets"] if t["refId"] == ref]
    expr = str(target["expr"])
    for variable, value in {**VARIABLES, "$prompt": ".*", "$__range": "20m"}.items():
        expr = expr.replace(variable, value)
    return expr


def prompt(version: str) -> str:
    return f'{APP}, glassbox_prompt_name="support-answer", glassbox_prompt_version="{version}"'


def test_a_version_without_evaluations_has_no_rejected_share_and_one_with_none_rejected_has_zero(
    tmp_path: Path,
) -> None:
    series = {
        f'{EVALUATIONS}{{{prompt("7")}, glassbox_evaluation_outcome="accepted"}}': "0+3x30",
        f'{EVALUATIONS}{{{prompt("8")}, glassbox_evaluation_outcome="accepted"}}': "0+3x30",
        f'{EVALUATIONS}{{{prompt("8")}, glassbox_evaluation_outcome="rejected"}}': "0+1x30",
        f"{CALLS}{{{prompt('9')}}}": "0+5x30",  # version 9 was called, never evaluated
    }
    labels = '{glassbox_prompt_name="support-answer", glassbox_prompt_version="%s"}'
    promtool_expect(
        tmp_path,
        series,
        column(TABLE, "F"),
        [{"labels": labels % "7", "value": 0}, {"labels": labels % "8", "value": 0.25}],
    )


def test_no_error_is_a_zero_error_rate_and_unlabelled_calls_are_left_out(tmp_path: Path) -> None:
    series = {
        f'{CALLS}{{{prompt("7")}, error_type=""}}': "0+5x30",
        f"{CALLS}{{{APP}}}": "0+5x30",  # a call outside any glassbox.prompt block
    }
    labels = '{glassbox_prompt_name="support-answer", glassbox_prompt_version="7"}'
    promtool_expect(tmp_path, series, column(TABLE, "D"), [{"labels": labels, "value": 0}])
