"""SymbolTableModel: one row per followed symbol, fed with SymbolRow values by the bridge.

A row is named by its key (gui.app_markets): `BTCUSDT` on spot, `usdm/BTCUSDT` on USDⓈ-M futures, shown as
`BTCUSDT · usdm`; so one name followed on both markets is two rows."""

from __future__ import annotations

import enum
from dataclasses import replace

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from gui.app_markets import split_key
from gui.exchange_status import stopped_state, stopped_word
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
SORT_ROLE = Qt.ItemDataRole.UserRole + 3  # a value that sorts as the column means (numbers as numbers)


class Column(enum.IntEnum):
    SYMBOL = 0
    STATE = 1
    RECORD = 2
    STORED = 3
    LAST_WRITE = 4
    RATE = 5
    COMPLETE = 6
    GAPS = 7


_COLUMNS = 8  # len(Column), as a constant: rowCount/columnCount run hundreds of times per repaint
COLUMNS = (Column.SYMBOL, Column.STATE, Column.RECORD, Column.STORED, Column.LAST_WRITE, Column.RATE,
           Column.COMPLETE, Column.GAPS)  # fmt: skip

HEADERS = {
    Column.SYMBOL: ("Symbol", "The exchange symbol"),
    Column.STATE: ("State", "live, syncing, resyncing, stale or error; or the exchange's stop: halted, delisted…"),
    Column.RECORD: ("Rec", "Record one snapshot per interval; takes effect at the next tick"),
    Column.STORED: ("Stored", "Snapshots of this symbol in the database, all sessions"),
    Column.LAST_WRITE: ("Last write", "Capture time of the newest stored snapshot"),
    Column.RATE: ("/min", "Snapshots stored per minute, recently"),
    Column.COMPLETE: ("Complete", "This session: stored ÷ (stored + gap records), the seconds asked for"),
    Column.GAPS: ("Gaps", "Seconds of this session with a gap record (the book was not live or verified)"),
}

MARKET_TAG = " · "  # between a futures symbol and its market: "BTCUSDT · usdm"
MARKET_LABELS = {"spot": "Binance spot", "usdm": "Binance USD-M futures (stored as usdm/SYMBOL)"}

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter


class SymbolTableModel(QAbstractTableModel):
    """Rows keep the order symbols were added. A refresh that changes anything is one dataChanged over every
    row (one signal, not one per row: 1,500 signals a tick cost more than the repaint, which covers only the
    visible rows anyway); inserts and removals are signalled as such, so the selection survives."""

    recording_toggled = Signal(str, bool)  # the user flipped a record switch

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[SymbolRow] = []
        self._index: dict[str, int] = {}  # symbol -> row
        self._colors = {state: QColor(c) for state, c in DEFAULT_STATE_COLORS.items()}

    # --- feeding ---------------------------------------------------------------------------------

    def set_rows(self, rows: list[SymbolRow]) -> None:
        """Replace the rows; removals and appends are signalled as such, so the selection survives."""
        wanted = {r.symbol for r in rows}
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].symbol not in wanted:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        kept = len(self._rows)
        if any(mine.symbol != new.symbol for mine, new in zip(self._rows, rows[:kept], strict=False)):
            self.beginResetModel()  # reordered: rare, a reset is fine
            self._rows = list(rows)
            self._reindex()
            self.endResetModel()
            return
        if len(rows) > kept:
            self.beginInsertRows(QModelIndex(), kept, len(rows) - 1)
            self._rows.extend(rows[kept:])
            self._reindex()
            self.endInsertRows()
        elif len(self._index) != kept:
            self._reindex()
        if self._rows != rows:  # stops at the first difference; a full pass only when nothing changed
            self._rows = list(rows)
            self.dataChanged.emit(self.index(0, 0), self.index(len(rows) - 1, _COLUMNS - 1))

    def _reindex(self) -> None:
        self._index = {row.symbol: i for i, row in enumerate(self._rows)}

    def set_state_colors(self, colors: dict[str, str]) -> None:
        self._colors = {DisplayState(k): QColor(v) for k, v in colors.items()}
        if self._rows:
            self.dataChanged.emit(self.index(0, Column.STATE), self.index(len(self._rows) - 1, Column.STATE))

    # --- reading ---------------------------------------------------------------------------------

    def row_of(self, symbol: str) -> int:
        return self._index.get(symbol, -1)

    def symbol_at(self, row: int) -> str | None:
        return self._rows[row].symbol if 0 <= row < len(self._rows) else None

    def row_data(self, symbol: str) -> SymbolRow | None:
        i = self.row_of(symbol)
        return self._rows[i] if i >= 0 else None

    @property
    def symbols(self) -> list[str]:
        return [r.symbol for r in self._rows]

    def name_contains(self, row: int, text: str) -> bool:
        """Does the row's shown name (`BTCUSDT`, `BTCUSDT · usdm`) contain `text` (upper case)? The filter's test,
        called once per row per keystroke: no QModelIndex, no role dispatch."""
        rows = self._rows
        return 0 <= row < len(rows) and text in _shown_name(rows[row]).upper()

    # --- QAbstractTableModel -----------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else _COLUMNS

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
        col = COLUMNS[index.column()]
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
        if role == SORT_ROLE:
            return _sort_key(row, col)
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
        if col == Column.SYMBOL:  # futures carry their market beside the name; spot is the plain name
            return _shown_name(row)
        if col == Column.STATE:  # a symbol the exchange stopped says which stop: "halted", "delisted"
            return stopped_word(row.exchange_status) if row.exchange_status else str(row.state)
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
        if col == Column.SYMBOL:
            return f"{split_key(row.symbol)[1]} on {MARKET_LABELS.get(row.market, row.market)}"
        if col == Column.STATE:
            return f"{stopped_state(row.exchange_status) if row.exchange_status else row.state}: {row.why}"
        if col == Column.RECORD and not row.can_record:
            return "Recording is off: the database is not open for writing."
        if col == Column.RECORD:
            return "Recording: on" if row.recording else "Recording: off"
        if col == Column.LAST_WRITE:
            return fmt_datetime(row.last_write)
        return HEADERS[col][1]


_STATE_ORDER = {state: i for i, state in enumerate(DisplayState)}


def _sort_key(row: SymbolRow, col: Column):
    """What a column sorts by: numbers as numbers, an unknown value (None) below every known one."""
    if col == Column.SYMBOL:
        return _shown_name(row)  # BTCUSDT, then BTCUSDT · usdm: one name's markets side by side
    if col == Column.STATE:
        return _STATE_ORDER[row.state]
    if col == Column.RECORD:
        return int(row.recording)
    value = {
        Column.STORED: row.stored,
        Column.LAST_WRITE: row.last_write,
        Column.RATE: row.rate_per_min if row.recording else None,
        Column.COMPLETE: row.completeness,
        Column.GAPS: row.gaps,
    }[col]
    return -1.0 if value is None else float(value)


def _shown_name(row: SymbolRow) -> str:
    """The row's symbol as people read it: `BTCUSDT`, `BTCUSDT · usdm` (row.symbol is its key, usdm/BTCUSDT)."""
    return row.symbol if row.market == "spot" else f"{split_key(row.symbol)[1]}{MARKET_TAG}{row.market}"


def _is_checked(value) -> bool:
    if isinstance(value, Qt.CheckState):
        return value == Qt.CheckState.Checked
    if isinstance(value, bool):
        return value
    return int(value) == Qt.CheckState.Checked.value
