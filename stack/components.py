"""The stack's components as the native run starts them: ports, readiness endpoints, command lines.

Every port and host comes from a GLASSBOX_* environment variable (defaults below, documented in .env.example)
and the config files in collector/, prometheus/, loki/, tempo/ and grafana/ read the same variables, so the
native run and docker-compose.yml share one set of files.

With GLASSBOX_GATEWAY_COUNT set (`make up GATEWAYS=2`), the collector is the agent of the collector tiers
(collector/agent.yaml, on the usual ports, so apps change nothing) and that many gateways (collector/gateway.yaml)
run behind it, each on ports of its own: GLASSBOX_GATEWAY_<n>_OTLP_GRPC_PORT and so on, defaults below.

The last component, the canary, is no server: it is `glassbox doctor --watch` run by this Python, sending a
canary through the collector every GLASSBOX_CANARY_INTERVAL seconds, so that `glassbox_canary_timestamp_seconds`
in Prometheus stays fresh while the stack works.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from glassbox.stack_addresses import resolve
from grafana.alerts import ALERTMANAGER_CONFIG_FILE, WEBHOOK_URL_UNSET, WEBHOOK_URL_VARIABLE
from grafana.rules import RUNBOOK_URL_VARIABLE, RUNBOOKS, render_runbook_url
from stack.binaries import ROOT, find_binary, missing_reason

# The native run's own settings; hosts and ports come from glassbox.stack_addresses, the one table of them.
NATIVE_DEFAULTS: dict[str, str] = {
    "GLASSBOX_LISTEN_ADDRESS": "127.0.0.1",
    "GLASSBOX_METRICS_RETENTION": "90d",
    # Seconds between the canary's passes, start to start (`glassbox doctor --watch`, at least 5).
    "GLASSBOX_CANARY_INTERVAL": "60",
    # Alertmanager, natively only: the compose stack's alerts run in Grafana (docs/dashboards.md).
    "GLASSBOX_ALERTMANAGER_PORT": "9093",
}
MIN_CANARY_INTERVAL = 5.0


# The collector tiers: at most this many gateways natively, each one's ports offset by 10 from the one before.
MAX_GATEWAYS = 9
GATEWAY_PORT_BASES: dict[str, int] = {
    "GLASSBOX_COLLECTOR_HEALTH_PORT": 13143,
    "GLASSBOX_OTLP_GRPC_PORT": 4327,
    "GLASSBOX_OTLP_HTTP_PORT": 4328,
    "GLASSBOX_COLLECTOR_METRICS_PORT": 8898,
}


def gateway_variable(number: int, collector_variable: str) -> str:
    """GLASSBOX_GATEWAY_<n>_OTLP_GRPC_PORT for the collector's GLASSBOX_OTLP_GRPC_PORT, and so on."""
    return collector_variable.replace("GLASSBOX_", f"GLASSBOX_GATEWAY_{number}_", 1)


def gateway_count(environ: Mapping[str, str]) -> int:
    value = environ.get("GLASSBOX_GATEWAY_COUNT") or "0"
    if not value.isdigit() or int(value) > MAX_GATEWAYS:
        raise ValueError(f"GLASSBOX_GATEWAY_COUNT={value!r} must be a whole number from 0 to {MAX_GATEWAYS}")
    return int(value)


def settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The GLASSBOX_* settings of a native run: the environment's values over the defaults.

    With gateways, each gets its port defaults and the agent's GLASSBOX_GATEWAYS lists their OTLP/gRPC ports.
    """
    resolved = {**NATIVE_DEFAULTS, **resolve(environ)}
    with_gateways(resolved, gateway_count(resolved))
    return resolved


def with_gateways(env: dict[str, str], count: int) -> None:
    """env set up for ``count`` gateways: their port defaults, the count, and the agent's GLASSBOX_GATEWAYS."""
    add_gateway_ports(env, count)
    if count:
        env["GLASSBOX_GATEWAY_COUNT"] = str(count)
        grpc = [env[gateway_variable(n, "GLASSBOX_OTLP_GRPC_PORT")] for n in range(1, count + 1)]
        env.setdefault("GLASSBOX_GATEWAYS", "[" + ", ".join(f"127.0.0.1:{port}" for port in grpc) + "]")


def add_gateway_ports(env: dict[str, str], count: int) -> None:
    """The port defaults of gateways 1 to count, where env has none."""
    for number in range(1, count + 1):
        for variable, base in GATEWAY_PORT_BASES.items():
            env.setdefault(gateway_variable(number, variable), str(base + 10 * (number - 1)))


