"""Old module paths kept for one release: each alias module hands its name over to the module's new home.

``import glassbox.pipeline`` then gives the very module ``glassbox.sdk.pipeline`` (same object, so patching one
patches the other), with a :class:`DeprecationWarning` that names the new path.
"""

from __future__ import annotations

import importlib
import sys
import warnings


def alias(old: str, new: str) -> None:
    """Make ``old`` (the module being imported) the module ``new``."""
    warnings.warn(f"{old} moved to {new}; the old name goes in glassbox 0.3", DeprecationWarning, stacklevel=3)
    sys.modules[old] = importlib.import_module(new)
