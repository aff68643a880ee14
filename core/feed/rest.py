"""Binance REST: depth snapshots and exchangeInfo, inside the IP's request-weight budget.

`RestClient` makes one request at a time per call, inside the IP's `WeightBudget`, and maps every failure to
an `ExchangeError` whose message is one sentence a user can read. A depth snapshot the wire rejects (a bad
level, unsorted, a repeated price, crossed: core.market.wire) is an ExchangeUnavailableError like any other
unreadable answer, so the scheduler backs off and fetches it again; it never reaches a book.

`check_symbols` tells for each requested symbol whether it can be followed (trading, not trading, not listed,
not a symbol name) instead of failing on the first bad one, and can keep retrying while the exchange is
unreachable: what a recorder started on a server needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson

from core.feed.backoff import backoff
from core.feed.budget import WeightBudget, depth_weight
from core.feed.errors import (
    ExchangeError,
    ExchangeRejectedError,
    ExchangeUnavailableError,
    InvalidSymbolError,
    RateLimitedError,
)
from core.market.endpoints import normalize_rest_url
from core.market.markets import SPOT, Market
from core.market.wire import (
    DepthSnapshot,
    SymbolInfo,
    WireFormatError,
    is_valid_symbol,
    parse_depth_snapshot,
    parse_exchange_info,
    read_depth_snapshot,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

DEPTH_PATH = SPOT.depth_path
EXCHANGE_INFO_PATH = SPOT.exchange_info_path
EXCHANGE_INFO_WEIGHT = SPOT.exchange_info_weight
DEFAULT_RETRY_AFTER = 60.0  # seconds, when a 429/418 comes without a usable Retry-After
INVALID_SYMBOL_CODE = -1121
SYMBOLS_PER_INFO_REQUEST = 100  # names asked for in one exchangeInfo request (the URL stays short); more: ask for all


_ERRNO_RE = re.compile(r"^\[Errno -?\d+\]\s*")


def _short_reason(exc: httpx.HTTPError, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    detail = _ERRNO_RE.sub("", str(exc)).strip().rstrip(".") or type(exc).__name__
    detail = detail[0].lower() + detail[1:]
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect ({detail})"
    return detail


def _retry_after(response: httpx.Response) -> float:
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return value if value >= 0 else DEFAULT_RETRY_AFTER


def _error_body(response: httpx.Response) -> tuple[int | None, str]:
    """Binance's `{"code": …, "msg": …}`, or (None, "") when the body is something else (HTML, empty)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None, ""
    if not isinstance(body, dict):
        return None, ""
    code = body.get("code")
    return (code if type(code) is int else None), str(body.get("msg", ""))


@dataclass(frozen=True)
class SymbolCheck:
    """exchangeInfo's verdict on each requested symbol (`RestClient.check_symbols`), in the asked order."""

    trading: dict[str, SymbolInfo] = field(default_factory=dict)  # listed and trading: follow these
    not_trading: dict[str, SymbolInfo] = field(default_factory=dict)  # listed; HALT, BREAK, END_OF_DAY…
    unknown: tuple[str, ...] = ()  # not listed on this exchange
    bad_names: tuple[str, ...] = ()  # cannot be symbol names at all; no request weight was spent on them

    @property
    def valid(self) -> list[str]:
        return list(self.trading)

    @property
    def invalid(self) -> list[str]:
        return [*self.bad_names, *self.unknown, *self.not_trading]

    def problems(self) -> list[str]:
        """One sentence per symbol that cannot be followed, worded as InvalidSymbolError words it."""
        return [
            *(str(InvalidSymbolError.bad_name(s)) for s in self.bad_names),
            *(str(InvalidSymbolError.unknown(s)) for s in self.unknown),
            *(f"{s} is not trading right now (status {i.status})." for s, i in self.not_trading.items()),
        ]

    def describe(self) -> str:
        """One sentence naming every symbol that cannot be followed and why; "" when all can."""
        reasons = [
            *(f"{s!r} (not a symbol name)" for s in self.bad_names),
            *(f"{s} (not a symbol on this exchange)" for s in self.unknown),
            *(f"{s} (not trading, status {i.status})" for s, i in self.not_trading.items()),
        ]
        if not reasons:
            return ""
        listed = reasons[0] if len(reasons) == 1 else ", ".join(reasons[:-1]) + " and " + reasons[-1]
        return f"Cannot follow {listed}."


