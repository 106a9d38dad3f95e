"""Every operator command: ``glassbox doctor | story | audit | budgets | kill-switch | state`` and the README's
settings table. Imports anything; the runtime never imports it."""

from glassbox.cli.main import main

__all__ = ["main"]
