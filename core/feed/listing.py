"""The exchange's listing, followed: which symbols trade, and which part of the market a recorder takes.

`MarketSelection` picks symbols from exchangeInfo: every TRADING one, optionally only those quoted in given assets,
and optionally one shard of N (a symbol belongs to shard `crc32(name) % N + 1`, stable across runs and machines,
so N recorders split the market with no overlap and no hole).

`listing_changes` compares what is followed with a fresh exchangeInfo (pure). `ListingWatcher` fetches
exchangeInfo every `interval` seconds (one unfiltered call, weight 20) and acts on the changes through its
owner: a followed symbol whose status leaves TRADING, or that is delisted, is stopped and remembered; when it
trades again it is followed again; while following the whole market a new TRADING listing it selects is added.
Each change is logged in one line and told to the listeners (`ListingChanged`). A failed fetch is logged and
tried again next period; it never stops anything.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from core.feed.errors import ExchangeError, InvalidSymbolError, RateLimitedError
from core.feed.events import ListingChanged
from core.feed.rest import RestClient, retrying
from core.market.wire import SymbolInfo

log = logging.getLogger(__name__)

DELISTED = "DELISTED"  # the status a symbol that exchangeInfo no longer lists is stopped with


def shard_of(symbol: str, shards: int) -> int:
    """The shard (1 to `shards`) a symbol belongs to: a hash of its name, the same on every machine."""
    return zlib.crc32(symbol.encode()) % shards + 1


@dataclass(frozen=True)
class MarketSelection:
    """Which TRADING symbols "all" means: quoted in `quotes` (None: any), in shard `shard[0]` of `shard[1]`."""

    quotes: frozenset[str] | None = None
    shard: tuple[int, int] | None = None  # (k, n), 1 <= k <= n

    def __post_init__(self) -> None:
        if self.shard is not None and not 1 <= self.shard[0] <= self.shard[1]:
            raise ValueError(f"a shard is K/N with 1 <= K <= N, got {self.shard[0]}/{self.shard[1]}")

    def selects(self, info: SymbolInfo) -> bool:
        """Whether `info`'s symbol is in this part of the market (whatever its status)."""
        if self.quotes is not None and info.quote_asset not in self.quotes:
            return False
        return self.shard is None or shard_of(info.symbol, self.shard[1]) == self.shard[0]

    def pick(self, infos: Mapping[str, SymbolInfo]) -> list[str]:
        """The TRADING symbols selected, sorted."""
        return sorted(s for s, info in infos.items() if info.trading and self.selects(info))


@dataclass(frozen=True)
class ListingChanges:
    stopped: dict[str, str] = field(default_factory=dict)  # followed symbol -> its status now (or DELISTED)
    resumed: list[str] = field(default_factory=list)  # stopped symbols that trade again
    added: list[str] = field(default_factory=list)  # new TRADING symbols the selection takes

    def __bool__(self) -> bool:
        return bool(self.stopped or self.resumed or self.added)


def listing_changes(
    followed: Iterable[str],
    stopped: Iterable[str],
    infos: Mapping[str, SymbolInfo],
    selection: MarketSelection | None,
) -> ListingChanges:
    """What to do after a fresh exchangeInfo (`infos`, every symbol): stop, follow again, add."""
    followed, stopped = set(followed), set(stopped)
    gone = {s: (infos[s].status if s in infos else DELISTED) for s in sorted(followed)}
    changes = ListingChanges(
        stopped={s: status for s, status in gone.items() if s not in infos or not infos[s].trading},
        resumed=sorted(s for s in stopped if s in infos and infos[s].trading),
    )
    if selection is not None:
        known = followed | stopped
        changes.added.extend(s for s in selection.pick(infos) if s not in known)
    return changes


