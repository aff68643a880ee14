"""`depthbook [app]`: the desktop app's flags. Parsing is here (no Qt); `gui.entry` runs the app."""

from __future__ import annotations

import argparse

from core.cli.common import add_endpoints, add_log_level, db_path, positive_float


def add_parser(sub) -> None:
    parser = sub.add_parser("app", help="the desktop app (the default when no command is given)")
    parser.add_argument("--db", type=db_path, default=None, help="database directory")
    parser.add_argument("--demo", action="store_true", help="run against the built-in exchange simulator")
    add_endpoints(parser, simulator=True)
    # Checked by gui.config.build_config (the same check as every other symbol flag), so the app can say it
    # in its own words.
    parser.add_argument(
        "--record", default=None, metavar="SYMBOLS", help="comma-separated, recorded from launch"
    )
    add_log_level(parser, "INFO")
    # Documentation screenshots: save the window and the symbols panel into DIR, then quit.
    parser.add_argument("--screenshot", default=None, metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--screenshot-after", type=positive_float, default=8.0, help=argparse.SUPPRESS)

