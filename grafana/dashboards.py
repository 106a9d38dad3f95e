"""The Glassbox dashboards: seven built here and the SLO dashboard of grafana.slos, listed together in DASHBOARDS.
Every query is built from glassbox.conventions names through grafana.promql, with the series, thresholds and
template variables the alert rules and the SLO dashboard share from grafana.queries.
"""

from __future__ import annotations

from typing import Any

from glassbox import conventions as c
from grafana import promql as p
from grafana.panels import (
    UP_DOWN,
    LogQuery,
    Panel,
    Query,
    Row,
    TraceMetricsQuery,
    TraceQuery,
    alertlist,
    bargauge,
    bars,
    columns_table,
    dashboard,
    logs,
    loki_label_variable,
    piechart,
    query_variable,
    stat,
    table,
    text_variable,
    timeseries,
)
from grafana.queries import (
    ACTIVITY_BUCKET,
    ACTIVITY_COUNT,
    ACTIVITY_SUM,
    BACKLOG,
    BUDGET_STEPS,
    COST,
    DEAD_LETTERS,
    ENV_VARIABLE,
    EVALUATION_SCORE_COUNT,
    EVALUATION_SCORE_SUM,
    EVALUATIONS,
    FIRST_CHUNK_BUCKET,
    FIRST_CHUNK_P95_SECONDS,
    HTTP_BUCKET,
    HTTP_COUNT,
    HTTP_P95_SLO_SECONDS,
    KILL_SWITCH,
    LLM_BUCKET,
    LLM_COUNT,
    MODEL_VARIABLE,
    PER_CHUNK_BUCKET,
    PIPELINE_SLO_SECONDS,
    QUEUE_DEPTH,
    REFUSED,
    SERVER_ERROR,
    SERVICE_VARIABLE,
    SPEND_CEILING_USD_PER_HOUR,
    TOKENS_SUM,
    TRANSITIONS,
    UNPRICED,
    collector_metric,
    collector_rates,
    tenant_variable,
)
from grafana.slos import slo_dashboard

# Grafana has no "USD per hour" or "items per second" unit: custom suffixes say what a rate counts, and per what.
USD_PER_HOUR = "suffix: USD/h"
ITEMS_PER_SECOND = "suffix: items/s"
TOKENS_PER_SECOND = "suffix: tokens/s"
CALLS_PER_SECOND = "suffix: calls/s"
SPANS_PER_SECOND = "suffix: spans/s"
PER_MINUTE = "suffix: /min"


def per_signal(kind: str) -> list[Query]:
    """A collector counter's rate, one query per signal (legend: the signal)."""
    return [
        Query(f"sum({p.rate(p.sel(collector_metric(f'otelcol_{kind}_{signal}'), p.COLLECTOR))})", signal)
        for signal in c.COLLECTOR_SIGNALS
    ]


# --------------------------------------------------------------------------- shared panels
def service_freshness() -> Panel:
    return stat(
        "Seconds since each service last sent data",
        "Age of each service's last export through the collector; over 120 s means it stopped sending.",
        "s",
        Query(p.seconds_since_last_data(*p.APP), "{{job}}", instant=True),
        width=12,
        thresholds=[(120, "red")],
    )


def stack_targets() -> Panel:
    return stat(
        "Stack components",
        "Prometheus's scrape of each stack component: UP or DOWN.",
        "none",
        Query(p.sel("up", p.re("job", "|".join(c.STACK_JOBS))), "{{job}}", instant=True),
        width=12,
        mappings=UP_DOWN,
        thresholds=[(1, "green")],
        options={"colorMode": "background", "graphMode": "none"},
    )


def canary_age(width: int = 6) -> Panel:
    canary = p.sel(c.PROMETHEUS_CANARY_TIMESTAMP)
    return stat(
        "Canary age",
        "Seconds since the last `glassbox doctor` canary point reached Prometheus through the collector.",
        "s",
        Query(f"time() - max(max_over_time({canary}[1d]))", "canary", instant=True),
        width=width,
        thresholds=[(300, "red")],
    )


def kill_switch(**kwargs: Any) -> Panel:
    return stat(
        "Kill switch",
        "Whether the kill switch is on (1) for each service: its model calls are refused.",
        "short",
        Query(f"max by (job) ({p.sel(KILL_SWITCH, *p.APP)})", "{{job}}", instant=True),
        thresholds=[(1, "red")],
        mappings=[{"type": "value", "options": {"0": {"text": "off"}, "1": {"text": "ON", "color": "red"}}}],
        **kwargs,
    )


def budget_used(*matchers: str, **kwargs: Any) -> Panel:
    return bargauge(
        "Budget used per tenant",
        "Share of each tenant's daily and monthly USD budget spent in the current period.",
        "percentunit",
        Query(p.budget_used(*matchers), "{{" + p.TENANT + "}} {{" + p.PERIOD + "}}", instant=True),
        thresholds=BUDGET_STEPS,
        options={"minVizHeight": 10},
        **kwargs,
    )


def model_error_rate(*matchers: str, **kwargs: Any) -> Panel:
    calls = p.sel(LLM_COUNT, *matchers)
    failed = p.sel(LLM_COUNT, *matchers, p.ne(p.ERROR_TYPE, ""))
    return stat(
        "Model call error rate",
        "Share of model calls that failed, over the last minutes: 0 when none failed, no value with no calls.",
        "percentunit",
        Query(p.share(f"sum({p.rate(failed)})", f"sum({p.rate(calls)})"), "errors"),
        thresholds=[(0.05, "red")],
        **kwargs,
    )


def pipeline_summary() -> list[Panel]:
    return [
        stat(
            "Accepted by the collector",
            "Spans, log records and metric points per second the collector accepted.",
            ITEMS_PER_SECOND,
            *per_signal("receiver_accepted"),
        ),
        stat(
            "Refused by the collector",
            "Items per second the collector refused (memory limit, bad data); any is a loss at the source.",
            ITEMS_PER_SECOND,
            Query(f"sum({collector_rates('receiver_refused', matchers=(p.COLLECTOR,))})", "refused"),
            thresholds=[(0.001, "red")],
        ),
        stat(
            "Failed to export",
            "Items per second an exporter gave up on after its retries; each is data lost for a backend.",
            ITEMS_PER_SECOND,
            Query(f"sum({collector_rates('exporter_send_failed', matchers=(p.COLLECTOR,))}) or vector(0)", "failed"),
            thresholds=[(0.001, "red")],
        ),
        canary_age(),
    ]


