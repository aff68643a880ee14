"""The details card shows the snapshot horizon and the unverified seconds (docs/SNAPSHOT_HORIZON.md)."""

from __future__ import annotations

from pathlib import Path

from core.feed.events import ConnectionStatus, SymbolStatus
from core.market.book_sync import SyncReason, SyncState
from core.market.orderbook import OrderBook
from core.market.wire import ticks_to_decimal
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from gui.bridge import CoreBridge
from gui.config import AppConfig
from gui.services import Services
from gui.values import DisplayState, SymbolDetail
from gui.widgets.symbol_details import SymbolDetails


def px(value: float) -> str:
    return ticks_to_decimal(round(value * 100) * 1_000_000)


class HorizonManager:
    """The reading side of OrderBookManager for one book loaded from a 100-level snapshot."""

    def __init__(self) -> None:
        self.book_ = OrderBook("BTCUSDT")
        bids = [(px(1000 - i), "1.0") for i in range(100)]
        asks = [(px(1001 + i), "1.0") for i in range(40)]  # 40 of 100: the whole ask side
        self.book_.load_snapshot(bids, asks, 7, limit=100)
        self.symbols = ["BTCUSDT"]
        self.stopped_symbols: dict[str, str] = {}  # none stopped by the exchange

    def add_listener(self, fn, book_updates=True): ...

    def remove_listener(self, fn): ...

    def book(self, symbol):
        return self.book_

    def is_live(self, symbol):
        return True

    def status(self, symbol):
        return SymbolStatus(symbol, SyncState.LIVE, SyncReason.SNAPSHOT_APPLIED, 7, 0, 0, 0, 0, 100, 40,
                            refreshes_requested=4, refreshes=3, snapshot_limit=100)  # fmt: skip

    def connection_status(self):
        return ConnectionStatus(True, "ws://fake", 1, 0, 0, 0, None, 0, None)


def test_the_bridge_puts_the_horizon_distances_and_refreshes_in_the_details(qtbot, tmp_path):
    services = Services(AppConfig(db_path=Path(tmp_path / "db"), symbols=("BTCUSDT",)))
    services.session = RecordingSession(
        RecordingConfig(db_path=Path(tmp_path / "db"), ws_url="ws://fake", rest_url="http://fake"),
        manager=HorizonManager(),  # type: ignore[arg-type]
    )
    detail = CoreBridge(services).build_detail("BTCUSDT")
    assert detail.horizon_known and (detail.horizon_bids, detail.horizon_asks) == (80, None)
    assert (detail.refreshes, detail.refreshes_requested, detail.snapshot_limit) == (3, 4, 100)


def test_the_card_shows_each_sides_room_and_the_unverified_seconds(qtbot, dark):
    card = SymbolDetails(dark)
    qtbot.addWidget(card)
    card.set_detail(
        SymbolDetail("BTCUSDT", DisplayState.LIVE, horizon_known=True, horizon_bids=812, horizon_asks=None,
                     refreshes=3, refreshes_requested=4, snapshot_limit=1000, recording=True, session_stored=95,
                     session_gaps=5, session_unverified=5)
    )  # fmt: skip
    assert card.values["horizon"].text() == "bids 812 · asks whole side"
    assert card.values["refreshes"].text() == "3 done · 4 asked · depth 1,000"
    assert "5 unverified" in card.values["session"].text()
    card.set_detail(
        SymbolDetail("BTCUSDT", DisplayState.LIVE, horizon_known=True, horizon_bids=-3, horizon_asks=40,
                     refresh_mismatches=1)
    )  # fmt: skip
    assert card.values["horizon"].text() == "bids -3 (not verified) · asks 40"
    assert "1 disagreed" in card.values["refreshes"].text()
    assert "quiet" not in card.values["refreshes"].text()
    card.set_detail(SymbolDetail("BTCUSDT", DisplayState.LIVE, refreshes=2, refreshes_requested=2, quiet_checks=2))
    assert card.values["refreshes"].text() == "2 done · 2 asked · 2 quiet checks"
    card.set_detail(SymbolDetail("BTCUSDT", DisplayState.SYNCING))
    assert card.values["horizon"].text() == "—"
