"""The simulator's USDⓈ-M futures mode: markets whose events chain by `pu`, and the `/fapi/v1` REST API.

What differs from spot (reference/binance-protocol.md §9), and what this module reproduces:
- update ids are shared by every symbol of the exchange, so between two events of one symbol other symbols'
  events take ids: `U` is never the previous `u` + 1, and each event carries `pu`, the previous event's `u`;
- events carry `T` (transaction time), bids in ascending price order (as captured), and prices and quantities at
  the contract's precision ("60000.1", "0.012", zero as "0.000"), not spot's 8 decimals;
- partial-depth frames are full `depthUpdate` objects; the REST snapshot adds `E` and `T`;
- `/fapi/v1/depth` accepts only the limits 5, 10, 20, 50, 100, 500 and 1000 (default 500), weighs 2, 5, 10 or
  20, against 2,400 a minute; futures word their 429/418 bodies their own way.
The market model itself (and so the true book at every update id) is the spot one: only ids and shapes change.
Not simulated: the `@depth@500ms` stream, and the plain `@depth` stream keeps spot's 1000 ms (futures: 250 ms).
The weight table is the simulator's own, apart from the client's (core.market.markets), like spot's.
"""

from __future__ import annotations

import random
from typing import Any

from core.simulator.market import _UNITS, FastMarket, SyntheticMarket
from core.simulator.rest import RestApi, _ApiError, _split_symbol

FUTURES_DEPTH_PATH = "/fapi/v1/depth"
FUTURES_EXCHANGE_INFO_PATH = "/fapi/v1/exchangeInfo"
FUTURES_WEIGHT_LIMIT = 2400
FUTURES_DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
FUTURES_DEFAULT_LIMIT = 500
# GET /fapi/v1/depth weight by limit: (highest limit, weight).
FUTURES_DEPTH_WEIGHTS = ((50, 2), (100, 5), (500, 10), (1000, 20))
INVALID_LIMIT = "Data sent for parameter 'limit' is not valid."  # -1130 INVALID_PARAMETER
TOO_MANY_REQUESTS = (
    "Too many requests; current limit is {limit} requests per minute. "
    "Please use the websocket for live updates to avoid polling the API."
)
WAY_TOO_MANY = (
    "Way too many requests; IP banned until {until}. Please use the websocket for live updates to avoid bans."
)
# Contract sizes close to Binance's USDⓈ-M perpetuals (tick and lot size differ from spot's).
FUTURES_PROFILES: dict[str, dict[str, str]] = {
    "BTCUSDT": {"mid": "60000.00", "tick": "0.1", "step": "0.001"},
    "ETHUSDT": {"mid": "3000.00", "tick": "0.01", "step": "0.001"},
    "BNBUSDT": {"mid": "600.00", "tick": "0.01", "step": "0.01"},
}
_DEFAULT_FUTURES_PROFILE = {"mid": "100.0000", "tick": "0.0001", "step": "0.1"}
MEAN_OTHER_IDS = 40  # ids other symbols take, on average, between two events of one symbol


def _decimals(units: int) -> int:
    """Decimals a multiple of 1e-8 needs: 10_000_000 (0.1) -> 1."""
    decimals = 8
    while decimals and units % 10 == 0:
        units //= 10
        decimals -= 1
    return decimals


def _fixed(units: int, decimals: int) -> str:
    """A count of 1e-8 as a string with exactly `decimals` decimals (exact: units is a multiple of the tick)."""
    whole, frac = divmod(units, _UNITS)
    if not decimals:
        return str(whole)
    return f"{whole}.{frac // 10 ** (8 - decimals):0{decimals}d}"


class _FuturesShape:
    """Turns a SyntheticMarket's events, partials and snapshots into the USDⓈ-M ones (mixed in before it)."""

    symbol: str
    _last_id: int
    _tick: int
    _step: int

    def _start_futures(self, seed: int) -> None:
        # Its own generator, so the book moves exactly as the spot market of the same seed does.
        self._other_ids = random.Random(f"{self.symbol}:{seed}:shared-ids")
        self._price_decimals = _decimals(self._tick)
        self._qty_decimals = _decimals(self._step)
        self._last_event: dict[str, Any] | None = None
        self._last_time = 0

    def next_event(self, event_time_ms: int) -> dict:
        pu = self._last_id
        # Other symbols' events took ids since this symbol's last one. Nothing can read the market between
        # this and the event below (one synchronous call), so no snapshot ever sits between two events.
        self._last_id += 1 + int(self._other_ids.expovariate(1 / MEAN_OTHER_IDS))
        spot = super().next_event(event_time_ms)  # type: ignore[misc]
        event = {
            "e": "depthUpdate",
            "E": event_time_ms,
            "T": event_time_ms,
            "s": spot["s"],
            "U": spot["U"],
            "u": spot["u"],
            "pu": pu,
            "b": spot["b"][::-1],  # ascending, as futures send them
            "a": spot["a"],
        }
        self._last_event, self._last_time = event, event_time_ms
        return event

    def snapshot(self, limit: int = 100, update_id: int | None = None) -> dict:
        spot = super().snapshot(limit, update_id)  # type: ignore[misc]
        return {
            "lastUpdateId": spot["lastUpdateId"],
            "E": self._last_time,
            "T": self._last_time,
            "bids": spot["bids"],
            "asks": spot["asks"],
        }

    def partial(self, levels: int) -> dict:
        """`<symbol>@depth<levels>` on futures: a whole depthUpdate holding the top levels."""
        top = super().snapshot(levels)  # type: ignore[misc]
        last = self._last_event
        return {
            "e": "depthUpdate",
            "E": self._last_time,
            "T": self._last_time,
            "s": self.symbol,
            "U": last["U"] if last else top["lastUpdateId"],
            "u": top["lastUpdateId"],
            "pu": last["pu"] if last else top["lastUpdateId"],
            "b": top["bids"],
            "a": top["asks"],
        }

    def _price_str(self, ticks: int) -> str:
        return _fixed(ticks * self._tick, self._price_decimals)

    def _qty_str(self, steps: int) -> str:
        return _fixed(steps * self._step, self._qty_decimals)


