"""Who runs a command, where it records that it read the audit trail, and what it does when its reader leaves."""

from __future__ import annotations

import os
import pwd
import re
import sys
from collections.abc import Mapping
from typing import Any

_ACCOUNT_NAME = re.compile(r"[^A-Za-z0-9._@-]")


def actor() -> dict[str, str]:
    """Who runs the command: the operating-system account of the process's real user id, never what the
    environment claims (LOGNAME, USER). Under sudo, the account sudo names (SUDO_USER, which a caller could set
    as well) is noted in the ``name``, beside the account that ran."""
    uid = os.getuid()
    try:
        account = pwd.getpwuid(uid).pw_name
    except KeyError:
        account = f"uid-{uid}"
    party = {"type": "human", "id": account}
    sudo = _ACCOUNT_NAME.sub("", os.environ.get("SUDO_USER", ""))[:64]
    if sudo and sudo != account:
        party["name"] = f"{account} via sudo from {sudo}"
    return party


def record_read(
    command: str, action: str, resource: Mapping[str, Any], outcome: str, detail: Mapping[str, Any]
) -> None:
    """Record, after the fact, that the audit trail was read (``action``), in the log
    glassbox.audit.store.operator_log names: never a log the settings do not name, never with a key of its own.
    When there is none, or it cannot take the event, ``command`` says so on stderr and goes on."""
    from glassbox.audit import store
    from glassbox.audit.events import audit_into

    log, why = store.operator_log()
    if log is None:
        print(f"{command}: this read is not recorded in an audit log: {why}", file=sys.stderr)
        return
    try:
        audit_into(log, action, actor=actor(), resource=dict(resource), outcome=outcome, after=dict(detail))
    except Exception as error:
        print(f"{command}: this read could not be recorded in the audit log: {error}", file=sys.stderr)


def stdout_closed() -> None:
    """The reader of stdout went away (``| head``): stdout goes to /dev/null from now on, so that nothing more
    fails, not even the interpreter's last flush."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
