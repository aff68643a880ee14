"""LadderModel: the depth ladder of one book, asks above bids, with bar fractions for the delegate."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

from core.market.wire import Level
from core.storage.snapshot import SNAPSHOT_DEPTH
from gui.formatting import common_decimals, trim_to

AnyIndex = QModelIndex | QPersistentModelIndex

BAR_ROLE = Qt.ItemDataRole.UserRole + 1  # float 0..1: the bar the delegate draws behind the text
SIDE_ROLE = Qt.ItemDataRole.UserRole + 2  # Side of the row
TOUCH_ROLE = Qt.ItemDataRole.UserRole + 3  # True on the best bid row (the delegate draws the spread line)


class Side(enum.StrEnum):
    BID = "bid"
    ASK = "ask"


class LadderColumn(enum.IntEnum):
    BID = 0
    PRICE = 1
    ASK = 2
    CUMULATIVE = 3


HEADERS = ("Bid size", "Price", "Ask size", "Cumulative")


@dataclass(frozen=True, slots=True)
class _Row:
    side: Side
    price: str
    qty: str
    qty_value: float
    cumulative: float


class LadderModel(QAbstractTableModel):
    """Rows: the `depth` best asks (highest first, best ask last), then the `depth` best bids.

    The live and the recorded ladder both show the top of a snapshot: SNAPSHOT_DEPTH levels a side."""

    def __init__(self, depth: int = SNAPSHOT_DEPTH, parent=None) -> None:
        super().__init__(parent)
        self.depth = depth
        self._rows: list[_Row] = []
        self._max_qty = 0.0
        self._max_cum = 0.0
        self._cum_text: list[str] = []
        self._max_qty_before = self._max_cum_before = 0.0
        self.symbol: str | None = None

    # --- feeding ---------------------------------------------------------------------------------

    def set_levels(self, symbol: str, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        """Bids highest first, asks lowest first, as the book gives them; deeper levels are ignored."""
        bids, asks = bids[: self.depth], asks[: self.depth]
        price_dp = common_decimals(p for p, _ in (*bids, *asks))
        qty_dp = common_decimals(q for _, q in (*bids, *asks))
        rows: list[_Row] = []
        ask_rows = _side_rows(Side.ASK, asks, price_dp, qty_dp)
        rows.extend(reversed(ask_rows))
        rows.extend(_side_rows(Side.BID, bids, price_dp, qty_dp))
        self._max_qty = max((r.qty_value for r in rows), default=0.0)
        self._max_cum = max((r.cumulative for r in rows), default=0.0)
        self._cum_text = [f"{r.cumulative:,.{qty_dp}f}" for r in rows]
        same_shape = len(rows) == len(self._rows) and symbol == self.symbol
        if not same_shape:
            self.beginResetModel()
        old_rows, old_scale = self._rows, (self._max_qty_before, self._max_cum_before)
        self._rows = rows
        self.symbol = symbol
        self._max_qty_before, self._max_cum_before = self._max_qty, self._max_cum
        if not same_shape:
            self.endResetModel()
            return
        # Repaint only the cells that changed; when a bar scale moved, every bar of that scale did. A change
        # deep in the book moves the cumulative column below it but not the sizes and prices of those rows.
        pairs = list(zip(old_rows, rows, strict=True))
        if old_scale[0] != self._max_qty:
            levels = range(len(rows))
        else:
            levels = [i for i, (a, b) in enumerate(pairs) if (a.side, a.price, a.qty) != (b.side, b.price, b.qty)]
        if old_scale[1] != self._max_cum:
            cumulative = range(len(rows))
        else:
            cumulative = [i for i, (a, b) in enumerate(pairs) if a.cumulative != b.cumulative]
        if levels:
            self.dataChanged.emit(self.index(levels[0], 0), self.index(levels[-1], LadderColumn.ASK))
        if cumulative:
            col = LadderColumn.CUMULATIVE
            self.dataChanged.emit(self.index(cumulative[0], col), self.index(cumulative[-1], col))

    def clear(self) -> None:
        self.beginResetModel()
        self._rows = []
        self._cum_text = []
        self.symbol = None
        self.endResetModel()

    def cell(self, row: int, col: int) -> tuple[bool, float, bool, str]:
        """What the delegate paints, in one call: (is bid, bar fraction 0..1, spread line above, text)."""
        r = self._rows[row]
        bid = r.side is Side.BID
        touch = bid and (row == 0 or self._rows[row - 1].side is Side.ASK)
        if col == LadderColumn.PRICE:
            return bid, 0.0, touch, r.price
        if col == LadderColumn.CUMULATIVE:
            return bid, (r.cumulative / self._max_cum if self._max_cum > 0 else 0.0), touch, self._cum_text[row]
        own = (col == LadderColumn.BID) == bid
        fraction = r.qty_value / self._max_qty if own and self._max_qty > 0 else 0.0
        return bid, fraction, touch, r.qty if own else ""

    @property
    def best_bid_row(self) -> int:
        """Row of the best bid (the first bid row); the view centres on it."""
        for i, row in enumerate(self._rows):
            if row.side is Side.BID:
                return i
        return len(self._rows)

    # --- QAbstractTableModel -----------------------------------------------------------------------

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(LadderColumn)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section] if 0 <= section < len(HEADERS) else None
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == LadderColumn.PRICE:
                return row.price
            if col == LadderColumn.BID:
                return row.qty if row.side is Side.BID else ""
            if col == LadderColumn.ASK:
                return row.qty if row.side is Side.ASK else ""
            return self._cum_text[index.row()]
        if role == BAR_ROLE:
            if col == LadderColumn.CUMULATIVE:
                return row.cumulative / self._max_cum if self._max_cum > 0 else 0.0
            own = LadderColumn.BID if row.side is Side.BID else LadderColumn.ASK
            if col == own:
                return row.qty_value / self._max_qty if self._max_qty > 0 else 0.0
            return 0.0
        if role == SIDE_ROLE:
            return str(row.side)
        if role == TOUCH_ROLE:
            return row.side is Side.BID and (index.row() == 0 or self._rows[index.row() - 1].side is Side.ASK)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col == LadderColumn.PRICE:
                return Qt.AlignmentFlag.AlignCenter
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        return None


def _side_rows(side: Side, levels: Sequence[Level], price_dp: int, qty_dp: int) -> list[_Row]:
    rows = []
    cumulative = 0.0
    for price, qty in levels:
        value = float(qty)
        cumulative += value
        rows.append(_Row(side, trim_to(price, price_dp), trim_to(qty, qty_dp), value, cumulative))
    return rows
