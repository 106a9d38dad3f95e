"""Every name that crosses a boundary: span attributes, baggage keys, metric names and labels, log fields.

This module is the one source of truth. Dashboards, alert rules, docs and tests import it or are checked
against it. GenAI names follow the OpenTelemetry GenAI semantic conventions as emitted by the pinned
upstream instrumentations (semconv v1.37+, development status); anything without a standard name lives
under ``glassbox.``.

When the semantic conventions rename something, edit ``SEMCONV_RENAMES`` (old name -> current name) and the
constant below it: readers of spans accept both spellings through :func:`attribute`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

# --------------------------------------------------------------------------- GenAI span attributes
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_ID: Final = "gen_ai.agent.id"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
ERROR_TYPE: Final = "error.type"
# MCP (Model Context Protocol) spans, as the mcp SDK emits them.
MCP_METHOD_NAME: Final = "mcp.method.name"
MCP_METHOD_CALL_TOOL: Final = "tools/call"

# Content attributes: only present when content capture is opted in, and always redacted first.
CONTENT_ATTRIBUTES: Final = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.prompt",
    "gen_ai.completion",
)

# Old spelling -> current spelling. A rename upstream is one line here.
SEMCONV_RENAMES: Final[Mapping[str, str]] = {
    "gen_ai.system": GEN_AI_PROVIDER_NAME,
    "gen_ai.usage.prompt_tokens": GEN_AI_USAGE_INPUT_TOKENS,
    "gen_ai.usage.completion_tokens": GEN_AI_USAGE_OUTPUT_TOKENS,
    "gen_ai.usage.cache_read_input_tokens": GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
    "gen_ai.usage.cache_creation_input_tokens": GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS,
    "http.status_code": "http.response.status_code",
    "http.method": "http.request.method",
}
_OLD_NAMES: Final[Mapping[str, tuple[str, ...]]] = {
    new: tuple(old for old, current in SEMCONV_RENAMES.items() if current == new)
    for new in set(SEMCONV_RENAMES.values())
}


def attribute(attributes: Mapping[str, Any] | None, name: str) -> Any:
    """Read ``name`` from span attributes, accepting the deprecated spellings of it too."""
    if not attributes:
        return None
    value = attributes.get(name)
    if value is None:
        for old in _OLD_NAMES.get(name, ()):
            value = attributes.get(old)
            if value is not None:
                break
    return value


# Instrumentations whose gen_ai.usage.input_tokens leaves out the cached input tokens (the provider's own meaning:
# Bedrock's inputTokens, Anthropic's input_tokens inside InvokeModel), where the conventions count them in.
# Glassbox adds them back on the span before pricing the call.
INPUT_TOKENS_WITHOUT_CACHE_SCOPES: Final = frozenset({"opentelemetry.instrumentation.genai.bedrock"})

OPERATION_CHAT: Final = "chat"
OPERATION_TEXT_COMPLETION: Final = "text_completion"
OPERATION_GENERATE_CONTENT: Final = "generate_content"
OPERATION_EMBEDDINGS: Final = "embeddings"
OPERATION_INVOKE_AGENT: Final = "invoke_agent"
OPERATION_EXECUTE_TOOL: Final = "execute_tool"
# Operations that are one call to a model: these carry usage and cost.
MODEL_CALL_OPERATIONS: Final = frozenset(
    {OPERATION_CHAT, OPERATION_TEXT_COMPLETION, OPERATION_GENERATE_CONTENT, OPERATION_EMBEDDINGS}
)

TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# Semconv provider name -> genai-prices provider id.
PROVIDER_PRICE_IDS: Final[Mapping[str, str]] = {
    "openai": "openai",
    "azure.ai.openai": "azure",
    "anthropic": "anthropic",
    "aws.bedrock": "aws",
    "gcp.gemini": "google",
    "gcp.vertex_ai": "google",
    "gcp.gen_ai": "google",
    # google-genai's instrumentation spells them as the older gen_ai.system values
    "gemini": "google",
    "vertex_ai": "google",
    "mistral_ai": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "cohere": "cohere",
}

# --------------------------------------------------------------------------- HTTP (stable semconv)
HTTP_REQUEST_METHOD: Final = "http.request.method"
HTTP_ROUTE: Final = "http.route"
HTTP_RESPONSE_STATUS_CODE: Final = "http.response.status_code"
# Attributes holding a URL (absolute, or a path with its query) or only its query or fragment: redaction removes
# user information and replaces sensitive parameter values with REDACTED, as the HTTP semantic conventions say.
URL_ATTRIBUTES: Final = frozenset({"url.full", "url.original", "http.url", "http.target"})
URL_QUERY_ATTRIBUTES: Final = frozenset({"url.query", "url.fragment"})

# --------------------------------------------------------------------------- attribution
# Carried as W3C baggage from the edge and copied onto spans, log records and audit events.
TENANT_ID: Final = "glassbox.tenant.id"
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
REQUEST_ID: Final = "glassbox.request.id"
ATTRIBUTION_KEYS: Final = (TENANT_ID, USER_ID, SESSION_ID, REQUEST_ID)

PLACEHOLDER_INVALID: Final = "_invalid"
PLACEHOLDER_OVERFLOW: Final = "_other"
PLACEHOLDER_NONE: Final = "_none"

# --------------------------------------------------------------------------- glassbox span attributes
COST_USD: Final = "glassbox.cost.usd"
COST_STATUS: Final = "glassbox.cost.status"
COST_PRICE_SOURCE: Final = "glassbox.cost.price_source"
COST_PRICE_DATE: Final = "glassbox.cost.price_date"
USAGE_COUNTED: Final = "glassbox.usage.counted"
# On the first span each service makes in a trace (its local root) when that trace is in the share every app keeps,
# decided from the trace id alone (glassbox.sdk.sampling): the collector tiers' tail sampling keeps such a trace,
# and metric exemplars are taken only from such traces, so that an exemplar's trace is always there.
TRACE_KEPT: Final = "glassbox.trace.kept"
# The prompt an app says it used (glassbox.prompt): on every GenAI span started inside it, and a label of the GenAI
# metric points recorded inside it (PROMPT_LABELLED_METRICS, the cost counters), so that cost, latency, errors and
# answer quality compare per prompt version.
PROMPT_NAME: Final = "glassbox.prompt.name"
PROMPT_VERSION: Final = "glassbox.prompt.version"
# The version a prompt version is compared with (its previous version): a label of METRIC_PROMPT_VERSIONS.
PROMPT_BASELINE: Final = "glassbox.prompt.baseline"

COST_STATUS_PRICED: Final = "priced"
COST_STATUS_UNKNOWN_MODEL: Final = "unknown_model"
COST_STATUS_UNKNOWN_PROVIDER: Final = "unknown_provider"
COST_STATUS_MISSING_USAGE: Final = "missing_usage"
COST_STATUS_DUPLICATE: Final = "duplicate"
COST_STATUS_ERROR: Final = "error"
UNPRICED_REASONS: Final = (
    COST_STATUS_UNKNOWN_MODEL,
    COST_STATUS_UNKNOWN_PROVIDER,
    COST_STATUS_MISSING_USAGE,
    COST_STATUS_ERROR,
)

# --------------------------------------------------------------------------- metrics (OTel names)
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
# Streaming calls (util-genai, every GenAI instrumentation built on it): seconds to the first chunk, and per
# output chunk after it.
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
METRIC_COST: Final = "glassbox.gen_ai.cost"
METRIC_COST_UNPRICED: Final = "glassbox.gen_ai.cost.unpriced"
METRIC_HTTP_SERVER_DURATION: Final = "http.server.request.duration"
METRIC_ATTRIBUTION_INVALID: Final = "glassbox.attribution.invalid"
METRIC_TENANT_OVERFLOW: Final = "glassbox.attribution.tenant_overflow"
METRIC_PROMPT_OVERFLOW: Final = "glassbox.attribution.prompt_overflow"
# 1 for each prompt version a process uses, with its baseline (glassbox.prompt.baseline) when it has one.
METRIC_PROMPT_VERSIONS: Final = "glassbox.prompt.versions"
METRIC_LOG_SECRETS_REDACTED: Final = "glassbox.log.secrets_redacted"
METRIC_CONTENT_REDACTED: Final = "glassbox.content.redactions"
METRIC_SPAN_SECRETS_REDACTED: Final = "glassbox.span.secrets_redacted"
METRIC_TELEMETRY_DROPPED: Final = "glassbox.telemetry.dropped"
# Input tokens served from (cache_read) or written to (cache_write) a provider's prompt cache, per model call.
METRIC_CACHE_TOKENS: Final = "glassbox.gen_ai.cache_tokens"
TOKEN_TYPE_CACHE_READ: Final = "cache_read"
TOKEN_TYPE_CACHE_WRITE: Final = "cache_write"
# The OTel SDK's own exporter metric (spans exported, error.type set on failures).
METRIC_SDK_SPANS_EXPORTED: Final = "otel.sdk.exporter.span.exported"

# Label (attribute) names used on glassbox-recorded metrics besides the semconv ones above.
LABEL_REASON: Final = "reason"
# glassbox.telemetry.dropped{signal="all"}: the shutdown flush ran out of GLASSBOX_SHUTDOWN_TIMEOUT
DROP_SHUTDOWN_TIMEOUT: Final = "shutdown_timeout"
LABEL_FIELD: Final = "field"
LABEL_SIGNAL: Final = "signal"
LABEL_KIND: Final = "kind"

UNIT_USD: Final = "usd"

# --------------------------------------------------------------------------- agent pipeline and job queues
METRIC_ACTIVITY_TRANSITIONS: Final = "glassbox.activity.transitions"
METRIC_ACTIVITY_DURATION: Final = "glassbox.activity.duration"
METRIC_APPROVAL_BACKLOG: Final = "glassbox.activity.approval_backlog"
METRIC_QUEUE_DEPTH: Final = "glassbox.queue.depth"
METRIC_QUEUE_DEAD_LETTERS: Final = "glassbox.queue.dead_letters"
ACTIVITY_ID: Final = "glassbox.activity.id"
ACTIVITY_STATUS: Final = "glassbox.activity.status"
AGENT_ROLE: Final = "glassbox.agent.role"
DELIVERABLE_TYPE: Final = "glassbox.deliverable.type"
QUEUE_NAME: Final = "glassbox.queue.name"
ACTIVITY_CREATED: Final = "created"
ACTIVITY_IN_PROGRESS: Final = "in_progress"
ACTIVITY_AWAITING_APPROVAL: Final = "awaiting_approval"
ACTIVITY_COMPLETED: Final = "completed"
ACTIVITY_FAILED: Final = "failed"
ACTIVITY_STATUSES: Final = (
    ACTIVITY_CREATED,
    ACTIVITY_IN_PROGRESS,
    ACTIVITY_AWAITING_APPROVAL,
    ACTIVITY_COMPLETED,
    ACTIVITY_FAILED,
)

# --------------------------------------------------------------------------- feedback and evaluations
# The GenAI semantic conventions' evaluation event (an OTel log record) and its attributes.
GEN_AI_EVALUATION_EVENT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"
# Results by evaluation name, outcome, model, agent and tenant; and their scores.
METRIC_EVALUATION_RESULTS: Final = "glassbox.evaluation.results"
METRIC_EVALUATION_SCORE: Final = "glassbox.evaluation.score"
EVALUATION_OUTCOME: Final = "glassbox.evaluation.outcome"
EVALUATION_ACCEPTED: Final = "accepted"
EVALUATION_REJECTED: Final = "rejected"
EVALUATION_UNSCORED: Final = "unscored"
# Who judged: a user's or reviewer's feedback, or an evaluation (LLM-as-judge, a rule).
EVALUATION_SOURCE: Final = "glassbox.evaluation.source"
EVALUATION_SOURCE_FEEDBACK: Final = "feedback"
EVALUATION_SOURCE_EVALUATION: Final = "evaluation"
# Online evaluators (glassbox.evaluators): which one and which version produced a result, and of what kind, until
# the GenAI conventions name them; and the results an evaluator could not give, by reason.
EVALUATOR_VERSION: Final = "glassbox.evaluator.version"
EVALUATOR_KIND: Final = "glassbox.evaluator.kind"
EVALUATION_SOURCE_ONLINE: Final = "online"
METRIC_EVALUATION_DROPPED: Final = "glassbox.evaluation.dropped"
EVALUATION_DROP_QUEUE_FULL: Final = "queue_full"
EVALUATION_DROP_EVALUATOR_ERROR: Final = "evaluator_error"
EVALUATION_DROP_JUDGE_OUT_OF_FORMAT: Final = "judge_out_of_format"
EVALUATION_DROP_NO_ANSWER: Final = "no_answer"
# Score buckets: scores are expected in 0..1 (thumbs up 1, down 0).
EVALUATION_SCORE_BUCKETS: Final = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# --------------------------------------------------------------------------- the prompt-injection guardrail
# The GenAI security semantic conventions' guardian span (operation apply_guardrail) and finding event.
OPERATION_APPLY_GUARDRAIL: Final = "apply_guardrail"
GEN_AI_GUARDIAN_NAME: Final = "gen_ai.guardian.name"
GEN_AI_GUARDIAN_PROVIDER_NAME: Final = "gen_ai.guardian.provider.name"
GEN_AI_GUARDIAN_VERSION: Final = "gen_ai.guardian.version"
GEN_AI_SECURITY_TARGET_TYPE: Final = "gen_ai.security.target.type"
SECURITY_TARGET_LLM_INPUT: Final = "llm_input"
GEN_AI_SECURITY_DECISION_TYPE: Final = "gen_ai.security.decision.type"
GEN_AI_SECURITY_DECISION_REASON: Final = "gen_ai.security.decision.reason"
GEN_AI_SECURITY_FINDING_EVENT: Final = "gen_ai.security.finding"
GEN_AI_SECURITY_RISK_CATEGORY: Final = "gen_ai.security.risk.category"
GEN_AI_SECURITY_RISK_SEVERITY: Final = "gen_ai.security.risk.severity"
GEN_AI_SECURITY_RISK_SCORE: Final = "gen_ai.security.risk.score"
GEN_AI_SECURITY_RISK_METADATA: Final = "gen_ai.security.risk.metadata"
# Glassbox's own: the 0-100 score and its level (none, low, medium, high, critical), the mode, and whether a
# scored part was the user's input or a tool result.
GUARDRAIL_SCORE: Final = "glassbox.guardrail.score"
GUARDRAIL_LEVEL: Final = "glassbox.guardrail.level"
GUARDRAIL_MODE: Final = "glassbox.guardrail.mode"
GUARDRAIL_SOURCE: Final = "glassbox.guardrail.source"
METRIC_GUARDRAIL_CHECKS: Final = "glassbox.guardrail.checks"

# --------------------------------------------------------------------------- tenant budgets
# USD limits per tenant and calendar period (UTC), and what was spent in the current period. The alert rules
# and the LLM cost and tenant dashboards divide one by the other.
METRIC_BUDGET_LIMIT: Final = "glassbox.budget.limit"
METRIC_BUDGET_SPENT: Final = "glassbox.budget.spent"
BUDGET_PERIOD: Final = "glassbox.budget.period"
# Who shares the spend a budget gauge reports: the host's name (the files state) or "shared" (PostgreSQL, every
# host). Every process of a scope reports the same figure: dashboards take one value per scope and add scopes up.
BUDGET_SCOPE: Final = "glassbox.budget.scope"
BUDGET_SCOPE_SHARED: Final = "shared"
HOST_NAME: Final = "host.name"
BUDGET_PERIOD_DAY: Final = "day"
BUDGET_PERIOD_MONTH: Final = "month"
BUDGET_PERIODS: Final = (BUDGET_PERIOD_DAY, BUDGET_PERIOD_MONTH)
BUDGET_ALERT_RATIOS: Final = (0.8, 0.95, 1.0)
# The glassbox.tenant.id of the budget that caps every tenant together (and of its spend): a value no tenant id
# can be (it holds "*").
BUDGET_TOTAL_TENANT: Final = "*total"

# Model calls the guard did not make, by reason (kill_switch, budget_day, budget_month, budget_total_day,
# budget_total_month, request_*, state_unavailable, prompt_injection), and whether
# the kill switch is on (1) or off (0) in each process.
METRIC_AI_CALLS_REFUSED: Final = "glassbox.ai.calls_refused"
METRIC_AI_KILL_SWITCH: Final = "glassbox.ai.kill_switch"
# The refusal reason when fail-closed and the shared state cannot answer.
REFUSED_STATE_UNAVAILABLE: Final = "state_unavailable"

# The shared state (glassbox.state): operations it could not do in time, by operation, and whether it answers.
METRIC_STATE_FAILURES: Final = "glassbox.state.failures"
METRIC_STATE_CONNECTED: Final = "glassbox.state.connected"
STATE_OPERATION: Final = "glassbox.state.operation"
STATE_BACKEND: Final = "glassbox.state.backend"

# The audit trail's own health (glassbox.audit_events): events recorded, events the log could not take, and
# events waiting in the fail-open spool.
METRIC_AUDIT_EVENTS: Final = "glassbox.audit.events"
METRIC_AUDIT_WRITE_FAILURES: Final = "glassbox.audit.write_failures"
METRIC_AUDIT_SPOOLED: Final = "glassbox.audit.spooled"

# Request-scoped metrics (recorded by the upstream instrumentations or by glassbox) that get the tenant label
# from the baggage of the context they are recorded in (see glassbox.sdk.metric_labels).
TENANT_LABELLED_METRICS: Final = frozenset(
    {
        METRIC_TOKEN_USAGE,
        METRIC_OPERATION_DURATION,
        METRIC_TIME_TO_FIRST_CHUNK,
        METRIC_TIME_PER_OUTPUT_CHUNK,
        METRIC_HTTP_SERVER_DURATION,
        METRIC_COST,
        METRIC_COST_UNPRICED,
        METRIC_CACHE_TOKENS,
        METRIC_ACTIVITY_TRANSITIONS,
        METRIC_ACTIVITY_DURATION,
        METRIC_APPROVAL_BACKLOG,
        METRIC_AI_CALLS_REFUSED,
        METRIC_EVALUATION_RESULTS,
        METRIC_EVALUATION_SCORE,
        METRIC_GUARDRAIL_CHECKS,
    }
)

# GenAI metrics recorded by the upstream instrumentations or by glassbox that get the prompt labels (PROMPT_NAME,
# PROMPT_VERSION) of the glassbox.prompt block they are recorded in (see glassbox.sdk.metric_labels). The cost
# counters take them from the model-call span instead (glassbox.sdk.span_processor), so a call is labelled by the
# prompt it started in, however late its span ends.
PROMPT_LABELLED_METRICS: Final = frozenset(
    {
        METRIC_TOKEN_USAGE,
        METRIC_OPERATION_DURATION,
        METRIC_TIME_TO_FIRST_CHUNK,
        METRIC_TIME_PER_OUTPUT_CHUNK,
        METRIC_EVALUATION_RESULTS,
        METRIC_EVALUATION_SCORE,
    }
)

# Prometheus exposition names of the metrics above, as the OTel Prometheus/OTLP translation spells them.
PROMETHEUS_NAMES: Final[Mapping[str, str]] = {
    METRIC_TOKEN_USAGE: "gen_ai_client_token_usage",
    METRIC_OPERATION_DURATION: "gen_ai_client_operation_duration_seconds",
    METRIC_TIME_TO_FIRST_CHUNK: "gen_ai_client_operation_time_to_first_chunk_seconds",
    METRIC_TIME_PER_OUTPUT_CHUNK: "gen_ai_client_operation_time_per_output_chunk_seconds",
    METRIC_COST: "glassbox_gen_ai_cost_usd_total",
    METRIC_COST_UNPRICED: "glassbox_gen_ai_cost_unpriced_total",
    METRIC_HTTP_SERVER_DURATION: "http_server_request_duration_seconds",
    METRIC_ACTIVITY_TRANSITIONS: "glassbox_activity_transitions_total",
    METRIC_ACTIVITY_DURATION: "glassbox_activity_duration_seconds",
    METRIC_APPROVAL_BACKLOG: "glassbox_activity_approval_backlog",
    METRIC_QUEUE_DEPTH: "glassbox_queue_depth",
    METRIC_QUEUE_DEAD_LETTERS: "glassbox_queue_dead_letters",
    METRIC_CACHE_TOKENS: "glassbox_gen_ai_cache_tokens_total",
    METRIC_SDK_SPANS_EXPORTED: "otel_sdk_exporter_span_exported_total",
    METRIC_BUDGET_LIMIT: "glassbox_budget_limit_usd",
    METRIC_BUDGET_SPENT: "glassbox_budget_spent_usd",
    METRIC_AI_CALLS_REFUSED: "glassbox_ai_calls_refused_total",
    METRIC_AI_KILL_SWITCH: "glassbox_ai_kill_switch",
    METRIC_AUDIT_EVENTS: "glassbox_audit_events_total",
    METRIC_AUDIT_WRITE_FAILURES: "glassbox_audit_write_failures_total",
    METRIC_AUDIT_SPOOLED: "glassbox_audit_spooled",
    METRIC_STATE_FAILURES: "glassbox_state_failures_total",
    METRIC_TELEMETRY_DROPPED: "glassbox_telemetry_dropped_total",
    METRIC_EVALUATION_DROPPED: "glassbox_evaluation_dropped_total",
    METRIC_STATE_CONNECTED: "glassbox_state_connected",
    METRIC_EVALUATION_RESULTS: "glassbox_evaluation_results_total",
    METRIC_EVALUATION_SCORE: "glassbox_evaluation_score",
    METRIC_PROMPT_VERSIONS: "glassbox_prompt_versions",
    METRIC_GUARDRAIL_CHECKS: "glassbox_guardrail_checks_total",
}

# --------------------------------------------------------------------------- logs
# Fields of every JSON log line (in this order), then any ``extra`` the caller passed.
LOG_FIELDS: Final = ("time", "level", "logger", "message", "service", "trace_id", "span_id", "tenant", "request_id")

# Audit events travel as OTel log events with this event name, and these attributes (Loki keeps them as
# structured metadata, dots spelled as underscores: see loki_field).
AUDIT_EVENT_NAME: Final = "glassbox.audit"
AUDIT_ACTOR_TYPE: Final = "glassbox.audit.actor.type"
AUDIT_ACTOR_ID: Final = "glassbox.audit.actor.id"
AUDIT_ACTION: Final = "glassbox.audit.action"
AUDIT_RESOURCE_TYPE: Final = "glassbox.audit.resource.type"
AUDIT_RESOURCE_ID: Final = "glassbox.audit.resource.id"
AUDIT_OUTCOME: Final = "glassbox.audit.outcome"
AUDIT_EVENT_ID: Final = "glassbox.audit.event.id"
AUDIT_SEQUENCE: Final = "glassbox.audit.sequence"
# SHA-256 of the event's canonical JSON without seq/prev/hash: `glassbox audit verify --against-loki` compares
# each chained record with the copy Loki received when it happened.
AUDIT_DIGEST: Final = "glassbox.audit.digest"
AUDIT_MODE: Final = "glassbox.audit.mode"
# The chain a record's or a checkpoint's copy belongs to: the log ("file", a host's file; "central", the fleet's
# table) and the chain's identity (the hash of its first record), so that the copies of several chains in one
# Loki stay apart.
AUDIT_LOG: Final = "glassbox.audit.log"
AUDIT_CHAIN: Final = "glassbox.audit.chain"
# Every signed checkpoint also goes to Loki's audit stream (the witness), as a log event of its own routed like
# audit events: its canonical JSON (seq, hash, time, every, key_id, signature) and its sequence number.
AUDIT_CHECKPOINT_EVENT_NAME: Final = "glassbox.audit.checkpoint"
AUDIT_CHECKPOINT_SIGNED: Final = "glassbox.audit.checkpoint.signed"
AUDIT_CHECKPOINT_SEQUENCE: Final = "glassbox.audit.checkpoint.sequence"
# The event names the collector routes to the audit stream (collector/config.yaml, filter/*audit*).
AUDIT_STREAM_EVENT_NAMES: Final = (AUDIT_EVENT_NAME, AUDIT_CHECKPOINT_EVENT_NAME)
# Audit actions of a control change (the kill switch, a budget): in the fleet's chain their success record is written
# by the database function that makes the change, in its transaction, and by nothing else
# (glassbox/db/sql/v2_least_privilege.sql names the same three).
CONTROL_CHANGE_ACTIONS: Final = ("kill_switch.on", "kill_switch.off", "budget.change")
AI_CALL_REFUSED_EVENT: Final = "glassbox.ai.call_refused"
AUDIT_FIELDS: Final = (
    AUDIT_ACTOR_TYPE,
    AUDIT_ACTOR_ID,
    AUDIT_ACTION,
    AUDIT_RESOURCE_TYPE,
    AUDIT_RESOURCE_ID,
    AUDIT_OUTCOME,
)

# --------------------------------------------------------------------------- resource
DEPLOYMENT_ENVIRONMENT: Final = "deployment.environment.name"
SERVICE_NAME: Final = "service.name"
TELEMETRY_DISTRO_NAME: Final = "telemetry.distro.name"
TELEMETRY_DISTRO_VERSION: Final = "telemetry.distro.version"
DISTRO_NAME: Final = "glassbox"

# --------------------------------------------------------------------------- the stack
# Audit events are routed by the collector into their own Loki stream, kept for years: the collector adds
# this resource attribute, which Loki indexes as the label below (loki/loki.yaml, collector/config.yaml).
AUDIT_STREAM_ATTRIBUTE: Final = "glassbox.stream"
AUDIT_STREAM_VALUE: Final = "audit"
LOKI_AUDIT_STREAM_LABEL: Final = "glassbox_stream"
# Loki index labels: a deliberate, bounded set. Everything else (trace_id, tenant, user) is structured metadata.
LOKI_INDEX_LABELS: Final = ("service_name", "deployment_environment_name", LOKI_AUDIT_STREAM_LABEL)

# Loki keeps OTLP log attributes it does not index as structured metadata, named with dots as underscores.
LOKI_TRACE_ID_FIELD: Final = "trace_id"


def loki_field(attribute_name: str) -> str:
    """The structured-metadata name Loki's OTLP ingestion gives a log attribute."""
    return attribute_name.replace(".", "_").replace("-", "_")


