"""The metric instruments glassbox records, created once per meter provider.

The same instruments feed every reader of the meter provider: the Prometheus ``/metrics`` endpoint and
the OTLP exporter to the collector, so the two can never drift.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Iterator

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from glassbox import conventions as c
from glassbox import settings
from glassbox.redaction import Redactor, build_redactor
from glassbox.tenant_labels import PromptLimiter, TenantLimiter
from glassbox.version import __version__


class Instruments:
    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        max_tenants: int | None = None,
        max_prompt_versions: int | None = None,
    ) -> None:
        meter = metrics.get_meter("glassbox", __version__, meter_provider=meter_provider)
        self.cost = meter.create_counter(
            c.METRIC_COST,
            unit=c.UNIT_USD,
            description="Cost of model calls in US dollars, computed offline from dated prices.",
        )
        self.cost_unpriced = meter.create_counter(
            c.METRIC_COST_UNPRICED,
            unit="{call}",
            description="Model calls that got no cost, by reason (unknown model, missing usage, ...).",
        )
        self.cache_tokens = meter.create_counter(
            c.METRIC_CACHE_TOKENS,
            unit="{token}",
            description="Input tokens of model calls read from or written to the provider's prompt cache.",
        )
        self.attribution_invalid = meter.create_counter(
            c.METRIC_ATTRIBUTION_INVALID,
            unit="{value}",
            description="Attribution values (tenant, user, session, request id) replaced by a placeholder.",
        )
        self.tenant_overflow = meter.create_counter(
            c.METRIC_TENANT_OVERFLOW,
            unit="{value}",
            description="Tenant label values folded into the overflow value by the cardinality cap.",
        )
        self.prompt_overflow = meter.create_counter(
            c.METRIC_PROMPT_OVERFLOW,
            unit="{value}",
            description="Prompt name and version label pairs folded into the overflow value by the cardinality cap.",
        )
        self.secrets_redacted = meter.create_counter(
            c.METRIC_LOG_SECRETS_REDACTED,
            unit="{match}",
            description="Secrets and personal data removed from log records, by kind.",
        )
        self.content_redacted = meter.create_counter(
            c.METRIC_CONTENT_REDACTED,
            unit="{match}",
            description="Secrets and personal data removed from captured GenAI content, by kind.",
        )
        self.span_secrets_redacted = meter.create_counter(
            c.METRIC_SPAN_SECRETS_REDACTED,
            unit="{match}",
            description="Secrets and personal data removed from span attributes, events, status messages and names.",
        )
        self.telemetry_dropped = meter.create_counter(
            c.METRIC_TELEMETRY_DROPPED,
            unit="{item}",
            description="Telemetry glassbox itself could not deliver or record, by signal and reason.",
        )
        self.state_failures = meter.create_counter(
            c.METRIC_STATE_FAILURES,
            unit="{operation}",
            description="Operations the shared state (files or PostgreSQL) could not do in time, by operation.",
        )
        self.activity_transitions = meter.create_counter(
            c.METRIC_ACTIVITY_TRANSITIONS,
            unit="{activity}",
            description="Pipeline activities entering a status, by agent role and deliverable type.",
        )
        self.activity_duration = meter.create_histogram(
            c.METRIC_ACTIVITY_DURATION,
            unit="s",
            description="Time from an activity's creation to its completion or failure.",
        )
        self.approval_backlog = meter.create_up_down_counter(
            c.METRIC_APPROVAL_BACKLOG,
            unit="{activity}",
            description="Activities waiting for a human approval.",
        )
        self.evaluation_results = meter.create_counter(
            c.METRIC_EVALUATION_RESULTS,
            unit="{result}",
            description="Feedback and evaluation results, by evaluation name, outcome, model, agent and tenant.",
        )
        self.evaluation_dropped = meter.create_counter(
            c.METRIC_EVALUATION_DROPPED,
            unit="{evaluation}",
            description="Online evaluations not done, by evaluator and reason (queue full, evaluator error, ...).",
        )
        self.evaluation_score = meter.create_histogram(
            c.METRIC_EVALUATION_SCORE,
            unit="{score}",
            description="Scores of feedback and evaluation results (0..1, higher is better).",
            explicit_bucket_boundaries_advisory=list(c.EVALUATION_SCORE_BUCKETS),
        )
        limit = settings.MAX_TENANTS.get() if max_tenants is None else max_tenants
        self.tenants = TenantLimiter(
            limit,
            on_overflow=lambda: self.tenant_overflow.add(1),
            on_invalid=self.count_invalid,
            on_error=lambda: self.count_dropped("metrics", "tenant_label_error"),
        )
        self.prompts = PromptLimiter(
            settings.PROMPT_VERSIONS_MAX.get() if max_prompt_versions is None else max_prompt_versions,
            on_overflow=lambda: self.prompt_overflow.add(1),
        )
        meter.create_observable_gauge(
            c.METRIC_PROMPT_VERSIONS,
            callbacks=[self._prompt_versions],
            unit="{version}",
            description="1 for each prompt version the process uses, with the version it is compared with.",
        )
        self.log_redactor: Redactor = build_redactor(
            on_redact=lambda kind: self.secrets_redacted.add(1, {c.LABEL_KIND: kind})
        )
        self.content_redactor: Redactor = build_redactor(
            on_redact=lambda kind: self.content_redacted.add(1, {c.LABEL_KIND: kind})
        )
        self.span_redactor: Redactor = build_redactor(
            on_redact=lambda kind: self.span_secrets_redacted.add(1, {c.LABEL_KIND: kind})
        )

    def _prompt_versions(self, _options: CallbackOptions) -> Iterator[Observation]:
        for (name, version), baseline in self.prompts.baselines().items():
            labels = {c.PROMPT_NAME: name, c.PROMPT_VERSION: version}
            if baseline is not None:
                labels[c.PROMPT_BASELINE] = baseline
            yield Observation(1, labels)

    def checked_label(self, value: object, field: str, pattern: re.Pattern[str]) -> str:
        """``value`` as a metric label if it matches ``pattern``, else ``_invalid`` (counted for ``field``)."""
        if isinstance(value, str) and pattern.fullmatch(value):  # match() would let "$" pass a trailing newline
            return value
        self.count_invalid(field)
        return c.PLACEHOLDER_INVALID

    def count_invalid(self, field: str) -> None:
        self.attribution_invalid.add(1, {c.LABEL_FIELD: field})

    def count_dropped(self, signal: str, reason: str, count: int = 1) -> None:
        self.telemetry_dropped.add(count, {c.LABEL_SIGNAL: signal, c.LABEL_REASON: reason})


_lock = threading.Lock()
_instruments: Instruments | None = None


def count_dropped_quietly(signal: str, reason: str) -> None:
    """Count a drop on the process-wide instruments without ever raising: the code that counts goes on."""
    with contextlib.suppress(Exception):
        get().count_dropped(signal, reason)


def get() -> Instruments:
    """The process-wide instruments (on the global meter provider unless :func:`install` set others)."""
    global _instruments
    if _instruments is None:
        with _lock:
            if _instruments is None:
                _instruments = Instruments()
    return _instruments


def install(instruments: Instruments) -> None:
    global _instruments
    _instruments = instruments
