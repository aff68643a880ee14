"""The symbols table sorts in the model (a header click), paints each cell with one multiData call, and keeps
the selection and the sort through refreshes, additions and the filter."""

from __future__ import annotations

from PySide6.QtCore import QModelRoleData, QModelRoleDataSpan, QPoint, QSortFilterProxyModel, Qt

from gui.models.symbol_filter import SymbolFilterModel
from gui.models.symbols import COLUMNS, SORT_ROLE, STATE_ROLE, SYMBOL_ROLE, Column, SymbolTableModel
from gui.values import DisplayState, SymbolRow
from gui.widgets.symbols_panel import COLUMN_WIDTHS, SymbolsPanel

QUOTES = ("USDT", "BTC", "ETH", "FDUSD", "TRY")
ROLES = (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.FontRole, Qt.ItemDataRole.TextAlignmentRole,
         Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.BackgroundRole, Qt.ItemDataRole.CheckStateRole,
         Qt.ItemDataRole.DecorationRole, Qt.ItemDataRole.ToolTipRole, STATE_ROLE, SYMBOL_ROLE, SORT_ROLE)  # fmt: skip


def market(n: int, bump: int = 0) -> list[SymbolRow]:
    """n symbols, spot and futures, with counts that do not sort as their text and ties between them."""
    return [
        SymbolRow(f"usdm/A{i:04d}{QUOTES[i % 5]}" if i % 4 == 0 else f"A{i:04d}{QUOTES[i % 5]}",
                  DisplayState.LIVE if i % 3 else DisplayState.SYNCING, market="usdm" if i % 4 == 0 else "spot",
                  stored=(i * 7919 + bump) % 97, recording=i % 3 == 0, gaps=i % 5, can_record=i % 7 != 0)
        for i in range(n)
    ]  # fmt: skip


def make_panel(qtbot, dark, rows, height=600):
    model = SymbolTableModel()
    model.set_rows(rows)
    panel = SymbolsPanel(model, dark)
    qtbot.addWidget(panel)
    panel.resize(560, height)
    panel.show()
    return model, panel


def stored_order(model: SymbolTableModel, symbols: list[str], descending: bool) -> list[str]:
    """The order a stable sort by Stored gives `symbols` (the order symbols were added breaks ties)."""
    return sorted(symbols, key=lambda s: model.row_data(s).stored, reverse=descending)  # type: ignore[union-attr]


def click_header(qtbot, panel: SymbolsPanel, column: Column) -> None:
    header = panel.table.horizontalHeader()
    where = QPoint(
        header.sectionViewportPosition(column) + header.sectionSize(column) // 2, header.height() // 2
    )
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=where)


def test_every_role_of_every_cell_reads_the_same_through_multidata_as_through_data(qtbot):
    model = SymbolTableModel()
    model.set_rows(market(40))
    ours = SymbolFilterModel(model)  # its multiData() is the model's, at the mapped row
    ours.set_text("a001")  # a filtered proxy: its rows are not the model's
    checked = 0
    for row in range(ours.rowCount()):
        for column in COLUMNS:
            index = ours.index(row, column)
            source = ours.mapToSource(index)
            for role in ROLES:
                item = QModelRoleData(role)
                ours.multiData(index, QModelRoleDataSpan(item))
                assert item.data() == model.data(source, role), (row, column, role)
                checked += item.data() is not None
    assert ours.rowCount() == 10 and checked > 10 * len(COLUMNS) * 3  # values, not only Nones


def test_the_table_paints_the_same_pixels_through_multidata_as_through_data(qtbot, dark):
    rows = market(60)
    _model, ours = make_panel(qtbot, dark, rows)
    _model2, plain = make_panel(qtbot, dark, rows)
    qt_proxy = QSortFilterProxyModel(plain)
    qt_proxy.setSourceModel(plain.model)
    plain.table.setModel(qt_proxy)  # the same view, delegates and model, through Qt's per-role data() calls
    for column, width in COLUMN_WIDTHS.items():
        plain.table.horizontalHeader().resizeSection(column, width)
    for panel in (ours, plain):
        panel.table.selectRow(2)
    image = ours.table.viewport().grab().toImage()
    assert image == plain.table.viewport().grab().toImage()
    assert len({image.pixel(x, 40) for x in range(0, image.width(), 3)}) > 5  # something was drawn


