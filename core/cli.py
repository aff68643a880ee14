"""Headless commands: record, stats, export, order-flow, sim. None of them imports Qt.

Every error a user can cause ends as one sentence on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path

from core.logsetup import LEVELS, setup_logging
from core.paths import default_db_path

log = logging.getLogger(__name__)

HEADLESS_COMMANDS = ("record", "stats", "export", "order-flow", "sim")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_FAILED = 1


class UserError(Exception):
    """A problem the user can fix; its message is printed as is."""


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help=f"database directory (default {default_db_path()})"
    )


def _add_endpoints(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ws-url", default=None, help="WebSocket base, e.g. wss://stream.binance.com:9443")
    parser.add_argument("--rest-url", default=None, help="REST base, e.g. https://api.binance.com")
    parser.add_argument(
        "--preset", default=None, help="endpoint preset: binance, binance-us, testnet, binance-data"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="depthbook", description="Watch and record Binance order books.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--log-level",
        default=None,
        type=str.upper,
        choices=LEVELS,
        help="DEBUG, INFO, WARNING or ERROR (default: INFO for record, else WARNING)",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    rec = sub.add_parser("record", parents=[common], help="record top-N snapshots every second, headless")
    rec.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT (up to 200)")
    _add_db(rec)
    _add_endpoints(rec)
    rec.add_argument("--interval", type=int, default=1, help="seconds between snapshots (default 1)")
    rec.add_argument("--depth", type=int, default=20, help="levels per side in each snapshot (default 20)")
    rec.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    rec.add_argument("--snapshot-limit", type=int, default=1000, help="REST snapshot depth (default 1000)")
    rec.add_argument("--status-every", type=float, default=10.0, help="seconds between status lines")
    rec.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="delete snapshots older than this, hourly (default: keep all)",
    )
    rec.add_argument(
        "--retention",
        default=None,
        metavar="SYMBOL=DAYS,...",
        help="per-symbol retention over --retention-days, e.g. BTCUSDT=30,DOGEUSDT=2 (DAYS 'keep': keep all)",
    )

    stats = sub.add_parser("stats", parents=[common], help="what is stored, per symbol")
    _add_db(stats)
    stats.add_argument("--symbol", default=None)
    stats.add_argument("--json", action="store_true")

    exp = sub.add_parser("export", parents=[common], help="export snapshots as wide rows (CSV or Parquet)")
    _add_db(exp)
    exp.add_argument("--symbol", required=True)
    exp.add_argument("--start", required=True, help="ISO 8601 or Unix seconds")
    exp.add_argument("--end", required=True, help="ISO 8601 or Unix seconds")
    exp.add_argument("--format", choices=("csv", "parquet"), default="csv")
    exp.add_argument("--out", type=Path, required=True)

    flow = sub.add_parser("order-flow", parents=[common], help="bid/ask pressure over a recorded window")
    _add_db(flow)
    flow.add_argument("--symbol", required=True)
    flow.add_argument("--window", type=int, default=60, help="seconds, 10 to 300 (default 60)")
    flow.add_argument(
        "--end", default=None, help="window end, ISO 8601 or Unix seconds (default: last stored)"
    )
    flow.add_argument("--json", action="store_true")

    sub.add_parser("sim", help="run the built-in exchange simulator (depthbook sim --help)", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:  # the simulator owns its options (python -m core.simulator is the same)
        from core.simulator.__main__ import main as sim_main

        return sim_main(argv[1:])
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level or ("INFO" if args.command == "record" else "WARNING"))
    try:
        if args.command == "record":
            from core.commands.record import run_record

            return _run_async(run_record(args))
        from core.commands import query

        return {"stats": query.run_stats, "export": query.run_export, "order-flow": query.run_order_flow}[
            args.command
        ](args)
    except UserError as exc:
        print(f"depthbook: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK


def _run_async(coro) -> int:
    """Run a command's coroutine; SIGINT and SIGTERM set its stop event instead of raising."""
    return asyncio.run(coro)


def install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not on the main thread (tests) or not POSIX: Ctrl-C then raises KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def split_symbols(text: str) -> list[str]:
    symbols = [s.strip().upper() for s in text.split(",") if s.strip()]
    if not symbols:
        raise UserError("give at least one symbol, e.g. --symbols BTCUSDT,ETHUSDT")
    return list(dict.fromkeys(symbols))
