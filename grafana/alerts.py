"""The alert rules, written once: the hand-written ones here and, from grafana.slos, the page and ticket of each
SLO. Each becomes a Grafana-managed rule (provisioned from a file), a Prometheus rule in prometheus/rules/ (for
Alertmanager users, and for promtool), and promtool unit tests from its own cases: one input that must fire at the
intended condition and one that must not. What a rule is and how each form is written is grafana.rules; the series
and thresholds shared with the dashboards are grafana.queries. Also the contact point and notification policies.
"""

from __future__ import annotations

from typing import Any

from glassbox import conventions as c
from grafana import promql as p
from grafana.queries import (
    COST,
    DEAD_LETTERS,
    EVALUATIONS,
    FIRST_CHUNK_BUCKET,
    FIRST_CHUNK_P95_SECONDS,
    GUARDRAIL_CHECKS,
    HTTP_BUCKET,
    HTTP_COUNT,
    HTTP_P95_SLO_SECONDS,
    LLM_COUNT,
    SERVER_ERROR,
    SPEND_CEILING_USD_PER_HOUR,
    TRANSITIONS,
    collector_metric,
    collector_rates,
)
from grafana.rules import Alert, Case, grafana_rule, number, promtool_case, rule_groups
from grafana.slos import RECORDING_RULES_FILE, SLO_GROUP, slo_alerts

PROMPT_VERSIONS = p.metric(c.METRIC_PROMPT_VERSIONS)

FOLDER = "Glassbox"
LLM_ERROR_RATIO = 0.05
HTTP_ERROR_RATIO = 0.05
# An error ratio means something only over enough traffic: at least this many requests (calls) in its 5 minutes,
# so that one failed request out of one does not page anyone.
HTTP_MIN_REQUESTS_5M = 20
LLM_MIN_CALLS_5M = 10
SPEND_SPIKE_FACTOR = 2.0
SPEND_SPIKE_MIN_USD = 1.0
SILENT_AFTER_SECONDS = 120
CANARY_STALE_SECONDS = 300
QUEUE_FULL_RATIO = 0.8
# Of the activities of one agent role that ended in a day (completed or failed), the share that may fail, and
# how many must have ended before the share means anything.
ACTIVITY_FAILURE_RATIO = 0.10
ACTIVITY_MIN_ENDED_1D = 10
# Of the scored feedback and evaluation results of a day, the share that may reject the answer, and how many
# must have been scored before the share means anything.
REJECTED_RATIO = 0.05
REJECTED_MIN_SCORED_1D = 20
# A prompt version is worse than its baseline (glassbox.prompt.baseline, its previous version) when its rejected
# share over a day is over the baseline's by more than this (in share points), with at least as many scored results
# as above on each side.
PROMPT_WORSE_MARGIN = 0.05
SEVERITIES = ("critical", "warning", "info")
CONTACT_POINT = "glassbox-webhook"
WEBHOOK_URL_VARIABLE = "GLASSBOX_ALERT_WEBHOOK_URL"


# --------------------------------------------------------------------------- series used by the tests
APP_LABELS = f'{p.ENVIRONMENT}="prod", job="checkout"'


def series(name: str, labels: str = "") -> str:
    return f"{name}{{{', '.join(x for x in (APP_LABELS, labels) if x)}}}"


def collector_series(name: str, labels: str) -> str:
    return f'{name}{{job="{c.COLLECTOR_JOB}", instance="otelcol:8888", {labels}}}'


APP = {p.ENVIRONMENT: "prod", "job": "checkout"}


# --------------------------------------------------------------------------- the rules
def _http_5xx() -> Alert:
    keys = f"{p.ENVIRONMENT}, job"
    errors = f"sum by ({keys}) ({p.rate(p.sel(HTTP_COUNT, SERVER_ERROR), '5m')})"
    total = f"sum by ({keys}) ({p.rate(p.sel(HTTP_COUNT), '5m')})"

    def case(errors_per_min: int, ok_per_min: int) -> dict[str, str]:
        return {
            series(HTTP_COUNT, f'{p.STATUS_CODE}="500"'): f"0+{errors_per_min}x30",
            series(HTTP_COUNT, f'{p.STATUS_CODE}="200"'): f"0+{ok_per_min}x30",
        }

    enough = f"{total} > {number(HTTP_MIN_REQUESTS_5M / 300)}"
    return Alert(
        "GlassboxHTTP5xxRate",
        "glassbox-service",
        f"({errors} / {total}) and ({enough})",
        HTTP_ERROR_RATIO,
        None,
        "5m",
        "critical",
        "{{ $labels.job }} answers over 5% of requests with a 5xx error",
        "More than 5% of HTTP requests to {{ $labels.job }} ({{ $labels.deployment_environment_name }}) "
        "failed with a server error over the last 5 minutes, for 5 minutes.",
        "http-5xx-rate",
        Case(case(6, 94), "20m", (APP,)),
        Case(case(4, 96), "20m"),
        # A quiet service whose every request fails: one request every 5 minutes is too little to page on.
        also_quiet=(Case({series(HTTP_COUNT, f'{p.STATUS_CODE}="500"'): "0+0.2x30"}, "20m"),),
    )


def _histogram_series(
    bucket: str, labels: str, per_minute: int, fast_bounds: tuple[str, ...], slow_bound: str, slow: bool
) -> dict[str, str]:
    """Cumulative bucket series for a p95 alert's test case, 30 minutes of ``per_minute`` observations: all
    under the first of ``fast_bounds``, or (``slow``) all between the last of them and ``slow_bound``."""
    every = f"0+{per_minute}x30"
    buckets = {series(bucket, f'{labels}, le="{le}"'): "0+0x30" if slow else every for le in fast_bounds}
    buckets.update({series(bucket, f'{labels}, le="{le}"'): every for le in (slow_bound, "+Inf")})
    return buckets


