"""BookSync and quiet books: a silent live book asks the exchange before it is called stale
(docs/SNAPSHOT_HORIZON.md, "Quiet books"). One test per rule."""

from __future__ import annotations

from core.market.book_sync import BookRefreshed, RequestSnapshot, SyncReason, SyncState
from tests.core.market.test_book_sync_refresh import DEPTH, LIMIT, ev, kinds, live_sync, snap

SILENCE = 30.0
WAIT = 20.0
QUIET_CHECK = RequestSnapshot("BTCUSDT", retry=False, refresh=True, quiet=True)


def silent_sync():
    """A live book at update id 101 (its last event at time 0) that has asked whether it is still right."""
    sync = live_sync()
    assert sync.check_silence(now=SILENCE, max_silence=SILENCE, wait=WAIT) == []  # not longer than the limit
    assert sync.check_silence(now=SILENCE + 0.5, max_silence=SILENCE, wait=WAIT) == [QUIET_CHECK]
    sync.keep_for_refresh()  # the scheduler sends it
    return sync


def test_a_silent_live_book_asks_the_exchange_and_stays_live_meanwhile():
    sync = silent_sync()
    assert sync.state is SyncState.LIVE
    assert sync.counters.quiet_checks == 1
    assert sync.check_silence(now=SILENCE + 5, max_silence=SILENCE, wait=WAIT) == []  # asked once, not each time


def test_an_answer_that_agrees_keeps_the_deeper_book_and_starts_the_silence_clock_again():
    sync = silent_sync()
    before = sync.book.horizon_distance(DEPTH)
    actions = sync.on_snapshot(snap(101, bids=10, asks=10), now=40, limit=10)  # shallow: the same book's top 10
    assert sync.state is SyncState.LIVE
    assert [a for a in actions if isinstance(a, BookRefreshed)] == [BookRefreshed("BTCUSDT", 101, True)]
    assert sync.book.horizon_distance(DEPTH) == before  # the 20-level book stayed, not the 10-level answer
    assert sync.book.bid_count == LIMIT
    assert sync.check_silence(now=40 + SILENCE, max_silence=SILENCE, wait=WAIT) == []  # confirmed at 40
    assert sync.check_silence(now=40.5 + SILENCE, max_silence=SILENCE, wait=WAIT) == [QUIET_CHECK]


def test_an_answer_deeper_than_the_book_replaces_it():
    sync = silent_sync()
    sync.on_snapshot(snap(101, bids=30, asks=30), now=40, limit=30)
    assert sync.state is SyncState.LIVE and sync.book.bid_count == 30


def test_no_answer_within_the_wait_makes_the_book_stale_and_a_late_answer_that_agrees_makes_it_live():
    sync = silent_sync()
    assert sync.check_silence(now=SILENCE + WAIT, max_silence=SILENCE, wait=WAIT) == []
    actions = sync.check_silence(now=SILENCE + WAIT + 0.5, max_silence=SILENCE, wait=WAIT)
    assert kinds(actions) == ["StateChanged"]
    assert sync.state is SyncState.STALE and sync.reason is SyncReason.SILENT
    actions = sync.on_snapshot(snap(101), now=60, limit=LIMIT)
    assert sync.state is SyncState.LIVE and sync.reason is SyncReason.CONFIRMED
    assert kinds(actions)[0] == "StateChanged"


def test_the_exchange_moved_on_without_an_event_makes_the_book_stale_at_the_exchanges_book():
    """The stream lost this symbol's events: the book takes the snapshot (exact at its id) but is not trusted
    until its stream proves itself with a contiguous event."""
    sync = silent_sync()
    actions = sync.on_snapshot(snap(150, bid_top=99), now=40, limit=LIMIT)
    assert sync.state is SyncState.STALE and sync.reason is SyncReason.SILENT
    assert [a for a in actions if isinstance(a, BookRefreshed)] == [BookRefreshed("BTCUSDT", 150, None)]
    assert sync.book.last_update_id == 150 and sync.book.best_bid()[0] == "99.00000000"
    sync.on_event(ev(140, 151), now=41)  # straddles the snapshot's id, as after a sync
    assert sync.state is SyncState.LIVE and sync.reason is SyncReason.STREAM_RESUMED


def test_a_book_stale_from_silence_asks_again_every_silence_limit():
    sync = silent_sync()
    sync.check_silence(now=SILENCE + WAIT + 1, max_silence=SILENCE, wait=WAIT)  # stale: no answer
    sync.on_snapshot(snap(150), now=55, limit=LIMIT)  # moved on: still stale, at the exchange's book
    assert sync.state is SyncState.STALE
    assert sync.check_silence(now=55 + 0.5, max_silence=SILENCE, wait=WAIT) == []  # asked at 30.5, answered at 55
    assert sync.check_silence(now=SILENCE + 0.5 + SILENCE + 0.1, max_silence=SILENCE, wait=WAIT) == []  # 55 + 30
    assert sync.check_silence(now=85.5, max_silence=SILENCE, wait=WAIT) == [QUIET_CHECK]
    assert sync.counters.quiet_checks == 2
    sync.keep_for_refresh()
    sync.on_snapshot(snap(150), now=86, limit=LIMIT)  # still there: confirmed
    assert sync.state is SyncState.LIVE and sync.reason is SyncReason.CONFIRMED


def test_a_silent_book_whose_refresh_is_already_asked_waits_for_that_one():
    sync = live_sync()
    sync.on_event(ev(102, 103, bids=[("100.00000000", "0")] + [(f"{99 - i}.00000000", "0") for i in range(11)]), now=0)
    assert kinds(sync.check_horizon(DEPTH, 4, LIMIT)) == ["RequestSnapshot"]  # a refresh is asked
    asked = sync.counters.snapshots_requested
    assert sync.check_silence(now=SILENCE + 0.5, max_silence=SILENCE, wait=WAIT) == [QUIET_CHECK]  # urgent now
    assert sync.counters.snapshots_requested == asked  # no second snapshot: the one asked answers both
    sync.keep_for_refresh()
    sync.on_snapshot(snap(103, bid_top=88), now=35, limit=LIMIT)
    assert sync.state is SyncState.LIVE and sync.counters.last_confirmed_at == 35


def test_an_answer_that_disagrees_replaces_the_book_and_it_stays_live():
    sync = silent_sync()
    wrong = snap(101)
    wrong.bids[0][1] = "7.00000000"  # the exchange's top bid is not the book's: the book was wrong
    actions = sync.on_snapshot(wrong, now=40, limit=LIMIT)
    assert [a for a in actions if isinstance(a, BookRefreshed)] == [BookRefreshed("BTCUSDT", 101, False)]
    assert sync.book.best_bid() == ("100.00000000", "7.00000000")
    assert sync.counters.refresh_mismatches == 1 and sync.state is SyncState.LIVE


def test_without_a_wait_silence_makes_a_live_book_stale_at_once():
    sync = live_sync()
    actions = sync.check_silence(now=SILENCE + 0.5, max_silence=SILENCE)
    assert kinds(actions) == ["StateChanged"] and sync.state is SyncState.STALE
