"""Throughput of Glassbox's collector pipeline against a pass-through collector, and its memory under a burst.

    .venv/bin/python benchmarks/collector_throughput.py            # 3 rounds x 15 s per signal, about 5 minutes
    .venv/bin/python benchmarks/collector_throughput.py --quick    # 1 round x 5 s per signal, about 75 s

Everything runs on this machine and listens on 127.0.0.1 only. Two collector set-ups are measured alternately,
with the same load generator settings:

* ``a`` pass-through: glassbox-otelcol with an OTLP receiver and the ``nop`` exporter, no processors;
* ``b`` project pipeline: glassbox-otelcol with ``collector/config.yaml`` unchanged. Its Tempo and Loki
  endpoints point (through the GLASSBOX_* variables) at a *sink*, a second glassbox-otelcol running the
  pass-through config, so the pipeline really exports over OTLP/HTTP through its persistent sending queues
  (in a fresh data directory per run). Metrics are not part of this benchmark: the Prometheus remote-write
  endpoint points at a free loopback port where nothing listens.

Each run loads one signal (spans, then log records in a separate run) from ``telemetrygen`` (installed from
the Go module proxy into ~/.cache/glassbox/bin when missing; if that fails, a Python generator that POSTs
pre-built OTLP/protobuf requests from several processes takes its place). The generator runs without a rate
limit. Throughput is read from the collector's own metrics endpoint: ``otelcol_receiver_accepted_*`` over the
timed window after a warm-up, plus, for ``b``, what its exporters sent, refused and failed, and what the sink
received. Then bursts of spans and logs at once hit the project pipeline with a lower memory_limiter limit
while the collector's RSS is sampled. ``--ablate`` measures temporary variants of config.yaml (a processor
removed, an in-memory queue, rewritten redaction patterns) to find what costs most. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import multiprocessing
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The stack runner's binaries and process helpers: free ports, start with a log, wait until ready, stop.
from stack import processes
from stack.binaries import COLLECTOR_BINARY, COLLECTOR_BUILD_DIR, ROOT, find_binary
from stack.processes import HOST, NotReady, free_port

PROJECT_CONFIG = ROOT / "collector" / "config.yaml"
CACHE = COLLECTOR_BUILD_DIR.parent
COLLECTOR = find_binary("collector") or COLLECTOR_BUILD_DIR / COLLECTOR_BINARY
GOBIN = CACHE / "bin"
TELEMETRYGEN = GOBIN / "telemetrygen"
TELEMETRYGEN_MODULE = "github.com/open-telemetry/opentelemetry-collector-contrib/cmd/telemetrygen"
TELEMETRYGEN_VERSION = "v0.161.0"
RATIO_TARGET = 0.7
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
MIB = 1024 * 1024

MODE_NAMES = {"a": "a pass-through (OTLP -> nop)", "b": "b project pipeline (config.yaml)"}
SIGNALS = ("traces", "logs")
ITEM = {"traces": "spans", "logs": "log_records"}
UNIT = {"traces": "spans/s", "logs": "logs/s"}

# Realistic telemetry: a handful of attributes, some carrying an email address or an API key so that the
# redaction processor has work to do (one key matches blocked_key_patterns, two values match blocked_values).
SERVICE = "bench-checkout"
RESOURCE_ATTRIBUTES: dict[str, str | int] = {"deployment.environment": "bench", "service.version": "1.4.2"}
ITEM_ATTRIBUTES: dict[str, str | int] = {
    "http.request.method": "POST",
    "http.route": "/chat",
    "http.response.status_code": 200,
    "gen_ai.request.model": "gpt-4o-mini",
    "enduser.email": "jane.doe@example.com",
    "app.api_key": "sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e",
    "gen_ai.prompt": "I am bob@example.org and my key sk-live-0123456789abcdefXYZ stopped working, why?",
}
LOG_BODY = "user jane.doe@example.com asked about invoice 4711 with key sk-proj-4f9a8b7c6d5e4f3a2b1c0d9e (plan pro)"
CHILD_SPANS = 3  # each trace: one parent and three children

# For --ablate only (collector/config.yaml is never changed): the same blocked_values with the patterns that
# start with \b or (?i) rewritten to start with a literal, which lets Go's regexp skip to candidate positions
# with a substring search instead of running its matcher at every byte of every string.
TUNED_BLOCKED_VALUES = [
    r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}",
    r"\b\d{4}([ -]?\d{4}){2}[ -]?\d{1,7}\b",
    r"\+\d{1,3}[ .-]?\(?\d{1,4}\)?([ .-]?\d{2,4}){2,4}\b",
    r"\(\d{3}\)\s?\d{3}[ .-]\d{4}\b",
    r"\b\d{3}[.-]\d{3}[.-]\d{4}\b",
    r"sk-[A-Za-z0-9_-]{16,}",
    r"pk-[A-Za-z0-9_-]{16,}",
    r"rk-[A-Za-z0-9_-]{16,}",
    r"AKIA[0-9A-Z]{16}\b",
    r"gh[pousr]_[A-Za-z0-9]{36,}\b",
    r"xox[abprs]-[A-Za-z0-9-]{10,}",
    r"Bearer\s+[A-Za-z0-9._~+/-]{16,}=*",
    r"bearer\s+[A-Za-z0-9._~+/-]{16,}=*",
    r"BEARER\s+[A-Za-z0-9._~+/-]{16,}=*",
]
# Keys whose values are names, routes and enums, never user content: redaction's ignored_keys skips them.
SAFE_KEYS = [
    "http.request.method",
    "http.route",
    "http.response.status_code",
    "url.scheme",
    "server.address",
    "server.port",
    "network.peer.address",
    "peer.service",
    "gen_ai.system",
    "gen_ai.operation.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "app",
]


# --------------------------------------------------------------------------------------------------------
# Processes: everything started here is registered and stopped in main()'s finally.


class Processes:
    def __init__(self) -> None:
        self.popens: list[subprocess.Popen[bytes]] = []
        self.workers: list[Any] = []  # multiprocessing.Process of the Python generator

    def popen(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        proc = processes.start(argv, log, env=env, stdin=subprocess.DEVNULL)
        self.popens.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
        processes.stop(proc, timeout_s)
        if proc in self.popens:
            self.popens.remove(proc)

    def stop_worker(self, worker: Any) -> None:
        if worker.is_alive():
            worker.terminate()
            worker.join(5)
            if worker.is_alive():
                worker.kill()
                worker.join()
        if worker in self.workers:
            self.workers.remove(worker)

    def stop_all(self) -> None:
        for worker in list(self.workers):
            self.stop_worker(worker)
        for proc in list(reversed(self.popens)):
            self.stop(proc, 5.0)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GLASSBOX_", "OTEL_"))}


# --------------------------------------------------------------------------------------------------------
# /proc readings


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu() -> tuple[float, float, float]:
    """(busy, steal, total) seconds of all cores since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    steal = values[7] if len(values) > 7 else 0
    total = sum(values[:8])
    return (total - idle - steal) / tick, steal / tick, total / tick