def _http_latency() -> Alert:
    keys = (p.ENVIRONMENT, "job", p.ROUTE)
    value = p.quantile(0.95, p.sel(HTTP_BUCKET), *keys, window="5m")

    def buckets(slow: bool) -> dict[str, str]:
        # 100 requests a minute; slow: all between 2.5 s and 5 s; fast: all under 1 s.
        return _histogram_series(HTTP_BUCKET, f'{p.ROUTE}="/checkout"', 100, ("1", "2.5"), "5", slow)

    return Alert(
        "GlassboxHTTPLatencyP95",
        "glassbox-service",
        value,
        HTTP_P95_SLO_SECONDS,
        None,
        "10m",
        "warning",
        "p95 latency of {{ $labels.job }} {{ $labels.http_route }} is over its 2 s objective",
        "The 95th percentile of HTTP latency for {{ $labels.http_route }} on {{ $labels.job }} "
        "({{ $labels.deployment_environment_name }}) has been above 2 s for 10 minutes.",
        "http-latency-p95",
        Case(buckets(slow=True), "20m", ({**APP, p.ROUTE: "/checkout"},)),
        Case(buckets(slow=False), "20m"),
    )


def _llm_errors() -> Alert:
    keys = f"{p.ENVIRONMENT}, job, {p.PROVIDER}, {p.MODEL}"
    failed = f"sum by ({keys}) ({p.rate(p.sel(LLM_COUNT, p.ne(p.ERROR_TYPE, '')), '5m')})"
    total = f"sum by ({keys}) ({p.rate(p.sel(LLM_COUNT), '5m')})"
    model = f'{p.PROVIDER}="openai", {p.MODEL}="gpt-4o"'

    def case(failed_per_min: int, ok_per_min: int) -> dict[str, str]:
        return {
            series(LLM_COUNT, f'{model}, {p.ERROR_TYPE}="openai.InternalServerError"'): f"0+{failed_per_min}x30",
            series(LLM_COUNT, model): f"0+{ok_per_min}x30",
        }

    enough = f"{total} > {number(LLM_MIN_CALLS_5M / 300)}"
    return Alert(
        "GlassboxLLMErrorRate",
        "glassbox-service",
        f"({failed} / {total}) and ({enough})",
        LLM_ERROR_RATIO,
        None,
        "5m",
        "warning",
        "Over 5% of {{ $labels.gen_ai_request_model }} calls from {{ $labels.job }} fail",
        "More than 5% of calls to {{ $labels.gen_ai_provider_name }} {{ $labels.gen_ai_request_model }} from "
        "{{ $labels.job }} ({{ $labels.deployment_environment_name }}) failed over 5 minutes, for 5 minutes.",
        "llm-error-rate",
        Case(case(6, 94), "20m", ({**APP, p.PROVIDER: "openai", p.MODEL: "gpt-4o"},)),
        Case(case(4, 96), "20m"),
        # One call every 5 minutes, every one failing: too little to page on.
        also_quiet=(
            Case({series(LLM_COUNT, f'{model}, {p.ERROR_TYPE}="openai.InternalServerError"'): "0+0.2x30"}, "20m"),
        ),
    )


def _first_chunk_latency() -> Alert:
    keys = (p.ENVIRONMENT, "job", p.MODEL)
    value = p.quantile(0.95, p.sel(FIRST_CHUNK_BUCKET), *keys, window="5m")
    model = f'{p.MODEL}="gpt-4o"'

    def buckets(slow: bool) -> dict[str, str]:
        # 60 streamed calls a minute; slow: every first chunk after 5-10 s; fast: all within 1 s.
        return _histogram_series(FIRST_CHUNK_BUCKET, model, 60, ("1", "5"), "10", slow)

    return Alert(
        "GlassboxLLMFirstChunkLatencyP95",
        "glassbox-service",
        value,
        FIRST_CHUNK_P95_SECONDS,
        None,
        "10m",
        "warning",
        "Streamed {{ $labels.gen_ai_request_model }} answers take over 5 s to start for {{ $labels.job }}",
        "The 95th percentile of the time to the first chunk of streamed {{ $labels.gen_ai_request_model }} calls "
        "from {{ $labels.job }} ({{ $labels.deployment_environment_name }}) has been above 5 s for 10 minutes.",
        "llm-first-chunk-latency-p95",
        Case(buckets(slow=True), "20m", ({**APP, p.MODEL: "gpt-4o"},)),
        Case(buckets(slow=False), "20m"),
    )


def _budget(lower: float, upper: float | None, severity: str) -> Alert:
    percent = round(lower * 100) if lower < 0.99 else 100
    tenant = f'{p.TENANT}="acme", {p.PERIOD}="{c.BUDGET_PERIOD_DAY}"'
    limit = p.metric(c.METRIC_BUDGET_LIMIT)
    spent = p.metric(c.METRIC_BUDGET_SPENT)

    def case(share: float) -> dict[str, str]:
        # Two instances on host h1 share its files state and both report h1's spend; two more, on two other
        # hosts, share the fleet's PostgreSQL state and both report its spend. Each reports the limit.
        h1, fleet = share * 10 * 0.6, share * 10 * 0.4
        scope = p.label(c.BUDGET_SCOPE)
        instances = (("a", "h1", h1), ("b", "h1", h1), ("c", c.BUDGET_SCOPE_SHARED, fleet),
                     ("d", c.BUDGET_SCOPE_SHARED, fleet))  # fmt: skip
        values = {series(limit, f'{tenant}, instance="{i}", {scope}="{s}"'): "10x20" for i, s, _ in instances}
        for i, s, usd in instances:
            values[series(spent, f'{tenant}, instance="{i}", {scope}="{s}"')] = f"{number(usd)}x20"
        return values

    inside = (lower + upper) / 2 if upper is not None else 1.1
    quiet = lower - 0.02 if upper is None else upper + 0.001
    return Alert(
        f"GlassboxTenantBudget{percent}",
        "glassbox-cost",
        p.budget_used(),
        lower,
        upper,
        "1m",
        severity,
        f"Budget {{{{ $labels.glassbox_tenant_id }}}}: {percent}% of the {{{{ $labels.glassbox_budget_period }}}} "
        "spent",
        f"Tenant {{{{ $labels.glassbox_tenant_id }}}} on {{{{ $labels.job }}}} has used "
        f"{'over ' + str(percent) + '%' if percent < 100 else 'all'} of its USD budget for this "
        "{{ $labels.glassbox_budget_period }}"
        + (" (the next threshold has its own alert)" if upper is not None else "")
        + f"; tenant {c.BUDGET_TOTAL_TENANT} is every tenant together (the total budget).",
        f"tenant-budget-{percent}",
        Case(case(inside), "5m", ({**APP, p.TENANT: "acme", p.PERIOD: c.BUDGET_PERIOD_DAY},)),
        Case(case(quiet), "5m"),
    )


