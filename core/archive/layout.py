"""Where an hour lives in an archive: the hive-style keys, and the staging keys uploads go through.

    market=spot/symbol=BTCUSDT/date=2026-12-02/hour=13.parquet     one completed UTC hour of one symbol
    _staging/spot-BTCUSDT-2026-12-02T13.<nonce>.partial                   an upload not yet verified

Staging objects sit in one flat folder (S3 clients make a folder marker for every parent they empty). Keys are relative to the archive's root (a bucket and prefix, or a directory). `market`, `symbol` and `date` are
hive partitions (DuckDB, pyarrow.dataset and Spark read them as columns); the hour is in the file name, and in
the file's `ts` column. A staging key starts with `_` (pyarrow.dataset and Spark skip such paths) and does not
end in `.parquet` (no `**/*.parquet` glob matches it), so an engine never reads an upload in progress.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from core.market.markets import MARKETS as MARKET_NAMES
from core.market.markets import market_named
from core.storage.keys import parse_storage_symbol, storage_symbol

HOUR = 3600
STAGING_DIR = "_staging"
MARKETS = tuple(MARKET_NAMES)  # spot, usdm: core.market.markets

_HOUR_KEY = re.compile(
    r"market=(?P<market>[a-z0-9_-]+)/symbol=(?P<symbol>[A-Za-z0-9._-]+)/"
    r"date=(?P<date>\d{4}-\d{2}-\d{2})/hour=(?P<hour>\d{2})\.parquet"
)


@dataclass(frozen=True, slots=True, order=True)
class HourKey:
    """One archived hour: market, symbol and the Unix second its hour starts at (a multiple of 3600)."""

    market: str
    symbol: str
    start: int

    def __post_init__(self) -> None:
        if self.start % HOUR:
            raise ValueError(f"an archive hour starts on a whole hour, got {self.start}")

    @property
    def end(self) -> int:
        """The hour's last second (inclusive)."""
        return self.start + HOUR - 1

    @property
    def path(self) -> str:
        when = datetime.fromtimestamp(self.start, UTC)
        return (
            f"market={self.market}/symbol={self.symbol}/date={when:%Y-%m-%d}/hour={when:%H}.parquet"
        )

    @property
    def symbol_dir(self) -> str:
        return symbol_dir(self.market, self.symbol)

    @property
    def stored_symbol(self) -> str:
        """The name the database keeps this hour's symbol under: BTCUSDT (spot), usdm/BTCUSDT (futures)."""
        return storage_symbol(market_named(self.market), self.symbol)

    def staging_path(self, nonce: str) -> str:
        when = datetime.fromtimestamp(self.start, UTC)
        return f"{STAGING_DIR}/{self.market}-{self.symbol}-{when:%Y-%m-%dT%H}.{nonce}.partial"

    @property
    def label(self) -> str:
        """`BTCUSDT 2026-12-02 13:00Z`, for progress lines."""
        return f"{self.symbol} {datetime.fromtimestamp(self.start, UTC):%Y-%m-%d %H:00}Z"


def hour_key(stored_symbol: str, start: int) -> HourKey:
    """The archive hour of a symbol as the database names it: usdm/BTCUSDT -> market=usdm/symbol=BTCUSDT."""
    market, symbol = parse_storage_symbol(stored_symbol)
    return HourKey(market.name, symbol, start)


def symbol_dir(market: str, symbol: str) -> str:
    return f"market={market}/symbol={symbol}"


def hour_start(ts: int) -> int:
    return ts - ts % HOUR


def hours_between(start: int, end: int) -> range:
    """The starts of the hours that hold any second of [start, end]."""
    if end < start:
        return range(0)
    return range(hour_start(start), hour_start(end) + 1, HOUR)


def parse_hour_path(path: str) -> HourKey | None:
    """The HourKey of a relative key in the layout, None for anything else (staging objects, stray files)."""
    match = _HOUR_KEY.fullmatch(path)
    if match is None:
        return None
    try:
        day = datetime.strptime(match["date"], "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    hour = int(match["hour"])
    if hour > 23:
        return None
    return HourKey(match["market"], match["symbol"], int(day.timestamp()) + hour * HOUR)
