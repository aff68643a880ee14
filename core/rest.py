"""Binance REST: depth snapshots and exchangeInfo, inside the IP's request-weight budget.

`WeightBudget` is pure bookkeeping (time comes in as an argument). `RestClient` makes one request at a
time per call and maps every failure to an `ExchangeError` whose message is one sentence a user can read.
`SnapshotScheduler` is the only path that fetches depth snapshots: it queues symbols, keeps at most a few
requests in flight, and survives rate limits, outages and unknown symbols without ever raising.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
import orjson

from core.endpoints import normalize_rest_url
from core.wire import (
    DepthSnapshot,
    SymbolInfo,
    WireFormatError,
    is_valid_symbol,
    parse_depth_snapshot,
    parse_exchange_info,
)

log = logging.getLogger(__name__)

DEPTH_PATH = "/api/v3/depth"
EXCHANGE_INFO_PATH = "/api/v3/exchangeInfo"
EXCHANGE_INFO_WEIGHT = 20
DEFAULT_RETRY_AFTER = 60.0  # seconds, when a 429/418 comes without a usable Retry-After
INVALID_SYMBOL_CODE = -1121


# --- errors ---------------------------------------------------------------------------------------


class ExchangeError(Exception):
    """Anything the exchange (or the way to it) did wrong; str(error) is one sentence for the user."""


class InvalidSymbolError(ExchangeError):
    """The exchange does not list this symbol, or the name cannot be a symbol at all."""

    def __init__(self, message: str, symbol: str = "") -> None:
        super().__init__(message)
        self.symbol = symbol


class RateLimitedError(ExchangeError):
    """HTTP 429 (slow down) or 418 (this IP is banned); no request may go out for `retry_after` s."""

    def __init__(self, message: str, retry_after: float, banned: bool) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.banned = banned


class ExchangeUnavailableError(ExchangeError):
    """Network error, timeout, 5xx or an unreadable answer: worth retrying later."""


class ExchangeRejectedError(ExchangeError):
    """Any other 4xx, with Binance's error code and text when it sent them."""

    def __init__(self, message: str, status: int, code: int | None, exchange_msg: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.exchange_msg = exchange_msg


def _unknown_symbol(symbol: str) -> InvalidSymbolError:
    return InvalidSymbolError(f"{symbol} is not a symbol on this exchange.", symbol)


def _bad_symbol_name(symbol: str) -> InvalidSymbolError:
    return InvalidSymbolError(
        f"{symbol!r} is not a valid symbol name (use letters and digits, like BTCUSDT).", symbol
    )


# --- weight budget --------------------------------------------------------------------------------


def depth_weight(limit: int) -> int:
    """Request weight of /api/v3/depth by limit (Binance, since 2023-10-19). Above 5000 Binance caps."""
    if limit < 1:
        raise ValueError(f"depth limit must be at least 1, got {limit}")
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


class WeightBudget:
    """Request weight spent per minute from this IP, kept below a fraction of Binance's limit.

    Pure: every method takes `now` (wall-clock seconds). Assumption: Binance counts weight per calendar
    minute (UTC minute boundaries, as its `x-mbx-used-weight-1m` resets at :00), not a sliding minute.
    """

    def __init__(self, limit_per_minute: int = 6000, fraction: float = 0.8) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.limit_per_minute = limit_per_minute
        self.fraction = fraction
        # Headroom for other programs on the same IP, which share Binance's count with us.
        self.allowed = int(limit_per_minute * fraction)
        self._window = -1  # index of the current minute (now // 60)
        self._used = 0
        self._blocked_until = 0.0

    @property
    def blocked_until(self) -> float:
        return self._blocked_until

    def _roll(self, now: float) -> None:
        window = int(now // 60)
        if window != self._window:
            self._window = window
            self._used = 0

    def reserve(self, weight: int, now: float) -> float:
        """0.0 and the weight counted if a request may go now; else seconds to wait (nothing counted)."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._roll(now)
        # A request heavier than the whole allowance may still go into an empty window, or it never would.
        if self._used + weight <= self.allowed or self._used == 0:
            self._used += weight
            return 0.0
        return (self._window + 1) * 60 - now

    def observe_used(self, used_weight_1m: int, now: float) -> None:
        """Adopt the server's count for this IP when it is higher: other programs spend from it too."""
        self._roll(now)
        if used_weight_1m > self._used:
            self._used = used_weight_1m

    def block_until(self, t: float) -> None:
        """After a 429/418: no request before `t` (wall-clock seconds), whatever the count says."""
        self._blocked_until = max(self._blocked_until, t)

    def used(self, now: float) -> int:
        self._roll(now)
        return self._used


# --- client ---------------------------------------------------------------------------------------

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


class RestClient:
    """Async client for the two public endpoints a depth recorder needs."""

    def __init__(
        self,
        rest_url: str,
        *,
        timeout: float = 10.0,
        budget: WeightBudget | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.rest_url = normalize_rest_url(rest_url)
        self.timeout = timeout
        self.budget = budget or WeightBudget()
        self._owns_client = client is None
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            http2=False,
            limits=httpx.Limits(max_connections=4, max_keepalive_connections=4),
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
        symbol = symbol.strip().upper()
        if not is_valid_symbol(symbol):
            raise _bad_symbol_name(symbol)
        weight = depth_weight(limit)
        data = await self._get(DEPTH_PATH, {"symbol": symbol, "limit": limit}, weight, symbol)
        try:
            return parse_depth_snapshot(data, symbol)
        except WireFormatError as exc:
            raise self._unreadable(DEPTH_PATH, str(exc)) from None

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
                    raise _bad_symbol_name(s)
            if len(wanted) == 1:
                params["symbol"] = wanted[0]
            else:
                params["symbols"] = orjson.dumps(wanted).decode()  # compact: ["A","B"]
        invalid_as = wanted[0] if len(wanted) == 1 else ""
        try:
            data = await self._get(EXCHANGE_INFO_PATH, params, EXCHANGE_INFO_WEIGHT, invalid_as)
        except InvalidSymbolError:
            if len(wanted) <= 1:
                raise
            log.info("exchangeInfo rejected a symbol list, fetching all symbols=%s", ",".join(wanted))
            everything = await self.exchange_info(None)
            return {s: everything[s] for s in wanted if s in everything}
        try:
            infos = parse_exchange_info(data)
        except (WireFormatError, KeyError, TypeError, AttributeError) as exc:
            raise self._unreadable(EXCHANGE_INFO_PATH, str(exc)) from None
        return infos

    async def validate_symbol(self, symbol: str) -> SymbolInfo:
        """The exchange's facts about one symbol, or InvalidSymbolError if it does not list it."""
        symbol = symbol.strip().upper()
        if not is_valid_symbol(symbol):
            raise _bad_symbol_name(symbol)
        info = (await self.exchange_info([symbol])).get(symbol)
        if info is None:
            raise _unknown_symbol(symbol)
        return info

    # --- internals --------------------------------------------------------------------------------

    def _unreadable(self, path: str, detail: str) -> ExchangeUnavailableError:
        # A proxy or captive portal answering 200 with HTML looks like this; treat it as an outage.
        return ExchangeUnavailableError(
            f"Cannot reach the exchange at {self.rest_url}: unreadable answer to {path} ({detail})."
        )

    async def _wait_for_budget(self, weight: int) -> None:
        while (wait := self.budget.reserve(weight, time.time())) > 0:
            log.info("rest waiting for weight budget weight=%d wait_s=%.2f", weight, wait)
            await asyncio.sleep(wait)

    async def _get(self, path: str, params: dict[str, Any], weight: int, symbol: str) -> Any:
        """One GET; returns the parsed JSON body of a 200 or raises the matching ExchangeError."""
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
            self.budget.observe_used(int(used), time.time())

        status = response.status_code
        if status == 200:
            try:
                return orjson.loads(response.content)
            except orjson.JSONDecodeError as exc:
                raise self._unreadable(path, f"not JSON: {exc}") from None
        if status in (429, 418):
            retry_after = _retry_after(response)
            self.budget.block_until(time.time() + retry_after)
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
            raise _unknown_symbol(symbol)
        if code == INVALID_SYMBOL_CODE:
            raise InvalidSymbolError("A requested symbol is not a symbol on this exchange.")
        detail = f"{msg.rstrip('.')} (code {code})" if code is not None else f"HTTP {status}"
        log.warning("rest request rejected path=%s status=%d code=%s msg=%r", path, status, code, msg)
        raise ExchangeRejectedError(f"The exchange rejected {path}: {detail}.", status, code, msg)


# --- snapshot scheduler ---------------------------------------------------------------------------

BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0


def backoff_delay(failures: int, rand: Callable[[], float] = random.random) -> float:
    """Delay before retry number `failures` (1, 2, …): 0.5 s doubling to 30 s, jittered to 50–100 %.

    The jitter keeps symbols that failed together (an outage) from all coming back in the same instant.
    """
    base = min(BACKOFF_MAX, BACKOFF_INITIAL * 2 ** max(0, failures - 1))
    return base * (0.5 + 0.5 * rand())


class SnapshotScheduler:
    """Fetches REST depth snapshots for many symbols without a storm.

    FIFO queue, at most `max_concurrent` requests in flight, each inside the RestClient's weight budget.
    Symbol names are uppercased. `deliver(symbol, snapshot)` is called on the loop, synchronously; it may
    call `request` again (the symbol is no longer in flight by then).
    """

    def __init__(
        self,
        rest: RestClient,
        deliver: Callable[[str, DepthSnapshot], None],
        *,
        limit: int = 1000,
        max_concurrent: int = 2,
        retry_delay: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rest = rest
        self._deliver = deliver
        self._limit = limit
        self._max_concurrent = max(1, max_concurrent)
        self._retry_delay = retry_delay
        self._clock = clock
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._dropped: set[str] = set()  # cancelled while in flight: do not deliver
        self._not_before: dict[str, float] = {}
        self._failures: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self.errors = 0
        self.last_error: str | None = None
        self.rate_limited_until = 0.0

    @property
    def pending(self) -> set[str]:
        """Symbols queued or in flight."""
        return (self._queued | self._in_flight) - self._dropped

    def request(self, symbol: str, retry: bool = False) -> None:
        """Queue a snapshot for `symbol`; a no-op while it is already queued or in flight.

        `retry=True` (the previous snapshot was older than the stream) waits `retry_delay` first, so the
        next snapshot has a chance to cover the buffered events.
        """
        symbol = symbol.upper()
        if symbol in self._in_flight:
            self._dropped.discard(symbol)  # re-requested after a cancel: the answer is wanted again
            return
        if symbol in self._queued:
            return
        if retry:
            self._not_before[symbol] = self._clock() + self._retry_delay
        self._queue.append(symbol)
        self._queued.add(symbol)
        self._changed.set()

    def cancel(self, symbol: str) -> None:
        """Forget `symbol` (e.g. unsubscribed); an answer already on its way is not delivered."""
        symbol = symbol.upper()
        if symbol in self._queued:
            self._queued.discard(symbol)
            self._queue.remove(symbol)
        if symbol in self._in_flight:
            self._dropped.add(symbol)
        self._not_before.pop(symbol, None)
        self._failures.pop(symbol, None)

    async def start(self) -> None:
        if self._workers:
            return
        self._workers = [
            asyncio.create_task(self._worker(), name=f"snapshot-worker-{i}")
            for i in range(self._max_concurrent)
        ]

    async def stop(self) -> None:
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- internals --------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            try:
                symbol = await self._next_symbol()
                self._in_flight.add(symbol)
                try:
                    snapshot = await self._fetch(symbol)
                finally:
                    self._in_flight.discard(symbol)
                    dropped = symbol in self._dropped
                    self._dropped.discard(symbol)
                if snapshot is not None and not dropped:
                    self._deliver_safely(symbol, snapshot)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug must not stop every future snapshot
                log.exception("snapshot worker error, continuing")

    async def _next_symbol(self) -> str:
        """The first queued symbol allowed to go now, waiting for rate limits and per-symbol delays."""
        while True:
            now = self._clock()
            wake_at: float | None = None
            if now < self.rate_limited_until:
                wake_at = self.rate_limited_until
            else:
                for symbol in self._queue:
                    not_before = self._not_before.get(symbol, 0.0)
                    if not_before <= now:
                        self._queue.remove(symbol)
                        self._queued.discard(symbol)
                        self._not_before.pop(symbol, None)
                        return symbol
                    wake_at = not_before if wake_at is None else min(wake_at, not_before)
            self._changed.clear()
            timeout = None if wake_at is None else max(0.0, wake_at - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    async def _fetch(self, symbol: str) -> DepthSnapshot | None:
        try:
            snapshot = await self._rest.depth(symbol, self._limit)
        except RateLimitedError as exc:
            self._note_error(str(exc))
            self.rate_limited_until = max(self.rate_limited_until, self._clock() + exc.retry_after)
            log.warning(
                "snapshot rate limited symbol=%s retry_after_s=%g banned=%s",
                symbol,
                exc.retry_after,
                exc.banned,
            )
            self._requeue(symbol, front=True, delay=0.0)
        except InvalidSymbolError as exc:
            self._note_error(str(exc))
            self._failures.pop(symbol, None)
            log.error("snapshot dropped symbol=%s reason=%r", symbol, str(exc))
        except ExchangeError as exc:
            # Unavailable (network, 5xx, garbage) or rejected (403 WAF, odd 4xx): back off, try again.
            self._note_error(str(exc))
            delay = self._retry_later(symbol)
            level = logging.WARNING if isinstance(exc, ExchangeUnavailableError) else logging.ERROR
            log.log(level, "snapshot failed symbol=%s retry_in_s=%.2f reason=%r", symbol, delay, str(exc))
        except Exception as exc:  # a bug or something unforeseen: keep the symbol, retry slowly
            self._note_error(f"Snapshot for {symbol} failed unexpectedly ({type(exc).__name__}: {exc}).")
            delay = self._retry_later(symbol)
            log.exception("snapshot fetch error symbol=%s retry_in_s=%.2f", symbol, delay)
        else:
            self._failures.pop(symbol, None)
            return snapshot
        return None

    def _requeue(self, symbol: str, *, front: bool, delay: float) -> None:
        if symbol in self._dropped or symbol in self._queued:
            return  # cancelled meanwhile, or re-requested already
        if delay > 0:
            self._not_before[symbol] = self._clock() + delay
        if front:
            self._queue.appendleft(symbol)
        else:
            self._queue.append(symbol)
        self._queued.add(symbol)
        self._changed.set()

    def _retry_later(self, symbol: str) -> float:
        """Re-queue after this symbol's next backoff delay; returns the delay."""
        failures = self._failures.get(symbol, 0) + 1
        self._failures[symbol] = failures
        delay = backoff_delay(failures)
        self._requeue(symbol, front=False, delay=delay)
        return delay

    def _note_error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message

    def _deliver_safely(self, symbol: str, snapshot: DepthSnapshot) -> None:
        try:
            self._deliver(symbol, snapshot)
        except Exception:
            log.exception("snapshot delivery failed symbol=%s", symbol)
