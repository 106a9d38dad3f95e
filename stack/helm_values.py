"""Values for the official Helm charts, generated from the stack's own configs so Kubernetes gets the same settings.

    python -m stack.helm_values        # writes kubernetes/*.values.yaml

* ``collector-agent`` and ``collector-gateway`` (open-telemetry/opentelemetry-collector): the tiers' configs
  (collector/agent-dns.yaml, collector/gateway.yaml) as the chart's ``config``, with every chart default that
  Glassbox does not use set to null (the chart merges its defaults into ``config``). The gateway's service is
  headless, so the agents' DNS resolver sees every gateway pod.
* ``loki`` (grafana-community/loki, simple scalable): loki/loki-scalable.yaml's limits, retention, audit stream,
  schema and compactor in ``loki.structuredConfig``, the bucket from the ``glassbox-s3`` secret.
* ``tempo`` (grafana-community/tempo-distributed 3.x): tempo/tempo-distributed.yaml's retention, span metrics
  and overrides; Tempo 3 needs a Kafka-compatible queue (``ingest.kafka.address``), which the chart does not run.
* ``mimir`` (grafana/mimir-distributed 6.2.0, whose default image is Mimir 3.2.0 as in docker-compose.scale.yml):
  mimir/mimir.yaml's limits and retention in the chart's classic architecture (no Kafka), blocks on S3. Its
  gateway serves queries under /prometheus.

Settings left to the environment in the stack's files are written here at their defaults (retention periods,
thresholds): edit them in the values file. Secrets never are: the object-store keys come from a Kubernetes
secret named ``glassbox-s3`` (GLASSBOX_S3_ACCESS_KEY_ID, GLASSBOX_S3_SECRET_ACCESS_KEY), read by the engines with
``-config.expand-env``. The object store is an S3 endpoint outside the charts (``S3_ENDPOINT``: SeaweedFS's
chart in the cluster, or any S3; docs/scale.md), reached path-style; no chart runs a store of its own.
``tests/stack/test_helm_values.py`` fails when a file is out of date or uses a key its chart does not have.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from stack import collector_tiers, scalable
from stack.components import NATIVE_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "kubernetes"
COLLECTOR_IMAGE = {"repository": "otel/opentelemetry-collector-contrib", "tag": "0.161.0"}
LOKI_IMAGE_TAG = "3.7.8"
TEMPO_IMAGE_TAG = "3.0.3"
MIMIR = ROOT / "mimir" / "mimir.yaml"
METRICS_RETENTION = NATIVE_DEFAULTS["GLASSBOX_METRICS_RETENTION"]
SECRET = "glassbox-s3"
SECRET_VARIABLES = ("GLASSBOX_S3_ACCESS_KEY_ID", "GLASSBOX_S3_SECRET_ACCESS_KEY")
# The S3 endpoint every backend uses: the S3 service of a SeaweedFS release named seaweedfs (its own chart), plain
# HTTP inside the cluster. Another store: its host:port here, and S3_INSECURE False for HTTPS (docs/scale.md).
S3_ENDPOINT = "seaweedfs-s3:8333"
S3_INSECURE = True
# In-cluster names the releases get (release names glassbox-gateway, loki, tempo and mimir; docs/scale.md).
GATEWAY_SERVICE = "glassbox-gateway"
SERVICES = {
    # The Tempo distributor's OTLP/HTTP port, Loki's gateway (pushes go to the write path) and Mimir's gateway.
    "GLASSBOX_TEMPO_HOST": "tempo-distributor",
    "GLASSBOX_TEMPO_OTLP_HTTP_PORT": "4318",
    "GLASSBOX_LOKI_HOST": "loki-gateway",
    "GLASSBOX_LOKI_PORT": "80",
    "GLASSBOX_PROMETHEUS_HOST": "mimir-gateway",
    "GLASSBOX_PROMETHEUS_PORT": "80",
    "GLASSBOX_PROMETHEUS_WRITE_PATH": "/api/v1/push",
}
# The chart's default config components Glassbox does not use (null removes a key from a merged map).
CHART_DEFAULTS_UNUSED: dict[str, Any] = {
    "receivers": {"jaeger": None, "zipkin": None, "prometheus": None},
    "exporters": {"debug": None},
    "processors": {"batch": None, "memory_limiter": {"limit_percentage": None, "spike_limit_percentage": None}},
}
# The collector's memory: the memory_limiter's limit, and the container's 25% above it (as in docker-compose.yml).
COLLECTOR_MEMORY_MIB = 512
_DEFAULTED = re.compile(r"\$\{(?:env:)?(GLASSBOX_[A-Z0-9_]+):-([^}]*)\}")


def at_defaults(config: Any) -> Any:
    """Every ``${env:GLASSBOX_X:-default}`` / ``${GLASSBOX_X:-default}`` replaced by its default, recursively."""
    if isinstance(config, dict):
        return {key: at_defaults(value) for key, value in config.items()}
    if isinstance(config, list):
        return [at_defaults(item) for item in config]
    if isinstance(config, str):
        whole = _DEFAULTED.fullmatch(config)
        if whole:
            return yaml.safe_load(whole.group(2)) if whole.group(2) else ""
        return _DEFAULTED.sub(lambda match: match.group(2), config)
    return config


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of values maps: maps merge, anything else (lists too) is replaced, null deletes."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = merge(out[key] if isinstance(out.get(key), dict) else {}, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _secret_env() -> list[dict[str, Any]]:
    return [{"secretRef": {"name": SECRET}}]


def _collector(mode: str, config: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    environment = {
        "GLASSBOX_LISTEN_ADDRESS": "0.0.0.0",
        "GLASSBOX_COLLECTOR_DATA_DIR": "/var/lib/otelcol",
        "GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB": str(COLLECTOR_MEMORY_MIB),
        **env,
    }
    return {
        "mode": mode,
        "image": dict(COLLECTOR_IMAGE),
        # GOMEMLIMIT at 80% of the container's limit (the chart's own setting): about the memory_limiter's limit.
        "useGOMEMLIMIT": True,
        "resources": {"limits": {"memory": f"{COLLECTOR_MEMORY_MIB * 5 // 4}Mi"}},
        "extraEnvs": [{"name": name, "value": value} for name, value in environment.items()],
        # The persistent queues (file_storage); an emptyDir survives a container restart, not a new pod.
        "extraVolumes": [{"name": "queue", "emptyDir": {}}],
        "extraVolumeMounts": [{"name": "queue", "mountPath": "/var/lib/otelcol"}],
        "ports": {
            **{name: {"enabled": False} for name in ("jaeger-compact", "jaeger-thrift", "jaeger-grpc", "zipkin")},
            "metrics": {"enabled": True},
        },
        "config": merge(CHART_DEFAULTS_UNUSED, config),
    }


def collector_agent() -> dict[str, Any]:
    config = yaml.safe_load(collector_tiers.AGENT_DNS.read_text())
    # One agent per node; apps reach it through the node's address (hostPort 4317/4318, the chart's default).
    return _collector("daemonset", config, {"GLASSBOX_GATEWAY_HOSTNAME": GATEWAY_SERVICE})


def collector_gateway() -> dict[str, Any]:
    values = _collector("deployment", yaml.safe_load(collector_tiers.GATEWAY.read_text()), SERVICES)
    values.update(
        {
            "fullnameOverride": GATEWAY_SERVICE,
            "replicaCount": 2,
            # Headless: the name resolves to every gateway pod, as the agents' loadbalancing exporter needs.
            "service": {"clusterIP": "None"},
        }
    )
    return values


def loki() -> dict[str, Any]:
    config = at_defaults(yaml.safe_load(scalable.LOKI_SCALABLE.read_text()))
    s3 = config["common"]["storage"]["s3"]
    structured = {key: config[key] for key in ("limits_config", "compactor", "query_range", "pattern_ingester")}
    structured["analytics"] = config["analytics"]
    return {
        "deploymentMode": "SimpleScalable",
        "loki": {
            "image": {"tag": LOKI_IMAGE_TAG},
            "auth_enabled": False,
            "schemaConfig": config["schema_config"],
            "storage": {
                "type": "s3",
                "bucketNames": {"chunks": s3["bucketnames"], "ruler": s3["bucketnames"], "admin": s3["bucketnames"]},
                "s3": {
                    "endpoint": S3_ENDPOINT,
                    "accessKeyId": "${GLASSBOX_S3_ACCESS_KEY_ID}",
                    "secretAccessKey": "${GLASSBOX_S3_SECRET_ACCESS_KEY}",
                    "s3ForcePathStyle": True,
                    "insecure": S3_INSECURE,
                },
            },
            "structuredConfig": structured,
        },
        "defaults": {"extraEnvFrom": _secret_env()},
        "singleBinary": {"replicas": 0},
        "write": {"replicas": 3},
        "read": {"replicas": 3},
        "backend": {"replicas": 3},
        # The chart's canary and its test go together; Glassbox's own canary is `glassbox doctor --watch`.
        "lokiCanary": {"enabled": False},
        "test": {"enabled": False},
    }


def tempo() -> dict[str, Any]:
    """tempo-distributed 3.x (Tempo 3.0.3): Kafka between distributors and live-stores, blocks on S3."""
    config = at_defaults(yaml.safe_load(scalable.TEMPO_DISTRIBUTED.read_text()))
    s3 = config["storage"]["trace"]["s3"]
    generator = config["metrics_generator"]
    retention = config["backend_worker"]["compaction"]
    return {
        "tempo": {"image": {"tag": TEMPO_IMAGE_TAG}},
        "storage": {
            "trace": {
                "backend": "s3",
                "s3": {
                    "bucket": s3["bucket"],
                    "endpoint": S3_ENDPOINT,
                    "access_key": "${GLASSBOX_S3_ACCESS_KEY_ID}",
                    "secret_key": "${GLASSBOX_S3_SECRET_ACCESS_KEY}",
                    "insecure": S3_INSECURE,
                    "forcepathstyle": True,
                },
            }
        },
        "traces": {"otlp": {"grpc": {"enabled": True}, "http": {"enabled": True}}},
        # Tempo 3 needs a Kafka-compatible queue in distributed mode; the chart does not bring one.
        "ingest": {"kafka": {**config["ingest"]["kafka"], "address": "kafka:9092"}},
        "liveStore": {"replicas": scalable.TEMPO_PARTITIONS},
        "blockBuilder": {"replicas": scalable.TEMPO_PARTITIONS},
        "backendScheduler": {"config": {"provider": {"compaction": {"compaction": retention}}}},
        "backendWorker": {"config": {"compaction": retention}},
        "metricsGenerator": {
            "enabled": True,
            "config": {
                "processor": generator["processor"],
                "storage": {
                    "remote_write": [
                        {**writer, "url": f"http://{SERVICES['GLASSBOX_PROMETHEUS_HOST']}/api/v1/push"}
                        for writer in generator["storage"]["remote_write"]
                    ]
                },
            },
        },
        "overrides": {"defaults": config["overrides"]["defaults"]},
        "defaults": {"extraArgs": ["-config.expand-env=true"], "extraEnvFrom": _secret_env()},
    }


def mimir() -> dict[str, Any]:
    """mimir-distributed 6.x in its classic architecture (no Kafka), blocks on S3, the single host's retention."""
    config = yaml.safe_load(MIMIR.read_text())
    limits = dict(config["limits"], compactor_blocks_retention_period=METRICS_RETENTION)
    return {
        # The chart's own classic-architecture settings: no Kafka, ingesters take writes directly.
        "kafka": {"enabled": False},
        # The chart's own object store (a MinIO subchart) stays off: the blocks go to S3_ENDPOINT.
        "minio": {"enabled": False},
        "mimir": {
            "structuredConfig": {
                "multitenancy_enabled": config["multitenancy_enabled"],
                "ingest_storage": {
                    "enabled": False,
                    "kafka": {"address": None, "topic": None, "auto_create_topic_default_partitions": None},
                },
                "distributor": {"remote_timeout": None},
                "ingester": {"push_grpc_method_enabled": None},
                "common": {
                    "storage": {
                        "backend": "s3",
                        "s3": {
                            "endpoint": S3_ENDPOINT,
                            "bucket_name": scalable.BUCKETS["mimir"],
                            "access_key_id": "${GLASSBOX_S3_ACCESS_KEY_ID}",
                            "secret_access_key": "${GLASSBOX_S3_SECRET_ACCESS_KEY}",
                            "insecure": S3_INSECURE,
                            "bucket_lookup_type": "path",
                        },
                    }
                },
                "blocks_storage": {"storage_prefix": config["blocks_storage"]["storage_prefix"]},
                "ruler_storage": {"storage_prefix": config["ruler_storage"]["storage_prefix"]},
                "alertmanager_storage": {"storage_prefix": "alertmanager"},
                "limits": limits,
                "usage_stats": config["usage_stats"],
            }
        },
        "global": {"extraEnvFrom": _secret_env()},
    }


