"""kubernetes/*.values.yaml rendered by Helm 4 with the chart versions they were written for.

Each values file's chart is ``stack.helm_values.CHARTS``; its version is the one in the first line of
``kubernetes/chart-keys/<chart>.txt``. The chart archive is looked up as
``$GLASSBOX_CACHE_DIR/charts/<chart>-<version>.tgz`` (``helm pull`` writes that name; docs/scale.md says how to fetch
them). No package registry serves the charts, so where an archive is absent its tests are skipped with the path they
looked at; ``make helm`` builds Helm itself.

``helm template`` must succeed without a word on stderr (Helm's merge warnings go there), and what it renders must be
well-formed objects that carry the values' wiring: the in-cluster names the stack's services are reached by, the
object-store secret in every engine, and the collector configs as the chart merges them, accepted by the build.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from stack import helm_values
from stack.binaries import CACHE_DIR, find_binary
from tests.stack.test_collector_config import collector
from tests.support.binaries import requires

CHARTS_DIR = CACHE_DIR / "charts"
VALUES_FILES = sorted(path.name.removesuffix(".values.yaml") for path in helm_values.KUBERNETES.glob("*.values.yaml"))
# The release names of docs/scale.md's `helm install` lines; the others install under the values file's name.
RELEASES = {"collector-agent": "glassbox-agent", "collector-gateway": "glassbox-gateway"}
# Kubernetes object names: a DNS-1123 subdomain.
NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def release(name: str) -> str:
    return RELEASES.get(name, name)


def pin(name: str) -> tuple[str, str, str]:
    """(chart, version, Helm repository) a values file was written for, from its chart's key list."""
    if name not in helm_values.CHARTS:
        raise AssertionError(f"kubernetes/{name}.values.yaml names no chart in stack.helm_values.CHARTS")
    chart = helm_values.CHARTS[name]
    keys = helm_values.KUBERNETES / "chart-keys" / f"{chart}.txt"
    fields = keys.read_text().splitlines()[0].lstrip("# ").split()
    if "chart" not in fields[:-1]:
        raise AssertionError(f"{keys}: the first line names no chart version ('chart X'): {' '.join(fields)}")
    # The source repository's owner is the name its Helm repository is added under (docs/scale.md).
    return chart, fields[fields.index("chart") + 1], fields[0].split("/")[0]


def archive(name: str) -> Path:
    chart, version, _ = pin(name)
    return CHARTS_DIR / f"{chart}-{version}.tgz"


def needs_chart(name: str) -> pytest.MarkDecorator:
    chart, version, repository = pin(name)
    return pytest.mark.skipif(
        not archive(name).is_file(),
        reason=f"chart archive {archive(name)} is absent: `helm pull {repository}/{chart} --version {version} "
        f"-d {CHARTS_DIR}` (docs/scale.md)",
    )


def each_values_file(names: list[str]) -> list[Any]:
    return [pytest.param(name, marks=needs_chart(name), id=name) for name in names]


@functools.cache
def template(name: str) -> subprocess.CompletedProcess[str]:
    """`helm template` of the pinned chart with the values file, Helm's own state kept out of this machine's."""
    helm = find_binary("helm")
    assert helm is not None
    values = helm_values.path(name)
    with tempfile.TemporaryDirectory() as home:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "HELM_CACHE_HOME": f"{home}/cache"}
        env |= {"HELM_CONFIG_HOME": f"{home}/config", "HELM_DATA_HOME": f"{home}/data"}
        command = [str(helm), "template", release(name), str(archive(name)), "-f", str(values)]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def rendered(name: str) -> list[dict[str, Any]]:
    result = template(name)
    assert result.returncode == 0, f"helm template {name}: {result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def containers(document: dict[str, Any]) -> list[dict[str, Any]]:
    spec = document.get("spec") or {}
    pod = (spec.get("jobTemplate", {}).get("spec") or spec).get("template", {}).get("spec") or {}
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def problems(documents: list[dict[str, Any]]) -> list[str]:
    """What makes rendered objects unfit to apply: no identity, bad or duplicate names, containers without an image."""
    found: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for index, document in enumerate(documents):
        metadata = document.get("metadata") or {}
        name = metadata.get("name")
        where = f"document {index} ({document.get('kind')} {name})"
        for field, value in {
            "apiVersion": document.get("apiVersion"),
            "kind": document.get("kind"),
            "name": name,
        }.items():
            if not isinstance(value, str) or not value.strip():
                found.append(f"{where}: no {field}")
        if isinstance(name, str) and name.strip() and not (NAME.match(name) and len(name) <= 253):
            found.append(f"{where}: {name!r} is not a valid object name")
        key = (str(document.get("apiVersion")), str(document.get("kind")), str(name))
        if key in seen:
            found.append(f"{where}: rendered twice")
        seen.add(key)
        for container in containers(document):
            image = str(container.get("image") or "")
            if not container.get("name"):
                found.append(f"{where}: a container without a name")
            untagged = ":" not in image.rsplit("/", 1)[-1] and "@" not in image
            if not image or image.endswith((":", "@")) or untagged:
                found.append(f"{where}: container {container.get('name')} has no pinned image ({image!r})")
    return found


