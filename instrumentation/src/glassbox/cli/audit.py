"""`glassbox audit verify | export | fingerprint`: prove the audit trail intact, read it, name a key to pin.

    glassbox audit verify [--public-key KEY ...] [--spool-dir DIR] [--against-loki [--loki URL] [--grace SECONDS]]
                          [--log FILE --checkpoints FILE]
        recomputes the hash chain and checks every signed checkpoint against the pinned public keys and the
        cadence the checkpoints promise; names the first bad sequence number and says how many events are held
        outside the chain (the spool directory; with --against-loki also the events Loki received that are in no
        chain). --against-loki also compares every record and checkpoint with the copies Loki's audit stream
        received, which catches a cut tail and a chain rewritten and re-signed by whoever holds the key. Exit
        status 0 when intact, 1 when not (an unpinned key included), 2 when the trail or a pin cannot be read
    glassbox audit export [--since ISO] [--until ISO] [--tenant T] [--actor A] [--action A] [--request-id R]
                          [--log FILE]
        prints the matching records as JSON lines (time bounds in ISO 8601, UTC when no offset is given)
    glassbox audit fingerprint [KEY ...]
        prints the SHA-256 fingerprint of each public key (default: GLASSBOX_AUDIT_KEY_FILE's), to pin it

A KEY is a PEM file, PEM text, or SHA-256 fingerprints of raw public keys; the keys trusted are those given with
--public-key and those of GLASSBOX_AUDIT_PUBLIC_KEY, never the `.pub` beside the private key by itself (it only
supplies the key a pinned fingerprint names). With GLASSBOX_STATE_URL set, verify and export read the fleet's
audit table (the reader role is enough); otherwise, or with --log, the host's file
(GLASSBOX_AUDIT_DIR/audit.jsonl and GLASSBOX_AUDIT_CHECKPOINT_DIR/audit.checkpoints). Reading the trail is itself
audited, once the reading is done (verify writes and signs nothing before it has verified): an ``audit.verify``
or ``audit.export`` event with its outcome, its actor the operating-system account running the command. That
event goes to the fleet's table with GLASSBOX_STATE_URL, else to the host's file only when GLASSBOX_AUDIT_DIR,
GLASSBOX_AUDIT_CHECKPOINT_DIR and GLASSBOX_AUDIT_KEY_FILE are set (their defaults are relative to the current
directory, which need not be the app's); otherwise the command says the read is not recorded. A command never
creates a signing key. ``export`` piped into a reader that stops early (``| head``) ends quietly, status 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from glassbox import settings
from glassbox.audit import spool, store
from glassbox.audit.chain import (
    CENTRAL_LOG,
    FILE_LOG,
    PinError,
    Verification,
    chain_id,
    fingerprint,
    key_id,
    parse_pin,
    pinned_keys,
    public_key_path,
    trusted_public_keys,
    verify,
)
from glassbox.audit.store import parse_time
from glassbox.cli.operator import record_read, stdout_closed
from glassbox.stack_addresses import Endpoints


def _record_read(action: str, resource: str, outcome: str, detail: Mapping[str, Any]) -> None:
    """Record, after the fact, that the trail was read (see glassbox.cli.operator.record_read)."""
    record_read(f"glassbox {action.replace('.', ' ')}", action, {"type": "audit_log", "id": resource}, outcome, detail)


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
    from glassbox.db import Database

    return store.central_log(Database(settings.STATE_URL.get(), 10.0))


def _export(args: argparse.Namespace) -> int:
    central = _central(args)
    where = central.where if central is not None else str(args.log)
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
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early (`| head`): what it read was read
        stdout_closed()
        _record_read("audit.export", where, "success", {"filters": _filters(args), "records": count,
                                                         "output_closed": True})  # fmt: skip
        return 0
    except Exception as error:
        print(f"audit export: cannot read {where}: {error}", file=sys.stderr)
        _record_read("audit.export", where, "failure", {"filters": _filters(args), "error": _error(error)})
        return 2
    _record_read("audit.export", where, "success", {"filters": _filters(args), "records": count})
    return 0


def _error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _verify(args: argparse.Namespace) -> int:
    try:
        pins = pinned_keys(args.public_key or [])
        keys = trusted_public_keys(pins)
    except PinError as error:
        print(f"audit verify: {error}", file=sys.stderr)
        return 2
    central = _central(args)
    where = central.where if central is not None else str(args.log)
    started = time.time()
    try:
        result = central.verify(keys) if central is not None else verify(args.log, args.checkpoints, keys)
    except Exception as error:
        print(f"audit verify: cannot read {where}: {error}", file=sys.stderr)
        _record_read("audit.verify", where, "failure", {"error": _error(error)})
        return 2
    _say_trust(pins, keys)
    held_in_loki: int | None = None
    if args.against_loki:
        held_in_loki = _against_loki(args, central, result, keys, started)
        if held_in_loki is None:
            _record_read("audit.verify", where, "failure", {"against_loki": True, "error": "Loki could not be read"})
            return 2
    code = _report(result, args.spool_dir, held_in_loki)
    detail = {"against_loki": bool(args.against_loki), "records": result.records, "intact": code == 0}
    _record_read("audit.verify", where, "success" if code == 0 else "failure", detail)
    return code


def _say_trust(pins: Any, keys: Sequence[Any]) -> None:
    if keys:
        print("KEYS  trusted (pinned): " + ", ".join(key_id(key) for key in keys))
    elif pins:
        print("BAD   the pinned fingerprints match no public key found here (pin the PEM key itself, or put its "
              ".pub beside GLASSBOX_AUDIT_KEY_FILE)")  # fmt: skip


def _against_loki(
    args: argparse.Namespace, central: Any, result: Verification, keys: Sequence[Any], started: float
) -> int | None:
    """Compare with Loki's copies; returns how many events Loki received are in no chain, None when Loki could
    not be read."""
    from glassbox.audit import loki

    records = list(central.records() if central is not None else store.file_records(args.log))
    first_time = started
    for record in records:
        try:
            first_time = min(first_time, parse_time(str(record.get("time"))).timestamp())
        except ValueError:
            continue  # an edited time: the record's own comparison says so
    url = args.loki or Endpoints.from_environ(os.environ).loki
    try:
        stream = loki.read_stream(url, first_time - loki.SLACK_SECONDS, started + loki.SLACK_SECONDS)
    except Exception as error:
        print(f"audit verify: cannot read Loki's audit stream at {url}: {error}", file=sys.stderr)
        return None
    # The chain this is (the start of record 1's hash): copies and checkpoints of other chains in the same Loki
    # (another host, another fleet, an earlier run) are not this chain's.
    first = next((r for r in records if r.get("seq") == 1), None)
    outcome = loki.compare(
        result,
        records,
        stream,
        args.grace,
        keys={key_id(key): key for key in keys},
        log=CENTRAL_LOG if central is not None else FILE_LOG,
        chain=chain_id(first) if first else getattr(central, "chain_id", None),
    )
    unplaced = (
        f"; {outcome.unattributed} copies naming no chain, of no event of this one, not compared"
        if outcome.unattributed
        else ""
    )
    print(
        f"LOKI  {outcome.compared} records compared with their copies in Loki, {len(outcome.missing)} without a "
        f"copy, {outcome.recent} newer than {args.grace:g} s not compared; {outcome.checkpoints_compared} "
        f"witnessed checkpoints compared, {outcome.checkpoints_untrusted} not signed by a trusted key ignored, "
        f"{outcome.checkpoints_unwitnessed} of the log's checkpoints not in Loki{unplaced}"
    )
    return len(outcome.waiting)


def _report(result: Verification, spool_dir: Path, held_in_loki: int | None) -> int:
    for offset, text in result.torn:
        print(f"torn record at byte {offset} (a writer stopped mid-append): {text!r}")
    for problem in result.problems:
        print(f"BAD   {problem}")
    waiting = spool.waiting(spool_dir)
    if waiting:
        print(f"WAIT  {waiting} events in the fail-open spool {spool_dir}, not in the chain yet")
    if held_in_loki:
        print(
            f"WAIT  {held_in_loki} events Loki received are in no chain yet (waiting in a host's spool, or lost "
            "with it)"
        )
    summary = f"{result.records} records, {result.checkpoints} signed checkpoints, last sequence {result.last_seq}"
    if result.ok:
        print(f"OK    {summary}")
        return 0
    first = f"first bad sequence number {result.first_bad_seq}" if result.first_bad_seq else "checkpoints"
    if not result.trusted and result.first_bad_seq is None:
        first = "signatures not trusted"
    print(f"FAIL  {summary}; {first}")
    return 1


def _fingerprint(args: argparse.Namespace) -> int:
    """Print the fingerprint of each key named (default: the public key of GLASSBOX_AUDIT_KEY_FILE)."""
    key_file = settings.app_path(settings.AUDIT_KEY_FILE.get())
    values = args.key or [str(public_key_path(key_file)) if public_key_path(key_file).exists() else str(key_file)]
    for value in values:
        try:
            pins = parse_pin(value, value)
        except PinError as error:
            print(f"audit fingerprint: {error}", file=sys.stderr)
            return 2
        for key in pins.keys:
            print(f"{fingerprint(key)}  {value if len(value) < 200 else 'PEM'}")
        for pinned in sorted(pins.fingerprints):
            print(f"{pinned}  (given as a fingerprint)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    log = store.file_log()
    parser = argparse.ArgumentParser(prog="glassbox audit", description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="recompute the chain and the signed checkpoints")
    check.add_argument("--log", type=Path, help=f"a log file (default: the fleet's table, or {log.path})")
    check.add_argument("--checkpoints", type=Path, default=log.checkpoints)
    check.add_argument(
        "--public-key",
        action="append",
        help="a trusted public key: PEM file, PEM text or SHA-256 fingerprint (repeat for several; "
        "GLASSBOX_AUDIT_PUBLIC_KEY's are trusted too)",
    )
    check.add_argument("--spool-dir", type=Path, default=settings.app_path(settings.AUDIT_SPOOL_DIR.get()))
    check.add_argument("--against-loki", action="store_true", help="compare every record with its copies in Loki")
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
    keys = commands.add_parser("fingerprint", help="print the SHA-256 fingerprint of public keys, to pin them")
    keys.add_argument("key", nargs="*", help="a PEM file or PEM text (default: GLASSBOX_AUDIT_KEY_FILE's key)")
    args = parser.parse_args(argv)
    if args.command == "fingerprint":
        return _fingerprint(args)
    args.log_given = args.log is not None
    if args.log is None:
        args.log = log.path
    if args.command == "export":
        return _export(args)
    return _verify(args)
