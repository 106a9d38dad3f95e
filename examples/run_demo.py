"""`make demo`: the stack, the demo app under opentelemetry-instrument, a minute of traffic, proof it arrived.

Brings the stack up (`python -m stack.native up`: Docker when an engine answers, natively otherwise), starts
the stub LLM server and the demo app (with glassbox) on loopback ports, exporting by OTLP to the stack's
collector, and sends traffic across three tenants. Then it runs `glassbox doctor` and prints what arrived:
requests, tokens and USD per tenant as the app counted them and as Prometheus holds them, log records in
Loki and traces in Tempo where they run, a sample trace id, the alerts that fired and what Alertmanager
received, and where to look. The app and the stub stop at
the end; the stack keeps running for Grafana until `make down`.

    python examples/run_demo.py [--seconds 60] [--no-stack] [--alert-wait 90]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from glassbox.stack_addresses import Endpoints

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
    """Sample name -> (labels, value) of each sample of the Prometheus text format, read by prometheus_client."""
    series: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[sample.name].append((dict(sample.labels), float(sample.value)))
    return series


def summarise(metrics_text: str, log_path: Path) -> str | None:
    series = parse_metrics(metrics_text)
    per_tenant: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for labels, value in series.get("http_server_request_duration_seconds_count", []):
        per_tenant[labels.get("glassbox_tenant_id", "?")]["requests"] += value
    for labels, value in series.get("gen_ai_client_token_usage_sum", []):
        per_tenant[labels.get("glassbox_tenant_id", "?")][f"{labels.get('gen_ai_token_type')}_tokens"] += value
    for labels, value in series.get("glassbox_gen_ai_cost_usd_total", []):
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
    """Requests and USD per tenant as Prometheus holds them, for this run's app instances only."""

    def per_tenant(metric: str) -> dict[str, float]:
        query = f'sum by (glassbox_tenant_id) ({metric}{{job="demo-agent",instance=~"{instance}(-.+)?"}})'
        response = httpx.get(f"{endpoints.prometheus}/api/v1/query", params={"query": query}, timeout=10)
        rows = response.json()["data"]["result"]
        return {r["metric"].get("glassbox_tenant_id", "?"): float(r["value"][1]) for r in rows}

    try:
        requests = per_tenant("http_server_request_duration_seconds_count")
        usd = per_tenant("glassbox_gen_ai_cost_usd_total")
    except (httpx.HTTPError, KeyError, ValueError) as error:
        print(f"\nPrometheus could not be queried at {endpoints.prometheus}: {error}")
        return
    print(f"\nPer tenant (from Prometheus at {endpoints.prometheus}, through the collector):")
    print(f"  {'tenant':<10} {'requests':>9} {'USD':>10}")
    for tenant in sorted(requests):
        print(f"  {tenant:<10} {requests[tenant]:>9.0f} {usd.get(tenant, 0):>10.5f}")


# Labels every alert has, left out of the report's one line per alert.
COMMON_LABELS = {"alertname", "severity", "job", "instance", "deployment_environment_name"}


def alert_line(alert: dict[str, Any]) -> str:
    labels = alert.get("labels", {})
    detail = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in COMMON_LABELS)
    return f"{labels.get('alertname', '?')} ({labels.get('severity', '?')}{', ' + detail if detail else ''})"


def alerts_report(endpoints: Endpoints, wait: float) -> None:
    """What fired: the alerts Prometheus holds (firing, or pending until their `for` has passed) and what the
    Alertmanager it sends to received. Waits up to ``wait`` seconds while any is pending."""
    prometheus = endpoints.prometheus
    try:
        groups = httpx.get(f"{prometheus}/api/v1/rules", params={"type": "alert"}, timeout=10).json()["data"]["groups"]
        managers = httpx.get(f"{prometheus}/api/v1/alertmanagers", timeout=10).json()["data"]["activeAlertmanagers"]
    except (httpx.HTTPError, KeyError, ValueError) as error:
        print(f"\nAlerts: Prometheus could not be asked at {prometheus}: {error}")
        return
    if not groups:
        print("\nAlerts: Grafana evaluates them in this stack (Alerting, then Alert rules); Prometheus holds none")
        return
    deadline = time.monotonic() + wait
    while True:
        try:
            held = httpx.get(f"{prometheus}/api/v1/alerts", timeout=10).json()["data"]["alerts"]
        except (httpx.HTTPError, KeyError, ValueError) as error:
            print(f"\nAlerts: Prometheus stopped answering at {prometheus}: {error}")
            return
        pending = [a for a in held if a["state"] == "pending"]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(5)
    received: list[dict[str, Any]] = []
    for manager in managers:
        try:
            received += httpx.get(manager["url"], timeout=10).json()
        except (httpx.HTTPError, ValueError):
            print(f"  Alertmanager at {manager['url']} does not answer")
    firing = [a for a in held if a["state"] == "firing"]
    print(f"\nAlerts (Prometheus evaluates the rules every minute; {len(managers)} Alertmanager(s) route them):")
    print("  alerts fired: " + ("; ".join(alert_line(a) for a in firing) or "none"))
    if pending:
        print("  pending (fire if they last their `for`): " + "; ".join(alert_line(a) for a in pending))
    names = {alert_line(a) for a in received}
    print("  received by Alertmanager: " + ("; ".join(sorted(names)) or "none"))
    if received:
        runbook = received[0].get("annotations", {}).get("runbook_url", "")
        print(f"  each with its runbook, e.g. {runbook}; Alertmanager posts them to GLASSBOX_ALERT_WEBHOOK_URL")


