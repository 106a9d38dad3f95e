"""`glassbox audit verify` and `glassbox audit export`: prove the audit trail intact, and read it.

    glassbox audit verify [--public-key FILE ...] [--spool-dir DIR] [--against-loki [--grace SECONDS]]
                          [--log FILE --checkpoints FILE]
        recomputes the hash chain and checks every signed checkpoint; names the first bad sequence number and
        says how many fail-open events still wait in the spool. --against-loki also compares every record with
        the copy Loki's audit stream received when it happened, which catches a chain rewritten and re-signed
        by whoever holds the key. Exit status 0 when intact, 1 when not, 2 when the trail cannot be read
    glassbox audit export [--since ISO] [--until ISO] [--tenant T] [--actor A] [--action A] [--request-id R]
                          [--log FILE]
        prints the matching records as JSON lines (time bounds in ISO 8601, UTC when no offset is given)

With GLASSBOX_STATE_URL set, both read the fleet's audit table (the reader role is enough); otherwise, or with
--log, the host's file (GLASSBOX_AUDIT_DIR/audit.jsonl and GLASSBOX_AUDIT_CHECKPOINT_DIR/audit.checkpoints).
Public keys default to the `.pub` beside GLASSBOX_AUDIT_KEY_FILE. Reading the trail is itself audited: an
``audit.verify`` or ``audit.export`` attempt before, its outcome (with how many records) after.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from glassbox import settings
from glassbox.audit import spool, store
from glassbox.audit.chain import Verification, load_public_key, public_key_path, verify
from glassbox.audit.store import parse_time
from glassbox.endpoints import Endpoints


def actor() -> dict[str, str]:
    """Who runs the command: the login name on this host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid-{os.getuid()}"
    return {"type": "human", "id": user}


def _audited_read(action: str, resource: str, detail: Mapping[str, Any]) -> Any:
    """Record the attempt to read the trail; the returned callable records the outcome."""
    from glassbox.audit.events import audit

    fields = {"actor": actor(), "resource": {"type": "audit_log", "id": resource}}
    attempt = audit(action, outcome="attempt", after=dict(detail), **fields)

    def done(outcome: str, **after: Any) -> None:
        audit(action, outcome=outcome, after={**detail, **after}, **fields)

    done.attempt_id = attempt["id"]  # type: ignore[attr-defined]
    return done


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    names = ("since", "until", "tenant", "actor", "action", "request_id")
    return {name: str(getattr(args, name)) for name in names if getattr(args, name) is not None}


def matches(record: Mapping[str, Any], args: argparse.Namespace) -> bool:
    if args.tenant is not None and record.get("tenant") != args.tenant:
        return False
    if args.actor is not None and (record.get("actor") or {}).get("id") != args.actor:
        return False
    if args.action is not None and record.get("action") != args.action:
        return False
    if args.request_id is not None and record.get("request_id") != args.request_id:
        return False
    if args.since or args.until:
        try:
            at = parse_time(str(record.get("time")))
        except ValueError:
            return False
        if args.since and at < args.since:
            return False
        if args.until and at >= args.until:
            return False
    return True


def _central(args: argparse.Namespace) -> Any:
    """The fleet's audit log when GLASSBOX_STATE_URL is set and no --log file was named, else None."""
    if getattr(args, "log_given", False) or not store.central():
        return None
    from glassbox.state.postgres import Database

    return store.central_log(Database(str(settings.get("GLASSBOX_STATE_URL")), 10.0))


def _export(args: argparse.Namespace) -> int:
    central = _central(args)
    where = central.where if central is not None else str(args.log)
    done = _audited_read("audit.export", where, {"filters": _filters(args)})
    count = 0
    try:
        if central is not None:
            from glassbox.audit.postgres import Filters

            records: Iterator[dict[str, Any]] = central.records(
                Filters(args.since, args.until, args.tenant, args.actor, args.action, args.request_id)
            )
        else:
            records = (r for r in store.file_records(args.log) if matches(r, args))
        for record in records:
            print(json.dumps(record, ensure_ascii=False, sort_keys=True))
            count += 1
    except Exception as error:
        done("failure", error=f"{type(error).__name__}: {error}")
        print(f"audit export: cannot read {where}: {error}", file=sys.stderr)
        return 2
    done("success", records=count)
    return 0