class RestClient:
    """Async client for the two public endpoints a depth recorder needs, on one market (core.market.markets):
    its paths, depth limits and weights, and a budget against its per-minute limit."""

    def __init__(
        self,
        rest_url: str,
        *,
        timeout: float = 10.0,
        budget: WeightBudget | None = None,
        client: httpx.AsyncClient | None = None,
        market: Market = SPOT,
        clock: Callable[[], float] = time.time,
        connections: int = 16,
    ) -> None:
        """`connections`: HTTP connections at most, as many as requests in flight (the snapshot scheduler's
        workers): a request parked in the pool would count its wait against `timeout` and fail as unanswered."""
        self.rest_url = normalize_rest_url(rest_url)
        self._clock = clock  # the weight budget's wall clock (injectable: a test's ManualClock.now)
        self.timeout = timeout
        self.market = market
        self.budget = budget or WeightBudget(market=market)
        if self.budget.market is not market:
            raise ValueError(f"the weight budget counts {self.budget.market} weights, not {market}")
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            http2=False,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
            headers={"User-Agent": "depthbook"},
        )

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def depth(self, symbol: str, limit: int = 1000) -> DepthSnapshot:
        """A snapshot of at least `limit` levels a side (futures round up to a limit they accept)."""
        symbol = symbol.strip().upper()
        if not is_valid_symbol(symbol):
            raise InvalidSymbolError.bad_name(symbol)
        market = self.market
        limit = market.request_limit(limit)
        weight = depth_weight(limit, market)
        body = await self._get(market.depth_path, {"symbol": symbol, "limit": limit}, weight, symbol, raw=True)
        snapshot = read_depth_snapshot(body, symbol)  # a clean answer in Binance's layout, read in C
        if snapshot is not None:
            return snapshot
        data = self._json(market.depth_path, body)  # anything else: the specification says what is wrong with it
        try:
            return parse_depth_snapshot(data, symbol)
        except WireFormatError as exc:  # malformed, unsorted or crossed: unusable, ask again later
            detail = str(exc).strip().rstrip(".")
            raise ExchangeUnavailableError(
                f"The exchange at {self.rest_url} sent an unreadable answer to {market.depth_path} ({detail})."
            ) from None

    async def exchange_info(self, symbols: list[str] | None = None) -> dict[str, SymbolInfo]:
        """Symbol facts. None asks for every symbol. Names are uppercased; bad names raise at once.

        With several symbols and one of them unknown, Binance rejects the whole request (-1121) without
        saying which; then this asks for the full list once and returns the known ones, so the caller
        can name exactly the missing symbol.
        """
        params: dict[str, Any] = {}
        wanted: list[str] = []
        if symbols is not None:
            wanted = [s.strip().upper() for s in symbols]
            if not wanted:
                return {}
            for s in wanted:
                if not is_valid_symbol(s):
                    raise InvalidSymbolError.bad_name(s)
            if not self.market.exchange_info_by_symbol:  # futures: one answer lists every symbol
                everything = await self.exchange_info(None)
                return {s: everything[s] for s in wanted if s in everything}
            if len(wanted) == 1:
                params["symbol"] = wanted[0]
            else:
                params["symbols"] = orjson.dumps(wanted).decode()  # compact: ["A","B"]
        invalid_as = wanted[0] if len(wanted) == 1 else ""
        try:
            data = await self._get(
                self.market.exchange_info_path, params, self.market.exchange_info_weight, invalid_as
            )
        except InvalidSymbolError:
            if len(wanted) <= 1:
                raise
            log.info("exchangeInfo rejected a symbol list, fetching all symbols=%s", ",".join(wanted))
            everything = await self.exchange_info(None)
            return {s: everything[s] for s in wanted if s in everything}
        try:
            infos = parse_exchange_info(data)
        except (WireFormatError, KeyError, TypeError, AttributeError) as exc:
            raise self._unreadable(self.market.exchange_info_path, str(exc)) from None
        return infos

    async def validate_symbol(self, symbol: str) -> SymbolInfo:
        """The exchange's facts about one symbol, or InvalidSymbolError if it does not list it."""
        symbol = symbol.strip().upper()
        if not is_valid_symbol(symbol):
            raise InvalidSymbolError.bad_name(symbol)
        info = (await self.exchange_info([symbol])).get(symbol)
        if info is None:
            raise InvalidSymbolError.unknown(symbol)
        return info

    async def check_symbols(
        self,
        symbols: list[str],
        *,
        retry_for: float = 0.0,
        retry_initial: float = 1.0,
        retry_max: float = 60.0,
        on_retry: Callable[[str, float], None] | None = None,
    ) -> SymbolCheck:
        """Which of `symbols` can be followed, each with its reason if not. Never raises for a bad symbol.

        Names are stripped, uppercased and deduplicated; a name that cannot be a symbol costs no request.
        When the exchange cannot answer (unreachable, 5xx, HTML, 429/418, another 4xx) it raises that
        ExchangeError, unless `retry_for` seconds (math.inf: forever, for a recorder on a server) have not
        passed yet: then it logs one line, calls `on_retry(sentence, delay)` and asks again after a backoff
        delay (`retry_initial` doubling to `retry_max`; a 429/418 also waits its Retry-After in the budget).
        """
        wanted: list[str] = []
        bad: list[str] = []
        for raw in symbols:
            symbol = raw.strip().upper()
            if symbol in wanted or symbol in bad:
                continue
            (wanted if is_valid_symbol(symbol) else bad).append(symbol)
        infos = await retrying(
            lambda: self._symbol_infos(wanted), retry_for, retry_initial, retry_max, on_retry
        )
        return SymbolCheck(
            trading={s: infos[s] for s in wanted if s in infos and infos[s].trading},
            not_trading={s: infos[s] for s in wanted if s in infos and not infos[s].trading},
            unknown=tuple(s for s in wanted if s not in infos),
            bad_names=tuple(bad),
        )

    async def _symbol_infos(self, symbols: list[str]) -> dict[str, SymbolInfo]:
        if len(symbols) > SYMBOLS_PER_INFO_REQUEST:
            # One unfiltered request (weight 20) instead of one per hundred names (20 each): 1,500 names cost 300
            # weight at the minute a whole market starts, when every 5 of it is a book's sync or rescue.
            everything = await self.exchange_info(None)
            return {s: everything[s] for s in symbols if s in everything}
        with contextlib.suppress(InvalidSymbolError):  # one name asked alone, and unknown
            return await self.exchange_info(symbols)
        return {}

    # --- internals --------------------------------------------------------------------------------

    def _json(self, path: str, content: bytes) -> Any:
        """The parsed JSON of an answer to `path`, or the outage error for one that is not JSON."""
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            raise self._unreadable(path, f"not JSON: {exc}") from None

    def _unreadable(self, path: str, detail: str) -> ExchangeUnavailableError:
        # A proxy or captive portal answering 200 with HTML looks like this; treat it as an outage.
        return ExchangeUnavailableError(
            f"Cannot reach the exchange at {self.rest_url}: unreadable answer to {path} ({detail})."
        )

    async def _wait_for_budget(self, weight: int) -> None:
        while (wait := self.budget.reserve(weight, self._clock())) > 0:
            log.info("rest waiting for weight budget weight=%d wait_s=%.2f", weight, wait)
            await asyncio.sleep(wait)

    async def _get(self, path: str, params: dict[str, Any], weight: int, symbol: str, raw: bool = False) -> Any:
        """One GET; returns the parsed JSON body of a 200 (`raw`: its bytes) or raises the matching ExchangeError."""
        await self._wait_for_budget(weight)
        url = self.rest_url + path
        try:
            response = await self._client.get(url, params=params, timeout=self.timeout)
        except httpx.HTTPError as exc:
            reason = _short_reason(exc, self.timeout)
            log.warning("rest request failed path=%s reason=%r", path, reason)
            raise ExchangeUnavailableError(
                f"Cannot reach the exchange at {self.rest_url}: {reason}."
            ) from None

        used = response.headers.get("x-mbx-used-weight-1m")
        if used is not None and used.isdigit():
            self.budget.observe_used(int(used), self._clock())

        status = response.status_code
        if status == 200:
            return response.content if raw else self._json(path, response.content)
        if status in (429, 418):
            retry_after = _retry_after(response)
            self.budget.block_until(self._clock() + retry_after)
            banned = status == 418
            log.warning("rest rate limited path=%s status=%d retry_after_s=%g", path, status, retry_after)
            if banned:
                message = (
                    f"The exchange at {self.rest_url} has banned this IP for using too much request "
                    f"weight; no requests for {retry_after:g} s."
                )
            else:
                message = (
                    f"The exchange at {self.rest_url} says this IP sent too many requests; "
                    f"waiting {retry_after:g} s."
                )
            raise RateLimitedError(message, retry_after, banned)
        if status >= 500:
            log.warning("rest server error path=%s status=%d", path, status)
            raise ExchangeUnavailableError(f"Cannot reach the exchange at {self.rest_url}: HTTP {status}.")

        code, msg = _error_body(response)
        if code == INVALID_SYMBOL_CODE and symbol:
            raise InvalidSymbolError.unknown(symbol)
        if code == INVALID_SYMBOL_CODE:
            raise InvalidSymbolError("A requested symbol is not a symbol on this exchange.")
        detail = f"{msg.rstrip('.')} (code {code})" if code is not None else f"HTTP {status}"
        log.warning("rest request rejected path=%s status=%d code=%s msg=%r", path, status, code, msg)
        if status == 404 and code is None:  # no such path: another exchange's or market's address
            raise ExchangeRejectedError(
                f"The exchange at {self.rest_url} has no {path} (HTTP 404): is this the REST address of the market "
                "asked for?", status, code, msg,
            )  # fmt: skip
        raise ExchangeRejectedError(f"The exchange rejected {path}: {detail}.", status, code, msg)


