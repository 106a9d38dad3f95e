"""The compose files as compose itself renders them: `docker-compose config`, the compose CLI that `make compose-cli`
builds (standalone, no Docker engine needed).

Each layout is a project of its own (docs/scale.md): docker-compose.yml, and docker-compose.scale.yml alone. With
.env.example, its secrets set, every variable resolves; the model compose renders is the one the invariant tests
(tests/stack/test_compose.py, test_compose_scale.py) check through their own reading of the files; and each variable
a file requires (${VAR:?...}) stops compose, naming it, when .env leaves it out or empty. Expectations come from the
files themselves, so the tests hold for any valid edit of them.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from stack.binaries import find_binary
from tests.stack.test_compose import (
    COMPOSE_FILE,
    ENV_EXAMPLE,
    PASSWORDS,
    ROOT,
    env_example,
    environment,
    healthcheck_command,
    interpolate,
    is_bind,
    load_compose,
    memory_bytes,
    memory_limit,
    mounts,
    raw_compose,
)
from tests.stack.test_compose_scale import SCALE_FILE, SECRETS
from tests.support.binaries import requires

pytestmark = requires("compose")

LAYOUTS = {"single-host": COMPOSE_FILE, "scalable": SCALE_FILE}
# What each layout's invariant tests name as its secrets.
SECRETS_OF = {COMPOSE_FILE: set(PASSWORDS.values()), SCALE_FILE: set(SECRETS)}
# The value every required variable gets in the test's .env; never a real secret.
FILLER = "test-only-not-a-secret"
_REQUIRED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?")
_PORT_VARIABLE = re.compile(r"^127\.0\.0\.1:\$\{([A-Za-z_][A-Za-z0-9_]*):-\d+\}:\d+$")


def required_variables(path: Path) -> set[str]:
    """Every variable the file reads as ${VAR:?message} or ${VAR?message}."""
    return set(_REQUIRED.findall(path.read_text()))


ALL_REQUIRED = set().union(*(required_variables(path) for path in LAYOUTS.values()))


def write_env(directory: Path, drop: str | None = None, empty: str | None = None, **values: str) -> Path:
    """directory/.env: a copy of .env.example with every required variable set, except `drop` (its line removed) and
    `empty` (set to nothing), and `values` in place of those lines' values."""
    lines, written = [], set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        name, sep, _ = line.partition("=")
        if not sep or line.startswith("#"):
            lines.append(line)
        elif name == drop:
            continue
        elif name == empty:
            lines.append(f"{name}=")
        elif name in values:
            lines.append(f"{name}={values[name]}")
            written.add(name)
        elif name in ALL_REQUIRED:
            lines.append(f"{name}={FILLER}")
        else:
            lines.append(line)
    lines += [f"{name}={value}" for name, value in values.items() if name not in written]
    path = directory / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


def compose_config(compose_file: Path, env_file: Path) -> subprocess.CompletedProcess[str]:
    """`docker-compose -f FILE --env-file ENV config --format json` with nothing else from this shell's environment but
    PATH, and PWD as a shell in the repository sets it (a default in the files reads ${PWD})."""
    binary = find_binary("compose")
    assert binary is not None
    home = env_file.parent
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / "docker"),
        "PWD": str(ROOT),
    }
    command = [str(binary), "-f", str(compose_file), "--env-file", str(env_file), "config", "--format", "json"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def render(compose_file: Path, env_file: Path) -> dict[str, Any]:
    run = compose_config(compose_file, env_file)
    assert run.returncode == 0, f"docker-compose config -f {compose_file.name} failed:\n{run.stderr}"
    assert "level=warning" not in run.stderr, run.stderr  # e.g. 'The "X" variable is not set'
    model = unescape(json.loads(run.stdout))
    assert isinstance(model, dict) and model.get("services"), run.stdout[:500]
    return model


def unescape(node: Any) -> Any:
    """`config` writes a literal $ as $$, so that its output is a compose file again; a container gets $."""
    if isinstance(node, str):
        return node.replace("$$", "$")
    if isinstance(node, list):
        return [unescape(item) for item in node]
    if isinstance(node, dict):
        return {key: unescape(value) for key, value in node.items()}
    return node


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict[str, Any]]:
    directory = tmp_path_factory.mktemp("compose-cli")
    env_file = write_env(directory)
    return {path: render(path, env_file) for path in LAYOUTS.values()}


