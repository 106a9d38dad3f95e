"""The package's layout rules that import-linter does not express (its contracts are in pyproject.toml).

* No module outside ``cli/`` and ``__init__.py`` imports inside a function to dodge a circle; the few lazy
  imports left load a heavy or optional library, or run only under one distro, each named here with its reason.
* Nothing inside the package imports ``glassbox`` itself (the public API re-exports; it is imported by users),
  and nothing but the commands imports ``glassbox.cli``.
* A benchmark imports the public API, the SDK (``glassbox.sdk``), the shared base, and the one part it measures
  (named below), never a private name: what it times is what users run.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
from pathlib import Path

import grimp

import glassbox
from tests.conftest import ROOT

PACKAGE = ROOT / "instrumentation" / "src" / "glassbox"

_PSYCOPG = "psycopg is an optional extra (glassbox-otel[postgres]): loaded only when the state is PostgreSQL"
_APP_SDK = "a model SDK the app may not have installed: loaded only to build a fallback answer of its type"
_ONLY_GLASSBOX = (
    "OpenTelemetry imports sdk/distro.py for its post_instrument entry point under any distro: what only "
    "glassbox's own distro uses is loaded when it runs"
)
# (module, imported module) -> why it is imported inside a function
_JUDGE_SDK = "a judge calls through the app's model SDK, not a dependency: loaded when a judge is declared"
_JSON_SCHEMA = "jsonschema is an optional extra (glassbox-otel[evaluators]): loaded when a json evaluator has a schema"
DELIBERATE_LAZY_IMPORTS = {
    ("audit/store.py", "glassbox.audit.postgres"): _PSYCOPG,
    ("audit/store.py", "glassbox.db"): _PSYCOPG,
    ("state/__init__.py", "glassbox.db"): _PSYCOPG,
    ("state/__init__.py", "glassbox.state.postgres"): _PSYCOPG,
    ("cost.py", "genai_prices"): "about 0.2 s to import (its price tables): loaded at the first price",
    ("redaction/detectors.py", "detect_secrets.core.plugins.util"): "about 0.1 s: loaded when a redactor is built",
    ("redaction/detectors.py", "detect_secrets.plugins.base"): "about 0.1 s: loaded when a redactor is built",
    ("redaction/detectors.py", "detect_secrets.plugins.keyword"): "about 0.1 s: loaded when a redactor is built",
    ("guard/fallbacks.py", "anthropic.types"): _APP_SDK,
    ("guard/fallbacks.py", "google.genai.types"): _APP_SDK,
    ("guard/fallbacks.py", "httpx"): _APP_SDK,
    ("guard/fallbacks.py", "litellm"): _APP_SDK,
    ("guard/fallbacks.py", "litellm.types.utils"): _APP_SDK,
    ("guard/fallbacks.py", "openai.types.chat"): _APP_SDK,
    ("integrations/asgi_attribution.py", "starlette.applications"): "Starlette is the app's, not a dependency",
    ("evaluators/judge.py", "openai"): _JUDGE_SDK,
    ("evaluators/judge.py", "anthropic"): _JUDGE_SDK,
    ("evaluators/config.py", "jsonschema"): _JSON_SCHEMA,
    ("evaluators/rules.py", "jsonschema"): _JSON_SCHEMA,
    ("integrations/litellm.py", "litellm"): "over 3 s and 200 MB to import: loaded only when the app uses LiteLLM",
    ("sdk/shutdown.py", "uvicorn.server"): "uvicorn is the app's server, not a dependency",
    ("sdk/distro.py", "glassbox.propagation"): _ONLY_GLASSBOX,
    ("sdk/distro.py", "opentelemetry.propagate"): _ONLY_GLASSBOX,
    ("sdk/distro.py", "glassbox.sdk.pipeline"): _ONLY_GLASSBOX,
    ("sdk/distro.py", "glassbox.sdk.logs"): _ONLY_GLASSBOX,
    ("sdk/distro.py", "glassbox.guard"): _ONLY_GLASSBOX,
}


def _module(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def lazy_imports(tree: ast.AST) -> set[str]:
    """The modules imported inside a function (an ``import`` under ``if TYPE_CHECKING`` is not one)."""
    found: set[str] = set()
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                if isinstance(node, ast.Import):
                    found.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.update(_imported_modules(node.module, [alias.name for alias in node.names]))
    return found


def _imported_modules(module: str, names: list[str]) -> set[str]:
    """``from a import b``: ``a.b`` where that is a module (or ``from opentelemetry import propagate``), else ``a``."""
    found = set()
    for name in names:
        dotted = f"{module}.{name}"
        try:
            spec = importlib.util.find_spec(dotted)
        except (ImportError, ValueError):
            spec = None
        found.add(dotted if spec is not None else module)
    return found


def test_only_the_commands_import_inside_a_function() -> None:
    found = {
        (_module(path), name)
        for path in PACKAGE.rglob("*.py")
        if "cli" not in path.relative_to(PACKAGE).parts and path != PACKAGE / "__init__.py"
        for name in lazy_imports(ast.parse(path.read_text()))
    }
    assert found == set(DELIBERATE_LAZY_IMPORTS)
    assert all(DELIBERATE_LAZY_IMPORTS.values())


def test_the_scan_sees_an_import_inside_a_function_and_not_one_at_the_top() -> None:
    code = (
        "import json\nfrom glassbox import settings\n"
        "def f():\n    from glassbox import propagation\n    import wrapt\n    from glassbox.db import migrate\n"
    )
    assert lazy_imports(ast.parse(code)) == {"glassbox.propagation", "wrapt", "glassbox.db"}


def test_nothing_inside_the_package_imports_the_package_itself() -> None:
    graph = grimp.build_graph("glassbox")
    assert graph.find_modules_that_directly_import("glassbox") == set()


def test_the_runtime_never_imports_the_commands() -> None:
    graph = grimp.build_graph("glassbox")
    commands = {m for m in graph.modules if m == "glassbox.cli" or m.startswith("glassbox.cli.")}
    importers = {m for c in commands for m in graph.find_modules_that_directly_import(c)}
    assert importers <= commands


BENCHMARKS = ROOT / "benchmarks"
# What any benchmark may import: the public API, the SDK the glassbox way and the shared base.
FOR_EVERY_BENCHMARK = (
    "glassbox.sdk",
    "glassbox.conventions",
    "glassbox.attribution",
    "glassbox.instruments",
)
# A benchmark of one part may also import that part (its package), and only that part.
THE_PART_MEASURED = {
    "attribution_read.py": ("glassbox.integrations.asgi_attribution",),
    "audit_append.py": ("glassbox.audit",),
    "audit_central.py": ("glassbox.audit", "glassbox.db"),
    "guard.py": ("glassbox.guard",),
    "injection_accuracy.py": ("glassbox.guard.guardrail",),
    "injection_latency.py": ("glassbox.guard.guardrail",),
    "kill_switch.py": ("glassbox.state", "glassbox.db", "glassbox.audit"),
    "redaction_coverage.py": ("glassbox.redaction",),
    "state_guard.py": ("glassbox.state", "glassbox.guard"),
    "story.py": ("glassbox.cli.story", "glassbox.stack_addresses"),
}


def _imports(tree: ast.AST) -> set[tuple[str, str]]:
    """(module, name) for every ``from glassbox... import name`` and (module, "") for ``import glassbox...``."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "glassbox":
            found.update((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update((alias.name, "") for alias in node.names if alias.name.split(".")[0] == "glassbox")
    return found


def _allowed(module: str, name: str, parts: tuple[str, ...]) -> bool:
    """``from module import name`` reaches only the public API or one of ``parts`` (modules or packages)."""
    if name.startswith("_"):
        return False
    if module == "glassbox" and name in glassbox.__all__:
        return True
    return any(m == p or m.startswith(p + ".") for p in parts for m in (module, f"{module}.{name}"))


def test_the_benchmark_rule_refuses_a_private_name_and_a_part_not_measured() -> None:
    assert _allowed("glassbox", "audit", ())
    assert _allowed("glassbox", "conventions", ("glassbox.conventions",))
    assert not _allowed("glassbox", "cost", ("glassbox.conventions",))
    assert not _allowed("glassbox.guard.core", "_decide", ("glassbox.guard",))
    assert not _allowed("glassbox.state.files", "FileState", ("glassbox.guard",))


def test_benchmarks_import_the_public_api_the_sdk_the_base_or_the_part_they_measure() -> None:
    offenders = {}
    for path in sorted(BENCHMARKS.glob("*.py")):
        allowed = FOR_EVERY_BENCHMARK + THE_PART_MEASURED.get(path.name, ())
        text = path.read_text()
        wrong = {
            f"{module}:{name}" for module, name in _imports(ast.parse(text)) if not _allowed(module, name, allowed)
        }
        private = set(re.findall(r"\b(?:edge|guard|budgets|spans|logs|scorer|state_module|story)\._[a-z]\w*", text))
        if wrong or private:
            offenders[path.name] = sorted(wrong | private)
    assert offenders == {}
    assert set(THE_PART_MEASURED) <= {path.name for path in BENCHMARKS.glob("*.py")}


OWN_TOP_LEVELS = {"glassbox", "stack", "grafana", "tests", "benchmarks"}


def _own_imports(path: Path) -> set[tuple[str, str]]:
    """(module, name) for every import of the project's own modules in ``path``, at any depth (lazy ones too)."""
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in OWN_TOP_LEVELS:
                found.update((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update((alias.name, "") for alias in node.names if alias.name.split(".")[0] in OWN_TOP_LEVELS)
    return found


def test_every_import_of_the_projects_own_modules_resolves() -> None:
    """A module moved or a helper renamed breaks an import that only runs when a benchmark or a marked test
    does: find each one now. (ruff's cache can hide such an import from ``make lint`` on a warm tree.)"""
    broken = []
    files = [p for folder in ("benchmarks", "stack", "grafana", "tests") for p in (ROOT / folder).rglob("*.py")]
    for path in files:
        for module, name in sorted(_own_imports(path)):
            if importlib.util.find_spec(module) is None:
                broken.append(f"{path.relative_to(ROOT)}: {module}")
                continue
            if name and name != "*":
                loaded = importlib.import_module(module)
                if not hasattr(loaded, name) and importlib.util.find_spec(f"{module}.{name}") is None:
                    broken.append(f"{path.relative_to(ROOT)}: {module}.{name}")
    assert broken == []
