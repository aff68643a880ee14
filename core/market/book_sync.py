"""BookSync: Binance's local-order-book procedure for one symbol, sans-I/O.

Every state transition lives here. Events, snapshots and the passing of time come in as method calls
(time as an argument); what the caller must do comes out as a list of actions. No asyncio, no clock,
no sockets, so every rule is tested with plain tables.

States:
  BUFFERING  subscribed, no event yet (a snapshot is only worth fetching once the stream has started)
  SYNCING    first snapshot requested; events are buffered meanwhile
  LIVE       the book is exact as of `book.last_update_id`
  RESYNCING  the book was discarded (gap, crossed book, bad level); buffering for a new snapshot
  STALE      the book is kept but not trusted: the stream went silent or the connection dropped.
             A contiguous event brings it back to LIVE; a gap resyncs.

Acceptance rule (binance-protocol.md §3): after dropping buffered events with u <= L, the first event
must satisfy U <= L+1 <= u. The docs' literal "L within [U;u]" is wrong on real data (U == L+1 is normal).
USD-M futures chain events by `pu` instead: first event U <= L <= u, then pu == previous u.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from core.market.orderbook import OrderBook
from core.market.wire import DepthSnapshot, DepthUpdate


class SyncState(enum.StrEnum):
    BUFFERING = "buffering"
    SYNCING = "syncing"
    LIVE = "live"
    RESYNCING = "resyncing"
    STALE = "stale"


class SyncReason(enum.StrEnum):
    """Why a book is in its state (`BookSync.reason`, `StateChanged.reason`).

    The values are short words for logs; `text` is the phrase shown to people. Nothing stores them.
    """

    FIRST_EVENT_AWAITED = "first_event_awaited"  # BUFFERING: subscribed, no event yet
    RESTARTED = "restarted"  # BUFFERING: the book was discarded by `restart` (e.g. after a resubscribe)
    SNAPSHOT_REQUESTED = "snapshot_requested"  # SYNCING: the stream started, a snapshot is on its way
    SNAPSHOT_APPLIED = "snapshot_applied"  # LIVE
    STREAM_RESUMED = "stream_resumed"  # LIVE again after STALE
    GAP = "gap"  # RESYNCING: an update id was missing
    MALFORMED_LEVEL = "malformed_level"  # RESYNCING: an event carried a price level that is not a number
    CROSSED_BOOK = "crossed_book"  # RESYNCING: best bid >= best ask after an event
    DISCONNECTED = "disconnected"  # STALE: the connection dropped
    SILENT = "silent"  # STALE: no event for the symbol for longer than the silence limit

    @property
    def text(self) -> str:
        return _SYNC_REASON_TEXT[self]


_SYNC_REASON_TEXT = {
    SyncReason.FIRST_EVENT_AWAITED: "waiting for the first event",
    SyncReason.RESTARTED: "restarted",
    SyncReason.SNAPSHOT_REQUESTED: "snapshot requested",
    SyncReason.SNAPSHOT_APPLIED: "snapshot applied",
    SyncReason.STREAM_RESUMED: "stream resumed",
    SyncReason.GAP: "update-id gap",
    SyncReason.MALFORMED_LEVEL: "malformed level",
    SyncReason.CROSSED_BOOK: "crossed book",
    SyncReason.DISCONNECTED: "disconnected",
    SyncReason.SILENT: "no event for too long",
}


class Continuity(enum.StrEnum):
    SPOT = "spot"  # U == previous u + 1
    FUTURES = "futures"  # pu == previous u


# --- actions: what the caller must do -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestSnapshot:
    symbol: str
    retry: bool  # True when the previous snapshot was older than the stream (back off before fetching)


@dataclass(slots=True)  # built once per applied event: not frozen, for speed (see DepthUpdate)
class BookChanged:
    symbol: str
    last_update_id: int


@dataclass(frozen=True, slots=True)
class StateChanged:
    symbol: str
    old: SyncState
    new: SyncState
    reason: SyncReason


@dataclass(frozen=True, slots=True)
class GapDetected:
    symbol: str
    expected: int  # the update id the book needed next
    got: int  # the first update id that arrived


Action = RequestSnapshot | BookChanged | StateChanged | GapDetected


@dataclass(slots=True)
class SyncCounters:
    """What happened to one book; every counter is shown in the app's details panel (via SymbolStatus)."""

    events_applied: int = 0
    gaps: int = 0  # update-id gaps, in the stream or inside the buffer
    resyncs: int = 0  # the book was discarded and rebuilt from a new snapshot
    snapshots_requested: int = 0
    snapshots_too_old: int = 0  # a snapshot older than the buffered stream: fetched again
    crossed_books: int = 0
    bad_levels: int = 0  # malformed price levels, in an event or a snapshot
    last_update_id: int = 0
    last_event_time: int = 0  # exchange E of the last applied event, ms
    last_event_at: float = 0.0  # caller's clock when the last event arrived (the silence watchdog's clock)


