"""`depthbook` with the `archive` command registered, for tests (until core/cli/main.py lists it)."""

from __future__ import annotations

from core.cli import archive
from core.cli import main as cli_main


def main(argv: list[str]) -> int:
    cli_main.COMMANDS.setdefault("archive", archive)
    return cli_main.main(argv)
