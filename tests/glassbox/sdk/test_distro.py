"""glassbox.sdk.distro: defaults that never override the user, the instrumentors it loads, and only under its own
distro."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from glassbox.sdk import distro
from tests.conftest import ROOT, run_instrumented


def test_distro_defaults_never_override_the_user() -> None:
    environ: dict[str, str] = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=billing,deployment.environment.name=prod",
        "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup",
    }
    distro.apply_defaults(environ)
    assert environ["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    assert environ["OTEL_RESOURCE_ATTRIBUTES"] == "service.name=billing,deployment.environment.name=prod"
    assert "OTEL_SERVICE_NAME" not in environ
    assert environ["OTEL_SEMCONV_STABILITY_OPT_IN"] == "http/dup"
    assert environ["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"


def test_distro_fills_what_is_missing() -> None:
    environ: dict[str, str] = {"GLASSBOX_ENVIRONMENT": "staging"}
    distro.apply_defaults(environ)
    assert environ["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://localhost:4318"
    assert environ["OTEL_SERVICE_NAME"]
    assert environ["OTEL_RESOURCE_ATTRIBUTES"] == "deployment.environment.name=staging"
    # export batches of 128 (the SDK's 512 hold the interpreter lock long enough to lift p99)
    assert environ["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] == environ["OTEL_BLRP_MAX_EXPORT_BATCH_SIZE"] == "128"
    assert distro.default_service_name(["/srv/app/worker.py"]) == "worker"
    assert distro.default_service_name(["-c"]) == "python-app"


class _RecordingInstrumentor:
    seen: ClassVar[list[dict[str, Any]]] = []

    def instrument(self, **kwargs: Any) -> None:
        self.seen.append(kwargs)


class _EntryPoint:
    def __init__(self, name: str) -> None:
        self.name = name

    def load(self) -> type:
        return _RecordingInstrumentor


@pytest.mark.parametrize(
    "name, setting, expected",
    [("fastapi", None, ["receive", "send"]), ("fastapi", "true", None), ("httpx", None, None)],
)
def test_asgi_message_spans_are_left_out_unless_asked(
    monkeypatch: pytest.MonkeyPatch, name: str, setting: str | None, expected: list[str] | None
) -> None:
    if setting is not None:
        monkeypatch.setenv("GLASSBOX_ASGI_MESSAGE_SPANS", setting)
    _RecordingInstrumentor.seen.clear()
    distro.GlassboxDistro().load_instrumentor(_EntryPoint(name))
    assert _RecordingInstrumentor.seen[-1].get("exclude_spans") == expected


@pytest.mark.parametrize("chosen", ["glassbox", "distro"])
def test_glassbox_acts_after_instrumenting_only_under_its_own_distro(chosen: str) -> None:
    """Installed beside another distro, glassbox leaves the app's logging and the model SDKs alone."""
    script = (
        "import logging; from glassbox.guard import GuardInstrumentor\n"
        "from glassbox.sdk.logs import GlassboxLogFilter\n"
        "filtered = any(isinstance(f, GlassboxLogFilter) for h in logging.getLogger().handlers for f in h.filters)\n"
        "print(GuardInstrumentor().is_instrumented_by_opentelemetry, filtered)"
    )
    configurator = chosen if chosen == "glassbox" else "configurator"
    result = run_instrumented(script, cwd=ROOT, OTEL_PYTHON_DISTRO=chosen, OTEL_PYTHON_CONFIGURATOR=configurator)
    assert result.returncode == 0, result.stderr
    expected = "True True" if chosen == "glassbox" else "False False"
    assert result.stdout.strip().splitlines()[-1] == expected
