"""The backends at scale, generated from the single-host configs so both layouts keep one set of settings.

    python -m stack.scalable    # writes loki/loki-scalable.yaml, tempo/tempo-distributed.yaml, prometheus-agent.yml

* **Loki, simple scalable** (``loki/loki-scalable.yaml``): loki/loki.yaml with its retention, audit stream,
  index labels and limits unchanged, but chunks, index and rules in an S3 bucket and the rings shared over
  memberlist, so the same file runs as ``-target=write``, ``-target=read`` and ``-target=backend``, each
  replicated.
* **Tempo, distributed** (``tempo/tempo-distributed.yaml``): tempo/tempo.yaml with its retention, span metrics and
  overrides unchanged, blocks in an S3 bucket, and the Tempo 3 microservices wiring: spans go from the
  distributors through a Kafka topic (``GLASSBOX_KAFKA_ADDRESS``) to the live-stores and block-builders, rings
  over memberlist. The same file runs as every ``-target`` (distributor, live-store, block-builder,
  query-frontend, querier, metrics-generator, backend-scheduler, backend-worker). Tempo 3 has no distributed
  mode without Kafka, and no longer runs several single binaries side by side.
* **Prometheus as a scraper** (``prometheus/prometheus-agent.yml``): prometheus/prometheus.yml's jobs, found by
  DNS instead of target files, sent by remote write to Mimir, which stores and serves every metric (the
  gateways write the apps' metrics there too). Run with ``--agent``.

Settings for the object store, from the environment (docker-compose.scale.yml sets them; never in a file):
``GLASSBOX_S3_ENDPOINT`` (host:port), ``GLASSBOX_S3_ACCESS_KEY_ID``, ``GLASSBOX_S3_SECRET_ACCESS_KEY``,
``GLASSBOX_S3_INSECURE`` (true for plain HTTP, as SeaweedFS inside compose's network). Buckets:
``GLASSBOX_LOKI_BUCKET``, ``GLASSBOX_TEMPO_BUCKET``, ``GLASSBOX_MIMIR_BUCKET`` (defaults below). Requests are
path-style (``http://endpoint/bucket/key``), which SeaweedFS, Ceph RGW, GCS and AWS S3 all take.
``tests/e2e/test_scalable.py`` fails when a generated file is out of date.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
LOKI = ROOT / "loki" / "loki.yaml"
LOKI_SCALABLE = ROOT / "loki" / "loki-scalable.yaml"
TEMPO = ROOT / "tempo" / "tempo.yaml"
TEMPO_DISTRIBUTED = ROOT / "tempo" / "tempo-distributed.yaml"
PROMETHEUS = ROOT / "prometheus" / "prometheus.yml"
PROMETHEUS_AGENT = ROOT / "prometheus" / "prometheus-agent.yml"
BUCKETS = {"loki": "glassbox-loki", "tempo": "glassbox-tempo", "mimir": "glassbox-mimir"}
# The object store of docker-compose.scale.yml: SeaweedFS's S3 gateway (service seaweedfs, its default port).
S3_ENDPOINT = "seaweedfs:8333"
# The address every replica of a scalable Loki gossips on; a DNS name that resolves to all of them.
LOKI_MEMBERS = "${GLASSBOX_LOKI_MEMBERS:-loki-members}"
# Where Prometheus finds each job's targets in docker-compose.scale.yml (DNS A records, one per replica).
SCRAPE_DNS: dict[str, list[tuple[str, int]]] = {
    "otelcol": [("agent", 8888), ("gateway", 8888)],
    "loki": [("loki-write", 3100), ("loki-read", 3100), ("loki-backend", 3100)],
    "tempo": [
        (f"tempo-{part}", 3200)
        for part in (
            "distributor",
            "live-store-0",
            "live-store-1",
            "block-builder-0",
            "block-builder-1",
            "query-frontend",
            "querier",
            "metrics-generator",
            "backend-scheduler",
            "backend-worker",
        )
    ],
    "grafana": [("grafana", 3000)],
    "mimir": [("mimir", 8080)],
}
# Prometheus reads no environment variables: the service name docker-compose.scale.yml gives Mimir.
MIMIR_PUSH = "http://mimir:8080/api/v1/push"


def header(source: str) -> str:
    # Loki expands variables in comments too, so the header holds no dollar sign.
    return (
        f"# Generated from {source} by `python -m stack.scalable`: edit that file or the generator, not this one\n"
        "# (tests/e2e/test_scalable.py checks it is current). See docs/scale.md.\n"
    )


def s3(bucket: str) -> dict[str, Any]:
    return {
        "endpoint": f"${{GLASSBOX_S3_ENDPOINT:-{S3_ENDPOINT}}}",
        "bucketnames": f"${{GLASSBOX_{bucket.upper()}_BUCKET:-{BUCKETS[bucket]}}}",
        "access_key_id": "${GLASSBOX_S3_ACCESS_KEY_ID}",
        "secret_access_key": "${GLASSBOX_S3_SECRET_ACCESS_KEY}",
        "insecure": "${GLASSBOX_S3_INSECURE:-false}",
        "s3forcepathstyle": True,
    }


def loki_scalable(base: dict[str, Any] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(base if base is not None else yaml.safe_load(LOKI.read_text()))
    # The target comes from each process's -target flag (write, read or backend).
    config.pop("target", None)
    common = config["common"]
    # Each replica advertises its own address to the others: its interface's (Loki's default when empty).
    common["instance_addr"] = "${GLASSBOX_LOKI_INSTANCE_ADDR:-}"
    common["replication_factor"] = "${GLASSBOX_LOKI_REPLICATION_FACTOR:-1}"
    # Each replica's name in the rings is its host name (Loki's default). Processes that share a host name, as
    # on one machine, must each be given one with -common.storage.ring.instance-id.
    common["ring"] = {"kvstore": {"store": "memberlist"}}
    common["storage"] = {"s3": s3("loki")}
    # Read and write replicas send delete and retention requests to the backend's compactor.
    common["compactor_address"] = "http://${GLASSBOX_LOKI_BACKEND_ADDRESS:-loki-backend:3100}"
    config["memberlist"] = {
        "join_members": [LOKI_MEMBERS],
        "bind_port": "${GLASSBOX_LOKI_MEMBERLIST_PORT:-7946}",
        "advertise_addr": "${GLASSBOX_LOKI_INSTANCE_ADDR:-}",
        "advertise_port": "${GLASSBOX_LOKI_MEMBERLIST_PORT:-7946}",
    }
    for schema in config["schema_config"]["configs"]:
        schema["object_store"] = "s3"
    config["compactor"]["delete_request_store"] = "s3"
    return dict(config)


# Tempo's distributed mode: each component a process of its own, spans through Kafka. Live-stores and
# block-builders read one Kafka partition each, the one their host name ends in (-0, -1).
TEMPO_PARTITIONS = 2
TEMPO_SERVICES = {
    "query_frontend": "tempo-query-frontend",
    "backend_scheduler": "tempo-backend-scheduler",
    "block_builder": "tempo-block-builder",
}


def tempo_distributed(base: dict[str, Any] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(base if base is not None else yaml.safe_load(TEMPO.read_text()))
    # The rings are shared over memberlist (Tempo's default) instead of held in one process.
    config["distributor"].pop("ring", None)
    config["memberlist"] = {
        "join_members": ["${GLASSBOX_TEMPO_MEMBERS:-tempo-members}:7946"],
        "bind_port": 7946,
        "abort_if_cluster_join_fails": False,
    }
    config["ingest"] = {
        "kafka": {
            "address": "${GLASSBOX_KAFKA_ADDRESS:-kafka:9092}",
            "topic": "glassbox-traces",
            "auto_create_topic_enabled": True,
            "auto_create_topic_default_partitions": TEMPO_PARTITIONS,
        }
    }
    builder = TEMPO_SERVICES["block_builder"]
    config["block_builder"] = {"assigned_partitions": {f"{builder}-{n}": [n] for n in range(TEMPO_PARTITIONS)}}
    grpc = "${GLASSBOX_TEMPO_GRPC_PORT:-9097}"
    config["querier"] = {"frontend_worker": {"frontend_address": f"{TEMPO_SERVICES['query_frontend']}:{grpc}"}}
    http = "${GLASSBOX_TEMPO_PORT:-3200}"
    config["backend_worker"]["backend_scheduler_addr"] = f"{TEMPO_SERVICES['backend_scheduler']}:{http}"
    config["storage"]["trace"] = {
        "backend": "s3",
        "wal": config["storage"]["trace"]["wal"],
        "s3": {
            "bucket": "${GLASSBOX_TEMPO_BUCKET:-glassbox-tempo}",
            "endpoint": f"${{GLASSBOX_S3_ENDPOINT:-{S3_ENDPOINT}}}",
            "access_key": "${GLASSBOX_S3_ACCESS_KEY_ID}",
            "secret_key": "${GLASSBOX_S3_SECRET_ACCESS_KEY}",
            "insecure": "${GLASSBOX_S3_INSECURE:-false}",
            "forcepathstyle": True,
        },
    }
    return dict(config)


def prometheus_agent(base: dict[str, Any] | None = None) -> dict[str, Any]:
    config = copy.deepcopy(base if base is not None else yaml.safe_load(PROMETHEUS.read_text()))
    # An agent keeps no TSDB of its own: Mimir stores, and its out-of-order window takes the late samples.
    config.pop("storage", None)
    # Nor rules: Prometheus refuses rule_files in agent mode (the recording rules would be Mimir's ruler's).
    config.pop("rule_files", None)
    known = [job["job_name"] for job in config["scrape_configs"]]
    jobs: list[dict[str, Any]] = [{"job_name": "prometheus", "static_configs": [{"targets": ["127.0.0.1:9090"]}]}]
    for name in [*known, *(name for name in SCRAPE_DNS if name not in known)]:
        if name != "prometheus":
            found = [{"names": [host], "type": "A", "port": port} for host, port in SCRAPE_DNS[name]]
            jobs.append({"job_name": name, "dns_sd_configs": found})
    config["scrape_configs"] = jobs
    config["remote_write"] = [{"url": MIMIR_PUSH, "send_exemplars": True, "send_native_histograms": True}]
    return dict(config)


def render(config: dict[str, Any], source: str) -> str:
    return header(source) + str(yaml.safe_dump(config, sort_keys=False, width=120))


GENERATED = {
    LOKI_SCALABLE: (loki_scalable, "loki/loki.yaml"),
    TEMPO_DISTRIBUTED: (tempo_distributed, "tempo/tempo.yaml"),
    PROMETHEUS_AGENT: (prometheus_agent, "prometheus/prometheus.yml"),
}


def main(argv: list[str] | None = None) -> int:
    for path, (make, source) in GENERATED.items():
        path.write_text(render(make(), source))
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
