"""The long-tailed market that whole_market and steady_weight share: its symbols, Binance's REST weight limit
for its simulator, and a `RecordingSession` following every symbol and waiting until every book is live.
"""

from __future__ import annotations

import asyncio
import time

from core.feed.config import MAX_SYMBOLS_CEILING
from core.feed.errors import ExchangeUnavailableError
from core.recording.session import RecordingSession

BINANCE_WEIGHT_LIMIT = 6000  # a minute: every 429 the simulator answers is one Binance would have answered
LIVE_TIMEOUT_S = 900.0


def market_symbols(n: int) -> list[str]:
    """The busiest first, as long_tailed_activity ranks them."""
    return (["BTCUSDT", "ETHUSDT", "BNBUSDT"] + [f"S{i:04d}USDT" for i in range(max(0, n - 3))])[:n]


def symbols_possible(wanted: int) -> int:
    """`wanted`, or the most symbols the manager follows, said aloud."""
    if wanted > MAX_SYMBOLS_CEILING:
        print(f"  the manager follows at most {MAX_SYMBOLS_CEILING} symbols: running at that", flush=True)
    return min(wanted, MAX_SYMBOLS_CEILING)


async def follow_all(session: RecordingSession, symbols: list[str]) -> None:
    """Follow every symbol; the simulator may be too busy starting 1,500 markets to answer exchangeInfo at
    first (the manager then refuses, as it should), so ask again a few times."""
    for attempt in range(1, 7):
        try:
            await session.follow(symbols)
            return
        except ExchangeUnavailableError as exc:
            if attempt == 6:
                raise
            print(f"  follow refused ({exc}); again in 10 s", flush=True)
            await asyncio.sleep(10.0)


async def wait_all_live(session: RecordingSession, symbols: list[str]) -> float:
    """Seconds until every book is live, with a progress line every 15 s; fails after LIVE_TIMEOUT_S."""
    manager = session.manager
    t0 = time.monotonic()
    next_report = t0 + 15
    while True:
        live = sum(manager.is_live(s) for s in symbols)
        now = time.monotonic()
        if live == len(symbols):
            return now - t0
        if now > next_report:
            print(f"  {live:,} of {len(symbols):,} live after {now - t0:.0f} s", flush=True)
            next_report = now + 15
        if now - t0 > LIVE_TIMEOUT_S:
            raise RuntimeError(f"only {live} of {len(symbols)} books live after {LIVE_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.2)
