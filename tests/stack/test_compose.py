"""docker-compose.yml and .env.example: pinned images, real health checks, loopback-only ports, named
volumes for every store, memory limits, restart policies, and no default Grafana password.

The file is read with PyYAML and interpolated here the way compose does it (${VAR}, ${VAR:-default},
${VAR:?error}, $$), so these checks need no Docker. `docker compose config` runs too where the compose
plugin is installed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
MANIFEST = ROOT / "collector" / "manifest.yaml"
PROMETHEUS_TARGETS = ROOT / "prometheus" / "targets"
# Config files that read GLASSBOX_*_PORT with a ${VAR:-default} (the collector's form: ${env:VAR:-default}).
PORT_CONFIGS = [ROOT / "collector" / "config.yaml", ROOT / "tempo" / "tempo.yaml", ROOT / "loki" / "loki.yaml"]

# Services that run once and exit: no healthcheck, restart "no", waited for with
# service_completed_successfully.
ONE_SHOT = {"collector-init"}
# Images with no shell, no wget/curl and no health subcommand, and the busybox sidecar whose own
# healthcheck probes each over the compose network.
PROBED_BY = {"collector": "collector-probe", "tempo": "tempo-probe"}
# Where each component keeps its data inside its container; each must be a named volume.
STORES = {
    "collector": "/var/lib/otelcol",
    "tempo": "/var/tempo",
    "loki": "/loki",
    "prometheus": "/prometheus",
    "grafana": "/var/lib/grafana",
    "postgres": "/var/lib/postgresql/data",
}
# What each image can run for a healthcheck (first word of a CMD test); None: nothing at all.
HEALTH_TOOLS: dict[str, set[str] | None] = {
    "prom/prometheus": {"wget"},  # busybox base
    "grafana/grafana": {"wget", "curl"},  # Alpine base, curl installed
    "busybox": {"wget"},
    "grafana/loki": {"/usr/bin/loki"},  # distroless; `loki -health` since 3.6.5
    "grafana/tempo": None,  # distroless static, no shell
    "otel/opentelemetry-collector-contrib": None,  # FROM scratch
    "postgres": {"pg_isready"},  # the server image carries the client tools
}
LOKI_HEALTH_SINCE = (3, 6, 5)
# The ports each component listens on, by the variable that moves it in a native run, with its default.
# Inside the compose network every component listens on these defaults: no GLASSBOX_*_PORT reaches a
# container (Prometheus cannot expand variables in prometheus/targets/, so the ports there must not move);
# .env only changes the host side of the published ports.
PORTS: dict[str, dict[str, int]] = {
    "collector": {
        "GLASSBOX_OTLP_GRPC_PORT": 4317,
        "GLASSBOX_OTLP_HTTP_PORT": 4318,
        "GLASSBOX_COLLECTOR_HEALTH_PORT": 13133,
        "GLASSBOX_COLLECTOR_METRICS_PORT": 8888,
    },
    "prometheus": {"GLASSBOX_PROMETHEUS_PORT": 9090},
    "loki": {"GLASSBOX_LOKI_PORT": 3100, "GLASSBOX_LOKI_GRPC_PORT": 9096},
    "tempo": {
        "GLASSBOX_TEMPO_PORT": 3200,
        "GLASSBOX_TEMPO_GRPC_PORT": 9097,
        "GLASSBOX_TEMPO_OTLP_GRPC_PORT": 4417,
        "GLASSBOX_TEMPO_OTLP_HTTP_PORT": 4418,
    },
    "grafana": {"GLASSBOX_GRAFANA_PORT": 3000},
    "postgres": {"GLASSBOX_POSTGRES_PORT": 5432},
}
PORT_DEFAULTS = {variable: port for ports in PORTS.values() for variable, port in ports.items()}
# Host ports a user might put in .env: unlike any default, so a leak into a container shows.
MOVED_PORTS = {variable: str(20001 + number) for number, variable in enumerate(sorted(PORT_DEFAULTS))}
# Passed when a test needs the file fully interpolated; never a real password.
TEST_ENV = {
    "GLASSBOX_GRAFANA_ADMIN_PASSWORD": "test-only-not-a-secret",
    "GLASSBOX_POSTGRES_PASSWORD": "test-only-not-a-secret",
    "GLASSBOX_POSTGRES_APP_PASSWORD": "test-only-not-a-secret",
    "GLASSBOX_POSTGRES_AUDITOR_PASSWORD": "test-only-not-a-secret",
}
# The only passwords in the file, each from .env with no default.
PASSWORDS = {
    ("grafana", "GF_SECURITY_ADMIN_PASSWORD"): "GLASSBOX_GRAFANA_ADMIN_PASSWORD",
    ("postgres", "POSTGRES_PASSWORD"): "GLASSBOX_POSTGRES_PASSWORD",
    ("postgres", "GLASSBOX_POSTGRES_APP_PASSWORD"): "GLASSBOX_POSTGRES_APP_PASSWORD",
    ("postgres", "GLASSBOX_POSTGRES_AUDITOR_PASSWORD"): "GLASSBOX_POSTGRES_AUDITOR_PASSWORD",
}
# The one image the stack builds: a released image and one package from its own distribution, nothing else
# (service -> (Dockerfile, the released image it starts from)).
BUILT = {"postgres": (ROOT / "postgres" / "Dockerfile", "postgres:17.6-bookworm")}

# A braced expression may hold another in its default (${A:-file://${PWD}/x}): it ends at its own }.
_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>(?:[^}$]|\$\{[^}]*\}|\$\$)*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:-|-|:\?|\?|:\+|\+)(?P<arg>.*))?$", re.S)


class InterpolationError(ValueError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """One string as compose interpolates it."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("plain") is not None:
            return env.get(match.group("plain"), "")
        braced = _BRACED.match(match.group("braced"))
        if braced is None:
            raise InterpolationError(f"invalid interpolation {match.group(0)!r}")
        name, op, arg = braced.group("name", "op", "arg")
        value = env.get(name)
        if op is None:
            return value or ""
        if op in (":-", "-"):
            unset = value is None or (op == ":-" and value == "")
            return interpolate(arg, env) if unset else str(value)
        if op in (":?", "?"):
            if value is None or (op == ":?" and value == ""):
                raise InterpolationError(f"{name}: {arg}")
            return value
        # :+ and +: the argument when the variable is set.
        present = value is not None and (op == "+" or value != "")
        return interpolate(arg, env) if present else ""

    return _VARIABLE.sub(replace, text)


def interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolate_tree(value, env) for key, value in node.items()}
    return node


def raw_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict)
    return document


def load_compose(env: dict[str, str] | None = None, path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """docker-compose.yml with YAML anchors merged and variables interpolated (defaults when unset)."""
    document = interpolate_tree(raw_compose(path), TEST_ENV if env is None else env)
    assert isinstance(document, dict)
    return document


def services(path: Path = COMPOSE_FILE, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    found = load_compose(env, path)["services"]
    assert isinstance(found, dict) and found
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def image_name_and_tag(image: str) -> tuple[str, str]:
    name, _, digest = image.partition("@")
    repository, _, tag = name.rpartition(":")
    if "/" in tag or not repository:  # a registry port, not a tag
        repository, tag = name, ""
    return repository, tag or digest


def version_tuple(tag: str) -> tuple[int, ...]:
    match = re.match(r"^v?(\d+)\.(\d+)\.(\d+)", tag) or re.match(r"^(\d+)\.(\d+)-", tag)
    assert match, f"{tag!r} is not a full x.y.z version (or PostgreSQL's major.minor with its base, e.g. 17.6-bookworm)"
    return tuple(int(part) for part in match.groups())


def mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every volume entry, short or long syntax."""
    result = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, str):
            source, target = entry.split(":")[:2]
        else:
            source, target = entry.get("source", ""), entry["target"]
        result.append((source, target))
    return result


def is_bind(source: str) -> bool:
    return source.startswith(("./", "../", "/", "~"))


def memory_bytes(value: str | int) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", str(value).strip().lower())
    assert match, f"unreadable memory size {value!r}"
    number, unit = match.groups()
    return int(float(number) * 1024 ** "bkmg".index(unit or "b"))


def memory_limit(service: dict[str, Any]) -> str | None:
    limits = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    found = limits.get("memory") or service.get("mem_limit")
    return None if found is None else str(found)


def env_example() -> dict[str, str]:
    """Active (uncommented) VAR=value lines of .env.example."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f".env.example: not VAR=value: {line!r}"
            found[name.strip()] = value
    return found


def compose_variables(path: Path = COMPOSE_FILE) -> dict[str, str | None]:
    """Every variable a compose file reads, with its :- default (None when it has none)."""
    defaults: dict[str, set[str]] = {}
    # A default may itself read a variable (one level): ${GLASSBOX_RUNBOOK_URL:-file://${PWD}/docs/runbooks.md}.
    pattern = r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?|\?)((?:[^}$]|\$\{[^}]*\})*))?\}"
    for name, op, arg in re.findall(pattern, path.read_text()):
        defaults.setdefault(name, set())
        if op in (":-", "-"):
            defaults[name].add(arg)
    for name, values in defaults.items():
        assert len(values) <= 1, f"{name} has different defaults in docker-compose.yml: {sorted(values)}"
    return {name: next(iter(values), None) for name, values in defaults.items()}


