"""Central audit appends (one chain in PostgreSQL) from 4 writer processes, against the host's file log from 4.

    python benchmarks/audit_central.py --writers 4 --events 500 --rounds 3

Starts a PostgreSQL cluster of its own (Debian's server, default durability: each commit waits for the WAL
flush) and, per round and mode, ``--writers`` processes that each append ``--events`` audit events, one after
another from ``--threads`` threads, all released at once by a barrier:

* ``file``: ``glassbox.audit.chain.AuditLog.append`` on one log file in a shared directory (flock, head, hash,
  write, fsync; a signed checkpoint every 100 records);
* ``postgresql``: ``glassbox.audit.postgres.PostgresAuditLog.append`` on one database (the process's writer
  thread batches what its threads queue: advisory lock, head, insert, checkpoint, durable commit).

The rate is all events over the wall time from the barrier to the last writer's end. Rounds alternate the modes;
the ratio is PostgreSQL over file, median over rounds (target at least 0.5). Each round ends with a full
verification of the chain it wrote.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stack.postgres import Cluster, free_port  # noqa: E402

TARGET_RATIO = 0.5


def event(writer: int, n: int) -> dict[str, Any]:
    return {
        "schema": 1,
        "id": uuid.uuid4().hex,
        "time": "2026-11-30T10:00:00.000+00:00",
        "actor": {"type": "human", "id": f"user-{writer}"},
        "action": "config.change",
        "resource": {"type": "config", "id": "settings"},
        "tenant": f"tenant-{n % 7}",
        "outcome": {"status": "success", "reason": None},
        "before": {"max_tokens": 256},
        "after": {"max_tokens": 512},
        "trace_id": f"{n:032x}",
        "span_id": f"{n:016x}",
        "request_id": f"req-{writer}-{n}",
        "source": "10.0.0.7",
    }


def writer(mode: str, where: str, key: str, number: int, events: int, threads: int, start: Any) -> None:
    if mode == "file":
        from glassbox.audit.chain import AuditLog

        directory = Path(where)
        log: Any = AuditLog(directory / "audit.jsonl", directory / "audit.checkpoints", Path(key))
    else:
        from glassbox.audit.postgres import PostgresAuditLog
        from glassbox.db import Database

        log = PostgresAuditLog(Database(where, 5.0), Path(key))
    per_thread = events // threads

    def append(thread: int) -> None:
        for n in range(per_thread):
            log.append(event(number, thread * per_thread + n))

    log.append(event(number, -1))  # connections and key loaded before the clock
    start.wait()
    workers = [threading.Thread(target=append, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def run(mode: str, where: str, key: str, writers: int, events: int, threads: int) -> float:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers + 1)
    processes = [
        context.Process(target=writer, args=(mode, where, key, n, events, threads, start)) for n in range(writers)
    ]
    for process in processes:
        process.start()
    start.wait()
    began = time.perf_counter()
    for process in processes:
        process.join()
        assert process.exitcode == 0, f"{mode} writer failed ({process.exitcode})"
    return writers * (events // threads) * threads / (time.perf_counter() - began)


def verify(mode: str, where: str, key: str) -> str:
    from glassbox.audit.chain import load_public_key, public_key_path
    from glassbox.audit.chain import verify as verify_file

    public = load_public_key(public_key_path(Path(key)))
    if mode == "file":
        result = verify_file(Path(where) / "audit.jsonl", Path(where) / "audit.checkpoints", public)
    else:
        from glassbox.audit.postgres import PostgresAuditLog
        from glassbox.db import Database

        result = PostgresAuditLog(Database(where, 5.0), Path(key)).verify([public])
    assert result.ok, result.problems
    return f"{result.records} records, {result.checkpoints} checkpoints, intact"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--events", type=int, default=500, help="per writer")
    parser.add_argument("--threads", type=int, default=1, help="appending threads per writer")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="glassbox-bench-audit-"))
    cluster = Cluster(workdir / "pg", free_port(), secrets.token_hex(12))
    cluster.init()
    server = cluster.start()
    rates: dict[str, list[float]] = {"file": [], "postgresql": []}
    try:
        cluster.wait_ready(server)
        for number in range(args.rounds):
            for mode in ("file", "postgresql") if number % 2 == 0 else ("postgresql", "file"):
                key = str(workdir / "keys" / "audit.key")
                if mode == "file":
                    where = str(workdir / f"log-{number}")
                    Path(where).mkdir(parents=True)
                else:
                    where = cluster.glassbox_database(f"audit_{number}")["glassbox_app"]  # an app's writer role
                rate = run(mode, where, key, args.writers, args.events, args.threads)
                rates[mode].append(rate)
                print(f"round {number + 1} {mode:<10} {rate:8.0f} events/s  ({verify(mode, where, key)})")
    finally:
        cluster.stop(server)
        shutil.rmtree(cluster.directory, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{args.writers} writer processes x {args.threads} thread(s) x {args.events} events, {args.rounds} rounds\n"
    )
    print("| log | events/s (median) | min-max |")
    print("|---|---|---|")
    for mode, values in rates.items():
        print(f"| {mode} | {statistics.median(values):.0f} | {min(values):.0f}-{max(values):.0f} |")
    ratio = statistics.median(rates["postgresql"]) / statistics.median(rates["file"])
    per_round = ", ".join(f"{pg / f:.2f}" for pg, f in zip(rates["postgresql"], rates["file"], strict=True))
    print(f"\nratio PostgreSQL / file: {ratio:.2f} (per round: {per_round}); target >= {TARGET_RATIO}: "
          f"{'met' if ratio >= TARGET_RATIO else 'MISSED'}")  # fmt: skip
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
