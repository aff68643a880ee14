"""BookSync rules, one table row or test per rule (binance-protocol.md §3 and §9)."""

import pytest

from core.market.book_sync import (
    BookChanged,
    BookSync,
    Continuity,
    GapDetected,
    RequestSnapshot,
    StateChanged,
    SyncReason,
    SyncState,
)
from core.market.wire import DepthSnapshot, DepthUpdate

BID = "100.00000000"
ASK = "101.00000000"


def ev(first, final, bids=None, asks=None, pu=None, t=0):
    return DepthUpdate(
        "BTCUSDT", first, final, t, bids if bids is not None else [[BID, f"{final}.00000000"]], asks or [], pu
    )


def snap(last_id, bids=None, asks=None):
    return DepthSnapshot(last_id, bids or [[BID, "1.00000000"]], asks or [[ASK, "1.00000000"]])


def kinds(actions):
    return [type(a).__name__ for a in actions]


def test_first_event_requests_a_snapshot_and_buffers():
    sync = BookSync("BTCUSDT")
    assert sync.state is SyncState.BUFFERING
    actions = sync.on_event(ev(10, 12), now=0)
    assert sync.state is SyncState.SYNCING
    assert RequestSnapshot("BTCUSDT", retry=False) in actions
    sync.on_event(ev(13, 15), now=0)
    assert sync.buffered == 2
    assert not sync.is_live


@pytest.mark.parametrize(
    ("snapshot_id", "applied_first"),
    [
        (11, (10, 12)),  # L strictly inside the first event: U <= L+1 <= u
        (12, (13, 15)),  # L exactly at an event's end: that event is dropped, next starts at L+1
        (15, None),  # snapshot covers the whole buffer
        (9, (10, 12)),  # L + 1 == U: the first event starts right after the snapshot
    ],
)
def test_snapshot_acceptance_boundaries(snapshot_id, applied_first):
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_event(ev(13, 15), now=0)
    actions = sync.on_snapshot(snap(snapshot_id), now=1)
    assert sync.state is SyncState.LIVE
    assert sync.book.last_update_id == max(15, snapshot_id)
    applied = sync.counters.events_applied
    assert applied == {(10, 12): 2, (13, 15): 1, None: 0}[applied_first]
    assert isinstance(actions[-1], BookChanged)
    assert not any(isinstance(a, RequestSnapshot) for a in actions)


def test_snapshot_older_than_the_stream_is_fetched_again():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    actions = sync.on_snapshot(snap(8), now=1)  # L + 1 < U: the events in between are lost
    assert actions == [RequestSnapshot("BTCUSDT", retry=True)]
    assert sync.state is SyncState.SYNCING
    assert sync.counters.snapshots_too_old == 1
    sync.on_event(ev(13, 14), now=1)
    sync.on_snapshot(snap(13), now=2)
    assert sync.is_live and sync.book.last_update_id == 14


LIVE_EVENTS = [
    (ev(16, 18), "applied"),  # U == id + 1: the normal case
    (ev(14, 17), "applied"),  # straddles the book id: U <= id+1 <= u
    (ev(12, 15), "ignored"),  # u == id: stale
    (ev(3, 5), "ignored"),  # far in the past
    (ev(17, 19), "gap"),  # U == id + 2: one update missing
]


@pytest.mark.parametrize(("event", "outcome"), LIVE_EVENTS)
def test_live_update_procedure(event, outcome):
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(15), now=0)
    assert sync.book.last_update_id == 15
    actions = sync.on_event(event, now=1)
    if outcome == "applied":
        assert sync.is_live and sync.book.last_update_id == event.final_update_id
        assert kinds(actions) == ["BookChanged"]
    elif outcome == "ignored":
        assert sync.is_live and sync.book.last_update_id == 15 and actions == []
        assert sync.counters.events_applied == 0  # the snapshot covered the buffered event, and this one
    else:
        assert sync.state is SyncState.RESYNCING
        assert GapDetected("BTCUSDT", expected=16, got=17) in actions
        assert RequestSnapshot("BTCUSDT", retry=False) in actions
        assert sync.book.is_empty()
        assert sync.counters.gaps == 1 and sync.counters.resyncs == 1


