"""Regenerates the settings table in a Markdown file: ``python -m glassbox.cli.docs README.md``."""

from __future__ import annotations

import sys
from pathlib import Path

from glassbox import settings

START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def render(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{settings.markdown_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        path.write_text(render(path.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
