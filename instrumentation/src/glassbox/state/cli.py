"""`glassbox state`: the shared state's schema and health.

    glassbox state migrate     create or upgrade the PostgreSQL schema (and roles and grants, where allowed)
    glassbox state status      which state this host uses, whether it answers, its schema version

Both read GLASSBOX_STATE_URL; `migrate` needs it. Run `migrate` as the database's owner: each app process also
migrates on first use, which a role without CREATE on the database cannot do.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import psycopg

from glassbox import settings
from glassbox import state as state_module
from glassbox.state import schema
from glassbox.state.base import StateUnavailable


def _migrate() -> int:
    from glassbox.state.postgres import Database, StateConfigError, describe, migrate

    url = str(settings.get("GLASSBOX_STATE_URL"))
    if not url:
        print("state migrate: GLASSBOX_STATE_URL is not set (the files state needs no migration)", file=sys.stderr)
        return 2
    try:
        database = Database(url, 10.0)
    except StateConfigError as error:
        print(f"state migrate: {error}", file=sys.stderr)
        return 2
    try:
        with database.connect() as connection:
            before, after = migrate(connection, roles=True)
            roles = connection.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(schema.ROLES),))
            present = sorted(row[0] for row in roles)
    except (psycopg.Error, StateUnavailable) as error:
        print(f"state migrate: {database.safe_url}: {describe(error)}", file=sys.stderr)
        return 1
    finally:
        database.close()
    change = f"from version {before} to {after}" if before != after else f"already at version {after}"
    print(f"state migrate: {database.safe_url}: schema {change}")
    missing = sorted(set(schema.ROLES) - set(present))
    print(f"  roles: {', '.join(present) or 'none'}" + (f" (not created: {', '.join(missing)}; needs CREATEROLE)"
                                                         if missing else ""))  # fmt: skip
    return 0


def _status() -> int:
    state = state_module.get()
    where = getattr(getattr(state, "db", None), "safe_url", None) or getattr(state, "spend_file", None)
    print(f"state: {state.backend}, scope {state.scope}: {where or getattr(state, 'reason', '')}")
    healthy = state.healthy()
    print(f"  answers: {'yes' if healthy else 'no'}")
    switches = state.kill_switches() if healthy else []
    print(f"  kill switches on: {len(switches)}")
    return 0 if healthy else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox state", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("action", choices=["migrate", "status"])
    args = parser.parse_args(argv)
    return _migrate() if args.action == "migrate" else _status()
