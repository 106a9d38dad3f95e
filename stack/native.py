"""`make up` / `make down`: the Glassbox stack with Docker when an engine answers, natively otherwise.

Natively it starts the collector (built from collector/manifest.yaml), Prometheus (Debian package), and Loki,
Tempo and Grafana where their binaries are on PATH or in GLASSBOX_BIN_DIR, then the canary:
`glassbox doctor --watch GLASSBOX_CANARY_INTERVAL` (default 60 s), which keeps the canary metric fresh. One
state directory (GLASSBOX_STATE_DIR, default .state/stack) holds each process's data, log and pid file;
`down` stops only the processes whose pid files `up` wrote, after checking each pid still runs the command it
started. Prometheus scrapes only the components that start or already run: an absent one is no target.
With --gateways N (GLASSBOX_GATEWAY_COUNT) the collector runs as the agent of the collector tiers in front of N
gateways (docs/scale.md); `down` and `status` find the gateways by their pid files. Gateways asked of a collector
that runs as something else (the single collector, or the agent of other gateways) are refused: `down` first.

    python -m stack.native up [--only collector,prometheus,canary] [--gateways N] [--docker | --no-docker]
    python -m stack.native down
    python -m stack.native status
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from grafana.alerts import PROMETHEUS_RULES_FILE
from grafana.generate import prometheus_outputs
from stack.binaries import ROOT
from stack.components import (
    BY_NAME,
    GATEWAY_PREFIX,
    SCRAPE_JOBS,
    Component,
    alert_rules,
    alertmanager_config,
    command,
    component,
    component_env,
    executable,
    gateway_count,
    gateway_number,
    gateway_variable,
    layout,
    not_found,
    runbook_url,
    settings,
    with_gateways,
)
from stack.postgres import Cluster, pgaudit_installed, reachable
from stack.processes import NotReady, http_ready, port_in_use, start, stop, tail, wait_alive, wait_http

DEFAULT_STATE = ROOT / ".state" / "stack"
# The database `up` creates in the native PostgreSQL for the fleet's shared state.
STATE_DATABASE = "glassbox"
# The login roles `up` makes in the native PostgreSQL: the apps' (glassbox_writer) and the auditors' (glassbox_reader).
APP_ROLE, AUDITOR_ROLE = "glassbox_app", "glassbox_auditor"
READY_TIMEOUT = float(os.environ.get("GLASSBOX_READY_TIMEOUT", "90"))
# A component without a readiness endpoint (the canary) counts as started when it still runs after this long.
ALIVE_AFTER = 1.0


class StackError(RuntimeError):
    """A problem the user must fix: a taken port, a missing required binary, a component that did not start."""


@dataclass
class Outcome:
    name: str
    status: str  # started | already running | missing | failed
    detail: str


def out_of_order_window(config: Path = ROOT / "prometheus" / "prometheus.yml") -> float:
    """Seconds: how late a sample Prometheus still accepts (storage.tsdb.out_of_order_time_window)."""
    tsdb = (yaml.safe_load(config.read_text()).get("storage") or {}).get("tsdb") or {}
    window = str(tsdb.get("out_of_order_time_window", "0s"))
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", window))


def set_aside_stale_wal(data_dir: Path, window: float, now: float | None = None) -> Path | None:
    """Move the collector's remote-write WAL aside when its oldest unsent points are older than Prometheus
    accepts.

    Debian's Prometheus 2.42 answers such points with 500 "too old sample", which the exporter retries for
    an hour per batch while every point behind them waits. Sent segments are truncated every few seconds, so
    the oldest segment file still there holds the oldest unsent points: when it was last written longer ago
    than the out-of-order window, the head of the WAL can never be delivered. The WAL is kept, renamed.
    """
    wal = data_dir / "prometheus_wal"
    if not wal.is_dir():
        return None
    segments = [p for p in wal.rglob("*") if p.is_file()]
    if not segments:
        return None
    oldest = min(p.stat().st_mtime for p in segments)
    if (now if now is not None else time.time()) - oldest <= window:
        return None
    stale = wal.with_name(f"prometheus_wal.stale-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(oldest))}")
    wal.rename(stale)
    return stale


def docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def collector_tier(argv: Sequence[str], gateways: str | None) -> str:
    """What a collector started with ``argv`` (and GLASSBOX_GATEWAYS=``gateways`` in its environment) is: the
    single collector (collector/config.yaml) or the agent of the gateways it sends to (collector/agent.yaml)."""
    config = next((Path(part.split("=", 1)[1]).name for part in argv if part.startswith("--config=")), "?")
    return f"collector/{config}" + (f" sending to the gateways {gateways}" if config == "agent.yaml" else "")


def process_environ(pid: int) -> dict[str, str]:
    """The environment a running process was started with (empty when it cannot be read)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, _, value in pairs}


