"""The simulator's REST API: `/api/v3/depth` and `/api/v3/exchangeInfo`, sans-I/O.

Binance's parameter checks, error bodies, request weights and the per-minute weight window, so a client
meets here the same 400s, 429s and `x-mbx-used-weight-1m` headers it meets on api.binance.com.
`RestApi.handle` takes the request target and the wall-clock time and returns a `RestReply`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import orjson

from core.simulator.market import SyntheticMarket

DEPTH_PATH = "/api/v3/depth"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
WEIGHT_LIMIT = 6000  # REQUEST_WEIGHT per minute (since 2023-08-25)
EXCHANGE_INFO_WEIGHT = 20
# GET /api/v3/depth weight by limit, as Binance documents it (since 2023-10-19). The simulator keeps its own
# table, apart from the client's, so that a wrong weight on one side shows up against the other in the tests.
DEPTH_WEIGHTS = ((100, 5), (500, 25), (1000, 50), (5000, 250))


def depth_weight(limit: int) -> int:
    for upper, weight in DEPTH_WEIGHTS:
        if limit <= upper:
            return weight
    return DEPTH_WEIGHTS[-1][1]  # Binance caps the limit at 5000
DEFAULT_LIMIT = 100
MAX_LIMIT = 5000

_SYMBOL = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_QUOTES = ("USDT", "USDC", "FDUSD", "TUSD", "BUSD", "BTC", "ETH", "BNB", "EUR", "TRY")
_JSON = "application/json;charset=UTF-8"

ILLEGAL_SYMBOL = "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."
ILLEGAL_LIMIT = "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."
ILLEGAL_SYMBOLS = (
    "Illegal characters found in parameter 'symbols'; legal range is "
    '\'^\\[("[A-Z0-9-_.]{1,20}"(,"[A-Z0-9-_.]{1,20}"){0,}){0,1}\\]$\'.'
)
MISSING_SYMBOL = "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."
INVALID_SYMBOL = "Invalid symbol."
TOO_MUCH_WEIGHT = (
    "Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
    "Please use WebSocket Streams for live updates to avoid polling the API."
)
BANNED = (
    "Way too much request weight used; IP banned until {until}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)


@dataclass(slots=True)
class RestReply:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


class _ApiError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class RestApi:
    """Answers REST requests against the simulator's markets, counting weight per minute window.

    Spot's paths, weights, limits and messages; core.simulator.futures.FuturesRestApi overrides them.
    """

    depth_path = DEPTH_PATH
    exchange_info_path = EXCHANGE_INFO_PATH
    exchange_info_weight = EXCHANGE_INFO_WEIGHT
    too_much_weight = TOO_MUCH_WEIGHT
    banned = BANNED

    def __init__(
        self,
        markets: dict[str, SyntheticMarket],
        *,
        snapshot: Callable[[str, int], dict],
        take_rate_limit: Callable[[], tuple[int, int] | None],
        weight_limit: int = WEIGHT_LIMIT,
    ) -> None:
        self._markets = markets  # the simulator's live dict: symbols added later are served too
        self._snapshot = snapshot  # (symbol, limit) -> depth payload; the simulator applies its faults
        self._take_rate_limit = take_rate_limit  # an injected 429/418: (status, retry_after) or None
        self.weight_limit = weight_limit
        self.statuses: dict[str, str] = {}  # symbol -> exchangeInfo status other than TRADING (HALT, BREAK, ...)
        self._window = -1  # the minute (Unix time // 60) the used weight belongs to
        self._used = 0

    def used_weight(self, now: float) -> int:
        """Weight used in the current one-minute window."""
        return self._used if int(now // 60) == self._window else 0

    def handle(self, target: str, now: float) -> RestReply:
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        if parts.path == self.depth_path:
            weight = self.depth_weight(self.limit_or_default(query))
            respond = self._depth
        elif parts.path == self.exchange_info_path:
            weight = self.exchange_info_weight
            respond = self._exchange_info
        else:
            return RestReply(404, b"", self._weight_headers(now))

        injected = self._take_rate_limit()
        if injected is not None:
            status, retry_after = injected
            if status == 418:
                msg = self.banned.format(until=int((now + retry_after) * 1000))
            else:
                msg = self.too_much_weight.format(limit=self.weight_limit)
            return self._error(status, -1003, msg, now, retry_after)
        self._roll(now)
        if self._used + weight > self.weight_limit:
            retry_after = max(1, math.ceil(60 - now % 60))
            return self._error(429, -1003, self.too_much_weight.format(limit=self.weight_limit), now, retry_after)
        self._used += weight
        try:
            body = respond(query, now)
        except _ApiError as err:
            return self._error(400, err.code, err.msg, now)
        return RestReply(200, orjson.dumps(body), [("Content-Type", _JSON), *self._weight_headers(now)])

    # ---- endpoints ---------------------------------------------------------------------------------

    def _depth(self, query: dict[str, list[str]], now: float) -> dict:
        symbol = self._known_symbol(query.get("symbol", [""])[0])
        limit = self.depth_limit(query["limit"][0]) if "limit" in query else DEFAULT_LIMIT
        return self._snapshot(symbol, limit)

    # ---- what a market of another kind answers differently (core.simulator.futures) ---------------

    def depth_weight(self, limit: int) -> int:
        return depth_weight(limit)

    def depth_limit(self, text: str) -> int:
        """The levels a side for the `limit` parameter; _ApiError if the exchange refuses it."""
        if not _DIGITS.match(text) or int(text) == 0:
            raise _ApiError(-1100, ILLEGAL_LIMIT)
        return min(int(text), MAX_LIMIT)

    def limit_or_default(self, query: dict[str, list[str]]) -> int:
        """The limit the weight is charged for; malformed limits are charged the default."""
        return _limit_or_default(query)

    def _exchange_info(self, query: dict[str, list[str]], now: float) -> dict:
        if "symbol" in query and "symbols" in query:
            raise _ApiError(-1128, "Combination of optional parameters invalid.")
        if "symbol" in query:
            symbols = [self._known_symbol(query["symbol"][0])]
        elif "symbols" in query:
            symbols = self._symbol_list(query["symbols"][0])
        else:
            symbols = list(self._markets)
        return {
            "timezone": "UTC",
            "serverTime": int(now * 1000),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": self.weight_limit,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
            ],
            "exchangeFilters": [],
            "symbols": [_symbol_info(self._markets[s], self.statuses.get(s, "TRADING")) for s in symbols],
        }

    # ---- parameters ----------------------------------------------------------------------------

    def _known_symbol(self, text: str) -> str:
        if not text:
            raise _ApiError(-1102, MISSING_SYMBOL)
        if not _SYMBOL.match(text):
            raise _ApiError(-1100, ILLEGAL_SYMBOL)
        if text not in self._markets:
            raise _ApiError(-1121, INVALID_SYMBOL)
        return text

    def _symbol_list(self, text: str) -> list[str]:
        try:
            symbols = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise _ApiError(-1100, ILLEGAL_SYMBOLS) from None
        if not isinstance(symbols, list) or not all(isinstance(s, str) and _SYMBOL.match(s) for s in symbols):
            raise _ApiError(-1100, ILLEGAL_SYMBOLS)
        if not symbols:
            raise _ApiError(-1102, MISSING_SYMBOL.replace("'symbol'", "'symbols'"))
        if any(s not in self._markets for s in symbols):
            raise _ApiError(-1121, INVALID_SYMBOL)
        return list(dict.fromkeys(symbols))

    # ---- replies -------------------------------------------------------------------------------------

    def _roll(self, now: float) -> None:
        window = int(now // 60)
        if window != self._window:
            self._window, self._used = window, 0

    def _weight_headers(self, now: float) -> list[tuple[str, str]]:
        used = str(self.used_weight(now))
        return [("x-mbx-used-weight", used), ("x-mbx-used-weight-1m", used)]

    def _error(
        self, status: int, code: int, msg: str, now: float, retry_after: int | None = None
    ) -> RestReply:
        headers = [("Content-Type", _JSON), *self._weight_headers(now)]
        if retry_after is not None:
            headers.append(("Retry-After", str(retry_after)))
        return RestReply(status, orjson.dumps({"code": code, "msg": msg}), headers)


def _limit_or_default(query: dict[str, list[str]]) -> int:
    """The limit the weight is charged for; malformed limits are charged the default."""
    text = query.get("limit", [""])[0]
    return min(int(text), MAX_LIMIT) if _DIGITS.match(text) and int(text) > 0 else DEFAULT_LIMIT


def _split_symbol(symbol: str) -> tuple[str, str]:
    for quote in _QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)], quote
    return symbol, ""


def _symbol_info(market: SyntheticMarket, status: str = "TRADING") -> dict:
    base, quote = _split_symbol(market.symbol)
    return {
        "symbol": market.symbol,
        "status": status,
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
        "isSpotTradingAllowed": True,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": market.tick_size,
                "maxPrice": "1000000.00000000",
                "tickSize": market.tick_size,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": market.step_size,
                "maxQty": "9000.00000000",
                "stepSize": market.step_size,
            },
        ],
    }
