"""The PostgreSQL database the fleet shares (``GLASSBOX_STATE_URL``): what the state (glassbox.state.postgres) and
the audit trail (glassbox.audit.postgres) both stand on. It imports only glassbox's base modules.

* :mod:`glassbox.db.connection`: :class:`Database` (a pool, calls bounded in time, a breaker), the URL checked
  (:class:`StateConfigError`) and its password masked everywhere (:func:`redact_url`, :func:`describe`);
* :mod:`glassbox.db.migrations`: :func:`migrate`, :func:`check_schema`, :func:`create_login_role`,
  :func:`check_role`, :func:`pgaudit_on`;
* :mod:`glassbox.db.schema`: the versioned schema, its roles and grants (the SQL files in ``glassbox/db/sql/``);
* :mod:`glassbox.db.rows`: an audit event as the arguments of the database functions that chain it, and the
  canonical JSON every chain hashes.

psycopg is an optional extra (``glassbox-otel[postgres]``), and glassbox.audit.chain uses :mod:`glassbox.db.rows` on
every host: this package imports without psycopg. The names of ``connection`` and ``migrations``, which need it,
are loaded on first use (``from glassbox.db import Database`` raises ImportError only when psycopg is missing).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from glassbox.db import schema
from glassbox.db.rows import Marks, arguments, canonical, columns, templates

if TYPE_CHECKING:
    from glassbox.db.connection import Database, DatabaseUnavailable, StateConfigError, describe, redact_url
    from glassbox.db.migrations import (
        RoleCheck,
        SchemaTooNew,
        SchemaTooOld,
        check_role,
        check_schema,
        create_login_role,
        migrate,
        pgaudit_on,
    )

__all__ = [
    "Database",
    "DatabaseUnavailable",
    "Marks",
    "RoleCheck",
    "SchemaTooNew",
    "SchemaTooOld",
    "StateConfigError",
    "arguments",
    "canonical",
    "check_role",
    "check_schema",
    "columns",
    "create_login_role",
    "describe",
    "migrate",
    "pgaudit_on",
    "redact_url",
    "schema",
    "templates",
]

# The names that need psycopg, and the module of each.
_NEED_PSYCOPG = {
    **dict.fromkeys(("Database", "DatabaseUnavailable", "StateConfigError", "describe", "redact_url"), "connection"),
    **dict.fromkeys(
        ("RoleCheck", "SchemaTooNew", "SchemaTooOld", "check_role", "check_schema", "create_login_role", "migrate",
         "pgaudit_on"),
        "migrations",
    ),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _NEED_PSYCOPG.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # Lazy: psycopg is optional, and this package must import without it (see the module's docstring).
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
