"""SymbolFilterModel: the symbols table as shown, filtered by the text typed over it and sorted by any column.

A proxy over SymbolTableModel (QSortFilterProxyModel, so the view's selection and the record switches work
through it unchanged): the filter keeps the rows whose symbol contains the text, ignoring case; sorting uses
the model's SORT_ROLE, so "Stored" sorts 9 before 10 and an unknown value sorts below every known one; the sort
is stable, so ties keep the order symbols were added, and no sort column (-1, the start) keeps that order.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt

from gui.models.symbols import SORT_ROLE, Column, SymbolTableModel


class SymbolFilterModel(QSortFilterProxyModel):
    def __init__(self, source: SymbolTableModel, parent=None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(Column.SYMBOL)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        # Rows re-sort when a header is clicked, not on every refresh: a sorted column of counts would make
        # 1,500 rows jump under the mouse twice a second, and re-sorting costs a data() call per comparison.
        self.setDynamicSortFilter(False)
        self._text = ""

    @property
    def source(self) -> SymbolTableModel:
        model = self.sourceModel()
        assert isinstance(model, SymbolTableModel)
        return model

    def set_text(self, text: str) -> None:
        """Show only the symbols containing `text` (spaces and case ignored); empty shows all."""
        text = "".join(text.split()).upper()
        if text != self._text:
            self._text = text
            self.setFilterFixedString(text)

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
