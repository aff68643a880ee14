"""SymbolTableModel: one row per followed symbol, fed with SymbolRow values by the bridge."""

from __future__ import annotations

import enum
from dataclasses import replace

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from gui.formatting import fmt_clock, fmt_count, fmt_datetime, fmt_percent, fmt_rate
from gui.values import DisplayState, SymbolRow

AnyIndex = QModelIndex | QPersistentModelIndex

# Colours of the states; the theme may replace them (set_state_colors).
DEFAULT_STATE_COLORS = {
    DisplayState.LIVE: "#2ebd85",
    DisplayState.SYNCING: "#e0b341",
    DisplayState.RESYNCING: "#f08a3c",
    DisplayState.STALE: "#8a8f98",
    DisplayState.ERROR: "#f6465d",
}

STATE_ROLE = Qt.ItemDataRole.UserRole + 1  # the DisplayState of the row
SYMBOL_ROLE = Qt.ItemDataRole.UserRole + 2  # the symbol of the row, in any column


class Column(enum.IntEnum):
    SYMBOL = 0
    STATE = 1
    RECORD = 2
    STORED = 3
    LAST_WRITE = 4
    RATE = 5
    COMPLETE = 6
    GAPS = 7


HEADERS = {
    Column.SYMBOL: ("Symbol", "The exchange symbol"),
    Column.STATE: ("State", "live, syncing, resyncing, stale or error"),
    Column.RECORD: ("Rec", "Record one snapshot per interval; takes effect at the next tick"),
    Column.STORED: ("Stored", "Snapshots of this symbol in the database, all sessions"),
    Column.LAST_WRITE: ("Last write", "Capture time of the newest stored snapshot"),
    Column.RATE: ("/min", "Snapshots stored per minute, recently"),
    Column.COMPLETE: ("Complete", "Seconds stored out of seconds recorded in this session"),
    Column.GAPS: ("Gaps", "Seconds not stored in this session (the book was not live)"),
}

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter


class SymbolTableModel(QAbstractTableModel):
    """Rows keep the order symbols were added; updates touch only the rows that changed."""

    recording_toggled = Signal(str, bool)  # the user flipped a record switch

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[SymbolRow] = []
        self._colors = {state: QColor(c) for state, c in DEFAULT_STATE_COLORS.items()}

    # --- feeding ---------------------------------------------------------------------------------

    def set_rows(self, rows: list[SymbolRow]) -> None:
        """Replace the rows; removals and appends are signalled as such, so the selection survives."""
        new_symbols = [r.symbol for r in rows]
        wanted = set(new_symbols)
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].symbol not in wanted:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        kept = [r.symbol for r in self._rows]
        if kept != new_symbols[: len(kept)]:  # reordered: rare, a reset is fine
            self.beginResetModel()
            self._rows = list(rows)
            self.endResetModel()
            return
        if len(rows) > len(self._rows):
            self.beginInsertRows(QModelIndex(), len(self._rows), len(rows) - 1)
            self._rows.extend(rows[len(self._rows) :])
            self.endInsertRows()
        last_col = self.columnCount() - 1
        for i, row in enumerate(rows):
            if self._rows[i] != row:
                self._rows[i] = row
                self.dataChanged.emit(self.index(i, 0), self.index(i, last_col))

    def set_state_colors(self, colors: dict[str, str]) -> None:
        self._colors = {DisplayState(k): QColor(v) for k, v in colors.items()}
        if self._rows:
            self.dataChanged.emit(self.index(0, Column.STATE), self.index(len(self._rows) - 1, Column.STATE))

    # --- reading ---------------------------------------------------------------------------------

    def row_of(self, symbol: str) -> int:
        for i, row in enumerate(self._rows):
            if row.symbol == symbol:
                return i
        return -1

    def symbol_at(self, row: int) -> str | None:
        return self._rows[row].symbol if 0 <= row < len(self._rows) else None

    def row_data(self, symbol: str) -> SymbolRow | None:
        i = self.row_of(symbol)
        return self._rows[i] if i >= 0 else None

    @property
    def symbols(self) -> list[str]:
        return [r.symbol for r in self._rows]

    # --- QAbstractTableModel -----------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(Column)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(Column):
            return None
        title, tip = HEADERS[Column(section)]
        if role == Qt.ItemDataRole.DisplayRole:
            return title
        if role == Qt.ItemDataRole.ToolTipRole:
            return tip
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return _CENTER if section == Column.RECORD else None
        return None

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == Column.RECORD and self._rows[index.row()].can_record:
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        col = Column(index.column())
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, col)
        if role == Qt.ItemDataRole.CheckStateRole and col == Column.RECORD:
            return Qt.CheckState.Checked if row.recording else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ForegroundRole and col == Column.STATE:
            return self._colors[row.state]
        if role == Qt.ItemDataRole.ForegroundRole and col == Column.GAPS and row.gaps:
            return self._colors[DisplayState.RESYNCING]
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, col)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in (Column.SYMBOL, Column.STATE):
                return Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
            return _CENTER if col == Column.RECORD else _RIGHT
        if role == STATE_ROLE:
            return str(row.state)
        if role == SYMBOL_ROLE:
            return row.symbol
        return None

    def setData(self, index: AnyIndex, value, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or index.column() != Column.RECORD or role != Qt.ItemDataRole.CheckStateRole:
            return False
        row = self._rows[index.row()]
        if not row.can_record:
            return False
        on = _is_checked(value)
        if on != row.recording:
            # Shown at once; the bridge's next refresh confirms it from the recorder.
            self._rows[index.row()] = replace(row, recording=on)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.CheckStateRole])
            self.recording_toggled.emit(row.symbol, on)
        return True

    # --- helpers -------------------------------------------------------------------------------------

    @staticmethod
    def _display(row: SymbolRow, col: Column) -> str | None:
        if col == Column.SYMBOL:
            return row.symbol
        if col == Column.STATE:
            return str(row.state)
        if col == Column.RECORD:
            return None
        if col == Column.STORED:
            return fmt_count(row.stored)
        if col == Column.LAST_WRITE:
            return fmt_clock(row.last_write)
        if col == Column.RATE:
            return fmt_rate(row.rate_per_min) if row.recording else "—"
        if col == Column.COMPLETE:
            return fmt_percent(row.completeness)
        return fmt_count(row.gaps)

    @staticmethod
    def _tooltip(row: SymbolRow, col: Column) -> str:
        if col == Column.STATE:
            return f"{row.state}: {row.why}"
        if col == Column.RECORD and not row.can_record:
            return "Recording is off: the database is not open for writing."
        if col == Column.RECORD:
            return "Recording: on" if row.recording else "Recording: off"
        if col == Column.LAST_WRITE:
            return fmt_datetime(row.last_write)
        return HEADERS[col][1]


def _is_checked(value) -> bool:
    if isinstance(value, Qt.CheckState):
        return value == Qt.CheckState.Checked
    if isinstance(value, bool):
        return value
    return int(value) == Qt.CheckState.Checked.value
