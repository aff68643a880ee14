"""Fault injection for the exchange simulator: what tests and demos call to make the exchange misbehave.

Every method is synchronous and takes effect at once or on the next matching event or request. Faults
that take a `symbol` apply to that symbol, or to every symbol the simulator has when it is None.
The simulator consumes the pending faults through the `take_*` methods.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from typing import TYPE_CHECKING

from core.simulator.market import FastMarket

if TYPE_CHECKING:
    from core.simulator.server import ExchangeSimulator

log = logging.getLogger(__name__)


class Faults:
    def __init__(self, sim: ExchangeSimulator) -> None:
        self._sim = sim
        self._drop: Counter[str] = Counter()
        self._duplicate: Counter[str] = Counter()
        self._stale: Counter[str] = Counter()
        self._straddle: Counter[str] = Counter()
        self._silent_until: dict[str, float] = {}  # time.monotonic() deadline
        self._held_until: dict[str, float] = {}  # time.monotonic() deadline
        self._rate_limits: deque[tuple[int, int]] = deque()

    # ---- stream faults ---------------------------------------------------------------------------

    def drop_events(self, symbol: str | None = None, n: int = 1) -> None:
        """The next n diff events change the book but are sent to nobody: clients see a gap."""
        self._add(self._drop, symbol, n, "drop_events")

    def duplicate_events(self, symbol: str | None = None, n: int = 1) -> None:
        """Each of the next n diff events is followed by a re-send of the event before it (stale: u < id)."""
        self._add(self._duplicate, symbol, n, "duplicate_events")

    def silence(self, symbol: str | None = None, seconds: float = 5.0) -> None:
        """Send no events (diff or partial) for `seconds`; the market keeps moving and ids keep advancing."""
        until = time.monotonic() + seconds
        for sym in self._targets(symbol):
            self._silent_until[sym] = until
        log.info("fault=silence symbol=%s seconds=%s", symbol or "*", seconds)

    def hold(self, symbol: str | None = None, seconds: float = 5.0) -> None:
        """The market stands still for `seconds`: no change, so no event and no new update id (a quiet symbol;
        unlike `silence`, the book the REST answers with is the one last streamed)."""
        until = time.monotonic() + seconds
        for sym in self._targets(symbol):
            self._held_until[sym] = until
        log.info("fault=hold symbol=%s seconds=%s", symbol or "*", seconds)

    def malformed_frames(self, n: int = 1, symbol: str | None = None) -> None:
        """Send n garbage text frames to every connection (subscribers of `symbol` only, if given)."""
        log.info("fault=malformed_frames n=%d symbol=%s", n, symbol or "*")
        self._sim._send_garbage(n, symbol)

    def fast_market(self, seconds: float, speed: float = 8.0, symbol: str | None = None) -> None:
        """For `seconds`, the fast-market symbols (FastMarket: ExchangeSimulator's `fast_symbols` or `fast_market`)
        trend at `speed` ticks per event (8: some 4,800 ticks a minute), then go back to their speed before."""
        markets = self._fast_markets(symbol)
        before = {sym: market._speed for sym, market in markets.items()}
        self.set_trend(speed, symbol)

        def calm_down() -> None:
            for sym, market in markets.items():
                market._speed = before[sym]
            log.info("fault=fast_market ended symbols=%d", len(markets))

        asyncio.get_running_loop().call_later(seconds, calm_down)
        log.info("fault=fast_market symbols=%d seconds=%s speed=%s", len(markets), seconds, speed)

    def set_trend(self, speed: float, symbol: str | None = None) -> None:
        """Set the fast-market symbols' trend to `speed` ticks per event from their next event (0: noise and
        jumps only, a calm market over a deep book)."""
        for market in self._fast_markets(symbol).values():
            # The simulator's own model: the speed is read on every event, so a change applies at once.
            market._speed = speed

    # ---- REST faults --------------------------------------------------------------------------------

    def stale_snapshot(self, symbol: str | None = None, n: int = 1) -> None:
        """The next n depth snapshots predate, by 3 events, the first event any connected subscriber got."""
        self._add(self._stale, symbol, n, "stale_snapshot")

    def straddle_snapshot(self, symbol: str | None = None, n: int = 1) -> None:
        """The next n depth snapshots are taken strictly inside the latest event (U <= lastUpdateId < u)."""
        self._add(self._straddle, symbol, n, "straddle_snapshot")

    def rate_limit(self, status: int = 429, retry_after: int = 2, count: int = 1) -> None:
        """The next `count` REST requests get `status` (429 or 418), Retry-After and a -1003 body."""
        if status not in (418, 429):
            raise ValueError(f"rate limit status must be 429 or 418, not {status}")
        self._rate_limits.extend([(status, retry_after)] * count)
        log.info("fault=rate_limit status=%d retry_after=%d count=%d", status, retry_after, count)

    # ---- connection faults ----------------------------------------------------------------------

    def disconnect_all(self, code: int = 1006, reason: str = "") -> None:
        """Drop every WebSocket connection now: 1006 aborts the TCP connection, other codes close cleanly."""
        log.info("fault=disconnect_all code=%d", code)
        self._sim._disconnect_all(code, reason)

    def server_shutdown(self) -> None:
        """Send the `serverShutdown` event on every connection, then close it (1001)."""
        log.info("fault=server_shutdown")
        self._sim._server_shutdown()

    # ---- consumed by the simulator -------------------------------------------------------------

    def take_drop(self, symbol: str) -> bool:
        return self._take(self._drop, symbol)

    def take_duplicate(self, symbol: str) -> bool:
        return self._take(self._duplicate, symbol)

    def take_stale(self, symbol: str) -> bool:
        return self._take(self._stale, symbol)

    def take_straddle(self, symbol: str) -> bool:
        return self._take(self._straddle, symbol)

    def take_rate_limit(self) -> tuple[int, int] | None:
        return self._rate_limits.popleft() if self._rate_limits else None

    def silenced(self, symbol: str) -> bool:
        return self._until(self._silent_until, symbol)

    def held(self, symbol: str) -> bool:
        return self._until(self._held_until, symbol)

    @staticmethod
    def _until(deadlines: dict[str, float], symbol: str) -> bool:
        until = deadlines.get(symbol)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del deadlines[symbol]
        return False

    def _fast_markets(self, symbol: str | None) -> dict[str, FastMarket]:
        markets = {sym: self._sim.market(sym) for sym in self._targets(symbol)}
        return {sym: market for sym, market in markets.items() if isinstance(market, FastMarket)}

    def _targets(self, symbol: str | None) -> list[str]:
        return list(self._sim.symbols) if symbol is None else [symbol.upper()]

    def _add(self, counter: Counter[str], symbol: str | None, n: int, name: str) -> None:
        for sym in self._targets(symbol):
            counter[sym] += n
        log.info("fault=%s symbol=%s n=%d", name, symbol or "*", n)

    @staticmethod
    def _take(counter: Counter[str], symbol: str) -> bool:
        if counter[symbol] <= 0:
            return False
        counter[symbol] -= 1
        return True