def env_as_read() -> dict[str, str]:
    """The variables compose reads from the test's .env, for the invariant tests' own interpolation."""
    shell = {"PWD": str(ROOT)}
    values = {name: interpolate(value, shell) for name, value in env_example().items()}
    return {**shell, **values, **dict.fromkeys(ALL_REQUIRED, FILLER)}


# --- one comparable view of a service, from compose's model and from the invariant tests' reading --------------------


def as_list(value: Any, shell_form: bool = False) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return ["CMD-SHELL", value] if shell_form else shlex.split(value)
    return [str(word) for word in value]


def view_from_compose(service: dict[str, Any]) -> dict[str, Any]:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    return {
        "image": service.get("image"),
        "restart": service.get("restart"),
        "command": as_list(service.get("command")),
        "entrypoint": as_list(service.get("entrypoint")),
        "environment": {
            key: "" if value is None else value for key, value in (service.get("environment") or {}).items()
        },
        "ports": sorted((p["host_ip"], str(p["published"]), str(p["target"])) for p in service.get("ports") or []),
        "volumes": sorted(
            (v["type"], v["source"], v["target"], bool(v.get("read_only"))) for v in service.get("volumes") or []
        ),
        "healthcheck": as_list((service.get("healthcheck") or {}).get("test")),
        "depends_on": {target: spec["condition"] for target, spec in (service.get("depends_on") or {}).items()},
        "memory": int(limits["memory"]) if "memory" in limits else None,
    }


def view_from_invariant_tests(service: dict[str, Any]) -> dict[str, Any]:
    volumes = []
    for entry, (source, target) in zip(service.get("volumes") or [], mounts(service), strict=True):
        read_only = str(entry).endswith(":ro") if isinstance(entry, str) else bool(entry.get("read_only"))
        if is_bind(source):
            volumes.append(("bind", os.path.normpath(ROOT / source), target, read_only))
        else:
            volumes.append(("volume", source, target, read_only))
    limit = memory_limit(service)
    depends = service.get("depends_on") or {}
    return {
        "image": service.get("image"),
        "restart": service.get("restart"),
        "command": as_list(service.get("command")),
        "entrypoint": as_list(service.get("entrypoint")),
        "environment": environment(service),
        "ports": sorted(tuple(str(entry).split(":")) for entry in service.get("ports") or []),
        "volumes": sorted(volumes),
        "healthcheck": as_list((service.get("healthcheck") or {}).get("test"), shell_form=True),
        "depends_on": {target: (spec or {}).get("condition", "service_started") for target, spec in depends.items()},
        "memory": None if limit is None else memory_bytes(limit),
    }


def nested_defaults(path: Path) -> set[tuple[str, str]]:
    """(service, variable) of each environment value whose default reads another variable, as
    ${GLASSBOX_RUNBOOK_URL:-file://${PWD}/docs/runbooks.md} does."""
    found = raw_compose(path)["services"].items()
    return {
        (name, key) for name, s in found for key, value in environment(s).items() if re.search(r"\$\{[^}]*\$\{", value)
    }


# --- the rendered model ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_compose_renders_the_model_the_invariant_tests_check(path: Path, rendered: dict[Path, Any]) -> None:
    model = rendered[path]
    expected = load_compose(env_as_read(), path)
    assert set(model["services"]) == set(expected["services"]), "compose and the invariant tests see other services"
    for name, service in model["services"].items():
        got, want = view_from_compose(service), view_from_invariant_tests(expected["services"][name])
        differing = {key: {"compose": got[key], "invariant tests": want[key]} for key in got if got[key] != want[key]}
        assert not differing, f"{path.name}: {name}: {json.dumps(differing, indent=1)}"
    assert set(model.get("volumes") or {}) == set(expected.get("volumes") or {}), path.name