@dataclass(frozen=True)
class Component:
    name: str
    required: bool
    # The port variables it listens on; the first serves its readiness endpoint.
    port_variables: tuple[str, ...]
    # None: no port and no readiness endpoint; it counts as started when it is still running after a second.
    ready_path: str | None
    data_variable: str | None = None
    # Run by this Python (the one with glassbox installed), not by a binary stack.binaries looks for.
    python: bool = False
    # A failure to start is reported as "failed" in the outcomes instead of stopping what `up` started.
    best_effort: bool = False

    def ready_url(self, env: Mapping[str, str]) -> str | None:
        if self.ready_path is None:
            return None
        return f"http://127.0.0.1:{env[self.port_variables[0]]}{self.ready_path}"


COMPONENTS: tuple[Component, ...] = (
    # Routes the alerts Prometheus evaluates when Grafana does not (alert_rules); before Prometheus, so that
    # Prometheus has somewhere to send its first ones.
    Component("alertmanager", False, ("GLASSBOX_ALERTMANAGER_PORT",), "/-/ready", "GLASSBOX_ALERTMANAGER_DATA_DIR"),
    Component("prometheus", True, ("GLASSBOX_PROMETHEUS_PORT",), "/-/ready"),
    Component("loki", False, ("GLASSBOX_LOKI_PORT", "GLASSBOX_LOKI_GRPC_PORT"), "/ready", "GLASSBOX_LOKI_DATA_DIR"),
    Component(
        "tempo",
        False,
        (
            "GLASSBOX_TEMPO_PORT",
            "GLASSBOX_TEMPO_GRPC_PORT",
            "GLASSBOX_TEMPO_OTLP_GRPC_PORT",
            "GLASSBOX_TEMPO_OTLP_HTTP_PORT",
        ),
        "/ready",
        "GLASSBOX_TEMPO_DATA_DIR",
    ),
    Component(
        "collector",
        True,
        (
            "GLASSBOX_COLLECTOR_HEALTH_PORT",
            "GLASSBOX_OTLP_GRPC_PORT",
            "GLASSBOX_OTLP_HTTP_PORT",
            "GLASSBOX_COLLECTOR_METRICS_PORT",
        ),
        "/",
        "GLASSBOX_COLLECTOR_DATA_DIR",
    ),
    Component("grafana", False, ("GLASSBOX_GRAFANA_PORT",), "/api/health"),
    # The fleet's shared state (GLASSBOX_STATE_URL); ready when it takes a connection (see stack.native).
    Component("postgres", False, ("GLASSBOX_POSTGRES_PORT",), None),
    # Last, so it starts after everything it checks and `down` stops it first.
    Component("canary", False, (), None, python=True, best_effort=True),
)
BY_NAME = {component.name: component for component in COMPONENTS}
GATEWAY_PREFIX = "gateway-"


def gateway(number: int) -> Component:
    """Gateway n of the collector tiers: the collector's ports and data directory under variables of its own."""
    ports = tuple(gateway_variable(number, variable) for variable in GATEWAY_PORT_BASES)
    return Component(f"{GATEWAY_PREFIX}{number}", True, ports, "/", f"GLASSBOX_GATEWAY_{number}_DATA_DIR")


def gateway_number(name: str) -> int | None:
    """n for the component gateway-n, None for any other."""
    number = name.removeprefix(GATEWAY_PREFIX)
    return int(number) if name.startswith(GATEWAY_PREFIX) and number.isdigit() else None


def component(name: str) -> Component:
    number = gateway_number(name)
    return BY_NAME[name] if number is None else gateway(number)


def _binary_name(name: str) -> str:
    """A gateway runs the collector's binary."""
    return name if gateway_number(name) is None else "collector"


def layout(gateways: int) -> tuple[Component, ...]:
    """Every component in start order: the gateways, when there are any, start just before their agent."""
    at = [c.name for c in COMPONENTS].index("collector")
    return (*COMPONENTS[:at], *(gateway(n) for n in range(1, gateways + 1)), *COMPONENTS[at:])


# Each scrape job of prometheus/prometheus.yml: the component it scrapes and the port variable of its target,
# for the native copy of prometheus/targets/.
SCRAPE_JOBS: dict[str, tuple[str, str]] = {
    "prometheus": ("prometheus", "GLASSBOX_PROMETHEUS_PORT"),
    "otelcol": ("collector", "GLASSBOX_COLLECTOR_METRICS_PORT"),
    "loki": ("loki", "GLASSBOX_LOKI_PORT"),
    "tempo": ("tempo", "GLASSBOX_TEMPO_PORT"),
    "grafana": ("grafana", "GLASSBOX_GRAFANA_PORT"),
}


