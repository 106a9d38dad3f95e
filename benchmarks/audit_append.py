"""Durable audit appends per second and p99 append latency, against plain SQLite inserts of the same rows.

    python benchmarks/audit_append.py --rows 2000 --rounds 3

Both sides make every row durable before the next one, in the same directory:

* ``sqlite``: one table (id, canonical JSON), ``INSERT`` + ``COMMIT`` per row, ``journal_mode=WAL`` and
  ``synchronous=FULL`` (an fsync per commit);
* ``audit``: ``glassbox.audit_chain.AuditLog.append`` of the same event: exclusive lock, read of the chain's
  head, hash, one write, fsync, and a signed checkpoint every 100 records.

The rounds alternate the two modes; the ratio is audit rows/s over SQLite rows/s, median over rounds (target
at least 0.5). ``--no-fsync`` runs both without fsync, to see the cost of the chain itself.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from glassbox.audit.chain import AuditLog, canonical

TARGET_RATIO = 0.5


def event(n: int) -> dict[str, Any]:
    return {
        "schema": 1,
        "id": f"{n:032x}",
        "time": "2026-11-22T10:00:00.000+00:00",
        "actor": {"type": "human", "id": f"user-{n % 50}", "name": "Jane Doe"},
        "action": "config.change",
        "resource": {"type": "config", "id": "settings"},
        "tenant": f"tenant-{n % 7}",
        "outcome": {"status": "success", "reason": None},
        "before": {"max_tokens": 128},
        "after": {"max_tokens": 256},
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "request_id": f"req-{n}",
        "source": "203.0.113.9",
    }


def run_sqlite(directory: Path, rows: int, fsync: bool) -> list[float]:
    connection = sqlite3.connect(directory / "bench.sqlite", isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={'FULL' if fsync else 'OFF'}")
    connection.execute("CREATE TABLE IF NOT EXISTS audit (id TEXT PRIMARY KEY, record TEXT NOT NULL)")
    latencies = []
    for n in range(rows):
        record = event(n)
        started = time.perf_counter()
        connection.execute("BEGIN")
        connection.execute("INSERT INTO audit VALUES (?, ?)", (record["id"], canonical(record).decode()))
        connection.execute("COMMIT")
        latencies.append(time.perf_counter() - started)
    connection.close()
    return latencies


def run_audit(directory: Path, rows: int, fsync: bool) -> list[float]:
    log = AuditLog(directory / "log" / "audit.jsonl", directory / "cp" / "audit.checkpoints", directory / "key")
    log.fsync = fsync
    log.key()
    latencies = []
    for n in range(rows):
        record = event(n)
        started = time.perf_counter()
        log.append(record)
        latencies.append(time.perf_counter() - started)
    return latencies


def summary(latencies: list[float]) -> tuple[float, float]:
    """(rows per second, p99 latency in ms)."""
    ordered = sorted(latencies)
    return len(latencies) / sum(latencies), ordered[int(0.99 * (len(ordered) - 1))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: a temporary directory)")
    args = parser.parse_args()
    ratios = []
    for round_number in range(1, args.rounds + 1):
        results = {}
        for name, run in (("sqlite", run_sqlite), ("audit", run_audit)):
            with tempfile.TemporaryDirectory(dir=args.dir) as directory:
                results[name] = summary(run(Path(directory), args.rows, not args.no_fsync))
        ratio = results["audit"][0] / results["sqlite"][0]
        ratios.append(ratio)
        print(
            f"round {round_number}: sqlite {results['sqlite'][0]:8.0f} rows/s p99 {results['sqlite'][1]:6.2f} ms | "
            f"audit {results['audit'][0]:8.0f} rows/s p99 {results['audit'][1]:6.2f} ms | ratio {ratio:.2f}"
        )
    median = statistics.median(ratios)
    verdict = "met" if median >= TARGET_RATIO else "NOT met"
    print(f"audit/sqlite rows per second, median of {args.rounds}: {median:.2f} (target >= {TARGET_RATIO}: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