def container_ports(name: str) -> set[str]:
    """The ports a service listens on inside the compose network (a probe sidecar: none)."""
    return {str(port) for port in PORTS.get(name, {}).values()}


def url_port(url: str) -> tuple[str, str]:
    match = re.fullmatch(r"(?:-[\w.-]+=)?http://([^:/]+):(\d+)(?:/\S*)?", url)
    assert match, f"{url!r} is not an http://host:port URL"
    return match.group(1), match.group(2)


def healthcheck_command(service: dict[str, Any]) -> list[str]:
    test = (service.get("healthcheck") or {}).get("test")
    assert isinstance(test, list) and test and test[0] == "CMD", f"healthcheck must be a CMD list, got {test!r}"
    return [str(word) for word in test[1:]]


# --- images ----------------------------------------------------------------------------------------


def test_every_image_is_pinned_to_a_release() -> None:
    for name, service in services().items():
        if name in BUILT:
            dockerfile, base = BUILT[name]
            assert service["build"] == f"./{dockerfile.parent.relative_to(ROOT)}", name
            froms = [line.split()[1] for line in dockerfile.read_text().splitlines() if line.startswith("FROM ")]
            assert froms == [base], f"{name}: builds from {froms}, expected the released {base}"
            assert service["image"].endswith(base.split(":", 1)[1] + "-pgaudit"), service["image"]
        else:
            assert "build" not in service, f"{name}: builds an image; the stack runs released images only"
        repository, tag = image_name_and_tag(BUILT[name][1] if name in BUILT else service["image"])
        assert tag and tag != "latest", f"{name}: image {service['image']!r} has no explicit tag"
        version_tuple(tag)
        assert repository, name


def test_collector_image_is_the_release_the_build_manifest_uses() -> None:
    assert MANIFEST.is_file(), "collector/manifest.yaml is missing"
    match = re.search(r"go\.opentelemetry\.io/collector/receiver/otlpreceiver\s+v(\d+\.\d+\.\d+)", MANIFEST.read_text())
    assert match, "collector/manifest.yaml names no go.opentelemetry.io/collector/receiver/otlpreceiver version"
    release = match.group(1)
    repository, tag = image_name_and_tag(services()["collector"]["image"])
    assert (repository, tag) == ("otel/opentelemetry-collector-contrib", release)


# --- health and start order ------------------------------------------------------------------------


def test_every_long_running_service_is_health_checked() -> None:
    found = services()
    for name, service in found.items():
        if name in ONE_SHOT:
            assert "healthcheck" not in service, f"{name} runs once; it has nothing to probe"
            continue
        if name in PROBED_BY:
            assert "healthcheck" not in service, f"{name}: its image cannot run a healthcheck; the sidecar does"
            probe = found[PROBED_BY[name]]
            host, port = url_port(healthcheck_command(probe)[-1])
            assert host == name, f"{PROBED_BY[name]} must probe {name}, probes {host}"
            assert port in container_ports(name), f"{PROBED_BY[name]} probes port {port}, not one {name} listens on"
            continue
        command = healthcheck_command(service)
        assert not service["healthcheck"].get("disable"), name
        if name in PROBED_BY.values():
            continue  # a sidecar probes another service; checked with that service above
        # A probe inside the container itself must use a port the component listens on there.
        for word in command:
            if "http://" in word:
                host, port = url_port(word)
                assert host in ("127.0.0.1", "localhost"), f"{name}: healthcheck {word!r} leaves its container"
                assert port in container_ports(name), f"{name}: healthcheck port {port} is not one it listens on"


