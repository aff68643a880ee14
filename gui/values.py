"""Plain value types that travel from the bridge to the models and widgets.

Frozen and Qt-free, so a widget never needs a manager, recorder or storage object to draw itself:
the bridge reads those services and hands over one of these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from core.analysis.l1 import L1Metrics
from core.market.book_sync import SyncReason, SyncState
from core.market.wire import Level
from core.storage.gaps import GapReason
from gui.exchange_status import stopped_why


class DisplayState(enum.StrEnum):
    """What the symbols table shows; several sync states read the same to a user."""

    LIVE = "live"
    SYNCING = "syncing"
    RESYNCING = "resyncing"
    STALE = "stale"
    ERROR = "error"


_FROM_SYNC = {
    SyncState.LIVE: DisplayState.LIVE,
    SyncState.BUFFERING: DisplayState.SYNCING,
    SyncState.SYNCING: DisplayState.SYNCING,
    SyncState.RESYNCING: DisplayState.RESYNCING,
    SyncState.STALE: DisplayState.STALE,
}


def display_state(state: SyncState | None, error: str | None = None) -> DisplayState:
    """The table's state of a symbol: an error wins, a symbol not yet followed is still syncing."""
    if error:
        return DisplayState.ERROR
    if state is None:
        return DisplayState.SYNCING
    return _FROM_SYNC[state]


def why_text(reason: SyncReason | None, error: str | None, exchange_status: str | None = None) -> str:
    """Why a symbol is in its state, for people: its error, else the exchange's stop, else its book's reason, else
    it is subscribing."""
    if error:
        return error
    if exchange_status:
        return stopped_why(exchange_status)
    return reason.text if reason is not None else "subscribing"


@dataclass(frozen=True, slots=True)
class SymbolRow:
    """One row of the symbols table."""

    symbol: str
    state: DisplayState
    reason: SyncReason | None = None  # why the book is in its state; None before it is subscribed
    error: str | None = None  # why the symbol is not followed (state ERROR), a sentence
    recording: bool = False
    can_record: bool = True  # False when the database is read-only or missing
    stored: int | None = None  # snapshots in the database (all sessions)
    last_write: int | None = None  # Unix second of the newest stored snapshot
    rate_per_min: float | None = None  # snapshots stored per minute, recently
    completeness: float | None = None  # stored / (stored + gaps) in this session, 0..1
    gaps: int | None = None  # gap seconds recorded in this session
    market: str = "spot"  # the session's market (core.market.markets name): "spot" or "usdm"
    exchange_status: str | None = None  # the status it was stopped for (HALT, ..., DELISTED); None: it trades

    @property
    def why(self) -> str:
        return why_text(self.reason, self.error, self.exchange_status)


@dataclass(frozen=True, slots=True)
class SymbolDetail:
    """The details card of the selected symbol: its book's health, the connection and its recording."""

    symbol: str
    state: DisplayState
    reason: SyncReason | None = None  # why the book is in its state; None before it is subscribed
    error: str | None = None  # why the symbol is not followed (state ERROR), a sentence
    # The book (core.feed.events.SymbolStatus)
    last_update_id: int = 0
    last_event_time: int = 0  # exchange time of the last applied event, ms
    events_applied: int = 0
    sequence_gaps: int = 0  # gaps in the update ids the book detected (each one a resync)
    resyncs: int = 0
    bid_levels: int = 0
    ask_levels: int = 0
    snapshots_requested: int = 0
    snapshots_too_old: int = 0  # older than the buffered stream: fetched again
    crossed_books: int = 0
    bad_levels: int = 0  # malformed price levels in events or snapshots
    # The snapshot horizon (docs/SNAPSHOT_HORIZON.md)
    snapshot_limit: int | None = None  # depth of the snapshot the book was last built from
    horizon_depth: int = 20  # the top the distances below are counted from (the recorded depth)
    # Known levels behind the top `horizon_depth` before each side's horizon (OrderBook.horizon_distance): None for
    # a complete side; negative: that side's top is not verified. `horizon_known` False: no live or stale book.
    horizon_bids: int | None = None
    horizon_asks: int | None = None
    horizon_known: bool = False
    refreshes: int = 0  # make-before-break refreshes done (the book stayed live)
    refreshes_requested: int = 0
    refresh_mismatches: int = 0  # refreshed books that disagreed with the old one: should stay 0
    quiet_checks: int = 0  # silent books asked the exchange whether they were still right
    # The connection, shared by every symbol (core.feed.events.ConnectionStatus); None before it exists
    streams: int | None = None
    reconnects: int | None = None
    rotations: int | None = None
    bad_frames: int | None = None
    snapshot_errors: int | None = None
    # The recording
    recording: bool = False
    can_record: bool = True
    session_stored: int | None = None  # in this run of the app
    session_gaps: int | None = None  # seconds missed once recording was under way
    session_waiting: int | None = None  # seconds before the first snapshot (the book's first sync)
    session_unverified: int | None = None  # gap records "unverified": the top reached beyond the snapshot horizon
    session_completeness: float | None = None  # this session's, core.analysis.completeness (from the first snapshot)
    last_gap_reason: GapReason | None = None
    ticks: int | None = None  # the recorder's ticks in this run, every symbol; None while nothing records
    write_errors: int | None = None  # failed batch writes (the tick stays in the backlog)
    ticks_lost: int | None = None  # ticks dropped from a full backlog: their seconds are not on disk
    stored_total: int | None = None  # in the database, all sessions
    first_stored: int | None = None
    last_stored: int | None = None
    exchange_status: str | None = None  # the status it was stopped for (HALT, ..., DELISTED); None: it trades

    @property
    def why(self) -> str:
        return why_text(self.reason, self.error, self.exchange_status)


@dataclass(frozen=True, slots=True)
class LiveFrame:
    """What the live view draws for the selected symbol at one refresh."""

    symbol: str
    state: DisplayState
    bids: tuple[Level, ...]  # best first, deeper than the ladder (the depth chart uses them all)
    asks: tuple[Level, ...]
    metrics: L1Metrics | None  # None when a side is empty
    last_update_id: int
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class SeriesView:
    """The sparkline's data for one symbol: parallel arrays, oldest first."""

    symbol: str
    t: np.ndarray = field(default_factory=lambda: np.empty(0))  # Unix seconds (float)
    mid: np.ndarray = field(default_factory=lambda: np.empty(0))
    spread_bps: np.ndarray = field(default_factory=lambda: np.empty(0))


@dataclass(frozen=True, slots=True)
class ConnectionView:
    connected: bool
    endpoint: str  # preset name: binance, simulator, custom, ...
    url: str
    error: str | None = None
    reconnects: int = 0
    streams: int = 0  # symbols subscribed on the connection; 0 before any symbol is followed


@dataclass(frozen=True, slots=True)
class StorageView:
    """The database line of the status bar."""

    path: str
    mode: str  # "writer", "read_only" or "none"
    size_bytes: int | None = None
    write_errors: int = 0
    last_error: str | None = None
    problem: str | None = None  # why there is no database (locked, unreadable)


@dataclass(frozen=True, slots=True)
class ThemeColors:
    """Colours the charts and delegates need; the style sheet styles everything else."""

    name: str
    background: str
    foreground: str
    muted: str
    grid: str
    bid: str
    ask: str
    bid_fill: str
    ask_fill: str
    mid: str
    spread: str
    state_colors: dict[str, str] = field(default_factory=dict)
