"""The distribution users install: `make dist`'s sdist and wheel, named glassbox-otel, licensed, twine-clean."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
import yaml

import glassbox
from tests.conftest import ROOT

# image repository in a compose file -> how NOTICE names it
NOTICE_NAMES = {
    "otel/opentelemetry-collector-contrib": "OpenTelemetry Collector",
    "prom/prometheus": "Prometheus",
    "grafana/grafana": "Grafana",
    "grafana/loki": "Grafana Loki",
    "grafana/tempo": "Grafana Tempo",
    "grafana/mimir": "Grafana Mimir",
    "glassbox/postgres": "PostgreSQL",
    "postgres": "PostgreSQL",
    "apache/kafka": "Apache Kafka",
    "chrislusf/seaweedfs": "SeaweedFS",
    "busybox": "BusyBox",
}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT / "instrumentation")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return out


def test_sdist_and_wheel_are_named_glassbox_otel_at_the_package_s_version_and_pass_twine_check(dist: Path) -> None:
    version = glassbox.__version__
    assert sorted(p.name for p in dist.iterdir()) == [
        f"glassbox_otel-{version}-py3-none-any.whl",
        f"glassbox_otel-{version}.tar.gz",
    ]
    check = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_the_wheel_says_its_licence_and_carries_license_and_notice(dist: Path) -> None:
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        info = f"glassbox_otel-{glassbox.__version__}.dist-info"
        metadata = Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        assert metadata["Name"] == "glassbox-otel"
        assert metadata["License-Expression"] == "Apache-2.0"
        assert archive.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert archive.read(f"{info}/licenses/NOTICE") == (ROOT / "NOTICE").read_bytes()
        assert "glassbox/db/sql/v2_least_privilege.sql" in archive.namelist()
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert f"glassbox_otel-{glassbox.__version__}/LICENSE" in names
    assert f"glassbox_otel-{glassbox.__version__}/NOTICE" in names


def test_the_licence_is_apache_2_0() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text


def test_notice_names_every_service_the_compose_files_run_with_its_licence() -> None:
    notice = (ROOT / "NOTICE").read_text()
    images = set()
    for name in ("docker-compose.yml", "docker-compose.scale.yml"):
        text = (ROOT / name).read_text()
        images.update(re.findall(r"^\s*image:\s*([^\s:#]+(?:/[^\s:#]+)*)", text, re.M))
        model = yaml.safe_load(text)
        images.update(
            str(s["image"]).split(":")[0]
            for s in model.get("services", {}).values()
            if isinstance(s, dict) and "image" in s
        )
    unnamed = sorted(image for image in images if NOTICE_NAMES.get(image) is None)
    assert unnamed == [], "add these images to NOTICE_NAMES and NOTICE"
    for image in images:
        line = next((line for line in notice.splitlines() if NOTICE_NAMES[image] in line), "")
        assert re.search(r"(Apache-2\.0|AGPL-3\.0-only|PostgreSQL License|GPL-2\.0-only)\s*$", line), (image, line)
