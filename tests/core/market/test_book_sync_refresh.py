"""BookSync's make-before-break refresh: one table row or test per rule (docs/SNAPSHOT_HORIZON.md)."""

from __future__ import annotations

import pytest

from core.market.book_sync import (
    BookChanged,
    BookRefreshed,
    BookSync,
    Continuity,
    RequestSnapshot,
    StateChanged,
    SyncState,
)
from core.market.wire import DepthSnapshot, DepthUpdate, ticks_to_decimal

QTY = "1.00000000"
ZERO = "0.00000000"
DEPTH = 5  # the top kept verified in these tests
MARGIN = 4
LIMIT = 20  # a refresh's depth: the margin stays below (LIMIT - DEPTH) // 2 = 7


def px(value: float) -> str:
    return ticks_to_decimal(round(value * 100) * 1_000_000)


def levels(top: float, count: int, step: float) -> list[list[str]]:
    return [[px(top + i * step), QTY] for i in range(count)]


def snap(last_id: int, bids: int = LIMIT, asks: int = LIMIT, bid_top: float = 100, ask_top: float = 101):
    return DepthSnapshot(last_id, levels(bid_top, bids, -1), levels(ask_top, asks, 1))


def ev(first: int, final: int, bids=(), asks=(), pu=None) -> DepthUpdate:
    return DepthUpdate("BTCUSDT", first, final, 0, [list(b) for b in bids], [list(a) for a in asks], pu)


def sweep_bids(first: int, final: int, count: int, top: float = 100) -> DepthUpdate:
    """The touch runs down through `count` bids from `top`."""
    return ev(first, final, bids=[(px(top - i), ZERO) for i in range(count)])


def live_sync(last_id: int = 100) -> BookSync:
    """A live book from a full 20-level snapshot (bids 100..81, asks 101..120)."""
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(last_id, last_id + 1), now=0)
    sync.on_snapshot(snap(last_id), now=0, limit=LIMIT)
    assert sync.is_live and sync.book.horizon_distance(DEPTH) == (15, 15)
    return sync


def refreshing_sync(sent: bool = True) -> BookSync:
    """A live book that has asked for a refresh: 12 bids swept, 3 levels of room left (< MARGIN); `sent`: its
    request has gone out (the manager's keep_for_refresh, when the scheduler starts the fetch)."""
    sync = live_sync()
    sync.on_event(sweep_bids(101, 103, 12), now=1)
    assert sync.book.horizon_distance(DEPTH) == (3, 15)
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT) == [RequestSnapshot("BTCUSDT", retry=False, refresh=True)]
    if sent:
        sync.keep_for_refresh()
    return sync


def kinds(actions) -> list[str]:
    return [type(a).__name__ for a in actions]


# --- when a refresh is asked for ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("swept", "margin", "limit", "asks"),
    [
        (11, 4, 20, True),  # 4 levels of room behind the top 5: not yet
        (12, 4, 20, False),  # 3 left: refresh
        (16, 4, 20, False),  # the top is no longer verified: refresh all the more
        (8, 100, 20, True),  # a margin above what a 20-level snapshot gives is capped at (20 - 5) // 2 = 7 ...
        (9, 100, 20, False),  # ... so 6 left is below it
        (15, 0, 20, True),  # margin 0: refresh only once the top is not verified (0 left is still verified)
        (16, 0, 20, False),
        (16, 4, 5, True),  # a refresh of 5 levels cannot cover the top 5 better: never asked
    ],
)
def test_check_horizon_asks_for_a_refresh_below_the_margin(swept, margin, limit, asks):
    sync = live_sync()
    sync.on_event(sweep_bids(101, 103, swept), now=1)
    actions = sync.check_horizon(DEPTH, margin, limit)
    if asks:
        assert actions == [] and not sync.refreshing
    else:
        assert actions == [RequestSnapshot("BTCUSDT", retry=False, refresh=True)]
        assert sync.refreshing and sync.counters.refreshes_requested == 1
    assert sync.state is SyncState.LIVE  # a refresh never touches the state


def test_a_complete_side_never_needs_a_refresh():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(100, 101), now=0)
    sync.on_snapshot(snap(100, bids=8, asks=8), now=0, limit=LIMIT)  # 8 of 20: both sides whole
    sync.on_event(sweep_bids(101, 102, 6), now=1)  # 2 bids left: still the exchange's whole side
    assert sync.book.horizon_distance(DEPTH) == (None, None) and sync.book.verified(DEPTH)
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT) == []


@pytest.mark.parametrize("state", ["buffering", "syncing", "stale", "refreshing"])
def test_no_refresh_unless_live_and_not_already_refreshing(state):
    if state == "refreshing":
        sync = refreshing_sync()
    elif state == "stale":
        sync = live_sync()
        sync.on_event(sweep_bids(101, 103, 14), now=1)
        sync.on_connection_lost(now=2)
    else:
        sync = BookSync("BTCUSDT")
        if state == "syncing":
            sync.on_event(ev(10, 11), now=0)
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT) == []