# --------------------------------------------------------------------------- 0. home
def home() -> dict[str, Any]:
    """The first screen (Grafana's default home): is it healthy, and what is it costing."""
    app_http = p.sel(HTTP_COUNT, *p.APP)
    errors = f"sum({p.rate(p.sel(HTTP_COUNT, *p.APP, SERVER_ERROR))})"
    total = f"sum({p.rate(app_http)})"
    cost = p.sel(COST, *p.APP)
    return dashboard(
        "glassbox-home",
        "Glassbox / Home",
        "Is it healthy and what is it costing: firing alerts, services, errors and latency, spend, budgets and the "
        "kill switch. Every other Glassbox dashboard is one click away (Glassbox dashboards, top right).",
        [ENV_VARIABLE, SERVICE_VARIABLE],
        [
            Row("Is it healthy"),
            alertlist(
                "Firing alerts",
                "Glassbox alert rules firing, pending or failing to evaluate now; each links to its rule and runbook.",
                width=12,
                height=10,
            ),
            stat(
                "HTTP 5xx error rate",
                "Share of requests answered 5xx, every service chosen: 0 when none failed, no value with no traffic.",
                "percentunit",
                Query(p.share(errors, total), "5xx"),
                thresholds=[(0.05, "red")],
            ),
            stat(
                "HTTP latency p95",
                "95th percentile of HTTP request duration, every service and route chosen.",
                "s",
                Query(p.quantile(0.95, p.sel(HTTP_BUCKET, *p.APP)), "p95", exemplar=True),
                thresholds=[(HTTP_P95_SLO_SECONDS, "red")],
            ),
            model_error_rate(*p.APP),
            canary_age(),
            service_freshness(),
            stack_targets(),
            Row("What is it costing"),
            stat(
                "Spend today",
                "USD spent on model calls since midnight UTC.",
                "currencyUSD",
                Query(f"sum({p.increase(cost, '$__range')})", "today", instant=True),
                decimals=2,
                time_from="now/d",
            ),
            stat(
                "Spend this month",
                "USD spent on model calls since the first of the month (UTC).",
                "currencyUSD",
                Query(f"sum({p.increase(cost, '$__range')})", "this month", instant=True),
                decimals=2,
                time_from="now/M",
            ),
            stat(
                "Spend rate",
                "USD per hour at the current rate.",
                USD_PER_HOUR,
                Query(f"sum({p.rate(cost)}) * 3600", "USD/h"),
                decimals=4,
                thresholds=[(SPEND_CEILING_USD_PER_HOUR, "red")],
            ),
            kill_switch(),
            budget_used(*p.APP),
            timeseries(
                "Spend rate by model",
                "USD per hour by requested model.",
                USD_PER_HOUR,
                Query(f"sum by ({p.MODEL}) ({p.rate(cost)}) * 3600", "{{" + p.MODEL + "}}", exemplar=True),
            ),
        ],
        time_from="now-6h",
    )


# --------------------------------------------------------------------------- 1. system health
def system_health() -> dict[str, Any]:
    app_http = p.sel(HTTP_COUNT, *p.APP)
    per_route = f"sum by (job, {p.ROUTE}) ({p.rate(app_http)})"
    errors = f"sum by (job) ({p.rate(p.sel(HTTP_COUNT, *p.APP, SERVER_ERROR))})"
    total = f"sum by (job) ({p.rate(app_http)})"
    bucket = p.sel(HTTP_BUCKET, *p.APP)
    latency = [
        Query(p.quantile(q, bucket, "job", p.ROUTE), f"p{int(q * 100)} {{{{{p.ROUTE}}}}}", exemplar=True)
        for q in (0.5, 0.95, 0.99)
    ]
    return dashboard(
        "glassbox-system-health",
        "Glassbox / System health",
        "Is every service up and answering: rate, errors and latency per route, job queues, the telemetry pipeline.",
        [ENV_VARIABLE, SERVICE_VARIABLE],
        [
            Row("Services"),
            service_freshness(),
            stack_targets(),
            timeseries(
                "Request rate by route",
                "HTTP requests per second served, per service and route.",
                "reqps",
                Query(per_route, "{{job}} {{" + p.ROUTE + "}}"),
            ),
            timeseries(
                "5xx error rate",
                "Share of HTTP requests answered with a 5xx status, per service.",
                "percentunit",
                # 0, not No data, for a service that answered every request (its failures count as 0 x total);
                # no value, not NaN, for one that served nothing.
                Query(p.share(errors, total), "{{job}}"),
                thresholds=[(0.05, "red")],
            ),
            timeseries(
                "Latency p50 / p95 / p99 by route",
                "HTTP server latency quantiles per route; dots are exemplars linking to the trace.",
                "s",
                *latency,
                width=24,
            ),
            Row("Job queues"),
            timeseries(
                "Queue depth",
                "Jobs waiting in each queue, as the app reports it.",
                "short",
                Query(f"sum by (job, {p.QUEUE}) ({p.sel(QUEUE_DEPTH, *p.APP)})", "{{job}} {{" + p.QUEUE + "}}"),
            ),
            timeseries(
                "Dead letters",
                "Jobs in each queue's dead-letter store; a rising line needs a look.",
                "short",
                Query(f"sum by (job, {p.QUEUE}) ({p.sel(DEAD_LETTERS, *p.APP)})", "{{job}} {{" + p.QUEUE + "}}"),
            ),
            Row("Telemetry pipeline"),
            *pipeline_summary(),
        ],
    )