def _verify(args: argparse.Namespace) -> int:
    keys = []
    for path in args.public_key or [public_key_path(Path(settings.get("GLASSBOX_AUDIT_KEY_FILE")))]:
        try:
            keys.append(load_public_key(path))
        except (OSError, ValueError) as error:
            print(f"audit verify: cannot read the public key {path}: {error}", file=sys.stderr)
            return 2
    central = _central(args)
    where = central.where if central is not None else str(args.log)
    done = _audited_read("audit.verify", where, {"against_loki": bool(args.against_loki)})
    started = time.time()
    try:
        result = central.verify(keys) if central is not None else verify(args.log, args.checkpoints, keys)
    except Exception as error:
        done("failure", error=f"{type(error).__name__}: {error}")
        print(f"audit verify: cannot read {where}: {error}", file=sys.stderr)
        return 2
    if args.against_loki and not _against_loki(args, central, result, started, done.attempt_id):
        done("failure", error="Loki could not be read")
        return 2
    code = _report(result, args.spool_dir)
    done("success" if code == 0 else "failure", records=result.records, intact=code == 0)
    return code


def _against_loki(args: argparse.Namespace, central: Any, result: Verification, started: float, own: str) -> bool:
    """Compare with Loki's copies; ``own``: this verification's attempt, whose copy cannot be in Loki yet."""
    from glassbox.audit import loki

    everything = central.records() if central is not None else store.file_records(args.log)
    records = [record for record in everything if record.get("id") != own]
    if not records:
        return True
    first = min(parse_time(str(r.get("time"))).timestamp() for r in records)
    url = args.loki or Endpoints.from_environ(os.environ).loki
    try:
        copies = loki.loki_copies(url, first - loki.SLACK_SECONDS, started)
    except Exception as error:
        print(f"audit verify: cannot read Loki's audit stream at {url}: {error}", file=sys.stderr)
        return False
    outcome = loki.compare(result, records, copies, args.grace)
    print(
        f"LOKI  {outcome.compared} records compared with their copies in Loki, {len(outcome.missing)} without a "
        f"copy, {outcome.recent} newer than {args.grace:g} s not compared, {len(outcome.waiting)} copies of events "
        f"still waiting in a spool"
    )
    return True


def _report(result: Verification, spool_dir: Path) -> int:
    for offset, text in result.torn:
        print(f"torn record at byte {offset} (a writer stopped mid-append): {text!r}")
    for problem in result.problems:
        print(f"BAD   {problem}")
    waiting = spool.waiting(spool_dir)
    if waiting:
        print(f"WAIT  {waiting} events in the fail-open spool {spool_dir}, not in the chain yet")
    summary = f"{result.records} records, {result.checkpoints} signed checkpoints, last sequence {result.last_seq}"
    if result.ok:
        print(f"OK    {summary}")
        return 0
    first = f"first bad sequence number {result.first_bad_seq}" if result.first_bad_seq else "checkpoints"
    print(f"FAIL  {summary}; {first}")
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    log = store.file_log()
    parser = argparse.ArgumentParser(prog="glassbox audit", description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="recompute the chain and the signed checkpoints")
    check.add_argument("--log", type=Path, help=f"a log file (default: the fleet's table, or {log.path})")
    check.add_argument("--checkpoints", type=Path, default=log.checkpoints)
    check.add_argument("--public-key", type=Path, action="append", help="trusted public key (repeat for several)")
    check.add_argument("--spool-dir", type=Path, default=Path(settings.get("GLASSBOX_AUDIT_SPOOL_DIR")))
    check.add_argument("--against-loki", action="store_true", help="compare every record with its copy in Loki")
    check.add_argument("--loki", help="Loki's URL (default: from GLASSBOX_LOKI_HOST/PORT)")
    check.add_argument("--grace", type=float, default=120.0, help="seconds a new record may take to reach Loki")
    export = commands.add_parser("export", help="print matching records as JSON lines")
    export.add_argument("--log", type=Path, help=f"a log file (default: the fleet's table, or {log.path})")
    export.add_argument("--since", type=parse_time)
    export.add_argument("--until", type=parse_time)
    export.add_argument("--tenant")
    export.add_argument("--actor", help="actor id")
    export.add_argument("--action")
    export.add_argument("--request-id")
    args = parser.parse_args(argv)
    args.log_given = args.log is not None
    if args.log is None:
        args.log = log.path
    if args.command == "export":
        return _export(args)
    return _verify(args)