def test_the_structural_check_finds_what_makes_a_manifest_unfit() -> None:
    good = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "loki-gateway"}}
    pod = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "loki", "image": "docker.io/grafana/loki:"},
                        {"name": "sidecar", "image": "busybox"},
                    ]
                }
            }
        }
    }
    broken = [
        good,
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": ""}},
        {"kind": "Service", "metadata": {"name": "Loki_Gateway"}},
        dict(good),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "loki-read"}, **pod},
    ]
    assert problems([good]) == []
    assert problems(broken) == [
        "document 1 (ConfigMap ): no name",
        "document 2 (Service Loki_Gateway): no apiVersion",
        "document 2 (Service Loki_Gateway): 'Loki_Gateway' is not a valid object name",
        "document 3 (Service loki-gateway): rendered twice",
        "document 4 (Deployment loki-read): container loki has no pinned image ('docker.io/grafana/loki:')",
        "document 4 (Deployment loki-read): container sidecar has no pinned image ('busybox')",
    ]


def test_every_values_file_pins_a_chart_version() -> None:
    assert VALUES_FILES, "no kubernetes/*.values.yaml"
    for name in VALUES_FILES:
        chart, version, _ = pin(name)
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), f"{name}: {chart} chart version {version!r}"


@requires("helm")
@pytest.mark.parametrize("name", each_values_file(VALUES_FILES))
def test_the_chart_renders_the_values_without_a_warning(name: str) -> None:
    result = template(name)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", f"helm template {name} warned:\n{result.stderr}"
    assert rendered(name), f"helm template {name} rendered nothing"


@requires("helm")
@pytest.mark.parametrize("name", each_values_file(VALUES_FILES))
def test_every_rendered_object_is_well_formed(name: str) -> None:
    assert problems(rendered(name)) == []


# The in-cluster names the stack's configs reach each other by (stack.helm_values), each a Service of one release.
HOSTS = sorted({helm_values.GATEWAY_SERVICE, *(v for k, v in helm_values.SERVICES.items() if k.endswith("_HOST"))})


def releasing(host: str) -> str:
    """The values file whose release renders the Service named host: the one whose release name it starts with."""
    owners = [name for name in VALUES_FILES if host == release(name) or host.startswith(release(name) + "-")]
    assert len(owners) == 1, f"{host}: no single release of {VALUES_FILES} names it ({owners})"
    return owners[0]


@requires("helm")
@pytest.mark.parametrize("host", [pytest.param(h, marks=needs_chart(releasing(h)), id=h) for h in HOSTS])
def test_every_in_cluster_name_the_configs_use_is_a_rendered_service(host: str) -> None:
    services = {doc["metadata"]["name"] for doc in rendered(releasing(host)) if doc["kind"] == "Service"}
    assert host in services, f"{releasing(host)} renders no Service {host}: {sorted(services)}"


# Files that name the object-store secret: their engines must read it.
WITH_SECRET = [name for name in VALUES_FILES if helm_values.SECRET in helm_values.path(name).read_text()]


@requires("helm")
@pytest.mark.parametrize("name", each_values_file(WITH_SECRET))
def test_every_engine_reads_the_object_store_secret_and_expands_it(name: str) -> None:
    engines = [
        (document["metadata"]["name"], container)
        for document in rendered(name)
        for container in containers(document)
        if any(str(arg).startswith("-config.file") for arg in container.get("args", []))
    ]
    assert engines, f"{name}: no container runs an engine with -config.file"
    for workload, container in engines:
        where = f"{workload}/{container['name']}"
        assert {"secretRef": {"name": helm_values.SECRET}} in container.get("envFrom", []), where
        assert "-config.expand-env=true" in container["args"], where


COLLECTORS = [name for name in VALUES_FILES if helm_values.CHARTS.get(name) == "opentelemetry-collector"]


@requires("helm")
@pytest.mark.parametrize("name", each_values_file(COLLECTORS))
def test_the_collector_config_after_the_charts_merge_is_ours_and_validates(name: str, tmp_path: Path) -> None:
    maps = [doc for doc in rendered(name) if doc["kind"] == "ConfigMap" and "relay" in doc.get("data", {})]
    assert len(maps) == 1, f"{name}: {len(maps)} ConfigMaps with the collector's config"
    config = yaml.safe_load(maps[0]["data"]["relay"])
    given = yaml.safe_load(helm_values.path(name).read_text())["config"]
    # The chart adds the pod's identity as the collector's own resource; everything else is the values' config.
    telemetry = config["service"]["telemetry"]
    assert set(telemetry.pop("resource")) >= {"k8s.pod.name", "k8s.namespace.name"}
    assert config == helm_values.merge({}, given), f"{name}: the chart's merge changed more than the pod's resource"
    path = tmp_path / "config.yaml"
    path.write_text(maps[0]["data"]["relay"])
    result = subprocess.run([collector(), "validate", f"--config={path}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
