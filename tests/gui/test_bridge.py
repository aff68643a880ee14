"""The bridge coalesces thousands of core events into a few Qt signals per second."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.feed.errors import ExchangeUnavailableError
from core.feed.events import BookUpdated, ConnectionStatus, SymbolStateChanged, SymbolStatus
from core.market.book_sync import SyncReason, SyncState
from core.market.orderbook import OrderBook
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from core.storage.store import SnapshotStorage
from gui.bridge import DEPTH_TICKS, REFRESH_HZ, ROWS_TICKS, SERIES_TICKS, CoreBridge
from gui.config import AppConfig
from gui.services import Services
from gui.values import DisplayState


class FakeManager:
    """Just the reading side of OrderBookManager that the bridge uses."""

    def __init__(self) -> None:
        self.listeners = []
        self.books: dict[str, OrderBook] = {}
        self.states: dict[str, SyncState] = {}
        self.stopped_symbols: dict[str, str] = {}  # none stopped by the exchange

    @property
    def symbols(self):
        return list(self.books)

    def add_listener(self, fn, book_updates=True):  # every event to every listener: the session ignores BookUpdated
        self.listeners.append(fn)

    def remove_listener(self, fn):
        self.listeners.remove(fn)

    def emit(self, event):
        for fn in self.listeners:
            fn(event)

    def book(self, symbol):
        return self.books.get(symbol)

    def is_live(self, symbol):
        return self.states.get(symbol) is SyncState.LIVE

    def status(self, symbol):
        book = self.books[symbol]
        return SymbolStatus(symbol, self.states[symbol], SyncReason.SNAPSHOT_APPLIED, book.last_update_id,
                            1_737_158_400_000, 12, 1, 2, book.bid_count, book.ask_count, 3, 1, 1, 0)  # fmt: skip

    connected = True

    def connection_status(self):
        return ConnectionStatus(self.connected, "ws://fake", 1, 4, 2, 5, None, 6, None)


@pytest.fixture
def bridge(qtbot, tmp_path):
    services = Services(AppConfig(db_path=Path(tmp_path / "db"), symbols=("BTCUSDT",)))
    manager = FakeManager()
    book = OrderBook("BTCUSDT")
    book.load_snapshot([("100.0", "1.0"), ("99.9", "2.0")], [("100.1", "1.5")], 7)
    manager.books["BTCUSDT"] = book
    manager.states["BTCUSDT"] = SyncState.LIVE
    services.session = RecordingSession(
        RecordingConfig(db_path=Path(tmp_path / "db"), ws_url="ws://fake", rest_url="http://fake"), manager=manager
    )
    bridge = CoreBridge(services)
    bridge.attach()
    yield bridge
    bridge.detach()


def test_a_burst_of_events_becomes_one_signal(qtbot, bridge):
    emitted = []
    bridge.books_changed.connect(emitted.append)
    manager = bridge.services.manager
    for i in range(5000):
        manager.emit(BookUpdated("BTCUSDT", 8 + i))
    qtbot.waitUntil(lambda: bool(emitted), timeout=2000)
    assert emitted == [{"BTCUSDT"}]
    # Nothing changed since: no further emission however long we wait for refreshes.
    start = bridge.refreshes
    qtbot.waitUntil(lambda: bridge.refreshes >= start + 3, timeout=2000)
    assert emitted == [{"BTCUSDT"}]


def test_refresh_rate_stays_at_the_display_rate(qtbot, bridge):
    assert 10 <= REFRESH_HZ <= 20
    assert bridge._timer.interval() == round(1000 / REFRESH_HZ)


def test_selected_symbol_gets_frames_with_levels_and_metrics(qtbot, bridge):
    bridge.set_selected("BTCUSDT")
    with qtbot.waitSignal(bridge.frame_ready, timeout=2000) as blocker:
        bridge.services.manager.emit(BookUpdated("BTCUSDT", 8))
    frame = blocker.args[0]
    assert frame.symbol == "BTCUSDT" and frame.state is DisplayState.LIVE
    assert frame.bids[0] == ("100.0", "1.0") and frame.asks[0] == ("100.1", "1.5")
    assert frame.metrics.spread == pytest.approx(0.1)


def test_state_changes_rebuild_the_rows(qtbot, bridge):
    manager = bridge.services.manager
    manager.states["BTCUSDT"] = SyncState.RESYNCING
    with qtbot.waitSignal(bridge.rows_changed, timeout=2000) as blocker:
        manager.emit(SymbolStateChanged("BTCUSDT", SyncState.RESYNCING, SyncReason.GAP))
    (row,) = blocker.args[0]
    assert row.symbol == "BTCUSDT" and row.state is DisplayState.RESYNCING
    assert row.can_record is False and row.stored is None  # no database open in this test


def test_symbol_that_failed_shows_as_error(qtbot, bridge):
    bridge.services.symbols.append("NOPEUSDT")
    bridge.services.errors["NOPEUSDT"] = "NOPEUSDT is not a symbol on this exchange."
    rows = bridge.build_rows(0.0)
    assert [r.state for r in rows] == [DisplayState.LIVE, DisplayState.ERROR]
    assert rows[1].error.startswith("NOPEUSDT") and rows[1].reason is None and rows[1].why == rows[1].error
    assert rows[0].reason is SyncReason.SNAPSHOT_APPLIED and rows[0].why == "snapshot applied"


def test_the_details_carry_every_counter_of_the_book_and_the_connection(qtbot, bridge):
    detail = bridge.build_detail("BTCUSDT")
    assert detail.reason is SyncReason.SNAPSHOT_APPLIED and detail.error is None
    book = (detail.last_update_id, detail.last_event_time, detail.events_applied, detail.sequence_gaps,
            detail.resyncs, detail.snapshots_requested, detail.snapshots_too_old, detail.crossed_books,
            detail.bad_levels)  # fmt: skip
    assert book == (7, 1_737_158_400_000, 12, 1, 2, 3, 1, 1, 0)
    connection = (detail.streams, detail.reconnects, detail.rotations, detail.bad_frames, detail.snapshot_errors)
    assert connection == (1, 4, 2, 5, 6)
    assert detail.ticks is None and detail.write_errors is None  # no recorder: nothing recorded


def test_an_unreachable_exchange_keeps_the_recording_switch_and_says_why(qtbot, bridge, tmp_path):
    services = bridge.services
    services.session.storage = SnapshotStorage.open(tmp_path / "rec", mode="writer")
    try:
        services.symbols.append("ETHUSDT")
        services.recording_intent.add("ETHUSDT")
        services._failed("ETHUSDT", ExchangeUnavailableError("Cannot reach the exchange at https://x: no route."))
        services.manager.connected = False
        row = bridge.build_rows(0.0)[1]
        assert row.state is DisplayState.ERROR and row.recording  # the user's switch survives the outage
        view = bridge.connection_view()
        assert not view.connected
        assert view.error == "Cannot reach the exchange at https://x: no route; retrying every 10 s"
    finally:
        services.storage.close()


def test_series_sampled_for_live_books(qtbot, bridge):
    bridge.set_selected("BTCUSDT")
    with qtbot.waitSignal(bridge.series_changed, timeout=3000) as blocker:
        pass
    series = blocker.args[0]
    assert series.symbol == "BTCUSDT"
    assert series.mid[-1] == pytest.approx(100.05)


def test_costly_repaints_never_share_a_refresh_tick(qtbot, bridge):
    """The table, the depth chart and the sparkline each get their own ticks, so one window repaint never
    has to paint all of them; the ladder (frame_ready) goes out on every tick its book changed."""
    slots: dict[str, set[int]] = {"rows": set(), "depth": set(), "series": set(), "frame": set()}
    bridge.set_selected("BTCUSDT")
    qtbot.waitUntil(lambda: bridge.refreshes >= 2, timeout=2000)  # the selection's immediate draw is past
    for name in slots:
        signal = getattr(bridge, {"rows": "rows_changed", "depth": "depth_ready", "series": "series_changed",
                                  "frame": "frame_ready"}[name])  # fmt: skip
        signal.connect(lambda *_a, n=name: slots[n].add(bridge._ticks % REFRESH_HZ))
    manager = bridge.services.manager
    bridge._timer.timeout.connect(lambda: manager.emit(BookUpdated("BTCUSDT", 9)))  # a change every tick
    start = bridge.refreshes
    qtbot.waitUntil(lambda: bridge.refreshes >= start + 2 * REFRESH_HZ + 1, timeout=5000)
    assert slots["rows"] == set(ROWS_TICKS)
    assert slots["depth"] == set(DEPTH_TICKS)
    assert slots["series"] == set(SERIES_TICKS)
    assert not (slots["rows"] & slots["depth"] or slots["rows"] & slots["series"] or slots["depth"] & slots["series"])
    assert len(slots["frame"]) >= REFRESH_HZ - 1
