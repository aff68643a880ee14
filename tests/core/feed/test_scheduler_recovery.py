"""A sync never waits for deepenings (docs/SNAPSHOT_HORIZON.md): a symbol that gaps while many refreshes are queued
goes live again within the same minute and without queueing behind them. Real RestClient, real simulator; the
weight budget runs on a ManualClock that stands still, so "the next minute" never comes: whatever needs it fails."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.feed.budget import WeightBudget
from core.feed.refresh_budget import (
    LOSING_ROOM,
    PACE_LEAD,
    SYNC_RESERVE_SHARE,
    URGENT_RESERVE_SHARE,
    URGENT_ROOM,
)
from core.feed.rest import RestClient
from core.feed.scheduler import SnapshotScheduler
from core.market.wire import DepthSnapshot
from core.recording.clock import ManualClock
from core.simulator.server import ExchangeSimulator
from tests.waiting import wait_until

DEEPENING = [f"D{i:02d}USDT" for i in range(40)]
GAPPED = "GAPUSDT"
MINUTE_START = 1_800_000_000.0  # a calendar minute's first second (divisible by 60)
Deliver = Callable[[str, DepthSnapshot, int], None]


async def start(sim: ExchangeSimulator, clock: ManualClock, budget: WeightBudget, deliver: Deliver):
    """The scheduler as the manager builds it (16 workers, cheap starts, 500-level refreshes when short)."""
    rest = RestClient(sim.rest_url, budget=budget, clock=clock.now)
    sched = SnapshotScheduler(
        rest, deliver, pass_limit=True, clock=clock.now, limit=1000, max_concurrent=16,
        shallow_limit=100, tight_refresh_limit=500,
    )  # fmt: skip
    await sched.start()
    return rest, sched


@pytest.mark.asyncio
async def test_a_symbol_that_gaps_after_deepenings_spent_the_minute_still_syncs_within_it():
    clock = ManualClock(MINUTE_START + 55)  # late in the minute: the deepenings' pace allows their whole share
    budget = WeightBudget()  # Binance's: 4,800 of 6,000 a minute
    # Earlier this minute, a start-up's syncs and deepenings: 200 weight left for deepenings that are not urgent.
    deepening_share = 1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE
    budget.reserve(int(budget.allowed * deepening_share) - 200, clock.now())
    got: list[tuple[str, int]] = []
    async with ExchangeSimulator(symbols=[*DEEPENING, GAPPED], seed=3, interval_ms=200) as sim:
        rest, sched = await start(sim, clock, budget, lambda symbol, _, limit: got.append((symbol, limit)))
        try:
            for symbol in DEEPENING:  # 40 recorded books want deepening: 1,000 weight even at 500 levels
                sched.request(symbol, refresh=True, high=True, room=80)
            # The refreshes go as far as they may this minute; then nothing moves until the clock does.
            await wait_until(lambda: sched.fetched > 0 and sched.in_flight == 0, 10, "the deepenings to stop")
            deepened = sched.refreshes_fetched
            assert 0 < deepened < len(DEEPENING)
            assert budget.used(clock.now()) <= budget.allowed * deepening_share  # both reserves are whole

            sched.request(GAPPED, high=True)  # a recorded symbol drops an event: its book resyncs
            await wait_until(lambda: GAPPED in dict(got), 5, "the gapped symbol's snapshot this minute")
            # Within the minute, at its cheapest: a 1000-level sync (50) would eat into the urgent refreshes'
            # reserve, which the deepenings left whole for books whose top moves.
            assert dict(got)[GAPPED] == 100 and sched.shallow_syncs == 1
            assert budget.used(clock.now()) <= budget.allowed and sim.stats.rest_rejected == 0
            assert sched.refreshes_fetched == deepened  # the deepenings still wait for the next minute
            assert set(sched.queued_refreshes) == {s for s in DEEPENING if (s, 500) not in got}
        finally:
            await sched.stop()
            await rest.aclose()


@pytest.mark.asyncio
async def test_deepenings_hold_a_few_workers_at_most_so_a_sync_finds_one_free():
    clock = ManualClock(MINUTE_START + 5)
    budget = WeightBudget(limit_per_minute=1_000_000)  # weight is no limit here: only the workers are
    served: list[str] = []
    most_in_flight = 0  # refreshes in flight at an answer, that one included

    def deliver(symbol: str, snapshot: DepthSnapshot, limit: int) -> None:
        nonlocal most_in_flight
        most_in_flight = max(most_in_flight, sched.refreshes_in_flight + (symbol != GAPPED))
        served.append(symbol)
        if len(served) == 3:
            sched.request(GAPPED, high=True)  # a gap while 37 deepenings wait and a few are in flight

    async with ExchangeSimulator(symbols=[*DEEPENING, GAPPED], seed=3, interval_ms=200) as sim:
        rest, sched = await start(sim, clock, budget, deliver)
        try:
            for symbol in DEEPENING:
                sched.request(symbol, refresh=True, high=True, room=80)
            await wait_until(lambda: len(served) == len(DEEPENING) + 1, 30, "every snapshot")
            assert most_in_flight <= 16 // 4  # a quarter of the workers
            # Before the gapped symbol's answer come the three before its gap and the few in flight then (with
            # every worker on a refresh, as before, it came after 18 of them).
            assert served.index(GAPPED) <= 3 + 16 // 4
        finally:
            await sched.stop()
            await rest.aclose()


@pytest.mark.asyncio
async def test_deepenings_spend_their_share_at_a_pace_and_leave_the_rest_to_books_that_become_urgent():
    clock = ManualClock(MINUTE_START)  # the minute's first second, nothing spent yet
    budget = WeightBudget()  # 4,800 a minute
    share = budget.allowed * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)  # the deepenings': 3,360

    def paced(seconds_in: float) -> float:
        return share * (seconds_in + PACE_LEAD) / 60

    got: list[tuple[str, int]] = []
    async with ExchangeSimulator(symbols=[*DEEPENING, GAPPED], seed=3, interval_ms=200) as sim:
        rest, sched = await start(sim, clock, budget, lambda symbol, _, limit: got.append((symbol, limit)))
        try:
            for symbol in DEEPENING:  # 2,000 weight at 1000 levels: within the minute's share, not its pace
                sched.request(symbol, refresh=True, high=True, room=80)
            await wait_until(lambda: sched.fetched > 0 and sched.in_flight == 0, 10, "the first deepenings")
            early = budget.used(clock.now())
            assert paced(0) - 50 < early <= paced(0)  # 336: six at 1000 levels, not forty
            # A book whose top moves mid-minute finds the weight the deepenings did not spend yet.
            urgent = (LOSING_ROOM + URGENT_ROOM) // 2  # urgent, not losing its top
            sched.request(GAPPED, refresh=True, high=True, room=urgent)
            await wait_until(lambda: GAPPED in dict(got), 5, "the urgent refresh")
            assert dict(got)[GAPPED] == 1000 and sched.rescues == 0  # deep, not a rescue
            # Half a minute on, the pace lets more of them go (a request wakes the sleeping workers).
            await clock.advance(30, step=30)  # nothing sleeps on this clock: the time just moves
            sched.request(DEEPENING[-1], refresh=True, high=True, room=80)
            await wait_until(lambda: sched.fetched > 8 and sched.in_flight == 0, 10, "more deepenings")
            assert paced(0) < budget.used(clock.now()) <= paced(30) + 50  # the urgent one's 50 on top
            assert sim.stats.rest_rejected == 0
        finally:
            await sched.stop()
            await rest.aclose()
