"""SymbolTableModel first, then the symbols panel over it."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, Qt

from core.market.book_sync import SyncReason
from core.storage.gaps import GapReason
from gui.models.symbols import STATE_ROLE, Column, SymbolTableModel
from gui.values import DisplayState, SymbolDetail, SymbolRow
from gui.widgets.symbol_details import SymbolDetails
from gui.widgets.symbols_panel import SymbolsPanel


def row(symbol: str, **kw) -> SymbolRow:
    return SymbolRow(symbol=symbol, state=kw.pop("state", DisplayState.LIVE), **kw)


def test_model_passes_qt_model_tester(qtmodeltester):
    model = SymbolTableModel()
    model.set_rows([row("BTCUSDT", stored=10, recording=True), row("ETHUSDT", state=DisplayState.STALE)])
    qtmodeltester.check(model)


def test_rows_show_state_switch_and_counts():
    model = SymbolTableModel()
    model.set_rows(
        [
            row("BTCUSDT", recording=True, stored=1234, last_write=1737158400, rate_per_min=60.0,
                completeness=0.99, gaps=3),
            row("ETHUSDT", state=DisplayState.ERROR, error="ETHX is not a symbol on this exchange."),
        ]
    )  # fmt: skip
    d = Qt.ItemDataRole.DisplayRole
    assert model.data(model.index(0, Column.SYMBOL), d) == "BTCUSDT · spot"  # the market next to every symbol
    assert model.data(model.index(0, Column.STATE), d) == "live"
    assert model.data(model.index(0, Column.STORED), d) == "1,234"
    assert model.data(model.index(0, Column.RATE), d) == "60"
    assert model.data(model.index(0, Column.COMPLETE), d) == "99.0 %"
    assert model.data(model.index(0, Column.GAPS), d) == "3"
    assert model.data(model.index(0, Column.RECORD), Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.data(model.index(1, Column.STATE), STATE_ROLE) == "error"
    assert "not a symbol" in model.data(model.index(1, Column.STATE), Qt.ItemDataRole.ToolTipRole)
    # Each state has its own colour.
    live = model.data(model.index(0, Column.STATE), Qt.ItemDataRole.ForegroundRole)
    error = model.data(model.index(1, Column.STATE), Qt.ItemDataRole.ForegroundRole)
    assert live != error


def test_updates_signal_once_and_keep_inserts_and_removes_incremental(qtbot):
    model = SymbolTableModel()
    model.set_rows([row("A1"), row("B1")])
    changed, inserted, removed, resets = [], [], [], []
    model.dataChanged.connect(lambda tl, br, roles=(): changed.append((tl.row(), br.row())))
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    model.rowsRemoved.connect(lambda _p, first, last: removed.append((first, last)))
    model.modelReset.connect(lambda: resets.append(1))

    model.set_rows([row("A1"), row("B1")])
    assert changed == []  # nothing changed: no signal, no repaint
    model.set_rows([row("A1"), row("B1", stored=5)])
    assert changed == [(0, 1)]  # one signal over the rows, whatever changed
    model.set_rows([row("A1"), row("B1", stored=5), row("C1")])
    assert inserted == [(2, 2)]
    model.set_rows([row("A1"), row("C1")])
    assert removed == [(1, 1)]
    assert model.symbols == ["A1", "C1"]
    assert resets == []


def test_flipping_the_switch_signals_and_shows_at_once(qtbot):
    model = SymbolTableModel()
    model.set_rows([row("BTCUSDT")])
    index = model.index(0, Column.RECORD)
    assert model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    with qtbot.waitSignal(model.recording_toggled) as blocker:
        assert model.setData(index, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    assert blocker.args == ["BTCUSDT", True]
    assert model.row_data("BTCUSDT").recording


def test_no_switch_without_a_writable_database():
    model = SymbolTableModel()
    model.set_rows([row("BTCUSDT", can_record=False)])
    index = model.index(0, Column.RECORD)
    assert not model.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
    assert not model.setData(index, Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    assert "not open for writing" in model.data(index, Qt.ItemDataRole.ToolTipRole)


# --- the view ---------------------------------------------------------------------------------------


def make_panel(qtbot, dark, rows=()):
    model = SymbolTableModel()
    model.set_rows(list(rows))
    panel = SymbolsPanel(model, dark)
    qtbot.addWidget(panel)
    panel.resize(560, 400)
    panel.show()
    return model, panel


def test_add_emits_the_typed_symbol_and_empty_input_says_so(qtbot, dark):
    _model, panel = make_panel(qtbot, dark)
    panel.add_button.click()
    assert panel.message.isVisible()
    assert "Type a symbol" in panel.message.text()
    qtbot.keyClicks(panel.input, "ethusdt")
    assert not panel.message.isVisible()  # editing clears an error
    with qtbot.waitSignal(panel.add_requested) as blocker:
        qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert blocker.args == ["ETHUSDT"]
    # While that symbol is being checked, Enter sends nothing more.
    panel.set_busy(True)
    sent = []
    panel.add_requested.connect(sent.append)
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert sent == []
    panel.set_busy(False)
    qtbot.keyClick(panel.input, Qt.Key.Key_Return)
    assert sent == ["ETHUSDT"]


def test_inline_message_kinds(qtbot, dark):
    _model, panel = make_panel(qtbot, dark)
    panel.set_message("NOPEUSDT is not a symbol on this exchange.", "error")
    assert panel.message.isVisible()
    assert panel.message.property("kind") == "error"
    panel.set_message("")
    assert not panel.message.isVisible()


def test_selection_and_remove(qtbot, dark):
    model, panel = make_panel(qtbot, dark, [row("BTCUSDT"), row("ETHUSDT")])
    with qtbot.waitSignal(panel.selection_changed) as blocker:
        panel.select("ETHUSDT")
    assert blocker.args == ["ETHUSDT"]
    with qtbot.waitSignal(panel.remove_requested) as removed:
        panel.remove_selected()
    assert removed.args == ["ETHUSDT"]
    # The app removes the row; the selection moves to a remaining symbol.
    with qtbot.waitSignal(panel.selection_changed):
        model.set_rows([row("BTCUSDT")])
    assert panel.selected_symbol() == "BTCUSDT"


def test_clicking_the_switch_toggles_recording(qtbot, dark):
    model, panel = make_panel(qtbot, dark, [row("BTCUSDT")])
    rect = panel.table.visualRect(panel.proxy.index(0, Column.RECORD))
    with qtbot.waitSignal(model.recording_toggled) as blocker:
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == ["BTCUSDT", True]
    panel.select("BTCUSDT")
    with qtbot.waitSignal(model.recording_toggled) as blocker:
        assert panel.toggle_recording_of_selected()
    assert blocker.args == ["BTCUSDT", False]


def test_switch_does_nothing_when_recording_is_unavailable(qtbot, dark):
    model, panel = make_panel(qtbot, dark, [row("BTCUSDT", can_record=False)])
    panel.select("BTCUSDT")
    with qtbot.assertNotEmitted(model.recording_toggled):
        assert not panel.toggle_recording_of_selected()
        rect = panel.table.visualRect(panel.proxy.index(0, Column.RECORD))
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert model.index(0, 0) != QModelIndex()


def test_details_card_shows_book_health_and_recording(qtbot, dark):
    card = SymbolDetails(dark)
    qtbot.addWidget(card)
    card.set_detail(
        SymbolDetail("BTCUSDT", DisplayState.LIVE, SyncReason.SNAPSHOT_APPLIED, last_update_id=42,
                     events_applied=1000, sequence_gaps=1, resyncs=1, bid_levels=900, ask_levels=950,
                     recording=True, session_stored=98, session_gaps=2, last_gap_reason=GapReason.SYNCING,
                     session_completeness=0.98, stored_total=5000, first_stored=1737158400, last_stored=1737158500)
    )  # fmt: skip
    assert card.title.text() == "BTCUSDT · spot details"
    assert "snapshot applied" in card.values["state"].text()
    assert "900 bids" in card.values["levels"].text()
    session = card.values["session"].text()
    assert "98 stored" in session and "(last: book syncing)" in session
    assert "98.0 %" in card.values["session"].text() and "started after" not in card.values["session"].text()
    assert card.values["database"].text() == "5,000 snapshots"
    assert "→" in card.values["span"].text()
    card.set_detail(SymbolDetail("BTCUSDT", DisplayState.LIVE, recording=True, session_stored=10, session_gaps=0,
                                 session_waiting=3, session_completeness=1.0))  # fmt: skip
    assert "100.0 %" in card.values["session"].text()  # the bridge's figure: the first sync is not data lost
    assert "started after 3 s of syncing" in card.values["session"].text()
    card.set_detail(SymbolDetail("ETHUSDT", DisplayState.STALE, SyncReason.DISCONNECTED, can_record=False))
    assert "not open for writing" in card.values["recording"].text()
    assert "disconnected" in card.values["state"].text()
    card.set_detail(SymbolDetail("ETHX", DisplayState.ERROR, error="ETHX is not a symbol on this exchange."))
    assert "ETHX is not a symbol" in card.values["state"].text()
    card.set_detail(None)
    assert card.values["levels"].text() == "—"


def test_details_card_shows_every_counter_of_the_book_the_connection_and_the_recorder(qtbot, dark):
    card = SymbolDetails(dark)
    qtbot.addWidget(card)
    card.show()
    card.set_detail(
        SymbolDetail("BTCUSDT", DisplayState.RESYNCING, SyncReason.CROSSED_BOOK, last_update_id=123_456,
                     last_event_time=1_737_158_400_000, events_applied=5000, sequence_gaps=3, resyncs=4,
                     snapshots_requested=6, snapshots_too_old=2, crossed_books=1, bad_levels=7,
                     streams=5, reconnects=2, rotations=1, bad_frames=9, snapshot_errors=8,
                     recording=True, session_stored=100, session_gaps=4, last_gap_reason=GapReason.DISCONNECTED,
                     ticks=104, write_errors=3, ticks_lost=11)
    )  # fmt: skip
    text = {key: label.text() for key, label in card.values.items()}
    assert "crossed book" in text["state"]
    assert text["update_id"] == "123,456"
    assert text["events"].startswith("5,000 · last ")  # the exchange time of the last event, local clock
    assert text["sequence"] == "3 / 4"
    assert text["bad_data"] == "1 crossed · 7 malformed"
    assert text["snapshots"] == "6 requested · 2 too old"
    assert text["streams"] == "5"
    assert text["reconnects"] == "2 dropped · 1 rotated"
    assert text["stream_errors"] == "9 frames · 8 snapshots"
    assert "4 missed (last: disconnected)" in text["session"]
    assert text["ticks"] == "104 · 3 failed · 11 lost"
    # Every row is on screen with its name, and explains itself in a tooltip.
    assert all(card.values[key].isVisible() and card.values[key].toolTip() for key in card.values)

    # Before the connection exists and while nothing records, those rows say so instead of zeros.
    card.set_detail(SymbolDetail("BTCUSDT", DisplayState.SYNCING))
    assert {card.values[key].text() for key in ("streams", "reconnects", "stream_errors", "ticks")} == {"—"}
    assert "subscribing" in card.values["state"].text()


def test_every_row_names_its_market_next_to_the_symbol():
    model = SymbolTableModel()
    shown = lambda: [model.data(model.index(i, Column.SYMBOL)) for i in range(model.rowCount())]  # noqa: E731
    model.set_rows([row("BTCUSDT"), row("ETHUSDT")])
    assert shown() == ["BTCUSDT · spot", "ETHUSDT · spot"]  # one market: still named
    model.set_rows([row("BTCUSDT"), row("ETHUSDT"), row("usdm/BTCUSDT", market="usdm")])
    assert shown() == ["BTCUSDT · spot", "ETHUSDT · spot", "BTCUSDT · usdm"]
    model.set_rows([row("usdm/BTCUSDT", market="usdm")])
    assert shown() == ["BTCUSDT · usdm"]
