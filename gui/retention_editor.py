"""The Settings dialog's retention table: how long each symbol's recorded data is kept, beside its disk use.

One row per symbol with its own retention, and a first row for every other symbol. "Keep" is a spin box of whole
days whose lowest value reads "for ever". The table reads and writes the saved text form (`retention_days` and
`retention_per_symbol`, "BTCUSDT=30, usdm/ETHUSDT=keep"), so settings saved before the table load unchanged.
Symbols are held by their stored names (a futures symbol is usdm/SYMBOL, core.storage.keys): those are the
names the running policy (gui.config.retention_policy) compares with the database's.
"""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.market.markets import SPOT, Market
from core.recording.config import check_symbol
from core.storage.keys import parse_storage_symbol, storage_symbol
from core.storage.retention import MAX_DAYS
from gui.config import ConfigError, retention_overrides
from gui.formatting import fmt_bytes

FOREVER = "for ever"
OTHERS = "All other symbols"
NEW_ROW_DAYS = 30  # a new row's days when every other symbol is kept for ever
SYMBOL, MARKET, DISK, KEEP = range(4)
UNKNOWN = "…"  # disk use not known (yet)


def keep_box(days: int | None) -> QSpinBox:
    """Whole days from 1 to MAX_DAYS, or 0: "for ever"."""
    box = QSpinBox()
    box.setRange(0, MAX_DAYS)
    box.setSuffix(" days")
    box.setSpecialValueText(FOREVER)
    box.setValue(days or 0)
    box.setAccelerated(True)
    return box


def symbol_label(stored: str) -> tuple[str, Market]:
    market, symbol = parse_storage_symbol(stored)
    return symbol, market


