"""`glassbox audit verify` and `glassbox audit export`: prove the audit log intact, and read it.

    glassbox audit verify [--log FILE] [--checkpoints FILE] [--public-key FILE] [--spool-dir DIR]
        recomputes the hash chain and checks every signed checkpoint; names the first bad sequence number and
        says how many fail-open events still wait in the spool; exit status 0 when intact, 1 when not, 2 when
        the files cannot be read
    glassbox audit export [--since ISO] [--until ISO] [--tenant T] [--actor A] [--action A] [--log FILE]
        prints the matching records as JSON lines (time bounds in ISO 8601, UTC when no offset is given)

Paths default to GLASSBOX_AUDIT_DIR/audit.jsonl, GLASSBOX_AUDIT_CHECKPOINT_DIR/audit.checkpoints, the
`.pub` file beside GLASSBOX_AUDIT_KEY_FILE and GLASSBOX_AUDIT_SPOOL_DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from glassbox import audit_spool, settings
from glassbox.audit_chain import AuditLog, load_public_key, public_key_path, verify

LOG_NAME = "audit.jsonl"
CHECKPOINTS_NAME = "audit.checkpoints"


def default_log(environ: Mapping[str, str] | None = None) -> AuditLog:
    """The host's audit log as the settings place it."""
    return AuditLog(
        Path(settings.get("GLASSBOX_AUDIT_DIR", environ)) / LOG_NAME,
        Path(settings.get("GLASSBOX_AUDIT_CHECKPOINT_DIR", environ)) / CHECKPOINTS_NAME,
        Path(settings.get("GLASSBOX_AUDIT_KEY_FILE", environ)),
        checkpoint_every=settings.get("GLASSBOX_AUDIT_CHECKPOINT_EVERY", environ),
        checkpoint_seconds=settings.get("GLASSBOX_AUDIT_CHECKPOINT_SECONDS", environ),
    )


def _time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def records(path: Path) -> Iterator[dict[str, Any]]:
    for line in path.read_bytes().split(b"\n") if path.exists() else []:
        try:
            record = json.loads(line) if line else None
        except ValueError:
            continue  # a torn line; `verify` reports it
        if isinstance(record, dict):
            yield record


def matches(record: Mapping[str, Any], args: argparse.Namespace) -> bool:
    if args.tenant is not None and record.get("tenant") != args.tenant:
        return False
    if args.actor is not None and (record.get("actor") or {}).get("id") != args.actor:
        return False
    if args.action is not None and record.get("action") != args.action:
        return False
    if args.since or args.until:
        try:
            at = _time(str(record.get("time")))
        except ValueError:
            return False
        if args.since and at < args.since:
            return False
        if args.until and at >= args.until:
            return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    log = default_log()
    parser = argparse.ArgumentParser(prog="glassbox audit", description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="recompute the chain and the signed checkpoints")
    check.add_argument("--log", type=Path, default=log.path)
    check.add_argument("--checkpoints", type=Path, default=log.checkpoints)
    check.add_argument("--public-key", type=Path, default=public_key_path(log.key_path))
    check.add_argument("--spool-dir", type=Path, default=Path(settings.get("GLASSBOX_AUDIT_SPOOL_DIR")))
    export = commands.add_parser("export", help="print matching records as JSON lines")
    export.add_argument("--log", type=Path, default=log.path)
    export.add_argument("--since", type=_time)
    export.add_argument("--until", type=_time)
    export.add_argument("--tenant")
    export.add_argument("--actor", help="actor id")
    export.add_argument("--action")
    args = parser.parse_args(argv)
    if args.command == "export":
        for record in records(args.log):
            if matches(record, args):
                print(json.dumps(record, ensure_ascii=False, sort_keys=True))
        return 0
    try:
        public_key = load_public_key(args.public_key)
    except (OSError, ValueError) as error:
        print(f"audit verify: cannot read the public key {args.public_key}: {error}", file=sys.stderr)
        return 2
    result = verify(args.log, args.checkpoints, public_key)
    for offset, text in result.torn:
        print(f"torn record at byte {offset} (a writer stopped mid-append): {text!r}")
    for problem in result.problems:
        print(f"BAD   {problem}")
    waiting = audit_spool.waiting(args.spool_dir)
    if waiting:
        print(f"WAIT  {waiting} events in the fail-open spool {args.spool_dir}, not in the chain yet")
    summary = f"{result.records} records, {result.checkpoints} signed checkpoints, last sequence {result.last_seq}"
    if result.ok:
        print(f"OK    {summary}")
        return 0
    first = f"first bad sequence number {result.first_bad_seq}" if result.first_bad_seq else "checkpoints"
    print(f"FAIL  {summary}; {first}")
    return 1
