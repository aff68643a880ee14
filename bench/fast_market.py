"""Exact at any speed: recording the simulator's fast market, every stored snapshot checked against the truth.

The simulator runs in this process (its true book at every update id is needed) in fast-market mode
(core.simulator.market.FastMarket: a book deeper than any snapshot whose resting levels the stream never mentions
until the touch reaches them, a mid running some 4,800 ticks a minute, both ways), on Binance's 100 ms grid. The
real `OrderBookManager` with its default configuration (1000-level snapshots, refresh margin 200 levels, checks
every 0.25 s) follows SYMBOLS, and the real `SnapshotRecorder.run`, on the wall clock, records them into a fresh
database for 120 s (`--quick` 40 s, `--long` 600 s). Then every stored snapshot is compared, price and quantity,
with `market.top_at(update_id, 20)`.

Figures: wrong snapshots (target 0), completeness (stored / seconds looked at, target >= 95 %), the seconds
recorded as "unverified", the REST weight spent per symbol-hour (refreshes and syncs, for information), 429s (0).
For scale, the same market recorded the old way (one 1000-level snapshot, every event applied, no horizon): the
share of wrong snapshots such a recorder stores, computed offline from the same model.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from bench._recording import recorded
from bench._report import Figure, at_least, heading, info, show
from core.feed.manager import ManagerConfig, OrderBookManager
from core.market.orderbook import OrderBook
from core.recording.recorder import SnapshotRecorder
from core.simulator.market import market_for
from core.simulator.server import ExchangeSimulator
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

NAME = "fast_market"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]
INTERVAL_MS = 100  # Binance's diff-stream grid
MAX_TS = 9_999_999_999


def _exactly(bench: str, name: str, value: float, target: float, unit: str, **kw: str) -> Figure:
    return Figure(bench, name, value, unit, f"= {target:g} {unit}".rstrip(), value == target, **kw)


async def _record(duration: float) -> list[Figure]:
    events_kept = int(duration * 1000 / INTERVAL_MS) + 2000  # the truth for every second of the run
    async with ExchangeSimulator(
        symbols=SYMBOLS, seed=21, interval_ms=INTERVAL_MS, fast_market=True, history=events_kept
    ) as sim:
        config = ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=len(SYMBOLS))
        offsets = {s: [sim.market(s).mid_offset] for s in SYMBOLS}  # type: ignore[attr-defined]
        peak_weight = 0
        least_room = 10_000  # the fewest known levels seen behind a top 20 before its horizon

        def each_second(manager: OrderBookManager) -> None:
            nonlocal peak_weight, least_room
            peak_weight = max(peak_weight, sim.stats.used_weight)
            least_room = min(least_room, *(manager.book(s).horizon_room(20, 10_000) for s in SYMBOLS))
            for s in SYMBOLS:
                offsets[s].append(sim.market(s).mid_offset)  # type: ignore[attr-defined]

        async with recorded(config, SYMBOLS, duration, each_second=each_second) as run:
            figures = _check(sim, run.storage, run.recorder)
    symbol_hours = len(SYMBOLS) * run.elapsed / 3600
    travel = [
        sum(abs(b - a) for a, b in itertools.pairwise(o)) / (run.elapsed / 60) for o in offsets.values()
    ]
    figures += [
        show(info(NAME, "mid travel per minute (mean of symbols)", sum(travel) / len(travel), "ticks")),
        show(info(NAME, "refreshes per symbol-minute", run.refreshes / len(SYMBOLS) / (run.elapsed / 60), "")),
        show(info(NAME, "fewest known levels behind a top 20 (sampled 1/s)", least_room, "levels")),
        show(info(NAME, "REST weight per symbol-hour (refreshes + syncs)", run.weight / symbol_hours, "")),
        show(info(NAME, "peak REST weight in a minute (all symbols)", peak_weight, "", note="client allows 4,800")),
        show(_exactly(NAME, "HTTP 429/418 answers", sim.stats.rest_rejected, 0, "")),
    ]
    return figures


def _check(sim: ExchangeSimulator, storage: SnapshotStorage, recorder: SnapshotRecorder) -> list[Figure]:
    checked = wrong = 0
    reasons: Counter[str] = Counter()
    stored_total = gaps_total = 0
    for symbol in SYMBOLS:
        market = sim.market(symbol)
        for _, value in storage.range(symbol, 0, MAX_TS):
            snap = OrderBookSnapshot.from_bytes(symbol, value)
            bids, asks = market.top_at(snap.update_id, 20)
            checked += 1
            wrong += list(snap.bids) != bids or list(snap.asks) != asks
        gaps = storage.gaps(symbol, 0, MAX_TS)
        reasons.update(g.reason.value for g in gaps)
        stored_total += storage.count(symbol)
        gaps_total += len(gaps)
    looked_at = stored_total + gaps_total
    print(f"  {checked} stored snapshots compared with the true book; gap records: {dict(reasons) or 'none'}")
    unverified = sum(recorder.status(s).unverified for s in SYMBOLS)
    return [
        show(_exactly(NAME, "wrong snapshots stored", wrong, 0, "", note=f"of {checked} checked")),
        show(at_least(NAME, "completeness", 100.0 * stored_total / looked_at, 95.0, "%")),
        show(info(NAME, "seconds recorded as unverified", 100.0 * unverified / looked_at, "%")),
    ]


def _as_before(seconds: int) -> Figure:
    """The same market recorded from one 1000-level snapshot with every event applied and no horizon."""
    per_second = 1000 // INTERVAL_MS
    wrong = 0
    for symbol in SYMBOLS:
        market = market_for(symbol, seed=21, fast=True, history=per_second + 1)
        snap = market.snapshot(1000)
        book = OrderBook(symbol)
        book.load_snapshot(snap["bids"], snap["asks"], snap["lastUpdateId"], 1000)
        for second in range(seconds):
            for i in range(per_second):
                event = market.next_event(second * 1000 + i)
                book.apply(event["b"], event["a"], event["u"])
            bids, asks = market.top_at(book.last_update_id, 20)
            wrong += book.top_bids(20) != bids or book.top_asks(20) != asks
    share = 100.0 * wrong / (seconds * len(SYMBOLS))
    return show(info(NAME, "as before (no horizon): wrong snapshots", share, "%", note=f"{seconds} s offline"))


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    duration = 600.0 if long else 40.0 if quick else 120.0
    heading(
        f"fast_market: {len(SYMBOLS)} symbols of the simulator's fast market ({INTERVAL_MS} ms events), "
        f"{duration:.0f} s recorded on the wall clock"
    )
    figures = asyncio.run(_record(duration))
    figures.append(_as_before(int(duration)))
    return figures
