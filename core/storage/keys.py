"""The key space shared by every column family keyed `SYMBOL:TS`, and the scans over it.

`TS` is the Unix second as exactly 10 digits, so the keys of one symbol sort by time, and a range of one
symbol is bounded by `SYMBOL:` and `SYMBOL;` (`;` follows `:`, so `BTCUSD` never matches `BTCUSDT`). Keys that
do not follow the layout (the reference service's `trades:` keys, for one) are skipped by every scan.

Markets: a spot symbol is stored under its own name, exactly the contract's layout (`BTCUSDT:1737158400`);
another market's symbol under `<market>/<SYMBOL>` (`usdm/BTCUSDT:1737158400`). The prefix is lowercase and spot
names are uppercase, so the two never collide, and every futures key sorts after every spot key. Every column
family keyed by symbol uses the same name, so gaps, series and counters of the two markets stay apart too.
`storage_symbol` builds the name and `parse_storage_symbol` tells the market back (docs/STORAGE.md).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

from rocksdict import Rdict, ReadOptions

from core.market.markets import MARKETS, SPOT, Market

# Keys sort in time order only while every timestamp has exactly 10 digits (until the year 2286).
MAX_TIMESTAMP = 9_999_999_999
TIMESTAMP_DIGITS = 10


MARKET_SEPARATOR = "/"


def storage_symbol(market: Market, symbol: str) -> str:
    """The name `symbol` of `market` is stored under: `BTCUSDT` on spot, `usdm/BTCUSDT` on USDⓈ-M futures."""
    return symbol if market is SPOT else f"{market.name}{MARKET_SEPARATOR}{symbol}"


def parse_storage_symbol(name: str) -> tuple[Market, str]:
    """(market, exchange symbol) of a stored name; a name without a known market prefix is spot's."""
    prefix, separator, symbol = name.partition(MARKET_SEPARATOR)
    market = MARKETS.get(prefix) if separator else None
    if market is None or market is SPOT or not symbol:
        return SPOT, name
    return market, symbol


def normal_symbol(text: str) -> str:
    """A stored name as a user may type it, spelt as it is stored: `btcusdt` -> `BTCUSDT`, `USDM/btcusdt` ->
    `usdm/BTCUSDT` (the market prefix lower case, the exchange symbol upper case)."""
    prefix, separator, symbol = text.strip().partition(MARKET_SEPARATOR)
    market = MARKETS.get(prefix.lower()) if separator else None
    if market is None or market is SPOT:
        return text.strip().upper()
    return storage_symbol(market, symbol.upper())


def snapshot_key(symbol: str, timestamp: int) -> bytes:
    """`BTCUSDT:1737158400` as ASCII bytes."""
    return key_prefix(symbol) + key_second(timestamp)


def key_second(timestamp: int) -> bytes:
    """The key's second part, `1737158400` (a batch of one tick makes it once for all its keys)."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp} does not fit the 10-digit key")
    return b"%010d" % timestamp


@functools.lru_cache(maxsize=8192)  # the recorder writes 1,500 symbols' keys several times a second
def key_prefix(symbol: str) -> bytes:
    """The key's `BTCUSDT:` part."""
    if not symbol or ":" in symbol or not symbol.isascii():
        raise ValueError(f"symbol {symbol!r} cannot be used in a key (ASCII, non-empty, no ':')")
    return f"{symbol}:".encode("ascii")


def parse_snapshot_key(key: bytes) -> tuple[str, int]:
    """Inverse of snapshot_key; ValueError for anything else (e.g. the reference service's trade keys)."""
    symbol, sep, digits = key.rpartition(b":")
    if not sep or not symbol or b":" in symbol or len(digits) != TIMESTAMP_DIGITS or not digits.isdigit():
        raise ValueError(f"{key!r} is not a snapshot key SYMBOL:SECONDS")
    try:
        return symbol.decode("ascii"), int(digits)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{key!r} is not an ASCII snapshot key") from exc


def scan(view: Rdict, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    start, end = max(start, 0), min(end, MAX_TIMESTAMP)
    if start > end:
        return
    prefix = symbol.encode("ascii") + b":"
    upper = snapshot_key(symbol, end + 1) if end < MAX_TIMESTAMP else prefix[:-1] + b";"
    read_options = ReadOptions()
    read_options.set_iterate_upper_bound(upper)
    key_length = len(prefix) + TIMESTAMP_DIGITS
    for key, value in view.items(from_key=snapshot_key(symbol, start), read_opt=read_options):
        digits = key[len(prefix) :]
        if len(key) == key_length and digits.isdigit():  # skip anything not in the key layout
            yield int(digits), value


def scan_keys(view: Rdict, prefix: bytes, lower: bytes, upper: bytes) -> Iterator[bytes]:
    """Keys in [lower, upper) that follow the SYMBOL:TS layout."""
    read_options = ReadOptions()
    read_options.set_iterate_upper_bound(upper)
    key_length = len(prefix) + TIMESTAMP_DIGITS
    for key in view.keys(from_key=lower, read_opt=read_options):
        if len(key) == key_length and key[len(prefix) :].isdigit():
            yield key


def edges(view: Rdict, symbol: str, from_key: bytes | None = None) -> tuple[int, int] | None:
    """First (at or after from_key) and last second of a symbol, by two seeks; None if there is none."""
    prefix = symbol.encode("ascii") + b":"
    first = next(scan_keys(view, prefix, from_key or prefix, prefix[:-1] + b";"), None)
    if first is None:
        return None
    it = view.iter()
    it.seek_for_prev(prefix[:-1] + b";")
    while it.valid() and it.key().startswith(prefix):
        key = it.key()
        if len(key) == len(prefix) + TIMESTAMP_DIGITS and key[len(prefix) :].isdigit():
            return int(first[len(prefix) :]), int(key[len(prefix) :])
        it.prev()
    return None


def symbols_in(view: Rdict) -> list[str]:
    """Distinct SYMBOL of SYMBOL:TS keys, one seek per prefix (skips e.g. the reference's `trades:` keys)."""
    found = []
    it = view.iter()
    it.seek_to_first()
    while it.valid():
        prefix, colon, digits = it.key().partition(b":")
        if colon and prefix and len(digits) == TIMESTAMP_DIGITS and digits.isdigit() and prefix.isascii():
            found.append(prefix.decode("ascii"))
        if colon:
            it.seek(prefix + b";")  # past every key of this prefix
        else:
            it.next()
    return found
