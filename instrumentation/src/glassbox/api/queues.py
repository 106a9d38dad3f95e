"""Job queues: depth and dead letters per queue, read when metrics are collected.

    glassbox.track_queue("emails", depth=lambda: email_queue.qsize(), dead_letters=lambda: len(dead_emails))

Each collection reads the callables and reports ``glassbox.queue.depth`` and ``glassbox.queue.dead_letters``
with the label ``glassbox.queue.name``. A callable that raises or returns something that is not a number is
skipped for that collection and counted in ``glassbox.telemetry.dropped`` (reason ``queue_callback_error``);
it never breaks the collection of other metrics. Tracking the same name again replaces the callables.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from glassbox import conventions as c
from glassbox import instruments
from glassbox.version import __version__

Reading = Callable[[], float]

_lock = threading.Lock()
_queues: dict[str, tuple[Reading, Reading | None]] = {}
_registered = False


def track_queue(name: str, depth: Reading, dead_letters: Reading | None = None) -> None:
    """Report a queue's depth (and dead-letter count) at every metric collection."""
    global _registered
    with _lock:
        _queues[name] = (depth, dead_letters)
        if _registered:
            return
        meter = metrics.get_meter("glassbox", __version__)
        meter.create_observable_gauge(
            c.METRIC_QUEUE_DEPTH,
            callbacks=[lambda options: _observe(options, 0)],
            unit="{job}",
            description="Jobs waiting in a queue, read at collection time.",
        )
        meter.create_observable_gauge(
            c.METRIC_QUEUE_DEAD_LETTERS,
            callbacks=[lambda options: _observe(options, 1)],
            unit="{job}",
            description="Jobs in a queue's dead-letter store, read at collection time.",
        )
        _registered = True


def untrack_queue(name: str) -> None:
    with _lock:
        _queues.pop(name, None)


def _observe(_options: CallbackOptions, which: int) -> Iterable[Observation]:
    with _lock:
        queues = list(_queues.items())
    observations = []
    for name, readings in queues:
        reading = readings[which]
        if reading is None:
            continue
        try:
            value = float(reading())
        except Exception:  # an app's callback must never break metric collection
            instruments.get().count_dropped("metrics", "queue_callback_error")
            continue
        observations.append(Observation(value, {c.QUEUE_NAME: name}))
    return observations
