"""The guard's check before a model call with the fleet state (PostgreSQL) against the single-host state (SQLite).

    python benchmarks/state_guard.py --checks 2000 --rounds 3

Starts a PostgreSQL cluster of its own (Debian's server, default durability settings, on loopback) and times, in
this process, ``glassbox.guard.core.admit`` for a tenant with a day and month budget and with per-request limits
on: the kill switch (from memory), the budget reservation (one statement) and the request's call count (one
statement), every default on. Each reservation is released after the clock stops, so the budget never runs out.
Rounds alternate the two states; the first ``--warmup`` checks of each are not timed.

Prints p50, p99 and max per check for each state, and the ratios PostgreSQL / SQLite. Target: p99 <= 2 ms with
PostgreSQL on loopback.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from opentelemetry import context as otel_context

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from glassbox import attribution  # noqa: E402
from glassbox import conventions as c  # noqa: E402
from glassbox import state as state_module  # noqa: E402
from glassbox.guard import budgets  # noqa: E402
from glassbox.guard import core as guard  # noqa: E402
from stack.postgres import Cluster, free_port  # noqa: E402

TARGET_P99_MS = 2.0
KWARGS: Any = {"model": "gpt-4o-mini", "max_tokens": 256, "messages": [{"role": "user", "content": "x" * 2000}]}


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_round(label: str, checks: int, warmup: int) -> list[float]:
    """Seconds per admit, for ``checks`` calls each in a request of its own."""
    guard.reset()
    budgets.install(budgets.Budgets({"bench": {"day": 1e9, "month": 1e9}}))
    times = []
    for n in range(warmup + checks):
        values = {c.TENANT_ID: "bench", c.REQUEST_ID: f"req-{label}-{uuid.uuid4().hex[:12]}"}
        token = otel_context.attach(attribution.with_attribution(values))
        try:
            started = time.perf_counter()
            refusal, reservation = guard.admit(guard.OPENAI_CHAT, KWARGS)
            elapsed = time.perf_counter() - started
        finally:
            otel_context.detach(token)
        assert refusal is None and reservation is not None, refusal
        guard.release(reservation)
        if n >= warmup:
            times.append(elapsed)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--checks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--port", type=int, default=0, help="PostgreSQL's port (default: a free one)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="glassbox-bench-state-"))
    cluster = Cluster(workdir / "pg", args.port or free_port(), secrets.token_hex(12))
    cluster.init()
    server = cluster.start()
    try:
        cluster.wait_ready(server)
        url = cluster.glassbox_database("bench")["glassbox_app"]  # as an app connects: a writer role
        limits = {
            "GLASSBOX_REQUEST_MAX_LLM_CALLS": "100",
            "GLASSBOX_STATE_TIMEOUT": "1",
            "GLASSBOX_KILL_SWITCH_FILE": str(workdir / "kill-switch"),
            "GLASSBOX_BUDGETS_STATE": str(workdir / "spend.sqlite"),
        }
        os.environ.update(limits)
        results: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        p99s: dict[str, list[float]] = {"sqlite": [], "postgresql": []}
        for number in range(args.rounds):
            for label in ("sqlite", "postgresql") if number % 2 == 0 else ("postgresql", "sqlite"):
                if label == "postgresql":
                    os.environ["GLASSBOX_STATE_URL"] = url
                else:
                    os.environ.pop("GLASSBOX_STATE_URL", None)
                previous = state_module.use(None)
                if previous is not None:
                    previous.close()
                times = run_round(label, args.checks, args.warmup)
                results[label] += times
                p99s[label].append(quantile(times, 0.99))
                print(f"round {number + 1} {label:<10} p50 {quantile(times, 0.5) * 1e3:.3f} ms  "
                      f"p99 {quantile(times, 0.99) * 1e3:.3f} ms  max {max(times) * 1e3:.3f} ms")  # fmt: skip
        previous = state_module.use(None)
        if previous is not None:
            previous.close()
    finally:
        cluster.stop(server)
        shutil.rmtree(cluster.directory, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{args.rounds} rounds x {args.checks} checks per state (tenant with a budget, request limits on)\n")
    print("| state | p50 ms | p99 ms | p99 min-max over rounds ms | max ms |")
    print("|---|---|---|---|---|")
    for label, times in results.items():
        spread = f"{min(p99s[label]) * 1e3:.3f}-{max(p99s[label]) * 1e3:.3f}"
        print(f"| {label} | {quantile(times, 0.5) * 1e3:.3f} | {quantile(times, 0.99) * 1e3:.3f} | {spread} | "
              f"{max(times) * 1e3:.3f} |")  # fmt: skip
    pg, sq = results["postgresql"], results["sqlite"]
    print(f"\nratio PostgreSQL / SQLite: p50 {quantile(pg, 0.5) / quantile(sq, 0.5):.2f}, "
          f"p99 {quantile(pg, 0.99) / quantile(sq, 0.99):.2f}")  # fmt: skip
    p99 = quantile(pg, 0.99) * 1e3
    met = p99 <= TARGET_P99_MS
    print(f"target: PostgreSQL p99 <= {TARGET_P99_MS} ms: {p99:.3f} ms, {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