def test_a_shallow_first_snapshot_is_deepened_once_its_book_has_used_half_its_room():
    """Cheap start, deep when it moves: a book that sits still on its shallow snapshot is never deepened; one that
    moves asks once it has used half the room that snapshot gave (here (8 - 5) // 2 = 1 level left, not MARGIN)."""
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(100, 101), now=0)
    sync.on_snapshot(snap(100, bids=8, asks=8), now=0, limit=8)  # cheap start: 8 of 8, not complete
    assert sync.is_live and sync.book.verified(DEPTH) and sync.book.horizon_distance(DEPTH) == (3, 3)
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT) == []  # 3 levels of room, below MARGIN: it has not moved
    sync.on_event(sweep_bids(102, 103, 2), now=1)
    assert sync.book.horizon_distance(DEPTH) == (1, 3) and sync.check_horizon(DEPTH, MARGIN, LIMIT) == []
    sync.on_event(sweep_bids(104, 104, 1, top=98), now=1)
    [asked] = sync.check_horizon(DEPTH, MARGIN, LIMIT)
    assert asked == RequestSnapshot("BTCUSDT", retry=False, refresh=True) and asked.room == 0
    sync.keep_for_refresh()
    actions = sync.on_snapshot(snap(104, bid_top=97), now=1, limit=LIMIT)  # the exchange's book after the sweeps
    assert actions == [BookRefreshed("BTCUSDT", 104, True), BookChanged("BTCUSDT", 104)]
    assert sync.book.snapshot_limit == LIMIT and sync.book.horizon_distance(DEPTH) == (15, 15)


# --- the refresh's snapshot ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snapshot_id", "consistent", "book_id"),
    [
        (103, True, 105),  # at the book's id when the refresh was asked: every event since is replayed
        (104, True, 105),  # strictly inside the kept event 104..105: it is replayed over the snapshot
        (105, True, 105),  # at the book's id now: nothing to replay, the two books are compared
        (107, None, 107),  # newer than every event applied: the book jumps to it, no comparison possible
    ],
)
def test_the_shadow_book_catches_up_and_takes_the_books_place(snapshot_id, consistent, book_id):
    sync = refreshing_sync()
    sync.on_event(ev(104, 105, bids=[(px(80.5), "3.00000000")]), now=2)  # kept for the shadow
    book = sync.book
    truth_bids = [(p, q) for p, q in book.top_bids(30)]
    # The exchange's book at the snapshot's id: bids 88..(far below), asks as before, and 80.5 once 105 is in.
    bids = [[p, q] for p, q in truth_bids if p != px(80.5)] if snapshot_id == 103 else truth_bids
    bids = [list(level) for level in bids] + levels(80, 30, -1)  # and deeper levels the book never knew
    actions = sync.on_snapshot(DepthSnapshot(snapshot_id, bids, levels(101, 40, 1)), now=3, limit=LIMIT * 4)
    assert actions == [BookRefreshed("BTCUSDT", book_id, consistent), BookChanged("BTCUSDT", book_id)]
    assert sync.book is book  # the same object: whoever holds it sees the new levels
    assert sync.state is SyncState.LIVE and not sync.refreshing
    assert not any(isinstance(a, StateChanged) for a in actions)
    assert book.last_update_id == book_id and book.verified(DEPTH)
    assert book.snapshot_limit == LIMIT * 4 and sync.counters.refreshes == 1
    assert dict(book.top_bids(10))[px(80.5)] == "3.00000000"
    # the book goes on with the stream: the next event fits whatever the snapshot's id was
    assert kinds(sync.on_event(ev(book_id + 1, book_id + 2), now=4)) == ["BookChanged"]


def test_the_book_keeps_serving_while_the_refresh_is_on_its_way():
    sync = refreshing_sync()
    for first in range(104, 120, 2):
        assert kinds(sync.on_event(ev(first, first + 1), now=2)) == ["BookChanged"]
    assert sync.is_live and sync.refreshing and sync.book.last_update_id == 119


