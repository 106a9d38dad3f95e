"""PromQL and LogQL building blocks: metric names and label names from glassbox.conventions, nothing typed twice."""

from __future__ import annotations

from glassbox import conventions as c


def label(attribute: str) -> str:
    """The Prometheus label an OTel attribute becomes (dots and dashes as underscores)."""
    return attribute.replace(".", "_").replace("-", "_")


def metric(otel_name: str, suffix: str = "") -> str:
    """The Prometheus name of a glassbox or GenAI metric, plus _bucket/_count/_sum where asked."""
    return c.PROMETHEUS_NAMES[otel_name] + suffix


def sel(name: str, *matchers: str) -> str:
    """A selector. Every selector in a dashboard or rule is written through here, with braces, so the data
    test can find them all: ``name{matcher, ...}``."""
    return f"{name}{{{', '.join(m for m in matchers if m)}}}"


def eq(attribute_or_label: str, value: str) -> str:
    return f'{label(attribute_or_label)}="{value}"'


def re(attribute_or_label: str, pattern: str) -> str:
    return f'{label(attribute_or_label)}=~"{pattern}"'


def ne(attribute_or_label: str, value: str) -> str:
    return f'{label(attribute_or_label)}!="{value}"'


def by(*attributes: str) -> str:
    return ", ".join(label(a) for a in attributes)


TENANT = label(c.TENANT_ID)
MODEL = label(c.GEN_AI_REQUEST_MODEL)
PROVIDER = label(c.GEN_AI_PROVIDER_NAME)
AGENT = label(c.GEN_AI_AGENT_NAME)
TOKEN_TYPE = label(c.GEN_AI_TOKEN_TYPE)
ROUTE = label(c.HTTP_ROUTE)
STATUS_CODE = label(c.HTTP_RESPONSE_STATUS_CODE)
ERROR_TYPE = label(c.ERROR_TYPE)
EVALUATION_NAME = label(c.GEN_AI_EVALUATION_NAME)
OUTCOME = label(c.EVALUATION_OUTCOME)
GUARDRAIL_LEVEL = label(c.GUARDRAIL_LEVEL)
DECISION = label(c.GEN_AI_SECURITY_DECISION_TYPE)
ENVIRONMENT = label(c.DEPLOYMENT_ENVIRONMENT)
PERIOD = label(c.BUDGET_PERIOD)
ACTIVITY_STATUS = label(c.ACTIVITY_STATUS)
AGENT_ROLE = label(c.AGENT_ROLE)
DELIVERABLE = label(c.DELIVERABLE_TYPE)
QUEUE = label(c.QUEUE_NAME)
# Prometheus's job is the service name for pushed series (service.namespace/service.name when namespaced).
SERVICE = "job"

# Dashboard template variables, as matchers.
VAR_ENV = re(ENVIRONMENT, "$env")
VAR_SERVICE = re(SERVICE, "$service")
VAR_TENANT = re(TENANT, "$tenant")
VAR_MODEL = re(MODEL, "$model")
APP = (VAR_ENV, VAR_SERVICE)

# Series a service pushes through the SDK (scraped stack components have no telemetry_sdk_name).
SERVICE_INFO = "target_info"
SDK_PRESENT = ne("telemetry.sdk.name", "")
COLLECTOR = eq("job", c.COLLECTOR_JOB)


# Seconds since each service last pushed its resource (target_info is written with every export).
# `glassbox doctor` sends through the SDK too, once per pass or by hand: it has the canary's own rule.
NOT_CANARY = ne("job", c.CANARY_SERVICE_NAME)


def seconds_since_last_data(*matchers: str) -> str:
    info = sel(SERVICE_INFO, SDK_PRESENT, NOT_CANARY, *matchers)
    # A day back at 30 s steps: a service that died stays "silent for N seconds" for a day, not only for the hour
    # a shorter look-back would keep it visible.
    return f"time() - max by (job, {ENVIRONMENT}) (max_over_time(timestamp({info})[1d:30s]))"


def rate(selector: str, window: str = "$__rate_interval") -> str:
    return f"rate({selector}[{window}])"


def increase(selector: str, window: str) -> str:
    return f"increase({selector}[{window}])"


def increase_ahead(selector: str, window: str) -> str:
    """How much a counter grew over the ``window`` that starts at the evaluation time (a negative offset): at a
    day's midnight, that day's growth; for today, its growth so far (the range ends in the future)."""
    return f"increase({selector}[{window}] offset -{window})"


def grown(selector: str, window: str) -> str:
    """How much a counter grew over the window, a series that appeared within it counted from zero.

    increase() never sees a counter's first value, and the collector creates its send_failed counters at the
    first failure (already at the number of items lost): an alert on increase() would miss the first loss.
    """
    return f"(({selector} - {selector} offset {window}) or {selector})"


def ratio(numerator: str, denominator: str) -> str:
    return f"({numerator}) / ({denominator})"


def share(part: str, whole: str) -> str:
    """``part / whole`` that reads right at the edges: 0 (not No data) when ``part`` has no series where ``whole``
    has, and no value (not NaN) where ``whole`` is 0. Both sides aggregated by the same labels."""
    return f"({part} or 0 * {whole}) / ({whole} > 0)"


def quantile(q: float, bucket_selector: str, *group: str, window: str = "$__rate_interval") -> str:
    keys = ", ".join(["le", *group])
    return f"histogram_quantile({q}, sum by ({keys}) ({rate(bucket_selector, window)}))"


def budget_used(*matchers: str) -> str:
    """Share of each tenant's budget spent in the current period. Every instance sharing a state reports that
    state's spend (a host's SQLite file, or the fleet's PostgreSQL: scope "shared"): the largest value per scope,
    the scopes added up, against the limit. So N hosts sharing one database are never counted N times."""
    spent = sel(metric(c.METRIC_BUDGET_SPENT), *matchers)
    limit = sel(metric(c.METRIC_BUDGET_LIMIT), *matchers)
    keys = f"{ENVIRONMENT}, job, {TENANT}, {PERIOD}"
    per_scope = f"max by ({keys}, {label(c.BUDGET_SCOPE)}) ({spent})"
    return f"sum by ({keys}) ({per_scope}) / max by ({keys}) ({limit})"


# --------------------------------------------------------------------------- LogQL
def loki_stream(*matchers: str) -> str:
    """A Loki stream selector; only labels Loki indexes may appear (checked by the tests)."""
    return "{" + ", ".join(matchers) + "}"


def loki_filter(field_attribute: str, pattern: str) -> str:
    """A structured-metadata filter on a log attribute, in the name Loki's OTLP ingestion gives it."""
    return f'| {c.loki_field(field_attribute)}=~"{pattern}"'