def test_a_header_click_sorts_in_the_model_keeps_the_selection_and_refreshes_do_not_re_sort(qtbot, dark):
    rows = market(300)
    model, panel = make_panel(qtbot, dark, rows)
    target = rows[123].symbol
    panel.select(target)
    click_header(qtbot, panel, Column.STORED)
    first = panel.proxy.shown_symbols()
    assert first in (stored_order(model, [r.symbol for r in rows], False),
                     stored_order(model, [r.symbol for r in rows], True))  # fmt: skip
    assert model.symbols == first  # the model holds the order; the proxy does not sort
    assert panel.selected_symbol() == target and panel.table.currentIndex().row() == first.index(target)
    descending = first == stored_order(model, first, True)

    model.set_rows(market(300, bump=50))  # every count changes: a sort now would give another order
    assert panel.proxy.shown_symbols() == first  # rows stay put between header clicks...
    assert model.row_data(target).stored == (123 * 7919 + 50) % 97  # ...with their new values
    assert panel.selected_symbol() == target

    click_header(qtbot, panel, Column.STORED)  # the other way, by the new values
    assert panel.proxy.shown_symbols() == stored_order(model, first, not descending) != first
    assert panel.selected_symbol() == target


def test_rows_added_while_sorted_go_where_they_sort_after_their_ties_and_unsorting_restores_the_added_order(
    qtbot, dark
):
    rows = [
        SymbolRow(s, DisplayState.LIVE, stored=n) for s, n in (("A", 9), ("B", 100), ("C", 10), ("D", None))
    ]
    model, panel = make_panel(qtbot, dark, rows)
    panel.table.sortByColumn(Column.STORED, Qt.SortOrder.DescendingOrder)
    assert panel.proxy.shown_symbols() == ["B", "C", "A", "D"]
    inserted = []
    model.rowsInserted.connect(lambda _p, first, last: inserted.append((first, last)))
    added = [*rows, SymbolRow("E", DisplayState.LIVE, stored=10), SymbolRow("F", DisplayState.LIVE, stored=500),
             SymbolRow("G", DisplayState.LIVE, stored=10)]  # fmt: skip
    model.set_rows(added)
    assert panel.proxy.shown_symbols() == ["F", "B", "C", "E", "G", "A", "D"]  # E and G after C, their tie
    assert inserted == [(2, 3), (0, 0)]  # signalled as inserts (the selection survives), the lower first
    panel.table.sortByColumn(Column.STORED, Qt.SortOrder.AscendingOrder)
    assert panel.proxy.shown_symbols() == ["D", "A", "C", "E", "G", "B", "F"]  # ties still in the added order
    panel.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
    assert panel.proxy.shown_symbols() == ["A", "B", "C", "D", "E", "F", "G"]
    model.set_rows(added[1:])  # a removal while unsorted again: the model follows set_rows' order
    assert model.symbols == ["B", "C", "D", "E", "F", "G"]


def test_the_filter_over_a_sorted_table_of_1500_keeps_the_sort_and_the_switches(qtbot, dark):
    rows = market(1500)
    model, panel = make_panel(qtbot, dark, rows)
    panel.table.sortByColumn(Column.STORED, Qt.SortOrder.DescendingOrder)
    every = stored_order(model, [r.symbol for r in rows], True)
    assert panel.proxy.shown_symbols() == every
    qtbot.keyClicks(panel.filter, "usdm")
    futures = [s for s in every if s.startswith("usdm/")]
    assert panel.proxy.shown_symbols() == futures and panel.shown.text() == "375 of 1,500"
    target = next(s for s in futures if model.row_data(s).can_record and not model.row_data(s).recording)
    panel.select(target)
    with qtbot.waitSignal(model.recording_toggled) as toggled:
        assert panel.toggle_recording_of_selected()
    assert toggled.args == [target, True]
    panel.filter.clear()
    assert panel.proxy.shown_symbols() == every and panel.shown.text() == "1,500 symbols"
    assert panel.selected_symbol() == target
