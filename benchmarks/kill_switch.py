"""How fast a kill switch reaches every process: the fleet state (LISTEN/NOTIFY) against the files state.

    python benchmarks/kill_switch.py --toggles 50 --watchers 2

Starts a PostgreSQL cluster of its own and ``--watchers`` processes that each open the state as an app does and
poll what their process knows (``State.kill_switch``, no I/O: what the guard reads before every call) every
0.2 ms, reporting each change with its wall-clock time. This process then turns the switch on and off
``--toggles`` times through the state, as ``glassbox kill-switch on|off`` does (write, notify, commit), and
times from the start of each write to each watcher's first call that sees it. The same runs with the files
state (the switch file, read at most every 0.25 s). Target: p99 <= 100 ms with PostgreSQL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stack.postgres import Cluster, free_port  # noqa: E402

TARGET_P99_MS = 100.0


def open_state(backend: str, where: str) -> Any:
    if backend == "postgresql":
        from glassbox.db import Database
        from glassbox.state.postgres import PostgresState

        state = PostgresState(Database(where, 2.0))
        assert state.wait_until_current(10), state.connect_error
        return state
    from glassbox.state.files import FileState

    return FileState(None, Path(where), 0.25, "bench")


def switch_event(on: bool) -> dict[str, Any]:
    """The change's success audit event, which the PostgreSQL state chains with it (the files state ignores it)."""
    from glassbox.audit.events import build_event

    action = "kill_switch.on" if on else "kill_switch.off"
    return build_event(action, actor="bench", resource={"type": "kill_switch", "id": "*"}, reason="benchmark")


def watch(backend: str, where: str, ready: Any, changes: Any, stop: Any) -> None:
    state = open_state(backend, where)
    seen = state.kill_switch(None)[0] is not None
    ready.set()
    while not stop.is_set():
        now = state.kill_switch(None)[0] is not None
        if now != seen:
            changes.put((os.getpid(), now, time.time()))
            seen = now
        time.sleep(0.0002)
    state.close()


def run(backend: str, where: str, watchers: int, toggles: int) -> list[float]:
    context = multiprocessing.get_context("spawn")
    changes, stop = context.Queue(), context.Event()
    readies = [context.Event() for _ in range(watchers)]
    processes = [
        context.Process(target=watch, args=(backend, where, ready, changes, stop), daemon=True) for ready in readies
    ]
    for process in processes:
        process.start()
    for ready in readies:
        assert ready.wait(60), f"a {backend} watcher did not start"
    controller = open_state(backend, where)
    delays = []
    on = False
    try:
        for _ in range(toggles):
            on = not on
            event = switch_event(on)  # built before the clock starts, as the command builds it before its write
            started = time.time()
            controller.set_kill_switch(on, None, "benchmark", "bench", event)
            for _ in range(watchers):
                _pid, state, seen_at = changes.get(timeout=10)
                assert state == on
                delays.append(seen_at - started)
            time.sleep(random.uniform(0.02, 0.08))
    finally:
        stop.set()
        for process in processes:
            process.join(10)
        controller.close()
    return delays


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--toggles", type=int, default=50)
    parser.add_argument("--watchers", type=int, default=2)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="glassbox-bench-kill-"))
    cluster = Cluster(workdir / "pg", free_port(), secrets.token_hex(12))
    cluster.init()
    server = cluster.start()
    results: dict[str, list[float]] = {}
    try:
        cluster.wait_ready(server)
        url = cluster.glassbox_database("bench")["glassbox_app"]  # as an app connects: a writer role
        results["postgresql"] = run("postgresql", url, args.watchers, args.toggles)
        results["files"] = run("files", str(workdir / "kill-switch"), args.watchers, args.toggles)
    finally:
        cluster.stop(server)
        shutil.rmtree(cluster.directory, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"\n{args.toggles} toggles, {args.watchers} watcher processes each\n")
    print("| state | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|")
    for backend, delays in results.items():
        print(f"| {backend} | {quantile(delays, 0.5) * 1e3:.1f} | {quantile(delays, 0.99) * 1e3:.1f} | "
              f"{max(delays) * 1e3:.1f} |")  # fmt: skip
    p99 = quantile(results["postgresql"], 0.99) * 1e3
    met = p99 <= TARGET_P99_MS
    print(f"\ntarget: PostgreSQL p99 <= {TARGET_P99_MS:.0f} ms: {p99:.1f} ms, {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