def executable(name: str) -> Path | None:
    """What runs a component: this Python for the canary, else its binary (None when it is not installed)."""
    if component(name).python:
        return Path(sys.executable)
    return find_binary(_binary_name(name))


def not_found(name: str) -> str:
    if component(name).python:
        return "this Python has no executable"
    return missing_reason(_binary_name(name))


def canary_interval(env: Mapping[str, str]) -> str:
    """GLASSBOX_CANARY_INTERVAL, checked here so that a bad value is a clear failure, not an exit a moment later."""
    value = env.get("GLASSBOX_CANARY_INTERVAL") or NATIVE_DEFAULTS["GLASSBOX_CANARY_INTERVAL"]
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < MIN_CANARY_INTERVAL:
        raise ValueError(f"GLASSBOX_CANARY_INTERVAL={value!r} must be a number of seconds, at least 5")
    return value


def command(name: str, binary: Path, env: Mapping[str, str], state: Path) -> list[str]:
    """The command line that starts a component natively, reading the repository's config file."""
    if _binary_name(name) == "collector":
        config = "gateway" if gateway_number(name) is not None else "agent" if gateway_count(env) else "config"
        return [str(binary), f"--config={ROOT / 'collector' / f'{config}.yaml'}"]
    if name == "prometheus":
        return [
            str(binary),
            f"--config.file={state / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={state / 'prometheus' / 'data'}",
            f"--storage.tsdb.retention.time={env['GLASSBOX_METRICS_RETENTION']}",
            f"--web.listen-address={env['GLASSBOX_LISTEN_ADDRESS']}:{env['GLASSBOX_PROMETHEUS_PORT']}",
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage,native-histograms",
        ]
    if name == "alertmanager":
        return [
            str(binary),
            f"--config.file={state / 'alertmanager' / ALERTMANAGER_CONFIG_FILE}",
            f"--storage.path={env.get('GLASSBOX_ALERTMANAGER_DATA_DIR') or state / 'alertmanager' / 'data'}",
            f"--web.listen-address={env['GLASSBOX_LISTEN_ADDRESS']}:{env['GLASSBOX_ALERTMANAGER_PORT']}",
            "--cluster.listen-address=",  # one Alertmanager, no peers to gossip with
        ]
    if name in ("loki", "tempo"):
        return [str(binary), f"-config.file={ROOT / name / f'{name}.yaml'}", "-config.expand-env=true"]
    if name == "grafana":
        home = Path(env.get("GLASSBOX_GRAFANA_HOME") or binary.resolve().parent.parent)
        server = [] if binary.name == "grafana-server" else ["server"]
        return [str(binary), *server, f"--homepath={home}"]
    if name == "canary":
        return [str(binary), "-m", "glassbox.cli", "doctor", "--watch", canary_interval(env)]
    raise KeyError(name)


# Who evaluates the alert rules natively (GLASSBOX_ALERT_RULES): Grafana (its provisioned rules and contact
# point), or Prometheus (prometheus/rules/glassbox-alerts.yml) with Alertmanager routing. Never both: every alert
# would notify twice. Unset: Grafana when it runs, else Prometheus.
ALERT_RULES_VARIABLE = "GLASSBOX_ALERT_RULES"
ALERT_RULES = ("grafana", "prometheus")


def alert_rules(env: Mapping[str, str], components: Iterable[str]) -> str:
    """ "grafana" or "prometheus": GLASSBOX_ALERT_RULES, else Grafana when it is among the components."""
    chosen = env.get(ALERT_RULES_VARIABLE) or ("grafana" if "grafana" in components else "prometheus")
    if chosen not in ALERT_RULES:
        raise ValueError(f"{ALERT_RULES_VARIABLE}={chosen!r} must be one of {', '.join(ALERT_RULES)} (or unset)")
    return chosen


def webhook_url(env: Mapping[str, str]) -> str:
    """GLASSBOX_ALERT_WEBHOOK_URL, else the discard address (every delivery fails, visibly)."""
    return env.get(WEBHOOK_URL_VARIABLE) or WEBHOOK_URL_UNSET