def _spend_spike() -> Alert:
    keys = f"{p.ENVIRONMENT}, job"
    now = f"sum by ({keys}) ({p.increase(p.sel(COST), '1h')})"
    last_week = f"sum by ({keys}) (increase({p.sel(COST)}[1h] offset 1w))"
    # Divided only by a week-ago hour that spent something: a finite ratio, never +Inf. A service with nothing to
    # compare against (new, or idle that hour) is left to GlassboxSpendOverCeiling.
    value = f"({now} and {now} > {number(SPEND_SPIKE_MIN_USD)}) / ({last_week} > 0)"
    week = 7 * 24 * 2  # half-hour steps in a week

    return Alert(
        "GlassboxSpendSpike",
        "glassbox-cost",
        value,
        SPEND_SPIKE_FACTOR,
        None,
        "15m",
        "warning",
        "{{ $labels.job }} spends over twice as much on models as this hour last week",
        "Model spend of {{ $labels.job }} ({{ $labels.deployment_environment_name }}) in the last hour is more "
        "than twice the same hour a week ago, and over 1 USD.",
        "spend-spike",
        # 0.60 USD/h for a week, then 6 USD/h: ten times last week's hour.
        Case({series(COST): f"0+0.3x{week} {week * 0.3:g}+3x4"}, f"{(week + 4) * 30}m", (APP,), interval="30m"),
        # A steady 1.80 USD/h: as much as a week ago.
        Case({series(COST): f"0+0.9x{week + 4}"}, f"{(week + 4) * 30}m", interval="30m"),
        # Nothing spent a week ago, 6 USD/h now: no ratio to compare (was +Inf, and fired).
        also_quiet=(Case({series(COST): f"0x{week} 0+3x4"}, f"{(week + 4) * 30}m", interval="30m"),),
    )


def _spend_ceiling() -> Alert:
    keys = f"{p.ENVIRONMENT}, job"
    return Alert(
        "GlassboxSpendOverCeiling",
        "glassbox-cost",
        f"sum by ({keys}) ({p.increase(p.sel(COST), '1h')})",
        SPEND_CEILING_USD_PER_HOUR,
        None,
        "15m",
        "warning",
        "{{ $labels.job }} spends over 20 USD an hour on models",
        "Model spend of {{ $labels.job }} ({{ $labels.deployment_environment_name }}) over the last hour is above "
        "20 USD, whatever it spent before: it also covers a service too young to compare with last week.",
        "spend-ceiling",
        # A service started an hour and a half ago, at 30 USD/h from its first minute.
        Case({series(COST): "0+0.5x90"}, "90m", (APP,)),
        # 6 USD/h: under the ceiling.
        Case({series(COST): "0+0.1x90"}, "90m"),
    )


def _silent_service() -> Alert:
    sdk = f'{p.label("telemetry.sdk.name")}="opentelemetry"'
    return Alert(
        "GlassboxServiceStoppedSending",
        "glassbox-service",
        p.seconds_since_last_data(),
        SILENT_AFTER_SECONDS,
        None,
        "1m",
        "critical",
        "{{ $labels.job }} stopped sending telemetry",
        "No data from {{ $labels.job }} ({{ $labels.deployment_environment_name }}) has reached Prometheus "
        "for over 2 minutes: the service is down, or its export to the collector fails.",
        "service-stopped-sending",
        # Dead for over 2 hours and still firing (a 1-hour look-back let it resolve itself after an hour).
        Case({series(p.SERVICE_INFO, sdk): "1x10 _x150"}, "160m", (APP,)),
        Case({series(p.SERVICE_INFO, sdk): "1x30"}, "20m"),
        window_seconds=86400 + 300,
    )


def _export_failures() -> Alert:
    value = collector_rates("exporter_send_failed", "exporter", window="5m", over=p.grown)
    tempo = 'exporter="otlp_http/tempo"'
    loki = 'exporter="otlp_http/loki"'

    def case(tempo_failures: str) -> dict[str, str]:
        return {
            collector_series("otelcol_exporter_send_failed_spans", tempo): tempo_failures,
            collector_series("otelcol_exporter_send_failed_log_records", loki): "0x25",
        }

    return Alert(
        "GlassboxCollectorExportFailures",
        "glassbox-telemetry",
        value,
        0,
        None,
        "1m",
        "critical",
        "The collector is dropping {{ $labels.signal }} for {{ $labels.exporter }}",
        "The collector's {{ $labels.exporter }} exporter gave up on {{ $labels.signal }} after its retries: "
        "that data is lost for its backend.",
        "collector-export-failures",
        # The collector creates the counter at the first failure, already at the items lost.
        Case(case("_x10 3x15"), "12m", ({"exporter": "otlp_http/tempo", "signal": "spans"},)),
        # Losses 10 minutes ago, none since.
        Case(case("_x2 3x25"), "15m"),
    )


