"""Overhead of glassbox on a service, against the bare service and against upstream OpenTelemetry.

    python benchmarks/overhead.py                      # the chat-service shape, 3 rounds x 20 s, hey, c=8
    python benchmarks/overhead.py --shape demo --rounds 9 --seconds 10 --driver python

One stub LLM (20 ms latency) serves every run. Two shapes of service:

* ``chat-service`` (default): ``benchmarks/chat_service.py``, one FastAPI route awaiting one ``AsyncOpenAI``
  chat completion and logging one line through its own INFO logger, uvicorn with its defaults;
* ``app-logger``: ``benchmarks/chat_app_logger.py``, the same route with ``max_tokens`` 32, the app's own logger
  ``app`` at INFO with its own stderr handler, a stub answering in about 5 ms, no tenant headers, an OTLP receiver
  that decodes every request (on the same two cores), and upstream with only the FastAPI and OpenAI
  instrumentations, as a service that installed only those;
* ``demo``: ``examples/demo_app/app.py`` with its root logger at INFO, ``POST /chat``.

Each round starts the service once per mode:

* ``a`` bare: ``python <app>`` with ``OTEL_SDK_DISABLED=true``;
* ``b`` upstream: ``opentelemetry-instrument`` with the upstream distro and configurator, OTLP/HTTP export
  of traces, metrics and logs (the SDK's logging handler on the root logger);
* ``c`` glassbox: ``opentelemetry-instrument`` with the glassbox distro and configurator and every glassbox
  default (cost, tenants, redaction, JSON + OTLP logs, ``/metrics``, the guard).

``b`` and ``c`` export to a small OTLP/HTTP sink inside this process that answers 200 to everything.
Every request carries the tenant and user headers. For each run the service is warmed up, then ``POST /chat``
is driven for a fixed time at a fixed concurrency by ``hey`` (``--driver hey``, found on PATH or in
``GLASSBOX_BIN_DIR``) or by an ``httpx`` client in this process (``--driver python``); the per-request
latency and the service's CPU time (``/proc/<pid>/stat`` utime + stime) over the timed window are recorded.
The tables show the median over rounds per mode. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib.metadata
import io
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"


@dataclass(frozen=True)
class Shape:
    """A service to measure and the world around it."""

    app: Path
    stub_latency_ms: float
    # The OTLP receiver decodes every request, as a collector would, on the same cores as the app.
    decode: bool
    headers: dict[str, str]
    # Upstream's instrumentations (entry point names), as a service that installed only those would have them;
    # None: every one installed here.
    upstream: tuple[str, ...] | None = None


HEADERS = {"X-Tenant-Id": "acme", "X-User-Id": "user-42"}
SHAPES = {
    "chat-service": Shape(ROOT / "benchmarks" / "chat_service.py", 20.0, False, HEADERS),
    "app-logger": Shape(ROOT / "benchmarks" / "chat_app_logger.py", 5.0, True, {}, upstream=("fastapi", "openai")),
    "demo": Shape(ROOT / "examples" / "demo_app" / "app.py", 20.0, False, HEADERS),
}
STUB = ROOT / "examples" / "stub_llm" / "server.py"
HOST = "127.0.0.1"
MODES = ["a", "b", "c"]  # main() adds "d" with --collector-down
MODE_NAMES = {"a": "bare", "b": "upstream", "c": "glassbox", "d": "glassbox, collector down"}
# main() adds a glassbox mode per --variant NAME:VAR=VALUE,...: the same run with those variables set.
VARIANT_ENV: dict[str, dict[str, str]] = {}
STALL_SECONDS = 1.0
THROUGHPUT_TARGET = 1.00  # c/b
THROUGHPUT_STRETCH = 0.75  # c/a
CPU_TARGET = 1.10  # c/b, the earlier target, still reported
WARMUP_REQUESTS = 50
MAX_REQUESTS_PER_WORKER = 1_000_000
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
CHAT_BODY = {"message": "What is the API rate limit for my plan?"}
OTLP_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class OtlpSink:
    """OTLP/HTTP receiver that answers 200 to everything, counting requests and bytes per path; with ``decode``,
    it also decodes each request (as a collector would, on the same cores) and counts spans, points and records."""

    def __init__(self, decode: bool = False) -> None:
        self.counts: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.decode = decode
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path if self.path in OTLP_PATHS else "other"
                items = decoded_items(path, body) if sink.decode else 0
                with sink.lock:
                    sink.counts[path] += 1
                    sink.counts[f"{path} bytes"] += len(body)
                    sink.counts[f"{path} items"] += items
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer((HOST, free_port()), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, name="otlp-sink", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def snapshot(self) -> Counter[str]:
        with self.lock:
            return Counter(self.counts)


def decoded_items(path: str, body: bytes) -> int:
    """Spans, metric data points or log records in one OTLP/HTTP protobuf request (0 for what does not decode)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        if path == "/v1/traces":
            traces = ExportTraceServiceRequest.FromString(body)
            return sum(len(scope.spans) for rs in traces.resource_spans for scope in rs.scope_spans)
        if path == "/v1/logs":
            logs = ExportLogsServiceRequest.FromString(body)
            return sum(len(scope.log_records) for rl in logs.resource_logs for scope in rl.scope_logs)
        if path == "/v1/metrics":
            metrics = ExportMetricsServiceRequest.FromString(body)
            return sum(
                len(getattr(metric, metric.WhichOneof("data")).data_points)
                for rm in metrics.resource_metrics
                for scope in rm.scope_metrics
                for metric in scope.metrics
                if metric.WhichOneof("data")
            )
    except Exception:  # a body that does not decode: counted as a request, no items
        return 0
    return 0


