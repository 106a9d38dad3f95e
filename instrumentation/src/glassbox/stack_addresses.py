"""Where the Glassbox stack listens: one table of GLASSBOX_* hosts and ports with their defaults.

The stack's config files (collector/, prometheus/, loki/, tempo/, grafana/, docker-compose.yml) read the same
variables with the same defaults; the native runner and `glassbox doctor` read them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

PORT_DEFAULTS: Final[Mapping[str, str]] = {
    "GLASSBOX_OTLP_GRPC_PORT": "4317",
    "GLASSBOX_OTLP_HTTP_PORT": "4318",
    "GLASSBOX_COLLECTOR_HEALTH_PORT": "13133",
    "GLASSBOX_COLLECTOR_METRICS_PORT": "8888",
    "GLASSBOX_PROMETHEUS_PORT": "9090",
    "GLASSBOX_LOKI_PORT": "3100",
    "GLASSBOX_LOKI_GRPC_PORT": "9096",
    "GLASSBOX_TEMPO_PORT": "3200",
    "GLASSBOX_TEMPO_GRPC_PORT": "9097",
    "GLASSBOX_TEMPO_OTLP_GRPC_PORT": "4417",
    "GLASSBOX_TEMPO_OTLP_HTTP_PORT": "4418",
    "GLASSBOX_GRAFANA_PORT": "3000",
    "GLASSBOX_POSTGRES_PORT": "5432",
}
HOST_VARIABLES: Final = (
    "GLASSBOX_COLLECTOR_HOST",
    "GLASSBOX_PROMETHEUS_HOST",
    "GLASSBOX_LOKI_HOST",
    "GLASSBOX_TEMPO_HOST",
    "GLASSBOX_GRAFANA_HOST",
)
DEFAULT_HOST: Final = "127.0.0.1"


def resolve(environ: Mapping[str, str]) -> dict[str, str]:
    """Every GLASSBOX_* host and port: the environment's values over the defaults."""
    merged = dict(PORT_DEFAULTS)
    merged.update({name: DEFAULT_HOST for name in HOST_VARIABLES})
    merged.update({k: v for k, v in environ.items() if k.startswith("GLASSBOX_") and v})
    return merged


@dataclass(frozen=True)
class Endpoints:
    """The URLs a client of the stack uses (from the host: published ports are on loopback)."""

    otlp_http: str
    collector_health: str
    collector_metrics: str
    prometheus: str
    loki: str
    tempo: str
    grafana: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Endpoints:
        env = resolve(environ)

        def url(host: str, port: str) -> str:
            return f"http://{env[host]}:{env[port]}"

        return cls(
            otlp_http=url("GLASSBOX_COLLECTOR_HOST", "GLASSBOX_OTLP_HTTP_PORT"),
            collector_health=url("GLASSBOX_COLLECTOR_HOST", "GLASSBOX_COLLECTOR_HEALTH_PORT"),
            collector_metrics=url("GLASSBOX_COLLECTOR_HOST", "GLASSBOX_COLLECTOR_METRICS_PORT") + "/metrics",
            prometheus=url("GLASSBOX_PROMETHEUS_HOST", "GLASSBOX_PROMETHEUS_PORT"),
            loki=url("GLASSBOX_LOKI_HOST", "GLASSBOX_LOKI_PORT"),
            tempo=url("GLASSBOX_TEMPO_HOST", "GLASSBOX_TEMPO_PORT"),
            grafana=url("GLASSBOX_GRAFANA_HOST", "GLASSBOX_GRAFANA_PORT"),
        )
