"""The `depthbook` command: core.cli parses every command; the desktop app (the default) runs from here.

Headless commands never import Qt, so they work on a server without any display libraries.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from core.cli.main import main as cli_main


def no_display(env: Mapping[str, str], platform: str = sys.platform) -> str | None:
    """Why no window can be shown here, or None. Without a display Qt aborts the process with advice about
    plugins that does not fit (on Linux: no DISPLAY or WAYLAND_DISPLAY, and no QT_QPA_PLATFORM chosen)."""
    if not platform.startswith("linux") or any(env.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return None
    return (
        "no display to show the app on (DISPLAY is not set): on a server, record with `depthbook record`; "
        "for the app, log in with a desktop or run it under xvfb-run"
    )


def _run_app(args) -> int:
    problem = no_display(os.environ)
    if problem is not None:
        print(f"depthbook: {problem}", file=sys.stderr)
        return 2
    from gui.app import run_app  # Qt is imported only here

    return run_app(args)


def main(argv: list[str] | None = None) -> int:
    return cli_main(argv, run_app=_run_app)


if __name__ == "__main__":
    sys.exit(main())
