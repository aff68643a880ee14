"""The app follows both Binance markets at once: how it names a followed symbol, and where each market lives.

A followed symbol is named by its *key*, the name it is stored under (core.storage.keys.storage_symbol): a spot
symbol is its own name (`BTCUSDT`), a USDⓈ-M futures symbol `usdm/BTCUSDT`. So spot and futures books of one
name are two rows, two ladders and two recording switches that never collide; the key is also what the History
tab lists, and what the saved settings remember (a bare name is spot).

Endpoints: the run's preset (or flags) names one market's hosts; the other market's are its companion preset on
the same exchange (Binance spot <-> Binance USDⓈ-M futures). Exchanges with no futures (Binance US, the spot
testnet) and custom URLs offer only their own market. The demo runs one simulator per market.
"""

from __future__ import annotations

from core.market.endpoints import PRESETS, Endpoints
from core.market.markets import MARKETS, SPOT, USDM, Market
from core.market.wire import is_valid_symbol
from core.storage.keys import MARKET_SEPARATOR, parse_storage_symbol, storage_symbol

# Presets whose exchange also serves the other market, and that market's preset.
COMPANION_PRESETS: dict[str, dict[Market, str]] = {
    "binance": {USDM: "binance-usdm"},
    "binance-data": {USDM: "binance-usdm"},
    "binance-usdm": {SPOT: "binance"},
}


def symbol_key(market: Market, symbol: str) -> str:
    """`BTCUSDT` on spot, `usdm/BTCUSDT` on USDⓈ-M futures: the key of a followed symbol."""
    return storage_symbol(market, symbol)


def split_key(key: str) -> tuple[Market, str]:
    """(market, exchange symbol) of a key."""
    return parse_storage_symbol(key)


MARKET_TAG = " · "  # between a symbol and its market: "BTCUSDT · usdm"


def display_name(key: str) -> str:
    """What people read: `BTCUSDT · spot`, `BTCUSDT · usdm` (the market next to every symbol, issue 9)."""
    market, symbol = split_key(key)
    return with_market(symbol, market.name)


def file_stem(key: str) -> str:
    """`BTCUSDT`, `usdm-BTCUSDT`: a key as the start of a file name (a key's separator would make it a folder)."""
    market, symbol = split_key(key)
    return symbol if market is SPOT else f"{market.name}-{symbol}"


def with_market(symbol: str, market: str) -> str:
    """`BTCUSDT · usdm`: an exchange symbol with its market's name."""
    return f"{symbol}{MARKET_TAG}{market}"


def parse_saved_key(text: str, bare: Market) -> str | None:
    """A key as saved settings hold it (`BTCUSDT`, `usdm/BTCUSDT`; case ignored), a bare name meaning `bare`'s
    symbol; None for anything that cannot be one (hand-edited files keep loading)."""
    prefix, separator, name = text.strip().rpartition(MARKET_SEPARATOR)
    market = MARKETS.get(prefix.lower()) if separator else bare
    name = name.upper()
    if market is None or not is_valid_symbol(name):
        return None
    return symbol_key(market, name)


def companion_endpoints(base: Endpoints, market: Market) -> Endpoints | None:
    """The endpoints of `market` on the exchange `base` names; None when that exchange does not offer it."""
    if base.market is market:
        return base
    preset = COMPANION_PRESETS.get(base.name, {}).get(market)
    return PRESETS[preset] if preset is not None else None
