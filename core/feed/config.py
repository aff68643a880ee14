"""ManagerConfig: how the OrderBookManager follows the exchange, frozen, built once by whoever starts a feed."""

from __future__ import annotations

from dataclasses import dataclass

from core.market.book_sync import Continuity

MAX_SYMBOLS_CEILING = 200


@dataclass(frozen=True)
class ManagerConfig:
    ws_url: str
    rest_url: str
    max_symbols: int = 20
    snapshot_limit: int = 1000
    stream_speed: str = "100ms"  # "" for the 1000 ms stream
    continuity: Continuity = Continuity.SPOT
    validate_symbols: bool = True
    connection_silence: float = 10.0  # no frame at all for this long: the socket is dead
    symbol_silence: float = 30.0  # no event for one symbol for this long: its book is stale
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    healthy_after: float = 30.0  # a connection that lived this long resets the backoff
    max_connection_age: float = 23.5 * 3600  # rotate before Binance's 24 h disconnect
    rotation_overlap: float = 10.0  # longest wait for the new connection to cover every live symbol
    watchdog_interval: float = 1.0
    snapshot_retry_delay: float = 0.5
    max_control_per_sec: float = 4.0
    # The snapshot horizon (docs/SNAPSHOT_HORIZON.md): the top `horizon_depth` levels of every book (a recorded
    # symbol's: its recorder's depth) are kept verified by refreshing, make-before-break, once fewer than
    # `horizon_margin` known levels remain behind the top before the snapshot's horizon on either side.
    horizon_depth: int = 20
    horizon_margin: int = 200
    horizon_interval: float = 0.25  # seconds between two checks of every book
    # Cheap start, deep later: a sync (a book that is not live) is fetched at this shallow depth instead of
    # `snapshot_limit` when the syncs waiting could not all be fetched at full depth within this minute's weight
    # budget (a reconnect of many symbols); the first refresh deepens the book. None: always full depth.
    shallow_sync_limit: int | None = 100

    def __post_init__(self) -> None:
        if not 1 <= self.max_symbols <= MAX_SYMBOLS_CEILING:
            raise ValueError(
                f"max_symbols must be between 1 and {MAX_SYMBOLS_CEILING}, got {self.max_symbols}"
            )
        if self.horizon_margin < 0 or self.horizon_depth < 1:
            raise ValueError("horizon_depth must be at least 1 and horizon_margin at least 0")
