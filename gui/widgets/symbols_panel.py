"""The symbols panel: add a symbol (inline validation message), the symbols table with its filter box, sortable
columns and record switches, and "Record all shown"."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.market.markets import MARKETS
from gui.app_markets import MARKET_TAG
from gui.models.symbol_filter import SymbolFilterModel
from gui.models.symbols import Column, SymbolTableModel
from gui.values import ThemeColors
from gui.widgets.colors import qcolor
from gui.widgets.symbol_details import SymbolDetails

ROW_HEIGHT = 26
TEXT_MARGIN = 9  # the style's padding of a cell's text (the style sheet's 6 px and the focus frame's 3)
MARKET_SHORT = {"spot": "Spot", "usdm": "USD-M"}  # the add box's market choice
COLUMN_WIDTHS = {  # 546 px in all: the default panel (PANEL_WIDTH) shows every column without a scroll bar
    Column.SYMBOL: 116,  # "BTCUSDT usdm": a futures symbol shows its market (SymbolDelegate)
    Column.STATE: 80,
    Column.RECORD: 40,
    Column.STORED: 80,  # "2,550,436": a month of one symbol
    Column.LAST_WRITE: 78,
    Column.RATE: 38,
    Column.COMPLETE: 74,
    Column.GAPS: 40,
}


# Enum members read once: each read of one (QStyle.StateFlag.State_Selected) runs enum code in Python, and the
# delegates below paint a cell of every visible row.
_SELECTED = QStyle.StateFlag.State_Selected
_ANTIALIASING = QPainter.RenderHint.Antialiasing
_NO_PEN = Qt.PenStyle.NoPen
_CHECK_ROLE = Qt.ItemDataRole.CheckStateRole
_DISPLAY_ROLE = Qt.ItemDataRole.DisplayRole
_FOREGROUND_ROLE = Qt.ItemDataRole.ForegroundRole
_CHECKED = Qt.CheckState.Checked
_CHECKABLE = Qt.ItemFlag.ItemIsUserCheckable
_LEFT = int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)


class SwitchDelegate(QStyledItemDelegate):
    """Draws the record column as an on/off switch and flips it on a click or Space."""

    def __init__(self, colors: ThemeColors, parent=None) -> None:
        super().__init__(parent)
        self.set_colors(colors)

    def set_colors(self, colors: ThemeColors) -> None:
        self._on = qcolor(colors.ask)  # recording is the red dot of every recorder
        self._off = qcolor(colors.muted)
        self._off.setAlpha(110)
        self._knob = QColor("#ffffff")
        self._disabled = qcolor(colors.muted)
        self._disabled_track = qcolor(colors.muted)
        self._disabled_track.setAlpha(90)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        if option.state & _SELECTED:
            painter.fillRect(option.rect, option.palette.highlight())
        checked = index.data(_CHECK_ROLE) == _CHECKED
        enabled = bool(index.flags() & _CHECKABLE)
        w, h = 30.0, 16.0
        r = option.rect
        track = QRectF(r.center().x() - w / 2, r.center().y() - h / 2 + 1, w, h)
        painter.setRenderHint(_ANTIALIASING)
        painter.setPen(_NO_PEN)
        painter.setBrush((self._on if checked else self._off) if enabled else self._disabled_track)
        painter.drawRoundedRect(track, h / 2, h / 2)
        knob = h - 4
        x = track.right() - knob - 2 if checked else track.left() + 2
        painter.setBrush(self._knob if enabled else self._disabled)
        painter.drawEllipse(QRectF(x, track.top() + 2, knob, knob))
        painter.restore()

    def editorEvent(self, event, model, option, index) -> bool:
        if not index.flags() & Qt.ItemFlag.ItemIsUserCheckable:
            return False
        kind = event.type()
        if kind == QEvent.Type.MouseButtonRelease and event.button() == Qt.MouseButton.LeftButton:
            pass
        elif kind == QEvent.Type.MouseButtonDblClick:
            return True  # swallow: a double click must not flip twice
        elif kind == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Space, Qt.Key.Key_Select):
            pass
        else:
            return False
        checked = index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        new = Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked
        return model.setData(index, new, Qt.ItemDataRole.CheckStateRole)


class StateDelegate(QStyledItemDelegate):
    """A coloured dot and the state's name, in its colour even on the selected row."""

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        if option.state & _SELECTED:
            painter.fillRect(option.rect, option.palette.highlight())
        color = index.data(_FOREGROUND_ROLE)
        text = index.data(_DISPLAY_ROLE) or ""
        painter.setRenderHint(_ANTIALIASING)
        r = option.rect
        painter.setPen(_NO_PEN)
        painter.setBrush(color)
        painter.drawEllipse(QRectF(r.left() + 10, r.center().y() - 3, 7, 7))
        painter.setPen(color)
        painter.setFont(option.font)
        painter.drawText(r.adjusted(24, -1, -4, -1), _LEFT, text)
        painter.restore()