@pytest.mark.parametrize("path", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_the_invariant_tests_read_a_nested_default_as_compose_does(path: Path, rendered: dict[Path, Any]) -> None:
    nested = nested_defaults(path)
    if not nested:
        pytest.skip(f"{path.name} has no default that reads another variable")
    expected = load_compose(env_as_read(), path)["services"]
    for name, key in sorted(nested):
        compose_value = rendered[path]["services"][name]["environment"][key]
        assert compose_value == environment(expected[name])[key], f"{path.name}: {name}: {key}"


@pytest.mark.parametrize("path", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_every_published_port_is_on_loopback(path: Path, rendered: dict[Path, Any]) -> None:
    published = 0
    for name, service in rendered[path]["services"].items():
        assert service.get("network_mode") != "host", name
        for port in service.get("ports") or []:
            assert port["host_ip"] == "127.0.0.1" and port["published"], f"{path.name}: {name}: {port}"
            published += 1
    assert published, f"{path.name} publishes no port"


@pytest.mark.parametrize("path", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_every_volume_is_declared_and_every_bind_mount_a_read_only_repository_path(
    path: Path, rendered: dict[Path, Any]
) -> None:
    model = rendered[path]
    declared = set(model.get("volumes") or {})
    for name, service in model["services"].items():
        for volume in service.get("volumes") or []:
            if volume["type"] == "bind":
                source = Path(volume["source"])
                assert source.is_relative_to(ROOT) and source.exists(), f"{name}: {source}"
                assert volume.get("read_only"), f"{name}: bind mount {source} is writable"
            else:
                assert volume["type"] == "volume" and volume["source"] in declared, f"{name}: {volume}"


@pytest.mark.parametrize("path", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_every_long_running_service_is_health_checked_or_probed(path: Path, rendered: dict[Path, Any]) -> None:
    found = rendered[path]["services"]
    probes = " ".join(" ".join(healthcheck_command(s)) for s in found.values() if "healthcheck" in s)
    for name, service in found.items():
        if service.get("restart") == "no":
            continue  # a one-shot job
        if "healthcheck" in service:
            assert not service["healthcheck"].get("disable") and healthcheck_command(service), name
        else:
            assert f"http://{name}:" in probes, f"{path.name}: {name} has no healthcheck and no probe"


@pytest.mark.parametrize("path", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_moving_the_host_ports_in_env_changes_only_the_published_ports(
    path: Path, rendered: dict[Path, Any], tmp_path: Path
) -> None:
    variables = sorted(
        {
            m.group(1)
            for s in raw_compose(path)["services"].values()
            for p in s.get("ports") or []
            if (m := _PORT_VARIABLE.match(str(p)))
        }
    )
    assert variables, f"{path.name}: no port is published as 127.0.0.1:${{VAR:-port}}:port"
    moved = {variable: str(20001 + number) for number, variable in enumerate(variables)}
    model = render(path, write_env(tmp_path, **moved))
    default = rendered[path]
    published = {str(p["published"]) for s in model["services"].values() for p in s.get("ports") or []}
    assert published == set(moved.values()), f"{path.name}: published {sorted(published)}"

    def without_published(document: dict[str, Any]) -> str:
        services = {
            name: {**s, "ports": [{k: v for k, v in p.items() if k != "published"} for p in s.get("ports") or []]}
            for name, s in document["services"].items()
        }
        return json.dumps({**document, "services": services}, sort_keys=True)

    assert without_published(model) == without_published(default), f"{path.name}: a port variable reaches a container"


# --- required variables ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LAYOUTS.values(), ids=LAYOUTS.keys())
def test_the_required_variables_are_the_secrets_the_invariant_tests_name(path: Path) -> None:
    assert required_variables(path) == SECRETS_OF[path], path.name
    documented = env_example()
    for variable in required_variables(path):
        assert documented.get(variable) == "", f".env.example must list {variable}= with no value"


REQUIRED_CASES = [
    pytest.param(path, variable, form, id=f"{layout}-{variable}-{form}")
    for layout, path in LAYOUTS.items()
    for variable in sorted(required_variables(path))
    for form in ("removed", "empty")
]


@pytest.mark.parametrize("path, variable, form", REQUIRED_CASES)
def test_a_missing_required_variable_stops_compose_naming_it(
    path: Path, variable: str, form: str, tmp_path: Path
) -> None:
    env_file = write_env(tmp_path, **({"drop": variable} if form == "removed" else {"empty": variable}))
    run = compose_config(path, env_file)
    assert run.returncode != 0, f"{path.name}: compose accepted .env with {variable} {form}"
    assert f"required variable {variable} is missing a value" in run.stderr, run.stderr
    others = sorted(v for v in required_variables(path) - {variable} if re.search(rf"\b{v}\b", run.stderr))
    assert not others, f"set but reported missing: {others}"
    assert FILLER not in run.stderr + run.stdout, "compose printed a secret"