# Grafana datasource UIDs (grafana/provisioning/datasources), fixed so dashboards and links can name them.
DATASOURCE_PROMETHEUS: Final = "glassbox-prometheus"
DATASOURCE_LOKI: Final = "glassbox-loki"
DATASOURCE_TEMPO: Final = "glassbox-tempo"

# `glassbox doctor` emits one canary trace, log record and metric point through the collector.
CANARY_SERVICE_NAME: Final = "glassbox-doctor"
CANARY_ID: Final = "glassbox.canary.id"
CANARY_SPAN_NAME: Final = "glassbox canary"
METRIC_CANARY_TIMESTAMP: Final = "glassbox.canary.timestamp"
PROMETHEUS_CANARY_TIMESTAMP: Final = "glassbox_canary_timestamp_seconds"

# The collector's own metrics (collector v0.161, scraped by Prometheus as job "otelcol"; no _total suffix).
# The send_failed_* series exist only once an exporter has given up on some data.
COLLECTOR_JOB: Final = "otelcol"
# Prometheus jobs of the stack's own components (prometheus/prometheus.yml, prometheus/targets/).
STACK_JOBS: Final = ("prometheus", COLLECTOR_JOB, "loki", "tempo", "grafana")
COLLECTOR_SIGNALS: Final = ("spans", "log_records", "metric_points")
# The collector's exporter for the audit stream (collector/config.yaml); its failures are audit write failures.
COLLECTOR_AUDIT_EXPORTER: Final = "otlp_http/loki_audit"
COLLECTOR_METRICS: Final = (
    "otelcol_receiver_accepted_spans",
    "otelcol_receiver_accepted_log_records",
    "otelcol_receiver_accepted_metric_points",
    "otelcol_receiver_refused_spans",
    "otelcol_receiver_refused_log_records",
    "otelcol_receiver_refused_metric_points",
    "otelcol_exporter_sent_spans",
    "otelcol_exporter_sent_log_records",
    "otelcol_exporter_sent_metric_points",
    "otelcol_exporter_send_failed_spans",
    "otelcol_exporter_send_failed_log_records",
    "otelcol_exporter_send_failed_metric_points",
    "otelcol_exporter_queue_size",
    "otelcol_exporter_queue_capacity",
)