class NativeStack:
    def __init__(self, state: Path = DEFAULT_STATE, environ: Mapping[str, str] | None = None) -> None:
        self.state = state
        self.env = settings(os.environ if environ is None else environ)

    # -- files in the state directory -------------------------------------------------------------
    def pid_file(self, name: str) -> Path:
        return self.state / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.state / f"{name}.log"

    def running_pid(self, name: str) -> int | None:
        """The pid `up` recorded for a component, if that process still runs the recorded command."""
        try:
            record = json.loads(self.pid_file(name).read_text())
            cmdline = Path(f"/proc/{record['pid']}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, KeyError):
            return None
        if [part.decode() for part in cmdline if part] != record["command"]:
            return None
        return int(record["pid"])

    def components(self) -> tuple[Component, ...]:
        """In start order: the settings' gateways, and any whose pid file a run with more of them left."""
        recorded = [gateway_number(p.stem) for p in self.state.glob(f"{GATEWAY_PREFIX}*.pid")]
        count = max([gateway_count(self.env), *(n for n in recorded if n is not None)])
        # Gateways a run left (their pid files) are part of this stack: a collector (re)started now is their agent.
        with_gateways(self.env, count)
        return layout(count)

    def running(self) -> set[str]:
        return {described.name for described in self.components() if self.running_pid(described.name)}

    def write_prometheus_config(self, components: Iterable[str] | None = None) -> None:
        """Prometheus reads no environment variables: copy its config and write targets with our ports.

        components: those about to start or running (default: all); see write_prometheus_targets. When Prometheus
        evaluates the alerts (alert_rules), the copy also loads the alert rules, with this stack's runbook URL,
        and sends what fires to the native Alertmanager when it is among the components.
        """
        present = {c.name for c in self.components()} if components is None else set(components)
        directory = self.state / "prometheus"
        (directory / "targets").mkdir(parents=True, exist_ok=True)
        source = ROOT / "prometheus" / "prometheus.yml"
        config = yaml.safe_load(source.read_text())
        # Its rule files (the SLO recording rules) are read relative to the config: copied beside it.
        for rule_file in config.get("rule_files") or []:
            (directory / rule_file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source.parent / rule_file, directory / rule_file)
        if alert_rules(self.env, present) == "prometheus":
            rules = directory / "rules" / PROMETHEUS_RULES_FILE
            rules.parent.mkdir(parents=True, exist_ok=True)
            rules.write_text(prometheus_outputs(rules.parent, runbook_url(self.env))[rules]())
            config["rule_files"] = [*(config.get("rule_files") or []), f"rules/{PROMETHEUS_RULES_FILE}"]
            if "alertmanager" in present:
                target = f"127.0.0.1:{self.env['GLASSBOX_ALERTMANAGER_PORT']}"
                config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
        (directory / "prometheus.yml").write_text(
            f"# Written by `make up` from {source.relative_to(ROOT)}: edit that file, not this copy.\n"
            + yaml.safe_dump(config, sort_keys=False)
        )
        self.write_prometheus_targets(components)

    def write_prometheus_targets(self, components: Iterable[str] | None = None) -> None:
        """One file_sd file per scrape job; a component not among components (not installed, not started) gets
        an empty list, so that it is no target at all rather than a target that is down. Prometheus itself is
        always one. Each file is replaced whole, since Prometheus re-reads them when they change.
        """
        present = {"prometheus", *((c.name for c in self.components()) if components is None else components)}
        directory = self.state / "prometheus" / "targets"
        directory.mkdir(parents=True, exist_ok=True)
        for job, (name, variable) in SCRAPE_JOBS.items():
            targets = [f'"127.0.0.1:{self.env[variable]}"'] if name in present else []
            if job == "otelcol":
                # The gateways' own metrics go with the agent's, told apart by their instance (port).
                gateways = [g for g in self.components() if gateway_number(g.name) is not None and g.name in present]
                targets += [f'"127.0.0.1:{self.env[g.port_variables[3]]}"' for g in gateways]
            if targets:
                text = f"- targets: [{', '.join(targets)}]\n"
            else:
                text = f"# {name} is not running in this native stack, so it is no scrape target.\n[]\n"
            path = directory / f"{job}.yml"
            if path.exists() and path.read_text() == text:
                continue
            partial = directory / f".{job}.yml.new"
            partial.write_text(text)
            partial.replace(path)

    def grafana_password(self) -> str:
        """GLASSBOX_GRAFANA_ADMIN_PASSWORD, or a random one kept (mode 0600) in the state directory."""
        return self.env.get("GLASSBOX_GRAFANA_ADMIN_PASSWORD") or self._secret(self.state / "grafana-admin-password")

    # -- up / down ----------------------------------------------------------------------------------
    def up(self, only: Sequence[str] | None = None) -> list[Outcome]:
        """Start the components named in only (default: all, the canary included) that are not running yet."""
        self.state.mkdir(parents=True, exist_ok=True)
        # A collector with gateways is their agent: asking for it asks for them.
        wanted = [
            c
            for c in self.components()
            if only is None or c.name in only or (gateway_number(c.name) is not None and "collector" in only)
        ]
        if any(c.name == "collector" for c in wanted):
            self.check_collector_tier()
        running = self.running()
        plan: list[tuple[str, Path]] = []
        outcomes: list[Outcome] = []
        for part in wanted:
            if pid := self.running_pid(part.name):
                outcomes.append(Outcome(part.name, "already running", f"pid {pid}"))
                continue
            binary = executable(part.name)
            if binary is None:
                if part.required:
                    hint = " (run `bash collector/build.sh`)" if part.name == "collector" else ""
                    raise StackError(f"{part.name}: {not_found(part.name)}{hint}")
                outcomes.append(Outcome(part.name, "missing", not_found(part.name)))
                continue
            for variable in part.port_variables:
                port = int(self.env[variable])
                if port_in_use(port):
                    raise StackError(
                        f"{part.name}: port {port} ({variable}) is already in use; "
                        f"stop what holds it or set {variable} to a free port"
                    )
            plan.append((part.name, binary))
        planned = {name for name, _ in plan}
        try:
            rules = alert_rules(self.env, planned | running)
        except ValueError as error:
            raise StackError(str(error)) from None
        if rules == "grafana" and "alertmanager" in planned:
            plan = [(name, binary) for name, binary in plan if name != "alertmanager"]
            planned.discard("alertmanager")
            outcomes.append(
                Outcome("alertmanager", "not started", "Grafana evaluates the alerts (GLASSBOX_ALERT_RULES)")
            )
        if "alertmanager" in planned:
            alertmanager_config(self.env, self.state / "alertmanager")
        # Scrape targets from the plan: what is about to start and what already runs (Prometheus re-reads them).
        if "prometheus" in planned:
            self.write_prometheus_config(planned | running)
        elif "prometheus" in running and planned:
            self.write_prometheus_targets(planned | running)
        if "grafana" in planned:
            self.env["GLASSBOX_GRAFANA_ADMIN_PASSWORD"] = self.grafana_password()
        started: list[str] = []
        try:
            for name, binary in plan:
                try:
                    self.start(name, binary)
                except StackError as error:
                    if not component(name).best_effort:
                        raise
                    outcomes.append(Outcome(name, "failed", str(error)))
                    continue
                started.append(name)
                outcomes.append(Outcome(name, "started", self.started_detail(name)))
        except StackError:
            for name in reversed(started):
                self.stop(name)
            if self.running_pid("prometheus"):
                self.write_prometheus_targets(self.running())
            raise
        return outcomes

    def check_collector_tier(self) -> None:
        """A running collector must already be what the stack now asks for: the single collector, or the agent of
        exactly these gateways. Otherwise `up` would start gateways that get nothing (or stop feeding running
        ones): refuse, before starting anything, and say how to restart the stack."""
        pid = self.running_pid("collector")
        if pid is None:
            return
        recorded = json.loads(self.pid_file("collector").read_text())["command"]
        gateways = [c for c in self.components() if gateway_number(c.name) is not None]
        env = {**self.env, "GLASSBOX_GATEWAY_COUNT": str(len(gateways))}
        listed = ", ".join(
            f"127.0.0.1:{env[gateway_variable(n, 'GLASSBOX_OTLP_GRPC_PORT')]}" for n in range(1, len(gateways) + 1)
        )
        if gateways:
            env.setdefault("GLASSBOX_GATEWAYS", f"[{listed}]")
        wanted = collector_tier(command("collector", Path(recorded[0]), env, self.state), env.get("GLASSBOX_GATEWAYS"))
        running = collector_tier(recorded, process_environ(pid).get("GLASSBOX_GATEWAYS"))
        if running != wanted:
            again = f"make up GATEWAYS={len(gateways)}" if gateways else "make up"
            raise StackError(
                f"collector: it runs (pid {pid}) as {running}, but this stack needs it as {wanted}; nothing was "
                f"started: stop the stack first (`make down`), then `{again}`"
            )

    def started_detail(self, name: str) -> str:
        if url := component(name).ready_url(self.env):
            return url
        if name == "postgres":
            return f"127.0.0.1:{self.env['GLASSBOX_POSTGRES_PORT']}; GLASSBOX_STATE_URL in {self.state_url_file()}"
        detail = f"pid {self.running_pid(name)}, log {self.log_file(name)}"
        if name == "canary":
            detail = f"glassbox doctor every {self.env['GLASSBOX_CANARY_INTERVAL']}s, {detail}"
            if not self.running_pid("collector"):
                detail += "; the collector is not running, so its passes fail until it is"
        return detail

    def postgres(self) -> Cluster:
        """The native PostgreSQL: a cluster in the state directory, superuser password kept beside it, pgaudit loaded
        when installed (`make postgres` installs it), so PostgreSQL records every read of the audit table."""
        settings = ("shared_preload_libraries=pgaudit",) if pgaudit_installed() else ()
        return Cluster(
            self.state / "postgres", int(self.env["GLASSBOX_POSTGRES_PORT"]), self.postgres_password(), settings
        )

    def postgres_password(self) -> str:
        """GLASSBOX_POSTGRES_PASSWORD, or a random one kept (mode 0600) beside the cluster's data, which it
        must match for as long as that data lives."""
        if password := self.env.get("GLASSBOX_POSTGRES_PASSWORD"):
            return password
        directory = reachable(self.state / "postgres")
        directory.mkdir(parents=True, exist_ok=True)
        return self._secret(directory / "glassbox-password")

    def state_url_file(self) -> Path:
        """Where `up` writes the apps' GLASSBOX_STATE_URL (the login role glassbox_app, a member of glassbox_writer;
        mode 0600: it holds the password)."""
        return self.state / "postgres-url"

    def admin_url_file(self) -> Path:
        """Where `up` writes the schema owner's URL (GLASSBOX_STATE_ADMIN_URL: migrations and roles; never the
        apps'), mode 0600."""
        return self.state / "postgres-admin-url"

    def reader_url_file(self) -> Path:
        """Where `up` writes the auditors' URL (glassbox_auditor, a member of glassbox_reader), mode 0600."""
        return self.state / "postgres-reader-url"

    def _secret(self, path: Path) -> str:
        if not path.exists():
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(18))
        return path.read_text().strip()

    def start(self, name: str, binary: Path) -> None:
        described = component(name)
        try:
            if name == "postgres":
                cluster = self.postgres()
                cluster.init()
                argv = cluster.command()
            else:
                argv = command(name, binary, self.env, self.state)
        except (ValueError, RuntimeError, OSError) as error:
            raise StackError(f"{name}: {error}") from None
        env = component_env(name, self.env, self.state)
        if described.data_variable:
            Path(env[described.data_variable]).mkdir(parents=True, exist_ok=True)
        if name == "grafana":
            Path(env["GF_PATHS_LOGS"]).mkdir(parents=True, exist_ok=True)
        if name == "collector" and (
            stale := set_aside_stale_wal(Path(env["GLASSBOX_COLLECTOR_DATA_DIR"]), out_of_order_window())
        ):
            print(
                f"  collector: its remote-write WAL starts with points older than Prometheus accepts "
                f"(out_of_order_time_window); kept aside at {stale}"
            )
        log = self.log_file(name)
        process = start(argv, log, env=env, cwd=self.state)
        # What /proc shows once a wrapper (setpriv) has exec'd the program.
        shown = argv[argv.index("--") + 1 :] if argv[0] == "setpriv" else argv
        self.pid_file(name).write_text(json.dumps({"pid": process.pid, "command": shown}))
        if name == "postgres":
            self._wait_for_postgres(process)
            return
        url = described.ready_url(self.env)
        try:
            if url is None:
                print(f"  {name:<10} starting (pid {process.pid}) ", end="", flush=True)
                wait_alive(name, process, log, ALIVE_AFTER)
                print("running")
                return
            print(f"  {name:<10} starting (pid {process.pid}), waiting for {url} ", end="", flush=True)
            wait_http(name, process, log, url, READY_TIMEOUT, 1.0, lambda: print(".", end="", flush=True))
            print("ready")
        except NotReady as error:
            print("exited" if error.exited else "timed out")
            if error.exited:
                self.pid_file(name).unlink(missing_ok=True)
            else:
                self.stop(name)
            raise StackError(str(error)) from None

    def _wait_for_postgres(self, process: subprocess.Popen[bytes]) -> None:
        """Ready when it takes a connection; then the `glassbox` database exists with glassbox's schema, and the URLs
        of its three kinds of users are written: the schema owner's, the apps' and the auditors'."""
        cluster = self.postgres()
        print(f"  postgres   starting (pid {process.pid}), waiting for 127.0.0.1:{cluster.port} ", end="", flush=True)
        try:
            cluster.wait_ready(timeout=READY_TIMEOUT)
            admin, urls = self._provision(cluster)
        except Exception as error:
            print("failed")
            self.stop("postgres")
            raise StackError(f"postgres did not become ready: {error}\n{self.tail('postgres')}") from None
        for path, url in ((self.admin_url_file(), admin), *urls.items()):
            path.write_text(url + "\n")
            path.chmod(0o600)
        print("ready")

    def _provision(self, cluster: Cluster) -> tuple[str, dict[Path, str]]:
        """Migrate the schema as its owner and make the login roles: glassbox_app for the apps (glassbox_writer),
        glassbox_auditor for reading the trail (glassbox_reader); their passwords are kept beside the cluster.
        Returns the superuser's URL and where each login's URL goes."""
        directory = reachable(self.state / "postgres")
        logins = {
            APP_ROLE: ("glassbox_writer", self._secret(directory / f"{APP_ROLE}-password")),
            AUDITOR_ROLE: ("glassbox_reader", self._secret(directory / f"{AUDITOR_ROLE}-password")),
        }
        urls = cluster.glassbox_database(STATE_DATABASE, logins)
        files = {self.state_url_file(): urls[APP_ROLE], self.reader_url_file(): urls[AUDITOR_ROLE]}
        return urls["admin"], files

    def tail(self, name: str, lines: int = 15) -> str:
        return tail(self.log_file(name), lines)

    def stop(self, name: str, timeout: float = 20.0) -> bool:
        pid = self.running_pid(name)
        if pid is not None:
            # PostgreSQL's SIGTERM waits for every client to leave; SIGINT disconnects them and stops cleanly.
            stop(pid, timeout, signal.SIGINT if name == "postgres" else signal.SIGTERM)
        self.pid_file(name).unlink(missing_ok=True)
        return pid is not None

    def down(self) -> list[str]:
        return [c.name for c in reversed(self.components()) if self.stop(c.name)]

    def status(self) -> list[Outcome]:
        outcomes = []
        for described in self.components():
            pid = self.running_pid(described.name)
            if pid is None:
                outcomes.append(Outcome(described.name, "stopped", ""))
                continue
            url = described.ready_url(self.env)
            if url is None:
                outcomes.append(Outcome(described.name, "running", f"pid {pid}, log {self.log_file(described.name)}"))
                continue
            ok = http_ready(url, timeout=2)
            outcomes.append(Outcome(described.name, "ready" if ok else "not ready", f"pid {pid}"))
        return outcomes