async def require_trading(rest: RestClient, symbols: list[str]) -> None:
    """Raise InvalidSymbolError naming the first of `symbols` that is not listed or not TRADING (the app's "add
    symbol" shows that sentence); a short 429 is waited out rather than failing the user."""
    for attempt in range(3):
        try:
            infos = await _symbol_infos(rest, symbols)
            break
        except RateLimitedError as exc:
            # The client now holds every request until Retry-After; a short wait beats failing the user.
            if exc.banned or exc.retry_after > 30 or attempt == 2:
                raise
    for symbol in symbols:
        info = infos.get(symbol)
        if info is None:
            raise InvalidSymbolError(f"{symbol} is not a symbol on this exchange.")
        if not info.trading:
            raise InvalidSymbolError(f"{symbol} is not trading right now (status {info.status}).")


async def _symbol_infos(rest: RestClient, symbols: list[str]) -> dict[str, SymbolInfo]:
    if len(symbols) == 1:
        info = await rest.validate_symbol(symbols[0])
        return {info.symbol: info}
    infos: dict[str, SymbolInfo] = {}
    for start in range(0, len(symbols), 100):  # 100 names keep the URL short
        infos.update(await rest.exchange_info(symbols[start : start + 100]))
    return infos


async def fetch_listing(
    rest: RestClient,
    *,
    retry_for: float = 0.0,
    retry_initial: float = 1.0,
    retry_max: float = 60.0,
    on_retry: Callable[[str, float], None] | None = None,
) -> dict[str, SymbolInfo]:
    """Every symbol exchangeInfo lists. While the exchange cannot answer it retries with backoff for
    `retry_for` seconds (math.inf: forever), calling `on_retry(sentence, delay)` before each wait; then it raises
    the ExchangeError."""
    return await retrying(lambda: rest.exchange_info(None), retry_for, retry_initial, retry_max, on_retry)


class ListingWatcher:
    """Keeps the followed symbols in step with the exchange's listing (see the module docstring)."""

    def __init__(
        self,
        rest: RestClient,
        *,
        followed: Callable[[], Iterable[str]],
        stop: Callable[[str], Awaitable[None]],
        follow: Callable[[list[str]], Awaitable[list[str]]],
        emit: Callable[[ListingChanged], None],
    ) -> None:
        self.rest = rest
        self._followed = followed  # the symbols followed now
        self._stop = stop  # unsubscribe one symbol
        self._follow = follow  # subscribe checked symbols; returns those it could not (the symbol limit)
        self._emit = emit
        self.selection: MarketSelection | None = None  # following the whole market (or a part): add listings
        self.stopped: dict[str, str] = {}  # symbol -> the status it was stopped for
        self.refreshes = 0
        self.failures = 0
        self.last_error: str | None = None

    async def run(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await self.refresh()

    async def refresh(self) -> ListingChanges | None:
        """Fetch exchangeInfo once and act on what changed; None (logged) if the exchange did not answer."""
        try:
            infos = await self.rest.exchange_info(None)
        except ExchangeError as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning("listing refresh failed, next try in one period: %s", exc)
            return None
        followed = list(self._followed())
        if followed and not any(s in infos for s in followed):
            # Binance never delists every symbol at once: an answer that lists none of them is not believed.
            self.failures += 1
            self.last_error = f"exchangeInfo listed none of the {len(followed)} followed symbols"
            log.warning("listing refresh ignored: %s; next try in one period", self.last_error)
            return None
        self.refreshes += 1
        self.last_error = None
        changes = listing_changes(followed, self.stopped, infos, self.selection)
        for symbol, status in changes.stopped.items():
            what = "delisted" if status == DELISTED else f"status {status}"
            log.warning(
                "symbol stopped symbol=%s reason=%s: unsubscribed until it trades again", symbol, what
            )
            await self._stop(symbol)
            self.stopped[symbol] = status
            self._emit(ListingChanged(symbol, "stopped", status))
        await self._start(changes.resumed, "resumed", "trades again")
        await self._start(changes.added, "added", "new listing")
        return changes

    async def _start(self, symbols: list[str], change: str, why: str) -> None:
        if not symbols:
            return
        refused = set(await self._follow(symbols))
        for symbol in symbols:
            if symbol in refused:
                continue  # the manager said why, in one line
            self.stopped.pop(symbol, None)
            log.info("symbol %s symbol=%s: %s, following it", change, symbol, why)
            self._emit(ListingChanged(symbol, change, "TRADING"))