def _refused() -> Alert:
    value = collector_rates("receiver_refused", "receiver", window="5m")
    otlp = 'receiver="otlp", transport="http"'

    def case(refused_logs: str) -> dict[str, str]:
        # One receiver, three signals, the same labels: only the metric names tell them apart.
        return {
            collector_series("otelcol_receiver_refused_spans", otlp): "0x25",
            collector_series("otelcol_receiver_refused_log_records", otlp): refused_logs,
            collector_series("otelcol_receiver_refused_metric_points", otlp): "0x25",
        }

    return Alert(
        "GlassboxCollectorRefusedData",
        "glassbox-telemetry",
        value,
        0,
        None,
        "5m",
        "warning",
        "The collector refuses {{ $labels.signal }} on {{ $labels.receiver }}",
        "The collector's {{ $labels.receiver }} receiver refused {{ $labels.signal }} for 5 minutes (memory "
        "limit or invalid data); senders see errors and may drop it.",
        "collector-refused-data",
        Case(case("0x5 1+1x20"), "20m", ({"receiver": "otlp", "signal": "log_records"},)),
        Case(case("0x25"), "20m"),
    )


def _queue_full() -> Alert:
    size = p.sel(collector_metric("otelcol_exporter_queue_size"))
    capacity = p.sel(collector_metric("otelcol_exporter_queue_capacity"))
    labels = 'exporter="otlp_http/loki", data_type="logs"'
    return Alert(
        "GlassboxCollectorQueueNearlyFull",
        "glassbox-telemetry",
        f"max by (exporter) ({size} / {capacity})",
        QUEUE_FULL_RATIO,
        None,
        "5m",
        "warning",
        "The collector's {{ $labels.exporter }} queue is over 80% full",
        "The sending queue of {{ $labels.exporter }} has been over 80% of its capacity for 5 minutes: its "
        "backend is slow or down, and data will be dropped when the queue is full.",
        "collector-queue-nearly-full",
        Case(
            {
                collector_series("otelcol_exporter_queue_size", labels): "4500x20",
                collector_series("otelcol_exporter_queue_capacity", labels): "5000x20",
            },
            "15m",
            ({"exporter": "otlp_http/loki"},),
        ),
        Case(
            {
                collector_series("otelcol_exporter_queue_size", labels): "3500x20",
                collector_series("otelcol_exporter_queue_capacity", labels): "5000x20",
            },
            "15m",
        ),
    )


def _dead_letters() -> Alert:
    keys = f"{p.ENVIRONMENT}, job, {p.QUEUE}"
    emails = series(DEAD_LETTERS, f'{p.QUEUE}="emails", instance="w1"')
    return Alert(
        "GlassboxDeadLetters",
        "glassbox-service",
        f"max by ({keys}) ({p.sel(DEAD_LETTERS)})",
        0,
        None,
        "1m",
        "warning",
        "The {{ $labels.glassbox_queue_name }} queue of {{ $labels.job }} holds dead letters",
        "Jobs of the {{ $labels.glassbox_queue_name }} queue of {{ $labels.job }} "
        "({{ $labels.deployment_environment_name }}) failed every attempt and wait in its dead-letter store: "
        "nothing will run them again until someone does.",
        "dead-letters",
        Case({emails: "0x5 3x20"}, "15m", ({**APP, p.QUEUE: "emails"},)),
        Case({emails: "0x20"}, "15m"),
        # Dead letters that were dealt with (replayed or dropped): the alert clears.
        also_quiet=(Case({emails: "0x3 2x5 0x15"}, "15m"),),
    )


def _activity_failures() -> Alert:
    keys = f"{p.ENVIRONMENT}, job, {p.AGENT_ROLE}"
    failed = f"sum by ({keys}) ({p.increase(p.sel(TRANSITIONS, p.eq(p.ACTIVITY_STATUS, c.ACTIVITY_FAILED)), '1d')})"
    ended_selector = p.sel(TRANSITIONS, p.re(p.ACTIVITY_STATUS, f"{c.ACTIVITY_COMPLETED}|{c.ACTIVITY_FAILED}"))
    ended = f"sum by ({keys}) ({p.increase(ended_selector, '1d')})"

    def case(failed_values: str, completed_values: str) -> dict[str, str]:
        role = f'{p.AGENT_ROLE}="writer"'
        return {
            series(TRANSITIONS, f'{role}, {p.ACTIVITY_STATUS}="{c.ACTIVITY_FAILED}"'): failed_values,
            series(TRANSITIONS, f'{role}, {p.ACTIVITY_STATUS}="{c.ACTIVITY_COMPLETED}"'): completed_values,
        }

    return Alert(
        "GlassboxActivityFailureRate",
        "glassbox-service",
        # Failures over the activities that ended, not those created: a day with failures and no creations is
        # 100%, not +Inf.
        f"({failed} / {ended}) and ({ended} >= {ACTIVITY_MIN_ENDED_1D})",
        ACTIVITY_FAILURE_RATIO,
        None,
        "15m",
        "warning",
        "Over 10% of the {{ $labels.glassbox_agent_role }} activities of {{ $labels.job }} failed in a day",
        "Of the activities of agent role {{ $labels.glassbox_agent_role }} in {{ $labels.job }} "
        "({{ $labels.deployment_environment_name }}) that ended over the last 24 hours, more than 10% failed "
        "(at least 10 ended).",
        "activity-failure-rate",
        # Every 10 minutes, 1 failure and 5 completions: 1 in 6 failed.
        Case(case("0+1x200", "0+5x200"), "1d", ({**APP, p.AGENT_ROLE: "writer"},), interval="10m"),
        # 1 failure and 10 completions: 9%.
        Case(case("0+1x200", "0+10x200"), "1d", interval="10m"),
        also_quiet=(
            # 3 failures out of 5 activities in a day: too few to call it a rate.
            Case(case("0x50 1x50 2x50 3x50", "0x100 1x50 2x50"), "1d", interval="10m"),
            # A restart resets the completions counter: 9% failed, which a delta across the reset would overstate.
            Case(case("0+1x200", "0+10x100 0+10x100"), "1d", interval="10m"),
        ),
        window_seconds=86400 + 600,
    )


