"""Shared fixtures: the stub LLM server, an in-memory OpenTelemetry SDK with glassbox, free ports."""

from __future__ import annotations

import os

# What the glassbox distro sets under opentelemetry-instrument; set before any instrumentation loads.
os.environ.setdefault("OTEL_SEMCONV_STABILITY_OPT_IN", "http")
# LiteLLM fetches its model map from GitHub on import unless told to use the copy it ships (tests run offline).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry import context as otel_context
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from glassbox import attribution
from glassbox import conventions as c
from glassbox import instruments as instruments_module
from glassbox import state as state_module
from glassbox.audit import events as audit_events
from glassbox.audit.chain import AuditLog
from glassbox.guard import GuardInstrumentor, budgets, spend_writer
from glassbox.guard import core as guard_core
from glassbox.instruments import Instruments
from glassbox.sdk import metric_labels
from glassbox.sdk.logs import GlassboxLogRecordProcessor
from glassbox.sdk.span_processor import GlassboxSpanProcessor

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The settings that name the files glassbox keeps beside an app, and where each goes in a state directory.
STATE_FILES = {
    "GLASSBOX_BUDGETS_STATE": "spend.sqlite",
    "GLASSBOX_AUDIT_DIR": "audit",
    "GLASSBOX_AUDIT_CHECKPOINT_DIR": "audit-checkpoints",
    "GLASSBOX_AUDIT_KEY_FILE": "keys/audit.key",
    "GLASSBOX_AUDIT_SPOOL_DIR": "audit-spool",
    "GLASSBOX_KILL_SWITCH_FILE": "kill-switch",
}


def state_env(directory: Path) -> dict[str, str]:
    """Settings that put glassbox's spend, audit log and kill switch under ``directory``."""
    return {name: str(directory / relative) for name, relative in STATE_FILES.items()}


def instrumented_env(**settings: str) -> dict[str, str]:
    """This environment for a process under ``opentelemetry-instrument`` with the glassbox distro: no OTEL_* or
    GLASSBOX_* of the test run's own, this venv's scripts on PATH, no /metrics port, then ``settings``."""
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    env.update(
        PATH=f"{bin_dir}:{env.get('PATH', '')}",
        OTEL_PYTHON_DISTRO="glassbox",
        OTEL_PYTHON_CONFIGURATOR="glassbox",
        GLASSBOX_METRICS_PORT="0",
    )
    env.update(settings)
    return env


def run_instrumented(script: str, cwd: Path | None = None, **settings: str) -> subprocess.CompletedProcess[str]:
    """``opentelemetry-instrument python -c script`` (exporters off, so no network), finished."""
    command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, "-c", script]
    exporters_off = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    env = instrumented_env(**{**exporters_off, **settings})
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, cwd=cwd)


def wait_http(url: str, timeout: float = 20.0, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


@pytest.fixture(scope="session")
def stub_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "stub_llm" / "server.py"), "--port", str(port), "--latency-ms", "1"],
        env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


class Telemetry:
    """The in-memory SDK that the unit tests read: spans, log records and metric points."""

    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        self.logs = InMemoryLogRecordExporter()
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        metric_labels.install(self.meter_provider, lambda tenant: self.instruments.tenants.label(tenant))
        self.instruments = Instruments(meter_provider=self.meter_provider, max_tenants=50)
        self.processor = GlassboxSpanProcessor(SimpleSpanProcessor(self.spans), instruments=self.instruments)
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(self.processor)
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(GlassboxLogRecordProcessor(SimpleLogRecordProcessor(self.logs)))

    def finished(self) -> list[Any]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str, **match: Any) -> list[Any]:
        """Data points of metric ``name`` whose attributes include ``match`` (dots as ``__``)."""
        wanted = {k.replace("__", "."): v for k, v in match.items()}
        found = []
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        if all(attributes.get(k) == v for k, v in wanted.items()):
                            found.append(point)
        return found

    def total(self, name: str, **match: Any) -> float:
        return sum(getattr(p, "sum", getattr(p, "value", 0)) for p in self.points(name, **match))


_telemetry: Telemetry | None = None


@pytest.fixture(scope="session")
def _global_telemetry() -> Telemetry:
    """One SDK for the whole session (the OTel API allows setting global providers only once)."""
    global _telemetry
    if _telemetry is None:
        _telemetry = Telemetry()
        trace.set_tracer_provider(_telemetry.tracer_provider)
        metrics.set_meter_provider(_telemetry.meter_provider)
        _logs.set_logger_provider(_telemetry.logger_provider)
        instruments_module.install(_telemetry.instruments)
        from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor
        from opentelemetry.instrumentation.genai.bedrock import BedrockInstrumentor
        from opentelemetry.instrumentation.genai.langchain import LangChainInstrumentor
        from opentelemetry.instrumentation.genai.llama_index import LlamaIndexInstrumentor
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
        from opentelemetry.instrumentation.genai.openai_agents import OpenAIAgentsInstrumentor
        from opentelemetry.instrumentation.google_genai import GoogleGenAiSdkInstrumentor

        from glassbox.integrations.litellm import LiteLLMInstrumentor

        OpenAIInstrumentor().instrument()
        AnthropicInstrumentor().instrument()
        GoogleGenAiSdkInstrumentor().instrument()
        BedrockInstrumentor().instrument()
        LangChainInstrumentor().instrument()
        LlamaIndexInstrumentor().instrument()
        LiteLLMInstrumentor().instrument()
        # The Agents SDK's own exporter would send its traces to OpenAI: the tests keep only the OTel processor.
        from agents.tracing import set_trace_processors

        set_trace_processors([])
        OpenAIAgentsInstrumentor().instrument()
    return _telemetry