def test_healthchecks_use_a_tool_the_image_has() -> None:
    for name, service in services().items():
        if "healthcheck" not in service:
            continue
        repository, tag = image_name_and_tag(BUILT[name][1] if name in BUILT else service["image"])
        assert repository in HEALTH_TOOLS, f"{name}: what can {repository} run? add it to HEALTH_TOOLS"
        tools = HEALTH_TOOLS[repository]
        assert tools is not None, f"{name}: {repository} has no shell or health tool; probe it from a sidecar"
        command = healthcheck_command(service)
        assert command[0] in tools, f"{name}: {repository} has no {command[0]!r}"
        if repository == "grafana/loki":
            assert "-health" in command
            assert version_tuple(tag) >= LOKI_HEALTH_SINCE, "`loki -health` needs Loki 3.6.5 or later"


def test_depends_on_waits_for_the_right_condition() -> None:
    found = services()
    for name, service in found.items():
        depends = service.get("depends_on") or {}
        assert isinstance(depends, dict), f"{name}: depends_on must name a condition for each service"
        for target, spec in depends.items():
            assert target in found, f"{name} depends on unknown service {target}"
            condition = (spec or {}).get("condition")
            if target in ONE_SHOT:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
            elif "healthcheck" in found[target]:
                assert condition == "service_healthy", f"{name} -> {target}: wait until it is healthy"
            else:
                # Only a probe sidecar waits for a bare start; everyone else waits for the probe.
                assert condition == "service_started" and PROBED_BY.get(target) == name, (
                    f"{name} -> {target}: depend on {PROBED_BY.get(target)} (service_healthy) instead"
                )


def test_one_shot_jobs_exist_and_are_waited_for() -> None:
    found = services()
    for job in ONE_SHOT:
        assert job in found, f"{job} is listed as one-shot but not defined"
        waiting = [name for name, svc in found.items() if job in (svc.get("depends_on") or {})]
        assert waiting, f"nothing waits for {job}"


# --- network, storage, resources -----------------------------------------------------------------------


def test_ports_are_published_on_loopback_with_only_the_host_side_configurable() -> None:
    # Before interpolation: exactly "127.0.0.1:${VAR:-default}:default", VAR one of the service's own.
    published = 0
    for name, service in raw_compose()["services"].items():
        assert service.get("network_mode") != "host", name
        for entry in service.get("ports") or []:
            assert isinstance(entry, str), f'{name}: write ports as "127.0.0.1:${{VAR:-P}}:P", got {entry!r}'
            match = re.fullmatch(r"127\.0\.0\.1:\$\{(GLASSBOX_[A-Z0-9_]+_PORT):-(\d+)\}:(\d+)", entry)
            assert match, f'{name}: {entry!r} is not "127.0.0.1:${{GLASSBOX_..._PORT:-P}}:P"'
            variable, default, container = match.groups()
            assert variable in PORTS.get(name, {}), f"{name}: {variable} is not one of its ports"
            assert default == container == str(PORTS[name][variable]), (
                f"{name}: {entry!r} must publish its default port {PORTS[name][variable]} inside the container"
            )
            published += 1
    assert published
    # After interpolation, with .env silent and with every port moved: the host side follows .env, the
    # container side stays the default, and nothing but 127.0.0.1 is bound.
    for env, moved in ((TEST_ENV, False), ({**TEST_ENV, **MOVED_PORTS}, True)):
        for name, service in load_compose(env)["services"].items():
            for entry in service.get("ports") or []:
                host_ip, host, container = str(entry).split(":")
                assert host_ip == "127.0.0.1", f"{name}: port {entry!r} is reachable from other machines"
                variable = next(var for var, port in PORTS[name].items() if str(port) == container)
                assert host == (MOVED_PORTS[variable] if moved else container), f"{name}: {entry!r}"