GENERATED = {
    "collector-agent": collector_agent,
    "collector-gateway": collector_gateway,
    "loki": loki,
    "tempo": tempo,
    "mimir": mimir,
}
CHARTS = {
    "collector-agent": "opentelemetry-collector",
    "collector-gateway": "opentelemetry-collector",
    "loki": "loki",
    "tempo": "tempo-distributed",
    "mimir": "mimir-distributed",
}


def path(name: str) -> Path:
    return KUBERNETES / f"{name}.values.yaml"


def render(name: str, values: dict[str, Any]) -> str:
    chart = CHARTS[name]
    keys = (KUBERNETES / "chart-keys" / f"{chart}.txt").read_text().splitlines()[0].lstrip("# ")
    return (
        f"# Values for the {chart} chart ({keys}).\n"
        "# Generated by `python -m stack.helm_values` from the stack's configs: edit those or the generator, not\n"
        "# this file (tests/stack/test_helm_values.py checks it is current). See docs/scale.md.\n"
        # Through JSON first: no YAML anchors for objects the configs share, so each file reads on its own.
        + str(yaml.safe_dump(json.loads(json.dumps(values)), sort_keys=False, width=120))
    )


def main(argv: list[str] | None = None) -> int:
    KUBERNETES.mkdir(exist_ok=True)
    for name, make in GENERATED.items():
        path(name).write_text(render(name, make()))
        print(f"wrote {path(name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