def _answers_rejected() -> Alert:
    keys = f"{p.ENVIRONMENT}, job"
    rejected = p.sel(EVALUATIONS, p.eq(c.EVALUATION_OUTCOME, c.EVALUATION_REJECTED))
    scored = p.sel(EVALUATIONS, p.re(c.EVALUATION_OUTCOME, f"{c.EVALUATION_ACCEPTED}|{c.EVALUATION_REJECTED}"))
    scored_1d = f"sum by ({keys}) ({p.increase(scored, '1d')})"

    def case(rejected_values: str, accepted_values: str, unscored_values: str = "0x200") -> dict[str, str]:
        name = f'{p.EVALUATION_NAME}="user_feedback"'
        return {
            series(EVALUATIONS, f'{name}, {p.OUTCOME}="{outcome}"'): values
            for outcome, values in (
                (c.EVALUATION_REJECTED, rejected_values),
                (c.EVALUATION_ACCEPTED, accepted_values),
                (c.EVALUATION_UNSCORED, unscored_values),
            )
        }

    return Alert(
        "GlassboxAnswersRejected",
        "glassbox-service",
        f"(sum by ({keys}) ({p.increase(rejected, '1d')}) / {scored_1d}) and ({scored_1d} >= {REJECTED_MIN_SCORED_1D})",
        REJECTED_RATIO,
        None,
        "15m",
        "warning",
        "Over 5% of the scored answers of {{ $labels.job }} were rejected in a day",
        "Of the feedback and evaluation results with a score or verdict for {{ $labels.job }} "
        "({{ $labels.deployment_environment_name }}) over the last 24 hours, more than 5% rejected the answer "
        "(at least 20 scored).",
        "answers-rejected",
        # Every 10 minutes, 1 rejection and 9 acceptances: 10%.
        Case(case("0+1x200", "0+9x200"), "1d", ({**APP},), interval="10m"),
        # 1 rejection and 24 acceptances: 4%; unscored results do not count, however many.
        Case(case("0+1x200", "0+24x200", "0+100x200"), "1d", interval="10m"),
        # 2 rejections out of 4 scored results in a day: too few to call it a rate.
        also_quiet=(Case(case("0x100 1x50 2x50", "0x100 1x50 2x50"), "1d", interval="10m"),),
        window_seconds=86400 + 600,
    )


def _prompt_version_worse() -> Alert:
    name, version, baseline = p.label(c.PROMPT_NAME), p.label(c.PROMPT_VERSION), p.label(c.PROMPT_BASELINE)
    keys = f"{p.ENVIRONMENT}, {name}, {version}"
    labelled = f'{version}!~"|{c.PLACEHOLDER_OVERFLOW}|{c.PLACEHOLDER_INVALID}"'
    rejected = p.sel(EVALUATIONS, labelled, p.eq(c.EVALUATION_OUTCOME, c.EVALUATION_REJECTED))
    scored = p.sel(
        EVALUATIONS, labelled, p.re(c.EVALUATION_OUTCOME, f"{c.EVALUATION_ACCEPTED}|{c.EVALUATION_REJECTED}")
    )
    scored_1d = f"sum by ({keys}) ({p.increase(scored, '1d')})"
    rejected_1d = f"sum by ({keys}) ({p.increase(rejected, '1d')})"
    # Each version's rejected share over a day, where it has enough scored results.
    shares = f"({p.share(rejected_1d, scored_1d)} and ({scored_1d} >= {REJECTED_MIN_SCORED_1D}))"
    # Which version each one is compared with: PromQL cannot order label values, so the apps say (the gauge).
    baselines = (
        f"max by ({keys}, {baseline}) "
        f"(max_over_time({p.sel(PROMPT_VERSIONS, labelled, p.ne(c.PROMPT_BASELINE, ''))}[1d]))"
    )
    current = f"{baselines} * on ({keys}) group_left () {shares}"
    # The baseline's share, under the label the current version names it by.
    previous = f'max without ({version}) (label_join({shares}, "{baseline}", "", "{version}"))'
    prompt = f'{name}="support-answer"'

    def case(old: tuple[str, str], new: tuple[str, str], baseline_label: str = f'{baseline}="7"') -> dict[str, str]:
        """A day of results: (rejected, accepted) of version 7 and of version 8, with version 8's baseline."""
        found = {series(PROMPT_VERSIONS, f'{prompt}, {version}="8", {baseline_label}'.rstrip(", ")): "1x200"}
        for number_, values in (("7", old), ("8", new)):
            for outcome, counts in zip((c.EVALUATION_REJECTED, c.EVALUATION_ACCEPTED), values, strict=True):
                labels = f'{prompt}, {version}="{number_}", {p.EVALUATION_NAME}="faithfulness", {p.OUTCOME}="{outcome}"'
                found[series(EVALUATIONS, labels)] = counts
        return found

    five, twenty_five = ("0+1x200", "0+19x200"), ("0+5x200", "0+15x200")  # per 10 minutes: 1 in 20, 5 in 20
    fired = {p.ENVIRONMENT: "prod", name: "support-answer", version: "8", baseline: "7"}
    return Alert(
        "GlassboxPromptVersionWorse",
        "glassbox-service",
        f"({current}) - on ({p.ENVIRONMENT}, {name}, {baseline}) group_left () {previous}",
        PROMPT_WORSE_MARGIN,
        None,
        "15m",
        "warning",
        "Prompt {{ $labels.glassbox_prompt_name }} version {{ $labels.glassbox_prompt_version }} is rejected more "
        "than version {{ $labels.glassbox_prompt_baseline }}",
        "Over the last 24 hours in {{ $labels.deployment_environment_name }}, the share of scored results that "
        "rejected answers of prompt {{ $labels.glassbox_prompt_name }} version {{ $labels.glassbox_prompt_version }} "
        "is more than 5 points over that of its baseline, version {{ $labels.glassbox_prompt_baseline }} "
        "(at least 20 scored results each).",
        "prompt-version-worse",
        # Version 7 rejected 5% of its answers, version 8 25%.
        Case(case(five, twenty_five), "1d", (fired,), interval="10m"),
        # Better: version 8 5%, version 7 25%.
        Case(case(twenty_five, five), "1d", interval="10m"),
        also_quiet=(
            # Worse, but 2 rejections out of 4 results of version 8 in a day: too few to compare.
            Case(case(five, ("0x100 1x50 2x50", "0x100 1x50 2x50")), "1d", interval="10m"),
            # Worse, but version 8 has no baseline: nothing to compare it with.
            Case(case(five, twenty_five, baseline_label=""), "1d", interval="10m"),
        ),
        window_seconds=86400 + 600,
    )


