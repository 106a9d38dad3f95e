"""Old module paths kept for one release (0.2 moved them; 0.3 drops them), served without a file each.

``import glassbox.pipeline`` gives the very module ``glassbox.sdk.pipeline`` (the same object, so patching one
patches the other), with a :class:`DeprecationWarning` that names the new path. The finder is installed by
``glassbox/__init__.py``, which every import of a ``glassbox.*`` path runs first.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Final

MOVED: Final = {
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


class OldPaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds each old path in :data:`MOVED` and loads it as the module at its new path."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        new = MOVED[spec.name]
        warnings.warn(f"{spec.name} moved to {new}; the old name goes in glassbox 0.3", DeprecationWarning, 2)
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:
        """The module at the new path ran when it was imported: nothing to do."""


def install() -> None:
    if not any(isinstance(finder, OldPaths) for finder in sys.meta_path):
        sys.meta_path.append(OldPaths())