class BookSync:
    """Keeps one symbol's `OrderBook` exact, or says why it cannot."""

    MAX_BUFFER = 10_000  # events kept while a snapshot downloads; older ones are dropped

    def __init__(self, symbol: str, continuity: Continuity = Continuity.SPOT) -> None:
        self.symbol = symbol
        self.continuity = continuity
        self.book = OrderBook(symbol)
        self.state = SyncState.BUFFERING
        self.reason = SyncReason.FIRST_EVENT_AWAITED
        self.counters = SyncCounters()
        self._buffer: deque[DepthUpdate] = deque(maxlen=self.MAX_BUFFER)
        self._first_after_snapshot = False  # futures: the first event is checked against L, not pu

    @property
    def is_live(self) -> bool:
        return self.state is SyncState.LIVE

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    # --- inputs -----------------------------------------------------------------------------------

    def on_event(self, event: DepthUpdate, now: float) -> list[Action]:
        self.counters.last_event_at = now
        state = self.state
        if state is SyncState.LIVE or state is SyncState.STALE:
            return self._apply_live(event)
        self._buffer_event(event)
        if state is SyncState.BUFFERING:
            return self._request_snapshot(SyncState.SYNCING, SyncReason.SNAPSHOT_REQUESTED, retry=False)
        return []

    def on_snapshot(self, snapshot: DepthSnapshot, now: float) -> list[Action]:
        """A REST snapshot arrived. Ignored unless one is awaited (a late answer after a resync)."""
        if self.state not in (SyncState.SYNCING, SyncState.RESYNCING):
            return []
        last_id = snapshot.last_update_id
        buf = self._buffer
        if buf and self._older_than_stream(last_id, buf[0]):
            # Older than the first event we hold: the updates in between are lost; fetch again (step 4).
            self.counters.snapshots_too_old += 1
            self.counters.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True)]
        while buf and self._covered_by_snapshot(buf[0], last_id):
            buf.popleft()
        if buf and not self._first_fits(buf[0], last_id):
            # Should not happen with a contiguous buffer; start over from the newest event.
            newest = buf[-1]
            buf.clear()
            buf.append(newest)
            self.counters.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True)]
        try:
            self.book.load_snapshot(snapshot.bids, snapshot.asks, last_id)
        except ValueError:
            self.counters.bad_levels += 1
            self.counters.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True)]
        self._first_after_snapshot = True
        actions: list[Action] = [self._set_state(SyncState.LIVE, SyncReason.SNAPSHOT_APPLIED)]
        pending = list(buf)
        buf.clear()
        for event in pending:
            actions.extend(self._apply_live(event))
            if self.state is not SyncState.LIVE:
                return actions
        actions.append(BookChanged(self.symbol, self.book.last_update_id))
        return actions

    def on_connection_lost(self, now: float) -> list[Action]:
        """The socket dropped: events may be missing until the stream proves otherwise."""
        if self.state is SyncState.LIVE:
            return [self._set_state(SyncState.STALE, SyncReason.DISCONNECTED)]
        return []

    def check_silence(self, now: float, max_silence: float) -> list[Action]:
        """Watchdog: a live book with no event for `max_silence` seconds is no longer trusted."""
        if self.state is SyncState.LIVE and now - self.counters.last_event_at > max_silence:
            return [self._set_state(SyncState.STALE, SyncReason.SILENT)]
        return []

    def restart(self, reason: SyncReason = SyncReason.RESTARTED) -> list[Action]:
        """Discard the book and start over from the stream (e.g. after a resubscribe)."""
        self.book.clear()
        self._buffer.clear()
        return [self._set_state(SyncState.BUFFERING, reason)]

    def mark_started(self, now: float) -> None:
        """Start the silence clock at subscription time (no event yet is also silence)."""
        self.counters.last_event_at = now

    # --- internals --------------------------------------------------------------------------------

    def _older_than_stream(self, last_id: int, first: DepthUpdate) -> bool:
        if self.continuity is Continuity.FUTURES:
            return last_id < first.first_update_id
        # L + 1 == U loses nothing: the docs' "L < U" would refetch a perfectly good snapshot.
        return last_id + 1 < first.first_update_id

    def _covered_by_snapshot(self, event: DepthUpdate, last_id: int) -> bool:
        if self.continuity is Continuity.FUTURES:
            return event.final_update_id < last_id  # futures keep the event that ends at L
        return event.final_update_id <= last_id

    def _first_fits(self, event: DepthUpdate, last_id: int) -> bool:
        if self.continuity is Continuity.FUTURES:
            return event.first_update_id <= last_id <= event.final_update_id
        return event.first_update_id <= last_id + 1 <= event.final_update_id

    def _buffer_event(self, event: DepthUpdate) -> None:
        buf = self._buffer
        if buf and not self._follows(buf[-1].final_update_id, event):
            # A gap inside the buffer: everything before it is useless for any snapshot.
            self.counters.gaps += 1
            buf.clear()
        buf.append(event)

    def _follows(self, prev_final: int, event: DepthUpdate) -> bool:
        if self.continuity is Continuity.FUTURES and event.prev_final_update_id is not None:
            return event.prev_final_update_id == prev_final
        return event.first_update_id == prev_final + 1

    def _apply_live(self, event: DepthUpdate) -> list[Action]:
        c = self.counters
        book_id = self.book.last_update_id
        if self.continuity is Continuity.FUTURES:
            if event.final_update_id < book_id:
                return []
            if self._first_after_snapshot:
                ok = event.first_update_id <= book_id <= event.final_update_id
            else:
                ok = event.prev_final_update_id == book_id
        else:
            if event.final_update_id <= book_id:
                return []  # quantities are absolute: dropping u <= id is safe
            ok = event.first_update_id <= book_id + 1
        if not ok:
            gap = GapDetected(self.symbol, book_id + 1, event.first_update_id)
            return self._resync(event, gap, SyncReason.GAP)
        try:
            self.book.apply(event.bids, event.asks, event.final_update_id)
        except ValueError:
            c.bad_levels += 1
            return self._resync(None, None, SyncReason.MALFORMED_LEVEL)
        self._first_after_snapshot = False
        c.events_applied += 1
        c.last_update_id = event.final_update_id
        c.last_event_time = event.event_time
        if self.book.is_crossed():
            c.crossed_books += 1
            return self._resync(None, None, SyncReason.CROSSED_BOOK)
        if self.state is SyncState.STALE:
            return [
                self._set_state(SyncState.LIVE, SyncReason.STREAM_RESUMED),
                BookChanged(self.symbol, event.final_update_id),
            ]
        return [BookChanged(self.symbol, event.final_update_id)]

    def _resync(self, event: DepthUpdate | None, gap: GapDetected | None, reason: SyncReason) -> list[Action]:
        c = self.counters
        c.resyncs += 1
        actions: list[Action] = []
        if gap is not None:
            c.gaps += 1
            actions.append(gap)
        self.book.clear()
        self._buffer.clear()
        if event is not None:
            self._buffer.append(event)  # the event that revealed the gap starts the new buffer
        actions.extend(self._request_snapshot(SyncState.RESYNCING, reason, retry=False))
        return actions

    def _request_snapshot(self, new_state: SyncState, reason: SyncReason, retry: bool) -> list[Action]:
        self.counters.snapshots_requested += 1
        return [self._set_state(new_state, reason), RequestSnapshot(self.symbol, retry)]

    def _set_state(self, new: SyncState, reason: SyncReason) -> StateChanged:
        old, self.state, self.reason = self.state, new, reason
        return StateChanged(self.symbol, old, new, reason)
