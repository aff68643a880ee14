"""The library: every symbol the open database holds, live or not, with its span, size and completeness."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from gui.app_markets import display_name
from gui.formatting import fmt_bytes, fmt_count, fmt_percent, fmt_span
from gui.history_values import LibraryRow

COLUMNS = ("Symbol", "Recorded", "Stored s", "Complete", "On disk ≈", "Live")


class LibraryTable(QTableWidget):
    symbol_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("historyLibrary")
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(20)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.setShowGrid(False)
        self.rows: tuple[LibraryRow, ...] = ()
        self.itemSelectionChanged.connect(self._on_selection)

    def set_rows(self, rows: tuple[LibraryRow, ...]) -> None:
        current = self.current_symbol()
        self.rows = rows
        self.blockSignals(True)
        self.setRowCount(len(rows))
        for i, row in enumerate(rows):
            cells = (
                display_name(row.symbol),
                fmt_span(row.first, row.last),
                fmt_count(row.stored),
                fmt_percent(row.completeness),
                fmt_bytes(row.bytes_estimate),
                "●" if row.live else "",
            )
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j in (2, 3, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(
                    f"{display_name(row.symbol)}: {row.stored:,} seconds stored, {row.gap_records:,} gap records "
                    "(completeness = stored ÷ (stored + gap records))"
                )
                self.setItem(i, j, item)
            if row.symbol == current:
                self.selectRow(i)
        self.blockSignals(False)

    def current_symbol(self) -> str | None:
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        return self.rows[rows[0].row()].symbol if rows and rows[0].row() < len(self.rows) else None

    def choose(self, symbol: str) -> None:
        for i, row in enumerate(self.rows):
            if row.symbol == symbol:
                self.selectRow(i)
                return

    def _on_selection(self) -> None:
        symbol = self.current_symbol()
        if symbol is not None:
            self.symbol_chosen.emit(symbol)
