"""The symbols table at whole-market scale: 1,500 rows, the filter box, sortable columns, "Record all shown"."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt

from gui.models.symbol_filter import SymbolFilterModel
from gui.models.symbols import Column, SymbolTableModel
from gui.values import DisplayState, SymbolRow
from gui.widgets.symbols_panel import SymbolsPanel

QUOTES = ("USDT", "BTC", "ETH", "FDUSD", "TRY")


def market(n: int = 1500) -> list[SymbolRow]:
    """n symbols over five quote assets, with counts that do not sort the same as their text (9 < 10 < 100)."""
    rows = []
    for i in range(n):
        quote = QUOTES[i % len(QUOTES)]
        rows.append(SymbolRow(f"A{i:04d}{quote}", DisplayState.LIVE, stored=(i * 7919) % 1000, recording=i % 3 == 0))
    return rows


def make_panel(qtbot, dark, rows):
    model = SymbolTableModel()
    model.set_rows(rows)
    panel = SymbolsPanel(model, dark)
    qtbot.addWidget(panel)
    panel.resize(560, 600)
    panel.show()
    return model, panel


def shown(panel: SymbolsPanel) -> list[str]:
    return panel.proxy.shown_symbols()


def test_the_filtered_and_sorted_proxy_passes_qt_model_tester(qtmodeltester):
    model = SymbolTableModel()
    model.set_rows(market(50))
    proxy = SymbolFilterModel(model)
    proxy.set_text("usdt")
    proxy.sort(Column.STORED, Qt.SortOrder.DescendingOrder)
    qtmodeltester.check(proxy)


def test_the_filter_box_shows_only_matching_symbols_and_says_how_many(qtbot, dark):
    rows = market()
    _model, panel = make_panel(qtbot, dark, rows)
    assert panel.proxy.rowCount() == 1500 and panel.shown.text() == "1,500 symbols"
    qtbot.keyClicks(panel.filter, "fdusd")
    expected = [r.symbol for r in rows if "FDUSD" in r.symbol]
    assert shown(panel) == expected and len(expected) == 300
    assert panel.shown.text() == "300 of 1,500"
    qtbot.keyClicks(panel.filter, "x")  # nothing matches: an empty table, nothing to record
    assert shown(panel) == [] and not panel.record_all_button.isEnabled()
    panel.filter.clear()
    assert shown(panel) == [r.symbol for r in rows]


def test_a_header_click_sorts_numbers_as_numbers_and_a_second_click_reverses(qtbot, dark):
    rows = [SymbolRow(s, DisplayState.LIVE, stored=n) for s, n in (("A", 9), ("B", 100), ("C", 10), ("D", None))]
    _model, panel = make_panel(qtbot, dark, rows)
    assert shown(panel) == ["A", "B", "C", "D"]  # no sort at first: the order symbols were added
    header = panel.table.horizontalHeader()
    where = QPoint(header.sectionViewportPosition(Column.STORED) + header.sectionSize(Column.STORED) // 2,
                   header.height() // 2)  # fmt: skip
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=where)
    first = shown(panel)
    assert first in (["D", "A", "C", "B"], ["B", "C", "A", "D"])  # unknown lowest, then 9 < 10 < 100
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=where)
    assert shown(panel) == first[::-1]

def test_selection_and_the_switch_follow_the_symbol_through_filter_and_sort(qtbot, dark):
    rows = market(60)
    model, panel = make_panel(qtbot, dark, rows)
    panel.table.sortByColumn(Column.STORED, Qt.SortOrder.DescendingOrder)
    qtbot.keyClicks(panel.filter, "eth")
    recording = {r.symbol for r in rows if r.recording}
    target = [s for s in shown(panel) if s not in recording][-1]  # not the row the filter left current
    with qtbot.waitSignal(panel.selection_changed) as selected:
        panel.select(target)
    assert selected.args == [target] and panel.selected_symbol() == target
    with qtbot.waitSignal(model.recording_toggled) as toggled:
        assert panel.toggle_recording_of_selected()
    assert toggled.args == [target, True] and model.row_data(target).recording
    # Selecting a symbol the filter hides clears the filter.
    hidden = next(r.symbol for r in rows if "USDT" in r.symbol)
    panel.select(hidden)
    assert panel.filter.text() == "" and panel.selected_symbol() == hidden


def test_record_all_shown_asks_for_the_shown_symbols_not_yet_recorded(qtbot, dark):
    rows = market()
    _model, panel = make_panel(qtbot, dark, rows)
    qtbot.keyClicks(panel.filter, "TRY")
    with qtbot.waitSignal(panel.record_all_requested) as asked:
        qtbot.mouseClick(panel.record_all_button, Qt.MouseButton.LeftButton)
    assert asked.args[0] == [r.symbol for r in rows if "TRY" in r.symbol and not r.recording]
    assert len(asked.args[0]) == 200


def test_a_refresh_of_1500_rows_is_one_change_signal(qtbot):
    model = SymbolTableModel()
    rows = market()
    model.set_rows(rows)
    changes = []
    model.dataChanged.connect(lambda tl, br, roles=(): changes.append((tl.row(), br.row())))
    bumped = [SymbolRow(r.symbol, r.state, stored=(r.stored or 0) + 1) if i % 2 else r for i, r in enumerate(rows)]
    model.set_rows(bumped)
    assert changes == [(0, 1499)]
    assert model.row_of("A1499TRY") == 1499 and model.row_data("A0001BTC").stored == rows[1].stored + 1


def test_the_filter_matches_the_shown_name_market_included_and_keeps_matching_new_rows(qtbot, dark):
    rows = [SymbolRow("BTCUSDT", DisplayState.LIVE), SymbolRow("usdm/BTCUSDT", DisplayState.LIVE, market="usdm"),
            SymbolRow("ETHUSDT", DisplayState.LIVE)]  # fmt: skip
    model, panel = make_panel(qtbot, dark, rows)
    qtbot.keyClicks(panel.filter, "btc")
    assert shown(panel) == ["BTCUSDT", "usdm/BTCUSDT"]  # one name on both markets: both rows
    panel.set_filter("USDM")
    assert shown(panel) == ["usdm/BTCUSDT"]  # the market is part of the shown name, "BTCUSDT · usdm"
    panel.set_filter("usdt/")  # the key's slash is not in any shown name
    assert shown(panel) == []
    panel.set_filter("usdm")
    model.set_rows([*rows, SymbolRow("usdm/ETHUSDT", DisplayState.LIVE, market="usdm"),
                    SymbolRow("SOLUSDT", DisplayState.LIVE)])  # fmt: skip
    assert shown(panel) == ["usdm/BTCUSDT", "usdm/ETHUSDT"]  # rows added while filtered are filtered too
    assert panel.shown.text() == "2 of 5"
