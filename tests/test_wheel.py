"""The package as users install it: a wheel, into a clean virtualenv, beside the versions an app already pins.

The app here pins other patch versions of what glassbox shares with it (the OpenTelemetry SDK, PyYAML,
cryptography, python-json-logger) than ``requirements/lock.txt`` does; pip must find a set that holds both,
and the installed glassbox must import, configure its pipeline and pass ``pip check``. Needs the package
index (as ``make test``'s own install does).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

# What an app might already pin: each differs from requirements/lock.txt.
APP_PINS = ("opentelemetry-sdk==1.45.0", "PyYAML==6.0.2", "cryptography==46.0.7", "python-json-logger==4.1.0")
# The app's own model SDKs.
APP_SDKS = ("openai", "anthropic")


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=600, cwd=cwd)
    assert result.returncode == 0, f"{command}: {result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result.stdout


@pytest.mark.timeout(900)
def test_the_wheel_installs_beside_an_apps_own_pins(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", dist, ROOT / "instrumentation")
    (wheel,) = dist.glob("glassbox-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        f"{wheel}[postgres]",
        *APP_PINS,
        *APP_SDKS,
    )
    run(python, "-m", "pip", "check")
    installed = run(python, "-m", "pip", "list", "--format=freeze")
    for pin in APP_PINS:
        assert pin.lower() in installed.lower(), installed
    # Under opentelemetry-instrument the installed distro builds its pipeline and puts the guard in front of the
    # SDKs (exporters off and no /metrics port: no network).
    script = (
        "import glassbox, glassbox.pipeline, glassbox.state.postgres\n"
        "from glassbox.guard import GuardInstrumentor\n"
        "print(glassbox.__file__, type(glassbox.pipeline.current()).__name__, "
        "GuardInstrumentor().is_instrumented_by_opentelemetry)\n"
    )
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "OTEL_TRACES_EXPORTER": "none",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "GLASSBOX_METRICS_PORT": "0",
    }
    result = subprocess.run(
        [str(venv / "bin" / "opentelemetry-instrument"), str(python), "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    path, pipeline, guarded = result.stdout.split()[-3:]
    assert path.startswith(str(venv)) and pipeline == "Pipeline" and guarded == "True", result.stdout
