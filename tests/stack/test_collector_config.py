"""The collector's pipeline config against the project's own build, and the invariants a user relies on."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from glassbox import conventions as c
from stack.binaries import ROOT, find_binary, missing_reason

CONFIG = ROOT / "collector" / "config.yaml"
MANIFEST = ROOT / "collector" / "manifest.yaml"

# Component type (as config.yaml names it) -> the Go module that provides it in the manifest.
MODULES = {
    "otlp": "otlpreceiver",
    "memory_limiter": "memorylimiterprocessor",
    "transform": "transformprocessor",
    "redaction": "redactionprocessor",
    "filter": "filterprocessor",
    "resource": "resourceprocessor",
    "otlp_http": "otlphttpexporter",
    "prometheus_remote_write": "prometheusremotewriteexporter",
    "forward": "forwardconnector",
    "health_check": "healthcheckextension",
    "file_storage": "filestorage",
    # the tiers (collector/agent.yaml, collector/gateway.yaml)
    "loadbalancing": "loadbalancingexporter",
    "tail_sampling": "tailsamplingprocessor",
    "spanmetrics": "spanmetricsconnector",
}
TIERS = (ROOT / "collector" / "agent.yaml", ROOT / "collector" / "gateway.yaml")
# In the build but not in the pipeline: the benchmark's pass-through pipeline exports to nop.
BENCHMARK_ONLY = {"nopexporter"}

# `validate` ignores unknown top-level keys of these two exporters (their HTTP client settings are squashed
# into the config struct), so a typo there would pass silently. Their keys in collector v0.161.0:
HTTP_CLIENT_KEYS = {
    "endpoint", "proxy_url", "tls", "read_buffer_size", "write_buffer_size", "timeout", "headers", "auth",
    "compression", "compression_params", "max_idle_conns", "max_idle_conns_per_host", "max_conns_per_host",
    "idle_conn_timeout", "disable_keep_alives", "http2_read_idle_timeout", "http2_ping_timeout", "cookies",
    "middlewares", "force_attempt_http2", "keepalive",
}  # fmt: skip
EXPORTER_KEYS = {
    "otlp_http": HTTP_CLIENT_KEYS
    | {"sending_queue", "retry_on_failure", "traces_endpoint", "metrics_endpoint", "logs_endpoint"}
    | {"profiles_endpoint", "encoding"},
    "prometheus_remote_write": HTTP_CLIENT_KEYS
    | {"http", "retry_on_failure", "namespace", "remote_write_queue", "external_labels", "max_batch_size_bytes"}
    | {"max_batch_request_parallelism", "resource_to_telemetry_conversion", "resource_constant_labels", "wal"}
    | {"target_info", "disable_scope_info", "add_metric_suffixes", "translation_strategy", "send_metadata"}
    | {"protobuf_message", "include_metadata_keys", "convert_explicit_histograms_to_nhcb"}
    | {"keep_classic_histograms"},
}


def config() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text()))


def collector() -> Path:
    binary = find_binary("collector")
    if binary is None:
        pytest.fail(f"{missing_reason('collector')}: `make test` builds it with collector/build.sh")
    return binary


def kind(component_id: str) -> str:
    return component_id.split("/", 1)[0]


def test_the_project_build_accepts_the_config() -> None:
    result = subprocess.run([collector(), "validate", f"--config={CONFIG}"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_validate_rejects_a_bad_key(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text(CONFIG.read_text().replace("  memory_limiter:\n", "  memory_limiter:\n    limit_mb: 10\n", 1))
    result = subprocess.run([collector(), "validate", f"--config={broken}"], capture_output=True, text=True)
    assert result.returncode != 0 and "limit_mb" in result.stderr


def test_the_manifest_lists_exactly_what_the_pipeline_uses_at_one_version() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    modules = {
        entry["gomod"].split()[0].rsplit("/", 1)[1]: entry["gomod"].split()[1]
        for section in ("receivers", "processors", "exporters", "connectors", "extensions")
        for entry in manifest[section]
    }
    assert len(set(modules.values())) == 1, modules
    assert manifest["dist"]["version"] == next(iter(modules.values())).lstrip("v")
    configs = [config(), *(yaml.safe_load(path.read_text()) for path in TIERS)]
    used = {kind(component) for cfg in configs
            for section in ("receivers", "processors", "exporters", "connectors", "extensions")
            for component in cfg.get(section, {})}  # fmt: skip
    assert {MODULES[k] for k in used} | BENCHMARK_ONLY == set(modules)
    build_script = (ROOT / "collector" / "build.sh").read_text()
    assert f"BUILDER_VERSION={next(iter(modules.values()))}" in build_script


def test_exporter_keys_that_validate_does_not_check() -> None:
    for exporter_id, settings in config()["exporters"].items():
        allowed = EXPORTER_KEYS.get(kind(exporter_id))
        if allowed is not None:
            assert set(settings) <= allowed, f"{exporter_id}: unknown keys {set(settings) - allowed}"


def test_memory_limiter_first_and_every_intake_pipeline_redacts() -> None:
    pipelines = config()["service"]["pipelines"]
    for name, pipeline in pipelines.items():
        if "otlp" in pipeline["receivers"]:
            assert pipeline["processors"][0] == "memory_limiter", name
            assert "redaction" in pipeline["processors"], name


def test_every_exporter_retries_and_survives_a_restart() -> None:
    cfg = config()
    storage_dir = cfg["extensions"]["file_storage"]["directory"]
    assert "GLASSBOX_COLLECTOR_DATA_DIR" in storage_dir
    for exporter_id, settings in cfg["exporters"].items():
        assert settings["retry_on_failure"]["enabled"] is True, exporter_id
        if kind(exporter_id) == "otlp_http":
            assert settings["sending_queue"]["storage"] == "file_storage", exporter_id
        else:
            assert "GLASSBOX_COLLECTOR_DATA_DIR" in settings["wal"]["directory"], exporter_id


def test_audit_events_are_split_from_app_logs_into_their_own_stream() -> None:
    cfg = config()
    pipelines = cfg["service"]["pipelines"]
    assert pipelines["logs"]["exporters"] == ["forward/logs"]
    audit, app = pipelines["logs/audit"], pipelines["logs/app"]
    assert audit["receivers"] == app["receivers"] == ["forward/logs"]
    keep = cfg["processors"][audit["processors"][0]]["log_conditions"]
    drop = cfg["processors"][app["processors"][0]]["log_conditions"]
    # Audit events and the signed checkpoints (the witness's copies) go to the audit stream, nothing else does.
    assert drop == [f'log.attributes["event.name"] == "{name}"' for name in c.AUDIT_STREAM_EVENT_NAMES]
    assert len(keep) == 1 and keep[0].startswith('log.attributes["event.name"] == nil or ')
    for name in c.AUDIT_STREAM_EVENT_NAMES:
        assert f'log.attributes["event.name"] != "{name}"' in keep[0]
    stream = cfg["processors"][audit["processors"][1]]["attributes"]
    assert stream == [{"key": c.AUDIT_STREAM_ATTRIBUTE, "value": c.AUDIT_STREAM_VALUE, "action": "upsert"}]
    assert audit["exporters"] != app["exporters"], "audit events get their own queue and failure counters"


def test_health_and_self_metrics_listen_on_explicit_addresses() -> None:
    cfg = config()
    assert cfg["extensions"]["health_check"]["endpoint"].startswith("${env:GLASSBOX_LISTEN_ADDRESS:-127.0.0.1}:")
    reader = cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert reader["host"] == "${env:GLASSBOX_LISTEN_ADDRESS:-127.0.0.1}"


def test_only_documented_environment_variables() -> None:
    variables = {name for path in (CONFIG, *TIERS) for name in re.findall(r"\$\{env:([A-Z0-9_]+)", path.read_text())}
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert variables, "the config reads its hosts and ports from the environment"
    assert variables <= documented, f"not in .env.example: {variables - documented}"


def test_the_redaction_blocks_are_what_the_generator_writes() -> None:
    """collector/config.yaml and the agents carry the processor generated from glassbox.redaction's detectors
    (regenerate with `python -m stack.collector_redaction`)."""
    from glassbox.redaction import collector as redaction_collector
    from stack import collector_redaction

    text = CONFIG.read_text()
    assert collector_redaction.current_block(text) == collector_redaction.config_block()
    assert config()["processors"]["redaction"] == redaction_collector.processor_config()
    agent_block = collector_redaction.agent_block(yaml.safe_load(text))
    for path in collector_redaction.AGENTS:
        assert collector_redaction.current_block(path.read_text()) == agent_block, path


def test_the_redaction_processor_checks_every_type_and_covers_jwts_and_google_keys() -> None:
    redaction = config()["processors"]["redaction"]
    assert redaction["redact_all_types"] is True and redaction["summary"] == "silent"
    # keys that v0.161.0's redactionprocessor reads (config.go); url_sanitizer exists but clusters URL paths for
    # cardinality and removes no credentials, so it is not used
    known = {
        "allow_all_keys", "allowed_keys", "blocked_key_patterns", "hash_function", "hmac_key", "ignored_keys",
        "ignored_key_patterns", "redact_all_types", "blocked_values", "allowed_values", "db_sanitizer", "summary",
        "url_sanitizer",
    }  # fmt: skip
    assert set(redaction) <= known
    # the expressions without RE2-only syntax, read by Python's engine (the collector build compiles them all in
    # test_the_project_build_accepts_the_config)
    values = [re.compile(v) for v in redaction["blocked_values"] if not re.search(r"\\[pxz]", v)]
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlX2J5dGVz"
    google = "AIzaSyD4fGh7Jk9Lm2Np5Qr8St1Uv3Wx6Yz0AbCd"
    for secret in (jwt, google):
        assert any(v.search(f"x {secret} y") for v in values), secret