# --------------------------------------------------------------------------- 2. LLM cost
def llm_cost() -> dict[str, Any]:
    cost = p.sel(COST, *p.APP, p.VAR_TENANT, p.VAR_MODEL)

    def what(by: str) -> str:
        return {"model": "requested model", "agent": "agent (the feature that made the calls)"}.get(by, by)

    def spend_bars(by: str, label: str) -> Panel:
        """USD per UTC day, stacked by ``label``, today so far included.

        Grafana aligns a 1d step to UTC midnight (start and end rounded down: AlignTimeRange in
        pkg/promlib/models/query.go), and a bar is drawn at its step's time: the increase over the day that *starts*
        there (a negative offset) is that day's spend. ``increase(...[1d])`` at midnight would hold the day before,
        and today (whose step is its own midnight, the last one) would never show."""
        return bars(
            f"Spend per day by {by}",
            f"USD per UTC day, stacked by {what(by)}; the last bar is today so far.",
            "currencyUSD",
            Query(f"sum by ({label}) ({p.increase_ahead(cost, '$__interval')})", "{{" + label + "}}"),
            interval="1d",
        )

    def month_to_date(by: str, label: str) -> Panel:
        """USD spent this calendar month so far, per ``label``: the panel's own range starts at the month's start,
        whatever the dashboard shows (a 30-day step would be aligned to multiples of 30 days since 1970, so the
        bars were empty most of the month)."""
        return bargauge(
            f"Spend this month by {by}",
            f"USD since the first of this month (the dashboard's time zone, UTC), per {what(by)}.",
            "currencyUSD",
            Query(f"sort_desc(sum by ({label}) ({p.increase(cost, '$__range')}))", "{{" + label + "}}", instant=True),
            time_from="now/M",
        )

    def model_quantile(bucket: str, q: float) -> str:
        """Quantile ``q`` of a histogram per requested model, for the tenant and model chosen."""
        return p.quantile(q, p.sel(bucket, *p.APP, p.VAR_TENANT, p.VAR_MODEL), p.MODEL)

    tokens = p.sel(TOKENS_SUM, *p.APP, p.VAR_TENANT, p.VAR_MODEL)
    cache_tokens = p.sel(p.metric(c.METRIC_CACHE_TOKENS), *p.APP, p.VAR_TENANT, p.VAR_MODEL)
    calls = p.sel(LLM_COUNT, *p.APP, p.VAR_TENANT, p.VAR_MODEL)
    failed_calls = p.sel(LLM_COUNT, *p.APP, p.VAR_TENANT, p.VAR_MODEL, p.ne(p.ERROR_TYPE, ""))
    quality = (*p.APP, p.VAR_TENANT, p.VAR_MODEL)
    results = p.sel(EVALUATIONS, *quality)
    rejected = p.sel(EVALUATIONS, *quality, p.eq(c.EVALUATION_OUTCOME, c.EVALUATION_REJECTED))
    scored = p.sel(
        EVALUATIONS, *quality, p.re(c.EVALUATION_OUTCOME, f"{c.EVALUATION_ACCEPTED}|{c.EVALUATION_REJECTED}")
    )
    score_sum = p.sel(EVALUATION_SCORE_SUM, *quality)
    score_count = p.sel(EVALUATION_SCORE_COUNT, *quality)

    def rejected_share(by: str, label: str) -> Panel:
        """Of the scored results over the time range, the share that rejected the answer, per ``label``."""
        return bargauge(
            f"Answers rejected by {by}",
            f"Share of scored feedback and evaluation results that rejected the answer, per {what(by)}: 0 when "
            "none was rejected; results without a score or verdict are left out.",
            "percentunit",
            Query(
                p.share(
                    f"sum by ({label}) ({p.increase(rejected, '$__range')})",
                    f"sum by ({label}) ({p.increase(scored, '$__range')})",
                ),
                "{{" + label + "}}",
                instant=True,
            ),
            thresholds=[(0.05, "red")],
            width=8,
        )

    return dashboard(
        "glassbox-llm-cost",
        "Glassbox / LLM cost",
        "What the models cost and how they answer: kill switch and budgets first, spend by model, tenant and agent, "
        "tokens, latency and errors, rejected answers, and the most expensive calls.",
        [
            ENV_VARIABLE,
            SERVICE_VARIABLE,
            tenant_variable(COST),
            MODEL_VARIABLE,
            text_variable("min_trace_cost", "Minimum USD per trace", "0.0001"),
        ],
        [
            Row("Now"),
            kill_switch(width=4),
            budget_used(*p.APP, p.VAR_TENANT, width=8, height=5),
            model_error_rate(*p.APP, p.VAR_TENANT, p.VAR_MODEL, width=4),
            stat(
                "Model call latency p95",
                "95th percentile of a whole model call's duration, over every model chosen.",
                "s",
                Query(p.quantile(0.95, p.sel(LLM_BUCKET, *p.APP, p.VAR_TENANT, p.VAR_MODEL)), "p95", exemplar=True),
                width=4,
            ),
            stat(
                "Answers rejected",
                "Share of scored feedback and evaluation results that rejected the answer, over the time range.",
                "percentunit",
                Query(
                    p.share(f"sum({p.increase(rejected, '$__range')})", f"sum({p.increase(scored, '$__range')})"),
                    "rejected",
                    instant=True,
                ),
                thresholds=[(0.05, "red")],
                width=4,
            ),
            Row("Spend"),
            stat(
                "Spend in the time range",
                "USD spent on model calls over the dashboard's time range.",
                "currencyUSD",
                Query(f"sum({p.increase(cost, '$__range')})", "USD", instant=True),
                decimals=4,
            ),
            stat(
                "Spend in the last 30 days",
                "USD spent on model calls over the last 30 days.",
                "currencyUSD",
                Query(f"sum({p.increase(cost, '30d')})", "USD", instant=True),
                decimals=2,
            ),
            stat(
                "Model calls without a price",
                "Calls the price list does not cover (unknown model or provider); counted, never guessed.",
                "short",
                Query(
                    f"sum({p.increase(p.sel(UNPRICED, *p.APP, p.VAR_TENANT, p.VAR_MODEL), '$__range')})",
                    "calls",
                    instant=True,
                ),
                thresholds=[(1, "orange")],
            ),
            stat(
                "Spend rate",
                "USD per hour at the current rate; exemplars on the graph below link to expensive calls' traces.",
                USD_PER_HOUR,
                Query(f"sum({p.rate(cost)}) * 3600", "USD/h"),
                decimals=4,
            ),
            spend_bars("model", p.MODEL),
            spend_bars("tenant", p.TENANT),
            month_to_date("model", p.MODEL),
            month_to_date("tenant", p.TENANT),
            spend_bars("agent", p.AGENT),
            timeseries(
                "Spend rate by agent",
                "USD per hour by agent (feature); exemplar dots link to the trace of a priced call.",
                USD_PER_HOUR,
                Query(f"sum by ({p.AGENT}) ({p.rate(cost)}) * 3600", "{{" + p.AGENT + "}}", exemplar=True),
            ),
            Row("Tokens and models"),
            timeseries(
                "Tokens per second by model and type",
                "Input and output tokens per second per model, as the GenAI instrumentations report them.",
                TOKENS_PER_SECOND,
                Query(
                    f"sum by ({p.MODEL}, {p.TOKEN_TYPE}) ({p.rate(tokens)})",
                    "{{" + p.MODEL + "}} {{" + p.TOKEN_TYPE + "}}",
                ),
            ),
            timeseries(
                "Cached input tokens per second by model",
                "Input tokens read from or written to the provider's prompt cache (a share of the input tokens).",
                TOKENS_PER_SECOND,
                Query(
                    f"sum by ({p.MODEL}, {p.TOKEN_TYPE}) ({p.rate(cache_tokens)})",
                    "{{" + p.MODEL + "}} {{" + p.TOKEN_TYPE + "}}",
                ),
            ),
            piechart(
                "Calls by provider and model",
                "Share of model calls per provider and model over the time range.",
                "short",
                Query(
                    f"sum by ({p.PROVIDER}, {p.MODEL}) ({p.increase(calls, '$__range')})",
                    "{{" + p.PROVIDER + "}} {{" + p.MODEL + "}}",
                    instant=True,
                ),
            ),
            timeseries(
                "Model call error rate by model",
                "Share of calls to each model that failed (error.type set): 0 if none failed, no value with no calls.",
                "percentunit",
                Query(
                    p.share(f"sum by ({p.MODEL}) ({p.rate(failed_calls)})", f"sum by ({p.MODEL}) ({p.rate(calls)})"),
                    "{{" + p.MODEL + "}}",
                ),
                thresholds=[(0.05, "red")],
            ),
            Row("Latency and streaming"),
            timeseries(
                "Model call latency p95 by model",
                "95th percentile of a whole model call's duration, per requested model; dots are exemplars.",
                "s",
                Query(
                    model_quantile(LLM_BUCKET, 0.95),
                    "{{" + p.MODEL + "}}",
                    exemplar=True,
                ),
                width=8,
            ),
            timeseries(
                "Time to first chunk p50 / p95 by model",
                "Streaming calls: seconds until the first chunk arrived (what a user waits before text appears).",
                "s",
                *[
                    Query(
                        model_quantile(FIRST_CHUNK_BUCKET, q),
                        f"p{int(q * 100)} {{{{{p.MODEL}}}}}",
                        exemplar=True,
                    )
                    for q in (0.5, 0.95)
                ],
                thresholds=[(FIRST_CHUNK_P95_SECONDS, "red")],
                width=8,
            ),
            timeseries(
                "Time per output chunk p95 by model",
                "Streaming calls: seconds between output chunks after the first (how fast the text flows).",
                "s",
                Query(
                    model_quantile(PER_CHUNK_BUCKET, 0.95),
                    "{{" + p.MODEL + "}}",
                    exemplar=True,
                ),
                width=8,
            ),
            Row("Refused calls"),
            timeseries(
                "Model calls refused, by reason",
                "Calls the guard did not make per second: kill switch, a tenant's or the total budget (day/month), a "
                "request limit, the shared state out of reach (fail-closed) or a prompt injection.",
                CALLS_PER_SECOND,
                Query(
                    f"sum by ({p.TENANT}, {p.label(c.LABEL_REASON)}) ({p.rate(p.sel(REFUSED, *p.APP, p.VAR_TENANT))})",
                    "{{" + p.TENANT + "}} {{" + p.label(c.LABEL_REASON) + "}}",
                ),
                width=24,
            ),
            Row("Answer quality"),
            *[
                rejected_share(by, label)
                for by, label in (("model", p.MODEL), ("agent", p.AGENT), ("tenant", p.TENANT))
            ],
            timeseries(
                "Mean score by evaluation and model",
                "Mean score of feedback and evaluation results (0..1, higher is better), per evaluation and model.",
                "short",
                Query(
                    f"sum by ({p.EVALUATION_NAME}, {p.MODEL}) ({p.rate(score_sum)})"
                    f" / (sum by ({p.EVALUATION_NAME}, {p.MODEL}) ({p.rate(score_count)}) > 0)",
                    "{{" + p.EVALUATION_NAME + "}} {{" + p.MODEL + "}}",
                ),
            ),
            timeseries(
                "Results per minute by evaluation and outcome",
                "Feedback and evaluation results per minute: accepted, rejected, or unscored (no score, no verdict).",
                PER_MINUTE,
                Query(
                    f"sum by ({p.EVALUATION_NAME}, {p.OUTCOME}) ({p.rate(results)}) * 60",
                    "{{" + p.EVALUATION_NAME + "}} {{" + p.OUTCOME + "}}",
                ),
            ),
            Row("Most expensive calls"),
            table(
                "Expensive requests (traces)",
                "Traces whose priced model calls, for the environment, service, tenant and model chosen, add up to "
                "more than the minimum USD above; open one to see why.",
                "currencyUSD",
                TraceQuery(expensive_traces(), limit=20),
                width=24,
            ),
        ],
        time_from="now-7d",
    )