def _prompt_injection(level: str, severity: str, summary: str, description: str, runbook: str) -> Alert:
    keys = f"{p.ENVIRONMENT}, job"
    flagged = p.sel(GUARDRAIL_CHECKS, p.eq(c.GUARDRAIL_LEVEL, level))
    check = series(GUARDRAIL_CHECKS, f'{p.GUARDRAIL_LEVEL}="{level}", {p.DECISION}="x", {p.TENANT}="acme"')
    name = "GlassboxPromptInjection" + level.capitalize()
    return Alert(
        name,
        "glassbox-service",
        # A counter's first sample is its first increase: a series new in the window counts with its value
        # (increase() alone needs a sample before it, and would miss the first attack from a tenant).
        f"sum by ({keys}) (({p.increase(flagged, '5m')} > 0) or ({flagged} unless {flagged} offset 5m))",
        0,
        None,
        "0s",
        severity,
        summary,
        description,
        runbook,
        # The first flagged input of a new tenant: the series appears at 1.
        Case({check: "_x5 1x20"}, "7m", ({**APP},)),
        Case({check: "0x30"}, "15m"),
        # Nothing new for 5 minutes: the alert resolves.
        also_quiet=(Case({check: "_x5 1x20"}, "15m"),),
        extra_labels={"audience": "security"} if level == "critical" else {},
    )


def _target_down() -> Alert:
    up = 'up{job="loki", instance="loki:3100"}'
    return Alert(
        "GlassboxStackComponentDown",
        "glassbox-telemetry",
        f"1 - max by (job, instance) ({p.sel('up', p.re('job', '|'.join(c.STACK_JOBS)))})",
        0,
        None,
        "2m",
        "critical",
        "{{ $labels.job }} is down",
        "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }} for 2 minutes.",
        "stack-component-down",
        Case({up: "1x5 0x15"}, "15m", ({"job": "loki", "instance": "loki:3100"},)),
        Case({up: "1x20"}, "15m"),
    )


def _audit_failures() -> Alert:
    exporter = p.eq("exporter", c.COLLECTOR_AUDIT_EXPORTER)
    failed_name = collector_metric("otelcol_exporter_send_failed_log_records")
    value = f"sum({p.grown(p.sel(failed_name, p.COLLECTOR, exporter), '5m')})"
    failed = collector_series(failed_name, exporter)
    return Alert(
        "GlassboxAuditWriteFailures",
        "glassbox-telemetry",
        value,
        0,
        None,
        "0s",
        "critical",
        "Audit events are being lost on their way to Loki",
        "The collector's audit exporter gave up on audit events after its retries: the audit stream in Loki has a gap.",
        "audit-write-failures",
        Case({failed: "_x8 1x20"}, "10m", ({},)),
        Case({failed: "_x2 1x20"}, "10m"),
    )


def _audit_log_failures() -> Alert:
    keys = f"{p.ENVIRONMENT}, job, instance, {p.label(c.AUDIT_MODE)}"
    failures = p.metric(c.METRIC_AUDIT_WRITE_FAILURES)
    value = f"sum by ({keys}) ({p.grown(p.sel(failures), '5m')})"
    fail_open = series(failures, f'instance="w1", {p.label(c.AUDIT_MODE)}="fail-open"')
    return Alert(
        "GlassboxAuditLogWriteFailures",
        "glassbox-telemetry",
        value,
        0,
        None,
        "0s",
        "critical",
        "{{ $labels.job }} cannot write audit events to its audit log",
        "{{ $labels.job }} ({{ $labels.instance }}, {{ $labels.deployment_environment_name }}) could not append "
        "audit events to its host's audit log in the last 5 minutes. Mode {{ $labels.glassbox_audit_mode }}: "
        "fail-open events wait in the spool; fail-closed audited actions were refused.",
        "audit-log-write-failures",
        # The app reports the counter at 0 from its first audit event: the first failure is an increase.
        Case({fail_open: "0x8 1 2 3x20"}, "10m", ({**APP, "instance": "w1", p.label(c.AUDIT_MODE): "fail-open"},)),
        Case({fail_open: "0x8 1x20"}, "16m"),
    )


def _audit_events_waiting() -> Alert:
    spooled = p.sel(p.metric(c.METRIC_AUDIT_SPOOLED))
    waiting = series(p.metric(c.METRIC_AUDIT_SPOOLED), 'instance="w1"')
    return Alert(
        "GlassboxAuditEventsWaiting",
        "glassbox-telemetry",
        f"max by ({p.ENVIRONMENT}, job, instance) ({spooled})",
        0,
        None,
        "15m",
        "warning",
        "{{ $labels.job }} has audit events waiting in its spool",
        "Audit events of {{ $labels.job }} ({{ $labels.instance }}) have waited over 15 minutes in the "
        "fail-open spool: they are not in the hash-chained log yet.",
        "audit-events-waiting",
        Case({waiting: "0x5 4x30"}, "25m", ({**APP, "instance": "w1"},)),
        Case({waiting: "0x5 4x10 0x20"}, "25m"),
    )


def _state_unavailable() -> Alert:
    connected = p.metric(c.METRIC_STATE_CONNECTED)
    backend = f'{p.label(c.STATE_BACKEND)}="postgresql"'
    one = series(connected, f'instance="w1", {backend}')
    other = series(connected, f'instance="w2", {backend}')
    return Alert(
        "GlassboxSharedStateUnavailable",
        "glassbox-telemetry",
        f"max by ({p.ENVIRONMENT}, job, instance, {p.label(c.STATE_BACKEND)}) (1 - {p.sel(connected)})",
        0,
        None,
        "2m",
        "critical",
        "{{ $labels.instance }} of {{ $labels.job }} cannot reach its shared state",
        "For 2 minutes the shared state ({{ $labels.glassbox_state_backend }}) has not answered {{ $labels.job }} "
        "({{ $labels.instance }}, {{ $labels.deployment_environment_name }}): its budgets, kill switch and request "
        "limits follow GLASSBOX_STATE_FAILURE and its audit events wait in the spool.",
        "shared-state-unavailable",
        Case(
            {one: "1x5 0x20", other: "1x30"},
            "15m",
            ({**APP, "instance": "w1", p.label(c.STATE_BACKEND): "postgresql"},),
        ),
        Case({one: "1x5 0 1x20", other: "1x30"}, "15m"),
    )