class SymbolDelegate(QStyledItemDelegate):
    """The symbol, and a futures row's market as a small muted tag after it ("BTCUSDT usdm"): the name keeps the
    column's width (the text "BTCUSDT · usdm" is the row's DisplayRole, which the filter matches)."""

    def __init__(self, colors: ThemeColors, parent=None) -> None:
        super().__init__(parent)
        self.set_colors(colors)

    def set_colors(self, colors: ThemeColors) -> None:
        self._muted = qcolor(colors.muted)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        text = index.data(_DISPLAY_ROLE) or ""
        name, separator, market = text.partition(MARKET_TAG)
        if not separator:
            super().paint(painter, option, index)
            return
        painter.save()
        selected = bool(option.state & _SELECTED)
        if selected:
            painter.fillRect(option.rect, option.palette.highlight())
        r = option.rect.adjusted(TEXT_MARGIN, 0, -4, 0)
        align = _LEFT
        painter.setFont(option.font)
        painter.setPen(
            option.palette.highlightedText().color() if selected else option.palette.text().color()
        )
        metrics = painter.fontMetrics()
        shown = metrics.elidedText(name, Qt.TextElideMode.ElideRight, r.width())
        painter.drawText(r, align, shown)
        tag_font = QFont(option.font)
        tag_font.setPointSizeF(max(6.0, option.font.pointSizeF() * 0.85))
        painter.setFont(tag_font)
        painter.setPen(self._muted)
        left = metrics.horizontalAdvance(shown) + 5
        if left < r.width():
            painter.drawText(r.adjusted(left, 0, 0, 0), align, painter.fontMetrics().elidedText(
                market, Qt.TextElideMode.ElideRight, r.width() - left))  # fmt: skip
        painter.restore()


