"""What the OrderBookManager reports: per-symbol and connection status, and the events its listeners get."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.market.book_sync import SyncState


@dataclass(frozen=True, slots=True)
class SymbolStatus:
    symbol: str
    state: SyncState
    reason: str
    last_update_id: int
    last_event_time: int
    events_applied: int
    gaps: int
    resyncs: int
    buffered: int
    bid_levels: int
    ask_levels: int


@dataclass(frozen=True, slots=True)
class ConnectionStatus:
    connected: bool
    url: str
    streams: int
    reconnects: int
    rotations: int
    bad_frames: int
    last_error: str | None
    snapshot_errors: int
    snapshot_last_error: str | None


@dataclass(slots=True)  # one per applied event: not frozen, for speed (see core.wire.DepthUpdate)
class BookUpdated:
    symbol: str
    last_update_id: int


@dataclass(frozen=True, slots=True)
class SymbolStateChanged:
    symbol: str
    state: SyncState
    reason: str


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    status: ConnectionStatus


ManagerEvent = BookUpdated | SymbolStateChanged | ConnectionChanged
Listener = Callable[[ManagerEvent], None]