@pytest.fixture
def telemetry(_global_telemetry: Telemetry) -> Telemetry:
    _global_telemetry.spans.clear()
    _global_telemetry.logs.clear()
    _global_telemetry.instruments.tenants.forget()  # each test's tenants get their own labels, whatever ran before
    return _global_telemetry


@pytest.fixture
def guarded(tmp_path: Path, telemetry: Telemetry) -> Iterator[AuditLog]:
    """The guard in front of the model SDKs, an audit log of the test's own, and no fallback or budgets left after."""
    if not GuardInstrumentor().is_instrumented_by_opentelemetry:
        GuardInstrumentor().instrument()
    log = AuditLog(tmp_path / "audit.jsonl", tmp_path / "cp" / "audit.checkpoints", tmp_path / "key")
    audit_events.use_log(log)
    yield log
    audit_events.use_log(None)
    guard_core.set_fallback(None)
    budgets.install(None)


@pytest.fixture
def tenant() -> Iterator[str]:
    """A new tenant (and a request id) in the current context, as the edge would attach them."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    token = otel_context.attach(attribution.with_attribution({c.TENANT_ID: name, c.REQUEST_ID: f"req-{name}"}))
    yield name
    otel_context.detach(token)


@pytest.fixture(autouse=True)
def _state_outside_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files glassbox keeps beside an app (spend, audit log, kill switch) go to the test's own directory."""
    for name, value in state_env(tmp_path / "glassbox-state").items():
        monkeypatch.setenv(name, value)
    audit_events.use_log(None)  # the next audit event opens the log and spool these settings name
    guard_core.reset()  # the guard reads its settings again, budgets the file the settings name
    attribution.reset()  # GLASSBOX_ATTRIBUTION_SOURCE is read again
    budgets.reset()
    spend_writer.flush()  # spend written behind goes to the state it was booked in, not to this test's
    previous = state_module.use(None)  # the next use opens the state these settings name
    if previous is not None:
        previous.close()


class Postgres:
    """The tests' PostgreSQL cluster (Debian's package, run as the postgres user, with pgaudit loaded), one fresh
    database per test."""

    def __init__(self) -> None:
        import secrets
        import tempfile

        from stack.postgres import FAST, Cluster, pgaudit_installed

        if not pgaudit_installed():
            raise RuntimeError(
                "pgaudit is not installed for this PostgreSQL; `make test` installs it (see the Makefile)"
            )
        self.cluster = Cluster(
            Path(tempfile.mkdtemp(prefix="glassbox-pg-")),
            free_port(),
            secrets.token_hex(12),
            (*FAST, "shared_preload_libraries=pgaudit"),
        )
        self.cluster.init()
        self.process = self.cluster.start()
        self.cluster.wait_ready(self.process)

    def database(self, migrated: bool = True) -> str:
        """A new database, with glassbox's schema, roles and grants unless ``migrated`` is False; its URL as the
        superuser (the schema's owner: what `glassbox state migrate` runs as)."""
        from glassbox.db import migrate

        url = self.cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")
        if migrated:
            with psycopg_connect(url) as connection:
                migrate(connection, roles=True)
        return url

    def login(self, admin_url: str, group: str, tenants: tuple[str, ...] = ()) -> str:
        """A new login role in ``group`` (glassbox_writer, glassbox_reader, glassbox_tenant_auditor); its URL on the
        database of ``admin_url``."""
        import secrets

        from glassbox.db import create_login_role

        name, password = f"r_{secrets.token_hex(6)}", secrets.token_urlsafe(12)
        with psycopg_connect(admin_url) as connection:
            create_login_role(connection, name, password, group, tenants)
        return self.cluster.url(admin_url.rsplit("/", 1)[1], name, password)

    def log(self) -> str:
        """What the server wrote to its log so far."""
        return (self.cluster.directory / "server.log").read_text(errors="replace")

    def restart(self, down_for: float = 0.0) -> None:
        self.cluster.stop(self.process)
        time.sleep(down_for)
        self.process = self.cluster.start()
        self.cluster.wait_ready(self.process)

    def stop(self) -> None:
        import shutil

        self.cluster.stop(self.process)
        shutil.rmtree(self.cluster.directory, ignore_errors=True)


def psycopg_connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """`make test` installs Debian's postgresql package: a missing one is an error here, not a skip."""
    from stack.postgres import bin_dir, missing_reason

    if bin_dir() is None:
        raise RuntimeError(f"{missing_reason()}; `make test` installs it (see the Makefile)")
    server = Postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(postgres: Postgres) -> str:
    """A fresh database of the tests' cluster with glassbox's schema, as the superuser (the schema's owner)."""
    return postgres.database()


@pytest.fixture
def pg_writer_url(postgres: Postgres, pg_url: str) -> str:
    """An app's URL on the database of ``pg_url``: a login role in glassbox_writer, nothing more."""
    return postgres.login(pg_url, "glassbox_writer")
