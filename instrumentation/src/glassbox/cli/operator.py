"""Who runs a command: the account every command's audit events name as their actor."""

from __future__ import annotations

import os
import pwd
import re

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
