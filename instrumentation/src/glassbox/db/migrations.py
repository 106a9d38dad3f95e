"""The schema brought up to date and checked, login roles made, and what the connected role may do.

``glassbox state migrate`` runs :func:`migrate` as the role that owns the schema; apps only :func:`check_schema`
(their role cannot migrate) and :func:`check_role` (a role that could undo what the schema guarantees is reported).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from glassbox.db import schema
from glassbox.db.connection import SETTING, DatabaseUnavailable
from glassbox.version import __version__


class SchemaTooNew(DatabaseUnavailable):
    """The database's glassbox schema is newer than this glassbox knows."""


class SchemaTooOld(DatabaseUnavailable):
    """The database's glassbox schema is missing or older than this glassbox needs: an operator migrates it."""


def migrate(connection: psycopg.Connection[Any], roles: bool = False) -> tuple[int, int]:
    """Bring the schema to :data:`schema.LATEST` (as the role that owns it); returns (version before, version
    after). ``roles``: also create the roles and apply the grants (always done after a migration)."""
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (schema.MIGRATION_LOCK,))
        exists = connection.execute("SELECT to_regclass('glassbox.schema_version')").fetchone()
        if exists is None or exists[0] is None:
            connection.execute("CREATE SCHEMA IF NOT EXISTS glassbox")
            connection.execute(
                "CREATE TABLE glassbox.schema_version (version integer PRIMARY KEY, "
                "applied_at timestamptz NOT NULL DEFAULT now(), glassbox_version text NOT NULL)"
            )
        row = connection.execute("SELECT coalesce(max(version), 0) FROM glassbox.schema_version").fetchone()
        current = int(row[0]) if row else 0
        if current > schema.LATEST:
            raise _too_new(current)
        for version, statements in schema.MIGRATIONS:
            if version > current:
                connection.execute(statements.encode())
                connection.execute(
                    "INSERT INTO glassbox.schema_version (version, glassbox_version) VALUES (%s, %s)",
                    (version, __version__),
                )
        if roles or current < schema.LATEST:
            for statements in schema.ROLE_SETUP:
                connection.execute(statements.encode())
    return current, schema.LATEST


def _too_new(version: int) -> SchemaTooNew:
    return SchemaTooNew(
        f"{SETTING}: the database's glassbox schema is version {version}; this glassbox ({__version__}) "
        f"knows versions up to {schema.LATEST}: upgrade glassbox here before using that database"
    )


def check_schema(connection: psycopg.Connection[Any]) -> int:
    """The schema's version, when it is the one this glassbox uses; :class:`SchemaTooOld` (an operator must run
    ``glassbox state migrate``) or :class:`SchemaTooNew` otherwise. Never changes anything."""
    exists = connection.execute("SELECT to_regclass('glassbox.schema_version')").fetchone()
    version = 0
    if exists is not None and exists[0] is not None:
        row = connection.execute("SELECT coalesce(max(version), 0) FROM glassbox.schema_version").fetchone()
        version = int(row[0]) if row else 0
    if version > schema.LATEST:
        raise _too_new(version)
    if version < schema.LATEST:
        found = f"version {version}" if version else "no glassbox schema"
        raise SchemaTooOld(
            f"{SETTING}: the database has {found}; this glassbox ({__version__}) needs version {schema.LATEST}: run "
            f"`glassbox state migrate` with GLASSBOX_STATE_ADMIN_URL (the schema owner's URL) set"
        )
    return version


def pgaudit_on(connection: psycopg.Connection[Any]) -> bool:
    """Whether PostgreSQL records reads of the audit table here (pgaudit loaded, its object-audit role set)."""
    row = connection.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pgaudit') "
        "AND coalesce(current_setting('pgaudit.role', true), '') = 'glassbox_pgaudit'"
    ).fetchone()
    return bool(row and row[0])


def create_login_role(
    connection: psycopg.Connection[Any], name: str, password: str, group: str, tenants: Sequence[str] = ()
) -> None:
    """Create (or update) the login role ``name`` with ``password`` as a member of ``group`` and nothing more: no
    superuser, no role or database creation, no replication, no bypass of row-level security. For a tenant auditor,
    ``tenants`` are the tenants whose audit events it reads."""
    if group not in schema.ROLES:
        raise ValueError(f"{group!r} is not one of {', '.join(schema.ROLES)}")
    options = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD {}").format(
        sql.Literal(password)
    )
    with connection.transaction():
        exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone()
        verb = sql.SQL("ALTER ROLE") if exists else sql.SQL("CREATE ROLE")
        connection.execute(sql.SQL("{} {} {}").format(verb, sql.Identifier(name), options))
        connection.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name)))
        for tenant in tenants:
            connection.execute(
                "INSERT INTO glassbox.audit_readers (role_name, tenant) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (name, tenant),
            )


@dataclass(frozen=True)
class RoleCheck:
    """What the connected role may do beyond an app's needs (for the start-up warning and `glassbox doctor`)."""

    role: str
    superuser: bool
    owns: list[str]

    @property
    def privileged(self) -> bool:
        return self.superuser or bool(self.owns)

    def problem(self) -> str:
        why = "is a superuser" if self.superuser else f"owns {', '.join(self.owns)}"
        return (
            f"the database role {self.role} {why}: it can disable the audit trail's triggers and change budgets and "
            f"the kill switch without an audit event; give the app a login role in glassbox_writer (docs/security.md)"
        )


def check_role(connection: psycopg.Connection[Any]) -> RoleCheck:
    """Whether the connected role is a superuser or owns (directly or through a role it belongs to) any glassbox
    table, sequence or function."""
    row = connection.execute(
        "SELECT current_user::text, rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    role, superuser = (str(row[0]), bool(row[1])) if row else ("?", False)
    owned = connection.execute(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'glassbox' AND pg_has_role(current_user, c.relowner, 'USAGE') "
        "UNION ALL SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'glassbox' AND pg_has_role(current_user, p.proowner, 'USAGE') ORDER BY 1"
    ).fetchall()
    return RoleCheck(role, superuser, sorted({str(name) for (name,) in owned}))
