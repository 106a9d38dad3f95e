"""Where audit records are kept, as the settings say: the fleet's table (``GLASSBOX_STATE_URL``) or the host's file.

Both have the same ``append(event) -> record`` contract (glassbox.audit.chain.AuditLog,
glassbox.audit.postgres.PostgresAuditLog); the audit commands and ``glassbox story`` read either. The fleet's log
has a connection of its own to the database (glassbox.db), not the shared state's.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from glassbox import settings
from glassbox.audit.chain import AuditLog, AuditWriteError

if TYPE_CHECKING:
    from glassbox.db import Database

LOG_NAME = "audit.jsonl"
# The settings that place the host's audit log, its checkpoints and its signing key.
FILE_LOG_SETTINGS = (settings.AUDIT_DIR, settings.AUDIT_CHECKPOINT_DIR, settings.AUDIT_KEY_FILE)
CHECKPOINTS_NAME = "audit.checkpoints"
# Whether the fleet's log opened in this process may create its signing key (False after operator_command()).
_create_keys = True


def operator_command() -> None:
    """Say that this process runs a glassbox command an operator runs (``glassbox audit``, ``budgets``,
    ``kill-switch``, ``story``...), not an app: from now on the fleet's audit log it opens signs checkpoints only
    with a key that exists already (the fleet's) and never creates one, so that no checkpoint is signed by a key
    the verifiers do not know. Called once, by ``glassbox.cli.main``, before the command runs; apps never call it.
    """
    global _create_keys
    _create_keys = False


class AuditStore(Protocol):
    def append(self, event: Mapping[str, Any]) -> dict[str, Any]: ...


class UnavailableLog:
    """The central log when the database cannot be used at all (GLASSBOX_STATE_URL unusable as written): every
    append fails, so the audit mode decides."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.where = "the central audit log"

    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        raise AuditWriteError(f"{self.where}: {self.reason}")


def file_log(environ: Mapping[str, str] | None = None, create_key: bool = True, app_dir: str = "") -> AuditLog:
    """The host's audit log file as the settings place it, relative paths under ``app_dir`` (default
    GLASSBOX_APP_DIR, else the working directory); ``create_key``: whether it may create its signing key."""
    return AuditLog(
        settings.app_path(settings.AUDIT_DIR.get(environ), app_dir) / LOG_NAME,
        settings.app_path(settings.AUDIT_CHECKPOINT_DIR.get(environ), app_dir) / CHECKPOINTS_NAME,
        settings.app_path(settings.AUDIT_KEY_FILE.get(environ), app_dir),
        checkpoint_every=settings.AUDIT_CHECKPOINT_EVERY.get(environ),
        checkpoint_seconds=settings.AUDIT_CHECKPOINT_SECONDS.get(environ),
        create_key=create_key,
    )


def central_log(database: Database | None = None, create_key: bool | None = None) -> Any:
    """The fleet's audit log on ``database`` (default: a connection of its own to GLASSBOX_STATE_URL, within
    GLASSBOX_STATE_TIMEOUT), or an :class:`UnavailableLog` saying why there is none. ``create_key``: whether it
    may create its signing key (None: unless :func:`operator_command` was called)."""
    # Lazy: both need psycopg, an optional extra (glassbox-otel[postgres]); the host's file log needs neither.
    from glassbox.audit.postgres import PostgresAuditLog
    from glassbox.db import Database, StateConfigError

    if database is None:
        url = settings.STATE_URL.get()
        if not url:
            return UnavailableLog("GLASSBOX_STATE_URL is not a usable PostgreSQL URL")
        try:
            # The writer makes its own connection: no pooled one until something calls through the pool.
            database = Database(url, settings.STATE_TIMEOUT.get(), pool_at_start=False)
        except StateConfigError as error:
            return UnavailableLog(str(error))
    return PostgresAuditLog(
        database,
        settings.app_path(settings.AUDIT_KEY_FILE.get()),
        checkpoint_every=settings.AUDIT_CHECKPOINT_EVERY.get(),
        checkpoint_seconds=settings.AUDIT_CHECKPOINT_SECONDS.get(),
        create_key=_create_keys if create_key is None else create_key,
    )


def central() -> bool:
    """Whether the audit trail is the fleet's table (GLASSBOX_STATE_URL is set)."""
    return bool(settings.STATE_URL.get())


def default_log() -> Any:
    """The log that audit events are written to in this process."""
    return central_log() if central() else file_log()


def operator_log(environ: Mapping[str, str] | None = None, app_dir: str = "") -> tuple[Any, str]:
    """The log an operator's command records its own events in (reading the trail, changing the kill switch or a
    budget), opened so that it never creates a signing key; or None and why there is none.

    The fleet's table with GLASSBOX_STATE_URL. Otherwise the host's file, where the apps have it: its settings
    absolute, or relative under ``app_dir`` / GLASSBOX_APP_DIR. Relative to the command's own working directory
    they need not name the app's files, and a command must not start a log (with a key of its own) wherever it
    happens to run."""
    environ = os.environ if environ is None else environ
    if central():
        return central_log(create_key=False), ""
    base = app_dir or settings.APP_DIR.get(environ)
    relative = [s.env for s in FILE_LOG_SETTINGS if not Path(s.get(environ)).is_absolute()]
    if relative and not Path(base).is_absolute():
        return None, (
            f"{', '.join(relative)} relative, and no GLASSBOX_APP_DIR: they would name files under the current "
            f"directory ({Path.cwd()}), not necessarily the app's; set GLASSBOX_APP_DIR to the app's directory (or "
            "these settings to the app's absolute paths)"
        )
    return file_log(environ, create_key=False, app_dir=base), ""


def file_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a log file, skipping torn lines (``verify`` reports them)."""
    for line in path.read_bytes().split(b"\n") if path.exists() else []:
        try:
            record = json.loads(line) if line else None
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def parse_time(raw: str) -> datetime:
    """An ISO 8601 time; UTC when it has no offset."""
    value = datetime.fromisoformat(raw)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