COMPOSE_FILES = {"compose": ROOT / "docker-compose.yml", "compose-scale": ROOT / "docker-compose.scale.yml"}


def dotenv(path: Path = ROOT / ".env") -> dict[str, str]:
    """The KEY=value lines of compose's .env file (none when it does not exist)."""
    lines = path.read_text().splitlines() if path.is_file() else []
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.lstrip().startswith("#"))


def migrate_compose_state(state: Path, environ: Mapping[str, str] | None = None) -> int:
    """After compose started PostgreSQL: glassbox's schema, roles and grants, as its superuser (the apps get the
    glassbox_app role postgres/init made); the apps' and the schema owner's URLs go beside the native ones."""
    from urllib.parse import quote

    import psycopg

    from glassbox.db import migrate

    values = {**dotenv(), **(os.environ if environ is None else environ)}
    port = values.get("GLASSBOX_POSTGRES_PORT") or "5432"
    secrets_ = {name: values.get(name, "") for name in ("GLASSBOX_POSTGRES_PASSWORD", "GLASSBOX_POSTGRES_APP_PASSWORD")}
    if not all(secrets_.values()):
        return 0  # compose refused to start without them

    def url(role: str, variable: str) -> str:
        return f"postgresql://{role}:{quote(secrets_[variable], safe='')}@127.0.0.1:{port}/glassbox"

    admin, app = url("glassbox", "GLASSBOX_POSTGRES_PASSWORD"), url("glassbox_app", "GLASSBOX_POSTGRES_APP_PASSWORD")
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            migrate(connection, roles=True)
    except psycopg.Error as error:
        print(f"stack: glassbox's schema could not be created in compose's PostgreSQL: {error}", file=sys.stderr)
        return 1
    for name, written in (("postgres-url", app), ("postgres-admin-url", admin)):
        path = state / name
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(written + "\n")
    print(f"stack: fleet state for your apps: export GLASSBOX_STATE_URL=$(cat {state / 'postgres-url'})")
    return 0


