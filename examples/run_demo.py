"""`make demo`: the stack, the demo app under opentelemetry-instrument, a minute of traffic, proof it arrived.

Brings the stack up (`python -m stack.native up`: Docker when an engine answers, natively otherwise), starts
the stub LLM server and the demo app (with glassbox) on loopback ports, exporting by OTLP to the stack's
collector, and sends traffic across three tenants. Then it runs `glassbox doctor` and prints what arrived:
requests, tokens and USD per tenant as the app counted them and as Prometheus holds them, log records in
Loki and traces in Tempo where they run, a sample trace id, and where to look. The app and the stub stop at
the end; the stack keeps running for Grafana until `make down`.

    python examples/run_demo.py [--seconds 60] [--no-stack]
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

from glassbox.endpoints import Endpoints

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


def summarise(metrics_text: str, log_path: Path) -> str | None:
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
    return trace_id


def prometheus_summary(endpoints: Endpoints, instance: str) -> None:
    """Requests and USD per tenant as Prometheus holds them, for this run's app instance only."""

    def per_tenant(metric: str) -> dict[str, float]:
        query = f'sum by (glassbox_tenant_id) ({metric}{{job="demo-agent",instance="{instance}"}})'
        response = httpx.get(f"{endpoints.prometheus}/api/v1/query", params={"query": query}, timeout=10)
        rows = response.json()["data"]["result"]
        return {r["metric"].get("glassbox_tenant_id", "?"): float(r["value"][1]) for r in rows}

    try:
        requests = per_tenant("http_server_request_duration_seconds_count")
        usd = per_tenant("glassbox_gen_ai_cost_USD_total")
    except (httpx.HTTPError, KeyError, ValueError) as error:
        print(f"\nPrometheus could not be queried at {endpoints.prometheus}: {error}")
        return
    print(f"\nPer tenant (from Prometheus at {endpoints.prometheus}, through the collector):")
    print(f"  {'tenant':<10} {'requests':>9} {'USD':>10}")
    for tenant in sorted(requests):
        print(f"  {tenant:<10} {requests[tenant]:>9.0f} {usd.get(tenant, 0):>10.5f}")


def backend_counts(endpoints: Endpoints, trace_id: str | None) -> None:
    """Log records in Loki and the sample trace in Tempo, where they run."""
    now = time.time()
    try:
        response = httpx.get(
            f"{endpoints.loki}/loki/api/v1/query",
            params={"query": 'sum(count_over_time({service_name="demo-agent"}[15m]))', "time": str(int(now * 1e9))},
            timeout=10,
        )
        rows = response.json()["data"]["result"]
        print(f"  Loki: {float(rows[0]['value'][1]) if rows else 0:.0f} log records from demo-agent in 15 min")
    except (httpx.HTTPError, KeyError, ValueError):
        print(f"  Loki: not reachable at {endpoints.loki}")
    if trace_id:
        try:
            status = httpx.get(f"{endpoints.tempo}/api/traces/{trace_id}", timeout=10).status_code
            print(f"  Tempo: sample trace {trace_id} " + ("found" if status == 200 else f"answered {status}"))
        except httpx.HTTPError:
            print(f"  Tempo: not reachable at {endpoints.tempo}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-stack", action="store_true", help="do not start the stack (use one already up)")
    args = parser.parse_args()
    STATE.mkdir(parents=True, exist_ok=True)
    root = HERE.parent
    if not args.no_stack:
        print("Starting the stack:")
        if subprocess.run([sys.executable, "-m", "stack.native", "up"], cwd=root).returncode != 0:
            raise SystemExit("the stack did not start; see the message above")
    endpoints = Endpoints.from_environ(os.environ)
    instance = f"demo-{os.getpid()}-{int(time.time())}"
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
        "GLASSBOX_BUDGETS_FILE": os.environ.get("GLASSBOX_BUDGETS_FILE", str(HERE / "demo_app" / "budgets.yaml")),
        # The demo's audit log, its signed checkpoints and key: `glassbox audit verify` with the same variables.
        "GLASSBOX_AUDIT_DIR": os.environ.get("GLASSBOX_AUDIT_DIR", str(STATE / "audit")),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": os.environ.get(
            "GLASSBOX_AUDIT_CHECKPOINT_DIR", str(STATE / "audit-checkpoints")
        ),
        "GLASSBOX_AUDIT_KEY_FILE": os.environ.get("GLASSBOX_AUDIT_KEY_FILE", str(STATE / "keys" / "audit.key")),
        "GLASSBOX_AUDIT_SPOOL_DIR": os.environ.get("GLASSBOX_AUDIT_SPOOL_DIR", str(STATE / "audit-spool")),
        "GLASSBOX_KILL_SWITCH_FILE": os.environ.get("GLASSBOX_KILL_SWITCH_FILE", str(STATE / "kill-switch")),
        # Tenant spend shared by the app's processes; one file per run, so each demo starts within budget.
        "GLASSBOX_BUDGETS_STATE": os.environ.get("GLASSBOX_BUDGETS_STATE", str(STATE / f"spend-{instance}.sqlite")),
        "OTEL_METRIC_EXPORT_INTERVAL": os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
        "DEMO_PORT": str(app_port),
        "LLM_BASE_URL": f"http://127.0.0.1:{stub_port}",
        "DEMO_ADMIN_TOKEN": os.environ.get("DEMO_ADMIN_TOKEN", "demo-admin-token"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoints.otlp_http,
        "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={instance}",
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
        trace_id = summarise(httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text, app_log_path)
        time.sleep(6)  # the collector sends metrics on within seconds
        prometheus_summary(endpoints, instance)
        backend_counts(endpoints, trace_id)
        print("\nglassbox doctor:")
        subprocess.run([str(bin_dir / "glassbox"), "doctor", "--timeout", "30"], env=env, check=False)
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
    if not args.no_stack:
        try:
            grafana = httpx.get(f"{endpoints.grafana}/api/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            grafana = False
        print(
            (f"Grafana: {endpoints.grafana} (user admin)" if grafana else "Grafana: not running here")
            + f"; Prometheus: {endpoints.prometheus}. `make down` stops the stack."
        )


if __name__ == "__main__":
    main()
