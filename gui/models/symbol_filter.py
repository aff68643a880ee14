"""SymbolFilterModel: the symbols table as shown, filtered by the text typed over it and sorted by any column.

A proxy over SymbolTableModel (QSortFilterProxyModel, so the view's selection and the record switches work
through it unchanged): the filter keeps the rows whose shown name ("BTCUSDT", "BTCUSDT · usdm") contains the text,
ignoring case. It reads each row's name from the model directly rather than through data() (Qt's own fixed-string
filter asks data() for every row's DisplayRole: a QModelIndex and a role dispatch in Python per row, most of what
a keystroke over 1,500 rows cost); the view is updated as Qt's filter would.

Sorting is the model's (SymbolTableModel.sort): a header click reaches sort() here and is passed on, so this
proxy keeps the model's order and never compares rows itself (each comparison would be two data() calls in
Python: 130 ms to clear a filter over 1,500 sorted rows). Cells are painted with one multiData() call each,
passed to the model, instead of one data() call per role (Qt's proxies do not forward multiData)."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QModelRoleDataSpan, QPersistentModelIndex, QSortFilterProxyModel, Qt

from gui.models.symbols import SymbolTableModel


class SymbolFilterModel(QSortFilterProxyModel):
    def __init__(self, source: SymbolTableModel, parent=None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        # The model's order is the order shown; rows are never re-sorted here (see sort()).
        self.setDynamicSortFilter(False)
        self._text = ""
        self._source = source  # read once per row per keystroke: no cast through sourceModel()

    @property
    def source(self) -> SymbolTableModel:
        model = self.sourceModel()
        assert isinstance(model, SymbolTableModel)
        return model

    def set_text(self, text: str) -> None:
        """Show only the symbols containing `text` (spaces and case ignored); empty shows all."""
        text = "".join(text.split()).upper()
        if text == self._text:
            return
        if hasattr(self, "endFilterChange"):  # Qt 6.10 on: rows are filtered anew, columns stay
            self.beginFilterChange()
            self._text = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self._text = text
            self.invalidateRowsFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        return not self._text or self._source.name_contains(source_row, self._text)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """A header click: the model sorts its rows, which this proxy then shows in that order."""
        self._source.sort(column, order)

    def multiData(self, index: QModelIndex | QPersistentModelIndex, roleDataSpan: QModelRoleDataSpan) -> None:
        self._source.multiData(self.mapToSource(index), roleDataSpan)

    @property
    def text(self) -> str:
        return self._text

    def shown_symbols(self) -> list[str]:
        """The symbols the table shows, in its order."""
        source = self.source
        return [
            symbol
            for r in range(self.rowCount())
            if (symbol := source.symbol_at(self.mapToSource(self.index(r, 0)).row())) is not None
        ]

    def row_of(self, symbol: str) -> int:
        """The shown row of `symbol`; -1 when it is filtered out or unknown."""
        source_row = self.source.row_of(symbol)
        if source_row < 0:
            return -1
        return self.mapFromSource(self.source.index(source_row, 0)).row()

    def symbol_at(self, row: int) -> str | None:
        if not 0 <= row < self.rowCount():
            return None
        return self.source.symbol_at(self.mapToSource(self.index(row, 0)).row())
