"""What the OrderBookManager reports: per-symbol and connection status, and the events its listeners get."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.market.book_sync import BookSync, SyncReason, SyncState


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    """One book's state and its counters (core.market.book_sync.SyncCounters); the app's details panel shows
    every field."""

    symbol: str
    state: SyncState
    reason: SyncReason
    last_update_id: int
    last_event_time: int  # exchange time of the last applied event, ms
    events_applied: int
    gaps: int
    resyncs: int
    bid_levels: int
    ask_levels: int
    snapshots_requested: int = 0
    snapshots_too_old: int = 0
    crossed_books: int = 0
    bad_levels: int = 0
    refreshes_requested: int = 0  # make-before-break refreshes asked for (the top neared the snapshot horizon)
    refreshes: int = 0  # refreshes done: a fresher snapshot took the book's place, the book staying live
    refresh_mismatches: int = 0  # refreshed books that disagreed with the old one where both knew the level
    refreshing: bool = False  # a refresh snapshot is on its way
    snapshot_limit: int | None = None  # depth of the snapshot the book was last built from
    quiet_checks: int = 0  # the book was silent for the silence limit and asked the exchange (BookSync.check_silence)

    @classmethod
    def of(cls, sync: BookSync) -> SymbolStatus:
        """The status of `sync`'s book now."""
        c, book = sync.counters, sync.book
        return cls(
            sync.symbol, sync.state, sync.reason, c.last_update_id, c.last_event_time, c.events_applied,
            c.gaps, c.resyncs, book.bid_count, book.ask_count, c.snapshots_requested, c.snapshots_too_old,
            c.crossed_books, c.bad_levels, c.refreshes_requested, c.refreshes, c.refresh_mismatches,
            sync.refreshing, book.snapshot_limit, c.quiet_checks,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    """The stream connection; the app shows the counters in its details panel, the errors in the status bar."""

    connected: bool
    url: str
    streams: int
    reconnects: int
    rotations: int
    bad_frames: int
    last_error: str | None
    snapshot_errors: int
    snapshot_last_error: str | None
    connections: int = 0  # open combined-stream connections (`streams` is their total)
    connection_attempts: int = 0  # dials so far, paced within Binance's 300 per 5 minutes per IP


@dataclass(slots=True)  # one per applied event: not frozen, for speed (see core.wire.DepthUpdate)
class BookUpdated:
    symbol: str
    last_update_id: int


@dataclass(frozen=True, slots=True)
class SymbolStateChanged:
    symbol: str
    state: SyncState
    reason: SyncReason


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    status: ConnectionStatus


@dataclass(frozen=True, slots=True)
class FeedFailed:
    """A background part of the feed failed unexpectedly (already logged with its traceback).

    `message` is one sentence for people. `fatal`: the feed has stopped for good (the books will not update
    again until a new manager is started); otherwise it recovered or is recovering by itself.
    """

    message: str
    fatal: bool


@dataclass(frozen=True, slots=True)
class ListingChanged:
    """exchangeInfo said a symbol changed (core.feed.listing): `change` is "stopped" (its status left TRADING, or
    it was delisted: `status` says which, "DELISTED" for the latter; it is unsubscribed until it trades again),
    "resumed" (a stopped symbol trades again and is followed again) or "added" (a new listing, when following
    the whole market)."""

    symbol: str
    change: str
    status: str


ManagerEvent = BookUpdated | SymbolStateChanged | ConnectionChanged | FeedFailed | ListingChanged
Listener = Callable[[ManagerEvent], None]