def proc_status_kib(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# --------------------------------------------------------------------------------------------------------
# The collector's own metrics (Prometheus text format)

_SAMPLE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = list[tuple[str, dict[str, str], float]]


def scrape(port: int, timeout_s: float = 30.0) -> Samples:
    try:
        text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=timeout_s).text
    except httpx.HTTPError as error:
        raise RuntimeError(f"reading the collector's metrics on port {port} failed: {error!r}") from error
    samples: Samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match:
            with contextlib.suppress(ValueError):
                samples.append((match[1], dict(_LABEL.findall(match[2] or "")), float(match[3])))
    return samples


def metric(samples: Samples, name: str, **labels: str | Callable[[str], bool]) -> float:
    """Sum of the samples named name (or name_total) whose labels match (a value or a predicate)."""
    total = 0.0
    for sample_name, sample_labels, value in samples:
        if sample_name not in (name, name + "_total"):
            continue
        ok = True
        for key, want in labels.items():
            have = sample_labels.get(key, "")
            ok = want(have) if callable(want) else have == want
            if not ok:
                break
        if ok:
            total += value
    return total


def is_otlp_http_exporter(name: str) -> bool:
    return name.startswith("otlp_http/") or name.startswith("otlphttp/")


# --------------------------------------------------------------------------------------------------------
# Collector configs and processes


