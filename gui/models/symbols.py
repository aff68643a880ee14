"""SymbolTableModel: one row per followed symbol, fed with SymbolRow values by the bridge.

A row is named by its key (gui.app_markets): `BTCUSDT` on spot, `usdm/BTCUSDT` on USDⓈ-M futures, shown as
`BTCUSDT · usdm`; so one name followed on both markets is two rows."""

from __future__ import annotations

import enum
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QModelRoleDataSpan,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor

from gui.app_markets import split_key, with_market
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
    Column.STATE: (
        "State",
        "live, syncing, resyncing, stale or error; or the exchange's stop: halted, delisted…",
    ),
    Column.RECORD: ("Rec", "Record one snapshot per interval; takes effect at the next tick"),
    Column.STORED: ("Stored", "Snapshots of this symbol in the database, all sessions"),
    Column.LAST_WRITE: ("Last write", "Capture time of the newest stored snapshot"),
    Column.RATE: ("/min", "Snapshots stored per minute, recently"),
    Column.COMPLETE: ("Complete", "This session: stored ÷ (stored + gap records), the seconds asked for from the "
                      "first snapshot on (the book's first sync when recording starts is not counted)"),
    Column.GAPS: ("Gaps", "Seconds of this session missed after the first snapshot, each with a gap record (the "
                  "book was not live or not verified)"),
}

MARKET_LABELS = {"spot": "Binance spot", "usdm": "Binance USD-M futures (stored as usdm/SYMBOL)"}

_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter
_ALIGN = (_LEFT, _LEFT, _CENTER, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT)  # by column

# Roles as plain ints: data() runs for every visible cell of every paint, and reading an enum member
# (Qt.ItemDataRole.DisplayRole) costs a Python attribute lookup each time.
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_ALIGNMENT = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_CHECK = int(Qt.ItemDataRole.CheckStateRole)
_STATE = int(STATE_ROLE)
_SYMBOL = int(SYMBOL_ROLE)
_SORT = int(SORT_ROLE)
_CHECKED, _UNCHECKED = Qt.CheckState.Checked, Qt.CheckState.Unchecked
# Columns and a state as plain values too: reading Column.RECORD runs enum code in Python, per cell.
_STATE_COLUMN, _RECORD_COLUMN, _GAPS_COLUMN = int(Column.STATE), int(Column.RECORD), int(Column.GAPS)
_SYMBOL_COLUMN = int(Column.SYMBOL)
_RESYNCING = DisplayState.RESYNCING
# Flags made once: `|` on enum members runs Python enum code, and flags() runs for every painted cell.
_NO_FLAGS = Qt.ItemFlag.NoItemFlags
_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_SWITCH_FLAGS = _FLAGS | Qt.ItemFlag.ItemIsUserCheckable


