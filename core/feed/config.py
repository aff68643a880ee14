"""ManagerConfig: how the OrderBookManager follows the exchange, frozen, built once by whoever starts a feed."""

from __future__ import annotations

from dataclasses import dataclass

from core.market.book_sync import Continuity
from core.market.markets import SPOT, Market

# Binance lists about 1,500 spot symbols; the ceiling leaves room for the whole market and then some. What it
# costs is connections (MAX_SYMBOLS_CEILING / streams_per_connection of them) and memory per book.
MAX_SYMBOLS_CEILING = 3000
BINANCE_MAX_STREAMS = 1024  # per combined-stream connection (binance-protocol.md §5)


@dataclass(frozen=True)
class ManagerConfig:
    ws_url: str
    rest_url: str
    max_symbols: int = 20
    snapshot_limit: int = 1000
    stream_speed: str = "100ms"  # "" for the 1000 ms stream
    market: Market = SPOT  # spot or USDⓈ-M futures (core.market.markets): REST paths, weights, continuity
    validate_symbols: bool = True
    connection_silence: float = 10.0  # no frame at all for this long: the socket is dead
    # No event for one symbol for this long: ask the exchange whether its book is still right (a refresh,
    # BookSync.check_silence); unanswered `quiet_check_wait` seconds later, the book is stale. Binance sends
    # nothing while a book does not change, and an illiquid symbol can stay still for minutes.
    symbol_silence: float = 30.0
    quiet_check_wait: float = 30.0
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    healthy_after: float = 30.0  # a connection that lived this long resets the backoff
    max_connection_age: float = 23.5 * 3600  # rotate before Binance's 24 h disconnect
    rotation_overlap: float = 10.0  # longest wait for the new connection to cover every live symbol
    watchdog_interval: float = 1.0
    snapshot_retry_delay: float = 0.5
    max_control_per_sec: float = 4.0
    # Symbols are spread over as many connections as needed, at most this many streams each (Binance allows 1024).
    # 200, not 1024, bounds what one disconnect costs: its books go stale and resync at once, and 200 shallow
    # snapshots (weight 5 each, `shallow_sync_limit`) are 1,000 weight, inside one minute's budget (80 % of 6,000)
    # with room for the other connections, where 1,024 would be 5,120 and leave symbols waiting a second minute.
    # Subscribing 200 takes 4 control messages (50 streams each) at 4/s: live within about a second. The whole
    # market (~1,500 symbols) is 8 connections, a trifle against 300 connection attempts per 5 minutes.
    streams_per_connection: int = 200
    # Connection attempts (connects, reconnects, rotations) allowed per window, for every connection together:
    # 80 % of Binance's 300 per 5 minutes per IP, the same margin the REST weight budget keeps.
    connect_attempts: int = 240
    connect_window: float = 300.0
    # exchangeInfo is fetched every this many seconds (weight 20 for every symbol at once) to stop symbols that
    # leave TRADING or are delisted, follow them again when they trade, and add new listings when following the
    # whole market. None: never. Binance changes statuses rarely and announces listings hours ahead.
    listing_interval: float | None = 180.0
    # The snapshot horizon (docs/SNAPSHOT_HORIZON.md): the top `horizon_depth` levels of every book (a recorded
    # symbol's: its recorder's depth) are kept verified by refreshing, make-before-break, once fewer than
    # `horizon_margin` known levels remain behind the top before the snapshot's horizon on either side.
    horizon_depth: int = 20
    horizon_margin: int = 200
    horizon_interval: float = 0.25  # seconds between two checks of every book
    # Cheap start, deep when it moves: a sync (a book that is not live) is fetched at this shallow depth instead of
    # `snapshot_limit` when the syncs waiting could not all be fetched at full depth within this minute's weight
    # budget (a reconnect of many symbols); a refresh deepens the book once its top has used half the room the
    # shallow snapshot gave (BookSync.check_horizon), and a book that sits still stays on it. None: always full
    # depth.
    shallow_sync_limit: int | None = 100
    # A refresh that does not fit into this minute's budget at `snapshot_limit` goes at this depth if it fits there
    # (500: weight 25, half of 1000's): at the whole market's start-up many shallow books want deepening at once,
    # and a 500-level horizon still keeps the top 20 and the 200-level margin verified. None: wait for the budget.
    tight_refresh_limit: int | None = 500
    # Snapshot requests in flight at once. The weight budget limits the rate, not this: 80 % of 6,000 a minute is
    # 16 shallow snapshots a second, each taking up to a second or two from a busy exchange (docs/PERFORMANCE.md §11).
    snapshot_concurrency: int = 16

    @property
    def continuity(self) -> Continuity:
        """How events chain: by U/u on spot, by `pu` on futures."""
        return self.market.continuity

    def __post_init__(self) -> None:
        if not 1 <= self.max_symbols <= MAX_SYMBOLS_CEILING:
            raise ValueError(
                f"max_symbols must be between 1 and {MAX_SYMBOLS_CEILING}, got {self.max_symbols}"
            )
        if not 1 <= self.streams_per_connection <= BINANCE_MAX_STREAMS:
            raise ValueError(
                f"streams_per_connection must be between 1 and {BINANCE_MAX_STREAMS}, got {self.streams_per_connection}"
            )
        if self.listing_interval is not None and not self.listing_interval > 0:
            raise ValueError(f"listing_interval must be above 0 s (or None), got {self.listing_interval}")
        self.market.check_snapshot_limit(self.snapshot_limit)
        if self.stream_speed not in self.market.stream_speeds:
            speeds = ", ".join(repr(speed) for speed in self.market.stream_speeds)
            raise ValueError(f"stream_speed must be one of {speeds} on {self.market.label}, got {self.stream_speed!r}")
        if not 1 <= self.snapshot_concurrency <= 64:
            raise ValueError(f"snapshot_concurrency must be between 1 and 64, got {self.snapshot_concurrency}")
        if self.tight_refresh_limit is not None:
            self.market.check_snapshot_limit(self.tight_refresh_limit)
        if self.horizon_margin < 0 or self.horizon_depth < 1:
            raise ValueError("horizon_depth must be at least 1 and horizon_margin at least 0")