def worth_retrying(exc: ExchangeError) -> bool:
    """Whether asking again later may get another answer: the exchange unreachable or busy (network, 5xx), a rate
    limit, or Binance's 403 (its firewall, for a while). Any other rejection (404: no such path, 400, 451: not
    served here) and an unknown symbol are the answer: waiting for the exchange would wait for ever."""
    if isinstance(exc, ExchangeRejectedError):
        return exc.status == 403
    return not isinstance(exc, InvalidSymbolError)


async def retrying(
    call: Callable[[], Awaitable[T]],
    retry_for: float,
    retry_initial: float = 1.0,
    retry_max: float = 60.0,
    on_retry: Callable[[str, float], None] | None = None,
) -> T:
    """`await call()`; while the exchange cannot answer (an ExchangeError worth retrying) ask again after a
    backoff delay (`retry_initial` doubling to `retry_max`) until `retry_for` seconds (math.inf: forever) would
    pass, logging one line and calling `on_retry(sentence, delay)` before each wait; then raise that ExchangeError.
    An answer that will not change by asking again (`worth_retrying`) is raised at once."""
    started = time.monotonic()
    delays = backoff(retry_initial, retry_max)
    while True:
        try:
            return await call()
        except ExchangeError as exc:
            delay = next(delays)
            if not worth_retrying(exc) or time.monotonic() - started + delay > retry_for:
                raise
            log.warning("exchangeInfo failed, retrying in_s=%.1f reason=%r", delay, str(exc))
            if on_retry is not None:
                on_retry(str(exc), delay)
            await asyncio.sleep(delay)
