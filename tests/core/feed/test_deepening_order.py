"""While the budget is short, the books that move most are deepened first (docs/SNAPSHOT_HORIZON.md): a queued
refresh's urgency is its book's room before the horizon now, not when it asked. Real manager and simulator; the
budget runs on a ManualClock that stands still, so the refreshes stay queued and their order can be read."""

from __future__ import annotations

import pytest

from core.feed.manager import OrderBookManager
from core.feed.rest import RestClient
from core.recording.clock import ManualClock
from core.simulator.server import ExchangeSimulator
from tests.core.feed.sim_helpers import horizon_config
from tests.waiting import wait_until

SYMBOLS = ["AUSDT", "BUSDT"]


@pytest.mark.asyncio
async def test_a_queued_deepening_moves_ahead_when_its_book_starts_to_run():
    clock = ManualClock(1_800_000_005.0)
    async with ExchangeSimulator(symbols=SYMBOLS, seed=4, interval_ms=20, fast_symbols=SYMBOLS) as sim:
        sim.faults.set_trend(0)  # both books sit still (noise near the touch only), for now
        rest = RestClient(sim.rest_url, clock=clock.now)
        budget = rest.budget
        budget.reserve(budget.allowed - 30, clock.now())  # this minute: room for two cheap starts, no deepening
        manager = OrderBookManager(horizon_config(sim, validate_symbols=False), rest=rest, clock=clock.now)
        sched = manager.scheduler
        await manager.start()
        try:
            await manager.subscribe_many(SYMBOLS)
            await wait_until(lambda: all(manager.is_live(s) for s in SYMBOLS), 10, "two books live on 100 levels")
            assert [manager.status(s).snapshot_limit for s in SYMBOLS] == [100, 100]

            # Both run: each asks to be deepened once it has used half the room its 100 levels gave (40 levels).
            sim.faults.set_trend(8.0)
            await wait_until(lambda: len(sched.queued_refreshes) == 2, 10, "both books to ask for a deepening")
            ahead, behind = sched.queued_refreshes
            sim.faults.set_trend(0, ahead)  # the one with the least room stops; the other runs on
            await wait_until(lambda: sched.queued_refreshes == [behind, ahead], 10, "the running book to go first")
            # The order is the scheduler's verdict on the rooms at its last re-ranking; the rooms read again here
            # may have moved since (the still book's noise), so they are not compared a second time.
            assert sched.refreshes_fetched == 0 and budget.used(clock.now()) <= budget.allowed
        finally:
            await manager.stop()
            await rest.aclose()
