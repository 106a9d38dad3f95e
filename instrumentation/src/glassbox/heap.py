"""The app's start-up heap, frozen once it serves (``GLASSBOX_GC_FREEZE``).

A full garbage collection (generation 2) scans every tracked object, and a served app holds hundreds of thousands
from start-up alone: its modules, classes and functions, the model SDKs' types, the price tables. Such a
collection runs whenever enough objects have outlived the younger generations (spans and log records waiting for
their export batch are among them) and holds the interpreter lock throughout: 0.2 to 0.4 s on the benchmark
shapes here, every request in flight waiting. When the app serves its first HTTP request, start-up is over:
:func:`freeze_after_start` collects the young generations and moves every object left to the permanent generation
(:func:`gc.freeze`), so a full collection scans only what was made since. Objects frozen are never collected;
what start-up made and dropped since is garbage the young collection just took, so nothing is kept that would
otherwise go.
"""

from __future__ import annotations

import gc
import os

from glassbox import settings

_frozen_in = 0  # the process (pid) that froze its heap: a forked worker freezes its own


def frozen() -> bool:
    """Whether this process has frozen its heap (or decided not to)."""
    return _frozen_in == os.getpid()


def freeze_after_start() -> bool:
    """Freeze the heap once per process; True when this call did it."""
    global _frozen_in
    pid = os.getpid()
    if _frozen_in == pid:
        return False
    _frozen_in = pid
    if not settings.GC_FREEZE.get():
        return False
    gc.collect(1)
    gc.freeze()
    return True