@pytest.mark.parametrize(("event", "outcome"), LIVE_EVENTS)
@pytest.mark.parametrize("state", [SyncState.LIVE, SyncState.STALE])
def test_take_event_is_on_event_with_none_for_the_lone_book_changed(event, outcome, state):
    # The manager's frame path takes `take_event`: None stands for on_event's [BookChanged] and for nothing else.
    twins = [BookSync("BTCUSDT"), BookSync("BTCUSDT")]
    for sync in twins:
        sync.on_event(ev(10, 12), now=0)
        sync.on_snapshot(snap(15), now=0)
        if state is SyncState.STALE:
            sync.on_connection_lost(now=0)
    by_event, by_take = twins[0].on_event(event, now=1), twins[1].take_event(event, now=1)
    if by_take is None:
        assert by_event == [BookChanged("BTCUSDT", event.final_update_id)] and outcome == "applied"
    else:
        assert by_take == by_event and by_event != [BookChanged("BTCUSDT", event.final_update_id)]
    assert twins[0].book.as_dicts() == twins[1].book.as_dicts() and twins[0].state is twins[1].state
    assert twins[0].counters == twins[1].counters


def test_after_a_gap_the_revealing_event_starts_the_new_buffer():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(12), now=0)
    sync.on_event(ev(20, 22), now=1)  # gap
    sync.on_event(ev(23, 25), now=1)
    sync.on_snapshot(snap(21), now=2)
    assert sync.is_live and sync.book.last_update_id == 25
    assert sync.counters.events_applied == 2


def test_crossed_book_resyncs():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(12), now=0)
    actions = sync.on_event(ev(13, 13, bids=[["102.00000000", "1.00000000"]]), now=1)
    assert sync.state is SyncState.RESYNCING
    assert sync.counters.crossed_books == 1
    assert any(isinstance(a, StateChanged) and a.reason is SyncReason.CROSSED_BOOK for a in actions)


def test_malformed_level_resyncs_instead_of_corrupting():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(12), now=0)
    sync.on_event(ev(13, 13, bids=[["oops", "1"]]), now=1)
    assert sync.state is SyncState.RESYNCING and sync.reason is SyncReason.MALFORMED_LEVEL
    assert sync.counters.bad_levels == 1 and sync.counters.resyncs == 1


def test_gap_inside_the_buffer_keeps_only_what_follows_it():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_event(ev(20, 22), now=0)  # missing 13..19 while the snapshot downloads
    assert sync.buffered == 1
    actions = sync.on_snapshot(snap(14), now=1)  # older than the new buffer start
    assert actions == [RequestSnapshot("BTCUSDT", retry=True)]
    sync.on_snapshot(snap(21), now=2)
    assert sync.is_live and sync.book.last_update_id == 22


def test_silence_makes_a_live_book_stale_and_a_contiguous_event_revives_it():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(12), now=0)
    assert sync.check_silence(now=5, max_silence=10) == []
    actions = sync.check_silence(now=10.5, max_silence=10)
    assert sync.state is SyncState.STALE and kinds(actions) == ["StateChanged"]
    assert actions[0].reason is SyncReason.SILENT
    actions = sync.on_event(ev(13, 14), now=11)
    assert sync.is_live and kinds(actions) == ["StateChanged", "BookChanged"]
    assert sync.reason is SyncReason.STREAM_RESUMED


def test_disconnect_marks_stale_and_a_gap_after_reconnect_resyncs():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(12), now=0)
    sync.on_connection_lost(now=1)
    assert sync.state is SyncState.STALE and sync.reason is SyncReason.DISCONNECTED
    sync.on_event(ev(40, 41), now=2)
    assert sync.state is SyncState.RESYNCING and sync.reason is SyncReason.GAP