def test_no_port_variable_reaches_a_container() -> None:
    # Only Grafana gets port variables, because its provisioning files cannot give a default: the fixed
    # ports Prometheus, Loki and Tempo listen on in the network, never a value taken from .env.
    for name, service in raw_compose()["services"].items():
        for key, value in environment(service).items():
            if not re.fullmatch(r"GLASSBOX_[A-Z0-9_]+_PORT", key):
                continue
            assert name == "grafana", f"{name}: {key} must not reach the container; it listens on its default"
            assert key in PORT_DEFAULTS and key not in PORTS["grafana"], f"grafana: unexpected {key}"
            assert value == str(PORT_DEFAULTS[key]), f"grafana: {key} must be the literal {PORT_DEFAULTS[key]}"
    # Moving every host port in .env changes nothing in any container but the host side of its ports:
    # not its environment, command, healthcheck or probe.
    for name, service in load_compose({**TEST_ENV, **MOVED_PORTS})["services"].items():
        inside = json.dumps({key: value for key, value in service.items() if key != "ports"})
        leaked = sorted(variable for variable, port in MOVED_PORTS.items() if port in inside)
        assert not leaked, f"{name}: {leaked} from .env reach the container"


def test_prometheus_targets_name_a_service_and_the_port_it_listens_on() -> None:
    files = sorted(PROMETHEUS_TARGETS.glob("*.yml"))
    assert files, "prometheus/targets/ holds no target files"
    found = services()
    for path in files:
        groups = yaml.safe_load(path.read_text())
        assert isinstance(groups, list) and groups, f"{path.name}: not a file_sd list of target groups"
        for group in groups:
            assert group["targets"], f"{path.name}: a group without targets"
            for target in group["targets"]:
                host, _, port = str(target).rpartition(":")
                assert host in found, f"{path.name}: {target!r} names no compose service"
                assert port in container_ports(host), (
                    f"{path.name}: {target!r}: {host} listens on {sorted(container_ports(host))} in the network"
                )


def test_config_files_default_to_the_ports_compose_relies_on() -> None:
    # No port variable reaches a container, so these defaults ARE the ports inside the compose network.
    seen = set()
    for path in PORT_CONFIGS:
        for variable, default in re.findall(r"\$\{(?:env:)?(GLASSBOX_[A-Z0-9_]+_PORT):-(\d+)\}", path.read_text()):
            assert variable in PORT_DEFAULTS, f"{path.name}: unknown port variable {variable}"
            assert default == str(PORT_DEFAULTS[variable]), f"{path.name}: {variable} defaults to {default}"
            seen.add(variable)
    # Prometheus, Grafana and PostgreSQL take their ports from compose itself.
    assert set(PORT_DEFAULTS) - {"GLASSBOX_PROMETHEUS_PORT", "GLASSBOX_GRAFANA_PORT", "GLASSBOX_POSTGRES_PORT"} <= seen
    found = services()
    assert "--web.listen-address=0.0.0.0:9090" in found["prometheus"]["command"]
    assert environment(found["grafana"]).get("GF_SERVER_HTTP_PORT", "3000") == "3000"


def test_env_example_documents_every_port_with_its_default() -> None:
    text = ENV_EXAMPLE.read_text()
    for variable, port in PORT_DEFAULTS.items():
        assert re.search(rf"^(# )?{variable}={port}$", text, re.M), f".env.example: no {variable}={port}"


def test_every_store_is_a_named_volume() -> None:
    document = load_compose()
    declared = set(document.get("volumes") or {})
    found = document["services"]
    for name, path in STORES.items():
        targets = {target: source for source, target in mounts(found[name])}
        assert path in targets, f"{name}: nothing mounted at its data path {path}"
        assert not is_bind(targets[path]) and targets[path] in declared, f"{name}: {path} must be a named volume"
    for name, service in found.items():
        for source, _ in mounts(service):
            assert is_bind(source) or source in declared, f"{name}: volume {source!r} is not declared"


def test_bind_mounts_are_read_only_repository_paths_that_exist() -> None:
    for name, service in services().items():
        for entry in service.get("volumes") or []:
            source = entry.split(":")[0] if isinstance(entry, str) else entry.get("source", "")
            if not is_bind(source):
                continue
            assert source.startswith("./"), f"{name}: {source!r} is not a path inside the repository"
            assert (ROOT / source).exists(), f"{name}: {source} does not exist in the repository"
            read_only = entry.endswith(":ro") if isinstance(entry, str) else entry.get("read_only")
            assert read_only, f"{name}: config mount {source} must be read-only"


