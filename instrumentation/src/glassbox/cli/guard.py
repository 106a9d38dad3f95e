"""`glassbox budgets` and `glassbox kill-switch`: change the guard's shared state, audited.

    glassbox budgets list
    glassbox budgets set TENANT [--day USD] [--month USD]      (TENANT may be "*": every tenant not named)
    glassbox budgets set --total [--day USD] [--month USD]     (every tenant together)
    glassbox budgets remove TENANT | --total
    glassbox kill-switch on|off [--tenant T] [--reason TEXT]
    glassbox kill-switch status

They act on the state the settings name: with GLASSBOX_STATE_URL, every process on every host (the kill switch
is obeyed within a second); without it, the processes of this host (GLASSBOX_BUDGETS_STATE,
GLASSBOX_KILL_SWITCH_FILE). Every change is an audit event with its actor (this OS account), before and after;
with GLASSBOX_STATE_URL the change and its success event are one transaction of the database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from glassbox import attribution
from glassbox import conventions as c
from glassbox import state as state_module
from glassbox.cli.operator import actor
from glassbox.guard import budgets, core
from glassbox.state import EVERY_TENANT, TOTAL_BUDGET, ChangeConflict, StateUnavailable

# Attempts at a budget change that lost a race with another change (the database refuses a stale "before").
CHANGE_ATTEMPTS = 3


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


def _list() -> int:
    budgets.configure()
    state = state_module.get()
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
    print(f"state: {state.backend} ({state.scope}); a tenant's entry in the state replaces its entry in the file")
    return 0


def _change(tenant: str, limits: dict[str, float] | None) -> int:
    from glassbox.audit.events import audit, build_event, record_chained_elsewhere

    fields: dict[str, Any] = {
        "actor": actor(),
        "resource": {"type": "budget", "id": tenant},
        "tenant": None if tenant in (EVERY_TENANT, TOTAL_BUDGET) else tenant,
    }
    audit("budget.change", outcome="attempt", after=limits, **fields)
    state = state_module.get()
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
    return 0


def _kill_switch(args: argparse.Namespace) -> int:
    state = state_module.get()
    if args.action == "status":
        switches = state.kill_switches()
        if not switches:
            print("kill switch: off for every tenant")
        for switch in switches:
            scope = f"tenant {switch.tenant}" if switch.tenant else "every tenant"
            print(f"kill switch: ON for {scope} since {switch.since} by {switch.actor or '?'}: {switch.reason or ''}")
        return 0
    try:
        core.set_kill_switch(args.action == "on", actor=actor(), reason=args.reason, tenant=args.tenant)
    except (StateUnavailable, OSError) as error:
        print(f"kill switch: not changed: {error}", file=sys.stderr)
        return 1
    scope = f"tenant {args.tenant}" if args.tenant else "every tenant"
    where = "every host" if state.backend == "postgresql" else "this host"
    print(f"kill switch: {args.action} for {scope} on {where}")
    return 0


def budgets_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox budgets", description="Tenant budgets kept in the shared state.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="every budget, where it comes from, and what was spent")
    setting = commands.add_parser("set", help="set a tenant's budgets (periods not given keep their value)")
    setting.add_argument("tenant", type=_tenant, nargs="?")
    setting.add_argument("--total", action="store_true", help="the budget of every tenant together")
    setting.add_argument("--day", type=_usd, help="USD per UTC day")
    setting.add_argument("--month", type=_usd, help="USD per UTC month")
    removing = commands.add_parser("remove", help="remove a tenant's entry from the state (the file applies)")
    removing.add_argument("tenant", type=_tenant, nargs="?")
    removing.add_argument("--total", action="store_true", help="the budget of every tenant together")
    args = parser.parse_args(argv)
    if args.command != "list":
        if bool(args.tenant) == bool(args.total):
            parser.error(f"{args.command}: name a TENANT or give --total")
        args.tenant = TOTAL_BUDGET if args.total else args.tenant
    try:
        if args.command == "list":
            return _list()
        if args.command == "remove":
            return _change(args.tenant, None)
        if args.day is None and args.month is None:
            parser.error("set: give --day, --month or both")
        limits = dict(state_module.get().budgets().get(args.tenant, {}))
        limits.update(
            {p: v for p, v in ((c.BUDGET_PERIOD_DAY, args.day), (c.BUDGET_PERIOD_MONTH, args.month)) if v is not None}
        )
        return _change(args.tenant, budgets.check_limits(args.tenant, limits))
    except StateUnavailable as error:
        print(f"budgets: {error}", file=sys.stderr)
        return 1


def kill_switch_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassbox kill-switch", description="Turn AI calls off or on, audited.")
    parser.add_argument("action", choices=["on", "off", "status"])
    parser.add_argument("--tenant", type=_tenant, help="only this tenant's calls (default: every tenant)")
    parser.add_argument("--reason", help="why (recorded with the switch and in the audit trail)")
    args = parser.parse_args(argv)
    try:
        return _kill_switch(args)
    except StateUnavailable as error:
        print(f"kill switch: {error}", file=sys.stderr)
        return 1
