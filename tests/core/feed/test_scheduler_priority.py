"""SnapshotScheduler's order: recorded symbols first, syncs before refreshes, refreshes only within the budget."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from core.feed.budget import WeightBudget, depth_weight
from core.feed.refresh_budget import (
    CALM_AFTER_S,
    CALM_RATE,
    FEW_SYNCS,
    LATE_RESCUE_SHARE,
    LOSING_ROOM,
    LOW_PRIORITY_REFRESH_SHARE,
    RESCUE_RESERVE_SHARE,
    RESCUED_AGAIN_S,
    SYNC_RESERVE_SHARE,
    URGENT_RESERVE_SHARE,
    URGENT_ROOM,
    BudgetRules,
    Request,
    is_calm,
)
from core.feed.request_queue import RequestQueue
from core.feed.scheduler import SnapshotScheduler
from core.market.wire import DepthSnapshot
from tests.waiting import wait_until


class FakeRest:
    """Answers depth requests in order, one at a time, once `gate` is open; charges the budget like RestClient."""

    def __init__(self, budget: WeightBudget | None = None) -> None:
        self.budget = budget or WeightBudget()
        self.asked: list[tuple[str, int]] = []
        self.started: list[str] = []  # requests begun, the gate open or not
        self.gate = asyncio.Event()
        self.gate.set()

    async def depth(self, symbol: str, limit: int = 1000) -> DepthSnapshot:
        self.started.append(symbol)
        await self.gate.wait()
        while (wait := self.budget.reserve(depth_weight(limit), time.time())) > 0:
            await asyncio.sleep(wait)
        self.asked.append((symbol, limit))
        return DepthSnapshot(len(self.asked), [], [], symbol)


class Got:
    def __init__(self) -> None:
        self.got: list[tuple[str, int]] = []

    def __call__(self, symbol: str, snapshot: DepthSnapshot, limit: int) -> None:
        self.got.append((symbol, limit))


@contextlib.asynccontextmanager
async def running(rest: FakeRest, got: Got, **kwargs):
    kwargs.setdefault("max_concurrent", 1)
    sched = SnapshotScheduler(rest, got, pass_limit=True, **kwargs)  # type: ignore[arg-type]
    await sched.start()
    try:
        yield sched
    finally:
        await sched.stop()


# The whole market's depths: syncs at full depth or 100 when short, refreshes at 1000, 500 when short.
WHOLE_MARKET = {"limit": 1000, "tight_refresh_limit": 500, "shallow_limit": 100}


async def minute_spent(weight: int, within: float = 57) -> WeightBudget:
    """A budget of 1,000 a minute (all of it allowed) of which `weight` is spent, at least `60 - within` seconds
    before the calendar minute turns (the budget counts per minute)."""
    if time.time() % 60 > within:
        await asyncio.sleep(60 - time.time() % 60)
    budget = WeightBudget(limit_per_minute=1000, fraction=1.0)
    budget.reserve(weight, time.time())
    return budget


@pytest.mark.asyncio
async def test_recorded_symbols_then_syncs_before_refreshes_then_first_come_first_served():
    rest, got = FakeRest(), Got()
    rest.gate.clear()  # hold the first request so that the queue fills up behind it
    async with running(rest, got, limit=1000) as sched:
        sched.request("FIRSTUSDT")
        await wait_until(lambda: rest.started == ["FIRSTUSDT"], what="FIRSTUSDT in flight")
        sched.request("AREFRESH", refresh=True)
        sched.request("BSYNC", limit=100)
        sched.request("CREC", refresh=True, high=True, room=100)
        sched.request("DSYNC")
        sched.request("EREC", high=True)
        sched.request("FLOST", refresh=True, high=True, room=-3)  # recorded, its top already beyond the horizon
        sched.request("GNEAR", refresh=True, high=True, room=LOSING_ROOM - 1)  # recorded, one sweep from it
        rest.gate.set()
        await wait_until(lambda: len(got.got) == 8)
    assert got.got == [
        ("FIRSTUSDT", 1000),
        ("FLOST", 1000),  # recorded and losing its top: as lost as a gapped book, rescued first
        ("GNEAR", 1000),  # then the one about to lose it, still before the syncs
        ("EREC", 1000),  # recorded, a sync
        ("CREC", 1000),  # recorded, a refresh
        ("BSYNC", 100),  # the others' syncs, in order, each with its own depth
        ("DSYNC", 1000),
        ("AREFRESH", 1000),  # the others' refresh last
    ]


@pytest.mark.asyncio
async def test_a_sync_request_turns_a_queued_refresh_into_a_sync_and_priority_can_change():
    rest, got = FakeRest(), Got()
    rest.gate.clear()
    async with running(rest, got, limit=1000) as sched:
        sched.request("FIRSTUSDT")
        await wait_until(lambda: rest.started == ["FIRSTUSDT"], what="FIRSTUSDT in flight")
        sched.request("AUSDT", refresh=True)
        sched.request("BUSDT", refresh=True)
        sched.request("CUSDT", refresh=True)
        sched.request("BUSDT", limit=100)  # B's book was lost meanwhile: now a sync, of 100 levels
        sched.set_priority("CUSDT", True)  # C became recorded
        rest.gate.set()
        await wait_until(lambda: len(got.got) == 4)
    assert got.got == [("FIRSTUSDT", 1000), ("CUSDT", 1000), ("BUSDT", 100), ("AUSDT", 1000)]


@pytest.mark.asyncio
async def test_refreshes_wait_for_room_in_the_budget_while_syncs_go_ahead():
    if time.time() % 60 > 57:  # the budget counts per calendar minute: start well inside one
        await asyncio.sleep(60 - time.time() % 60)
    budget = WeightBudget(limit_per_minute=210, fraction=1.0)
    budget.reserve(130, time.time())  # 130 of 210 spent this minute by others
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, limit=1000) as sched:
        sched.request("LOWUSDT", refresh=True)  # 130 + 50 > 210 * 0.5: not this minute
        sched.request("RECUSDT", refresh=True, high=True)  # 130 + 50 <= 210 less the sync reserve (21): goes
        await wait_until(lambda: len(got.got) == 1)
        sched.request("SYNCUSDT", limit=100)  # a sync always goes (the RestClient's budget has the last word)
        await wait_until(lambda: len(got.got) == 2)
        await asyncio.sleep(0.1)
        assert sched.pending == {"LOWUSDT"}
    assert got.got == [("RECUSDT", 1000), ("SYNCUSDT", 100)]
    assert budget.used(time.time()) == 185
    assert LOW_PRIORITY_REFRESH_SHARE < 1 - SYNC_RESERVE_SHARE


@pytest.mark.asyncio
async def test_a_blocked_budget_holds_refreshes_and_weight_is_counted():
    budget = WeightBudget()
    budget.block_until(time.time() + 600)  # after a 429: nothing for ten minutes
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, limit=500) as sched:
        sched.request("AUSDT", refresh=True, high=True)
        await asyncio.sleep(0.1)
        assert got.got == [] and rest.asked == [] and sched.pending == {"AUSDT"}
        budget._blocked_until = 0.0  # the ban is over
        sched.request("BUSDT")  # any request wakes the scheduler
        await wait_until(lambda: len(got.got) == 2)
        assert sched.weight_spent == 2 * depth_weight(500) and sched.refreshes_fetched == 1


@pytest.mark.asyncio
async def test_syncs_go_shallow_while_those_waiting_would_not_fit_into_the_minute_at_full_depth():
    if time.time() % 60 > 57:
        await asyncio.sleep(60 - time.time() % 60)
    budget = WeightBudget(limit_per_minute=200, fraction=1.0)
    rest, got = FakeRest(budget), Got()
    rest.gate.clear()
    async with running(rest, got, limit=1000, shallow_limit=100) as sched:
        for i in range(6):  # a reconnect: six books to sync at once, 300 at full depth, 200 allowed
            sched.request(f"S{i}USDT")
        sched.request("REFRESHUSDT", refresh=True)  # refreshes are never made shallow
        rest.gate.set()
        await wait_until(lambda: len(got.got) == 6)
    # At full depth only within what both reserves leave, 70 % of 200 = 140: 300 > 140: shallow; 250 > 135,
    # 200 > 130, 150 > 125: shallow; then 100 <= 120 and 50 <= 70 fit at full depth.
    assert [limit for _, limit in got.got] == [100, 100, 100, 100, 1000, 1000]
    assert sched.shallow_syncs == 4 and budget.used(time.time()) == 120


@pytest.mark.asyncio
async def test_syncs_go_shallow_while_books_still_to_ask_would_not_fit_either():
    # A whole market's start: the books ask for their syncs one by one as their first events arrive, so the
    # queue holds one at a time; the books subscribed with no event yet say how many are coming.
    if time.time() % 60 > 57:
        await asyncio.sleep(60 - time.time() % 60)
    budget = WeightBudget(limit_per_minute=200, fraction=1.0)
    rest, got = FakeRest(budget), Got()
    to_come = [5]
    async with running(rest, got, limit=1000, shallow_limit=100, syncs_to_come=lambda: to_come[0]) as sched:
        for i in range(6):
            sched.request(f"S{i}USDT")
            await wait_until(lambda n=i + 1: len(got.got) == n)
            to_come[0] -= 1
    # 50 + 5 x 50 > 140, 50 + 4 x 50 > 135, ...: shallow until the rest fit at full depth, as in a reconnect.
    assert [limit for _, limit in got.got] == [100, 100, 100, 100, 1000, 1000]


@pytest.mark.asyncio
async def test_refreshes_go_most_urgent_first_the_least_room_before_the_horizon():
    rest, got = FakeRest(), Got()
    rest.gate.clear()
    async with running(rest, got, limit=1000) as sched:
        sched.request("FIRSTUSDT")
        await wait_until(lambda: rest.started == ["FIRSTUSDT"])
        sched.request("ROOMY", refresh=True, room=150)
        sched.request("GONE", refresh=True, room=-3)  # its top already left the horizon: unverified now
        sched.request("NEAR", refresh=True, room=40)
        sched.request("RECROOMY", refresh=True, high=True, room=190)
        sched.request("SYNCUSDT", room=-50)  # a sync has no room: it is not live at all
        rest.gate.set()
        await wait_until(lambda: len(got.got) == 6)
    assert [symbol for symbol, _ in got.got] == ["FIRSTUSDT", "RECROOMY", "SYNCUSDT", "GONE", "NEAR", "ROOMY"]


@pytest.mark.asyncio
async def test_a_refresh_short_of_budget_goes_at_the_tight_depth_if_that_fits():
    if time.time() % 60 > 57:  # the budget counts per calendar minute: start well inside one
        await asyncio.sleep(60 - time.time() % 60)
    budget = WeightBudget(limit_per_minute=210, fraction=1.0)
    # 150 of 210 spent; 189 is what refreshes may use (the sync reserve is 21): a 1000-level refresh (50) does not
    # fit, a 500 (25) does
    budget.reserve(150, time.time())
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, limit=1000, tight_refresh_limit=500) as sched:
        sched.request("LOWUSDT", refresh=True)  # not recorded: 150 + 25 > 210 * 0.5 even at 500, so it waits
        sched.request("RECUSDT", refresh=True, high=True)
        await wait_until(lambda: len(got.got) == 1)
        sched.request("SYNCUSDT", limit=5)  # served after the recorded refresh, while LOWUSDT still waits
        await wait_until(lambda: len(got.got) == 2)
        assert sched.pending == {"LOWUSDT"}
    assert got.got == [("RECUSDT", 500), ("SYNCUSDT", 5)]
    assert sched.tight_refreshes == 1 and sched.shallow_syncs == 0
    assert budget.used(time.time()) == 150 + 25 + 5 <= budget.allowed


@pytest.mark.asyncio
async def test_many_requests_in_flight_at_once_each_inside_the_budget():
    if time.time() % 60 > 57:
        await asyncio.sleep(60 - time.time() % 60)
    budget = WeightBudget(limit_per_minute=60, fraction=1.0)  # twelve shallow snapshots a minute
    rest, got = FakeRest(budget), Got()
    rest.gate.clear()
    symbols = [f"S{i}USDT" for i in range(16)]
    async with running(rest, got, limit=100, max_concurrent=16) as sched:
        for symbol in symbols:
            sched.request(symbol)
        await wait_until(lambda: len(rest.started) == 16)  # all in flight together, not two at a time
        rest.gate.set()
        await wait_until(lambda: len(got.got) == 12)  # the budget, not the slots, stops the rest
        assert budget.used(time.time()) == 60 and len(sched.pending) == 4


@pytest.mark.asyncio
async def test_refreshes_go_at_the_tight_depth_while_those_waiting_would_not_fit_at_full_depth():
    if time.time() % 60 > 57:
        await asyncio.sleep(60 - time.time() % 60)
    budget = WeightBudget(limit_per_minute=210, fraction=1.0)
    rest, got = FakeRest(budget), Got()
    rest.gate.clear()
    async with running(rest, got, limit=1000, tight_refresh_limit=500) as sched:
        sched.request("FIRSTUSDT", limit=100)
        await wait_until(lambda: rest.started == ["FIRSTUSDT"])
        for i in range(5):  # five shallow books to deepen: 250 at full depth, 184 left outside the sync reserve
            sched.request(f"R{i}USDT", refresh=True, high=True)
        rest.gate.set()
        await wait_until(lambda: len(got.got) == 6)
    # 250 > 184: 500 levels; 200 > 159: 500; 150 > 134: 500; then 100 and 50 fit at full depth.
    assert [limit for _, limit in got.got[1:]] == [500, 500, 500, 1000, 1000]
    assert sched.tight_refreshes == 3 and budget.used(time.time()) == 180


@pytest.mark.asyncio
async def test_only_an_urgent_refresh_may_spend_the_urgent_reserve():
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)))  # deepenings' share spent
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("CALMUSDT", refresh=True, high=True, room=URGENT_ROOM)  # a deepening: waits for next minute
        sched.request("MOVINGUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)  # about to be unverified: goes
        await wait_until(lambda: len(got.got) == 1)
        await asyncio.sleep(0.1)
        assert sched.pending == {"CALMUSDT"}
    # A rescue: the reserve keeps five books verified at 100 levels for what one deepening at 500 would cost.
    assert got.got == [("MOVINGUSDT", 100)] and sched.rescues == 1


def test_a_book_is_calm_after_a_while_with_few_events_a_second():
    assert not is_calm(0, CALM_AFTER_S - 1)  # too soon to tell: no book is calm in its first seconds
    assert is_calm(int(CALM_RATE * CALM_AFTER_S) - 1, CALM_AFTER_S)
    assert not is_calm(int(CALM_RATE * CALM_AFTER_S), CALM_AFTER_S)
    assert is_calm(int(CALM_RATE * 600) - 1, 600) and not is_calm(int(CALM_RATE * 600) + 1, 600)
    calm = Request(1000, True, True, 1, room=URGENT_ROOM - 1, calm=True)
    assert not calm.urgent() and Request(1000, True, True, 1, room=URGENT_ROOM - 1).urgent()
    calm.room = LOSING_ROOM - 1
    assert calm.urgent()  # losing its top: urgent whatever its pace


@pytest.mark.asyncio
async def test_a_calm_books_refresh_waits_until_it_is_losing_its_top():
    # A sweep comes with an event: a book with few events a second (CALM_RATE) waits at URGENT_ROOM levels for
    # the deepenings' share, leaving the minute's urgent share to the busy books at the same room.
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)))  # deepenings' share spent
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("CALMUSDT", refresh=True, high=True, room=URGENT_ROOM - 1, calm=True)
        sched.request("BUSYUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)
        await wait_until(lambda: len(got.got) == 1)
        await asyncio.sleep(0.1)
        assert sched.pending == {"CALMUSDT"}
        sched.update_room("CALMUSDT", LOSING_ROOM - 1)  # the horizon watch: its top is nearly beyond the horizon
        await wait_until(lambda: len(got.got) == 2, 5, "the calm book's rescue")
    assert got.got == [("BUSYUSDT", 100), ("CALMUSDT", 100)] and sched.rescues == 2


@pytest.mark.asyncio
async def test_an_urgent_refresh_goes_deep_while_the_deepenings_share_has_room():
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)) - 60)  # 60 of it left
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("MOVINGUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)
        await wait_until(lambda: got.got, 5, "the urgent refresh")
    assert got.got == [("MOVINGUSDT", 1000)] and sched.rescues == 0  # 50 fits in the 60 left: no rescue needed


@pytest.mark.asyncio
async def test_an_urgent_refresh_short_of_budget_goes_at_the_shallow_depth():
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE)) - 20)  # 20 left for refreshes: not 25 or 50
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("GONEUSDT", refresh=True, high=True, room=-2)  # its top already left the horizon
        await wait_until(lambda: len(got.got) == 1)
    assert got.got == [("GONEUSDT", 100)]  # 80 levels of room at once, for 5 weight; a deepening follows
    assert sched.rescues == 1 and sched.tight_refreshes == 0
    assert budget.used(time.time()) <= budget.allowed * (1 - SYNC_RESERVE_SHARE)  # the sync reserve is whole


@pytest.mark.asyncio
async def test_a_book_rescued_and_urgent_again_within_a_minute_is_rescued_deeper():
    # A busy book on its cheap start burns 80 levels of room in seconds, and a single sweep of 40-60 levels (bench
    # room_drops) takes it from urgent to unverified: the second rescue buys 480 levels while the urgent share allows.
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)))  # deepenings' share spent
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("FASTUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)
        sched.request("SLOWUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)
        await wait_until(lambda: len(got.got) == 2, 5, "the first rescues")
        sched.request("FASTUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)  # urgent again: it moves fast
        await wait_until(lambda: len(got.got) == 3, 5, "the second rescue")
        sched._rescued_at["SLOWUSDT"] -= RESCUED_AGAIN_S  # its rescue was a minute ago: no faster than most
        sched.request("SLOWUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)
        await wait_until(lambda: len(got.got) == 4, 5, "the slow book's second rescue")
    assert sorted(got.got[:2]) == [("FASTUSDT", 100), ("SLOWUSDT", 100)]
    assert got.got[2:] == [("FASTUSDT", 500), ("SLOWUSDT", 100)]
    assert sched.rescues == 3 and sched.tight_refreshes == 1
    assert budget.used(time.time()) <= budget.allowed * (1 - SYNC_RESERVE_SHARE)  # within the urgent share


@pytest.mark.asyncio
async def test_a_fast_books_second_rescue_goes_at_500_levels_while_syncs_wait():
    # While syncs wait a rescue costs what a sync does (5 weight), but the busiest books burnt a 100-level rescue in
    # 7-10 s, five rescues in 31 s: rescued again within RESCUED_AGAIN_S, a book goes at 500 (480 levels, 25 weight).
    budget = await minute_spent(0)
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET, retry_delay=60) as sched:
        for i in range(3):
            sched.request(f"S{i}USDT", retry=True, high=True)  # syncs waiting (a minute: a retry's delay)
        sched.request("FASTUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)
        await wait_until(lambda: len(got.got) == 1, 5, "the first rescue")
        sched.request("FASTUSDT", refresh=True, high=True, room=URGENT_ROOM - 1)  # urgent again at once
        await wait_until(lambda: len(got.got) == 2, 5, "the second rescue")
        assert sched.pending == {"S0USDT", "S1USDT", "S2USDT"}
    assert got.got == [("FASTUSDT", 100), ("FASTUSDT", 500)] and sched.rescues == 1 and sched.tight_refreshes == 1


@pytest.mark.asyncio
async def test_a_queued_refresh_that_becomes_urgent_goes_within_the_minute():
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)), within=50)  # deepenings' share spent
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("DRIFTUSDT", refresh=True, high=True, room=80)  # a deepening: asleep until the next minute
        await asyncio.sleep(0.1)
        assert got.got == []
        sched.update_room("DRIFTUSDT", URGENT_ROOM - 5)  # the manager's horizon check: its top moved
        await wait_until(lambda: got.got, 5, "the refresh that became urgent")
    assert got.got == [("DRIFTUSDT", 100)]  # rescued from the urgent reserve


@pytest.mark.asyncio
async def test_a_quiet_check_is_urgent_whatever_its_books_room():
    # A silent book asks whether it is still right (BookSync.check_silence) and goes stale if not answered soon:
    # its refresh goes within the minute like one at its horizon, though its book has plenty of room.
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)), within=50)  # deepenings' share spent
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("QUIETUSDT", refresh=True, high=True, room=300)  # a deepening: asleep until the next minute
        await asyncio.sleep(0.1)
        assert got.got == []
        sched.request("QUIETUSDT", refresh=True, high=True, quiet=True)  # the book has been silent for the limit
        sched.update_room("QUIETUSDT", 300)  # the manager's re-ranking does not make it wait again
        await wait_until(lambda: got.got, 5, "the quiet check")
    assert got.got == [("QUIETUSDT", 100)]


@pytest.mark.asyncio
async def test_only_a_book_losing_its_top_is_rescued_from_the_sync_reserve():
    budget = await minute_spent(round(1000 * (1 - SYNC_RESERVE_SHARE)) + 2)  # into the sync reserve already
    rest, got = FakeRest(budget), Got()
    async with running(rest, got, **WHOLE_MARKET) as sched:
        sched.request("NEARUSDT", refresh=True, high=True, room=LOSING_ROOM)  # urgent, still verified: waits
        sched.request("GONEUSDT", refresh=True, high=True, room=-1)  # not recorded any more: rescued now
        sched.request("EDGEUSDT", refresh=True, high=True, room=LOSING_ROOM - 1)  # one sweep from it: too
        await wait_until(lambda: len(got.got) == 2, 5, "the rescues")
        await asyncio.sleep(0.1)
        assert sched.pending == {"NEARUSDT"}
    assert got.got == [("GONEUSDT", 100), ("EDGEUSDT", 100)] and sched.rescues == 2


@pytest.mark.asyncio
async def test_a_storm_of_syncs_leaves_the_minutes_last_share_to_rescues():
    budget = await minute_spent(0)  # 1,000 a minute, all of it allowed
    rest, got = FakeRest(budget), Got()
    to_come = [400]  # a whole market's start: 300 syncs asked, 400 books still to ask; 3,500 weight even shallow
    # The reserve alone, not the late rescues' share (the next test), which shrinks as the test's seconds pass.
    storm = {**WHOLE_MARKET, "syncs_to_come": lambda: to_come[0], "late_rescue_share": 0.0}
    async with running(rest, got, **storm) as sched:
        for i in range(300):
            sched.request(f"S{i:03d}USDT", high=True)
        room_for_syncs = round(1000 * (1 - RESCUE_RESERVE_SHARE)) // 5
        await wait_until(lambda: len(got.got) == room_for_syncs, 5, "the syncs this minute")
        await asyncio.sleep(0.1)
        assert len(got.got) == room_for_syncs and {limit for _, limit in got.got} == {100}  # 190 shallow syncs
        sched.request("LOSTUSDT", refresh=True, high=True, room=-1)  # one of them ran out: rescued at once
        await wait_until(lambda: ("LOSTUSDT", 100) in got.got, 5, "the rescue")
        # So is one that still has room but is urgent: one sweep of a busy book can take 40 levels at once.
        sched.request("MOVINGUSDT", refresh=True, high=True, room=URGENT_ROOM - 5)
        await wait_until(lambda: ("MOVINGUSDT", 100) in got.got, 5, "the urgent book's rescue")
        assert sched.rescues == 2 and budget.used(time.time()) == 960
        # A book with room to spare waits for the next minute, like the syncs.
        sched.request("CALMUSDT", refresh=True, high=True, room=URGENT_ROOM)
        # No storm any more (the books still to come were unsubscribed, and all but seven of those waiting): the
        # syncs left fit into what is left, so they go, and spend the reserve.
        to_come[0] = 0
        for i in range(room_for_syncs + 7, 300):
            sched.cancel(f"S{i:03d}USDT")
        sched.request("LASTUSDT", high=True)  # a change wakes a worker
        await wait_until(lambda: len(got.got) == room_for_syncs + 2 + 8, 5, "the last eight syncs")
        assert budget.used(time.time()) == 1000 and got.got[-1] == ("LASTUSDT", 100)
        assert sched.pending == {"CALMUSDT"}


def test_a_crowd_of_syncs_keeps_a_share_for_the_rest_of_the_minutes_rescues():
    # A whole market's busiest books outrun their 100-level starts within 20-40 s: syncs that spent the minute in its
    # first seconds (the start's, and the next minute's leftover at its turn) left the books that became urgent later
    # waiting for the next minute. A crowd of syncs leaves them a share below the urgent rescues' cap that shrinks as
    # the minute passes; a few syncs (a gap) cannot crowd them out, and go.
    minute = 1_800_000_000.0  # a calendar minute's first second
    budget = WeightBudget(limit_per_minute=1000, fraction=1.0)
    to_come = [400]  # 2,000 weight of syncs to come: a crowd
    rules = BudgetRules(FakeRest(budget), RequestQueue(BudgetRules.kind), 100, 500, lambda: to_come[0])  # type: ignore[arg-type]
    budget.reserve(750, minute)

    def syncs_may_spend(second: float) -> float:  # at that second of the minute
        return 1000 * (1 - SYNC_RESERVE_SHARE - LATE_RESCUE_SHARE * (60 - second) / 60)

    with_next = 750 + 5  # spent with the next sync
    assert syncs_may_spend(15) < with_next  # 15 s in, the next sync would spend what the rescues are kept
    wait = rules.sync_wait(minute + 15)
    assert 0 < wait < 45  # until the share has shrunk enough, this minute
    assert syncs_may_spend(15 + wait - 0.5) < with_next <= syncs_may_spend(15 + wait) + 0.1
    assert rules.sync_wait(minute + 15 + wait + 0.01) == 0  # (until_next_minute counts a millisecond more)
    budget.reserve(1000 * (1 - SYNC_RESERVE_SHARE) - 750, minute)  # the urgent rescues' share spent
    assert rules.sync_wait(minute + 59) > 0.99  # the crowd waits for the next minute; the rest is the rescues'
    to_come[0] = FEW_SYNCS  # a few syncs (gaps): they may spend the minute but for the storm's rescue reserve
    assert rules.sync_wait(minute + 15) == 0
    budget.reserve(1000 * (SYNC_RESERVE_SHARE - RESCUE_RESERVE_SHARE) + 5, minute)
    assert rules.sync_wait(minute + 15) > 44  # a storm now (50 > 45 left): the last of the minute is for rescues


@pytest.mark.asyncio
async def test_a_change_wakes_one_idle_worker_and_one_that_takes_a_request_wakes_the_next():
    # Every wake-up scans the whole queue (a thousand refreshes while a whole market deepens): a change that
    # lets nothing go must not wake every idle worker, and requests that may go must not wait for a change.
    rest, got = FakeRest(), Got()
    rest.gate.clear()  # a request taken stays in flight
    async with running(rest, got, max_concurrent=8, retry_delay=60) as sched:
        await wait_until(lambda: len(sched._idle) == 8, 5, "eight idle workers")
        scans = 0
        pick = sched._pick

        def counting(now: float) -> tuple[str | None, float | None]:
            nonlocal scans
            scans += 1
            return pick(now)

        sched._pick = counting  # type: ignore[method-assign]
        sched.request("LATERUSDT", retry=True)  # may not go for a minute
        for _ in range(20):
            await asyncio.sleep(0)
        assert scans == 1 and len(sched._idle) == 8
        for i in range(4):  # four that may go, queued without a wake-up of their own ...
            sched._queued.add(f"GO{i}USDT", Request(1000, refresh=False, high=False, order=-i))
        sched._wake_one()  # ... and one change
        await wait_until(lambda: len(rest.started) == 4, 5, "all four taken")
        assert sorted(rest.started) == ["GO0USDT", "GO1USDT", "GO2USDT", "GO3USDT"]


class CountingScheduler(SnapshotScheduler):
    """The real scheduler, counting its scans of the queue."""

    scans = 0

    def _pick(self, now: float):
        self.scans += 1
        return super()._pick(now)


@pytest.mark.asyncio
async def test_one_idle_worker_keeps_the_time_to_look_again():
    # Sixteen idle workers, requests that may go one after another (each waits out its retry delay): at each
    # time one worker looks, not every worker that once saw the queue (they all woke and scanned it in turn,
    # four times a second while a whole market deepened: most of the recorder's CPU).
    rest, got = FakeRest(), Got()
    sched = CountingScheduler(rest, got, pass_limit=True, max_concurrent=16, retry_delay=0.3)  # type: ignore[arg-type]
    await sched.start()
    try:
        symbols = [f"S{i}USDT" for i in range(8)]
        for symbol in symbols:  # each may go 0.3 s after it was asked, 40 ms after the one before
            sched.request(symbol, retry=True)
            await asyncio.sleep(0.04)
        await wait_until(lambda: len(got.got) == len(symbols), 10, "every request served")
        assert sorted(s for s, _ in got.got) == symbols
        # Each worker looks once as it starts; then each request costs a few looks: when asked, when due, by the
        # next worker once it is taken, by its worker once served (and one spare). Before: 159 here.
        assert sched.scans <= 16 + 5 * len(symbols), sched.scans
    finally:
        await sched.stop()


@pytest.mark.asyncio
async def test_a_pass_over_many_queued_requests_wakes_one_look_and_repeats_wake_none():
    # The horizon watch asks four times a second about every book whose refresh waits: asked again as they were,
    # nothing changes, and no worker looks; a pass that raises many at once is seen by one look, not one each.
    rest, got = FakeRest(), Got()
    sched = CountingScheduler(rest, got, pass_limit=True, max_concurrent=16, retry_delay=60.0)  # type: ignore[arg-type]
    await sched.start()
    try:
        symbols = [f"S{i}USDT" for i in range(200)]
        for symbol in symbols:  # none may go for a minute: each waits out its retry delay
            sched.request(symbol, retry=True, refresh=True, room=100)
        await settle()
        before = sched.scans
        for _ in range(3):
            for symbol in symbols:
                sched.request(symbol, refresh=True, room=100)  # asked again, unchanged
            await settle()
        assert sched.scans == before
        for symbol in symbols:
            sched.set_priority(symbol, True)
        await settle()
        assert before < sched.scans <= before + 2, (before, sched.scans)
        assert got.got == []
    finally:
        await sched.stop()


async def settle() -> None:
    """Let every woken worker run its look (a look never waits on anything but the loop)."""
    for _ in range(20):
        await asyncio.sleep(0)
