"""What every command shares: exit codes, the one-sentence user error, the flags several commands take, and
the argparse types that check every flag's value as it is parsed.

A bad value ends the command before anything starts: one sentence on stderr, exit status 2, never a
traceback. The limits of recording settings come from core.recording.config (one source of truth with
RecordingConfig and the app's settings).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from core.logsetup import LEVELS
from core.market.markets import SPOT, Market, market_named
from core.paths import default_db_path
from core.recording.config import check_symbol, parse_symbols
from core.storage.keys import MAX_TIMESTAMP, parse_storage_symbol, storage_symbol
from core.storage.retention import check_days
from core.storage.store import SnapshotStorage, StorageError
from core.timeparse import parse_time

T = TypeVar("T")

EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and failed (the exchange refused, a background task died)
EXIT_USAGE = 2  # the user asked for something that cannot work (a bad flag, a missing database)


class UserError(Exception):
    """A problem the user can fix; its message is printed as is, after "depthbook: "."""


def no_snapshots(symbol: str, storage) -> UserError:
    """"no snapshots of SYMBOL in PATH", naming the same exchange symbol's book of another market when the
    database holds one (BTCUSDT asked, usdm/BTCUSDT stored)."""
    exchange_symbol = parse_storage_symbol(symbol)[1]
    others = [s for s in storage.symbols() if s != symbol and parse_storage_symbol(s)[1] == exchange_symbol]
    hint = f"; it holds {' and '.join(others)} (--symbol {others[0]})" if others else ""
    return UserError(f"no snapshots of {symbol} in {storage.path}{hint}")


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
        "--db", type=db_path, default=None, help=f"database directory (default {default_db_path()})"
    )


def add_endpoints(parser: argparse.ArgumentParser, *, simulator: bool = False) -> None:
    presets = "binance, binance-us, testnet, binance-data, binance-usdm" + (", simulator" if simulator else "")
    parser.add_argument("--ws-url", default=None, help="WebSocket base, e.g. wss://stream.binance.com:9443")
    parser.add_argument("--rest-url", default=None, help="REST base, e.g. https://api.binance.com")
    parser.add_argument("--preset", default=None, help=f"endpoint preset: {presets}")
    add_market(parser, default=None)


def add_market(parser: argparse.ArgumentParser, default: str | None = "spot", stores: bool = True) -> None:
    """`--market spot|usdm`; None as the default lets a preset decide (binance-usdm is USDⓈ-M futures).
    `stores`: the command records (the help says how futures books are stored)."""
    parser.add_argument(
        "--market",
        type=market,
        default=default,
        help=("spot or usdm (Binance USDⓈ-M futures; stored as usdm/SYMBOL)" if stores else "spot or usdm (Binance "
              "USDⓈ-M futures: /fapi/v1, pu chains, its weights)")
        + (" (default: the preset's, spot)" if default is None else f" (default: {default})"),
    )  # fmt: skip


def market(text: str) -> Market:
    """A market name: spot or usdm."""
    try:
        return market_named(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def run_headless(main: Coroutine[Any, Any, T]) -> T:
    """Run a headless command on uvloop's event loop where it is installed (a dependency on Linux and macOS),
    else on asyncio's. The recorder's every received frame goes through the loop (a socket read, a protocol
    callback): uvloop's spends less CPU on it (docs/PERFORMANCE.md, "Session 19")."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def install_stop_signals(stop: asyncio.Event) -> None:
    """SIGINT and SIGTERM set `stop` instead of raising, so the command stops cleanly."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Not on the main thread (tests) or not POSIX: Ctrl-C then raises KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # ValueError: uvloop's
            loop.add_signal_handler(sig, stop.set)


def split_symbols(text: str | list[str]) -> list[str]:
    """Symbols from a comma-separated text (or already parsed by the `symbols` type); UserError if none or
    one is not a valid name."""
    try:
        symbols = parse_symbols(text) if isinstance(text, str) else list(text)
    except ValueError as exc:
        raise UserError(str(exc).rstrip(".")) from None
    if not symbols:
        raise UserError("give at least one symbol, e.g. --symbols BTCUSDT,ETHUSDT")
    return symbols


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
        return unix_time(text)
    except argparse.ArgumentTypeError as exc:
        raise UserError(str(exc)) from None


# ---- argparse types: each returns the parsed value or raises ArgumentTypeError with the reason -----------------
#
# argparse prints "argument --flag: REASON"; `core.cli.main` turns that into one line and exit status 2.


def _argtype(name: str, parse: Callable[[str], object]) -> Callable[[str], object]:
    parse.__name__ = name  # argparse names the type in some messages
    return parse


def whole(bounds: tuple[int, int], unit: str = "") -> Callable[[str], int]:
    """A whole number within `bounds` (inclusive)."""
    low, high = bounds

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            what = f"a whole number of {unit}" if unit else "a whole number"
            raise argparse.ArgumentTypeError(f"must be {what} from {low} to {high}, got {text!r}")
        return value

    return _argtype("whole", parse)  # type: ignore[return-value]


def positive_int(text: str) -> int:
    return whole((1, 2**63 - 1))(text)


def at_least(minimum: float, maximum: float, unit: str) -> Callable[[str], float]:
    """A finite number of `unit` from `minimum` to `maximum` (NaN and infinity are refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be a number of {unit} from {minimum:g} to {maximum:g}, got {text!r}")
        return value

    return _argtype("number", parse)  # type: ignore[return-value]


def positive_float(text: str) -> float:
    """A finite number above zero (NaN and infinity are refused)."""
    try:
        value = float(text.strip())
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number above 0, got {text!r}")
    return value


def port(text: str) -> int:
    """A TCP port, 0 (any free one) to 65535."""
    return whole((0, 65535))(text)


def symbol(text: str) -> str:
    """One stored symbol: as Binance names them (ASCII letters, digits, '-', '_', '.', at most 20; upper-cased),
    a futures one with its market before a '/': usdm/BTCUSDT (core.storage.keys.storage_symbol)."""
    prefix, slash, name = text.strip().rpartition("/")
    try:
        market_of = market_named(prefix) if slash else SPOT
        return storage_symbol(market_of, check_symbol(name))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None


def symbols(text: str) -> list[str]:
    """Comma-separated symbols, at least one, each a valid name; duplicates dropped."""
    try:
        found = parse_symbols(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None
    if not found:
        raise argparse.ArgumentTypeError("give at least one symbol, e.g. BTCUSDT,ETHUSDT")
    return found


def quote_assets(text: str) -> frozenset[str]:
    """Comma-separated quote assets (USDT,FDUSD), at least one; upper-cased, each named as a symbol would be."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one quote asset, e.g. USDT or USDT,FDUSD")
    try:
        return frozenset(check_symbol(name) for name in names)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"quote assets are ASCII letters and digits like USDT, got {text.strip()!r}"
        ) from None


MAX_SHARDS = 1000


def shard(text: str) -> tuple[int, int]:
    """`K/N`: the K-th of N shards, 1 <= K <= N <= MAX_SHARDS."""
    k, sep, n = text.strip().partition("/")
    if not sep or not (k.isascii() and k.isdigit() and n.isascii() and n.isdigit()):
        raise argparse.ArgumentTypeError(f"must be K/N like 1/4 (the first of four shards), got {text!r}")
    if not 1 <= int(n) <= MAX_SHARDS or not 1 <= int(k) <= int(n):
        raise argparse.ArgumentTypeError(
            f"must be K/N with N from 1 to {MAX_SHARDS} and K from 1 to N, got {text!r}"
        )
    return int(k), int(n)


def days(text: str) -> int:
    """Whole days for retention, at least 1."""
    try:
        value = int(text.strip())
    except ValueError:
        value = None
    try:
        return check_days(value if value is not None else text, "retention")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("retention ")) from None


def _blocking_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is not a directory (nothing can be created there)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def db_path(text: str) -> Path:
    """A database directory: an existing directory, or a path whose parent is (or can be made) a directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a directory, got an empty path")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is a file, not a database directory")
    blocking = _blocking_ancestor(path)
    if blocking is not None:
        raise argparse.ArgumentTypeError(f"{str(blocking)!r} is a file, so there can be no database under it")
    return path


def out_file(text: str) -> Path:
    """A file to write: not a directory, in a directory that exists."""
    if not text.strip():
        raise argparse.ArgumentTypeError("needs a file name, got an empty path")
    path = Path(text).expanduser()
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{str(path)!r} is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        what = "is a file" if parent.exists() else "does not exist"
        raise argparse.ArgumentTypeError(f"the directory {str(parent)!r} {what}")
    return path


def unix_time(text: str) -> int:
    """ISO 8601 or Unix seconds, between 1970 and the last second a key can hold (2286)."""
    try:
        value = parse_time(text)
    except (ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 0 <= value <= MAX_TIMESTAMP:
        hint = " (milliseconds? give seconds)" if value > MAX_TIMESTAMP else ""
        raise argparse.ArgumentTypeError(
            f"{text.strip()!r} is outside the times a recording can hold (1970 to 2286){hint}"
        )
    return value
