"""docker-compose.scale.yml, the scalable layout: the same promises as docker-compose.yml (pinned images, real
health checks, loopback-only ports, named volumes, memory limits, no default secret) and the wiring the engines'
scalable modes need (the names each ring, resolver and scrape job looks up, Kafka partitions by host name).

Read with PyYAML and interpolated as compose does (tests/stack/test_compose.py), so no Docker is needed.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from stack import collector_tiers, scalable
from tests.stack.test_compose import (
    BUILT,
    COMPOSE_FILE,
    HEALTH_TOOLS,
    ROOT,
    TEST_ENV,
    InterpolationError,
    compose_variables,
    env_example,
    environment,
    healthcheck_command,
    image_name_and_tag,
    is_bind,
    load_compose,
    memory_bytes,
    memory_limit,
    mounts,
    raw_compose,
    services,
    version_tuple,
)

SCALE_FILE = ROOT / "docker-compose.scale.yml"
ENV = {**TEST_ENV, "GLASSBOX_S3_ACCESS_KEY_ID": "test-only", "GLASSBOX_S3_SECRET_ACCESS_KEY": "test-only-not-a-secret"}
SECRETS = (
    "GLASSBOX_GRAFANA_ADMIN_PASSWORD",
    "GLASSBOX_POSTGRES_PASSWORD",
    "GLASSBOX_POSTGRES_APP_PASSWORD",
    "GLASSBOX_POSTGRES_AUDITOR_PASSWORD",
    "GLASSBOX_S3_ACCESS_KEY_ID",
    "GLASSBOX_S3_SECRET_ACCESS_KEY",
)
ONE_SHOT = {"volume-init", "seaweedfs-buckets"}
# Images with no shell and no health command, and the busybox sidecar that probes each over the network.
PROBED_BY = {"agent": "agent-probe", "gateway-1": "gateway-probe", "gateway-2": "gateway-probe", "mimir": "mimir-probe"}
# What the images added by this layout can run for a healthcheck (None: nothing), beside test_compose's table.
SCALE_HEALTH_TOOLS: dict[str, set[str] | None] = {
    **HEALTH_TOOLS,
    "busybox": {"wget", "sh"},  # a probe of two gateways chains two wgets in busybox's own sh
    "grafana/tempo": {"/tempo"},  # `tempo -health` since Tempo 3.0 (cmd/tempo/health.go)
    "chrislusf/seaweedfs": {"wget"},  # Alpine: busybox wget on the S3 gateway's /healthz
    "apache/kafka": {"/opt/kafka/bin/kafka-broker-api-versions.sh"},
    "grafana/mimir": None,  # distroless static, no health flag
}
# SeaweedFS numbers its releases major.minor (4.48 is a release, not a series).
SEAWEEDFS_RELEASE = re.compile(r"^\d+\.\d+$")


def scaled() -> dict[str, dict[str, Any]]:
    return services(SCALE_FILE, ENV)


def aliases(service: dict[str, Any]) -> set[str]:
    networks = service.get("networks") or {}
    return {alias for network in networks.values() for alias in (network or {}).get("aliases", [])}


def names() -> set[str]:
    """Every name a container can look up: services, host names and network aliases."""
    found = scaled()
    return (
        set(found)
        | {s["hostname"] for s in found.values() if "hostname" in s}
        | set().union(*(aliases(s) for s in found.values()))
    )


def test_matches_the_compose_json_schema() -> None:
    import json
    import os
    from pathlib import Path

    import jsonschema

    schema_path = Path(os.environ.get("GLASSBOX_COMPOSE_SCHEMA", ""))
    if not schema_path.is_file():
        pytest.fail(f"compose-spec.json not found at GLASSBOX_COMPOSE_SCHEMA={schema_path}; run `make test`")
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(raw_compose(SCALE_FILE))]
    assert not errors, errors


def test_images_are_pinned_and_shared_components_run_the_single_host_releases() -> None:
    single = {image_name_and_tag(s["image"])[0]: s["image"] for s in services(COMPOSE_FILE).values()}
    for name, service in scaled().items():
        repository, tag = image_name_and_tag(service["image"])
        assert tag and tag != "latest", f"{name}: {service['image']!r} has no explicit tag"
        if repository == "chrislusf/seaweedfs":
            assert SEAWEEDFS_RELEASE.match(tag), f"{name}: {tag!r} is not a SeaweedFS release"
        else:
            version_tuple(tag)
        if repository in single:
            assert service["image"] == single[repository], f"{name}: {service['image']} differs from the single host"


def test_every_long_running_service_is_health_checked_directly_or_by_a_probe() -> None:
    found = scaled()
    for name, service in found.items():
        if name in ONE_SHOT:
            assert "healthcheck" not in service and service["restart"] == "no", name
            continue
        repository, _ = image_name_and_tag(BUILT[name][1] if name in BUILT else service["image"])
        assert repository in SCALE_HEALTH_TOOLS, f"{name}: what can {repository} run? add it to the table"
        tools = SCALE_HEALTH_TOOLS[repository]
        if name in PROBED_BY:
            assert tools is None and "healthcheck" not in service, name
            probe = " ".join(healthcheck_command(found[PROBED_BY[name]]))
            assert f"http://{name}:13133/" in probe or f"http://{name}:8080/ready" in probe, f"{name} is not probed"
            continue
        assert tools is not None, f"{name}: {repository} can run nothing; probe it from a sidecar"
        command = healthcheck_command(service)
        assert command[0] in tools, f"{name}: {repository} has no {command[0]!r}"
        for word in command:
            for url in re.findall(r"http://([^:/\s]+):\d+", word):
                if name not in PROBED_BY.values():
                    assert url in ("127.0.0.1", "localhost"), f"{name}: its healthcheck leaves its container"


def test_depends_on_waits_for_health_or_completion() -> None:
    found = scaled()
    for name, service in found.items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in found, f"{name} depends on unknown {target}"
            condition = spec["condition"]
            if target in ONE_SHOT:
                assert condition == "service_completed_successfully", f"{name} -> {target}"
            elif "healthcheck" in found[target]:
                assert condition == "service_healthy", f"{name} -> {target}"
            else:
                assert condition == "service_started" and PROBED_BY.get(target) == name, f"{name} -> {target}"


def test_ports_are_published_on_loopback_only() -> None:
    for name, service in raw_compose(SCALE_FILE)["services"].items():
        for port in service.get("ports") or []:
            assert re.fullmatch(r"127\.0\.0\.1:\$\{GLASSBOX_[A-Z_]+_PORT:-\d+\}:\d+", str(port)), f"{name}: {port}"


def test_every_store_is_a_named_volume_and_every_bind_mount_a_read_only_repository_path() -> None:
    document = load_compose(ENV, SCALE_FILE)
    declared = set(document["volumes"])
    used = set()
    for name, service in document["services"].items():
        for entry, (source, _) in zip(service.get("volumes") or [], mounts(service), strict=True):
            if is_bind(source):
                assert source.startswith("./") and (ROOT / source).exists(), f"{name}: {source}"
                assert str(entry).endswith(":ro"), f"{name}: config mount {source} must be read-only"
            else:
                assert source in declared, f"{name}: volume {source} is not declared"
                used.add(source)
    assert used == declared, f"declared but unused: {sorted(declared - used)}"


def test_volume_init_hands_every_volume_it_mounts_to_the_collector_and_mimir_user() -> None:
    init = scaled()["volume-init"]
    command = init["command"]
    assert command[:3] == ["chown", "-R", "10001:10001"]
    assert sorted(command[3:]) == sorted(target for _, target in mounts(init))


def test_every_service_has_a_memory_limit_and_a_restart_policy() -> None:
    for name, service in scaled().items():
        assert memory_bytes(memory_limit(service) or "0") > 0, f"{name} has no memory limit"
        assert service["restart"] == ("no" if name in ONE_SHOT else "unless-stopped"), name
    for name in ("agent", "gateway-1", "gateway-2"):
        service = scaled()[name]
        limiter = int(environment(service)["GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB"]) * 1024**2
        assert memory_bytes(memory_limit(service) or "0") >= 1.2 * limiter, name


@pytest.mark.parametrize("variable", SECRETS)
def test_each_secret_comes_from_env_with_no_default(variable: str) -> None:
    with pytest.raises(InterpolationError, match=variable):
        load_compose({k: v for k, v in ENV.items() if k != variable}, SCALE_FILE)
    assert not re.search(rf"\$\{{{variable}:-", SCALE_FILE.read_text()), f"{variable} has a default"


def test_every_variable_is_in_env_example_with_the_same_default() -> None:
    documented = env_example()
    for name, default in compose_variables(SCALE_FILE).items():
        assert name in documented, f"missing from .env.example: {name}"
        if default is not None:
            assert documented[name] == default, f"{name}: .env.example says {documented[name]!r}, compose {default!r}"


def test_grafana_and_postgres_are_the_single_hosts_with_grafana_reading_the_scaled_backends() -> None:
    single, scale = services(COMPOSE_FILE), scaled()
    assert scale["postgres"] == single["postgres"]
    grafana, single_grafana = dict(scale["grafana"]), dict(single["grafana"])
    for key in ("image", "volumes", "ports", "healthcheck", "restart", "deploy"):
        assert grafana[key] == single_grafana[key], key
    env, single_env = environment(grafana), environment(single_grafana)
    hosts = {key for key in env if re.fullmatch(r"GLASSBOX_[A-Z]+_(HOST|PORT)", key)}
    assert {k: v for k, v in env.items() if k not in hosts} == {k: v for k, v in single_env.items() if k not in hosts}
    assert (env["GLASSBOX_PROMETHEUS_HOST"], env["GLASSBOX_PROMETHEUS_PORT"]) == ("mimir", "8080")
    assert env["GLASSBOX_LOKI_HOST"] == "loki-read" and env["GLASSBOX_TEMPO_HOST"] == "tempo-query-frontend"


def test_every_config_file_a_command_names_is_mounted_from_the_repository() -> None:
    for name, service in scaled().items():
        mounted = {target: source for source, target in mounts(service) if is_bind(source)}
        for word in service.get("command") or []:
            match = re.match(r"^--?config(?:\.file)?=(/\S+)$", str(word))
            if not match:
                continue
            path = match.group(1)
            directory = next(t for t in mounted if path.startswith(t + "/"))
            assert (ROOT / mounted[directory] / path[len(directory) + 1 :]).is_file(), f"{name}: {path}"


def test_the_names_rings_resolvers_and_scrape_jobs_look_up_exist() -> None:
    known = names()
    found = scaled()
    # The agents' DNS resolver, and the hosts every component is told to reach.
    assert environment(found["agent"])["GLASSBOX_GATEWAY_HOSTNAME"] in known
    for service in found.values():
        for key, value in environment(service).items():
            if key.endswith("_HOST") or key == "GLASSBOX_S3_ENDPOINT" or key == "GLASSBOX_KAFKA_ADDRESS":
                assert value.split(":")[0] in known, f"{key}={value} names no service"
    # Every replica of a ring answers to the name the ring joins through.
    for prefix, alias in (("loki-", "loki-members"), ("tempo-", "tempo-members"), ("mimir", "mimir-members")):
        members = [n for n in found if n.startswith(prefix) and "probe" not in n]
        assert members and all(alias in aliases(found[n]) for n in members), alias
    # Prometheus' DNS scrape jobs.
    agent = yaml.safe_load(scalable.PROMETHEUS_AGENT.read_text())
    looked_up = {n for job in agent["scrape_configs"] for sd in job.get("dns_sd_configs", []) for n in sd["names"]}
    assert looked_up <= known, f"scrape jobs look up unknown names: {sorted(looked_up - known)}"
    assert collector_tiers.DNS_RESOLVER["dns"]["hostname"].endswith(":-gateway}")


def test_tempo_partitions_match_the_host_names_of_live_stores_and_block_builders() -> None:
    distributed = yaml.safe_load(scalable.TEMPO_DISTRIBUTED.read_text())
    found = scaled()
    builders = {s["hostname"] for s in found.values() if "-target=block-builder" in s.get("command", [])}
    assert builders == set(distributed["block_builder"]["assigned_partitions"])
    stores = {s["hostname"] for s in found.values() if "-target=live-store" in s.get("command", [])}
    assert stores == {f"tempo-live-store-{n}" for n in range(scalable.TEMPO_PARTITIONS)}
    targets = {w.split("=")[1] for s in found.values() for w in s.get("command", []) if str(w).startswith("-target=")}
    tempo = {
        "distributor",
        "live-store",
        "block-builder",
        "query-frontend",
        "querier",
        "metrics-generator",
        "backend-scheduler",
        "backend-worker",
    }
    assert tempo <= targets and {"write", "read", "backend"} <= targets


def test_seaweedfs_serves_only_s3_to_the_backends_and_creates_every_bucket_they_use() -> None:
    found = scaled()
    store, init = found["seaweedfs"], found["seaweedfs-buckets"]
    script = " ".join(store["command"])
    # Master, volume and filer take no key: on the container's loopback only; S3 alone on the network.
    for flag in ("-ip.bind=127.0.0.1", "-s3.ip.bind=0.0.0.0", "-s3.config=", "-master.telemetry=false"):
        assert flag in script, flag
    # The identities file is written from the environment at start: no key in the command or the file system.
    assert ENV["GLASSBOX_S3_SECRET_ACCESS_KEY"] not in script and "$GLASSBOX_S3_SECRET_ACCESS_KEY" in script
    # Its own network, internal, no published port; only the services that hold the key reach it.
    assert set(store["networks"]) == {"object-store"} and "ports" not in store
    assert load_compose(ENV, SCALE_FILE)["networks"]["object-store"] == {"internal": True}
    users = {name for name, s in found.items() if "GLASSBOX_S3_ENDPOINT" in environment(s)}
    reach = {name for name, s in found.items() if "object-store" in (s.get("networks") or {})}
    assert reach == users | {"seaweedfs"}, sorted(reach ^ (users | {"seaweedfs"}))
    assert all(environment(found[name])["GLASSBOX_S3_ENDPOINT"] == scalable.S3_ENDPOINT for name in users)
    # The bucket job runs in the store's network namespace and creates every bucket a backend is given.
    assert init["network_mode"] == "service:seaweedfs"
    created = {v for k, v in environment(init).items() if k.endswith("_BUCKET")}
    used = {v for name in users for k, v in environment(found[name]).items() if k.endswith("_BUCKET")}
    assert used == created == set(scalable.BUCKETS.values())
    assert all(f'"${k}"' in " ".join(init["command"]) for k in environment(init) if k.endswith("_BUCKET"))
