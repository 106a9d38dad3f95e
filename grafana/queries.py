"""The queries' shared parts: the series names and thresholds that the dashboards draw and the alert rules fire
at, the collector's per-signal counters, and the dashboards' template variables ($env, $service, $tenant, $model),
which the SLO dashboard uses too. Built from glassbox.conventions through grafana.promql and grafana.panels;
grafana.dashboards, grafana.alerts and grafana.slos import it, it imports none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from glassbox import conventions as c
from grafana import promql as p
from grafana.panels import query_variable

# Thresholds the dashboards draw and the alert rules fire at (grafana/dashboards.py, grafana/alerts.py).
HTTP_P95_SLO_SECONDS = 2.0
# Spend per hour that is worth a look whatever came before (a new service has no last week to compare with).
SPEND_CEILING_USD_PER_HOUR = 20.0
HTTP_COUNT = p.metric(c.METRIC_HTTP_SERVER_DURATION, "_count")
HTTP_BUCKET = p.metric(c.METRIC_HTTP_SERVER_DURATION, "_bucket")
LLM_COUNT = p.metric(c.METRIC_OPERATION_DURATION, "_count")
LLM_BUCKET = p.metric(c.METRIC_OPERATION_DURATION, "_bucket")
FIRST_CHUNK_BUCKET = p.metric(c.METRIC_TIME_TO_FIRST_CHUNK, "_bucket")
PER_CHUNK_BUCKET = p.metric(c.METRIC_TIME_PER_OUTPUT_CHUNK, "_bucket")
TOKENS_SUM = p.metric(c.METRIC_TOKEN_USAGE, "_sum")
COST = p.metric(c.METRIC_COST)
UNPRICED = p.metric(c.METRIC_COST_UNPRICED)
REFUSED = p.metric(c.METRIC_AI_CALLS_REFUSED)
EVALUATIONS = p.metric(c.METRIC_EVALUATION_RESULTS)
GUARDRAIL_CHECKS = p.metric(c.METRIC_GUARDRAIL_CHECKS)
EVALUATION_SCORE_SUM = p.metric(c.METRIC_EVALUATION_SCORE, "_sum")
EVALUATION_SCORE_COUNT = p.metric(c.METRIC_EVALUATION_SCORE, "_count")
KILL_SWITCH = p.metric(c.METRIC_AI_KILL_SWITCH)
TRANSITIONS = p.metric(c.METRIC_ACTIVITY_TRANSITIONS)
BACKLOG = p.metric(c.METRIC_APPROVAL_BACKLOG)
ACTIVITY_BUCKET = p.metric(c.METRIC_ACTIVITY_DURATION, "_bucket")
ACTIVITY_SUM = p.metric(c.METRIC_ACTIVITY_DURATION, "_sum")
ACTIVITY_COUNT = p.metric(c.METRIC_ACTIVITY_DURATION, "_count")
QUEUE_DEPTH = p.metric(c.METRIC_QUEUE_DEPTH)
DEAD_LETTERS = p.metric(c.METRIC_QUEUE_DEAD_LETTERS)
SERVER_ERROR = p.re(p.STATUS_CODE, "5..")
# Budget states, as shares of the limit; the same steps colour the panels and name the alert thresholds.
BUDGET_STEPS = [(c.BUDGET_ALERT_RATIOS[0], "yellow"), (c.BUDGET_ALERT_RATIOS[1], "orange"), (1.0, "red")]
PIPELINE_SLO_SECONDS = 300.0
# Streaming calls: the first chunk should arrive within this many seconds at p95 (the alert's threshold too).
FIRST_CHUNK_P95_SECONDS = 5.0


def collector_metric(name: str) -> str:
    if name not in c.COLLECTOR_METRICS:
        raise KeyError(f"{name} is not in glassbox.conventions.COLLECTOR_METRICS")
    return name


def collector_rates(
    kind: str,
    *group: str,
    window: str = "$__rate_interval",
    matchers: tuple[str, ...] = (),
    over: Callable[[str, str], str] = p.rate,
) -> str:
    """A collector counter across the three signals (its rate, or ``over`` it), summed by ``group`` plus a
    ``signal`` label.

    rate() drops the metric name, so the signals' series would collide (same receiver, same labels); each
    gets its signal as a label before the union.
    """
    parts = [
        f"label_replace({over(p.sel(collector_metric(f'otelcol_{kind}_{signal}'), *matchers), window)}, "
        f'"signal", "{signal}", "", "")'
        for signal in c.COLLECTOR_SIGNALS
    ]
    keys = ", ".join([*group, "signal"])
    return f"sum by ({keys}) ({' or '.join(parts)})"


# --------------------------------------------------------------------------- variables
SDK_INFO = p.sel(p.SERVICE_INFO, p.SDK_PRESENT)
ENV_VARIABLE = query_variable("env", "Environment", f"label_values({SDK_INFO}, {p.ENVIRONMENT})")
SERVICE_VARIABLE = query_variable(
    "service", "Service", f"label_values({p.sel(p.SERVICE_INFO, p.SDK_PRESENT, p.VAR_ENV)}, job)"
)


def tenant_variable(source: str) -> dict[str, Any]:
    return query_variable("tenant", "Tenant", f"label_values({p.sel(source, *p.APP)}, {p.TENANT})")


MODEL_VARIABLE = query_variable("model", "Model", f"label_values({p.sel(LLM_COUNT, *p.APP)}, {p.MODEL})")