class FuturesMarket(_FuturesShape, SyntheticMarket):
    """A USDⓈ-M perpetual: the spot model with shared update ids, `pu`, and contract precision."""

    def __init__(self, symbol: str, *, seed: int, **kwargs: Any) -> None:
        super().__init__(symbol, seed=seed, **kwargs)
        self._start_futures(seed)


class FastFuturesMarket(_FuturesShape, FastMarket):
    """The fast market (deep resting book, trending mid) as a USDⓈ-M perpetual."""

    def __init__(self, symbol: str, *, seed: int, **kwargs: Any) -> None:
        super().__init__(symbol, seed=seed, **kwargs)
        self._start_futures(seed)


def futures_market_for(
    symbol: str, *, seed: int, history: int = 2000, fast: bool = False, depth: int | None = None
) -> SyntheticMarket:
    """A perpetual with the symbol's usual contract sizes (generic ones for symbols not in the table); `fast` and
    `depth` as in core.simulator.market.market_for."""
    profile = FUTURES_PROFILES.get(symbol, _DEFAULT_FUTURES_PROFILE)
    if fast:
        return FastFuturesMarket(symbol, seed=seed, history=history, **profile)
    sized = {} if depth is None else {"depth": depth}
    return FuturesMarket(symbol, seed=seed, history=history, **sized, **profile)


class FuturesRestApi(RestApi):
    """`/fapi/v1/depth` and `/fapi/v1/exchangeInfo`: futures limits, weights, limit and error wording."""

    depth_path = FUTURES_DEPTH_PATH
    exchange_info_path = FUTURES_EXCHANGE_INFO_PATH
    exchange_info_weight = 1
    too_much_weight = TOO_MANY_REQUESTS
    banned = WAY_TOO_MANY

    def __init__(self, markets: dict[str, SyntheticMarket], **kwargs: Any) -> None:
        kwargs.setdefault("weight_limit", FUTURES_WEIGHT_LIMIT)
        super().__init__(markets, **kwargs)

    def depth_weight(self, limit: int) -> int:
        for upper, weight in FUTURES_DEPTH_WEIGHTS:
            if limit <= upper:
                return weight
        return FUTURES_DEPTH_WEIGHTS[-1][1]

    def depth_limit(self, text: str) -> int:
        if not text.isdigit() or int(text) not in FUTURES_DEPTH_LIMITS:
            raise _ApiError(-1130, INVALID_LIMIT)
        return int(text)

    def limit_or_default(self, query: dict[str, list[str]]) -> int:
        text = query.get("limit", [""])[0]
        return int(text) if text.isdigit() and int(text) in FUTURES_DEPTH_LIMITS else FUTURES_DEFAULT_LIMIT

    def _depth(self, query: dict[str, list[str]], now: float) -> dict:
        if "limit" not in query:  # the futures default differs from spot's 100
            query = {**query, "limit": [str(FUTURES_DEFAULT_LIMIT)]}
        return super()._depth(query, now)

    def _exchange_info(self, query: dict[str, list[str]], now: float) -> dict:
        # /fapi/v1/exchangeInfo takes no symbol parameter: it always lists every contract.
        return {
            "timezone": "UTC",
            "serverTime": int(now * 1000),
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
            ],
            "exchangeFilters": [],
            "assets": [],
            "symbols": [_contract_info(m) for m in self._markets.values()],
        }


def _contract_info(market: SyntheticMarket) -> dict:
    base, quote = _split_symbol(market.symbol)
    tick, step = market._price_str(1), market._qty_str(1)
    return {
        "symbol": market.symbol,
        "pair": market.symbol,
        "contractType": "PERPETUAL",
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": quote,
        "marginAsset": quote,
        "pricePrecision": len(tick.partition(".")[2]),
        "quantityPrecision": len(step.partition(".")[2]),
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": "4529764", "tickSize": tick},
            {"filterType": "LOT_SIZE", "minQty": step, "maxQty": "1000", "stepSize": step},
        ],
    }