class SymbolTableModel(QAbstractTableModel):
    """Rows in the table's order: the order symbols were added, or the order of the last sort (a header click).
    A refresh that changes anything is one dataChanged over every row (one signal, not one per row: 1,500
    signals a tick cost more than the repaint, which covers only the visible rows anyway); inserts and removals
    are signalled as such, so the selection survives.

    The model sorts itself (sort()), rather than the proxy over it: a QSortFilterProxyModel compares rows through
    data() in Python, two calls per comparison, so clearing a filter over a sorted table cost 130 ms; here a sort
    is one key per row. A sort does not follow later refreshes: rows stay put until the next header click."""

    recording_toggled = Signal(str, bool)  # the user flipped a record switch

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._rows: list[SymbolRow] = []
        self._index: dict[str, int] = {}  # symbol -> row
        self._added: dict[str, int] = {}  # symbol -> its place in set_rows' order: the order they were added
        self._sort: tuple[Column, bool] | None = None  # the sorted column and whether descending; None: added
        self._colors = {state: QColor(c) for state, c in DEFAULT_STATE_COLORS.items()}

    # --- feeding ---------------------------------------------------------------------------------

    def set_rows(self, rows: list[SymbolRow]) -> None:
        """Replace the rows, given in the order symbols were added; removals and appends are signalled as such,
        so the selection survives. While sorted, kept rows keep their place and new ones go where they sort."""
        added = {r.symbol: i for i, r in enumerate(rows)}
        for i in range(len(self._rows) - 1, -1, -1):
            if self._rows[i].symbol not in added:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
        self._added = added
        if self._sort is not None:
            self._set_sorted(rows)
            return
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
        self._update(rows)

    def _set_sorted(self, rows: list[SymbolRow]) -> None:
        """set_rows while sorted: each kept row keeps its place with its new values; new rows are inserted."""
        if len(self._index) != len(self._rows):
            self._reindex()
        new = [r for r in rows if r.symbol not in self._index]
        current = [rows[self._added[mine.symbol]] for mine in self._rows]
        if not new:
            self._update(current)
            return
        column, descending = self._sort  # type: ignore[misc]
        keys = [_sort_key(r, column) for r in current]
        if descending:
            keys.reverse()
        self._update(current)
        places: dict[int, list[SymbolRow]] = {}  # each new row after its ties, as a stable sort puts it
        for row in new:
            key = _sort_key(row, column)
            at = len(keys) - bisect_left(keys, key) if descending else bisect_right(keys, key)
            places.setdefault(at, []).append(row)
        for at in sorted(places, reverse=True):  # from the end, so that each place is still where it was
            group = sorted(places[at], key=lambda r: _sort_key(r, column), reverse=descending)
            self.beginInsertRows(QModelIndex(), at, at + len(group) - 1)
            self._rows[at:at] = group
            self._reindex()
            self.endInsertRows()

    def _update(self, rows: list[SymbolRow]) -> None:
        """Take `rows`, the same symbols in the same order, and signal once if anything changed."""
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
        """The symbols in the table's order."""
        return [r.symbol for r in self._rows]

    def name_contains(self, row: int, text: str) -> bool:
        """Does the row's shown name (`BTCUSDT · spot`, `BTCUSDT · usdm`) contain `text` (upper case)? The filter's
        test, called once per row per keystroke (0.9 ms for 1,500 rows): no QModelIndex, no role dispatch."""
        rows = self._rows
        return 0 <= row < len(rows) and text in _shown_name(rows[row]).upper()

    # --- sorting ---------------------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by `column` (numbers as numbers, an unknown value below every known one; ties keep the
        order symbols were added); -1: the order symbols were added. One layout change: the selection stays."""
        descending = order == Qt.SortOrder.DescendingOrder
        self._sort = (Column(column), descending) if 0 <= column < _COLUMNS else None
        added = self._added
        ordered = sorted(self._rows, key=lambda r: added.get(r.symbol, 0))
        if self._sort is not None:
            by = self._sort[0]
            ordered.sort(key=lambda r: _sort_key(r, by), reverse=descending)  # stable both ways
        if [r.symbol for r in ordered] == [r.symbol for r in self._rows]:
            return
        self.layoutAboutToBeChanged.emit()
        was = [r.symbol for r in self._rows]
        self._rows = ordered
        self._reindex()
        before = self.persistentIndexList()
        after = [self.index(self._index[was[i.row()]], i.column()) for i in before]
        self.changePersistentIndexList(before, after)
        self.layoutChanged.emit()

    # --- QAbstractTableModel -----------------------------------------------------------------------

    def index(self, row: int, column: int, parent: AnyIndex = QModelIndex()) -> QModelIndex:  # noqa: B008
        # Qt's own index() asks rowCount() and columnCount(), two calls into Python, and the proxy makes an
        # index of this model for each cell it paints.
        if 0 <= row < len(self._rows) and 0 <= column < _COLUMNS and not parent.isValid():
            return self.createIndex(row, column)
        return QModelIndex()

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
        r = index.row()
        if not 0 <= r < len(self._rows):
            return _NO_FLAGS
        return _SWITCH_FLAGS if index.column() == _RECORD_COLUMN and self._rows[r].can_record else _FLAGS

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole):
        r = index.row()  # -1 for an invalid index
        if not 0 <= r < len(self._rows):
            return None
        return self._value(self._rows[r], index.column(), int(role))

    def multiData(self, index: AnyIndex, roleDataSpan: QModelRoleDataSpan) -> None:
        """Every role a cell paints with in one call (a delegate asks for seven): one Python call per cell."""
        r = index.row()
        if not 0 <= r < len(self._rows):
            return
        row, column, value = self._rows[r], index.column(), self._value
        for item in roleDataSpan:
            item.setData(value(row, column, item.role()))

    def _value(self, row: SymbolRow, col: int, role: int):
        """The cell's value for `role`; None, at once, for the roles this table does not use (font, icon…)."""
        if role == _DISPLAY:
            if col == _SYMBOL_COLUMN:  # the symbol and its market
                return _shown_name(row)
            return _TEXT[col](row)
        if role == _FOREGROUND:
            if col == _STATE_COLUMN:
                return self._colors[row.state]
            return self._colors[_RESYNCING] if col == _GAPS_COLUMN and row.gaps else None
        if role == _ALIGNMENT:
            return _ALIGN[col]
        if role == _CHECK:
            return (_CHECKED if row.recording else _UNCHECKED) if col == _RECORD_COLUMN else None
        if role == _TOOLTIP:
            return _tooltip(row, Column(col))
        if role == _STATE:
            return str(row.state)
        if role == _SYMBOL:
            return row.symbol
        if role == _SORT:
            return _sort_key(row, Column(col))
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


# --- helpers -------------------------------------------------------------------------------------------


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
        return _shown_name(row)  # BTCUSDT · spot, then BTCUSDT · usdm: one name's markets side by side
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
    """The row's symbol as people read it, its market next to it (issue 9): `BTCUSDT · spot`, `BTCUSDT · usdm`
    (row.symbol is its key: BTCUSDT, usdm/BTCUSDT)."""
    return with_market(split_key(row.symbol)[1], row.market)


def _is_checked(value) -> bool:
    if isinstance(value, Qt.CheckState):
        return value == Qt.CheckState.Checked
    if isinstance(value, bool):
        return value
    return int(value) == Qt.CheckState.Checked.value


def _state_text(row: SymbolRow) -> str:
    """A symbol the exchange stopped says which stop: "halted", "delisted"."""
    return stopped_word(row.exchange_status) if row.exchange_status else str(row.state)


# Each column's text, by column number: one indexing per cell rather than a chain of comparisons.
_TEXT: tuple[Callable[[SymbolRow], str | None], ...] = (
    _shown_name,  # every name carries its market: BTCUSDT · spot, BTCUSDT · usdm
    _state_text,
    lambda row: None,  # the record switch draws itself
    lambda row: fmt_count(row.stored),
    lambda row: fmt_clock(row.last_write),
    lambda row: fmt_rate(row.rate_per_min) if row.recording else "—",
    lambda row: fmt_percent(row.completeness),
    lambda row: fmt_count(row.gaps),
)