def evaluators_file(judge_url: str) -> Path:
    """examples/evaluators.yaml with its judges pointed at this run's stub LLM, written under .state/demo."""
    config = yaml.safe_load((HERE / "evaluators.yaml").read_text())
    for entry in config["evaluators"]:
        if entry.get("kind") == "judge":
            entry["url"] = judge_url
    path = STATE / "evaluators.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def prompt_versions_report(endpoints: Endpoints, instance: str) -> None:
    """Answers accepted and rejected per prompt version and evaluator, as Prometheus counts them."""
    query = (
        "sum by (glassbox_prompt_version, gen_ai_evaluation_name, glassbox_evaluation_outcome) "
        f'(glassbox_evaluation_results_total{{job="demo-agent",instance=~"{instance}(-.+)?",'
        'glassbox_prompt_name="support-answer",glassbox_evaluator_kind!=""})'
    )
    try:
        response = httpx.get(f"{endpoints.prometheus}/api/v1/query", params={"query": query}, timeout=10)
        rows = response.json()["data"]["result"]
    except (httpx.HTTPError, KeyError, ValueError) as error:
        print(f"\nPrompt versions: Prometheus could not be queried at {endpoints.prometheus}: {error}")
        return
    counts: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        labels = row["metric"]
        key = (labels.get("glassbox_prompt_version", "?"), labels.get("gen_ai_evaluation_name", "?"))
        counts[key][labels.get("glassbox_evaluation_outcome", "?")] += float(row["value"][1])
    print("\nPrompt versions of support-answer (online evaluators, from Prometheus):")
    if not counts:
        print("  no online evaluation results yet")
        return
    print(f"  {'version':<8} {'evaluator':<20} {'accepted':>9} {'rejected':>9} {'rejected %':>11}")
    for (version, name), outcome in sorted(counts.items()):
        accepted, rejected = outcome.get("accepted", 0), outcome.get("rejected", 0)
        share = 100 * rejected / (accepted + rejected) if accepted + rejected else 0
        print(f"  {version:<8} {name:<20} {accepted:>9.0f} {rejected:>9.0f} {share:>10.1f}%")


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


def fleet_admin_url(state_dir: Path) -> str | None:
    """The PostgreSQL the stack runs for the fleet state, as its owner (the demo makes a database of its own):
    GLASSBOX_STATE_ADMIN_URL, GLASSBOX_STATE_URL, the native run's, or compose's."""
    if url := os.environ.get("GLASSBOX_STATE_ADMIN_URL") or os.environ.get("GLASSBOX_STATE_URL"):
        return url
    native = state_dir / "postgres-admin-url"
    if native.is_file():
        return native.read_text().strip()
    dotenv = HERE.parent / ".env"
    if (state_dir / "docker").exists() and dotenv.is_file():
        values = dict(line.split("=", 1) for line in dotenv.read_text().splitlines() if "=" in line and line[0] != "#")
        if password := values.get("GLASSBOX_POSTGRES_PASSWORD"):
            port = values.get("GLASSBOX_POSTGRES_PORT", "5432")
            return f"postgresql://glassbox:{quote(password, safe='')}@127.0.0.1:{port}/glassbox"
    return None


def fresh_database(url: str, instance: str) -> str:
    """A database of its own for this run (each demo starts within budget; older demo databases go), migrated as
    its owner; returns the URL the apps get: a login role in glassbox_writer, as in production."""
    import secrets

    import psycopg
    from psycopg import sql

    from glassbox.db import create_login_role, migrate

    name = f"glassbox_demo_{instance.replace('-', '_')}"
    with psycopg.connect(url, autocommit=True) as connection:
        for (old,) in connection.execute("SELECT datname FROM pg_database WHERE datname LIKE 'glassbox_demo_%'"):
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(old)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path=f"/{name}"))
    role, password = "glassbox_demo_app", secrets.token_urlsafe(18)
    with psycopg.connect(admin, autocommit=True) as connection:
        migrate(connection, roles=True)
        create_login_role(connection, role, password, "glassbox_writer")
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit(parts._replace(netloc=f"{role}:{quote(password, safe='')}@{host}", path=f"/{name}"))


