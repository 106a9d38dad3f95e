"""GLASSBOX_RUNBOOK_URL into the Grafana rules, both ways the stack starts Grafana: the compose service's
entrypoint (run here for real with /bin/sh, against a copy of the provisioning) and `make up` natively
(stack.components.grafana_provisioning). Each URL gives the same links both ways, or the same refusal."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import alerts
from grafana.rules import RUNBOOK_URL_PATTERN, RUNBOOK_URL_PLACEHOLDER, RUNBOOK_URL_RULE, RUNBOOK_URL_VARIABLE
from stack.components import grafana_provisioning
from tests.stack.test_compose import environment, mounts

ROOT = Path(__file__).resolve().parents[2]
PROVISIONING = ROOT / "grafana" / "provisioning"
COMPOSE_FILES = ("docker-compose.yml", "docker-compose.scale.yml")

ACCEPTED = (
    "https://docs.example.com/glassbox/runbooks.md",
    # & was sed's "the whole match"; | its delimiter.
    "https://git.example.com/glassbox/-/blob/main/docs/runbooks.md?ref_type=heads&plain=1",
    "https://d.example/r.md?q=a%7Cb%20c",
    "file:///srv/my%20docs/runbooks.md",
    "http://[::1]:8080/runbooks.md;v=1",
    "https://d.example/(draft)/r.md!*+,=@~",
)
REFUSED = (
    "https://d.example/a|b",  # crash-looped the container: sed's delimiter
    "https://d.example/r.md#runbooks",  # each rule adds its own fragment
    "https://d.example/my docs/r.md",
    'https://d.example/"r".md',
    "https://d.example/it's.md",
    "https://d.example/${HOME}/r.md",
    "https://d.example/a\\b",
    "https://d.example/a\nhttps://d.example/b",
    "docs/runbooks.md",
)


def run_entrypoint(compose_file: str, directory: Path, url: str) -> subprocess.CompletedProcess[str]:
    """The compose Grafana service's entrypoint script, run by /bin/sh as the container would (compose's "$$" is
    "$"), with the mounted provisioning read from this checkout and Grafana itself left out."""
    service: dict[str, Any] = yaml.safe_load((ROOT / compose_file).read_text())["services"]["grafana"]
    entrypoint = service["entrypoint"]
    assert entrypoint[:2] == ["/bin/sh", "-ec"] and entrypoint[2].rstrip().endswith("exec /run.sh")
    sources = {target: source for source, target in mounts(service)}
    mounted = next(t for t, s in sources.items() if (ROOT / s).resolve() == PROVISIONING.resolve())
    target = environment(service)["GF_PATHS_PROVISIONING"]
    script = entrypoint[2].replace("$$", "$").replace("exec /run.sh", "true")
    script = script.replace(target, str(directory / "provisioning")).replace(mounted, str(PROVISIONING))
    directory.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ["PATH"], RUNBOOK_URL_VARIABLE: url}
    return subprocess.run(["/bin/sh", "-ec", script], env=env, capture_output=True, text=True, timeout=60)


def links(rules_file: Path) -> list[str]:
    rules = yaml.safe_load(rules_file.read_text())
    return [rule["annotations"]["runbook_url"] for group in rules["groups"] for rule in group["rules"]]


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
@pytest.mark.parametrize("url", ACCEPTED)
def test_a_valid_url_gives_the_same_links_in_compose_and_natively(tmp_path: Path, compose_file: str, url: str) -> None:
    result = run_entrypoint(compose_file, tmp_path / "compose", url)
    assert result.returncode == 0, result.stderr
    composed = tmp_path / "compose" / "provisioning" / "alerting" / "rules.yaml"
    native = grafana_provisioning({RUNBOOK_URL_VARIABLE: url}, tmp_path / "native") / "alerting" / "rules.yaml"
    assert composed.read_text() == native.read_text()
    found = links(composed)
    assert found == [f"{url}#{a.runbook}" for g in alerts.GROUPS for a in alerts.ALERTS if a.group == g]
    assert RUNBOOK_URL_VARIABLE not in composed.read_text()


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
@pytest.mark.parametrize("url", REFUSED)
def test_an_unusable_url_is_refused_the_same_way_in_compose_and_natively(
    tmp_path: Path, compose_file: str, url: str
) -> None:
    result = run_entrypoint(compose_file, tmp_path, url)
    # sh -e stops before Grafana starts, with the rule; the rules Grafana would read are untouched.
    assert result.returncode != 0
    assert RUNBOOK_URL_RULE in result.stderr, result.stderr
    assert RUNBOOK_URL_PLACEHOLDER in (tmp_path / "provisioning" / "alerting" / "rules.yaml").read_text()
    with pytest.raises(ValueError, match=re.escape(RUNBOOK_URL_RULE)):
        grafana_provisioning({RUNBOOK_URL_VARIABLE: url}, tmp_path / "native")


@pytest.mark.parametrize("compose_file", COMPOSE_FILES)
def test_the_entrypoint_checks_with_the_same_pattern_and_rule(compose_file: str) -> None:
    script = yaml.safe_load((ROOT / compose_file).read_text())["services"]["grafana"]["entrypoint"][2]
    assert f"pattern='^({RUNBOOK_URL_PATTERN})$$'" in script
    assert f"rule='{RUNBOOK_URL_RULE}'" in script
    assert not re.search(r"\bsed\b", script)
