"""`glassbox state`: the shared state's schema, its roles and its health.

    glassbox state migrate [--admin-url URL]
        create or upgrade the PostgreSQL schema, then the group roles and their grants (and pgaudit, where loaded)
    glassbox state role NAME --writer | --reader | --tenant-auditor TENANT [...] [--admin-url URL]
        create (or update) a login role in one group: the password is read from GLASSBOX_STATE_ROLE_PASSWORD,
        never from the command line
    glassbox state status
        which state this host uses (refused, like `glassbox kill-switch`, when its place would be a guess), whether
        it answers, whether its role can undo what the schema guarantees, and which processes watch it

`migrate` and `role` act as the schema's owner: --admin-url, else GLASSBOX_STATE_ADMIN_URL. Apps never migrate and
should not hold that URL: give them a login role in glassbox_writer (docs/security.md).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from glassbox import settings
from glassbox.db import schema

if TYPE_CHECKING:
    import psycopg

GROUPS = {"writer": schema.ROLE_WRITER, "reader": schema.ROLE_READER, "tenant_auditor": schema.ROLE_TENANT_AUDITOR}
PASSWORD_VARIABLE = "GLASSBOX_STATE_ROLE_PASSWORD"
T = TypeVar("T")


def _as_owner(command: str, given: str | None, work: Callable[[psycopg.Connection[Any]], T]) -> tuple[int, T | None]:
    """``work`` on a connection as the schema's owner (``given``, else GLASSBOX_STATE_ADMIN_URL): (0, its result),
    or an exit status (2: no usable URL, 1: the database refused) with the reason on stderr and None."""
    import psycopg  # only here: the fleet's state needs it (glassbox-otel[postgres]), the files state does not

    from glassbox.db import Database, DatabaseUnavailable, StateConfigError, describe

    url = given or settings.STATE_ADMIN_URL.get()
    if not url:
        print(
            f"state {command}: give --admin-url or set GLASSBOX_STATE_ADMIN_URL (the schema owner's URL; the files "
            "state needs no migration)",
            file=sys.stderr,
        )
        return 2, None
    try:
        database = Database(url, 10.0)
    except StateConfigError as error:
        print(f"state {command}: {error}", file=sys.stderr)
        return 2, None
    try:
        with database.connect() as connection:
            return 0, work(connection)
    except (psycopg.Error, DatabaseUnavailable) as error:
        print(f"state {command}: {database.safe_url}: {describe(error)}", file=sys.stderr)
        return 1, None
    finally:
        database.close()


def _migrate(admin_url: str | None) -> int:
    from glassbox.db import migrate, pgaudit_on, redact_url

    def work(connection: psycopg.Connection[Any]) -> tuple[int, int, list[str], bool]:
        before, after = migrate(connection, roles=True)
        roles = connection.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", (list(schema.ROLES),))
        return before, after, sorted(row[0] for row in roles), pgaudit_on(connection)

    code, done = _as_owner("migrate", admin_url, work)
    if done is None:
        return code
    before, after, present, audited_reads = done
    where = redact_url(admin_url or settings.STATE_ADMIN_URL.get())
    change = f"from version {before} to {after}" if before != after else f"already at version {after}"
    print(f"state migrate: {where}: schema {change}")
    missing = sorted(set(schema.ROLES) - set(present))
    print(f"  roles: {', '.join(present) or 'none'}" + (f" (not created: {', '.join(missing)}; needs CREATEROLE)"
                                                         if missing else ""))  # fmt: skip
    print(
        "  reads of the audit table: recorded by pgaudit"
        if audited_reads
        else "  reads of the audit table: NOT recorded (load pgaudit: shared_preload_libraries = 'pgaudit', then "
        "migrate again as a superuser)"
    )
    return 0


def _role(args: argparse.Namespace) -> int:
    from glassbox.db import create_login_role

    password = os.environ.get(PASSWORD_VARIABLE, "")
    if not password:
        print(f"state role: set {PASSWORD_VARIABLE} to the new role's password", file=sys.stderr)
        return 2
    group = GROUPS["tenant_auditor" if args.tenant_auditor else ("reader" if args.reader else "writer")]
    code, _ = _as_owner(
        "role",
        args.admin_url,
        lambda connection: create_login_role(connection, args.name, password, group, args.tenant_auditor or ()),
    )
    if code:
        return code
    tenants = f" for tenants {', '.join(args.tenant_auditor)}" if args.tenant_auditor else ""
    print(f"state role: {args.name} logs in as a member of {group}{tenants}")
    return 0


def _status() -> int:
    from glassbox.cli.guard import REFUSED, open_apps_state, report_watchers

    state = open_apps_state("state status", "", spend=False)
    if state is None:
        return REFUSED
    print(f"state: {state.backend}, scope {state.scope}: {state.location}")
    healthy = state.healthy()
    print(f"  answers: {'yes' if healthy else 'no'}")
    role = getattr(state, "role", None)
    if role is not None:
        print(f"  role: {role.role}" + (f": {role.problem()}" if role.privileged else " (no more than an app needs)"))
    switches = state.kill_switches() if healthy else []
    print(f"  kill switches on: {len(switches)}")
    if healthy:
        report_watchers("state status", state)
    return 0 if healthy and not (role is not None and role.privileged) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox state", description=__doc__.splitlines()[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    migrate = commands.add_parser("migrate", help="create or upgrade the schema, the roles and their grants")
    migrate.add_argument("--admin-url", help="the schema owner's URL (default: GLASSBOX_STATE_ADMIN_URL)")
    role = commands.add_parser("role", help=f"create or update a login role (password from {PASSWORD_VARIABLE})")
    role.add_argument("name")
    kind = role.add_mutually_exclusive_group(required=True)
    kind.add_argument("--writer", action="store_true", help="an app")
    kind.add_argument("--reader", action="store_true", help="reads the whole trail (verify, export, story)")
    kind.add_argument("--tenant-auditor", nargs="+", metavar="TENANT", help="reads these tenants' audit events")
    role.add_argument("--admin-url", help="the schema owner's URL (default: GLASSBOX_STATE_ADMIN_URL)")
    commands.add_parser("status", help="which state, whether it answers, whether its role is an app's")
    args = parser.parse_args(argv)
    if args.command in ("migrate", "role") and importlib.util.find_spec("psycopg") is None:
        print(
            f"state {args.command}: psycopg is missing: pip install 'glassbox-otel[postgres]' (the fleet's state needs "
            "it; the files state needs no migration)",
            file=sys.stderr,
        )
        return 2
    if args.command == "migrate":
        return _migrate(args.admin_url)
    if args.command == "role":
        return _role(args)
    return _status()
