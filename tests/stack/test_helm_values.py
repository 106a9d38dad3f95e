"""kubernetes/*.values.yaml: generated from the stack's configs, only keys their charts have, and the configs
they carry accepted by the engines (the collector build validates the collector's; Loki's keys are Loki 3.7.8's).

No Helm or cluster is needed: ``kubernetes/chart-keys/*.txt`` list the key paths of each chart's values.yaml at
the version named in their first line, flattened as tests/config_keys.key_paths does.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import helm_values
from tests.stack.test_collector_config import collector
from tests.stack.test_loki_config import ACCEPTED_KEYS as LOKI_ACCEPTED_KEYS
from tests.stack.test_tempo_config import ACCEPTED_KEYS as TEMPO_ACCEPTED_KEYS
from tests.support.config_keys import accepted_keys, key_paths

# Free-form sections: what is under them is the engine's own config, checked against the engine below.
FREE_FORM = {
    "opentelemetry-collector": ("config",),
    "loki": ("loki.structuredConfig", "loki.schemaConfig"),
    "tempo-distributed": (
        "overrides.defaults",
        "storage.trace.s3",
        "metricsGenerator.config.processor",
        "metricsGenerator.config.storage.remote_write",
    ),
    "mimir-distributed": ("mimir.structuredConfig",),
}
# Keys a chart reads that its values.yaml only shows in a comment or its schema, each with where it is documented.
DOCUMENTED_ELSEWHERE = {
    "opentelemetry-collector": {"service.clusterIP"},  # values.schema.json: service.clusterIP
    "loki": {  # values.yaml: the commented loki.storage.bucketNames example the storage templates read
        "loki.storage.bucketNames",
        "loki.storage.bucketNames.chunks",
        "loki.storage.bucketNames.ruler",
        "loki.storage.bucketNames.admin",
    },
    "tempo-distributed": set(),
    "mimir-distributed": set(),
}


def values(name: str) -> dict[str, Any]:
    loaded = yaml.safe_load(helm_values.path(name).read_text())
    assert isinstance(loaded, dict)
    return loaded


def chart_keys(chart: str) -> set[str]:
    return accepted_keys(helm_values.KUBERNETES / "chart-keys" / f"{chart}.txt")[1]


@pytest.mark.parametrize("name", sorted(helm_values.GENERATED))
def test_the_values_files_are_current(name: str) -> None:
    assert helm_values.path(name).read_text() == helm_values.render(name, helm_values.GENERATED[name]())


@pytest.mark.parametrize("name", sorted(helm_values.GENERATED))
def test_every_key_is_one_the_chart_has(name: str) -> None:
    chart = helm_values.CHARTS[name]
    header, known = accepted_keys(helm_values.KUBERNETES / "chart-keys" / f"{chart}.txt")
    assert header and " chart " in header[0], "the key list names the chart version it was read from"
    free = FREE_FORM[chart]
    ours = {
        key
        for key in key_paths(values(name))
        if not any(key == section or key.startswith(section + ".") for section in free)
    }
    known |= DOCUMENTED_ELSEWHERE[chart]

    def has(key: str) -> bool:
        """A key the chart lists, a map above one, or inside one it lists empty ({} or []: Kubernetes objects)."""
        if key in known:
            return True
        return any(k.startswith((key + ".", key + "[]")) or key.startswith((k + ".", k + "[]")) for k in known)

    unknown = sorted(key for key in ours if not has(key))
    assert not unknown, f"{name}: keys the {chart} chart does not have: {unknown}"


@pytest.mark.parametrize("name", ["collector-agent", "collector-gateway"])
def test_the_collector_config_survives_the_charts_merge_and_validates(name: str, tmp_path: Path) -> None:
    given = values(name)["config"]
    # The chart's own default components, from its key list: each must be nulled or be one Glassbox defines.
    defaults = {
        tuple(key.split(".")[1:3])
        for key in chart_keys("opentelemetry-collector")
        if key.startswith(("config.receivers.", "config.exporters.", "config.processors."))
    }
    for section, component in defaults:
        assert component in given[section], f"the chart's default {section}.{component} is neither nulled nor ours"
    for pipeline in ("traces", "metrics", "logs"):
        assert pipeline in given["service"]["pipelines"], f"the chart's default {pipeline} pipeline would remain"
    effective = helm_values.merge({}, given)  # nulls removed, as Helm's merge does
    tier = "agent-dns" if name == "collector-agent" else "gateway"
    assert effective == yaml.safe_load((helm_values.ROOT / "collector" / f"{tier}.yaml").read_text())
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(effective))
    result = subprocess.run([collector(), "validate", f"--config={config}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_the_gateways_service_is_headless_and_the_agents_resolve_it() -> None:
    gateway = values("collector-gateway")
    agent = values("collector-agent")
    assert gateway["service"]["clusterIP"] == "None"
    env = {item["name"]: item["value"] for item in agent["extraEnvs"]}
    assert env["GLASSBOX_GATEWAY_HOSTNAME"] == gateway["fullnameOverride"]
    assert agent["mode"] == "daemonset" and gateway["replicaCount"] >= 2


def test_loki_carries_the_single_host_retention_audit_stream_and_labels() -> None:
    loki = values("loki")
    structured = loki["loki"]["structuredConfig"]
    single = helm_values.at_defaults(yaml.safe_load((helm_values.ROOT / "loki" / "loki.yaml").read_text()))
    assert structured["limits_config"] == single["limits_config"]
    assert structured["compactor"]["retention_enabled"] is True
    assert loki["deploymentMode"] == "SimpleScalable" and loki["singleBinary"]["replicas"] == 0
    _, accepted = accepted_keys(LOKI_ACCEPTED_KEYS)
    unknown = sorted(key_paths(structured) - accepted)
    assert not unknown, f"keys Loki 3.7.8 does not accept: {unknown}"


@pytest.mark.parametrize("name", sorted(helm_values.GENERATED))
def test_secrets_come_from_a_kubernetes_secret_never_from_the_values(name: str) -> None:
    text = helm_values.path(name).read_text()
    for variable in helm_values.SECRET_VARIABLES:
        for line in text.splitlines():
            if variable in line:
                assert f"${{{variable}}}" in line, f"{variable} must be read from the environment: {line.strip()}"
    if "S3" in text:
        given = values(name)
        sources = [*given.get("defaults", {}).get("extraEnvFrom", []), *given.get("global", {}).get("extraEnvFrom", [])]
        assert {"secretRef": {"name": helm_values.SECRET}} in sources


def test_tempos_free_form_sections_are_tempo_config_it_accepts() -> None:
    tempo = values("tempo")
    _, accepted = accepted_keys(TEMPO_ACCEPTED_KEYS)
    sections = {
        "overrides.defaults": tempo["overrides"]["defaults"],
        "metrics_generator.processor": tempo["metricsGenerator"]["config"]["processor"],
        "storage.trace.s3": tempo["storage"]["trace"]["s3"],
        "metrics_generator.storage.remote_write[]": tempo["metricsGenerator"]["config"]["storage"]["remote_write"][0],
    }
    for prefix, section in sections.items():
        unknown = sorted(f"{prefix}.{key}" for key in key_paths(section) if f"{prefix}.{key}" not in accepted)
        assert not unknown, f"keys Tempo 3.0.3 does not accept: {unknown}"


def test_every_backend_uses_the_one_external_s3_endpoint_path_style_and_no_chart_runs_a_store() -> None:
    loki_s3 = values("loki")["loki"]["storage"]["s3"]
    tempo_s3 = values("tempo")["storage"]["trace"]["s3"]
    mimir = values("mimir")
    mimir_s3 = mimir["mimir"]["structuredConfig"]["common"]["storage"]["s3"]
    assert {loki_s3["endpoint"], tempo_s3["endpoint"], mimir_s3["endpoint"]} == {helm_values.S3_ENDPOINT}
    assert {loki_s3["insecure"], tempo_s3["insecure"], mimir_s3["insecure"]} == {helm_values.S3_INSECURE}
    assert loki_s3["s3ForcePathStyle"] is True and tempo_s3["forcepathstyle"] is True
    assert mimir_s3["bucket_lookup_type"] == "path"
    # mimir-distributed runs a MinIO subchart unless told not to; the loki chart's is off by default.
    assert mimir["minio"] == {"enabled": False}
    assert not values("loki").get("minio", {}).get("enabled", False)
