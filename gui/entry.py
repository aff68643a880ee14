"""The `depthbook` command: core.cli parses every command; the desktop app (the default) runs from here.

Headless commands never import Qt, so they work on a server without any display libraries.
"""

from __future__ import annotations

import sys

from core.cli.main import main as cli_main


def _run_app(args) -> int:
    from gui.app import run_app  # Qt is imported only here

    return run_app(args)


def main(argv: list[str] | None = None) -> int:
    return cli_main(argv, run_app=_run_app)


if __name__ == "__main__":
    sys.exit(main())