def test_late_snapshot_is_ignored_when_live():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(12), now=0)
    assert sync.on_snapshot(snap(5), now=1) == []
    assert sync.book.last_update_id == 12


def test_restart_discards_everything():
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    sync.on_snapshot(snap(12), now=0)
    actions = sync.restart()
    assert sync.state is SyncState.BUFFERING and sync.book.is_empty()
    assert actions == [StateChanged("BTCUSDT", SyncState.LIVE, SyncState.BUFFERING, SyncReason.RESTARTED)]


def test_every_state_change_says_why_with_a_reason_and_its_text():
    sync = BookSync("BTCUSDT")
    assert sync.reason is SyncReason.FIRST_EVENT_AWAITED
    changes = [a for a in sync.on_event(ev(10, 12), now=0) if isinstance(a, StateChanged)]
    changes += [a for a in sync.on_snapshot(snap(12), now=0) if isinstance(a, StateChanged)]
    assert [(c.new, c.reason) for c in changes] == [
        (SyncState.SYNCING, SyncReason.SNAPSHOT_REQUESTED),
        (SyncState.LIVE, SyncReason.SNAPSHOT_APPLIED),
    ]
    # Logs carry the value, people read the text; every reason has one.
    assert f"{SyncReason.SNAPSHOT_APPLIED}" == "snapshot_applied"
    assert SyncReason.SNAPSHOT_APPLIED.text == "snapshot applied"
    assert all(reason.text for reason in SyncReason)


# --- USD-M futures: continuity by pu -------------------------------------------------------------


def test_futures_first_event_must_contain_L_then_pu_chains():
    sync = BookSync("SUSHIUSDT", Continuity.FUTURES)
    sync.on_event(ev(100, 110, pu=90), now=0)
    sync.on_event(ev(115, 120, pu=110), now=0)  # U != prev u + 1 is normal on futures
    assert sync.buffered == 2
    sync.on_snapshot(snap(117), now=1)  # ids are shared across symbols: L falls inside an event
    assert sync.is_live and sync.book.last_update_id == 120
    assert sync.counters.events_applied == 1
    sync.on_event(ev(130, 135, pu=120), now=2)
    assert sync.is_live and sync.book.last_update_id == 135
    sync.on_event(ev(140, 150, pu=137), now=3)
    assert sync.state is SyncState.RESYNCING


def test_a_crossed_snapshot_never_goes_live_and_is_fetched_again():
    """Defence in depth: the REST client refuses crossed snapshots, and so does the book's sync."""
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 12), now=0)
    crossed = DepthSnapshot(12, [["101.00000000", "1.00000000"]], [["100.00000000", "1.00000000"]])
    actions = sync.on_snapshot(crossed, now=0)
    assert kinds(actions) == ["RequestSnapshot"] and actions[0].retry
    assert sync.state is SyncState.SYNCING and not sync.is_live
    assert sync.book.is_empty() and sync.counters.crossed_books == 1
    sync.on_event(ev(13, 13), now=1)
    sync.on_snapshot(snap(12), now=1)
    assert sync.is_live and sync.book.last_update_id == 13


def test_a_sync_buffer_keeps_only_recent_events_and_a_snapshot_older_than_them_is_fetched_again():
    """While a snapshot is awaited, events more than KEEP_MS (exchange time) older than the newest go: any snapshot
    still to come covers them. A snapshot older than what is kept is fetched again; a newer one goes live."""
    sync = BookSync("BTCUSDT")
    sync.on_event(ev(10, 10, t=1_000), now=0)
    sync.on_event(ev(11, 11, t=2_000), now=1)
    sync.on_event(ev(12, 12, t=2_001 + BookSync.KEEP_MS), now=2)  # the events of 10 and 11 go
    assert sync.buffered == 1
    assert sync.on_snapshot(snap(9), now=3) == [RequestSnapshot("BTCUSDT", retry=True)]
    assert sync.counters.snapshots_too_old == 1
    sync.on_snapshot(snap(11), now=4)
    assert sync.is_live and sync.book.last_update_id == 12