class SymbolsPanel(QWidget):
    add_requested = Signal(str)
    remove_requested = Signal(str)
    selection_changed = Signal(object)  # str | None
    record_all_requested = Signal(object)  # list[str]: the shown symbols not recorded yet (the app confirms)

    def __init__(self, model: SymbolTableModel, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("symbolsPanel")
        self.model = model
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 6, 8)
        layout.setSpacing(6)

        title = QLabel("Symbols")
        title.setObjectName("panelTitle")
        layout.addWidget(title)

        row = QHBoxLayout()
        row.setSpacing(6)
        self.input = QLineEdit()
        self.input.setObjectName("symbolInput")
        self.input.setPlaceholderText("Add a symbol, e.g. BTCUSDT")
        self.input.setClearButtonEnabled(True)
        self.input.returnPressed.connect(self._on_add_clicked)
        self.input.textEdited.connect(self._on_text_edited)
        # The market of the symbol to add: a choice beside the box rather than a syntax to type (`usdm:BTCUSDT`),
        # so both markets are in sight, nothing is mistyped, and the filter box keeps meaning plain names.
        self.market_box = QComboBox()
        self.market_box.setObjectName("marketChoice")
        self.market_box.setToolTip("The market of the symbol to add: spot, or USD-M perpetual futures")
        for market in MARKETS.values():
            self.market_box.addItem(MARKET_SHORT.get(market.name, market.label), market.name)
        self.add_button = QPushButton("Add")
        self.add_button.setObjectName("primary")
        self.add_button.setToolTip("Follow this symbol (Enter)")
        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button = QToolButton()
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip("Stop following the selected symbol (Del)")
        self.remove_button.clicked.connect(self.remove_selected)
        row.addWidget(self.input, 1)
        row.addWidget(self.market_box)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout.addLayout(row)

        filter_row = QHBoxLayout()
        filter_row.setSpacing(6)
        self.filter = QLineEdit()
        self.filter.setObjectName("symbolFilter")
        self.filter.setPlaceholderText("Filter, e.g. USDT")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only the symbols that contain this text")
        self.filter.textChanged.connect(self._on_filter_changed)
        self.shown = QLabel("")
        self.shown.setObjectName("hint")
        self.record_all_button = QToolButton()
        self.record_all_button.setText("Record all shown")
        self.record_all_button.setToolTip("Record every symbol the table shows (asks first)")
        self.record_all_button.clicked.connect(self.request_record_all)
        filter_row.addWidget(self.filter, 1)
        filter_row.addWidget(self.shown)
        filter_row.addWidget(self.record_all_button)

        self.message = QLabel("")
        self.message.setObjectName("inlineMessage")
        self.message.setWordWrap(True)
        self.message.hide()
        layout.addWidget(self.message)
        layout.addLayout(filter_row)

        self.table = QTableView()
        self.table.setObjectName("symbolsTable")
        self.proxy = SymbolFilterModel(model, self)
        self.table.setModel(self.proxy)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.switch = SwitchDelegate(colors, self.table)
        self.table.setItemDelegateForColumn(Column.RECORD, self.switch)
        self.symbol_delegate = SymbolDelegate(colors, self.table)
        self.table.setItemDelegateForColumn(Column.SYMBOL, self.symbol_delegate)
        self.state_delegate = StateDelegate(self.table)
        self.table.setItemDelegateForColumn(Column.STATE, self.state_delegate)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setMinimumSectionSize(40)
        for column, width in COLUMN_WIDTHS.items():
            header.resizeSection(column, width)
        # The symbol keeps its width (an elided "B…" says nothing); spare width goes to the last column,
        # and a narrow panel scrolls sideways instead of squeezing the names.
        header.setStretchLastSection(True)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # no sort: the order symbols were added
        self.table.setSortingEnabled(True)  # a header click sorts by that column
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)
        self.proxy.rowsRemoved.connect(self._on_rows_removed)
        for changed in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                        self.proxy.layoutChanged):  # fmt: skip
            changed.connect(self._update_shown)
        self._filtering = False  # while the filter changes (_on_filter_changed)
        self._update_shown()
        self.details = SymbolDetails(colors)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("symbolsSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.table)
        self.splitter.addWidget(self.details)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 0)
        self.splitter.setSizes([420, 260])
        layout.addWidget(self.splitter, 1)

        self.hint = QLabel("Enter adds · Del removes · Ctrl+R records the selected symbol")
        self.hint.setObjectName("hint")
        layout.addWidget(self.hint)

        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table)
        delete.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)  # only while the table has focus
        delete.activated.connect(self.remove_selected)

    # --- called by the window --------------------------------------------------------------------------

    def set_colors(self, colors: ThemeColors) -> None:
        self.switch.set_colors(colors)
        self.symbol_delegate.set_colors(colors)
        self.details.set_colors(colors)
        self.table.viewport().update()

    def set_message(self, text: str, kind: str = "error") -> None:
        """A one-line message under the input: an unknown symbol, a check in progress."""
        if not text:
            self.message.hide()
            self.message.setText("")
            return
        self.message.setProperty("kind", kind)
        self.message.setText(text)
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.show()

    def set_busy(self, busy: bool) -> None:
        self.add_button.setEnabled(not busy)

    def set_markets(self, offered: list[str], default: str, why_not: dict[str, str] | None = None) -> None:
        """Offer the markets this run can follow (the others greyed, with why), `default` chosen."""
        model = self.market_box.model()
        for i in range(self.market_box.count()):
            name = self.market_box.itemData(i)
            item = model.item(i)  # type: ignore[attr-defined]
            item.setEnabled(name in offered)
            item.setToolTip("" if name in offered else (why_not or {}).get(name, ""))
        self.set_market(default)

    def set_market(self, name: str) -> None:
        index = self.market_box.findData(name)
        if index >= 0:
            self.market_box.setCurrentIndex(index)

    def chosen_market(self) -> str:
        """The market name ("spot", "usdm") the next symbol is added to."""
        return str(self.market_box.currentData())

    def clear_input(self) -> None:
        self.input.clear()

    def focus_input(self) -> None:
        self.input.setFocus()
        self.input.selectAll()

    def selected_symbol(self) -> str | None:
        index = self.table.currentIndex()
        return self.proxy.symbol_at(index.row()) if index.isValid() else None

    def select(self, symbol: str) -> None:
        """Select `symbol`'s row (clearing the filter if it hides it)."""
        if self.proxy.row_of(symbol) < 0 and self.model.row_of(symbol) >= 0:
            self.filter.clear()
        row = self.proxy.row_of(symbol)
        if row >= 0:
            self.table.selectRow(row)
            self.table.setCurrentIndex(self.proxy.index(row, Column.SYMBOL))

    def set_filter(self, text: str) -> None:
        self.filter.setText(text)

    def request_record_all(self) -> None:
        """Ask (through the app, which confirms) to record every shown symbol not recorded yet."""
        pending = [
            s for s in self.proxy.shown_symbols() if (row := self.model.row_data(s)) and not row.recording
        ]
        if not pending:
            self.set_message("Every symbol shown is already recorded.", "info")
            return
        self.record_all_requested.emit(pending)

    def toggle_recording_of_selected(self) -> bool:
        """Flip the selected symbol's switch, as a click would; False if there is nothing to flip."""
        symbol = self.selected_symbol()
        if symbol is None:
            return False
        index = self.proxy.index(self.proxy.row_of(symbol), Column.RECORD)
        if not self.proxy.flags(index) & Qt.ItemFlag.ItemIsUserCheckable:
            return False
        checked = index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
        new = Qt.CheckState.Unchecked if checked else Qt.CheckState.Checked
        return self.proxy.setData(index, new, Qt.ItemDataRole.CheckStateRole)

    # --- slots ---------------------------------------------------------------------------------------

    def _on_add_clicked(self) -> None:
        if not self.add_button.isEnabled():  # Enter while the last symbol is still being checked
            return
        text = self.input.text().strip()
        if not text:
            self.set_message("Type a symbol first, like BTCUSDT.", "error")
            return
        self.add_requested.emit(text.upper())

    def _on_text_edited(self, _text: str) -> None:
        if self.message.property("kind") == "error":
            self.set_message("")

    def remove_selected(self) -> None:
        symbol = self.selected_symbol()
        if symbol is not None:
            self.remove_requested.emit(symbol)

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.selection_changed.emit(self.proxy.symbol_at(current.row()) if current.isValid() else None)

    def _on_rows_removed(self, *_args) -> None:
        if self.proxy.rowCount() and not self.table.currentIndex().isValid():
            self.table.selectRow(0)
            self.table.setCurrentIndex(self.proxy.index(0, Column.SYMBOL))
        elif not self.proxy.rowCount():
            self.selection_changed.emit(None)

    def _on_filter_changed(self, text: str) -> None:
        # A keystroke removes or inserts rows in up to hundreds of runs, one signal each: count once, after.
        self._filtering = True
        try:
            self.proxy.set_text(text)
        finally:
            self._filtering = False
        self._update_shown()

    def _update_shown(self, *_args) -> None:
        if self._filtering:
            return
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        self.shown.setText(f"{shown:,} of {total:,}" if shown != total else f"{total:,} symbols")
        self.record_all_button.setEnabled(shown > 0)