def expensive_traces() -> str:
    """TraceQL: the spans priced for the dashboard's $env, $service, $tenant and $model, summed per trace.

    $service holds Prometheus jobs, which are service.name for a service without a namespace (the only form a trace's
    resource.service.name can match). TraceQL compares a float attribute with float literals only: 0.0, not 0."""
    chosen = " && ".join(
        [
            f"span.{c.COST_USD} > 0.0",
            f'resource.{c.DEPLOYMENT_ENVIRONMENT} =~ "$env"',
            f'resource.{c.SERVICE_NAME} =~ "$service"',
            f'span.{c.TENANT_ID} =~ "$tenant"',
            f'span.{c.GEN_AI_REQUEST_MODEL} =~ "$model"',
        ]
    )
    return (
        f"{{ {chosen} }} | sum(span.{c.COST_USD}) > $min_trace_cost"
        f" | select(span.{c.TENANT_ID}, span.{c.GEN_AI_REQUEST_MODEL}, span.{c.COST_USD})"
    )


# --------------------------------------------------------------------------- 3. pipeline
def pipeline() -> dict[str, Any]:
    scope = (*p.APP, p.VAR_TENANT)
    transitions = p.sel(TRANSITIONS, *scope)
    group = f"{p.AGENT_ROLE}, {p.DELIVERABLE}"
    failed = p.sel(TRANSITIONS, *scope, p.eq(p.ACTIVITY_STATUS, c.ACTIVITY_FAILED))
    completed = (*scope, p.eq(p.ACTIVITY_STATUS, c.ACTIVITY_COMPLETED))
    ended = p.sel(TRANSITIONS, *scope, p.re(p.ACTIVITY_STATUS, f"{c.ACTIVITY_COMPLETED}|{c.ACTIVITY_FAILED}"))
    mean_count = f"sum({p.rate(p.sel(ACTIVITY_COUNT, *completed))})"
    return dashboard(
        "glassbox-pipeline",
        "Glassbox / Pipeline",
        "Agent pipeline activities: where they are, how long they take, what waits for a human, what fails.",
        [ENV_VARIABLE, SERVICE_VARIABLE, tenant_variable(TRANSITIONS)],
        [
            bargauge(
                "Activities by status, last 24 h",
                "Activities that entered each status in the last 24 hours.",
                "short",
                Query(
                    f"sum by ({p.ACTIVITY_STATUS}) ({p.increase(transitions, '24h')})",
                    "{{" + p.ACTIVITY_STATUS + "}}",
                    instant=True,
                ),
            ),
            timeseries(
                "Status changes per minute",
                "Activities entering each status, per minute.",
                PER_MINUTE,
                Query(f"sum by ({p.ACTIVITY_STATUS}) ({p.rate(transitions)}) * 60", "{{" + p.ACTIVITY_STATUS + "}}"),
            ),
            timeseries(
                "Approval backlog per tenant",
                "Activities waiting for a human approval, per tenant.",
                "short",
                Query(f"sum by ({p.TENANT}) ({p.sel(BACKLOG, *scope)})", "{{" + p.TENANT + "}}"),
            ),
            timeseries(
                "Pipeline duration",
                "Creation to completion: the mean, and p95 with exemplars linking to a trace.",
                "s",
                Query(p.ratio(f"sum({p.rate(p.sel(ACTIVITY_SUM, *completed))})", mean_count), "mean"),
                Query(p.quantile(0.95, p.sel(ACTIVITY_BUCKET, *completed)), "p95", exemplar=True),
                thresholds=[(PIPELINE_SLO_SECONDS, "red")],
            ),
            timeseries(
                "Failure rate by agent role and deliverable",
                "Of the activities that ended (completed or failed), the share that failed, per agent role and "
                "deliverable type.",
                "percentunit",
                # Over those that ended, not those created: a failure in a window with no creations is 100%, not
                # +Inf; 0 when all completed; no value when none ended.
                Query(
                    p.share(f"sum by ({group}) ({p.rate(failed)})", f"sum by ({group}) ({p.rate(ended)})"),
                    "{{" + p.AGENT_ROLE + "}} / {{" + p.DELIVERABLE + "}}",
                ),
                width=24,
            ),
        ],
        time_from="now-24h",
    )