def _state_failures() -> Alert:
    failures = p.metric(c.METRIC_STATE_FAILURES)
    keys = f"{p.ENVIRONMENT}, job, instance, {p.label(c.STATE_OPERATION)}"
    reserve = series(failures, f'instance="w1", {p.label(c.STATE_OPERATION)}="reserve"')
    return Alert(
        "GlassboxSharedStateFailures",
        "glassbox-telemetry",
        f"sum by ({keys}) ({p.grown(p.sel(failures), '5m')})",
        0,
        None,
        "5m",
        "warning",
        "{{ $labels.job }} keeps failing to {{ $labels.glassbox_state_operation }} in its shared state",
        "For 5 minutes some {{ $labels.glassbox_state_operation }} operations of {{ $labels.job }} "
        "({{ $labels.instance }}) did not finish within GLASSBOX_STATE_TIMEOUT: GLASSBOX_STATE_FAILURE decided "
        "those model calls instead of the shared budgets, kill switch or request limits.",
        "shared-state-failures",
        # Reported at 0 from the start ("connect"), so the first failure of any operation is an increase.
        Case({reserve: "0x5 0+3x20"}, "15m", ({**APP, "instance": "w1", p.label(c.STATE_OPERATION): "reserve"},)),
        Case({reserve: "0x5 1 2 2x20"}, "15m"),
    )


def _telemetry_dropped() -> Alert:
    dropped = p.metric(c.METRIC_TELEMETRY_DROPPED)
    keys = f"{p.ENVIRONMENT}, job, instance, {c.LABEL_SIGNAL}, {c.LABEL_REASON}"
    where = f'instance="w1", {c.LABEL_SIGNAL}="traces", {c.LABEL_REASON}="processor_error"'
    failed = series(dropped, where)
    return Alert(
        "GlassboxTelemetryDropped",
        "glassbox-telemetry",
        f"sum by ({keys}) ({p.grown(p.sel(dropped), '5m')})",
        0,
        None,
        "0s",
        "warning",
        "{{ $labels.job }} left out some of its {{ $labels.signal }} ({{ $labels.reason }})",
        "{{ $labels.job }} ({{ $labels.instance }}, {{ $labels.deployment_environment_name }}) dropped "
        "{{ $labels.signal }} telemetry in the last 5 minutes, counted in glassbox_telemetry_dropped_total with "
        "reason {{ $labels.reason }}: what the backends show of it is incomplete.",
        "telemetry-dropped",
        # The counter appears at the first drop of each signal and reason: that first one is an increase too.
        Case(
            {failed: "_x5 3 3 4x20"},
            "10m",
            ({**APP, "instance": "w1", c.LABEL_SIGNAL: "traces", c.LABEL_REASON: "processor_error"},),
        ),
        Case({failed: "_x5 3x20"}, "16m"),
    )


def _kill_switch_on() -> Alert:
    kill_switch = p.metric(c.METRIC_AI_KILL_SWITCH)
    on = series(kill_switch, 'instance="w1"')
    return Alert(
        "GlassboxKillSwitchOn",
        "glassbox-cost",
        f"max by ({p.ENVIRONMENT}, job) ({p.sel(kill_switch)})",
        0,
        None,
        "5m",
        "warning",
        "The AI kill switch is on for {{ $labels.job }}",
        "Every model call of {{ $labels.job }} ({{ $labels.deployment_environment_name }}) has been refused for "
        "5 minutes: the kill switch is on. Turn it off once the reason for it is gone.",
        "kill-switch-on",
        Case({on: "0x5 1x20"}, "15m", ({**APP},)),
        Case({on: "0x5 1x3 0x20"}, "15m"),
    )


def _canary_stale() -> Alert:
    canary = p.sel(c.PROMETHEUS_CANARY_TIMESTAMP)
    return Alert(
        "GlassboxCanaryStale",
        "glassbox-telemetry",
        f"time() - max(max_over_time({canary}[1d]))",
        CANARY_STALE_SECONDS,
        None,
        "0s",
        "warning",
        "No canary has come through the pipeline for 5 minutes",
        "The last `glassbox doctor` canary point reached Prometheus over 5 minutes ago: the canary has stopped, "
        "or the collector to Prometheus path is broken.",
        "canary-stale",
        # The canary's value is the Unix time it was sent: t seconds into the test.
        Case({f"{c.PROMETHEUS_CANARY_TIMESTAMP}{{}}": "0+60x5 _x20"}, "15m", ({},)),
        Case({f"{c.PROMETHEUS_CANARY_TIMESTAMP}{{}}": "0+60x20"}, "15m"),
        window_seconds=86400,
    )


