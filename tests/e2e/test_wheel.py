"""The package as users install it: a wheel, into a clean virtualenv, beside the versions an app already pins.

The app here pins other patch versions of what glassbox shares with it (the OpenTelemetry SDK, PyYAML,
cryptography, python-json-logger) than ``requirements/lock.txt`` does; pip must find a set that holds both,
and the installed glassbox must import, configure its pipeline and pass ``pip check``. A second app runs
LlamaIndex over the ``openai`` SDK, whose LlamaIndex integration needs an older ``openai`` than the lock's: its
own virtualenv shows such a call counted once. A plain install (no extra) runs every ``glassbox`` command and
each answers in its own words, never with a traceback. Needs the package index (as ``make test``'s own install
does).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

from glassbox import conventions as c
from glassbox.stack_addresses import PORT_DEFAULTS
from tests.conftest import ROOT, free_port, state_env
from tests.e2e.test_demo_subprocess import poll
from tests.support.otlp_receiver import OTLPReceiver

# What an app might already pin: each differs from requirements/lock.txt.
APP_PINS = ("opentelemetry-sdk==1.45.0", "PyYAML==6.0.2", "cryptography==46.0.7", "python-json-logger==4.1.0")
# The app's own model SDKs.
APP_SDKS = ("openai", "anthropic")


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600, cwd=cwd)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, ROOT / "instrumentation")
    (built,) = dist.glob("glassbox_otel-*.whl")
    yield built


def venv_with(venv: Path, *requirements: str | Path) -> Path:
    """A new virtualenv with ``requirements`` installed and consistent (``pip check``); its python."""
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requirements)
    run(python, "-m", "pip", "check")
    return python


# Every command, in the order run, with its exit status (None: either) and a line of its answer: the stack is not
# running (every port of it closed) and the state is the files state of a new directory, with a signing key.
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
COMMANDS: tuple[tuple[tuple[str, ...], int | None, str], ...] = (
    (("--help",), None, "usage: glassbox {doctor,story,audit,budgets,kill-switch,state}"),
    (("doctor", "--timeout", "1"), 1, "doctor: FAILED (collector, prometheus)"),
    (("story", TRACE_ID, "--timeout", "1"), None, "tempo: ConnectError"),
    (("audit", "export"), 0, f'"id": "{TRACE_ID}"'),  # the story's read, audited
    (("audit", "verify"), 1, "signatures not trusted"),
    (("audit", "verify", "--against-loki"), 2, "cannot read Loki's audit stream"),
    (("audit", "fingerprint"), 0, "<the key's fingerprint>"),
    (("budgets", "list"), 0, "state: files"),
    (("kill-switch", "status"), 0, "kill switch: off"),
    (("state", "status"), 0, "state: files"),
    # the fleet's commands say what they need
    (("state", "migrate", "--admin-url", "postgresql://owner@127.0.0.1:1/glassbox"), None, "glassbox-otel[postgres]"),
)


@pytest.fixture(scope="module")
def plain_install(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv of its own (no system site-packages) with the wheel and no extra; its bin directory."""
    venv = tmp_path_factory.mktemp("plain") / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    lock = ROOT / "requirements" / "lock.txt"
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", lock, wheel)
    run(python, "-m", "pip", "check")
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    return venv / "bin"


@pytest.mark.timeout(600)
def test_every_command_runs_from_a_plain_install(plain_install: Path, tmp_path: Path) -> None:
    # No extra: the PostgreSQL driver is not there, and the state is the files state.
    missing = subprocess.run([plain_install / "python", "-c", "import psycopg"], capture_output=True, text=True)
    assert "No module named 'psycopg'" in missing.stderr, missing
    closed = str(free_port())
    env = {
        "PATH": f"{plain_install}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        **state_env(tmp_path / "state"),
        **dict.fromkeys(PORT_DEFAULTS, closed),
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed}",
    }
    key = Ed25519PrivateKey.generate()
    key_file = Path(env["GLASSBOX_AUDIT_KEY_FILE"])
    key_file.parent.mkdir(parents=True)
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    key_file.chmod(0o600)
    fingerprint = hashlib.sha256(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).hexdigest()
    for arguments, status, expected in COMMANDS:
        line = expected.replace("<the key's fingerprint>", fingerprint)
        result = subprocess.run(
            [plain_install / "glassbox", *arguments], capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env
        )
        output = result.stdout + result.stderr
        assert "Traceback" not in output and "No module named" not in output, (arguments, output[-4000:])
        assert status is None or result.returncode == status, (arguments, result.returncode, output[-4000:])
        assert line in output, (arguments, output[-4000:])


def instrumented(venv: Path, script: str, cwd: Path, timeout: int, **settings: str) -> subprocess.CompletedProcess[str]:
    """``opentelemetry-instrument python -c script`` in ``venv``, with ``settings`` as its whole environment."""
    python = venv / "bin" / "python"
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "GLASSBOX_METRICS_PORT": "0", **settings}
    command = [str(venv / "bin" / "opentelemetry-instrument"), str(python), "-c", script]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)