# --------------------------------------------------------------------------- 4. tenant
def tenant() -> dict[str, Any]:
    scope = (*p.APP, p.VAR_TENANT)
    http = p.sel(HTTP_COUNT, *scope)
    by_tenant = f"sum by ({p.TENANT}) ({p.increase(http, '$__range')})"
    errors = f"sum by ({p.TENANT}) ({p.rate(p.sel(HTTP_COUNT, *scope, SERVER_ERROR), '15m')})"
    requests = f"sum by ({p.TENANT}) ({p.rate(http, '15m')})"
    budget = p.budget_used(*scope)
    overdue = f"min_over_time((sum by ({p.TENANT}) ({p.sel(BACKLOG, *scope)}))[30m:1m])"
    return dashboard(
        "glassbox-tenant",
        "Glassbox / Tenants",
        "Who uses the service, how much, how it serves them, and which tenants are at risk.",
        [ENV_VARIABLE, SERVICE_VARIABLE, tenant_variable(HTTP_COUNT)],
        [
            stat(
                "Active tenants",
                "Tenants with at least one request in the time range.",
                "short",
                Query(f"count({by_tenant} > 0)", "tenants", instant=True),
            ),
            bargauge(
                "Top 10 tenants by requests",
                "Requests per tenant over the time range, the ten busiest.",
                "short",
                Query(f"topk(10, {by_tenant})", "{{" + p.TENANT + "}}", instant=True),
                width=18,
            ),
            bargauge(
                "Spend against budget",
                "Share of each tenant's daily and monthly USD budget spent in the current period.",
                "percentunit",
                Query(budget, "{{" + p.TENANT + "}} {{" + p.PERIOD + "}}", instant=True),
                thresholds=BUDGET_STEPS,
            ),
            table(
                "Tenants at risk",
                "Tenants near their budget cap (80%+), with over 5% errors in 15 min, or approvals waiting 30 min.",
                "percentunit",
                Query(f"max by ({p.TENANT}) ({budget}) >= {c.BUDGET_ALERT_RATIOS[0]}", instant=True),
                Query(f"{errors} / {requests} > 0.05", instant=True),
                Query(f"{overdue} > 0", instant=True),
                transformations=[
                    {"id": "joinByField", "options": {"byField": p.TENANT, "mode": "outer"}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True, "Time 1": True, "Time 2": True, "Time 3": True},
                            "renameByName": {
                                "Value #A": "budget used",
                                "Value #B": "error rate",
                                "Value #C": "approvals waiting",
                            },
                        },
                    },
                ],
                # Budget used and error rate are shares (percentunit, the panel's unit); approvals are a count.
                field_units={"approvals waiting": "short"},
            ),
            timeseries(
                "Latency p95 per tenant",
                "HTTP latency p95 per tenant; exemplar dots link to the trace.",
                "s",
                Query(
                    p.quantile(0.95, p.sel(HTTP_BUCKET, *scope), p.TENANT),
                    "{{" + p.TENANT + "}}",
                    exemplar=True,
                ),
                width=24,
            ),
        ],
        time_from="now-24h",
    )


