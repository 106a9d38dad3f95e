"""What the package imports against what it declares (``instrumentation/pyproject.toml``).

* An import that runs when its module is imported (at the top, outside ``if TYPE_CHECKING`` and outside a
  ``try`` that catches the ImportError) names a distribution of ``dependencies`` or of an extra.
* The modules that need an extra to import (they import its distribution at the top, or such a module) are
  exactly the ones named in ``NEED_AN_EXTRA``: every other module, the commands included, imports after a plain
  ``pip install``.
* An import inside a function (an app's own library, an extra's) names a distribution installed here, so the
  scan resolves every import it sees.

The wheel test (tests/e2e/test_wheel.py) runs every command from a plain install; this scan names the line.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.conftest import ROOT

PACKAGE = ROOT / "instrumentation" / "src" / "glassbox"
PYPROJECT = ROOT / "instrumentation" / "pyproject.toml"

# module -> the extras it needs to import
NEED_AN_EXTRA = {
    "glassbox.db.connection": {"postgres"},
    "glassbox.db.migrations": {"postgres"},
    "glassbox.state.postgres": {"postgres"},
    "glassbox.audit.postgres": {"postgres"},
}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def distributions(requirement: str) -> set[str]:
    """The distribution a requirement names and those its extras bring (``psycopg[pool]``: psycopg-pool)."""
    parsed = Requirement(requirement)
    found = {canonical(parsed.name)}
    for line in metadata.requires(parsed.name) or []:
        brought = Requirement(line)
        if brought.marker and any(brought.marker.evaluate({"extra": extra}) for extra in parsed.extras):
            found.add(canonical(brought.name))
    return found


def declared() -> tuple[set[str], dict[str, set[str]]]:
    """The distributions of ``dependencies``, and of each extra."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    base = {name for requirement in project["dependencies"] for name in distributions(requirement)}
    extras = {
        extra: {name for requirement in requirements for name in distributions(requirement)}
        for extra, requirements in project["optional-dependencies"].items()
    }
    return base, extras


@cache
def module_owners() -> dict[str, set[str]]:
    """Each importable module installed here -> the distributions whose files hold it."""
    owners: dict[str, set[str]] = {}
    for distribution in metadata.distributions():
        for file in distribution.files or []:
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or ".." in parts:
                continue
            if file.suffix == ".py":
                dotted = ".".join((*parts[:-1], file.stem)).removesuffix(".__init__")
            elif file.suffix in (".so", ".pyd"):
                dotted = ".".join((*parts[:-1], file.name.split(".")[0]))
            else:
                continue
            owners.setdefault(dotted, set()).add(canonical(distribution.metadata["Name"]))
    return owners


def owner(module: str) -> set[str]:
    """The distributions of ``module``: of its longest installed prefix (``a.b.c`` may be a name in ``a.b``)."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        found = module_owners().get(".".join(parts[:end]))
        if found:
            return found
    return set()


def _catches_import_error(node: ast.Try) -> bool:
    names = {ast.unparse(handler.type) for handler in node.handlers if handler.type is not None}
    return any("ImportError" in name or "ModuleNotFoundError" in name for name in names)


def imports(tree: ast.AST, module: str, at_import: bool = True) -> Iterator[tuple[str, bool]]:
    """(module imported, whether it runs when ``module`` is imported) for each import under ``tree``; ``from a
    import b`` gives ``a.b`` when that is a module, else ``a``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield from imports(ast.Module(body=[child], type_ignores=[]), module, at_import)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from imports(node, module, False)
        elif isinstance(node, ast.Try) and _catches_import_error(node):
            yield from imports(ast.Module(body=node.body, type_ignores=[]), module, False)
            for rest in (*node.handlers, *node.orelse, *node.finalbody):
                yield from imports(rest, module, at_import)
        elif isinstance(node, ast.Import):
            yield from ((alias.name, at_import) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                dotted = f"{base}.{alias.name}"
                is_module = dotted in module_owners() or dotted in package_modules()
                yield (dotted if is_module else base), at_import
        else:
            yield from imports(node, module, at_import)


@cache
def package_modules() -> dict[str, Path]:
    return {
        ".".join(("glassbox", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }


def package_imports() -> dict[str, list[tuple[str, bool]]]:
    return {name: list(imports(ast.parse(path.read_text()), name)) for name, path in package_modules().items()}


def third_party(name: str) -> bool:
    top = name.split(".")[0]
    return top != "glassbox" and top not in sys.stdlib_module_names


def test_every_import_names_a_declared_or_installed_distribution() -> None:
    base, extras = declared()
    everything = base.union(*extras.values())
    undeclared, unknown = {}, {}
    for module, found in package_imports().items():
        for name, at_import in found:
            if not third_party(name):
                continue
            owners = owner(name)
            if not owners:
                unknown[f"{module}: {name}"] = "no distribution installed here has it"
            elif at_import and not owners & everything:
                undeclared[f"{module}: {name}"] = sorted(owners)
    assert undeclared == {}, "imported when the module is imported, but in no dependency or extra"
    assert unknown == {}


def test_only_the_extras_modules_need_an_extra_to_import() -> None:
    base, extras = declared()
    found = package_imports()
    needs: dict[str, set[str]] = {}
    for module, imported in found.items():
        for name, at_import in imported:
            extras_needed = {e for e, names in extras.items() if owner(name) & names}
            if at_import and third_party(name) and not owner(name) & base and extras_needed:
                needs.setdefault(module, set()).update(extras_needed)
    # a module that imports (at the top) one that needs an extra needs it too
    changed = True
    while changed:
        changed = False
        for module, imported in found.items():
            for name, at_import in imported:
                inherited = needs.get(name, set()) - needs.get(module, set())
                if at_import and inherited:
                    needs.setdefault(module, set()).update(inherited)
                    changed = True
    assert needs == NEED_AN_EXTRA


def test_the_scan_sees_what_runs_at_import_and_what_does_not() -> None:
    code = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "import httpx\n"
        "from opentelemetry import trace\n"
        "if TYPE_CHECKING:\n    import psycopg\n"
        "try:\n    import litellm\nexcept ImportError:\n    litellm = None\n"
        "def f():\n    import openai\n"
        "class C:\n    import yaml\n"
    )
    found = list(imports(ast.parse(code), "glassbox.example"))
    assert found == [
        ("__future__", True),
        ("typing", True),
        ("httpx", True),
        ("opentelemetry.trace", True),
        ("litellm", False),
        ("openai", False),
        ("yaml", True),
    ]
    assert owner("opentelemetry.trace") == {"opentelemetry-api"}
    assert owner("yaml") == {"pyyaml"} and owner("psycopg_pool.pool") == {"psycopg-pool"}
    assert distributions("psycopg[binary,pool]") >= {"psycopg", "psycopg-binary", "psycopg-pool"}