@pytest.mark.timeout(900)
def test_the_wheel_installs_beside_an_apps_own_pins(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv_with(venv, f"{wheel}[postgres]", *APP_PINS, *APP_SDKS)
    installed = run(python, "-m", "pip", "list", "--format=freeze")
    for pin in APP_PINS:
        assert pin.lower() in installed.lower(), installed
    # Under opentelemetry-instrument the installed distro builds its pipeline and puts the guard in front of the
    # SDKs (exporters off and no /metrics port: no network).
    script = (
        "import glassbox, glassbox.sdk.pipeline, glassbox.state.postgres\n"
        "from glassbox.guard import GuardInstrumentor\n"
        "print(glassbox.__file__, type(glassbox.sdk.pipeline.current()).__name__, "
        "GuardInstrumentor().is_instrumented_by_opentelemetry)\n"
    )
    off = {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    result = instrumented(venv, script, tmp_path, 120, **off)
    assert result.returncode == 0, result.stderr[-4000:]
    path, pipeline, guarded = result.stdout.split()[-3:]
    assert path.startswith(str(venv)) and pipeline == "Pipeline" and guarded == "True", result.stdout


# LlamaIndex's OpenAI integration, with the openai SDK it requires (below 3; the lock has 3.x).
LLAMA_OPENAI_APP = ("llama-index-llms-openai==0.8.3",)
LLAMA_OPENAI_SCRIPT = """
import asyncio, os
from opentelemetry import baggage, context
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.llms.openai import OpenAI

def llm(**kwargs):
    url = os.environ["LLM_BASE_URL"] + "/v1"
    return OpenAI(model="gpt-4o-mini", api_base=url, api_key="sk-test", max_retries=0, **kwargs)

def lookup_order(query: str) -> str:
    \"\"\"Look an order up.\"\"\"
    return "order 42 shipped yesterday"

# The agent streams; LlamaIndex asks for the stream's usage only when told to.
usage = {"stream_options": {"include_usage": True}}
support = FunctionAgent(name="support", description="Orders.", tools=[lookup_order], llm=llm(additional_kwargs=usage))
plain = FunctionAgent(name="plain", description="Orders.", tools=[lookup_order], llm=llm())

async def main() -> None:
    print(await support.run("where is my order"))
    print(await plain.run("where is my order"))

context.attach(baggage.set_baggage("glassbox.tenant.id", "acme"))
asyncio.run(main())
"""


@pytest.mark.timeout(900)
def test_llama_index_over_the_openai_sdk_is_counted_once(wheel: Path, stub_url: str, tmp_path: Path) -> None:
    """LlamaIndex's agent and tool spans, and under the agent the OpenAI instrumentation's span for each model
    call: counted once, priced, with the agent's name and the tenant."""
    venv = tmp_path / "venv"
    python = venv_with(venv, f"{wheel}[llama-index]", *LLAMA_OPENAI_APP)
    openai_version = run(python, "-c", "import openai; print(openai.__version__)").strip()
    with OTLPReceiver() as receiver:
        result = instrumented(
            venv,
            LLAMA_OPENAI_SCRIPT,
            tmp_path,
            300,
            **state_env(tmp_path),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_SERVICE_NAME="llama-openai",
            LLM_BASE_URL=stub_url,
            HOME=os.environ.get("HOME", str(tmp_path)),
        )
        assert result.returncode == 0, result.stderr[-4000:]
        assert "stub" in result.stdout

        def model_spans() -> list[dict[str, Any]]:
            spans = receiver.spans()
            calls = [s for s in spans if s["attributes"].get(c.GEN_AI_OPERATION_NAME) in c.MODEL_CALL_OPERATIONS]
            return calls if {"invoke_agent support", "invoke_agent plain"} <= {s["name"] for s in spans} else []

        calls = poll(model_spans, timeout=30)
        names = {s["name"] for s in receiver.spans()}
    assert openai_version.startswith(("1.", "2.")), openai_version
    assert "execute_tool lookup_order" in names, names
    # per agent, one call chose the tool and one answered: each is one span, the OpenAI instrumentation's
    assert len(calls) == 4 and all(s["scope"].endswith("openai") for s in calls), calls
    for call in calls:
        attributes = call["attributes"]
        assert attributes[c.USAGE_COUNTED] is True and attributes[c.TENANT_ID] == "acme", attributes
        if attributes[c.GEN_AI_AGENT_NAME] == "support":
            assert attributes[c.COST_USD] > 0 and attributes[c.COST_STATUS] == c.COST_STATUS_PRICED
        else:  # a stream without its usage: counted as unpriced, never guessed
            assert c.COST_USD not in attributes and attributes[c.COST_STATUS] == c.COST_STATUS_MISSING_USAGE
