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

Quiet books (docs/SNAPSHOT_HORIZON.md, "Quiet books"). Binance sends no event when a book does not change, so
silence alone does not tell a quiet book from a lost stream. A live book silent for the silence limit asks the
exchange (`check_silence`): a refresh snapshot, sent as `RequestSnapshot(refresh=True, quiet=True)`. If the
exchange's book is still at the book's update id and agrees with it, the book stays LIVE and the silence clock
starts again; if the exchange moved on while no event came, the stream lost this symbol: STALE. A book whose
question is not answered within the wait after the limit goes STALE as well.

Refresh, make-before-break (docs/SNAPSHOT_HORIZON.md). A snapshot covers only its `limit` best levels per side
and Binance never sends a level that does not change, so once the touch runs towards the snapshot's last level
the book's top levels are no longer verified (`OrderBook.verified`). `check_horizon`, called by the owner now and
then, asks for a fresh snapshot (`RequestSnapshot(refresh=True)`) before that happens, while the book stays LIVE:
every event applied from when the request goes out (`keep_for_refresh`) is also kept; when the snapshot comes, a
shadow book is built from it and caught up with those events, then takes the book's place in one step. The state never changes during a refresh; a gap
or a crossed book during one resyncs as always (the refresh is dropped, its snapshot serves the resync).

Acceptance rule (binance-protocol.md §3): after dropping buffered events with u <= L, the first event
must satisfy U <= L+1 <= u. The docs' literal "L within [U;u]" is wrong on real data (U == L+1 is normal).
USD-M futures chain events by `pu` instead: first event U <= L <= u, then pu == previous u.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field

from core.market.orderbook import LEVEL_CAP, OrderBook
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
    CONFIRMED = "confirmed"  # LIVE again after SILENT: the exchange's book was still this one

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
    SyncReason.CONFIRMED: "confirmed by the exchange's book",
}


class Continuity(enum.StrEnum):
    SPOT = "spot"  # U == previous u + 1
    FUTURES = "futures"  # pu == previous u


# --- actions: what the caller must do -------------------------------------------------------------


SNAPSHOT_MAX_LEVELS = 5000  # Binance returns at most this many levels per side, whatever the limit asked


@dataclass(frozen=True, slots=True)
class RequestSnapshot:
    symbol: str
    retry: bool  # True when the previous snapshot was older than the stream (back off before fetching)
    refresh: bool = False  # the book is live and stays live: a fresher, deeper horizon is wanted, not a sync
    # A refresh's known levels left beyond the top before the horizon: the fewer, the more urgent. A hint for the
    # scheduler's order, not part of what is asked for (not compared).
    room: int = field(default=0, compare=False)
    # A refresh asked because the book was silent for the silence limit (`check_silence`): any depth will do.
    quiet: bool = False


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


@dataclass(frozen=True, slots=True)
class BookRefreshed:
    """A refresh's shadow book took the live book's place (a BookChanged follows)."""

    symbol: str
    last_update_id: int
    # The old and the new book agreed on every level both knew (within both horizons), as they must; None when
    # they could not be compared (the snapshot was newer than every event the old book had applied).
    consistent: bool | None


Action = RequestSnapshot | BookChanged | StateChanged | GapDetected | BookRefreshed


@dataclass(slots=True)
class SyncCounters:
    """What happened to one book; every counter is shown in the app's details panel (via SymbolStatus)."""

    events_applied: int = 0
    gaps: int = 0  # update-id gaps, in the stream or inside the buffer
    resyncs: int = 0  # the book was discarded and rebuilt from a new snapshot
    snapshots_requested: int = 0
    snapshots_too_old: int = 0  # a snapshot older than the buffered stream: fetched again
    refreshes_requested: int = 0  # make-before-break refreshes asked for (the top neared the horizon)
    refreshes: int = 0  # refreshes whose shadow book took the live book's place
    refresh_mismatches: int = 0  # refreshes whose new book disagreed with the old one where both knew the level
    crossed_books: int = 0
    bad_levels: int = 0  # malformed price levels, in an event or a snapshot
    last_update_id: int = 0
    last_event_time: int = 0  # exchange E of the last applied event, ms
    last_event_at: float = 0.0  # caller's clock when the last event arrived (the silence watchdog's clock)
    quiet_checks: int = 0  # silent live books checked against the exchange's book (`check_silence`)
    last_confirmed_at: float = 0.0  # caller's clock when a refresh last confirmed the book (the silence clock too)


