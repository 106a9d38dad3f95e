"""Where audit records are kept, as the settings say: the fleet's table (``GLASSBOX_STATE_URL``) or the host's file.

Both have the same ``append(event) -> record`` contract (glassbox.audit.chain.AuditLog,
glassbox.audit.postgres.PostgresAuditLog); the audit commands and ``glassbox story`` read either.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from glassbox import settings
from glassbox import state as state_module
from glassbox.audit.chain import AuditLog, AuditWriteError

LOG_NAME = "audit.jsonl"
CHECKPOINTS_NAME = "audit.checkpoints"
# False in the glassbox commands: they sign the central log's checkpoints only with a key they already have.
create_keys = True


class AuditStore(Protocol):
    def append(self, event: Mapping[str, Any]) -> dict[str, Any]: ...


class UnavailableLog:
    """The central log when the state cannot be opened at all: every append fails, so the audit mode decides."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        self.where = "the central audit log"

    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        raise AuditWriteError(f"{self.where}: {self.reason}")


def file_log(environ: Mapping[str, str] | None = None) -> AuditLog:
    """The host's audit log file as the settings place it."""
    return AuditLog(
        Path(settings.AUDIT_DIR.get(environ)) / LOG_NAME,
        Path(settings.AUDIT_CHECKPOINT_DIR.get(environ)) / CHECKPOINTS_NAME,
        Path(settings.AUDIT_KEY_FILE.get(environ)),
        checkpoint_every=settings.AUDIT_CHECKPOINT_EVERY.get(environ),
        checkpoint_seconds=settings.AUDIT_CHECKPOINT_SECONDS.get(environ),
    )


def central_log(database: Any = None) -> Any:
    """The fleet's audit log on ``database`` (default: this process's shared state's), or an
    :class:`UnavailableLog` saying why there is none."""
    from glassbox.audit.postgres import PostgresAuditLog
    from glassbox.state.postgres import PostgresState

    if database is None:
        state = state_module.get()
        if not isinstance(state, PostgresState):
            return UnavailableLog(getattr(state, "reason", "GLASSBOX_STATE_URL is not a usable PostgreSQL URL"))
        database = state.db
    return PostgresAuditLog(
        database,
        Path(settings.AUDIT_KEY_FILE.get()),
        checkpoint_every=settings.AUDIT_CHECKPOINT_EVERY.get(),
        checkpoint_seconds=settings.AUDIT_CHECKPOINT_SECONDS.get(),
        create_key=create_keys,
    )


def central() -> bool:
    """Whether the audit trail is the fleet's table (GLASSBOX_STATE_URL is set)."""
    return bool(settings.STATE_URL.get())


def default_log() -> Any:
    """The log that audit events are written to in this process."""
    return central_log() if central() else file_log()


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