def alertmanager_config(env: Mapping[str, str], directory: Path) -> Path:
    """alertmanager/alertmanager.yml as Alertmanager reads it natively: a copy under ``directory`` (readable by its
    owner only: a webhook URL often holds a token) whose receiver posts to GLASSBOX_ALERT_WEBHOOK_URL. Alertmanager
    0.25 (Debian's) reads no environment variables, so the URL is written in."""
    config = yaml.safe_load((ROOT / "alertmanager" / ALERTMANAGER_CONFIG_FILE).read_text())
    for receiver in config["receivers"]:
        for webhook in receiver.get("webhook_configs") or []:
            webhook["url"] = webhook_url(env)
    target = directory / ALERTMANAGER_CONFIG_FILE
    directory.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(descriptor, 0o600)  # an earlier copy may have been made with another mode
    with os.fdopen(descriptor, "w") as file:
        file.write(yaml.safe_dump(config, sort_keys=False))
    return target


# Grafana's default home dashboard (grafana/dashboards/).
HOME_DASHBOARD = "glassbox-home.json"


def runbook_url(env: Mapping[str, str]) -> str:
    """Where alert notifications link for runbooks: GLASSBOX_RUNBOOK_URL, else this checkout's docs/runbooks.md."""
    return env.get(RUNBOOK_URL_VARIABLE) or (ROOT / RUNBOOKS).as_uri()


def grafana_provisioning(env: Mapping[str, str], directory: Path) -> Path:
    """grafana/provisioning as Grafana reads it natively: a copy under ``directory`` whose alert rules link to
    absolute runbook URLs, checked and put in as the compose entrypoint does (grafana.rules.render_runbook_url).
    When Prometheus evaluates the alerts (GLASSBOX_ALERT_RULES=prometheus), the copy has no alert rules."""
    target = directory / "provisioning"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "grafana" / "provisioning", target)
    rules = target / "alerting" / "rules.yaml"
    if alert_rules(env, ("grafana",)) == "prometheus":
        rules.unlink()
    else:
        rules.write_text(render_runbook_url(rules.read_text(), runbook_url(env)))
    return target


def component_env(name: str, env: Mapping[str, str], state: Path) -> dict[str, str]:
    """Environment for one component: the settings plus its data directory and, for Grafana, GF_*.

    The canary's `glassbox doctor` reads the same GLASSBOX_* hosts and ports, so it checks this stack.
    """
    out = dict(os.environ)
    out.update(env)
    described = component(name)
    if described.data_variable and described.data_variable not in env:
        out[described.data_variable] = str(state / name)
    if (number := gateway_number(name)) is not None:
        # The gateway reads the collector's variables: its own ports and data directory under those names.
        out.update({variable: out[gateway_variable(number, variable)] for variable in GATEWAY_PORT_BASES})
        out["GLASSBOX_COLLECTOR_DATA_DIR"] = out[described.data_variable or ""]
    if name == "canary":
        # Its doctor reads the stack's GLASSBOX_* ports from this environment; lines reach its log as printed.
        out["PYTHONUNBUFFERED"] = "1"
    if _binary_name(name) == "collector" and "GOMEMLIMIT" not in out:
        # Go's soft memory limit at the memory_limiter's limit: the GC works harder before RSS grows past it.
        out["GOMEMLIMIT"] = f"{env.get('GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB', '512')}MiB"
    if name == "grafana":
        out.update(
            {
                "GF_PATHS_PROVISIONING": str(grafana_provisioning(env, state / "grafana")),
                "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH": str(ROOT / "grafana" / "dashboards" / HOME_DASHBOARD),
                "GF_PATHS_DATA": str(state / "grafana"),
                "GF_PATHS_LOGS": str(state / "grafana" / "logs"),
                "GF_SERVER_HTTP_ADDR": env["GLASSBOX_LISTEN_ADDRESS"],
                "GF_SERVER_HTTP_PORT": env["GLASSBOX_GRAFANA_PORT"],
                "GF_AUTH_ANONYMOUS_ENABLED": "false",
                "GF_USERS_ALLOW_SIGN_UP": "false",
                "GF_ANALYTICS_REPORTING_ENABLED": "false",
                "GF_ANALYTICS_CHECK_FOR_UPDATES": "false",
                "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES": "false",
                "GF_PLUGINS_PREINSTALL_DISABLED": "true",
                "GLASSBOX_DASHBOARDS_DIR": str(ROOT / "grafana" / "dashboards"),
                # grafana/provisioning/alerting/contact-points.yaml: Grafana refuses to start without a URL.
                WEBHOOK_URL_VARIABLE: webhook_url(env),
                "GF_SECURITY_ADMIN_PASSWORD": env["GLASSBOX_GRAFANA_ADMIN_PASSWORD"],
            }
        )
    return out