class BookSync:
    """Keeps one symbol's `OrderBook` exact, or says why it cannot."""

    MAX_BUFFER = 10_000  # events kept while a snapshot downloads; older ones are dropped
    # Events kept for a snapshot still to come (a sync's buffer, a refresh's) reach back this far before the
    # newest one, by the exchange's own event time E. A snapshot is answered within the REST client's 10 s, so
    # it is newer than any event older than that by more than 10 s, which it covers (u <= lastUpdateId) and
    # which would be dropped anyway; a late stream only makes the events older still. Keeping them cost memory
    # and garbage-collector time while many books waited minutes for weight or a request slot (the whole
    # market). A snapshot older than what is kept is fetched again, as always.
    KEEP_MS = 30_000

    def __init__(
        self, symbol: str, continuity: Continuity = Continuity.SPOT, level_cap: int | None = LEVEL_CAP
    ) -> None:
        self.symbol = symbol
        self.continuity = continuity
        self.book = OrderBook(symbol, level_cap=level_cap)
        self.state = SyncState.BUFFERING
        self.reason = SyncReason.FIRST_EVENT_AWAITED
        self.counters = SyncCounters()
        self._buffer: deque[DepthUpdate] = deque(maxlen=self.MAX_BUFFER)
        self._first_after_snapshot = False  # futures: the first event is checked against L, not pu
        self._refresh_asked = False  # a refresh is under way: its snapshot is queued or on its way
        # Every event applied to the book since the refresh's request was sent (`keep_for_refresh`), else None.
        self._refresh: deque[DepthUpdate] | None = None
        self._refresh_from = 0  # the update id after which `_refresh` holds every event applied
        self._enough_room: tuple[int, ...] | None = None  # check_horizon's last question that found room enough
        self._quiet_check = False  # the refresh under way also answers whether the silent book is still right
        self._quiet_asked_at = 0.0

    @property
    def is_live(self) -> bool:
        return self.state is SyncState.LIVE

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def refreshing(self) -> bool:
        """A refresh snapshot is awaited (the book stays as it is, live or stale, meanwhile)."""
        return self._refresh_asked

    # --- inputs -----------------------------------------------------------------------------------

    def on_event(self, event: DepthUpdate, now: float) -> list[Action]:
        actions = self.take_event(event, now)
        return [BookChanged(self.symbol, event.final_update_id)] if actions is None else actions

    def take_event(self, event: DepthUpdate, now: float) -> list[Action] | None:
        """`on_event` for the manager's frame path: None when the event was applied and that is all (on_event's
        one BookChanged), so that nearly every frame makes no list and no action."""
        self.counters.last_event_at = now
        state = self.state
        if state is SyncState.LIVE or state is SyncState.STALE:
            return self._apply_live(event)
        self._buffer_event(event)
        if state is SyncState.BUFFERING:
            return self._request_snapshot(SyncState.SYNCING, SyncReason.SNAPSHOT_REQUESTED, retry=False)
        return []

    def on_snapshot(self, snapshot: DepthSnapshot, now: float, limit: int | None = None) -> list[Action]:
        """A REST snapshot arrived, fetched with `limit` (None: not known, so each side's last level is its
        horizon). Ignored unless one is awaited: a sync's, or a refresh's."""
        if limit is not None:
            limit = min(limit, SNAPSHOT_MAX_LEVELS)
        if self.state not in (SyncState.SYNCING, SyncState.RESYNCING):
            if self._refresh_asked:
                return self._on_refresh_snapshot(snapshot, now, limit)
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
            self.book.load_snapshot(snapshot.bids, snapshot.asks, last_id, limit)
        except ValueError:
            self.counters.bad_levels += 1
            self.counters.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True)]
        if self.book.is_crossed():
            # The REST client refuses crossed snapshots already (core.market.wire); a snapshot that reaches a book
            # by another way must not go live either. The buffered events stay for the next snapshot.
            self.book.clear()
            self.counters.crossed_books += 1
            self.counters.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True)]
        self._first_after_snapshot = True
        actions: list[Action] = [self._set_state(SyncState.LIVE, SyncReason.SNAPSHOT_APPLIED)]
        pending = list(buf)
        buf.clear()
        for event in pending:
            applied = self._apply_live(event)
            actions += [BookChanged(self.symbol, event.final_update_id)] if applied is None else applied
            if self.state is not SyncState.LIVE:
                return actions
        actions.append(BookChanged(self.symbol, self.book.last_update_id))
        return actions

    def on_connection_lost(self, now: float) -> list[Action]:
        """The socket dropped: events may be missing until the stream proves otherwise."""
        if self.state is SyncState.LIVE:
            return [self._set_state(SyncState.STALE, SyncReason.DISCONNECTED)]
        return []

    def check_silence(self, now: float, max_silence: float, wait: float = 0.0) -> list[Action]:
        """Watchdog, called now and then. A live book with no event, and no refresh confirming it, for
        `max_silence` seconds asks the exchange whether it is still right (a refresh, `quiet=True`); with no
        answer by `wait` seconds later (or at once, `wait=0`), it is no longer trusted: STALE. A book gone stale
        that way asks again every `max_silence`, and an answer that confirms it makes it live again. Asking while
        a refresh waits in the scheduler's queue tells the queue it is urgent now (one request per symbol)."""
        c = self.counters
        quiet = now - max(c.last_event_at, c.last_confirmed_at)
        if self.state is SyncState.LIVE:
            if quiet <= max_silence:
                return []
            if wait <= 0 or quiet > max_silence + wait:
                return [self._set_state(SyncState.STALE, SyncReason.SILENT)]
            return [] if self._quiet_check else self._ask_quiet_check(now)
        if (
            self.state is SyncState.STALE
            and self.reason is SyncReason.SILENT
            and wait > 0
            and not self._quiet_check
            and min(quiet, now - self._quiet_asked_at) > max_silence
        ):
            return self._ask_quiet_check(now)
        return []

    def _ask_quiet_check(self, now: float) -> list[Action]:
        self._quiet_check, self._quiet_asked_at = True, now
        self.counters.quiet_checks += 1
        if not self._refresh_asked:  # else the refresh under way answers (the request raises its urgency)
            self._refresh_asked = True
            self.counters.snapshots_requested += 1
        return [RequestSnapshot(self.symbol, retry=False, refresh=True, quiet=True)]

    def check_horizon(self, depth: int, margin: int, limit: int) -> list[Action]:
        """Ask for a refresh before the top `depth` levels leave the snapshot horizon.

        A live book whose `depth`-th level has fewer than `margin` known levels behind it before the horizon (on
        either side) asks for a snapshot of `limit` levels. The margin is capped at half the room such a
        snapshot gives, (limit - depth) // 2, so that a fresh snapshot is always above it: a book never asks
        again and again because the snapshots are too shallow for the margin. A book built from a shallower
        snapshot than `limit` (a cheap start, a rescue) is capped at half its own room likewise: it asks once it
        has moved, and a book that sits still is never deepened (docs/SNAPSHOT_HORIZON.md, "Cheap start, deep
        when it moves"). Nothing while a refresh is under way, or when a snapshot of `limit` levels cannot cover
        `depth`."""
        if self.state is not SyncState.LIVE or self._refresh_asked or limit <= depth:
            return []
        c = self.counters
        # The room changes only with the book: an event moves its update id, and a new snapshot (a sync after a
        # gap or a restart, a refresh) is asked for first. A book not changed since it last had room enough for
        # the same question still has (most books of a long-tailed market, four times a second).
        checked = (self.book.last_update_id, c.snapshots_requested, c.refreshes, depth, margin, limit)
        if checked == self._enough_room:
            return []
        held = self.book.snapshot_limit or limit  # None: a depth not known, taken as `limit`'s
        margin = max(0, min(margin, (min(limit, held, SNAPSHOT_MAX_LEVELS) - depth) // 2))
        room = self.book.horizon_room(depth, margin)
        if room >= margin:  # margin 0: refresh once the top is not verified
            self._enough_room = checked
            return []
        self._refresh_asked = True  # events are kept from when its request is sent: keep_for_refresh
        c.refreshes_requested += 1
        c.snapshots_requested += 1
        return [RequestSnapshot(self.symbol, retry=False, refresh=True, room=room)]

    def keep_for_refresh(self) -> None:
        """The refresh's snapshot request is about to be sent: keep every event applied from now on, which the
        snapshot may lack. Not earlier: a refresh can wait minutes for weight (the whole market deepening its
        cheap starts), and events kept all that while cost memory and garbage-collector time for nothing (a
        snapshot fetched later covers them). A snapshot older than the first event kept is fetched again, as in
        a sync (binance-protocol.md §3: the same order, buffer first, then ask)."""
        if self._refresh_asked and self._refresh is None:
            self._refresh = deque()
            self._refresh_from = self.book.last_update_id

    def on_malformed_event(self) -> list[Action]:
        """An event of this symbol arrived but could not be parsed (a malformed level): the book has missed it,
        so it is no longer exact. Resync now, rather than stay live one event behind until the next event's gap
        check (a quiet symbol might otherwise be recorded without that event)."""
        self.counters.bad_levels += 1
        return self._resync(None, None, SyncReason.MALFORMED_LEVEL)

    def restart(self, reason: SyncReason = SyncReason.RESTARTED) -> list[Action]:
        """Discard the book and start over from the stream (e.g. after a resubscribe)."""
        self.book.clear()
        self._buffer.clear()
        self._refresh, self._refresh_asked, self._quiet_check = None, False, False
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
        oldest = event.event_time - self.KEEP_MS
        while buf[0].event_time < oldest:  # covered by any snapshot still to come (KEEP_MS)
            buf.popleft()

    def _follows(self, prev_final: int, event: DepthUpdate) -> bool:
        if self.continuity is Continuity.FUTURES and event.prev_final_update_id is not None:
            return event.prev_final_update_id == prev_final
        return event.first_update_id == prev_final + 1

    def _apply_live(self, event: DepthUpdate) -> list[Action] | None:
        """None: applied, and nothing else happened (the book is at the event's final update id)."""
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
            crossed = self.book.apply(event.bids, event.asks, event.final_update_id)
        except ValueError:
            c.bad_levels += 1
            return self._resync(None, None, SyncReason.MALFORMED_LEVEL)
        self._first_after_snapshot = False
        c.events_applied += 1
        c.last_update_id = event.final_update_id
        c.last_event_time = event.event_time
        kept = self._refresh
        if kept is not None:
            # The oldest go (too many, or too old: KEEP_MS): the shadow then needs a snapshot after them.
            oldest = event.event_time - self.KEEP_MS
            while kept and (len(kept) >= self.MAX_BUFFER or kept[0].event_time < oldest):
                self._refresh_from = kept.popleft().final_update_id
            kept.append(event)
        if crossed:
            c.crossed_books += 1
            return self._resync(None, None, SyncReason.CROSSED_BOOK)
        if self.state is SyncState.STALE:
            return [
                self._set_state(SyncState.LIVE, SyncReason.STREAM_RESUMED),
                BookChanged(self.symbol, event.final_update_id),
            ]
        return None

    def _resync(self, event: DepthUpdate | None, gap: GapDetected | None, reason: SyncReason) -> list[Action]:
        c = self.counters
        c.resyncs += 1
        actions: list[Action] = []
        if gap is not None:
            c.gaps += 1
            actions.append(gap)
        self.book.clear()
        self._buffer.clear()
        self._refresh, self._refresh_asked, self._quiet_check = None, False, False  # its snapshot serves the resync
        if event is not None:
            self._buffer.append(event)  # the event that revealed the gap starts the new buffer
        actions.extend(self._request_snapshot(SyncState.RESYNCING, reason, retry=False))
        return actions

    def _on_refresh_snapshot(self, snapshot: DepthSnapshot, now: float, limit: int | None) -> list[Action]:
        """The refresh's snapshot: build the shadow book, catch it up, and put it in the book's place (unless
        the two agree and the book knows more levels inside its horizon: a quiet check's shallow snapshot)."""
        c = self.counters
        if self._refresh is None:  # fetched without keep_for_refresh: nothing kept, so it must be this new
            self.keep_for_refresh()
        kept = self._refresh
        assert kept is not None
        last_id = snapshot.last_update_id
        book = self.book
        if last_id < self._refresh_from:
            # Older than the first event kept: the events in between are lost for it. Fetch again.
            c.snapshots_too_old += 1
            c.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True, refresh=True)]
        # The kept events follow each other without a gap (the book applied each of them) from _refresh_from on,
        # so those ending after the snapshot are exactly what it lacks; one that straddles it is applied whole
        # (quantities are absolute), as in a sync.
        pending = [e for e in kept if e.final_update_id > last_id]
        shadow = OrderBook(self.symbol, level_cap=book.level_cap)
        try:
            shadow.load_snapshot(snapshot.bids, snapshot.asks, last_id, limit)
            for event in pending:
                shadow.apply(event.bids, event.asks, event.final_update_id)
        except ValueError:
            c.bad_levels += 1
            c.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True, refresh=True)]
        if shadow.is_crossed():  # a crossed snapshot: keep the book, ask again later
            c.crossed_books += 1
            c.snapshots_requested += 1
            return [RequestSnapshot(self.symbol, retry=True, refresh=True)]
        quiet, self._quiet_check = self._quiet_check, False
        if quiet:
            self._quiet_asked_at = now  # a stale book asks again `max_silence` after this answer
        self._refresh, self._refresh_asked = None, False
        consistent: bool | None = None
        actions: list[Action] = []
        if shadow.last_update_id == book.last_update_id:
            consistent = book.agrees_with(shadow)
            if not consistent:
                c.refresh_mismatches += 1
            elif book.horizon_room(0, SNAPSHOT_MAX_LEVELS) >= shadow.horizon_room(0, SNAPSHOT_MAX_LEVELS):
                shadow = book  # the book knows as much or more: keep it (a quiet check asks shallow)
            c.last_confirmed_at = now  # the exchange's book is this one (now the shadow, if they disagreed)
            if consistent and self.state is SyncState.STALE and self.reason is SyncReason.SILENT:
                actions.append(self._set_state(SyncState.LIVE, SyncReason.CONFIRMED))
        else:
            # The snapshot is newer than every event applied: the book jumps to it, and the next event must
            # straddle it, as after a sync.
            self._first_after_snapshot = True
            if quiet and self.state is SyncState.LIVE:
                # Silent for the silence limit, and meanwhile the exchange's book moved on: this symbol's events
                # are lost on the way. Not trusted until its stream proves itself again (a contiguous event).
                actions.append(self._set_state(SyncState.STALE, SyncReason.SILENT))
        if shadow is not book:  # a refresh done (a book kept as it was is only a confirmation: no change)
            book.adopt(shadow)
            c.refreshes += 1
        c.last_update_id = book.last_update_id
        actions += [
            BookRefreshed(self.symbol, book.last_update_id, consistent),
            BookChanged(self.symbol, book.last_update_id),
        ]
        return actions

    def _request_snapshot(self, new_state: SyncState, reason: SyncReason, retry: bool) -> list[Action]:
        self.counters.snapshots_requested += 1
        return [self._set_state(new_state, reason), RequestSnapshot(self.symbol, retry)]

    def _set_state(self, new: SyncState, reason: SyncReason) -> StateChanged:
        old, self.state, self.reason = self.state, new, reason
        return StateChanged(self.symbol, old, new, reason)