# --------------------------------------------------------------------------- 5. audit
# The audit dashboard's $service holds Loki's service_name values (the audit stream's label). Prometheus's job
# is service.namespace/service.name for a namespaced service, so its panels there match the name after any
# namespace.
AUDIT_APP = (p.VAR_ENV, p.re(p.SERVICE, "(.+/)?$service"))
AUDIT_SERVICE_VARIABLE = loki_label_variable(
    "service",
    "Service",
    p.loki_stream(f'{c.LOKI_AUDIT_STREAM_LABEL}="{c.AUDIT_STREAM_VALUE}"'),
    c.loki_field(c.SERVICE_NAME),
)


def audit_log_health() -> list[Panel]:
    """Each app's own audit log: events recorded, events it could not write, events waiting in its spool."""
    by_instance = "job, instance"
    return [
        timeseries(
            "Audit events recorded, by outcome",
            "Audit events each service wrote to its host's hash-chained log, per second, by outcome status.",
            "ops",
            Query(
                f"sum by (job, {p.label(c.AUDIT_OUTCOME)}) "
                f"({p.rate(p.sel(p.metric(c.METRIC_AUDIT_EVENTS), *AUDIT_APP))})",
                "{{job}} {{" + p.label(c.AUDIT_OUTCOME) + "}}",
            ),
            width=12,
        ),
        stat(
            "Audit log write failures (window)",
            "Events the audit log could not take over the dashboard's window; fail-open spools them, "
            "fail-closed refuses the action.",
            "short",
            Query(
                f"sum by ({by_instance}, {p.label(c.AUDIT_MODE)}) "
                f"({p.increase(p.sel(p.metric(c.METRIC_AUDIT_WRITE_FAILURES), *AUDIT_APP), '$__range')})",
                "{{job}} {{instance}} {{" + p.label(c.AUDIT_MODE) + "}}",
                instant=True,
            ),
            thresholds=[(1, "red")],
        ),
        stat(
            "Audit events waiting in the spool",
            "Fail-open events each instance holds in its spool, not yet in the hash-chained log.",
            "short",
            Query(
                f"max by ({by_instance}) ({p.sel(p.metric(c.METRIC_AUDIT_SPOOLED), *AUDIT_APP)})",
                "{{job}} {{instance}}",
                instant=True,
            ),
            thresholds=[(1, "orange")],
        ),
    ]


def audit() -> dict[str, Any]:
    stream = p.loki_stream(
        f'{c.LOKI_AUDIT_STREAM_LABEL}="{c.AUDIT_STREAM_VALUE}"',
        f'{c.loki_field(c.SERVICE_NAME)}=~"$service"',
        f'{c.loki_field(c.DEPLOYMENT_ENVIRONMENT)}=~"$env"',
    )
    filters = " ".join(
        [
            p.loki_filter(c.TENANT_ID, "$tenant"),
            p.loki_filter(c.AUDIT_ACTOR_ID, "$actor"),
            p.loki_filter(c.AUDIT_ACTION, "$action"),
            p.loki_filter(c.AUDIT_RESOURCE_TYPE, "$resource"),
        ]
    )
    action = c.loki_field(c.AUDIT_ACTION)
    return dashboard(
        "glassbox-audit",
        "Glassbox / Audit",
        "The audit stream: who did what to which resource, for which tenant; each entry links to its trace.",
        [
            ENV_VARIABLE,
            AUDIT_SERVICE_VARIABLE,
            text_variable("tenant", "Tenant (regex)"),
            text_variable("actor", "Actor id (regex)"),
            text_variable("action", "Action (regex)"),
            text_variable("resource", "Resource type (regex)"),
        ],
        [
            timeseries(
                "Audit events by action",
                "Audit events per action over time, after the filters above.",
                "short",
                LogQuery(f"sum by ({action}) (count_over_time({stream} {filters} [$__auto]))", "{{" + action + "}}"),
                width=24,
                height=7,
            ),
            logs(
                "Audit events",
                "Each event with its actor, action, resource and outcome; the trace_id field opens its trace.",
                LogQuery(f"{stream} {filters}"),
            ),
            *audit_log_health(),
        ],
        time_from="now-24h",
    )


def shared_state() -> list[Panel]:
    """The state each service's guard and audit share (its host's files, or the fleet's PostgreSQL)."""
    connected = p.sel(p.metric(c.METRIC_STATE_CONNECTED), *p.APP)
    failures = p.sel(p.metric(c.METRIC_STATE_FAILURES), *p.APP)
    backend, operation = p.label(c.STATE_BACKEND), p.label(c.STATE_OPERATION)
    return [
        stat(
            "Shared state answering",
            "Whether each instance's shared state (files, or the fleet's PostgreSQL) answers it: while DOWN, "
            "budgets, the kill switch and request limits follow GLASSBOX_STATE_FAILURE and audit events spool.",
            "none",
            Query(
                f"min by (job, instance, {backend}) ({connected})",
                "{{job}} {{instance}} {{" + backend + "}}",
                instant=True,
            ),
            width=12,
            mappings=UP_DOWN,
            thresholds=[(1, "green")],
            options={"colorMode": "background", "graphMode": "none"},
        ),
        timeseries(
            "Shared state operations that failed",
            "Operations per second the shared state could not do within GLASSBOX_STATE_TIMEOUT, by operation: "
            "each was decided by GLASSBOX_STATE_FAILURE instead.",
            "ops",
            Query(f"sum by (job, {operation}) ({p.rate(failures)})", "{{job}} {{" + operation + "}}"),
            width=12,
        ),
    ]


