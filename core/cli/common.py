"""What every command shares: exit codes, the one-sentence user error, and the flags several commands take."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from core.logsetup import LEVELS
from core.paths import default_db_path
from core.storage.store import SnapshotStorage, StorageError
from core.timeparse import parse_time

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and failed (the exchange refused, a background task died)
EXIT_USAGE = 2  # the user asked for something that cannot work (a bad flag, a missing database)


class UserError(Exception):
    """A problem the user can fix; its message is printed as is, after "depthbook: "."""


def add_log_level(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--log-level",
        default=default,
        type=str.upper,
        choices=LEVELS,
        help=f"DEBUG, INFO, WARNING or ERROR (default {default})",
    )


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", type=Path, default=None, help=f"database directory (default {default_db_path()})"
    )


def add_endpoints(parser: argparse.ArgumentParser, *, simulator: bool = False) -> None:
    presets = "binance, binance-us, testnet, binance-data" + (", simulator" if simulator else "")
    parser.add_argument("--ws-url", default=None, help="WebSocket base, e.g. wss://stream.binance.com:9443")
    parser.add_argument("--rest-url", default=None, help="REST base, e.g. https://api.binance.com")
    parser.add_argument("--preset", default=None, help=f"endpoint preset: {presets}")


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop` instead of raising, so the command stops cleanly."""
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


def open_read_only(db: Path | None) -> SnapshotStorage:
    path = db or default_db_path()
    if not path.exists():
        raise UserError(f"there is no database at {path} (record something first, or pass --db)")
    try:
        return SnapshotStorage.open(path, mode="read_only")
    except StorageError as exc:
        raise UserError(str(exc)) from None


def time_arg(text: str) -> int:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None