class RetentionEditor(QWidget):
    """The table, a box to name a symbol to add, Add and Remove; `problem` carries one sentence for bad input
    ("" once the input is fine again) to the dialog that shows it; `problem_text` is the latest, for a dialog
    that connects after the saved text was read."""

    problem = Signal(str)

    def __init__(self, days: int, per_symbol: str, market: Market = SPOT, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("retentionEditor")
        self.market = market  # of symbols typed without a market
        self.usage: Mapping[str, int] | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("retentionTable")
        self.table.setHorizontalHeaderLabels(["Symbol", "Market", "On disk", "Keep"])
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(SYMBOL, QHeaderView.ResizeMode.Stretch)
        for column in (MARKET, DISK):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(KEEP, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(KEEP, 130)
        self.table.verticalHeader().setDefaultSectionSize(32)
        self.table.setMinimumHeight(200)  # the header and five rows
        layout.addWidget(self.table)

        row = QHBoxLayout()
        self.new_symbol = QComboBox()
        self.new_symbol.setObjectName("retentionSymbol")
        self.new_symbol.setEditable(True)
        self.new_symbol.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.new_symbol.lineEdit().setPlaceholderText("symbol, e.g. DOGEUSDT")
        self.new_symbol.lineEdit().returnPressed.connect(self.add_typed)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_typed)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        row.addWidget(self.new_symbol, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        self.problem_text = ""
        self.problem.connect(self._remember_problem)
        self.table.itemSelectionChanged.connect(self._update_buttons)

        self._add_row(None, days)
        self._load(per_symbol)
        self._update_buttons()
        self._refresh_choices()

    # --- reading and writing the saved form ------------------------------------------------------------

    def _load(self, per_symbol: str) -> None:
        """The saved overrides, pair by pair: one that does not read is left out, and said so."""
        unread = []
        for item in filter(None, (part.strip() for part in per_symbol.split(","))):
            try:
                overrides = retention_overrides(item)
            except ConfigError:
                unread.append(item)
                continue
            for stored, days in overrides.items():
                if self.row_of(stored) is None:
                    self._add_row(stored, days)
        if unread:
            self.problem.emit(f"The saved per-symbol retention {', '.join(map(repr, unread))} does not read and "
                              "is left out: add it again below.")  # fmt: skip

    def default_days(self) -> int:
        """Days of every symbol without a row; 0 keeps everything."""
        return self._box(0).value()

    def overrides(self) -> dict[str, int | None]:
        """{stored name: days, None for "for ever"} of the rows under the first."""
        return {self.stored_name(r): self._box(r).value() or None for r in range(1, self.table.rowCount())}

    def per_symbol_text(self) -> str:
        """The overrides in the saved form, as `record --retention` takes them (plus usdm/ for futures)."""
        return ", ".join(f"{s}={'keep' if d is None else d}" for s, d in self.overrides().items())

    # --- rows ---------------------------------------------------------------------------------------------

    def stored_name(self, row: int) -> str:
        return self.table.item(row, SYMBOL).data(Qt.ItemDataRole.UserRole)

    def row_of(self, stored: str) -> int | None:
        return next((r for r in range(1, self.table.rowCount()) if self.stored_name(r) == stored), None)

    def keep_box_of(self, stored: str | None) -> QSpinBox:
        """The Keep spin box of `stored`'s row (None: the row of every other symbol); KeyError if it has none."""
        row = 0 if stored is None else self.row_of(stored)
        if row is None:
            raise KeyError(stored)
        return self._box(row)

    def _box(self, row: int) -> QSpinBox:
        return self.table.cellWidget(row, KEEP)

    def _add_row(self, stored: str | None, days: int | None) -> int:
        row = self.table.rowCount()
        self.table.insertRow(row)
        if stored is None:
            texts = (OTHERS, "", UNKNOWN)
        else:
            symbol, market = symbol_label(stored)
            texts = (symbol, market.label, UNKNOWN)
        for column, text in enumerate(texts):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, stored)
            if column == DISK:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, column, item)
        self.table.setCellWidget(row, KEEP, keep_box(days))
        self._show_usage()
        self._show_market_column()
        return row

    def add_typed(self) -> None:
        """Add a row for the symbol typed or picked in the box; one sentence if it is no symbol or has a row."""
        text = self.new_symbol.currentText().strip()
        picked = self.new_symbol.currentData()
        if picked is not None and self.new_symbol.itemText(self.new_symbol.currentIndex()) == text:
            stored = picked
        elif not text:
            self.problem.emit("Type or pick a symbol to give it its own retention.")
            return
        else:
            try:
                [stored] = retention_overrides(f"{self._with_market(text)}=keep")
            except ConfigError:
                self.problem.emit(f"{text!r} is not a symbol: type one like DOGEUSDT (usdm/DOGEUSDT for futures).")
                return
        existing = self.row_of(stored)
        if existing is not None:
            self.table.selectRow(existing)
            self.problem.emit(f"{symbol_label(stored)[0]} already has a row: change its days there.")
            return
        others = self.default_days()
        row = self._add_row(stored, others or NEW_ROW_DAYS)
        self.table.selectRow(row)
        self.new_symbol.setCurrentIndex(-1)
        self.new_symbol.clearEditText()
        self._refresh_choices()
        self.problem.emit("")

    def _with_market(self, text: str) -> str:
        """A typed symbol without a market prefix is the app's market's (checked first, for its own sentence)."""
        if "/" in text:
            return text
        try:
            return storage_symbol(self.market, check_symbol(text))
        except ValueError:
            return text  # retention_overrides refuses it

    def remove_selected(self) -> None:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()}, reverse=True)
        for row in rows:
            if row > 0:  # the row of every other symbol stays
                self.table.removeRow(row)
        self._show_usage()
        self._show_market_column()
        self._refresh_choices()
        self._update_buttons()

    # --- disk use ---------------------------------------------------------------------------------------

    def set_usage(self, usage: Mapping[str, int] | None) -> None:
        """Bytes on disk per stored symbol (core.storage.usage), or None when no database is open."""
        self.usage = dict(usage) if usage is not None else {}
        self._show_usage()
        self._refresh_choices()

    def _show_usage(self) -> None:
        if self.usage is None:
            return
        named = {self.stored_name(r) for r in range(1, self.table.rowCount())}
        others = [s for s in self.usage if s not in named]
        for row in range(self.table.rowCount()):
            if row == 0:
                text = f"{fmt_bytes(sum(self.usage[s] for s in others))} ({len(others)})" if others else "—"
            else:
                stored = self.stored_name(row)
                text = fmt_bytes(self.usage[stored]) if stored in self.usage else "nothing stored"
            self.table.item(row, DISK).setText(text)

    def _refresh_choices(self) -> None:
        """The stored symbols without a row, largest first, to pick from."""
        typed = self.new_symbol.currentText()
        self.new_symbol.clear()
        for stored, size in sorted((self.usage or {}).items(), key=lambda kv: -kv[1]):
            if self.row_of(stored) is None:
                symbol, market = symbol_label(stored)
                shown = symbol if market is SPOT else stored
                self.new_symbol.addItem(f"{shown}  ({fmt_bytes(size)})", stored)
        self.new_symbol.setCurrentIndex(-1)
        self.new_symbol.setEditText(typed)

    def _show_market_column(self) -> None:
        """The market column only when another market than spot is in play."""
        markets = {symbol_label(self.stored_name(r))[1] for r in range(1, self.table.rowCount())}
        markets |= {symbol_label(s)[1] for s in self.usage or {}}
        self.table.setColumnHidden(MARKET, markets <= {SPOT} and self.market is SPOT)

    def _update_buttons(self) -> None:
        rows = {index.row() for index in self.table.selectionModel().selectedRows()}
        self.remove_button.setEnabled(bool(rows - {0}))

    def _remember_problem(self, sentence: str) -> None:
        self.problem_text = sentence
