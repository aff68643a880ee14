"""USDⓈ-M futures recorded exactly: the simulator's futures mode, fast market, every stored snapshot against the truth.

The simulator runs in this process (its true book at every update id is needed) as a USDⓈ-M exchange
(core.simulator.futures: `pu`-chained events with update ids shared across symbols, /fapi/v1/depth at weights
2/5/10/20 against 2,400 a minute) in fast-market mode, on Binance's 100 ms grid. The real `OrderBookManager` with
`market=USDM` and its default configuration follows SYMBOLS and the real `SnapshotRecorder.run`, on the wall
clock, records them (stored as usdm/SYMBOL) for 90 s (`--quick` 30 s, `--long` 600 s). Then every stored snapshot
is compared, price and quantity, with `market.top_at(update_id, 20)`.

Figures: wrong snapshots (target 0), completeness (target >= 95 %), gaps in the `pu` chain and resyncs (0: the
simulator drops nothing), time to live, REST weight per symbol-hour and the peak weight in a minute against the
client's futures allowance (80 % of 2,400), 429s (0).
"""

from __future__ import annotations

import asyncio

from bench._recording import recorded
from bench._report import Figure, at_least, below, heading, info, show
from core.feed.manager import ManagerConfig, OrderBookManager
from core.market.markets import USDM
from core.simulator.server import ExchangeSimulator
from core.storage.keys import storage_symbol
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

NAME = "futures"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"]
INTERVAL_MS = 100
MAX_TS = 9_999_999_999


async def _record(duration: float) -> list[Figure]:
    events_kept = int(duration * 1000 / INTERVAL_MS) + 2000  # the truth for every second of the run
    async with ExchangeSimulator(
        symbols=SYMBOLS, seed=23, interval_ms=INTERVAL_MS, fast_market=True, history=events_kept, usdm=True
    ) as sim:
        config = ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=len(SYMBOLS), market=USDM)
        peak_weight = 0

        def each_second(_manager: OrderBookManager) -> None:
            nonlocal peak_weight
            peak_weight = max(peak_weight, sim.stats.used_weight)

        async with recorded(config, SYMBOLS, duration, each_second=each_second) as run:
            checked = _check(sim, run.storage)
            gaps = sum(run.manager.status(s).gaps for s in SYMBOLS)
            resyncs = sum(run.manager.status(s).resyncs for s in SYMBOLS)
    allowance = int(USDM.weight_limit * 0.8)
    symbol_hours = len(SYMBOLS) * run.elapsed / 3600
    return [
        show(below(NAME, "all books live after", run.live_after, 5.0, "s")),
        *checked,
        show(_zero("gaps in the pu chain + resyncs", gaps + resyncs)),
        show(info(NAME, "REST weight per symbol-hour (refreshes + syncs)", run.weight / symbol_hours, "")),
        show(
            Figure(
                NAME, "peak REST weight in a minute (all symbols)", peak_weight, "", f"<= {allowance:,}",
                peak_weight <= allowance, note="80 % of 2,400",
            )
        ),
        show(_zero("HTTP 429/418 answers", sim.stats.rest_rejected)),
    ]


def _zero(name: str, value: float, **kw: str) -> Figure:
    return Figure(NAME, name, value, "", "= 0", value == 0, **kw)


def _check(sim: ExchangeSimulator, storage: SnapshotStorage) -> list[Figure]:
    checked = wrong = stored = gaps = 0
    for symbol in SYMBOLS:
        name = storage_symbol(USDM, symbol)
        market = sim.market(symbol)
        for _, value in storage.range(name, 0, MAX_TS):
            snap = OrderBookSnapshot.from_bytes(name, value)
            bids, asks = market.top_at(snap.update_id, 20)
            checked += 1
            wrong += list(snap.bids) != bids or list(snap.asks) != asks
        stored += storage.count(name)
        gaps += len(storage.gaps(name, 0, MAX_TS))
    return [
        show(_zero("wrong snapshots stored", wrong, note=f"of {checked} checked")),
        show(at_least(NAME, "completeness", 100.0 * stored / max(1, stored + gaps), 95.0, "%")),
    ]


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    duration = 600.0 if long else 30.0 if quick else 90.0
    heading(
        f"futures: {len(SYMBOLS)} USDⓈ-M symbols of the simulator's fast market ({INTERVAL_MS} ms events), "
        f"{duration:.0f} s recorded on the wall clock"
    )
    return asyncio.run(_record(duration))
