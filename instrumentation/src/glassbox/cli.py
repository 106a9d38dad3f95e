"""The `glassbox` command: `glassbox doctor` checks a running stack end to end; `glassbox audit` verifies and
exports the audit log.

    glassbox doctor [--require ...] [--timeout SECONDS]    one pass; exit status 1 on any failure
    glassbox doctor --watch SECONDS                        a pass every SECONDS until SIGTERM/SIGINT (exit 0)
    glassbox audit verify | export [...]                   see glassbox.audit_cli

`python -m glassbox.cli ...` is the same command (the native stack's canary process runs it that way).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

COMMANDS = {"doctor": "glassbox.doctor", "audit": "glassbox.audit_cli", "story": "glassbox.story"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        print("usage: glassbox {" + ",".join(COMMANDS) + "} [options]  (glassbox doctor --help)", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(COMMANDS[args[0]])
    return int(module.main(args[1:]))


if __name__ == "__main__":
    sys.exit(main())