@pytest.mark.parametrize(
    ("snapshot", "counter"),
    [
        (snap(102), "snapshots_too_old"),  # older than the book when the refresh was asked: events lost
        (DepthSnapshot(104, [["88.00000000", "x"]], [["101.00000000", QTY]]), "bad_levels"),
        (snap(104, bid_top=130), "crossed_books"),  # a crossed answer: keep the book, ask again
    ],
)
def test_an_unusable_refresh_snapshot_keeps_the_book_and_asks_again(snapshot, counter):
    sync = refreshing_sync()
    sync.on_event(ev(104, 105), now=2)
    before = (sync.book.top_bids(10), sync.book.top_asks(10), sync.book.last_update_id)
    actions = sync.on_snapshot(snapshot, now=3, limit=LIMIT)
    assert actions == [RequestSnapshot("BTCUSDT", retry=True, refresh=True)]
    assert getattr(sync.counters, counter) == 1
    assert sync.is_live and sync.refreshing
    assert (sync.book.top_bids(10), sync.book.top_asks(10), sync.book.last_update_id) == before
    # the next answer is used
    good = sync.on_snapshot(snap(105, bid_top=88), now=4, limit=LIMIT)
    assert kinds(good) == ["BookRefreshed", "BookChanged"] and not sync.refreshing


def test_a_refreshed_book_that_disagrees_with_the_old_one_is_counted():
    sync = refreshing_sync()
    wrong = snap(103, bid_top=88)
    wrong.bids[1][1] = "9.00000000"  # 87: the old book holds 1.0 there, inside both horizons
    actions = sync.on_snapshot(wrong, now=3, limit=LIMIT)
    assert actions[0] == BookRefreshed("BTCUSDT", 103, consistent=False)
    assert sync.counters.refresh_mismatches == 1
    assert dict(sync.book.top_bids(5))[px(87)] == "9.00000000"  # the exchange's fresh word wins


def test_a_gap_during_a_refresh_resyncs_and_the_refresh_snapshot_serves_the_resync():
    sync = refreshing_sync()
    actions = sync.on_event(ev(110, 111), now=2)  # 104..109 missing
    assert sync.state is SyncState.RESYNCING and not sync.refreshing
    assert RequestSnapshot("BTCUSDT", retry=False) in actions
    actions = sync.on_snapshot(snap(110, bid_top=88), now=3, limit=LIMIT)
    assert sync.is_live and sync.book.last_update_id == 111
    assert sync.counters.refreshes == 0 and sync.counters.resyncs == 1


def test_a_late_refresh_snapshot_is_ignored_after_a_restart():
    sync = refreshing_sync()
    sync.restart()
    assert sync.on_snapshot(snap(104), now=3, limit=LIMIT) == []
    assert sync.state is SyncState.BUFFERING and not sync.refreshing


def test_a_refresh_of_a_stale_book_keeps_it_stale_until_the_stream_resumes():
    sync = refreshing_sync()
    sync.on_connection_lost(now=2)
    assert sync.state is SyncState.STALE
    actions = sync.on_snapshot(snap(103, bid_top=88), now=3, limit=LIMIT)
    assert kinds(actions) == ["BookRefreshed", "BookChanged"] and sync.state is SyncState.STALE
    resumed = sync.on_event(ev(104, 105), now=4)
    assert kinds(resumed) == ["StateChanged", "BookChanged"] and sync.is_live


def test_every_event_since_the_request_is_kept_even_many():
    sync = refreshing_sync()
    for first in range(104, 104 + 2 * 50, 2):
        sync.on_event(ev(first, first + 1, bids=[(px(80 + (first % 7) / 10), QTY)]), now=2)
    actions = sync.on_snapshot(snap(103, bid_top=88), now=3, limit=LIMIT)
    assert actions[0] == BookRefreshed("BTCUSDT", 203, consistent=True)


def test_futures_refresh_chains_by_pu():
    sync = BookSync("BTCUSDT", Continuity.FUTURES)
    sync.on_event(ev(95, 100, pu=94), now=0)
    sync.on_snapshot(snap(100), now=0, limit=LIMIT)
    sync.on_event(ev(103, 110, bids=[(px(100 - i), ZERO) for i in range(12)], pu=100), now=1)
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT)
    sync.keep_for_refresh()  # the request goes out
    sync.on_event(ev(112, 120, pu=110), now=2)
    actions = sync.on_snapshot(snap(110, bid_top=88), now=3, limit=LIMIT)  # the event ending at 110 is in it
    assert actions[0] == BookRefreshed("BTCUSDT", 120, consistent=True)
    assert kinds(sync.on_event(ev(125, 130, pu=120), now=4)) == ["BookChanged"]


def test_when_too_many_events_pile_up_only_a_snapshot_after_the_oldest_kept_one_will_do():
    sync = refreshing_sync()  # asked at 103
    sync.MAX_BUFFER = 3
    for first in range(104, 114, 2):  # five events: 104..105 and 106..107 no longer kept
        sync.on_event(ev(first, first + 1), now=2)
    assert sync.on_snapshot(snap(105, bid_top=88), now=3, limit=LIMIT) == [
        RequestSnapshot("BTCUSDT", retry=True, refresh=True)
    ]
    actions = sync.on_snapshot(snap(107, bid_top=88), now=4, limit=LIMIT)
    assert actions[0] == BookRefreshed("BTCUSDT", 113, consistent=True)