def passthrough_config(
    path: Path, http_port: int, grpc_port: int | None, health: int, metrics: int, loki: int | None
) -> Path:
    """OTLP receiver -> nop exporter, no processors. With loki, a second OTLP/HTTP receiver answers Loki's path."""
    protocols: dict[str, Any] = {"http": {"endpoint": f"{HOST}:{http_port}"}}
    if grpc_port is not None:
        protocols["grpc"] = {"endpoint": f"{HOST}:{grpc_port}"}
    receivers: dict[str, Any] = {"otlp": {"protocols": protocols}}
    log_receivers = ["otlp"]
    if loki is not None:
        receivers["otlp/loki"] = {
            "protocols": {"http": {"endpoint": f"{HOST}:{loki}", "logs_url_path": "/otlp/v1/logs"}}
        }
        log_receivers.append("otlp/loki")
    config = {
        "extensions": {"health_check": {"endpoint": f"{HOST}:{health}"}},
        "receivers": receivers,
        "exporters": {"nop": {}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {
                "logs": {"level": "warn"},
                "metrics": {
                    "level": "normal",
                    "readers": [{"pull": {"exporter": {"prometheus": {"host": HOST, "port": metrics}}}}],
                },
            },
            "pipelines": {
                "traces": {"receivers": ["otlp"], "exporters": ["nop"]},
                "logs": {"receivers": log_receivers, "exporters": ["nop"]},
            },
        },
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _drop_processor(name: str) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        for pipeline in config["service"]["pipelines"].values():
            pipeline["processors"] = [p for p in pipeline.get("processors", []) if p != name]

    return change


def _queue(edit: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        for exporter in config["exporters"].values():
            if "sending_queue" in exporter:
                # The YAML anchors make every exporter share one dict: copy before editing.
                exporter["sending_queue"] = copy.deepcopy(exporter["sending_queue"])
                edit(exporter["sending_queue"])

    return change


def _redaction(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        config["processors"]["redaction"][key] = value

    return change


# One change each; --ablate also takes several joined by " & ".
CHANGES: dict[str, Callable[[dict[str, Any]], None]] = {
    "no memory_limiter": _drop_processor("memory_limiter"),
    "no transform/normalise": _drop_processor("transform/normalise"),
    "no redaction": _drop_processor("redaction"),
    "in-memory queue": _queue(lambda q: q.pop("storage", None)),
    "no exporter batching": _queue(lambda q: q.pop("batch", None)),
    "16 queue consumers": _queue(lambda q: q.update(num_consumers=16)),
    "tuned redaction patterns": _redaction("blocked_values", TUNED_BLOCKED_VALUES),
    "tuned patterns without card/phone": _redaction(
        "blocked_values", [p for p in TUNED_BLOCKED_VALUES if not p.startswith((r"\b\d", r"\+\d", r"\(\d"))]
    ),
    "redaction ignored_keys": _redaction("ignored_keys", SAFE_KEYS),
    "one combined pattern": lambda config: config["processors"]["redaction"].update(
        blocked_values=["|".join(f"(?:{p})" for p in config["processors"]["redaction"]["blocked_values"])]
    ),
}


def project_variant(path: Path, variant: str) -> Path:
    """A temporary copy of collector/config.yaml with changes (for --ablate); the original is untouched."""
    config = yaml.safe_load(PROJECT_CONFIG.read_text())
    for name in variant.split(" & "):
        CHANGES[name](config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class Collector:
    proc: subprocess.Popen[bytes]
    http_port: int
    health_port: int
    metrics_port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid


def start_collector(procs: Processes, config: Path, env: dict[str, str], ports: dict[str, int], log: Path) -> Collector:
    proc = procs.popen([str(COLLECTOR), "--config", str(config)], env, log)
    try:
        processes.wait_http(log.stem, proc, log, f"http://{HOST}:{ports['health']}/", STARTUP_TIMEOUT_S)
    except NotReady:
        procs.stop(proc)
        raise
    return Collector(proc, ports["http"], ports["health"], ports["metrics"], log)


def pipeline_env(
    ports: dict[str, int], sink_ports: dict[str, int], data_dir: Path, limit_mib: int, spike_mib: int, unused_port: int
) -> dict[str, str]:
    """The environment of a project collector under test: its ports and data directory, its memory limit as the
    stack sets it, and Tempo's and Loki's endpoints on the sink. Metrics are not measured: remote write points at
    unused_port, where nothing listens."""
    env = clean_env()
    env.update(
        GLASSBOX_LISTEN_ADDRESS=HOST,
        GLASSBOX_OTLP_GRPC_PORT=str(ports["grpc"]),
        GLASSBOX_OTLP_HTTP_PORT=str(ports["http"]),
        GLASSBOX_COLLECTOR_HEALTH_PORT=str(ports["health"]),
        GLASSBOX_COLLECTOR_METRICS_PORT=str(ports["metrics"]),
        GLASSBOX_COLLECTOR_DATA_DIR=str(data_dir),
        GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB=str(limit_mib),
        GLASSBOX_COLLECTOR_MEMORY_SPIKE_MIB=str(spike_mib),
        # As the stack runs it (stack/components.py, docker-compose.yml).
        GOMEMLIMIT=f"{limit_mib}MiB",
        GLASSBOX_COLLECTOR_LOG_LEVEL="info",
        GLASSBOX_ENVIRONMENT="bench",
        GLASSBOX_TEMPO_HOST=HOST,
        GLASSBOX_TEMPO_OTLP_HTTP_PORT=str(sink_ports["http"]),
        GLASSBOX_LOKI_HOST=HOST,
        GLASSBOX_LOKI_PORT=str(sink_ports["loki"]),
        GLASSBOX_PROMETHEUS_HOST=HOST,
        GLASSBOX_PROMETHEUS_PORT=str(unused_port),
    )
    return env


def config_env_names() -> set[str]:
    return set(re.findall(r"\$\{env:(GLASSBOX_[A-Z0-9_]+)", PROJECT_CONFIG.read_text()))


# --------------------------------------------------------------------------------------------------------
# Load generators


def go_binary() -> str | None:
    found = shutil.which("go")
    if found:
        return found
    return "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None


def go_env() -> dict[str, str]:
    env = clean_env()
    env.update(
        GOBIN=str(GOBIN),
        GOPATH=str(CACHE / "go"),
        GOMODCACHE=str(CACHE / "go" / "mod"),
        GOCACHE=str(CACHE / "go" / "build"),
        GOFLAGS="-modcacherw",
    )
    return env


def telemetrygen_version(go: str | None) -> str:
    if go is None:
        return "unknown version"
    out = subprocess.run([go, "version", "-m", str(TELEMETRYGEN)], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "mod":
            return parts[2]
    return "unknown version"


def nearest_version(go: str, env: dict[str, str]) -> str:
    """TELEMETRYGEN_VERSION if the proxy serves it, else the nearest older one, else the oldest newer one."""
    result = subprocess.run(
        [go, "list", "-m", "-versions", TELEMETRYGEN_MODULE],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    versions = result.stdout.split()[1:]
    if not versions or TELEMETRYGEN_VERSION in versions:
        return TELEMETRYGEN_VERSION

    def key(v: str) -> tuple[int, ...]:
        return tuple(int(x) for x in re.findall(r"\d+", v)[:3])

    want = key(TELEMETRYGEN_VERSION)
    older = [v for v in versions if key(v) <= want and "-" not in v]
    newer = [v for v in versions if key(v) > want and "-" not in v]
    if older:
        return max(older, key=key)
    return min(newer, key=key) if newer else TELEMETRYGEN_VERSION


def ensure_telemetrygen() -> str | None:
    """Path of telemetrygen, installing it with `go install` when missing; None when that is impossible."""
    go = go_binary()
    if TELEMETRYGEN.exists():
        print(f"generator: telemetrygen {telemetrygen_version(go)} at {TELEMETRYGEN}")
        return str(TELEMETRYGEN)
    if go is None:
        print("generator: telemetrygen is missing and Go is not installed, so it cannot be installed")
        return None
    env = go_env()
    version = nearest_version(go, env)
    print(
        f"generator: installing telemetrygen: GOBIN={env['GOBIN']} GOMODCACHE={env['GOMODCACHE']} "
        f"GOCACHE={env['GOCACHE']} go install {TELEMETRYGEN_MODULE}@{version} (takes a few minutes the first time)",
        flush=True,
    )
    result = subprocess.run([go, "install", f"{TELEMETRYGEN_MODULE}@{version}"], env=env, timeout=1800, check=False)
    if result.returncode != 0 or not TELEMETRYGEN.exists():
        print(f"generator: go install failed (exit {result.returncode})")
        return None
    print(f"generator: installed telemetrygen {version} at {TELEMETRYGEN}")
    return str(TELEMETRYGEN)


def _attr_flag(value: str | int) -> str:
    return str(value) if isinstance(value, int) else f'"{value}"'


def _kv(key: str, value: str | int) -> Any:
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def build_payload(signal_name: str, batch: int) -> bytes:
    """One OTLP/protobuf export request of `batch` spans or log records, built once per generator process."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
    from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource
    from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

    resource = Resource(attributes=[_kv("service.name", SERVICE)] + [_kv(k, v) for k, v in RESOURCE_ATTRIBUTES.items()])
    scope = InstrumentationScope(name="bench")
    attributes = [_kv(k, v) for k, v in ITEM_ATTRIBUTES.items()]
    now = time.time_ns()
    if signal_name == "traces":
        spans = []
        for i in range(batch):
            trace_id = os.urandom(16) if i % (CHILD_SPANS + 1) == 0 else spans[-1].trace_id
            parent = b"" if i % (CHILD_SPANS + 1) == 0 else spans[i - i % (CHILD_SPANS + 1)].span_id
            spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=os.urandom(8),
                    parent_span_id=parent,
                    name="POST /chat" if not parent else f"child-{i % (CHILD_SPANS + 1)}",
                    kind=Span.SPAN_KIND_SERVER if not parent else Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=now,
                    end_time_unix_nano=now + 123_000,
                    attributes=attributes,
                )
            )
        request = ExportTraceServiceRequest(
            resource_spans=[ResourceSpans(resource=resource, scope_spans=[ScopeSpans(scope=scope, spans=spans)])]
        )
        return bytes(request.SerializeToString())
    records = [
        LogRecord(
            time_unix_nano=now,
            observed_time_unix_nano=now,
            severity_number=9,
            severity_text="Info",
            body=AnyValue(string_value=LOG_BODY),
            attributes=attributes,
        )
        for _ in range(batch)
    ]
    request = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(scope=scope, log_records=records)])]
    )
    return bytes(request.SerializeToString())


def _python_worker(url: str, signal_name: str, batch: int, threads: int) -> None:
    """Generator process: POST the same pre-built request in a loop from `threads` threads until terminated."""
    body = build_payload(signal_name, batch)
    headers = {"Content-Type": "application/x-protobuf"}

    def loop() -> None:
        with httpx.Client(timeout=30.0) as client:
            while True:
                try:
                    client.post(url, content=body, headers=headers)
                except httpx.HTTPError:
                    time.sleep(0.05)

    for _ in range(threads):
        threading.Thread(target=loop, daemon=True).start()
    while True:
        time.sleep(3600)


@dataclass
class Generator:
    kind: str  # "telemetrygen" or "python"
    binary: str | None
    procs: int
    workers: int
    batch: int
    workdir: Path
    running: list[Any] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "telemetrygen":
            return (
                f"telemetrygen over OTLP/HTTP: {self.procs} processes x {self.workers} workers, --rate 0 (no limit), "
                f"--batch-size {self.batch}, traces with --child-spans {CHILD_SPANS}, "
                f"{len(ITEM_ATTRIBUTES)} attributes per item"
            )
        return (
            f"Python fallback over OTLP/HTTP: {self.procs} processes x {self.workers} threads POSTing one pre-built "
            f"request of {self.batch} items in a loop, {len(ITEM_ATTRIBUTES)} attributes per item"
        )

    def start(self, procs: Processes, signal_name: str, port: int) -> None:
        for index in range(self.procs):
            if self.kind == "telemetrygen":
                assert self.binary is not None
                argv = [
                    self.binary,
                    signal_name,
                    "--otlp-endpoint",
                    f"{HOST}:{port}",
                    "--otlp-http",
                    "--otlp-insecure",
                    "--workers",
                    str(self.workers),
                    "--rate",
                    "0",
                    "--duration",
                    "inf",
                    "--batch-size",
                    str(self.batch),
                    "--allow-export-failures",
                    "--service",
                    SERVICE,
                ]
                for key, value in RESOURCE_ATTRIBUTES.items():
                    argv += ["--otlp-attributes", f"{key}={_attr_flag(value)}"]
                for key, value in ITEM_ATTRIBUTES.items():
                    argv += ["--telemetry-attributes", f"{key}={_attr_flag(value)}"]
                if signal_name == "traces":
                    argv += ["--child-spans", str(CHILD_SPANS)]
                else:
                    argv += ["--body", LOG_BODY]
                log = self.workdir / f"telemetrygen-{signal_name}-{index}.log"
                self.running.append(procs.popen(argv, clean_env(), log))
            else:
                path = "/v1/traces" if signal_name == "traces" else "/v1/logs"
                ctx = multiprocessing.get_context("spawn")
                worker = ctx.Process(
                    target=_python_worker,
                    args=(f"http://{HOST}:{port}{path}", signal_name, self.batch, self.workers),
                    daemon=True,
                )
                worker.start()
                procs.workers.append(worker)
                self.running.append(worker)

    def pids(self) -> list[int]:
        return [p.pid for p in self.running if p.pid]

    def check_alive(self) -> None:
        for p in self.running:
            code = p.poll() if isinstance(p, subprocess.Popen) else p.exitcode
            if code is not None:
                raise RuntimeError(f"load generator exited with {code}; logs in {self.workdir}")

    def stop(self, procs: Processes) -> None:
        for p in self.running:
            if isinstance(p, subprocess.Popen):
                procs.stop(p, 5.0)
            else:
                procs.stop_worker(p)
        self.running.clear()


# --------------------------------------------------------------------------------------------------------
# One measured run


@dataclass
class Run:
    mode: str  # "a", "b", or "b: <variant>" for --ablate, "burst"
    round: int
    signal: str
    seconds: float
    accepted: float = 0.0
    refused: float = 0.0
    sent: float = 0.0
    send_failed: float = 0.0
    enqueue_failed: float = 0.0
    sink_received: float = 0.0
    queue_end: float = 0.0
    collector_cpu: float = 0.0
    sink_cpu: float = 0.0
    generator_cpu: float = 0.0
    machine_busy: float = 0.0
    machine_steal: float = 0.0
    machine_total: float = 0.0
    peak_rss_mib: float = 0.0  # max VmRSS sampled during the window
    hwm_mib: float = 0.0  # VmHWM at the end of the window (peak since the collector started)
    metric_rss_mib: float = 0.0  # max otelcol_process_memory_rss scraped during the window
    heap_mib: float = 0.0  # max otelcol_process_runtime_heap_alloc_bytes scraped during the window
    limit_mib: int = 0
    by_signal: dict[str, float] = field(default_factory=dict)  # accepted per signal
    label: str = ""

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds

    @property
    def other_cpu(self) -> float:
        """CPU seconds used in the window by every process but the collector, its sink and the generator."""
        return self.machine_busy - self.collector_cpu - self.sink_cpu - self.generator_cpu

    @property
    def sent_rate(self) -> float:
        return self.sent / self.seconds

    def describe(self) -> str:
        if self.signal == "both":
            text = "accepted " + " + ".join(f"{v / self.seconds:,.0f} {UNIT[k]}" for k, v in self.by_signal.items())
        else:
            text = f"accepted {self.rate:,.0f} {UNIT[self.signal]}"
        if self.mode != "a":
            text += (
                f", sent {self.sent_rate:,.0f}/s (sink got {self.sink_received / self.seconds:,.0f}/s), "
                f"refused {self.refused:,.0f}, send failed {self.send_failed:,.0f}, enqueue failed "
                f"{self.enqueue_failed:,.0f}, queue at end {self.queue_end:,.0f}"
            )
        per_item = f"{self.collector_cpu / self.accepted * 1e6:.1f}" if self.accepted else "-"
        cores = self.machine_total / self.seconds
        idle = max(0.0, self.machine_total - self.machine_busy - self.machine_steal)
        text += f"; CPU s: collector {self.collector_cpu:.1f} ({per_item} us/item), generator {self.generator_cpu:.1f}"
        if self.mode != "a":
            text += f", sink {self.sink_cpu:.1f}"
        text += f", everything else {self.other_cpu:.1f}, idle {idle:.1f}, steal {self.machine_steal:.1f}"
        text += f" (of {self.machine_total:.1f} = {cores:.0f} cores x {self.seconds:.1f} s)"
        text += f"; RSS peak {self.peak_rss_mib:.0f} MiB (VmHWM {self.hwm_mib:.0f})"
        return text


class RssSampler:
    """Samples VmRSS every 20 ms in one thread and the collector's own memory metrics every 0.5 s in another."""

    def __init__(self, pid: int, metrics_port: int) -> None:
        self.pid = pid
        self.port = metrics_port
        self.peak_kib = 0
        self.metric_rss = 0.0
        self.heap = 0.0
        self.stop_event = threading.Event()
        self.threads = [threading.Thread(target=f, daemon=True) for f in (self.sample_rss, self.sample_metrics)]

    def sample_rss(self) -> None:
        while not self.stop_event.is_set():
            self.peak_kib = max(self.peak_kib, proc_status_kib(self.pid, "VmRSS"))
            self.stop_event.wait(0.02)

    def sample_metrics(self) -> None:
        while not self.stop_event.is_set():
            with contextlib.suppress(RuntimeError):
                samples = scrape(self.port, timeout_s=2.0)
                self.metric_rss = max(self.metric_rss, metric(samples, "otelcol_process_memory_rss_bytes"))
                self.metric_rss = max(self.metric_rss, metric(samples, "otelcol_process_memory_rss"))
                self.heap = max(self.heap, metric(samples, "otelcol_process_runtime_heap_alloc_bytes"))
            self.stop_event.wait(0.5)

    def __enter__(self) -> RssSampler:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join()


@dataclass
class Bench:
    procs: Processes
    generator: Generator
    workdir: Path
    warmup: float
    seconds: float
    counter: int = 0

    def fresh(self, name: str) -> Path:
        self.counter += 1
        path = self.workdir / f"{self.counter:02d}-{name}"
        path.mkdir()
        return path

    @contextlib.contextmanager
    def collectors(self, mode: str, limit_mib: int, spike_mib: int) -> Iterator[tuple[Collector, Collector | None]]:
        """Start the collector under test (and, for the project pipeline, its sink); stop both on exit."""
        run_dir = self.fresh(mode.replace(" ", "_").replace(":", "").replace("/", "_"))
        taken: set[int] = set()
        ports = {name: free_port(taken) for name in ("http", "grpc", "health", "metrics")}
        started: list[Collector] = []
        try:
            if mode == "a":
                config = passthrough_config(
                    run_dir / "passthrough.yaml", ports["http"], ports["grpc"], ports["health"], ports["metrics"], None
                )
                dut = start_collector(self.procs, config, clean_env(), ports, run_dir / "collector.log")
                started.append(dut)
                yield dut, None
                return
            sink_ports = {name: free_port(taken) for name in ("http", "loki", "health", "metrics")}
            sink_config = passthrough_config(
                run_dir / "sink.yaml",
                sink_ports["http"],
                None,
                sink_ports["health"],
                sink_ports["metrics"],
                sink_ports["loki"],
            )
            sink = start_collector(self.procs, sink_config, clean_env(), sink_ports, run_dir / "sink.log")
            started.append(sink)
            variant = mode.split(": ", 1)[1] if ": " in mode else None
            config = project_variant(run_dir / "config.yaml", variant) if variant else PROJECT_CONFIG
            data_dir = run_dir / "data"
            data_dir.mkdir()
            env = pipeline_env(ports, sink_ports, data_dir, limit_mib, spike_mib, free_port(taken))
            dut = start_collector(self.procs, config, env, ports, run_dir / "collector.log")
            started.append(dut)
            yield dut, sink
        finally:
            for collector in reversed(started):
                self.procs.stop(collector.proc)

    def measure(
        self,
        mode: str,
        rnd: int,
        signals: tuple[str, ...],
        seconds: float,
        limit_mib: int,
        spike_mib: int,
        generator: Generator | None = None,
        warmup: float | None = None,
        drain: bool = False,
    ) -> Run:
        gen = generator or self.generator
        signal_name = signals[0] if len(signals) == 1 else "both"
        run = Run(mode, rnd, signal_name, seconds, limit_mib=limit_mib if mode != "a" else 0)
        with self.collectors(mode, limit_mib, spike_mib) as (dut, sink):
            try:
                for s in signals:
                    gen.start(self.procs, s, dut.http_port)
                time.sleep(self.warmup if warmup is None else warmup)
                gen.check_alive()
                pids = gen.pids()

                def snapshot() -> tuple[float, Samples, Samples, tuple[float, ...], tuple[float, float, float]]:
                    # The window runs from the middle of one scrape of the collector to the middle of the next.
                    before = time.monotonic()
                    samples = scrape(dut.metrics_port)
                    at = (before + time.monotonic()) / 2
                    sink_samples = scrape(sink.metrics_port) if sink else []
                    cpu = (cpu_seconds(dut.pid), cpu_seconds(sink.pid) if sink else 0.0)
                    return at, samples, sink_samples, cpu, machine_cpu()

                t0, m0, s0, cpu0, machine0 = snapshot()
                gen_cpu0 = sum(cpu_seconds(p) for p in pids)
                with RssSampler(dut.pid, dut.metrics_port) as sampler:
                    time.sleep(seconds)
                    run.generator_cpu = sum(cpu_seconds(p) for p in pids) - gen_cpu0
                    if drain:
                        # Under a burst the collector may answer its metrics endpoint only once the load stops.
                        gen.stop(self.procs)
                    else:
                        gen.check_alive()
                    t1, m1, s1, cpu1, machine1 = snapshot()
                run.seconds = t1 - t0
                run.hwm_mib = proc_status_kib(dut.pid, "VmHWM") / 1024
                run.peak_rss_mib = sampler.peak_kib / 1024
                run.metric_rss_mib = sampler.metric_rss / MIB
                run.heap_mib = sampler.heap / MIB
            finally:
                gen.stop(self.procs)
        for s in signals:
            item = ITEM[s]

            def delta(before: Samples, after: Samples, name: str, **labels: Any) -> float:
                return metric(after, name, **labels) - metric(before, name, **labels)

            run.by_signal[s] = delta(m0, m1, f"otelcol_receiver_accepted_{item}", receiver="otlp")
            run.accepted += run.by_signal[s]
            run.refused += delta(m0, m1, f"otelcol_receiver_refused_{item}", receiver="otlp")
            run.refused += delta(m0, m1, f"otelcol_receiver_failed_{item}", receiver="otlp")
            run.sent += delta(m0, m1, f"otelcol_exporter_sent_{item}", exporter=is_otlp_http_exporter)
            run.send_failed += delta(m0, m1, f"otelcol_exporter_send_failed_{item}", exporter=is_otlp_http_exporter)
            run.enqueue_failed += delta(
                m0, m1, f"otelcol_exporter_enqueue_failed_{item}", exporter=is_otlp_http_exporter
            )
            run.sink_received += delta(s0, s1, f"otelcol_receiver_accepted_{item}")
        run.queue_end = metric(m1, "otelcol_exporter_queue_size", exporter=is_otlp_http_exporter)
        run.collector_cpu, run.sink_cpu = (b - a for a, b in zip(cpu0, cpu1, strict=True))
        run.machine_busy, run.machine_steal, run.machine_total = (
            b - a for a, b in zip(machine0, machine1, strict=True)
        )
        return run


# --------------------------------------------------------------------------------------------------------
# Report


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    return f"{min(values):,.0f}-{max(values):,.0f}"


def summarize(runs: list[Run], bursts: list[Run], args: argparse.Namespace, default_limit: int) -> str:
    lines: list[str] = []

    def rates(mode: str, signal_name: str, attr: str = "rate") -> list[float]:
        return [getattr(r, attr) for r in runs if r.mode == mode and r.signal == signal_name]

    def peak(mode: str) -> float:
        return max((r.hwm_mib for r in runs if r.mode == mode), default=float("nan"))

    ratio = {s: med(rates("b", s)) / med(rates("a", s)) if rates("a", s) else float("nan") for s in SIGNALS}
    lines.append(
        f"{args.rounds} rounds x {args.seconds:g} s per signal (after {args.warmup:g} s warm-up), modes alternating; "
        "median over rounds, min-max in brackets."
    )
    lines.append("")
    lines.append("| mode | spans/s | logs/s | ratio b/a spans | ratio b/a logs | peak RSS MiB (memory_limiter limit) |")
    lines.append("|---|---|---|---|---|---|")
    for mode in ("a", "b"):
        cells = [MODE_NAMES[mode]]
        for s in SIGNALS:
            cells.append(f"{med(rates(mode, s)):,.0f} ({spread(rates(mode, s))})")
        if mode == "a":
            cells += ["", "", f"{peak(mode):.0f} (no limiter)"]
        else:
            cells += [
                f"**{ratio['traces']:.2f}**",
                f"**{ratio['logs']:.2f}**",
                f"{peak(mode):.0f} (limit {default_limit})",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    for burst in bursts:
        cells = [
            burst.label,
            f"{burst.by_signal.get('traces', 0.0) / burst.seconds:,.0f}",
            f"{burst.by_signal.get('logs', 0.0) / burst.seconds:,.0f}",
            "",
            "",
            f"**{burst.hwm_mib:.0f}** VmHWM, {burst.metric_rss_mib:.0f} otelcol_process_memory_rss (limit "
            f"{burst.limit_mib}, spike {args.burst_spike_mib})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Target: ratio b/a >= {RATIO_TARGET} per signal.")
    for s in SIGNALS:
        per_round = []
        for rnd in sorted({r.round for r in runs}):
            a = [r.rate for r in runs if r.mode == "a" and r.signal == s and r.round == rnd]
            b = [r.rate for r in runs if r.mode == "b" and r.signal == s and r.round == rnd]
            if a and b:
                per_round.append(f"{b[0] / a[0]:.2f}")
        verdict = "met" if ratio[s] >= RATIO_TARGET else "MISSED"
        lines.append(f"- {s}: b/a = {ratio[s]:.2f} ({verdict}); per round: {', '.join(per_round)}")
    lines.append("")
    lines.append("Project pipeline (b), medians over rounds:")
    lines.append("")
    lines.append(
        "| signal | accepted/s | sent/s | sink received/s | refused | send failed | queue at end | "
        "collector CPU us/item a -> b | generator CPU s a / b | sink CPU s | other CPU s a / b |"
    )
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for s in SIGNALS:
        b_runs = [r for r in runs if r.mode == "b" and r.signal == s]
        a_runs = [r for r in runs if r.mode == "a" and r.signal == s]
        if not b_runs:
            continue

        def us(rs: list[Run]) -> float:
            return med([r.collector_cpu / max(r.accepted, 1) * 1e6 for r in rs])

        def other(rs: list[Run]) -> float:
            return med([r.other_cpu for r in rs])

        lines.append(
            f"| {s} | {med([r.rate for r in b_runs]):,.0f} | {med([r.sent_rate for r in b_runs]):,.0f} | "
            f"{med([r.sink_received / r.seconds for r in b_runs]):,.0f} | {sum(r.refused for r in b_runs):,.0f} | "
            f"{sum(r.send_failed + r.enqueue_failed for r in b_runs):,.0f} | "
            f"{med([r.queue_end for r in b_runs]):,.0f} | "
            f"{us(a_runs):.1f} -> {us(b_runs):.1f} | "
            f"{med([r.generator_cpu for r in a_runs]):.1f} / {med([r.generator_cpu for r in b_runs]):.1f} | "
            f"{med([r.sink_cpu for r in b_runs]):.1f} | {other(a_runs):.1f} / {other(b_runs):.1f} |"
        )
    for burst in bursts:
        lines.append("")
        lines.append(
            f"{burst.label}: accepted {burst.by_signal.get('traces', 0.0):,.0f} spans + "
            f"{burst.by_signal.get('logs', 0.0):,.0f} logs in "
            f"{burst.seconds:.0f} s, refused {burst.refused:,.0f} (memory_limiter or queue full), send failed "
            f"{burst.send_failed + burst.enqueue_failed:,.0f}, queue at end {burst.queue_end:,.0f}; peak VmRSS "
            f"{burst.peak_rss_mib:.0f} MiB, VmHWM {burst.hwm_mib:.0f} MiB, otelcol_process_memory_rss "
            f"{burst.metric_rss_mib:.0f} MiB, Go heap {burst.heap_mib:.0f} MiB, against limit_mib {burst.limit_mib} "
            f"(soft limit {burst.limit_mib - args.burst_spike_mib}): "
            + ("held" if burst.hwm_mib <= burst.limit_mib else "EXCEEDED")
        )
    return "\n".join(lines)


def ablation_summary(runs: list[Run]) -> str:
    lines = ["", "Ablation (each variant is a temp copy of config.yaml with one change; medians over rounds):", ""]
    lines.append("| variant | spans/s | logs/s | spans vs b | logs vs b | collector CPU us/span | us/log |")
    lines.append("|---|---|---|---|---|---|---|")
    modes = [m for m in dict.fromkeys(r.mode for r in runs) if m == "b" or m.startswith("b: ")]
    base = {s: med([r.rate for r in runs if r.mode == "b" and r.signal == s]) for s in SIGNALS}
    for mode in ["a", *modes]:
        vals = {s: med([r.rate for r in runs if r.mode == mode and r.signal == s]) for s in SIGNALS}
        cost = {
            s: med([r.collector_cpu / max(r.accepted, 1) * 1e6 for r in runs if r.mode == mode and r.signal == s])
            for s in SIGNALS
        }
        lines.append(
            f"| {MODE_NAMES.get(mode, mode)} | {vals['traces']:,.0f} | {vals['logs']:,.0f} | "
            f"{vals['traces'] / base['traces']:.2f} | {vals['logs'] / base['logs']:.2f} | "
            f"{cost['traces']:.1f} | {cost['logs']:.1f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------------


ABLATIONS = list(CHANGES)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="1 round x 5 s per signal and 5 s bursts (about 75 s)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="load before the window starts")
    parser.add_argument("--generator", choices=("auto", "telemetrygen", "python"), default="auto")
    parser.add_argument("--procs", type=int, default=4, help="generator processes per signal")
    parser.add_argument("--workers", type=int, default=2, help="telemetrygen workers (or Python threads) per process")
    parser.add_argument("--batch", type=int, default=512, help="items per export request")
    parser.add_argument("--memory-limit-mib", type=int, default=512, help="memory_limiter limit for the timed runs")
    parser.add_argument("--burst-seconds", type=float, default=15.0)
    parser.add_argument("--burst-limit-mib", type=int, default=256, help="memory_limiter limit during the burst")
    parser.add_argument("--burst-spike-mib", type=int, default=64)
    parser.add_argument(
        "--burst-generator",
        choices=("python", "same"),
        default="python",
        help="python (default): pre-built requests, the most data per generator CPU second; same: as the timed runs",
    )
    parser.add_argument("--burst-procs", type=int, default=8, help="generator processes per signal in the burst")
    parser.add_argument("--burst-workers", type=int, default=4, help="workers (threads) per burst process")
    parser.add_argument(
        "--burst-batch",
        type=int,
        nargs="+",
        default=[2048, 8192],
        help="items per export request in the burst; one burst per value",
    )
    parser.add_argument("--no-burst", action="store_true")
    parser.add_argument(
        "--ablate",
        nargs="*",
        metavar="VARIANT",
        help="also measure variants of the project pipeline (temp copies of config.yaml): without arguments "
        f"each of {', '.join(repr(v) for v in ABLATIONS)}; or the ones named, several changes joined by ' & '",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with configs and logs")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.seconds, args.warmup, args.burst_seconds = 1, 5.0, 2.0, 5.0
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not COLLECTOR.exists():
        print(f"{COLLECTOR} is missing: build it with `bash collector/build.sh`", file=sys.stderr)
        return 2
    unset = sorted(
        config_env_names()
        - {
            "GLASSBOX_LISTEN_ADDRESS",
            "GLASSBOX_OTLP_GRPC_PORT",
            "GLASSBOX_OTLP_HTTP_PORT",
            "GLASSBOX_COLLECTOR_HEALTH_PORT",
            "GLASSBOX_COLLECTOR_METRICS_PORT",
            "GLASSBOX_COLLECTOR_DATA_DIR",
            "GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB",
            "GLASSBOX_COLLECTOR_MEMORY_SPIKE_MIB",
            "GLASSBOX_COLLECTOR_LOG_LEVEL",
            "GLASSBOX_ENVIRONMENT",
            "GLASSBOX_TEMPO_HOST",
            "GLASSBOX_TEMPO_OTLP_HTTP_PORT",
            "GLASSBOX_LOKI_HOST",
            "GLASSBOX_LOKI_PORT",
            "GLASSBOX_PROMETHEUS_HOST",
            "GLASSBOX_PROMETHEUS_PORT",
        }
    )
    if unset:
        print(f"note: collector/config.yaml also reads {', '.join(unset)}; the benchmark leaves them at their defaults")

    workdir = Path(tempfile.mkdtemp(prefix="glassbox-bench-collector-"))
    procs = Processes()
    binary = None
    if args.generator in ("auto", "telemetrygen"):
        binary = ensure_telemetrygen()
        if binary is None and args.generator == "telemetrygen":
            return 2
        if binary is None:
            print("generator: FALLING BACK to the Python generator (pre-built OTLP requests POSTed in a loop)")
    generator = Generator(
        "telemetrygen" if binary else "python", binary, args.procs, args.workers, args.batch, workdir / "generator"
    )
    generator.workdir.mkdir()
    bench = Bench(procs, generator, workdir, args.warmup, args.seconds)
    spike = max(1, args.memory_limit_mib // 4)

    print(
        f"date: {datetime.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} CPUs; {platform.platform()}"
    )
    print(f"collector: {COLLECTOR}; project config: {PROJECT_CONFIG}")
    print(f"load: {generator.describe()}")
    print(f"logs and configs in {workdir}")
    print(
        "note: metrics are not measured; in b, Prometheus remote write points at a free port where nothing listens",
        flush=True,
    )

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    started = time.monotonic()
    runs: list[Run] = []
    bursts: list[Run] = []
    ok = False
    try:
        modes = ["a", "b"]
        variants = (args.ablate or ABLATIONS) if args.ablate is not None else []
        unknown = [v for v in variants if any(c not in CHANGES for c in v.split(" & "))]
        if unknown:
            raise RuntimeError(f"unknown --ablate variants {unknown}; combine with ' & ' from {ABLATIONS}")
        extra = [f"b: {v}" for v in variants]
        for rnd in range(1, args.rounds + 1):
            order = modes if rnd % 2 else modes[::-1]
            if extra:
                order = order + (extra if rnd % 2 else extra[::-1])
            for mode in order:
                for s in SIGNALS:
                    run = bench.measure(mode, rnd, (s,), args.seconds, args.memory_limit_mib, spike)
                    runs.append(run)
                    print(f"round {rnd} {mode:<26} {s:<6}: {run.describe()}", flush=True)
        for batch in [] if args.no_burst else args.burst_batch:
            burst_generator = Generator(
                "python" if args.burst_generator == "python" else generator.kind,
                generator.binary,
                args.burst_procs,
                args.burst_workers,
                batch,
                generator.workdir,
            )
            print(f"burst, spans and logs at once: {burst_generator.describe()}", flush=True)
            burst = bench.measure(
                "burst",
                0,
                SIGNALS,
                args.burst_seconds,
                args.burst_limit_mib,
                args.burst_spike_mib,
                burst_generator,
                warmup=0.0,  # the window covers the whole burst, from the generators' start
                drain=True,
            )
            burst.label = (
                f"b burst: spans + logs at once, {2 * args.burst_procs * args.burst_workers} connections x "
                f"{batch}-item requests, {args.burst_seconds:g} s"
            )
            bursts.append(burst)
            print(f"burst (limit {args.burst_limit_mib} MiB): {burst.describe()}", flush=True)
        print(f"\nTotal time {time.monotonic() - started:.0f} s.\n")
        print(summarize(runs, bursts, args, args.memory_limit_mib))
        if args.ablate is not None:
            print(ablation_summary(runs))
        ok = True
    except KeyboardInterrupt:
        print("\ninterrupted; stopping everything", file=sys.stderr)
        return 130
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        procs.stop_all()
        signal.signal(signal.SIGTERM, previous)
        if ok and not args.keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
        elif not ok:
            print(f"logs kept in {workdir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