@dataclass
class RunResult:
    mode: str
    round: int
    ok: bool
    note: str = ""
    requests: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    cpu_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sink: dict[str, int] = field(default_factory=dict)
    stop_s: float = 0.0
    stub_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    other_cpu_s: float = 0.0
    steal_s: float = 0.0

    @property
    def throughput(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000.0 * self.cpu_s / self.requests if self.requests else float("nan")

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def max_latency(self) -> float:
        return max(self.latencies) if self.latencies else float("nan")

    @property
    def stalls(self) -> int:
        return sum(1 for latency in self.latencies if latency > STALL_SECONDS)


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat (children not included)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    # After the command name: state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def client_cpu_seconds() -> float:
    """CPU of this process plus its finished children (hey)."""
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def system_cpu_seconds() -> tuple[float, float]:
    """Busy and steal CPU seconds of the whole machine so far, from the first line of /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    tick = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / tick, steal / tick


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GLASSBOX_"))}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def mode_command_and_env(
    mode: str, shape: str, app_port: int, stub_port: int, sink_port: int
) -> tuple[list[str], dict[str, str]]:
    env = base_env()
    app = SHAPES[shape].app
    env["LLM_BASE_URL"] = f"http://{HOST}:{stub_port}"
    if shape == "demo":
        # Every mode logs the same records at INFO, so b and c export the same telemetry (c also prints JSON).
        env.update({"DEMO_HOST": HOST, "DEMO_PORT": str(app_port), "DEMO_LOG_LEVEL": "INFO"})
    else:
        env.update({"CHAT_HOST": HOST, "CHAT_PORT": str(app_port)})
    python = str(VENV_BIN / "python")
    if mode == "a":
        env["OTEL_SDK_DISABLED"] = "true"
        return [python, str(app)], env
    # d: nothing listens on the OTLP port; every export fails (and is counted by the app).
    endpoint_port = free_port() if mode == "d" else sink_port
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://{HOST}:{endpoint_port}"
    if shape == "demo":
        env.update({"OTEL_METRIC_EXPORT_INTERVAL": "5000", "OTEL_BSP_SCHEDULE_DELAY": "1000"})
    # chat-service: every tool's own export intervals and batch delays.
    if mode == "b":
        upstream = SHAPES[shape].upstream
        disabled = ["glassbox_edge", "glassbox_uvicorn_shutdown"]
        if upstream is not None:
            installed = {e.name for e in importlib.metadata.entry_points(group="opentelemetry_instrumentor")}
            disabled = sorted(installed - set(upstream))
        env.update(
            {
                "OTEL_PYTHON_DISTRO": "distro",
                "OTEL_PYTHON_CONFIGURATOR": "configurator",
                # glassbox is installed in the same venv: keep its instrumentors out of the upstream run.
                "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(disabled),
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_METRICS_EXPORTER": "otlp",
                "OTEL_LOGS_EXPORTER": "otlp",
                # The SDK's handler on the root logger: log records are exported as OTLP too.
                "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_SEMCONV_STABILITY_OPT_IN": "http",
            }
        )
    else:
        env.update(
            {
                "OTEL_PYTHON_DISTRO": "glassbox",
                "OTEL_PYTHON_CONFIGURATOR": "glassbox",
                "GLASSBOX_METRICS_PORT": str(free_port()),
            }
        )
        env.update(VARIANT_ENV.get(mode, {}))
    return [str(VENV_BIN / "opentelemetry-instrument"), python, str(app)], env


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"


def stop_process(proc: subprocess.Popen[bytes]) -> float:
    """SIGTERM, wait, SIGKILL if needed; returns the seconds it took to exit."""
    started = time.monotonic()
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_S)
    return time.monotonic() - started


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                if (await client.get(url)).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    return False


async def drive(
    base_url: str, seconds: float, concurrency: int, warmup: int, headers: dict[str, str]
) -> tuple[list[float], int, float]:
    """Warm up, then POST /chat for ``seconds``; returns latencies of successes, errors and wall time."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits, headers=headers) as client:
        warm_left = [warmup]

        async def warm_worker() -> None:
            while warm_left[0] > 0:
                warm_left[0] -= 1
                with contextlib.suppress(httpx.HTTPError):
                    await client.post("/chat", json=CHAT_BODY)

        await asyncio.gather(*(warm_worker() for _ in range(concurrency)))

        latencies: list[float] = []
        errors = [0]
        deadline = time.monotonic() + seconds

        async def worker() -> None:
            for _ in range(MAX_REQUESTS_PER_WORKER):
                if time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await client.post("/chat", json=CHAT_BODY)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                elapsed = time.perf_counter() - started
                if ok:
                    latencies.append(elapsed)
                else:
                    errors[0] += 1

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, errors[0], time.monotonic() - started


def find_hey() -> str | None:
    bin_dir = os.environ.get("GLASSBOX_BIN_DIR")
    if bin_dir and (Path(bin_dir) / "hey").is_file():
        return str(Path(bin_dir) / "hey")
    return shutil.which("hey")


def hey_command(
    hey: str, url: str, seconds: float, concurrency: int, headers: dict[str, str], *extra: str
) -> list[str]:
    command = [hey, "-z", f"{seconds:g}s", "-c", str(concurrency), "-m", "POST", "-T", "application/json"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return [*command, "-d", json.dumps(CHAT_BODY), *extra, url]


def drive_hey(
    hey: str, url: str, seconds: float, concurrency: int, warmup_s: float, headers: dict[str, str]
) -> tuple[list[float], int, float]:
    """Warm up for ``warmup_s``, then run hey for ``seconds``; latencies of the 200s, other answers, wall time."""
    if warmup_s > 0:
        subprocess.run(hey_command(hey, url, warmup_s, concurrency, headers), capture_output=True, check=True)
    command = hey_command(hey, url, seconds, concurrency, headers, "-o", "csv")
    output = subprocess.run(command, capture_output=True, check=True, text=True).stdout
    latencies: list[float] = []
    errors = 0
    end = 0.0
    # response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
    for row in csv.DictReader(io.StringIO(output)):
        latency, offset = float(row["response-time"]), float(row["offset"])
        end = max(end, offset + latency)
        if row["status-code"] == "200":
            latencies.append(latency)
        else:
            errors += 1
    return latencies, errors, end


def run_mode(
    mode: str,
    round_no: int,
    args: argparse.Namespace,
    stub: subprocess.Popen[bytes],
    stub_port: int,
    sink: OtlpSink,
    workdir: Path,
) -> RunResult:
    app_port = free_port()
    command, env = mode_command_and_env(mode, args.shape, app_port, stub_port, sink.port)
    shape = SHAPES[args.shape]
    stdout_path = workdir / f"app-{mode}-round{round_no}.stdout"
    stderr_path = workdir / f"app-{mode}-round{round_no}.stderr"
    result = RunResult(mode=mode, round=round_no, ok=False)
    sink_before = sink.snapshot()
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        try:
            base_url = f"http://{HOST}:{app_port}"
            if not asyncio.run(wait_healthy(f"{base_url}/healthz", proc, STARTUP_TIMEOUT_S)):
                result.note = f"did not become healthy (exit code {proc.poll()}); stderr {stderr_path}"
                print(f"  mode {mode} round {round_no}: {result.note}\n{tail(stderr_path)}", file=sys.stderr)
                return result
            if args.hey:
                # hey's warm-up run is outside the window; its timed run is measured from hey's own clock.
                subprocess.run(hey_command(args.hey, f"{base_url}/chat", args.warmup, args.concurrency, shape.headers),
                               capture_output=True, check=True)  # fmt: skip
            system_before, steal_before = system_cpu_seconds()
            stub_before, client_before = process_cpu_seconds(stub.pid), client_cpu_seconds()
            cpu_before = process_cpu_seconds(proc.pid)
            profile = workdir / f"profile-{mode}-round{round_no}.txt"
            profiler = start_profiler(args.profile, proc.pid, args.seconds, profile)
            if args.hey:
                latencies, errors, elapsed = drive_hey(
                    args.hey, f"{base_url}/chat", args.seconds, args.concurrency, 0, shape.headers
                )
            else:
                latencies, errors, elapsed = asyncio.run(
                    drive(base_url, args.seconds, args.concurrency, WARMUP_REQUESTS, shape.headers)
                )
            cpu_after = process_cpu_seconds(proc.pid) if proc.poll() is None else cpu_before
            if profiler is not None:
                profiler.wait(timeout=args.seconds + 30)
            result.stub_cpu_s = process_cpu_seconds(stub.pid) - stub_before
            result.client_cpu_s = client_cpu_seconds() - client_before
            system_after, steal_after = system_cpu_seconds()
            result.steal_s = steal_after - steal_before
            # Whatever else ran on the machine during the window (other processes, the kernel's own threads).
            result.other_cpu_s = (
                system_after - system_before - (cpu_after - cpu_before) - result.stub_cpu_s - result.client_cpu_s
            )
            if proc.poll() is not None:
                result.note = f"exited during the run (exit code {proc.returncode}); stderr {stderr_path}"
            result.latencies, result.errors, result.elapsed_s = latencies, errors, elapsed
            result.requests = len(latencies)
            result.cpu_s = cpu_after - cpu_before
            result.ok = proc.poll() is None
        finally:
            result.stop_s = stop_process(proc)
    # Exporters flush on shutdown; give the sink a moment to count the last requests.
    time.sleep(0.2)
    after = sink.snapshot()
    result.sink = {
        f"{path.rsplit('/', 1)[-1]}{what}": after[f"{path}{what}"] - sink_before[f"{path}{what}"]
        for path in (*OTLP_PATHS, "other")
        for what in ("", " bytes", " items")
    }
    return result


def start_profiler(py_spy: str | None, pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the app's threads over the timed window, without pausing it, into collapsed stacks."""
    if not py_spy:
        return None
    command = [py_spy, "record", "--pid", str(pid), "--duration", f"{max(1, round(seconds))}", "--rate", "200",
               "--threads", "--format", "raw", "--output", str(output)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)


def profile_summary(path: Path, top: int = 25) -> str:
    """Where one profile's samples were: the share per library and the frames with the most own samples."""
    own: Counter[str] = Counter()
    library: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        library[_library(frames)] += count
        threads[frames[0].split(": ", 1)[-1]] += count
    if not total:
        return f"{path.name}: no samples"
    lines = [f"{path.name}: {total} samples"]
    lines += [f"  {100 * n / total:5.1f}%  thread {name}" for name, n in threads.most_common(6)]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in library.most_common()]
    lines += ["  own samples:"] + [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    return "\n".join(lines)


LIBRARIES = ("glassbox", "opentelemetry", "openai", "httpx", "httpcore", "fastapi", "starlette", "uvicorn",
             "pydantic", "anyio", "asyncio", "logging", "h11", "json", "threading")  # fmt: skip


def _library(frames: list[str]) -> str:
    """The library of the innermost frame that belongs to one of LIBRARIES, else "other"."""
    for frame in reversed(frames):
        path = frame[frame.rfind("(") + 1 : frame.rfind(":")]
        top = path.split("/", 1)[0].removesuffix(".py")
        if top in LIBRARIES:
            return top
    return "other"


def start_stub(port: int, workdir: Path, latency_ms: float) -> subprocess.Popen[bytes]:
    command = [
        str(VENV_BIN / "python"),
        str(STUB),
        "--host",
        HOST,
        "--port",
        str(port),
        "--latency-ms",
        f"{latency_ms:g}",
    ]
    with (workdir / "stub.stdout").open("wb") as out, (workdir / "stub.stderr").open("wb") as err:
        return subprocess.Popen(command, env=base_env(), cwd=ROOT, stdout=out, stderr=err, stdin=subprocess.DEVNULL)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(results: list[RunResult], concurrency: int, seconds: float) -> str:
    rows: dict[str, dict[str, float]] = {}
    lines = [
        f"Concurrency {concurrency}, {seconds:g} s per run; median over the successful rounds of each mode.",
        "",
        "| mode | rounds ok | req/s | CPU ms/req | CPU ms/req min-max | p50 ms | p99 ms | max ms | >1 s | errors "
        "| other CPU s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for mode in MODES:
        runs = [r for r in results if r.mode == mode and r.ok]
        all_runs = [r for r in results if r.mode == mode]
        row = {
            "throughput": median([r.throughput for r in runs]),
            "cpu": median([r.cpu_ms_per_request for r in runs]),
            "p50": median([1000 * r.quantile(0.50) for r in runs]),
            "p99": median([1000 * r.quantile(0.99) for r in runs]),
            "max": median([1000 * r.max_latency for r in runs]),
            "stalls": median([float(r.stalls) for r in runs]),
            "errors": median([float(r.errors) for r in runs]),
            "stalls_total": float(sum(r.stalls for r in runs)),
            "cpu_min": min((r.cpu_ms_per_request for r in runs), default=float("nan")),
            "cpu_max": max((r.cpu_ms_per_request for r in runs), default=float("nan")),
            "other": median([r.other_cpu_s for r in runs]),
        }
        rows[mode] = row
        lines.append(
            f"| {mode} {MODE_NAMES[mode]} | {len(runs)}/{len(all_runs)} | {row['throughput']:.1f} | {row['cpu']:.2f} "
            f"| {row['cpu_min']:.2f}-{row['cpu_max']:.2f} | {row['p50']:.1f} | {row['p99']:.1f} | {row['max']:.1f} "
            f"| {row['stalls']:g} | {row['errors']:g} | {row['other']:.2f} |"
        )
    lines += ["", "| ratio | throughput | CPU per request |", "|---|---|---|"]
    variants = [(v, "b") for v in VARIANT_ENV] + [("c", v) for v in VARIANT_ENV]
    for num, den in (("b", "a"), ("c", "a"), ("c", "b"), ("d", "c"), *variants):
        if num not in rows or den not in rows:
            continue
        lines.append(
            f"| {num}/{den} | {rows[num]['throughput'] / rows[den]['throughput']:.3f} "
            f"| {rows[num]['cpu'] / rows[den]['cpu']:.3f} |"
        )
    paired_throughput, paired_cpu = [], []
    for round_no in sorted({r.round for r in results}):
        by_mode = {r.mode: r for r in results if r.round == round_no and r.ok}
        if "b" in by_mode and "c" in by_mode:
            paired_throughput.append(f"{by_mode['c'].throughput / by_mode['b'].throughput:.3f}")
            paired_cpu.append(f"{by_mode['c'].cpu_ms_per_request / by_mode['b'].cpu_ms_per_request:.3f}")
    lines += [
        "",
        f"c/b within each round: throughput {', '.join(paired_throughput) or 'n/a'}; "
        f"CPU per request {', '.join(paired_cpu) or 'n/a'}",
    ]
    throughput_ratio = rows["c"]["throughput"] / rows["b"]["throughput"]
    bare_ratio = rows["c"]["throughput"] / rows["a"]["throughput"]
    cpu_ratio = rows["c"]["cpu"] / rows["b"]["cpu"]
    new_stalls = rows["c"]["stalls_total"] > 0 and rows["a"]["stalls_total"] == 0
    complete = all(r.ok for r in results)
    holds = complete and throughput_ratio >= THROUGHPUT_TARGET and not new_stalls

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    lines += [
        "",
        f"Targets: c/b throughput >= {THROUGHPUT_TARGET:.2f} (stretch: c/a >= {THROUGHPUT_STRETCH:.2f}), "
        "no >1 s requests that bare lacks.",
        f"- c/b throughput = {throughput_ratio:.3f} ({verdict(throughput_ratio >= THROUGHPUT_TARGET)})",
        f"- c/a throughput = {bare_ratio:.3f} (stretch {verdict(bare_ratio >= THROUGHPUT_STRETCH)})",
        f"- c/b CPU per request = {cpu_ratio:.3f} (earlier target <= {CPU_TARGET:.2f}: "
        f"{verdict(cpu_ratio <= CPU_TARGET)})",
        f"- requests over 1 s, all rounds: a={rows['a']['stalls_total']:g}, b={rows['b']['stalls_total']:g}, "
        f"c={rows['c']['stalls_total']:g} ({'new stalls in c' if new_stalls else 'no stalls that bare lacks'})",
    ]
    if "d" in rows:
        lines.append(
            f"- collector down (d): throughput d/c = {rows['d']['throughput'] / rows['c']['throughput']:.3f}, "
            f"requests over 1 s: {rows['d']['stalls_total']:g}, errors: {rows['d']['errors']:g}"
        )
    if not complete:
        lines.append("- some runs failed (see above), so the comparison is incomplete")
    lines.append(f"- target {'HOLDS' if holds else 'DOES NOT HOLD'}")
    return "\n".join(lines)


def describe_run(r: RunResult) -> str:
    if not r.latencies and not r.ok:
        return f"round {r.round} mode {r.mode}: FAILED ({r.note})"
    sink = " ".join(
        f"{name}={r.sink.get(name, 0)} ({r.sink.get(name + ' bytes', 0) / 1024:.0f} KB"
        + (f", {r.sink[name + ' items']} items)" if r.sink.get(name + " items") else ")")
        for name in ("traces", "metrics", "logs", "other")
        if r.sink.get(name) or name != "other"
    )
    return (
        f"round {r.round} mode {r.mode}: {r.requests} ok, {r.errors} errors, {r.throughput:.1f} req/s, "
        f"CPU {r.cpu_s:.2f} s ({r.cpu_ms_per_request:.2f} ms/req), p50 {1000 * r.quantile(0.5):.1f} ms, "
        f"p99 {1000 * r.quantile(0.99):.1f} ms, max {1000 * r.max_latency:.1f} ms, >1 s {r.stalls}, "
        f"stop {r.stop_s:.2f} s, OTLP requests [{sink}]; window CPU s: stub {r.stub_cpu_s:.2f}, "
        f"load generator {r.client_cpu_s:.2f}, everything else {r.other_cpu_s:.2f}, steal {r.steal_s:.2f}"
        + (f" NOTE: {r.note}" if r.note else "")
    )


def add_evaluators_mode(workdir: Path, judge_url: str) -> None:
    """Mode e: glassbox with a file of online evaluators, a rule on every model call and a judge (the stub,
    which answers a judge's prompt with a verdict) on a tenth of them: what evaluating costs the request."""
    path = workdir / "evaluators.yaml"
    path.write_text(
        "evaluators:\n"
        "  - {name: no-refusal, kind: refusal}\n"
        f"  - {{name: helpful, kind: judge, sample_rate: 0.1, model: gpt-4o-mini, url: '{judge_url}', "
        "prompt: 'Rate the answer {answer}'}\n"
    )
    VARIANT_ENV["e"] = {"GLASSBOX_EVALUATORS_FILE": str(path)}
    MODE_NAMES["e"] = "glassbox + evaluators"
    MODES.append("e")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="chat-service")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of warm-up load (hey driver)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--driver", choices=["hey", "python"], default="hey")
    parser.add_argument(
        "--collector-down", action="store_true", help="add mode d: glassbox exporting to a port nobody listens on"
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE,...",
        help="add a glassbox mode NAME with these environment variables (repeatable), e.g. "
        "old-logs:GLASSBOX_LOG_LEVEL=info",
    )
    parser.add_argument(
        "--evaluators",
        action="store_true",
        help="add mode e: glassbox with online evaluators, a rule on every call and an LLM judge (the stub) on 10%%",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="sample each run's app with py-spy (on PATH) over the timed window and print where the time went; "
        "the figures of a profiled run are not comparable with an unprofiled one",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the app's stdout/stderr")
    args = parser.parse_args(argv)
    if args.collector_down and "d" not in MODES:
        MODES.append("d")
    for variant in args.variant:
        name, _, assignments = variant.partition(":")
        if not name or name in MODE_NAMES or "=" not in assignments:
            parser.error(f"--variant {variant!r}: expected a new NAME:VAR=VALUE[,VAR=VALUE]")
        VARIANT_ENV[name] = dict(item.split("=", 1) for item in assignments.split(","))
        MODE_NAMES[name] = "glassbox variant"
        MODES.append(name)
    args.hey = find_hey() if args.driver == "hey" else None
    args.profile = shutil.which("py-spy") if args.profile else None
    if args.profile is None and "--profile" in (argv if argv is not None else sys.argv):
        print("--profile needs py-spy on PATH (pip install py-spy)", file=sys.stderr)
        return 2
    if args.driver == "hey" and not args.hey:
        print("hey not found on PATH or in GLASSBOX_BIN_DIR (or use --driver python)", file=sys.stderr)
        return 2
    if not sys.platform.startswith("linux"):
        print("this benchmark reads /proc and needs Linux", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="glassbox-bench-"))
    print(f"app output in {workdir}", file=sys.stderr)
    results: list[RunResult] = []
    sink = OtlpSink(decode=SHAPES[args.shape].decode)
    sink.start()
    stub_port = free_port()
    stub = start_stub(stub_port, workdir, SHAPES[args.shape].stub_latency_ms)
    try:
        if not asyncio.run(wait_healthy(f"http://{HOST}:{stub_port}/health", stub, STARTUP_TIMEOUT_S)):
            print(f"stub did not start:\n{tail(workdir / 'stub.stderr')}", file=sys.stderr)
            return 1
        if args.evaluators:
            add_evaluators_mode(workdir, f"http://{HOST}:{stub_port}/v1")
        for round_no in range(1, args.rounds + 1):
            # Rotate the order each round so no mode always runs first or last.
            shift = (round_no - 1) % len(MODES)
            for mode in [*MODES[shift:], *MODES[:shift]]:
                result = run_mode(mode, round_no, args, stub, stub_port, sink, workdir)
                results.append(result)
                print(describe_run(result), flush=True)
    finally:
        stop_process(stub)
        sink.stop()
    print()
    print(f"Shape {args.shape}, driver {args.driver}.")
    print(summarize(results, args.concurrency, args.seconds))
    if args.profile:
        for path in sorted(workdir.glob("profile-*.txt")):
            print("\n" + profile_summary(path))
    if not args.keep_logs and all(r.ok for r in results):
        for path in sorted(workdir.iterdir()):
            path.unlink()
        workdir.rmdir()
    else:
        print(f"\napp output kept in {workdir}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