def test_a_refresh_keeps_only_recent_events_and_refetches_a_snapshot_older_than_them():
    """Events more than KEEP_MS (exchange time) older than the newest are dropped while a refresh waits (memory,
    1,500 symbols waiting for weight); a snapshot older than the oldest kept event is fetched again, a newer one
    is caught up as always."""
    sync = refreshing_sync()  # kept from update id 103 on
    keep = BookSync.KEEP_MS
    sync.on_event(DepthUpdate("BTCUSDT", 104, 104, 1_000, [], [[px(101), "2.00000000"]]), now=2)
    sync.on_event(DepthUpdate("BTCUSDT", 105, 105, 2_000 + keep, [], [[px(102), "3.00000000"]]), now=3)
    actions = sync.on_snapshot(snap(103), now=4, limit=LIMIT)  # it would need the event of 104, dropped
    assert actions == [RequestSnapshot("BTCUSDT", retry=True, refresh=True)] and sync.refreshing
    assert sync.counters.snapshots_too_old == 1
    fresh = snap(104, bid_top=88)  # the exchange as of 104: bids swept down to 88, ask 101 at 2
    fresh.asks[0][1] = "2.00000000"
    actions = sync.on_snapshot(fresh, now=5, limit=LIMIT)
    assert kinds(actions) == ["BookRefreshed", "BookChanged"] and not sync.refreshing
    assert sync.book.last_update_id == 105
    assert sync.book.top_asks(2) == [(px(101), "2.00000000"), (px(102), "3.00000000")]


def test_events_are_kept_only_from_when_the_refresh_request_goes_out():
    sync = refreshing_sync(sent=False)  # queued: it may wait minutes for weight
    for first in range(104, 110, 2):
        sync.on_event(ev(first, first + 1), now=2)
    assert sync.refreshing and sync._refresh is None  # nothing kept while it waits
    sync.keep_for_refresh()  # the request goes out with the book at 109
    sync.on_event(ev(110, 111, bids=[(px(80.5), "3.00000000")]), now=3)
    # A snapshot from before the request (older than the first event kept) is fetched again, never used.
    assert sync.on_snapshot(snap(107), now=4, limit=LIMIT) == [RequestSnapshot("BTCUSDT", retry=True, refresh=True)]
    assert sync.counters.snapshots_too_old == 1
    # One from after it lacks only what was kept: the shadow catches up with event 111.
    actions = sync.on_snapshot(snap(110, bid_top=88), now=5, limit=LIMIT)
    assert kinds(actions) == ["BookRefreshed", "BookChanged"] and sync.book.last_update_id == 111
    assert dict(sync.book.top_bids(40))[px(80.5)] == "3.00000000"


@pytest.mark.parametrize(("snapshot_id", "used"), [(104, False), (105, True)])
def test_a_refresh_snapshot_fetched_without_keeping_is_used_only_if_no_event_is_missing(snapshot_id, used):
    sync = refreshing_sync(sent=False)
    sync.on_event(ev(104, 105), now=2)  # the book is at 105; nothing was kept
    actions = sync.on_snapshot(snap(snapshot_id, bid_top=88), now=3, limit=LIMIT)
    if used:  # at or after the book: nothing it lacks
        assert kinds(actions) == ["BookRefreshed", "BookChanged"] and not sync.refreshing
    else:  # before the book's last event: that event would be missing; asked again, keeping from now
        assert actions == [RequestSnapshot("BTCUSDT", retry=True, refresh=True)] and sync.refreshing


def test_a_book_rebuilt_at_the_same_update_id_is_checked_again():
    # check_horizon skips a book that has not changed since it last had room enough. A restart and a shallower
    # sync at the same update id (a quiet symbol) change the horizon without moving the update id.
    sync = live_sync()
    sync.on_event(ev(101, 101), now=1)
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT) == []  # 15 levels of room on each side
    sync.restart()
    sync.on_event(ev(101, 101), now=2)  # the stream's next event: a snapshot is asked for
    sync.on_snapshot(snap(101, bids=4, asks=4), now=2, limit=4)  # a shallower one than the top, at the same id
    assert sync.is_live and sync.book.last_update_id == 101
    assert sync.book.horizon_distance(DEPTH) == (-1, -1)
    [request] = sync.check_horizon(DEPTH, MARGIN, LIMIT)
    assert request == RequestSnapshot("BTCUSDT", retry=False, refresh=True) and request.room == -1


def test_a_book_that_moved_since_it_had_room_enough_is_checked_again():
    sync = live_sync()
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT) == []
    assert sync.check_horizon(DEPTH, MARGIN, LIMIT) == []  # unchanged: still enough
    sync.on_event(sweep_bids(101, 103, 12), now=1)  # 3 levels of room left
    [request] = sync.check_horizon(DEPTH, MARGIN, LIMIT)
    assert request.refresh and request.room == 3
