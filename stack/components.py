"""The stack's components as the native run starts them: ports, readiness endpoints, command lines.

Every port and host comes from a GLASSBOX_* environment variable (defaults below, documented in .env.example)
and the config files in collector/, prometheus/, loki/, tempo/ and grafana/ read the same variables, so the
native run and docker-compose.yml share one set of files.

The last component, the canary, is no server: it is `glassbox doctor --watch` run by this Python, sending a
canary through the collector every GLASSBOX_CANARY_INTERVAL seconds, so that `glassbox_canary_timestamp_seconds`
in Prometheus stays fresh while the stack works.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from glassbox.endpoints import resolve
from stack.binaries import ROOT, find_binary, missing_reason

# The native run's own settings; hosts and ports come from glassbox.endpoints, the one table of them.
NATIVE_DEFAULTS: dict[str, str] = {
    "GLASSBOX_LISTEN_ADDRESS": "127.0.0.1",
    "GLASSBOX_METRICS_RETENTION": "15d",
    # Seconds between the canary's passes, start to start (`glassbox doctor --watch`, at least 5).
    "GLASSBOX_CANARY_INTERVAL": "60",
}
MIN_CANARY_INTERVAL = 5.0


def settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The GLASSBOX_* settings of a native run: the environment's values over the defaults."""
    return {**NATIVE_DEFAULTS, **resolve(environ)}


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
    return Path(sys.executable) if BY_NAME[name].python else find_binary(name)


def not_found(name: str) -> str:
    return "this Python has no executable" if BY_NAME[name].python else missing_reason(name)


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
    if name == "collector":
        return [str(binary), f"--config={ROOT / 'collector' / 'config.yaml'}"]
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
    if name in ("loki", "tempo"):
        return [str(binary), f"-config.file={ROOT / name / f'{name}.yaml'}", "-config.expand-env=true"]
    if name == "grafana":
        home = Path(env.get("GLASSBOX_GRAFANA_HOME") or binary.resolve().parent.parent)
        server = [] if binary.name == "grafana-server" else ["server"]
        return [str(binary), *server, f"--homepath={home}"]
    if name == "canary":
        return [str(binary), "-m", "glassbox.cli", "doctor", "--watch", canary_interval(env)]
    raise KeyError(name)


# Where alerts go until GLASSBOX_ALERT_WEBHOOK_URL is set: nowhere (port 9, discard). Grafana shows each failed
# delivery on the contact point, and docs/runbooks.md says how to set a real one.
ALERT_WEBHOOK_UNSET = "http://127.0.0.1:9/glassbox-alert-webhook-not-set"


def component_env(name: str, env: Mapping[str, str], state: Path) -> dict[str, str]:
    """Environment for one component: the settings plus its data directory and, for Grafana, GF_*.

    The canary's `glassbox doctor` reads the same GLASSBOX_* hosts and ports, so it checks this stack.
    """
    out = dict(os.environ)
    out.update(env)
    component = BY_NAME[name]
    if component.data_variable and component.data_variable not in env:
        out[component.data_variable] = str(state / name)
    if name == "canary":
        # Its doctor reads the stack's GLASSBOX_* ports from this environment; lines reach its log as printed.
        out["PYTHONUNBUFFERED"] = "1"
    if name == "collector" and "GOMEMLIMIT" not in out:
        # Go's soft memory limit at the memory_limiter's limit: the GC works harder before RSS grows past it.
        out["GOMEMLIMIT"] = f"{env.get('GLASSBOX_COLLECTOR_MEMORY_LIMIT_MIB', '512')}MiB"
    if name == "grafana":
        out.update(
            {
                "GF_PATHS_PROVISIONING": str(ROOT / "grafana" / "provisioning"),
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
                "GLASSBOX_ALERT_WEBHOOK_URL": env.get("GLASSBOX_ALERT_WEBHOOK_URL", ALERT_WEBHOOK_UNSET),
                "GF_SECURITY_ADMIN_PASSWORD": env["GLASSBOX_GRAFANA_ADMIN_PASSWORD"],
            }
        )
    return out
