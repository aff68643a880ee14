"""The manager's horizon watch looks only at the books that may have changed since its last pass, and at every book
every `FULL_PASS_EVERY`-th pass (core/feed/horizon.py, docs/SNAPSHOT_HORIZON.md). The manager is driven directly,
without a network: frames go in through `on_frame`, snapshots through `_deliver_snapshot` (the scheduler's
delivery), passes are run by hand, and the scheduler only queues (except in the last test)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import pytest_asyncio

from core.feed.errors import ExchangeUnavailableError
from core.feed.horizon import FULL_PASS_EVERY, HorizonKeeper
from core.feed.manager import ManagerConfig, OrderBookManager
from core.feed.refresh_budget import CALM_AFTER_S, CALM_RATE
from core.market.markets import SPOT
from core.market.wire import DepthSnapshot
from tests.waiting import wait_until

LEVELS = 40  # each book goes live on a 40-level snapshot: 20 known levels behind its top 20, against a margin of 10
MARGIN = 10


class _Conn:
    seen_symbols = None


class _Watch:
    """A manager with live books, and the means to move them and to count what its passes do."""

    def __init__(self, manager: OrderBookManager) -> None:
        self.manager = manager
        self.ids: dict[str, int] = {}
        self.bids_gone: dict[str, int] = {}  # how many of the best bids events removed
        self.checked: list[str] = []  # every BookSync.check_horizon call, by symbol
        self.ranked: list[tuple[str, int]] = []  # every room the scheduler was given (update_rooms)
        sched = manager.scheduler
        update_rooms = sched.update_rooms

        def counted_update_rooms(rooms) -> None:
            rooms = list(rooms)
            self.ranked += rooms
            update_rooms(rooms)

        sched.update_rooms = counted_update_rooms  # type: ignore[method-assign]

    async def go_live(self, symbols: list[str]) -> None:
        manager = self.manager
        await manager.subscribe_many(symbols, checked=True)
        for symbol in symbols:
            sync = manager._symbols[symbol].sync
            check = sync.check_horizon

            def counted(depth: int, margin: int, limit: int, symbol=symbol, check=check):
                self.checked.append(symbol)
                return check(depth, margin, limit)

            sync.check_horizon = counted  # type: ignore[method-assign]
            self.ids[symbol], self.bids_gone[symbol] = 1, 0
            self._frame(symbol, 1, [])  # the stream starts: a sync is asked for
            manager.scheduler.cancel(symbol)  # ... and fetched
            bids = [(f"{100 - i}.00", "1.0") for i in range(LEVELS)]
            asks = [(f"{101 + i}.00", "1.0") for i in range(LEVELS)]
            manager._deliver_snapshot(symbol, DepthSnapshot(1, bids, asks, symbol), LEVELS)
            assert manager.is_live(symbol)

    def remove_bids(self, symbol: str, count: int) -> None:
        """One event removes the `count` best bids left: the top sweeps towards the horizon."""
        gone = self.bids_gone[symbol]
        self.bids_gone[symbol] = gone + count
        self.ids[symbol] += 1
        self._frame(symbol, self.ids[symbol], [[f"{100 - i}.00", "0"] for i in range(gone, gone + count)])

    def touch(self, symbol: str) -> None:
        """An event that changes a quantity at the best bid (the room stays as it was)."""
        self.ids[symbol] += 1
        self._frame(symbol, self.ids[symbol], [[f"{100 - self.bids_gone[symbol]}.00", "2.0"]])

    def _frame(self, symbol: str, update_id: int, bids: list) -> None:
        data = {"e": "depthUpdate", "E": update_id, "s": symbol, "U": update_id, "u": update_id, "b": bids, "a": []}
        frame = orjson.dumps({"stream": f"{symbol.lower()}@depth@100ms", "data": data})
        self.manager.on_frame(_Conn(), frame, 0.0)  # type: ignore[arg-type]

    def one_pass(self) -> list[str]:
        """One horizon pass: the symbols whose check_horizon it called, sorted."""
        self.checked.clear()
        self.ranked.clear()
        self.manager._horizon_pass()
        return sorted(self.checked)

    def settle(self) -> None:
        """Passes until one has looked at every book: the next is a partial one."""
        manager = self.manager
        while True:
            self.one_pass()
            if manager.horizon.passes % FULL_PASS_EVERY == 0:
                return


def _manager(**kw) -> OrderBookManager:
    config = ManagerConfig(ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9", horizon_margin=MARGIN)
    return OrderBookManager(config, **kw)


@pytest_asyncio.fixture
async def watch():
    manager = _manager()
    yield _Watch(manager)
    await manager.rest.aclose()


SYMBOLS = [f"S{i:02d}USDT" for i in range(20)]


@pytest.mark.asyncio
async def test_a_book_whose_top_nears_the_horizon_through_events_is_refreshed_by_the_next_pass(watch):
    await watch.go_live(SYMBOLS[:3])
    watch.settle()
    assert watch.manager.scheduler.waiting_refreshes() == []
    watch.remove_bids("S01USDT", LEVELS - 20 - MARGIN + 1)  # 9 known levels left behind its top 20: fewer than 10
    assert watch.one_pass() == ["S01USDT"]
    assert watch.manager.scheduler.waiting_refreshes() == ["S01USDT"] and watch.manager.status("S01USDT").refreshing
    # The refresh newly queued has its room ranked in the same pass, as every queued refresh.
    assert watch.ranked == [("S01USDT", MARGIN - 1)]


@pytest.mark.asyncio
async def test_a_pass_asks_only_the_books_with_events_since_the_last_and_every_nth_pass_asks_all(watch):
    manager = watch.manager
    await watch.go_live(SYMBOLS)
    assert FULL_PASS_EVERY * manager.config.horizon_interval == 4.0  # every 4 s at the default interval
    assert watch.one_pass() == SYMBOLS  # each went live since the last pass (a state change)
    for symbol in ("S03USDT", "S07USDT", "S11USDT"):
        watch.touch(symbol)
    watch.touch("S07USDT")
    assert watch.one_pass() == ["S03USDT", "S07USDT", "S11USDT"]  # 3 of 20 books, each once
    counts = []
    while manager.horizon.passes % FULL_PASS_EVERY:
        counts.append(len(watch.one_pass()))
    # Nothing changed: no book is asked until the full pass, which asks all of them (and still refreshes none).
    assert counts == [0] * (len(counts) - 1) + [len(SYMBOLS)]
    assert manager.scheduler.waiting_refreshes() == []


@pytest.mark.asyncio
async def test_a_deeper_recorded_depth_is_noticed_by_the_next_pass_without_an_event(watch):
    manager = watch.manager
    await watch.go_live(SYMBOLS[:3])
    watch.settle()
    # Recorded 45 deep: 5 levels more than its 40-level snapshot holds, so its top is not verified. No event comes.
    manager.set_priority("S02USDT", True, 45)
    assert watch.one_pass() == ["S02USDT"]  # the next pass, not the full one
    assert manager.scheduler.queued_refreshes == ["S02USDT"]
    assert watch.ranked == [("S02USDT", -5)]


@pytest.mark.asyncio
async def test_a_queued_refresh_follows_its_book_and_a_book_without_events_keeps_its_room(watch):
    sched = watch.manager.scheduler
    await watch.go_live(SYMBOLS[:4])
    watch.settle()
    watch.remove_bids("S00USDT", 12)  # room 8
    watch.remove_bids("S01USDT", 14)  # room 6
    watch.one_pass()
    assert sched.queued_refreshes == ["S01USDT", "S00USDT"]  # the fewest known levels left first
    watch.one_pass()  # (asks the two again: their requests, made by the last pass, marked them)
    watch.remove_bids("S00USDT", 5)  # room 3: it runs, the other sits still
    watch.touch("S02USDT")  # an event on a book without a refresh queued
    assert watch.one_pass() == ["S00USDT", "S02USDT"]
    assert watch.ranked == [("S00USDT", 3)]  # only the queued refresh whose book changed is counted again
    assert sched.queued_refreshes == ["S00USDT", "S01USDT"]
    watch.touch("S01USDT")  # an event that leaves its room as it was: counted again, the same
    watch.one_pass()
    assert watch.ranked == [("S01USDT", 6)] and sched.queued_refreshes == ["S00USDT", "S01USDT"]
    while watch.manager.horizon.passes % FULL_PASS_EVERY != FULL_PASS_EVERY - 1:
        watch.one_pass()
    assert watch.one_pass() == SYMBOLS[:4]  # the full pass asks every book ...
    assert watch.ranked == []  # ... and counts no room again: none changed


@pytest.mark.asyncio
async def test_a_refresh_asked_again_after_a_too_old_snapshot_is_ranked_though_its_book_did_not_move(watch):
    """Its new request comes in with no room (BookSync's retry); the next pass gives it its book's room again,
    although its book kept its update id: a pass saw its request gone from the queue (HorizonKeeper.rooms)."""
    manager, sched = watch.manager, watch.manager.scheduler
    await watch.go_live(["S00USDT"])
    watch.settle()
    watch.remove_bids("S00USDT", 12)
    watch.one_pass()
    assert watch.ranked == [("S00USDT", 8)]
    sched.cancel("S00USDT")  # fetched: the request leaves the queue ...
    manager._fetch_starting("S00USDT", True)  # ... and the book keeps the events from now on
    watch.one_pass()
    stale = DepthSnapshot(0, [("100.00", "1.0")], [("101.00", "1.0")], "S00USDT")
    manager._deliver_snapshot("S00USDT", stale, LEVELS)  # older than the book: asked again
    assert sched.waiting_refreshes() == ["S00USDT"] and manager.status("S00USDT").snapshots_too_old == 1
    watch.one_pass()
    assert watch.ranked == [("S00USDT", 8)]


class _FailingRest:
    """The exchange does not answer the first depth request (once let go), and never answers the others."""

    market, budget = SPOT, None

    def __init__(self) -> None:
        self.asked, self.fail, self.calls = asyncio.Event(), asyncio.Event(), 0

    async def depth(self, symbol: str, limit: int) -> DepthSnapshot:
        self.calls += 1
        self.asked.set()
        await (self.fail if self.calls == 1 else asyncio.Event()).wait()
        raise ExchangeUnavailableError("the exchange did not answer")

    async def aclose(self) -> None:
        pass


@pytest.mark.asyncio
async def test_a_refresh_put_back_after_a_failed_fetch_is_ranked_by_its_book_as_it_is_now():
    """The scheduler puts a failed fetch's request back with the room it had; its book ran while it was in flight
    and sits still since. The next pass counts its room again, though no event marks it: a pass saw it gone."""
    rest = _FailingRest()
    manager = _manager(rest=rest)
    watch, sched = _Watch(manager), manager.scheduler
    await watch.go_live(["S00USDT"])
    watch.settle()
    watch.remove_bids("S00USDT", 12)
    watch.one_pass()
    assert watch.ranked == [("S00USDT", 8)]
    await sched.start()
    try:
        await wait_until(rest.asked.is_set, 5, "the refresh's fetch")
        watch.remove_bids("S00USDT", 5)  # room 3, while the request is in flight ...
        watch.one_pass()
        assert sched.waiting_refreshes() == [] and watch.ranked == []
        rest.fail.set()
        await wait_until(lambda: sched.waiting_refreshes() == ["S00USDT"], 5, "the request put back")
        watch.one_pass()  # ... and no event since
        assert watch.ranked == [("S00USDT", 3)]
    finally:
        await sched.stop()


@pytest.mark.asyncio
async def test_refreshes_asked_in_one_pass_with_the_same_room_keep_the_order_their_books_were_followed(watch):
    """The pass asks the changed books in the order they were followed, as a pass over every book did: the scheduler
    serves refreshes of the same room first come, first served."""
    followed = SYMBOLS[9::-1]  # not in the order of their names
    await watch.go_live(followed)
    watch.settle()
    for symbol in sorted(followed):
        watch.remove_bids(symbol, 12)  # room 8 each
    watch.one_pass()
    assert watch.manager.scheduler.queued_refreshes == followed


@pytest.mark.asyncio
async def test_every_frame_handed_to_the_manager_is_counted_whatever_it_holds(watch):
    # `frames_received` (the whole-market benchmark's frame count): a depth frame of a followed symbol, one of a
    # symbol not followed and a malformed frame each count once.
    manager = watch.manager
    await watch.go_live(SYMBOLS[:1])
    before = manager.frames_received
    watch.touch(SYMBOLS[0])
    watch._frame("NOTFOLLOWEDUSDT", 1, [["1.00", "1.0"]])
    manager.on_frame(_Conn(), b'{"stream":', 0.0)  # type: ignore[arg-type]
    assert manager.frames_received - before == 3
    assert manager.connection_status().bad_frames == 1


def test_a_book_followed_with_few_events_a_second_is_calm_once_it_has_been_watched_a_while():
    keeper = HorizonKeeper(default_depth=20, margin=200, refresh_limit=1000)
    keeper.follow("QUIETUSDT", now=100.0)
    keeper.follow("BUSYUSDT", now=100.0)
    later = 100.0 + CALM_AFTER_S + 10
    assert not keeper.calm("QUIETUSDT", 0, 100.0 + CALM_AFTER_S / 2)  # too soon to tell
    assert keeper.calm("QUIETUSDT", 10, later)  # 10 events in 30 s
    assert not keeper.calm("BUSYUSDT", int(CALM_RATE * (later - 100.0)), later)
    assert not keeper.calm("NEVERUSDT", 0, later)  # not followed: nothing known of it