# --------------------------------------------------------------------------- 6. telemetry pipeline
def telemetry_pipeline() -> dict[str, Any]:
    queue = p.sel(collector_metric("otelcol_exporter_queue_size"), p.COLLECTOR)
    capacity = p.sel(collector_metric("otelcol_exporter_queue_capacity"), p.COLLECTOR)
    exported = p.sel(p.metric(c.METRIC_SDK_SPANS_EXPORTED), *p.APP)
    return dashboard(
        "glassbox-telemetry-pipeline",
        "Glassbox / Telemetry pipeline",
        "Is telemetry getting through: what the collector accepted, refused, sent and failed, its queues, "
        "each backend, and the age of the last canary.",
        [ENV_VARIABLE, SERVICE_VARIABLE],
        [
            timeseries(
                "Accepted per signal",
                "Spans, log records and metric points per second the collector's receivers accepted.",
                ITEMS_PER_SECOND,
                *per_signal("receiver_accepted"),
                width=8,
            ),
            timeseries(
                "Refused per signal",
                "Items per second the receivers refused (memory limiter, malformed); the sender sees an error.",
                ITEMS_PER_SECOND,
                *per_signal("receiver_refused"),
                width=8,
            ),
            timeseries(
                "Sent per signal",
                "Items per second the exporters delivered to Tempo, Loki and Prometheus.",
                ITEMS_PER_SECOND,
                *per_signal("exporter_sent"),
                width=8,
            ),
            timeseries(
                "Failed to export, per exporter",
                "Items per second an exporter gave up on after its retries: lost for that backend.",
                ITEMS_PER_SECOND,
                Query(
                    collector_rates("exporter_send_failed", "exporter", matchers=(p.COLLECTOR,)),
                    "{{exporter}} {{signal}}",
                ),
            ),
            timeseries(
                "Exporter queue used",
                "Each exporter's sending queue as a share of its capacity; near 100% the collector starts dropping.",
                "percentunit",
                Query(f"max by (exporter) ({queue} / {capacity})", "{{exporter}}"),
                thresholds=[(0.8, "red")],
            ),
            stack_targets(),
            canary_age(width=12),
            *shared_state(),
            timeseries(
                "Spans exported by each service's SDK",
                "Spans per second each service's OTel SDK exported, and those that failed (by error type).",
                SPANS_PER_SECOND,
                Query(f"sum by (job, {p.ERROR_TYPE}) ({p.rate(exported)})", "{{job}} {{" + p.ERROR_TYPE + "}}"),
                width=24,
            ),
        ],
        time_from="now-3h",
    )


# --------------------------------------------------------------------------- 7. conversations
# Session ids are unbounded: no Prometheus label carries them. Every span carries session.id (Tempo's TraceQL
# finds and groups by it) and every log record written in a request carries it as the structured-metadata field
# session_id (Loki filters by it); see docs/dashboards.md.
SESSION_VARIABLE = text_variable("session", "Session id", "")
SESSION = f"span.{c.SESSION_ID}"
PER_SESSION = f"by ({SESSION}, span.{c.TENANT_ID}, span.{c.USER_ID})"


def session_spans(*conditions: str) -> str:
    """TraceQL: the spans of sessions for the dashboard's $env, $service and $tenant, and ``conditions``."""
    chosen = [
        f"{SESSION} != nil",
        f'resource.{c.DEPLOYMENT_ENVIRONMENT} =~ "$env"',
        f'resource.{c.SERVICE_NAME} =~ "$service"',
        f'span.{c.TENANT_ID} =~ "$tenant"',
        *conditions,
    ]
    return "{ " + " && ".join(chosen) + " }"


def sessions_table() -> Panel:
    """Per session (with its tenant and user): turns, USD, slowest turn, failed spans and rejected answers, each an
    instant TraceQL metrics query over the time range, joined on the session."""
    server = "kind = server"
    rejected = f'event:name = "{c.GEN_AI_EVALUATION_EVENT}" && event.{c.EVALUATION_OUTCOME} = "{c.EVALUATION_REJECTED}"'
    columns = {
        "turns": TraceMetricsQuery(f"{session_spans(server)} | count_over_time() {PER_SESSION}"),
        "USD": TraceMetricsQuery(
            f"{session_spans(f'span.{c.COST_USD} > 0.0')} | sum_over_time(span.{c.COST_USD}) {PER_SESSION}"
        ),
        "slowest turn": TraceMetricsQuery(f"{session_spans(server)} | max_over_time(duration) {PER_SESSION}"),
        "failed spans": TraceMetricsQuery(f"{session_spans('status = error')} | count_over_time() {PER_SESSION}"),
        "rejected answers": TraceMetricsQuery(f"{session_spans(rejected)} | count_over_time() {PER_SESSION}"),
    }
    return columns_table(
        "Sessions",
        "Each session in the time range with its tenant and user: turns (requests), USD of its priced model calls, "
        "its slowest turn, failed spans and answers an in-request evaluation rejected; type one in Session id.",
        columns,
        sort_by="turns",
        width=24,
        height=10,
        field_units={"USD": "currencyUSD", "slowest turn": "ns"},
    )


def session_turns() -> str:
    """TraceQL: the traces of the chosen $session, with their model calls' model, tokens, USD and request id."""
    return (
        f'{{ {SESSION} = "$session" }} | select(span.{c.REQUEST_ID}, span.{c.GEN_AI_REQUEST_MODEL}, '
        f"span.{c.GEN_AI_USAGE_INPUT_TOKENS}, span.{c.GEN_AI_USAGE_OUTPUT_TOKENS}, span.{c.COST_USD})"
    )