ALERTS: tuple[Alert, ...] = (
    _http_5xx(),
    _http_latency(),
    _llm_errors(),
    _first_chunk_latency(),
    _silent_service(),
    _budget(c.BUDGET_ALERT_RATIOS[0], c.BUDGET_ALERT_RATIOS[1], "warning"),
    _budget(c.BUDGET_ALERT_RATIOS[1], 0.999, "critical"),
    _budget(0.999, None, "critical"),
    _spend_spike(),
    _spend_ceiling(),
    _kill_switch_on(),
    _export_failures(),
    _refused(),
    _dead_letters(),
    _activity_failures(),
    _answers_rejected(),
    _prompt_version_worse(),
    _prompt_injection(
        "high",
        "warning",
        "High prompt-injection risk in inputs to {{ $labels.job }}",
        "The guardrail scored inputs of model calls of {{ $labels.job }} ({{ $labels.deployment_environment_name }}) "
        "at high prompt-injection risk in the last 5 minutes; they were let through and audited.",
        "prompt-injection-high",
    ),
    _prompt_injection(
        "critical",
        "critical",
        "Critical prompt-injection risk in inputs to {{ $labels.job }}",
        "The guardrail scored inputs of model calls of {{ $labels.job }} ({{ $labels.deployment_environment_name }}) "
        "at critical prompt-injection risk in the last 5 minutes: refused (enforce mode) or only recorded "
        "(monitor mode). For security to look at.",
        "prompt-injection-critical",
    ),
    _queue_full(),
    _target_down(),
    _audit_failures(),
    _audit_log_failures(),
    _audit_events_waiting(),
    _state_unavailable(),
    _state_failures(),
    _telemetry_dropped(),
    _canary_stale(),
    *slo_alerts(),
)
GROUPS = {"glassbox-service": "1m", "glassbox-cost": "1m", "glassbox-telemetry": "1m", SLO_GROUP[0]: SLO_GROUP[1]}


# --------------------------------------------------------------------------- Grafana provisioning
def grafana_rules() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": group,
                "folder": FOLDER,
                "interval": interval,
                "rules": [grafana_rule(a) for a in ALERTS if a.group == group],
            }
            for group, interval in GROUPS.items()
        ],
    }


def contact_points() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": CONTACT_POINT,
                        "type": "webhook",
                        "settings": {"url": f"${WEBHOOK_URL_VARIABLE}", "httpMethod": "POST"},
                        "disableResolveMessage": False,
                    }
                ],
            }
        ],
    }


# Severity decides how fast and how often: critical at once and hourly, warning batched, info daily.
SEVERITY_TIMING = {
    "critical": {"group_wait": "10s", "group_interval": "1m", "repeat_interval": "1h"},
    "warning": {"group_wait": "1m", "group_interval": "5m", "repeat_interval": "4h"},
    "info": {"group_wait": "5m", "group_interval": "30m", "repeat_interval": "24h"},
}


def policies(receivers: dict[str, str] | None = None, default: str = CONTACT_POINT) -> dict[str, Any]:
    """The notification policy tree: one route per severity (to the receiver named for it), and ``default`` for
    anything else. Every receiver named must be a contact point of the same provisioning, or Grafana refuses it."""
    receivers = receivers or {}
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": default,
                "group_by": ["grafana_folder", "alertname"],
                "routes": [
                    {
                        "receiver": receivers.get(severity, CONTACT_POINT),
                        "object_matchers": [["severity", "=", severity]],
                        **SEVERITY_TIMING[severity],
                    }
                    for severity in SEVERITIES
                ],
            }
        ],
    }


# Where alerts go until GLASSBOX_ALERT_WEBHOOK_URL is set: nowhere (port 9, discard). Grafana shows each failed
# delivery on the contact point, Alertmanager counts it (alertmanager_notifications_failed_total).
WEBHOOK_URL_UNSET = "http://127.0.0.1:9/glassbox-alert-webhook-not-set"
ALERTMANAGER_CONFIG_FILE = "alertmanager.yml"


def alertmanager_config(webhook_url: str = WEBHOOK_URL_UNSET) -> dict[str, Any]:
    """The same routing as policies(), for a team that runs the Prometheus rules with Alertmanager: one route per
    severity with the same waits and repeats, to one webhook receiver named like the Grafana contact point.
    Grouped by rule (Alertmanager has no folder; every Glassbox rule is in one)."""
    return {
        "route": {
            "receiver": CONTACT_POINT,
            "group_by": ["alertname"],
            "routes": [
                {"receiver": CONTACT_POINT, "matchers": [f'severity="{severity}"'], **SEVERITY_TIMING[severity]}
                for severity in SEVERITIES
            ],
        },
        "receivers": [
            {"name": CONTACT_POINT, "webhook_configs": [{"url": webhook_url, "send_resolved": True}]},
        ],
    }


# --------------------------------------------------------------------------- Prometheus form and tests
PROMETHEUS_RULES_FILE = "glassbox-alerts.yml"
# promtool evaluates every rule of a rules file at every step of every test case, so each alert's cases run against
# a rules file holding that alert alone: prometheus/rules/tests/<uid>.yml and <uid>.test.yml.
PROMETHEUS_TESTS_DIR = "tests"


def prometheus_rules(only: tuple[Alert, ...] = ALERTS) -> dict[str, Any]:
    """The rules in Prometheus form (``only`` some of them)."""
    return rule_groups(only, GROUPS)


def promtool_tests(
    only: tuple[Alert, ...] = ALERTS, rule_file: str = PROMETHEUS_RULES_FILE, recording_rules: str = ""
) -> dict[str, Any]:
    """promtool's test file for ``only``'s cases against ``rule_file`` (and, for the SLO alerts, the recording
    rules they read: ``recording_rules``, the path of RECORDING_RULES_FILE from the test file)."""
    tests = []
    for alert in only:
        cases = [("fires", alert.fires), ("stays quiet", alert.quiet)]
        cases += [(f"stays quiet ({n + 2})", case) for n, case in enumerate(alert.also_quiet)]
        tests += [promtool_case(alert, kind, case) for kind, case in cases]
    needs_recordings = recording_rules and any(alert.group == SLO_GROUP[0] for alert in only)
    rule_files = [rule_file, recording_rules] if needs_recordings else [rule_file]
    return {"rule_files": rule_files, "evaluation_interval": "1m", "tests": tests}


def promtool_files() -> dict[str, dict[str, Any]]:
    """Each alert's own rules file and its promtool tests, by file name (in PROMETHEUS_TESTS_DIR)."""
    files = {}
    for alert in ALERTS:
        files[f"{alert.uid}.yml"] = prometheus_rules((alert,))
        files[f"{alert.uid}.test.yml"] = promtool_tests((alert,), f"{alert.uid}.yml", f"../{RECORDING_RULES_FILE}")
    return files
