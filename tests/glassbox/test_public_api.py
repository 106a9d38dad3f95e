"""What users rely on by name: the public API, the entry points, the commands and the old module paths.

Each list here is the contract; a name that disappears from the package fails this file.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import subprocess
import sys

import pytest

import glassbox
from glassbox import _moved
from tests.conftest import ROOT

PACKAGE = ROOT / "instrumentation" / "src" / "glassbox"

PUBLIC_NAMES = {
    "AICallRefused",
    "Activity",
    "AuditRefused",
    "__version__",
    "activity",
    "agent",
    "attributed_to",
    "audit",
    "audited",
    "canned_answer",
    "configure",
    "evaluation",
    "evaluator",
    "feedback",
    "is_fallback",
    "prompt",
    "running_activity",
    "set_fallback",
    "set_kill_switch",
    "set_tenant",
    "tool",
    "track_queue",
    "trusted_history",
    "untrack_queue",
}

# (group, name) -> the object it loads, by its module and attribute
ENTRY_POINTS = {
    ("console_scripts", "glassbox"): ("glassbox.cli", "main"),
    ("opentelemetry_distro", "glassbox"): ("glassbox.sdk.distro", "GlassboxDistro"),
    ("opentelemetry_configurator", "glassbox"): ("glassbox.sdk.distro", "GlassboxConfigurator"),
    ("opentelemetry_instrumentor", "glassbox_edge"): ("glassbox.integrations.asgi_attribution", "EdgeInstrumentor"),
    ("opentelemetry_instrumentor", "glassbox_uvicorn_shutdown"): (
        "glassbox.sdk.shutdown",
        "UvicornShutdownInstrumentor",
    ),
    ("opentelemetry_instrumentor", "glassbox_litellm"): ("glassbox.integrations.litellm", "LiteLLMInstrumentor"),
    ("opentelemetry_propagator", "glassbox_baggage"): ("glassbox.propagation", "AllowlistedBaggagePropagator"),
    ("opentelemetry_post_instrument", "glassbox"): ("glassbox.sdk.distro", "post_instrument"),
}

COMMANDS = ["doctor", "story", "audit", "budgets", "kill-switch", "state"]

# old module path -> where it lives now (aliases kept for one release)
MOVED = {
    "glassbox.spans": "glassbox.sdk.span_processor",
    "glassbox.pipeline": "glassbox.sdk.pipeline",
    "glassbox.distro": "glassbox.sdk.distro",
    "glassbox.sampling": "glassbox.sdk.sampling",
    "glassbox.logs": "glassbox.sdk.logs",
    "glassbox.metric_labels": "glassbox.sdk.metric_labels",
    "glassbox.metrics_endpoint": "glassbox.sdk.metrics_endpoint",
    "glassbox.shutdown": "glassbox.sdk.shutdown",
    "glassbox.activities": "glassbox.api.activities",
    "glassbox.agents": "glassbox.api.agents",
    "glassbox.queues": "glassbox.api.queues",
    "glassbox.evaluations": "glassbox.api.evaluations",
    "glassbox.edge": "glassbox.integrations.asgi_attribution",
    "glassbox.litellm_spans": "glassbox.integrations.litellm",
    "glassbox.mcp_spans": "glassbox.integrations.mcp",
    "glassbox.endpoints": "glassbox.stack_addresses",
}


def test_the_old_paths_served_are_the_ones_listed_here() -> None:
    assert _moved.MOVED == MOVED
    assert not any((PACKAGE / f"{old.split('.')[-1]}.py").exists() for old in MOVED)


def test_every_public_name_is_exported_and_resolves() -> None:
    assert set(glassbox.__all__) == PUBLIC_NAMES
    assert set(dir(glassbox)) >= PUBLIC_NAMES
    for name in PUBLIC_NAMES:
        assert getattr(glassbox, name) is not None, name


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        glassbox.nothing_here  # noqa: B018


@pytest.mark.parametrize(("group", "name"), sorted(ENTRY_POINTS))
def test_each_entry_point_is_installed_and_loads_its_object(group: str, name: str) -> None:
    found = {
        ep.name: ep
        for ep in importlib.metadata.entry_points(group=group)
        if ep.dist and ep.dist.name == "glassbox-otel"
    }
    assert name in found, f"entry point {group}:{name} is gone"
    module, attribute = ENTRY_POINTS[(group, name)]
    assert found[name].load() is getattr(importlib.import_module(module), attribute)


def test_no_entry_point_is_left_out_of_the_contract() -> None:
    distribution = importlib.metadata.distribution("glassbox-otel")
    installed = {(ep.group, ep.name) for ep in distribution.entry_points}
    assert installed == set(ENTRY_POINTS)


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_answers_help(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "glassbox.cli", command, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_an_unknown_command_prints_the_commands() -> None:
    result = subprocess.run([sys.executable, "-m", "glassbox.cli", "nope"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert all(command in result.stderr for command in COMMANDS)


@pytest.mark.parametrize(("old", "new"), sorted(MOVED.items()))
def test_an_old_module_path_is_the_new_module_with_a_deprecation_warning(old: str, new: str) -> None:
    code = (
        "import importlib, warnings, sys\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    old = importlib.import_module({old!r})\n"
        f"assert old is importlib.import_module({new!r}), 'not the same module'\n"
        "assert any(issubclass(w.category, DeprecationWarning) and "
        + repr(new)
        + " in str(w.message) for w in caught)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_package_itself_imports_no_alias() -> None:
    code = (
        "import sys, glassbox, glassbox.sdk.distro, glassbox.cli.main, glassbox.guard, glassbox.integrations.litellm\n"
        "glassbox.configure, glassbox.trusted_history\n"
        f"print(sorted(set({sorted(MOVED)!r}) & set(sys.modules)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