def start_app(index: int, env: dict[str, str], processes: list[subprocess.Popen[Any]]) -> dict[str, Any]:
    """One replica of the demo app: a host of its own (host name, directories, ports)."""
    host = f"demo-host-{'ab'[index]}"
    directory = STATE / host
    directory.mkdir(parents=True, exist_ok=True)
    port, metrics_port = free_port(), free_port()
    replica = {
        **env,
        "DEMO_PORT": str(port),
        "GLASSBOX_METRICS_PORT": str(metrics_port),
        "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={env['DEMO_INSTANCE']}-{host},host.name={host}",
        # The host's own files: audit log, spool and key, kill switch and spend (used without a shared state).
        "GLASSBOX_AUDIT_DIR": str(directory / "audit"),
        "GLASSBOX_AUDIT_CHECKPOINT_DIR": str(directory / "audit-checkpoints"),
        "GLASSBOX_AUDIT_KEY_FILE": str(directory / "keys" / "audit.key"),
        "GLASSBOX_AUDIT_SPOOL_DIR": str(directory / "audit-spool"),
        "GLASSBOX_KILL_SWITCH_FILE": str(directory / "kill-switch"),
        "GLASSBOX_BUDGETS_STATE": str(directory / f"spend-{env['DEMO_INSTANCE']}.sqlite"),
    }
    log_path = STATE / f"app-{host}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "opentelemetry-instrument"),
                "python",
                str(HERE / "demo_app" / "app.py"),
            ],
            env=replica,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    processes.append(process)
    url = f"http://127.0.0.1:{port}"
    wait(f"{url}/healthz", process, f"demo app on {host}")
    print(f"  {host}: app {url}   metrics http://127.0.0.1:{metrics_port}/metrics   log {log_path}")
    return {"host": host, "url": url, "metrics": f"http://127.0.0.1:{metrics_port}/metrics", "log": log_path,
            "env": replica}  # fmt: skip


def chat_is_canned(app: dict[str, Any], tenant: str) -> bool:
    reply = httpx.post(f"{app['url']}/chat", json={"message": "hello"}, headers={"x-tenant-id": tenant}, timeout=10)
    return bool(reply.json().get("fallback"))


