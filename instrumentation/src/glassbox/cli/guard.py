"""`glassbox budgets` and `glassbox kill-switch`: change the guard's shared state, audited.

    glassbox budgets list [--app-dir DIR]
    glassbox budgets set TENANT [--day USD] [--month USD]      (TENANT may be "*": every tenant not named)
    glassbox budgets set --total [--day USD] [--month USD]     (every tenant together)
    glassbox budgets remove TENANT | --total
    glassbox kill-switch on|off [--tenant T] [--reason TEXT] [--app-dir DIR]
    glassbox kill-switch status [--app-dir DIR]

They act on the state the apps use, found from one place, or refuse: with GLASSBOX_STATE_URL, the fleet's database
(every process on every host); without it, the files state, whose relative paths (GLASSBOX_KILL_SWITCH_FILE,
GLASSBOX_BUDGETS_STATE, by default under ``.glassbox/``) start from ``--app-dir``, else GLASSBOX_APP_DIR. When
neither is given and a path is relative, the command refuses (exit 2) rather than change a file under its own
working directory that no app reads. Each command says which state it acted on (absolute paths, or the database
with its password masked) and how many processes watch it (their guard obeys it: glassbox.state.watch). A kill
switch turned on that no process watches is still on, for the apps that start later, but the command warns on
stderr and exits with 3 (NOBODY_WATCHING): no running app was stopped. Every change is an audit event with its
actor (this OS account), before and after; with GLASSBOX_STATE_URL the change and its success event are one
transaction of the database.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from glassbox import attribution, settings
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.audit import events, store
from glassbox.cli.operator import actor
from glassbox.guard import budgets, core
from glassbox.state import EVERY_TENANT, TOTAL_BUDGET, ChangeConflict, State, StateUnavailable

# Attempts at a budget change that lost a race with another change (the database refuses a stale "before").
CHANGE_ATTEMPTS = 3
# Exit status of a kill switch turned on that no running process is known to obey.
NOBODY_WATCHING = 3
# Exit status of a command that refuses to guess where the state is (argparse's for a usage error too).
REFUSED = 2
# Watchers named one by one, at most.
WATCHERS_SHOWN = 10


def _app_dir(raw: str) -> str:
    if not os.path.isabs(raw):
        raise argparse.ArgumentTypeError(f"{raw!r} is not an absolute directory")
    return raw


def open_apps_state(command: str, app_dir: str, spend: bool) -> State | None:
    """The state the apps use, as GLASSBOX_STATE_URL or the files state's settings and ``app_dir`` name it, made
    this process's state (never one of its watchers); None, the reason on stderr, when its place would be a guess:
    a relative path with neither ``app_dir`` nor GLASSBOX_APP_DIR, or (``spend``) no spend file at all."""
    if not settings.STATE_URL.get():
        spend_file, _, guessed = state_module.files_paths(app_dir)
        if guessed:
            relative = [
                f"{setting.env}={setting.get()}"
                for setting in (settings.KILL_SWITCH_FILE, settings.BUDGETS_STATE, settings.APP_DIR)
                if setting.get() and not Path(setting.get()).is_absolute()
            ]
            are = "is" if len(relative) == 1 else "are"
            print(
                f"{command}: refused: {' and '.join(relative)} {are} relative to an app's working directory, not to "
                f"this command's ({Path.cwd()}), so which files the apps read is not known here. Give --app-dir DIR "
                "or set "
                "GLASSBOX_APP_DIR to the apps' working directory (the files are then under DIR/.glassbox/ by "
                "default), or set these settings to the absolute paths each app logs at start-up ('glassbox: this "
                "process obeys the kill switch and budgets of the files state: ...'). If the apps share a "
                "PostgreSQL state, set GLASSBOX_STATE_URL as they have it.",
                file=sys.stderr,
            )
            return None
        if spend and spend_file is None:
            print(
                f"{command}: refused: GLASSBOX_BUDGETS_STATE is empty: each app counts its spend in its own memory, "
                "which no command can read or change; set it (absolute) as the apps have it",
                file=sys.stderr,
            )
            return None
    state = state_module.open_state(app_dir)
    previous = state_module.use(state)
    if previous is not None:
        previous.close()
    return state


def audit_in_the_apps_log(command: str, app_dir: str) -> bool:
    """Make the apps' audit log this command's, for the events of its change (never one with a key of its own,
    never under this command's working directory unless that is where the apps' settings put it); False, the
    reason on stderr, when where the apps keep it would be a guess. A change nobody can audit is not made."""
    log, why = store.operator_log(app_dir=app_dir)
    if log is None:
        print(f"{command}: refused: where the apps keep their audit log is not known here: {why}", file=sys.stderr)
        return False
    spool = settings.app_path(settings.AUDIT_SPOOL_DIR.get(), app_dir)
    events.use_log(log, spool_dir=None if store.central() else spool)
    return True


def report_watchers(command: str, state: State) -> int:
    """Say which processes watch ``state`` (stdout), or warn that none does (stderr); how many (-1: unknown)."""
    try:
        found = state.watchers()
    except (StateUnavailable, OSError) as error:
        print(f"{command}: WARNING: cannot tell which processes watch {state.location}: {error}", file=sys.stderr)
        return -1
    if not found:
        print(
            f"{command}: WARNING: no process is watching {state.location}: no running app obeys it. Each app logs "
            "the state it obeys at start-up ('glassbox: this process obeys the kill switch and budgets of ...'): "
            "if theirs is another, set GLASSBOX_STATE_URL, GLASSBOX_APP_DIR or --app-dir as they have it.",
            file=sys.stderr,
        )
        return 0
    shown = "; ".join(found[:WATCHERS_SHOWN]) + ("; ..." if len(found) > WATCHERS_SHOWN else "")
    plural = "process" if len(found) == 1 else "processes"
    print(f"  {len(found)} {plural} watching it, each obeying within {state.obeyed_within:g} s: {shown}")
    return len(found)


def _tenant(raw: str) -> str:
    if raw != EVERY_TENANT and attribution.validate(c.TENANT_ID, raw) != raw:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a valid tenant id (up to 64 of A-Z a-z 0-9 . _ : @ + -)")
    return raw


def _usd(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not an amount of USD") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{raw!r} must be a finite amount of USD >= 0")
    return value


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def _list(state: State) -> int:
    budgets.configure()
    read = getattr(state, "read_budgets", state.budgets)
    kept = read()
    file = budgets.current()
    file_limits = {**(file.limits if file else {}), **({TOTAL_BUDGET: file.total} if file and file.total else {})}
    named = list(dict.fromkeys([*kept, *file_limits]))
    spent = state.spend_by_tenant(budgets.today())
    print(f"{'tenant':<24} {'day USD':>10} {'month USD':>10} {'source':<6} {'spent today':>12} {'this month':>12}")
    for tenant in sorted(named):
        source = "state" if tenant in kept else "file"
        limits = kept[tenant] if tenant in kept else file_limits.get(tenant, {})
        used = spent.get(tenant, {})
        print(
            f"{tenant:<24} {_money(limits.get(c.BUDGET_PERIOD_DAY)):>10} "
            f"{_money(limits.get(c.BUDGET_PERIOD_MONTH)):>10} {source:<6} "
            f"{used.get(c.BUDGET_PERIOD_DAY, 0.0):>12.6f} {used.get(c.BUDGET_PERIOD_MONTH, 0.0):>12.6f}"
        )
    print("a tenant's entry in the state replaces its entry in the file; spent: what the state counted, budget or not")
    print(f"state: {state.backend} ({state.scope}): {state.location}")
    report_watchers("budgets", state)
    return 0


def _change(state: State, tenant: str, limits: dict[str, float] | None) -> int:
    from glassbox.audit.events import audit, build_event, record_chained_elsewhere

    fields: dict[str, Any] = {
        "actor": actor(),
        "resource": {"type": "budget", "id": tenant},
        "tenant": None if tenant in (EVERY_TENANT, TOTAL_BUDGET) else tenant,
    }
    audit("budget.change", outcome="attempt", after=limits, **fields)
    try:
        if state.audits_changes:  # the change and its success event in one transaction
            for attempt in range(1, CHANGE_ATTEMPTS + 1):
                before = getattr(state, "read_budgets", state.budgets)().get(tenant)
                success = build_event("budget.change", outcome="success", before=before, after=limits, **fields)
                try:
                    state.set_budget(tenant, limits, success)
                except ChangeConflict:
                    if attempt == CHANGE_ATTEMPTS:
                        raise
                    continue
                record_chained_elsewhere(success)
                break
        else:
            before = state.set_budget(tenant, limits)
            audit("budget.change", outcome="success", before=before, after=limits, **fields)
    except StateUnavailable as error:
        audit("budget.change", outcome="failure", reason=str(error), after=limits, **fields)
        print(f"budgets: not changed: {error}", file=sys.stderr)
        return 1
    print(f"budgets: {tenant}: {before or 'none'} -> {limits or 'none (the file applies)'}")
    print(f"  in the {state.backend} state: {state.location}")
    report_watchers("budgets", state)
    return 0


def _kill_switch(args: argparse.Namespace) -> int:
    state = open_apps_state("kill switch", args.app_dir or "", spend=False)
    if state is None:
        return REFUSED
    if args.action == "status":
        switches = state.kill_switches()
        if not switches:
            print("kill switch: off for every tenant")
        for switch in switches:
            scope = f"tenant {switch.tenant}" if switch.tenant else "every tenant"
            print(f"kill switch: ON for {scope} since {switch.since} by {switch.actor or '?'}: {switch.reason or ''}")
        print(f"  in the {state.backend} state: {state.location}")
        report_watchers("kill switch", state)
        return 0
    if not audit_in_the_apps_log("kill switch", args.app_dir or ""):
        return REFUSED
    try:
        core.set_kill_switch(args.action == "on", actor=actor(), reason=args.reason, tenant=args.tenant)
    except (StateUnavailable, OSError) as error:
        print(f"kill switch: not changed: {error}", file=sys.stderr)
        return 1
    scope = f"tenant {args.tenant}" if args.tenant else "every tenant"
    print(f"kill switch: {args.action.upper()} for {scope} in the {state.backend} state: {state.location}")
    watching = report_watchers("kill switch", state)
    return NOBODY_WATCHING if args.action == "on" and watching <= 0 else 0


APP_DIR_HELP = (
    "the apps' working directory, absolute, where the files state's relative paths start (default: GLASSBOX_APP_DIR; "
    "without either, a relative GLASSBOX_KILL_SWITCH_FILE or GLASSBOX_BUDGETS_STATE is refused)"
)


def budgets_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox budgets", description="Tenant budgets kept in the shared state.")
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="every budget, where it comes from, and what was spent")
    setting = commands.add_parser("set", help="set a tenant's budgets (periods not given keep their value)")
    setting.add_argument("tenant", type=_tenant, nargs="?")
    setting.add_argument("--total", action="store_true", help="the budget of every tenant together")
    setting.add_argument("--day", type=_usd, help="USD per UTC day")
    setting.add_argument("--month", type=_usd, help="USD per UTC month")
    removing = commands.add_parser("remove", help="remove a tenant's entry from the state (the file applies)")
    removing.add_argument("tenant", type=_tenant, nargs="?")
    removing.add_argument("--total", action="store_true", help="the budget of every tenant together")
    for command in (listing, setting, removing):
        command.add_argument("--app-dir", type=_app_dir, help=APP_DIR_HELP)
    args = parser.parse_args(argv)
    if args.command != "list":
        if bool(args.tenant) == bool(args.total):
            parser.error(f"{args.command}: name a TENANT or give --total")
        args.tenant = TOTAL_BUDGET if args.total else args.tenant
    if args.command == "set" and args.day is None and args.month is None:
        parser.error("set: give --day, --month or both")
    state = open_apps_state("budgets", args.app_dir or "", spend=True)
    if state is None:
        return REFUSED
    if args.command != "list" and not audit_in_the_apps_log("budgets", args.app_dir or ""):
        return REFUSED
    try:
        if args.command == "list":
            return _list(state)
        if args.command == "remove":
            return _change(state, args.tenant, None)
        limits = dict(getattr(state, "read_budgets", state.budgets)().get(args.tenant, {}))
        limits.update(
            {p: v for p, v in ((c.BUDGET_PERIOD_DAY, args.day), (c.BUDGET_PERIOD_MONTH, args.month)) if v is not None}
        )
        return _change(state, args.tenant, budgets.check_limits(args.tenant, limits))
    except StateUnavailable as error:
        print(f"budgets: {error}", file=sys.stderr)
        return 1


def kill_switch_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox kill-switch", description="Turn AI calls off or on, audited.")
    parser.add_argument("action", choices=["on", "off", "status"])
    parser.add_argument("--tenant", type=_tenant, help="only this tenant's calls (default: every tenant)")
    parser.add_argument("--reason", help="why (recorded with the switch and in the audit trail)")
    parser.add_argument("--app-dir", type=_app_dir, help=APP_DIR_HELP)
    args = parser.parse_args(argv)
    try:
        return _kill_switch(args)
    except StateUnavailable as error:
        print(f"kill switch: {error}", file=sys.stderr)
        return 1