def conversations() -> dict[str, Any]:
    # Loki wants one matcher that no empty value meets: All ($service .*) alone would be refused.
    service = c.loki_field(c.SERVICE_NAME)
    stream = p.loki_stream(
        f'{service}=~".+"', f'{service}=~"$service"', f'{c.loki_field(c.DEPLOYMENT_ENVIRONMENT)}=~"$env"'
    )
    in_session = f'| {c.loki_field(c.SESSION_ID)}="$session"'
    return dashboard(
        "glassbox-conversations",
        "Glassbox / Conversations",
        "Sessions (conversations) per tenant and user: their turns, cost, latency, errors and rejected answers; then "
        "one session, chosen by its id, turn by turn with its logs.",
        [ENV_VARIABLE, SERVICE_VARIABLE, tenant_variable(HTTP_COUNT), SESSION_VARIABLE],
        [
            Row("Sessions"),
            sessions_table(),
            Row("One session ($session)"),
            table(
                "Turns of the session",
                "The session's traces, one per turn (request), newest first, with the request id and each model "
                "call's model, tokens and USD; open one to see the whole turn.",
                "short",
                TraceQuery(session_turns(), limit=100),
                width=24,
                height=10,
            ),
            timeseries(
                "Log records of the session by service",
                "Log records per service written in the session's turns, over time.",
                "short",
                LogQuery(
                    f"sum by ({c.loki_field(c.SERVICE_NAME)}) (count_over_time({stream} {in_session} [$__auto]))",
                    "{{" + c.loki_field(c.SERVICE_NAME) + "}}",
                ),
                width=24,
                height=6,
            ),
            logs(
                "Logs of the session",
                "Every log record written in the session's turns, feedback and evaluation results among them; the "
                "trace_id field opens the turn's trace.",
                LogQuery(f"{stream} {in_session}"),
            ),
        ],
        time_from="now-24h",
    )


# --------------------------------------------------------------------------- 8. prompt versions
def prompt_versions() -> dict[str, Any]:
    """Each prompt version side by side: cost, latency, errors and rejected answers (glassbox.prompt)."""
    name, version = p.label(c.PROMPT_NAME), p.label(c.PROMPT_VERSION)
    by = f"{name}, {version}"
    legend = "{{" + name + "}} v{{" + version + "}}"
    scope = (*p.APP, p.VAR_TENANT, p.re(name, "$prompt"), p.ne(c.PROMPT_NAME, ""))
    calls = p.sel(LLM_COUNT, *scope)
    failed = p.sel(LLM_COUNT, *scope, p.ne(p.ERROR_TYPE, ""))
    rejected = p.sel(EVALUATIONS, *scope, p.eq(c.EVALUATION_OUTCOME, c.EVALUATION_REJECTED))
    scored = p.sel(EVALUATIONS, *scope, p.re(c.EVALUATION_OUTCOME, f"{c.EVALUATION_ACCEPTED}|{c.EVALUATION_REJECTED}"))

    def per_version(selector: str, window: str, over: Any = p.increase) -> str:
        return f"sum by ({by}) ({over(selector, window)})"

    def columns(window: str) -> list[Query]:
        """Cost, calls, p95 latency, error rate, scored results and rejected share per version over ``window``."""
        return [
            Query(per_version(p.sel(COST, *scope), window), legend, instant=True),
            Query(per_version(calls, window), legend, instant=True),
            Query(
                p.quantile(0.95, p.sel(LLM_BUCKET, *scope), name, version, window=window),
                legend,
                instant=True,
                exemplar=True,
            ),
            Query(p.share(per_version(failed, window), per_version(calls, window)), legend, instant=True),
            Query(per_version(scored, window), legend, instant=True),
            Query(p.share(per_version(rejected, window), per_version(scored, window)), legend, instant=True),
        ]

    names = ["cost", "calls", "latency p95", "error rate", "scored results", "rejected share"]
    prompt_variable = query_variable("prompt", "Prompt", f"label_values({p.sel(LLM_COUNT, *p.APP)}, {name})")
    return dashboard(
        "glassbox-prompt-versions",
        "Glassbox / Prompt versions",
        "Each version of each prompt the apps name (glassbox.prompt), side by side: what it costs, how fast and how "
        "often it fails, and how often its answers are rejected by feedback and evaluations.",
        [ENV_VARIABLE, SERVICE_VARIABLE, tenant_variable(LLM_COUNT), prompt_variable],
        [
            columns_table(
                "Prompt versions side by side",
                "Per prompt name and version over the time range: USD cost, model calls, p95 latency, share of calls "
                "that failed, scored feedback and evaluation results, and the share of them that rejected the answer. "
                "A version without scored results has no rejected share (empty, not 0).",
                dict(zip(names, columns("$__range"), strict=True)),
                labels={name: "prompt", version: "version"},
                width=24,
                height=10,
                field_units={
                    "cost": "currencyUSD",
                    "latency p95": "s",
                    "error rate": "percentunit",
                    "rejected share": "percentunit",
                },
            ),
            timeseries(
                "Cost per version",
                "USD per hour spent on model calls made with each prompt version.",
                USD_PER_HOUR,
                Query(f"3600 * {per_version(p.sel(COST, *scope), '$__rate_interval', p.rate)}", legend),
            ),
            timeseries(
                "Latency p95 per version",
                "p95 duration of the model calls made with each prompt version.",
                "s",
                Query(p.quantile(0.95, p.sel(LLM_BUCKET, *scope), name, version), legend, exemplar=True),
            ),
            timeseries(
                "Error rate per version",
                "Share of the model calls made with each prompt version that failed: 0 when none failed.",
                "percentunit",
                Query(
                    p.share(
                        per_version(failed, "$__rate_interval", p.rate), per_version(calls, "$__rate_interval", p.rate)
                    ),
                    legend,
                ),
            ),
            timeseries(
                "Rejected share per version",
                "Share of the scored feedback and evaluation results of each prompt version that rejected the "
                "answer, over the last hour; no line for a version without scored results.",
                "percentunit",
                Query(p.share(per_version(rejected, "1h"), per_version(scored, "1h")), legend),
            ),
        ],
        time_from="now-7d",
    )


DASHBOARDS = {
    "home": home,
    "system-health": system_health,
    "llm-cost": llm_cost,
    "pipeline": pipeline,
    "tenant": tenant,
    "audit": audit,
    "telemetry-pipeline": telemetry_pipeline,
    "slos": slo_dashboard,
    "conversations": conversations,
    "prompt-versions": prompt_versions,
}


def all_dashboards() -> dict[str, dict[str, Any]]:
    """File stem -> dashboard JSON."""
    return {name: build() for name, build in DASHBOARDS.items()}