def test_postgres_loads_pgaudit_and_its_image_installs_the_server_s_own_major_version() -> None:
    for path in (COMPOSE_FILE, ROOT / "docker-compose.scale.yml"):
        service = services(path, {**TEST_ENV, "GLASSBOX_S3_ACCESS_KEY_ID": "x", "GLASSBOX_S3_SECRET_ACCESS_KEY": "x"})
        postgres = service["postgres"]
        assert postgres["command"] == ["postgres", "-c", "shared_preload_libraries=pgaudit"], path
        assert "./postgres/init:/docker-entrypoint-initdb.d:ro" in postgres["volumes"], path
    install = [line for line in BUILT["postgres"][0].read_text().splitlines() if "apt-get install" in line]
    assert install and '"postgresql-${PG_MAJOR}-pgaudit"' in install[0]  # PG_MAJOR: the official image's own


def test_the_init_script_makes_login_roles_that_own_nothing_with_the_passwords_given(
    postgres: Any, pg_url: str
) -> None:
    """postgres/init runs as the official image runs it (sh, psql as POSTGRES_USER) against a real server: the
    apps' and the auditors' login roles exist, with the passwords from the environment, members of their groups and
    owning nothing; without a password the script stops before touching anything."""
    import psycopg

    from glassbox.db import check_role

    cluster = postgres.cluster
    database = pg_url.rsplit("/", 1)[1]
    script = ROOT / "postgres" / "init" / "10-glassbox-roles.sh"
    passwords = {"glassbox_app": "app it's \\ secret %s", "glassbox_auditor": "auditor-secret"}
    env = {
        "PATH": f"{cluster.bin}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(cluster.port),
        "PGPASSWORD": cluster.password,
        "POSTGRES_USER": "glassbox",
        "POSTGRES_DB": database,
        "GLASSBOX_POSTGRES_APP_PASSWORD": passwords["glassbox_app"],
        "GLASSBOX_POSTGRES_AUDITOR_PASSWORD": passwords["glassbox_auditor"],
    }
    try:
        without = {k: v for k, v in env.items() if k != "GLASSBOX_POSTGRES_APP_PASSWORD"}
        refused = subprocess.run(["sh", str(script)], env=without, capture_output=True, text=True, timeout=60)
        assert refused.returncode != 0 and "set GLASSBOX_POSTGRES_APP_PASSWORD" in refused.stderr
        for _ in range(2):  # a second run changes nothing but the passwords
            run = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run.stderr
        for role, group in (("glassbox_app", "glassbox_writer"), ("glassbox_auditor", "glassbox_reader")):
            with psycopg.connect(cluster.url(database, role, passwords[role])) as connection:
                assert not check_role(connection).privileged
                assert connection.execute("SELECT pg_has_role(%s, 'MEMBER')", (group,)).fetchone() == (True,)
    finally:
        with psycopg.connect(pg_url, autocommit=True) as connection:
            for role in passwords:
                connection.execute(f"DROP ROLE IF EXISTS {role}")


def test_every_service_has_a_memory_limit_and_restart_policy() -> None:
    for name, service in services().items():
        limit = memory_limit(service)
        assert limit is not None, f"{name} has no memory limit"
        assert memory_bytes(limit) > 0, name
        expected = "no" if name in ONE_SHOT else "unless-stopped"
        assert service.get("restart") == expected, f"{name}: restart should be {expected!r}"


def test_collector_container_leaves_room_above_its_memory_limiter() -> None:
    collector = services()["collector"]
    limiter_mib = int(environment(collector)["GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB"])
    container = memory_bytes(memory_limit(collector) or "0")
    assert container >= 1.2 * limiter_mib * 1024**2, "the kernel would kill the collector before memory_limiter acts"


def test_components_listen_on_all_container_interfaces_and_find_each_other_by_name() -> None:
    found = services()
    for name in set(STORES) - {"postgres"}:  # PostgreSQL's image listens on every interface by itself
        env = environment(found[name])
        assert env.get("GLASSBOX_LISTEN_ADDRESS") == "0.0.0.0", name
        for component in ("collector", "tempo", "loki", "prometheus", "grafana"):
            assert env.get(f"GLASSBOX_{component.upper()}_HOST") == component, f"{name}: {component} host"


