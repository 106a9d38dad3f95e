"""The README's fleet example, run as written against the native PostgreSQL.

Its first block is one host's: `make up` (here the native runner's PostgreSQL, which `make up` starts, with its
state directory at `.state/stack` of a project directory of its own), then the other lines as written, in that
directory. Its second block is the fleet's: the database's host, its owner and the apps' password are the
placeholders; put in for this host's PostgreSQL, the lines run as written, from another directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from stack.native import NativeStack
from tests.conftest import ROOT
from tests.support.stack_fixtures import new_stack

# A replica: which state it uses, whether it answers, and as whom (the password masked).
APP = """
from glassbox import state

used = state.get()
print("state:", used.backend, used.healthy(), used.db.safe_url)
"""


def fleet_blocks() -> list[list[str]]:
    """The README's fenced shell blocks of its "Fleet mode" section, each as its command lines."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Fleet mode", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


def shell(lines: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The lines in one bash, stopping at the first that fails, with this venv's commands on PATH."""
    bin_dir = Path(sys.executable).parent
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    base.update(
        PATH=f"{bin_dir}:{base.get('PATH', '')}",
        OTEL_PYTHON_DISTRO="glassbox",
        OTEL_PYTHON_CONFIGURATOR="glassbox",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="none",
        OTEL_LOGS_EXPORTER="none",
        GLASSBOX_METRICS_PORT="0",
        **env,
    )
    script = "set -euo pipefail\n" + "\n".join(lines) + "\n"
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=base, capture_output=True, text=True, timeout=120)


def test_the_fleet_section_has_one_host_s_block_and_the_fleet_s() -> None:
    one_host, fleet = fleet_blocks()
    assert one_host[0].startswith("make up ") and "127.0.0.1" in one_host[0]
    assert re.search(r"^up:", (ROOT / "Makefile").read_text(), re.M)
    assert any(".state/stack/postgres-url" in line for line in one_host)
    assert not any("127.0.0.1" in line for line in fleet[1:]), "the fleet's URL names the database's host"


def test_the_readme_fleet_commands_run_against_the_native_postgresql(tmp_path: Path) -> None:
    one_host, fleet = fleet_blocks()
    project = tmp_path / "project"
    # where `make up` keeps it: in the project's directory
    stack = NativeStack(project / ".state" / "stack", new_stack(tmp_path).env)
    try:
        (outcome,) = stack.up(["postgres"])
        assert outcome.status == "started", outcome
        (project / "app.py").write_text(APP)
        result = shell(one_host[1:], project)
        assert result.returncode == 0, result.stderr[-4000:]
        port = stack.env["GLASSBOX_POSTGRES_PORT"]
        assert f"state: postgresql True postgresql://glassbox_app:***@127.0.0.1:{port}/glassbox" in result.stdout

        # The fleet's block, from another directory, with this host's PostgreSQL for the placeholders.
        admin = urlsplit(stack.admin_url_file().read_text().strip())
        replica = tmp_path / "replica"
        replica.mkdir()
        (replica / "app.py").write_text(APP)
        placeholders = {
            "db.internal:5432": f"127.0.0.1:{port}",
            "owner:<owner password>": f"{admin.username}:{admin.password}",
            "<app password>": "app-password-of-this-test",
        }
        lines = []
        for line in fleet:
            for placeholder, value in placeholders.items():
                line = line.replace(placeholder, value)
            assert "<" not in line.split("#")[0], f"a placeholder left: {line}"
            lines.append(line)
        result = shell(lines, replica)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
        assert f"state: postgresql True postgresql://my_app:***@127.0.0.1:{port}/glassbox" in result.stdout
        assert "my_app logs in as a member of glassbox_writer" in result.stdout
    finally:
        stack.down()
        shutil.rmtree(stack.postgres().directory, ignore_errors=True)  # moved under ~postgres when root
