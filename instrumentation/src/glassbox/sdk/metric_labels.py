"""The tenant and prompt labels on request-scoped metrics, without a second set of instruments.

The upstream instrumentations record the standard metrics (``gen_ai.client.token.usage``,
``gen_ai.client.operation.duration``, ``http.server.request.duration``, ...) with no tenant, and the SDK
offers no hook that adds an attribute to another library's measurements. Recording glassbox copies of them
would double the per-measurement cost and leave two series that can drift, so instead glassbox wraps the
meter provider's measurement consumer: a measurement of one of ``conventions.TENANT_LABELLED_METRICS``
gets ``glassbox.tenant.id`` from the baggage of the context it was recorded in, through the tenant
cardinality cap, before the SDK aggregates it; and a measurement of one of ``conventions.PROMPT_LABELLED_METRICS``
recorded inside a ``glassbox.prompt`` block gets ``glassbox.prompt.name`` and ``glassbox.prompt.version``
(:func:`glassbox.api.prompts.current`), through the prompt-version cap. Exemplars are untouched: they come from
the same context.

This reaches into the SDK's internals (``MeterProvider._measurement_consumer``), which the pinned SDK
version has; the tests that read the tenant label on upstream metrics (``test_genai``, ``test_attribution``)
fail if a new version changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider

from glassbox import attribution, instruments
from glassbox import conventions as c
from glassbox.api import prompts

PromptLabels = Callable[[str, str], dict[str, str]]


def _prompt_labels(name: str, version: str) -> dict[str, str]:
    return instruments.get().prompts.labels(name, version)


class TenantLabellingConsumer:
    def __init__(
        self,
        inner: Any,
        label: Callable[[object], str],
        names: frozenset[str],
        prompt_labels: PromptLabels = _prompt_labels,
        prompt_names: frozenset[str] = c.PROMPT_LABELLED_METRICS,
    ) -> None:
        self._inner = inner
        self._label = label
        self._names = names
        self._prompt_labels = prompt_labels
        self._prompt_names = prompt_names

    def consume_measurement(self, measurement: Any) -> None:
        name = measurement.instrument.name
        attributes = measurement.attributes
        labelled: dict[str, Any] | None = None
        if name in self._names and (not attributes or c.TENANT_ID not in attributes):
            labelled = dict(attributes) if attributes else {}
            labelled[c.TENANT_ID] = self._label(attribution.tenant(measurement.context))
        if name in self._prompt_names and (not attributes or c.PROMPT_NAME not in attributes):
            used = prompts.current()
            if used is not None:
                if labelled is None:
                    labelled = dict(attributes) if attributes else {}
                labelled.update(self._prompt_labels(*used))
        if labelled is not None:
            # Measurement is frozen and has already cleaned its attributes; the labels are checked strs, so
            # they are set without a second (costly) cleaning pass.
            object.__setattr__(measurement, "attributes", labelled)
        self._inner.consume_measurement(measurement)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def install(meter_provider: MeterProvider, label: Callable[[object], str]) -> None:
    """Wrap the provider's consumer; call before any meter is taken from the provider."""
    consumer = meter_provider._measurement_consumer
    if not isinstance(consumer, TenantLabellingConsumer):
        meter_provider._measurement_consumer = TenantLabellingConsumer(  # type: ignore[assignment]
            consumer, label, c.TENANT_LABELLED_METRICS
        )
