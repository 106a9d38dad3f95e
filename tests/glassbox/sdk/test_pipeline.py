"""glassbox.sdk.pipeline: one pipeline per process, registered as the global providers and flushed at shutdown."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import free_port

CONFIGURE = """
import json
import glassbox
from glassbox.sdk import pipeline, shutdown
from opentelemetry import _logs, metrics, trace

first = glassbox.configure()
print(json.dumps({
    "same_pipeline": glassbox.configure() is first and pipeline.current() is first,
    "flushed_at_shutdown": shutdown._target is first,
    "global_providers": [
        trace.get_tracer_provider() is first.tracer_provider,
        metrics.get_meter_provider() is first.meter_provider,
        _logs.get_logger_provider() is first.logger_provider,
    ],
    "resource": dict(first.tracer_provider.resource.attributes),
    "span_processors": [type(p).__name__ for p in first.tracer_provider._active_span_processor._span_processors],
    "flushed": first.force_flush(1000),
}))
"""


def configure_in_a_process(**env: str) -> dict[str, object]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    environ.update(
        OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none", OTEL_SERVICE_NAME="svc"
    )
    environ.update(env)
    result = subprocess.run([sys.executable, "-c", CONFIGURE], capture_output=True, text=True, env=environ, timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_configure_builds_one_pipeline_registers_it_everywhere_and_hands_it_to_shutdown() -> None:
    got = configure_in_a_process(GLASSBOX_METRICS_PORT="0", GLASSBOX_ENVIRONMENT="staging")
    assert got["same_pipeline"] is True
    assert got["flushed_at_shutdown"] is True
    assert got["global_providers"] == [True, True, True]
    assert got["span_processors"] == ["GlassboxSpanProcessor"]
    assert got["flushed"] is True
    resource = got["resource"]
    assert isinstance(resource, dict)
    assert resource["service.name"] == "svc"
    assert resource["deployment.environment.name"] == "staging"
    assert resource["telemetry.distro.name"] == "glassbox"


def test_an_environment_named_by_the_user_wins_over_glassbox_s() -> None:
    got = configure_in_a_process(
        GLASSBOX_METRICS_PORT="0",
        GLASSBOX_ENVIRONMENT="staging",
        OTEL_RESOURCE_ATTRIBUTES="deployment.environment.name=prod",
    )
    resource = got["resource"]
    assert isinstance(resource, dict)
    assert resource["deployment.environment.name"] == "prod"


@pytest.mark.parametrize("taken", [False, True])
def test_the_metrics_endpoint_serves_or_says_why_it_cannot(taken: bool) -> None:
    import socket

    port = free_port()
    holder = socket.socket()
    if taken:
        holder.bind(("127.0.0.1", port))
        holder.listen()
    code = (
        CONFIGURE.replace('"flushed": first.force_flush(1000),', "")
        + "import urllib.request\n"
        + f"try:\n    body = urllib.request.urlopen('http://127.0.0.1:{port}/metrics', timeout=5).read().decode()\n"
        + "except OSError:\n    body = ''\n"
        + "print(json.dumps({'served': 'target_info' in body or '# HELP' in body}))\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    environ.update(
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        GLASSBOX_METRICS_PORT=str(port),
    )
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=60)
    finally:
        holder.close()
    assert result.returncode == 0, result.stderr
    served = json.loads(result.stdout.strip().splitlines()[-1])["served"]
    assert served is (not taken)
    said = f"/metrics endpoint not started on 127.0.0.1:{port}" in result.stderr
    assert said is taken
