"""What one recording run needs to know, frozen: built once from flags, environment or saved settings.

The limits of every recording setting live here, once: `RecordingConfig` checks them, and the command line's
flag types (core.cli.common) and the app's configuration (gui.config) use the same constants and checks, so a
value is refused with the same sentence wherever it comes from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.feed.manager import MAX_SYMBOLS_CEILING
from core.market.markets import MARKETS, SPOT, Market
from core.market.wire import SYMBOL_RE
from core.storage.retention import RetentionPolicy
from core.storage.snapshot import SNAPSHOT_DEPTH

# (lowest, highest) accepted. A snapshot holds at most 100 levels a side (the contract's is 20); Binance's
# REST depth snapshot takes a limit from 1 to 5000; an interval above a day would push the next tick's second
# past what a key can hold for no use.
INTERVAL_RANGE = (1, 86_400)  # seconds between snapshots
DEPTH_RANGE = (1, 5 * SNAPSHOT_DEPTH)  # levels per side in each stored snapshot
SNAPSHOT_LIMIT_RANGE = (1, 5000)  # levels per side of the REST snapshot a book starts from
SYMBOL_MAX_LENGTH = 20  # Binance's symbol pattern: ^[A-Z0-9-_.]{1,20}$


def check_whole(value: object, bounds: tuple[int, int], what: str) -> int:
    """`value` if it is a whole number within `bounds`; else ValueError, one sentence naming `what`."""
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    return value


def check_symbol(text: str) -> str:
    """A symbol as Binance names them (ASCII letters, digits, '-', '_', '.', at most 20), upper-cased;
    ValueError, one sentence, for anything else. ASCII is checked before upper-casing: 'ß'.upper() is 'SS'."""
    symbol = text.strip()
    prefix, slash, name = symbol.partition("/")
    if slash and prefix.lower() in MARKETS and SYMBOL_RE.fullmatch(name.upper()):  # a stored name, usdm/BTCUSDT
        raise ValueError(
            f"{symbol!r} is the stored name of a {prefix.lower()} book: give the market apart, "
            f"--market {prefix.lower()} --symbols {name.upper()}."
        )
    if not symbol.isascii() or not SYMBOL_RE.fullmatch(symbol.upper()):
        raise ValueError(
            f"{symbol!r} is not a valid symbol name (ASCII letters, digits, '-', '_' or '.', at most "
            f"{SYMBOL_MAX_LENGTH} characters, like BTCUSDT)."
        )
    return symbol.upper()


def check_recording_settings(interval: object, depth: object, snapshot_limit: object) -> None:
    """ValueError, one sentence, unless the three recording settings can work together."""
    check_whole(interval, INTERVAL_RANGE, "the snapshot interval (seconds)")
    check_whole(depth, DEPTH_RANGE, "the snapshot depth (levels per side)")
    check_whole(snapshot_limit, SNAPSHOT_LIMIT_RANGE, "the REST snapshot limit (levels per side)")
    if depth > snapshot_limit:  # type: ignore[operator]
        # Only the levels a REST snapshot delivered can be vouched for: a deeper snapshot would store levels
        # nobody verified.
        raise ValueError(
            f"the snapshot depth ({depth}) cannot be above the REST snapshot limit ({snapshot_limit}): "
            "a book holds only as many verified levels as its snapshot gave"
        )


def parse_symbols(text: str) -> list[str]:
    """'btcusdt, ETHUSDT' -> ['BTCUSDT', 'ETHUSDT'] (duplicates dropped); ValueError for a bad name."""
    return list(dict.fromkeys(check_symbol(part) for part in text.split(",") if part.strip()))


@dataclass(frozen=True)
class RecordingConfig:
    """The exchange to follow, the database to write and how to record. Never changes during a run."""

    db_path: Path
    ws_url: str
    rest_url: str
    interval: int = 1  # seconds between snapshots
    depth: int = SNAPSHOT_DEPTH  # levels per side in each snapshot
    snapshot_limit: int = 1000  # REST snapshot depth
    max_symbols: int = 50  # followed at once
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    # Spot or USDⓈ-M futures: one market per run; futures symbols are stored as `usdm/SYMBOL` (docs/STORAGE.md).
    market: Market = SPOT

    def __post_init__(self) -> None:
        check_recording_settings(self.interval, self.depth, self.snapshot_limit)
        self.market.check_snapshot_limit(self.snapshot_limit)
        if not 1 <= self.max_symbols <= MAX_SYMBOLS_CEILING:
            raise ValueError(f"at most {MAX_SYMBOLS_CEILING} symbols can be followed, got {self.max_symbols}")