def compose(*args: str, layout: str = "compose") -> int:
    file = COMPOSE_FILES.get(layout, COMPOSE_FILES["compose"])
    return subprocess.run(["docker", "compose", "-f", str(file), *args], cwd=ROOT).returncode


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack.native", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down", "status"])
    parser.add_argument(
        "--only",
        help="comma-separated components to start, from " + ",".join(BY_NAME) + " (default: all, canary included)",
    )
    parser.add_argument(
        "--gateways",
        type=int,
        help="run the collector as the agent of this many tail-sampling gateways (docs/scale.md; natively only)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--docker", action="store_true", help="use docker compose (fails without an engine)")
    mode.add_argument("--no-docker", action="store_true", help="run natively even where Docker answers")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    if only is not None and (unknown := sorted(set(only) - set(BY_NAME))):
        parser.error(f"--only: unknown components {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    state = Path(os.environ.get("GLASSBOX_STATE_DIR", DEFAULT_STATE))
    environ = dict(os.environ)
    if args.gateways is not None:
        environ["GLASSBOX_GATEWAY_COUNT"] = str(args.gateways)
    try:
        stack = NativeStack(state, environ)
    except ValueError as error:
        parser.error(str(error))
    docker_marker = state / "docker"

    if args.action == "down":
        if docker_marker.exists():
            code = compose("down", layout=docker_marker.read_text().strip())
            docker_marker.unlink(missing_ok=True)
            return code
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
        return 0
    if args.action == "status":
        if docker_marker.exists():
            return compose("ps", layout=docker_marker.read_text().strip())
        for outcome in stack.status():
            print(f"  {outcome.name:<10} {outcome.status} {outcome.detail}")
        return 0

    use_docker = args.docker or (not args.no_docker and docker_engine_answers())
    if use_docker:
        # With gateways, the scalable layout: agent, two gateways, Loki, Tempo and Mimir on object storage.
        layout = "compose-scale" if gateway_count(stack.env) else "compose"
        print(f"stack: a Docker engine answers; starting {COMPOSE_FILES[layout].name}")
        state.mkdir(parents=True, exist_ok=True)
        docker_marker.write_text(layout + "\n")
        code = compose("up", "--detach", "--wait", layout=layout)
        return code or migrate_compose_state(state)
    print(f"stack: no Docker engine answers; starting natively (state in {state})")
    try:
        outcomes = stack.up(only)
    except StackError as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    print("stack:")
    for outcome in outcomes:
        print(f"  {outcome.name:<10} {outcome.status:<16} {outcome.detail}")
    if any(o.name == "grafana" and o.status == "started" for o in outcomes):
        print(f"  grafana admin password: {state / 'grafana-admin-password'} or GLASSBOX_GRAFANA_ADMIN_PASSWORD")
    if any(o.name == "postgres" and o.status in ("started", "already running") for o in outcomes):
        print(f"  fleet state for your apps: export GLASSBOX_STATE_URL=$(cat {stack.state_url_file()})")
        print(f"  for `glassbox state migrate|role` only: GLASSBOX_STATE_ADMIN_URL=$(cat {stack.admin_url_file()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