def fleet_report(apps: list[dict[str, Any]], env: dict[str, str]) -> None:
    """One tenant's budget across both hosts, and one kill switch stopping both."""
    glassbox = [str(Path(sys.executable).parent / "glassbox")]
    print("\nFleet (two hosts, one PostgreSQL):")
    listing = subprocess.run([*glassbox, "budgets", "list"], env=env, capture_output=True, text=True, timeout=60)
    for line in listing.stdout.splitlines():
        if line.startswith(("tenant", "initech", "state:")):
            print(f"  {line}")
    for app in apps:
        refused = parse_metrics(httpx.get(app["metrics"], timeout=5).text).get("glassbox_ai_calls_refused_total", [])
        by_budget = sum(v for labels, v in refused if labels.get("glassbox_tenant_id") == "initech"
                        and labels.get("reason", "").startswith("budget_"))  # fmt: skip
        print(f"  {app['host']}: {by_budget:.0f} model calls of initech refused by its budget")
    switched = subprocess.run([*glassbox, "kill-switch", "on", "--reason", "demo: one switch for the fleet"],
                              env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    done = time.monotonic()
    if switched.returncode != 0:
        print(f"  kill switch: {switched.stderr.strip()}")
        return
    for app in apps:
        while not chat_is_canned(app, "globex") and time.monotonic() - done < 5:
            time.sleep(0.02)
        print(f"  kill switch on: {app['host']} answers with the canned fallback "
              f"({(time.monotonic() - done) * 1000:.0f} ms after the command returned)")  # fmt: skip
    subprocess.run([*glassbox, "kill-switch", "off"], env=env, capture_output=True, timeout=60)
    time.sleep(0.2)
    answers = [f"{a['host']} " + ("still canned" if chat_is_canned(a, "globex") else "answered by the model")
               for a in apps]  # fmt: skip
    print(f"  kill switch off: {', '.join(answers)}")
    # Each host signs checkpoints with its own key (a fleet can share one): trust those that signed any.
    signed = [Path(app["env"]["GLASSBOX_AUDIT_KEY_FILE"] + ".pub") for app in apps]
    keys = [arg for path in signed if path.exists() for arg in ("--public-key", str(path))]
    verified = subprocess.run([*glassbox, "audit", "verify", *keys], env=env, capture_output=True, text=True,
                              timeout=120)  # fmt: skip
    last = verified.stdout.strip().splitlines()[-1] if verified.stdout.strip() else verified.stderr.strip()
    print(f"  one audit chain for both hosts: {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-stack", action="store_true", help="do not start the stack (use one already up)")
    parser.add_argument(
        "--alert-wait", type=float, default=90, help="seconds to wait for pending alerts to fire (default 90)"
    )
    args = parser.parse_args()
    STATE.mkdir(parents=True, exist_ok=True)
    root = HERE.parent
    if not args.no_stack:
        print("Starting the stack:")
        if subprocess.run([sys.executable, "-m", "stack.native", "up"], cwd=root).returncode != 0:
            raise SystemExit("the stack did not start; see the message above")
    endpoints = Endpoints.from_environ(os.environ)
    instance = f"demo-{os.getpid()}-{int(time.time())}"
    stub_port = free_port()
    bin_dir = Path(sys.executable).parent
    state_url = fleet_admin_url(Path(os.environ.get("GLASSBOX_STATE_DIR", root / ".state" / "stack")))
    env = {
        **{k: v for k, v in os.environ.items() if k != "GLASSBOX_STATE_ADMIN_URL"},  # the apps never hold it
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "OTEL_PYTHON_DISTRO": "glassbox",
        "OTEL_PYTHON_CONFIGURATOR": "glassbox",
        "OTEL_SERVICE_NAME": os.environ.get("OTEL_SERVICE_NAME", "demo-agent"),
        "OTEL_EXPORTER_OTLP_TIMEOUT": os.environ.get("OTEL_EXPORTER_OTLP_TIMEOUT", "2"),
        "GLASSBOX_BUDGETS_FILE": os.environ.get("GLASSBOX_BUDGETS_FILE", str(HERE / "demo_app" / "budgets.yaml")),
        "OTEL_METRIC_EXPORT_INTERVAL": os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "5000"),
        "LLM_BASE_URL": f"http://127.0.0.1:{stub_port}",
        "DEMO_ADMIN_TOKEN": os.environ.get("DEMO_ADMIN_TOKEN", "demo-admin-token"),
        "DEMO_INSTANCE": instance,
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoints.otlp_http,
        "OTEL_RESOURCE_ATTRIBUTES": f"service.instance.id={instance}",
        # Two versions of the chat prompt, judged by the online evaluators of examples/evaluators.yaml.
        "DEMO_PROMPT_VERSIONS": "1",
        "GLASSBOX_EVALUATORS_FILE": str(evaluators_file(f"http://127.0.0.1:{stub_port}/v1")),
    }
    if state_url:
        try:
            env["GLASSBOX_STATE_URL"] = fresh_database(state_url, instance)
        except Exception as error:
            print(f"PostgreSQL for the fleet state does not answer ({type(error).__name__}); one replica, files state")
            state_url = None
    else:
        print("No PostgreSQL for the fleet state (`make up` starts one): one replica with the files state")
    processes: list[subprocess.Popen[Any]] = []
    try:
        print("Starting the stub LLM server and the demo app (with glassbox):")
        stub_log = open(STATE / "stub.log", "wb")  # noqa: SIM115
        processes.append(
            subprocess.Popen(
                [sys.executable, str(HERE / "stub_llm" / "server.py"), "--port", str(stub_port), "--error-rate",
                 "0.02"],
                stdout=stub_log,
                stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        wait(f"http://127.0.0.1:{stub_port}/health", processes[-1], "stub LLM")
        apps = [start_app(index, env, processes) for index in range(2 if state_url else 1)]
        print(f"Sending {args.seconds:.0f} s of traffic across tenants acme, globex, initech ...")
        urls = [arg for app in apps for arg in ("--url", app["url"])]
        subprocess.run([sys.executable, str(HERE / "traffic.py"), *urls, "--seconds", str(args.seconds)],
                       env=env, check=True)  # fmt: skip
        time.sleep(6)  # one more metric collection, so /metrics includes the last requests
        text = "\n".join(httpx.get(app["metrics"], timeout=5).text for app in apps)
        trace_id = summarise(text, apps[0]["log"])
        time.sleep(6)  # the collector sends metrics on within seconds
        prometheus_summary(endpoints, instance)
        prompt_versions_report(endpoints, instance)
        backend_counts(endpoints, trace_id)
        if state_url:
            fleet_report(apps, {**env, "OTEL_SERVICE_NAME": "glassbox-cli"})
        alerts_report(endpoints, args.alert_wait)
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
