"""Prometheus' config, checked by promtool as it ships (Docker targets) and as the native run writes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from stack.binaries import ROOT, find_binary, missing_reason
from stack.native import NativeStack

CONFIG = ROOT / "prometheus" / "prometheus.yml"


def promtool() -> Path:
    binary = find_binary("promtool")
    if binary is None:
        pytest.fail(f"{missing_reason('promtool')}: `make test` installs Debian's prometheus package")
    return binary


def check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), "check", "config", str(config)], capture_output=True, text=True)


def test_promtool_accepts_the_config() -> None:
    result = check(CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_accepts_the_native_copy_with_its_ports(tmp_path: Path) -> None:
    stack = NativeStack(tmp_path, {"GLASSBOX_COLLECTOR_METRICS_PORT": "18888"})
    stack.write_prometheus_config()
    result = check(tmp_path / "prometheus" / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    targets = yaml.safe_load((tmp_path / "prometheus" / "targets" / "otelcol.yml").read_text())
    assert targets == [{"targets": ["127.0.0.1:18888"]}]


def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "prometheus.yml"
    broken.write_text(CONFIG.read_text().replace("scrape_interval:", "scrape_intervall:", 1))
    assert check(broken).returncode != 0


def test_every_scrape_job_has_a_target_file_and_late_samples_are_accepted() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    assert config["storage"]["tsdb"]["out_of_order_time_window"]
    for job in config["scrape_configs"]:
        for sd in job["file_sd_configs"]:
            for name in sd["files"]:
                assert (CONFIG.parent / name).is_file(), f"{job['job_name']}: {name}"
