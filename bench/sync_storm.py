"""Cheap start, deep later: 150 symbols subscribed at once (a reconnect), with and without shallow syncs.

The simulator (normal market, 100 ms events) runs in this process; a real `OrderBookManager` with Binance's budget
(80 % of 6000 per minute) subscribes 150 symbols at once, first with every sync at 1000 levels
(`shallow_sync_limit=None`), then with the default adaptive policy (a sync goes at 100 levels, weight 5, while the
syncs waiting would not all fit at full depth into the minute's budget; a book is deepened once it has used half
the room its 100 levels gave). Printed: the seconds until every book is live, then (not with `--quick`) a minute
later how many books were deepened and how many keep their top 20 verified, the shallow syncs and the weight
spent. Target: every book live within the first minute with the adaptive policy.
"""

from __future__ import annotations

import asyncio
import time

from bench._report import Figure, below, heading, info, show
from core.feed.manager import ManagerConfig, OrderBookManager
from core.simulator.server import ExchangeSimulator

NAME = "sync_storm"
SYMBOLS = [f"S{i:03d}USDT" for i in range(150)]
WATCH_S = 60.0


async def _storm(shallow: int | None, wait_deep: bool) -> dict[str, float | None]:
    async with ExchangeSimulator(symbols=SYMBOLS, seed=3, interval_ms=100) as sim:
        manager = OrderBookManager(
            ManagerConfig(
                ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=len(SYMBOLS), shallow_sync_limit=shallow
            )
        )
        await manager.start()
        try:
            t0 = time.monotonic()
            await manager.subscribe_many(SYMBOLS)
            live: float | None = None
            while time.monotonic() - t0 < 200:
                await asyncio.sleep(0.1)
                now = time.monotonic() - t0
                if live is None and all(manager.is_live(s) for s in SYMBOLS):
                    live = now
                    break
            if wait_deep and live is not None:
                await asyncio.sleep(WATCH_S)  # what the books do in their first minute live
            verified = [manager.is_live(s) and manager.book(s).verified(20) for s in SYMBOLS]  # type: ignore[union-attr]
            return {
                "live": live,
                "deepened": sum((manager.status(s).snapshot_limit or 0) > 100 for s in SYMBOLS),
                "verified": sum(verified),
                "shallow": manager.scheduler.shallow_syncs,
                "weight": manager.scheduler.weight_spent,
                "rejected": sim.stats.rest_rejected,
            }
        finally:
            await manager.stop()


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    heading(f"sync_storm: {len(SYMBOLS)} symbols subscribed at once, Binance's weight budget")
    figures: list[Figure] = []
    for label, shallow in (("every sync at 1000 levels", None), ("adaptive shallow syncs (default)", 100)):
        result = asyncio.run(_storm(shallow, wait_deep=not quick))
        print(f"  {label}: {result}", flush=True)
        live = result["live"] if result["live"] is not None else float("inf")
        if shallow is None:
            figures.append(show(info(NAME, f"all live, {label}", live, "s")))
        else:
            figures.append(show(below(NAME, f"all live, {label}", live, 60.0, "s")))
            figures.append(show(info(NAME, "shallow syncs", result["shallow"], "")))
        if not quick:
            deeper = f"books deeper than 100 levels a minute later, {label}"
            figures.append(show(info(NAME, deeper, result["deepened"], "")))
            figures.append(show(info(NAME, f"books verified a minute later, {label}", result["verified"], "")))
        figures.append(show(info(NAME, f"weight spent, {label}", result["weight"], "")))
    return figures
