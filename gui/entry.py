"""The `depthbook` command.

Headless subcommands (record, stats, export, order-flow, sim) run from `core.cli` and never import Qt,
so they work on a server without any display libraries. Anything else starts the desktop app.
"""

from __future__ import annotations

import sys

from core.cli import HEADLESS_COMMANDS
from core.cli import main as headless_main


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in HEADLESS_COMMANDS:
        return headless_main(args)
    from gui.app import run_app  # Qt is imported only here

    return run_app(args)


if __name__ == "__main__":
    sys.exit(main())
