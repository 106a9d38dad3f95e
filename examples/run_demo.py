"""`make demo`: the stub LLM, the demo app under opentelemetry-instrument, a minute of traffic, a summary.

Starts the stub LLM server and the demo app (with glassbox) on loopback ports, sends traffic across three
tenants, then reads the app's Prometheus endpoint and its JSON log lines and prints what the telemetry
shows: requests, tokens and USD per tenant, a sample trace id, and what was dropped. Every process it
starts, it stops. Traces, logs and metrics also go out by OTLP to ``OTEL_EXPORTER_OTLP_ENDPOINT``
(default http://localhost:4318): when no collector listens there, the loss is counted, as shown at the end.

    python examples/run_demo.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
STATE = HERE.parent / ".state" / "demo"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait(url: str, process: subprocess.Popen[Any], name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    print(f"  waiting for {name} ", end="", flush=True)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"\n{name} exited with status {process.returncode}; see {STATE}")
        try:
            httpx.get(url, timeout=1)
            print("ready")
            return
        except httpx.HTTPError:
            print(".", end="", flush=True)
            time.sleep(0.3)
    raise SystemExit(f"\n{name} did not become ready within {timeout}s; see {STATE}")


def parse_metrics(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    series: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            series[match.group(1)].append((labels, float(match.group(3))))
    return series


def summarise(metrics_text: str, log_path: Path) -> None:
    series = parse_metrics(metrics_text)
    per_tenant: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in series.get("http_server_request_duration_seconds_count", []):
        per_tenant[labels.get("glassbox_tenant_id", "?")]["requests"] += value
    for labels, value in series.get("gen_ai_client_token_usage_sum", []):
        per_tenant[labels.get("glassbox_tenant_id", "?")][f"{labels.get('gen_ai_token_type')}_tokens"] += value
    for labels, value in series.get("glassbox_gen_ai_cost_USD_total", []):
        per_tenant[labels.get("glassbox_tenant_id", "?")]["usd"] += value
    print("\nPer tenant (from the app's /metrics):")
    print(f"  {'tenant':<10} {'requests':>9} {'input tok':>10} {'output tok':>11} {'USD':>10}")
    for tenant, row in sorted(per_tenant.items()):
        print(
            f"  {tenant:<10} {row['requests']:>9.0f} {row['input_tokens']:>10.0f} "
            f"{row['output_tokens']:>11.0f} {row['usd']:>10.5f}"
        )
    unpriced = sum(v for _, v in series.get("glassbox_gen_ai_cost_unpriced_total", []))
    print(f"  model calls without a price (counted, never guessed): {unpriced:.0f}")
    failed = sum(v for labels, v in series.get("otel_sdk_exporter_span_exported_total", []) if "error_type" in labels)
    sent = sum(v for labels, v in series.get("otel_sdk_exporter_span_exported_total", []) if "error_type" not in labels)
    print(f"  spans exported by OTLP: {sent:.0f}, failed (collector unreachable?): {failed:.0f}")
    trace_id = None
    lines = 0
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        lines += 1
        record = json.loads(line)
        if record.get("message") == "agent tools done" and record.get("trace_id"):
            trace_id = record["trace_id"]
    print(f"  JSON log lines written: {lines}")
    if trace_id:
        print(f"  sample agent trace id: {trace_id}  (grep it in {log_path})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    STATE.mkdir(parents=True, exist_ok=True)
    stub_port, app_port, metrics_port = free_port(), free_port(), free_port()
    bin_dir = Path(sys.executable).parent
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "OTEL_PYTHON_DISTRO": "glassbox",
        "OTEL_PYTHON_CONFIGURATOR": "glassbox",
        "OTEL_SERVICE_NAME": os.environ.get("OTEL_SERVICE_NAME", "demo-agent"),
        "OTEL_EXPORTER_OTLP_TIMEOUT": os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT", "2"),
        "GLASSBOX_METRICS_PORT": str(metrics_port),
        "OTEL_METRIC_EXPORT_INTERVAL": os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
        "DEMO_PORT": str(app_port),
        "LLM_BASE_URL": f"http://127.0.0.1:{stub_port}",
        "DEMO_ADMIN_TOKEN": os.environ.get("DEMO_ADMIN_TOKEN", "demo-admin-token"),
    }
    processes: list[subprocess.Popen[Any]] = []
    try:
        print("Starting the stub LLM server and the demo app (with glassbox):")
        stub_log = open(STATE / "stub.log", "wb")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(HERE / "stub_llm" / "server.py"),
                    "--port",
                    str(stub_port),
                    "--error-rate",
                    "0.02",
                ],
                stdout=stub_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait(f"http://127.0.0.1:{stub_port}/health", processes[-1], "stub LLM")
        app_log_path = STATE / "app.log"
        app_log = open(app_log_path, "wb")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [str(bin_dir / "opentelemetry-instrument"), "python", str(HERE / "demo_app" / "app.py")],
                env=env,
                stdout=app_log,
                stderr=subprocess.STDOUT,
            )
        )
        wait(f"http://127.0.0.1:{app_port}/healthz", processes[-1], "demo app")
        print(f"  app http://127.0.0.1:{app_port}   metrics http://127.0.0.1:{metrics_port}/metrics")
        print(f"Sending {args.seconds:.0f} s of traffic across tenants acme, globex, initech ...")
        subprocess.run(
            [sys.executable, str(HERE / "traffic.py"), "--url", f"http://127.0.0.1:{app_port}",
             "--seconds", str(args.seconds)],
            env=env,
            check=True,
        )  # fmt: skip
        time.sleep(6)  # one more metric collection, so /metrics includes the last requests
        summarise(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text, app_log_path)
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
    print(f"\nLogs of this run: {STATE}")


if __name__ == "__main__":
    main()