# --- Grafana security -----------------------------------------------------------------------------


@pytest.mark.parametrize("service, key", sorted(PASSWORDS))
def test_each_password_comes_from_env_with_no_default(service: str, key: str) -> None:
    variable = PASSWORDS[(service, key)]
    value = str(environment(raw_compose()["services"][service])[key])
    assert re.fullmatch(rf"\$\{{{variable}:\?[^}}]+\}}", value), value
    with pytest.raises(InterpolationError, match=variable):
        load_compose({k: v for k, v in TEST_ENV.items() if k != variable})
    with pytest.raises(InterpolationError):
        load_compose({**TEST_ENV, variable: ""})
    assert env_example()[variable] == ""


def test_no_other_password_is_in_the_file() -> None:
    for name, service in raw_compose()["services"].items():
        for key in environment(service):
            assert "PASSWORD" not in key or (name, key) in PASSWORDS, (name, key)


def test_grafana_allows_no_anonymous_or_self_signed_up_users() -> None:
    env = environment(services()["grafana"])
    assert env.get("GF_AUTH_ANONYMOUS_ENABLED") == "false"
    assert env.get("GF_AUTH_ANONYMOUS_ORG_ROLE", "Viewer").lower() != "admin"
    assert env.get("GF_USERS_ALLOW_SIGN_UP") == "false"
    assert env.get("GF_AUTH_DISABLE_LOGIN_FORM", "false") == "false"


# --- .env.example ---------------------------------------------------------------------------------


def test_every_compose_variable_is_in_env_example_with_the_same_default() -> None:
    documented = env_example()
    # Both layouts read the same .env: the single host's file and the scalable one (docker-compose.scale.yml).
    used = {**compose_variables(ROOT / "docker-compose.scale.yml"), **compose_variables()}
    assert set(used) <= set(documented), f"missing from .env.example: {sorted(set(used) - set(documented))}"
    assert set(documented) <= set(used), f"set in .env.example but unused: {sorted(set(documented) - set(used))}"
    for name, default in used.items():
        if default is not None:
            assert documented[name] == default, f"{name}: .env.example says {documented[name]!r}, compose {default!r}"


def test_every_env_example_line_is_explained() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    assignment = re.compile(r"^(# ?)?GLASSBOX_[A-Z0-9_]+=")
    for number, line in enumerate(lines):
        if not assignment.match(line):
            continue
        above = number - 1
        # A group of commented-out settings may share one explanation.
        while line.startswith("#") and above >= 0 and assignment.match(lines[above]) and lines[above].startswith("#"):
            above -= 1
        explanation = lines[above] if above >= 0 else ""
        assert explanation.startswith("#") and not assignment.match(explanation), (
            f".env.example line {number + 1} ({line.split('=')[0]}) has no comment above it"
        )
        assert "PASSWORD=" not in line or line.endswith("="), ".env.example must not hold a password"


# --- against compose's own schema (compose itself runs in tests/stack/test_compose_cli.py) -----------------


def test_matches_the_compose_json_schema() -> None:
    # No package registry ships a current compose-spec.json for Python; `make test` downloads the one docker
    # compose itself embeds (github.com/compose-spec/compose-go/v2, schema/compose-spec.json) and sets this.
    schema_path = os.environ.get("GLASSBOX_COMPOSE_SCHEMA", "")
    if not Path(schema_path).is_file():
        pytest.fail(f"compose-spec.json not found at GLASSBOX_COMPOSE_SCHEMA={schema_path!r}; run `make test`")
    import jsonschema

    schema = json.loads(Path(schema_path).read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, error.path))}: {error.message}" for error in validator.iter_errors(raw_compose())]
    assert not errors, errors


def test_the_grafana_pin_states_the_evidence_that_the_release_exists() -> None:
    """A tag that does not exist stops `docker compose up`: the pin carries where its release was seen."""
    lines = COMPOSE_FILE.read_text().splitlines()
    at = next(n for n, line in enumerate(lines) if line.strip().startswith("image: grafana/grafana:"))
    tag = lines[at].split(":")[-1]
    evidence = " ".join(line.strip() for line in lines[at - 2 : at])
    assert "npm view @grafana/data" in evidence and tag in evidence, evidence
