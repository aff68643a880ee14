"""The depth ladder: a table view over LadderModel with horizontal size bars drawn by a delegate."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPointF, QRect, Qt
from PySide6.QtGui import QFont, QFontDatabase, QPainter, QStaticText
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QWidget,
)

from gui.models.ladder import LadderColumn, LadderModel
from gui.values import ThemeColors
from gui.widgets.colors import qcolor

ROW_HEIGHT = 20
TEXT_CACHE = 4000  # laid-out cell texts kept per font: prices and sizes recur from one book to the next


class SizeBarDelegate(QStyledItemDelegate):
    """Paints a bar proportional to BAR_ROLE behind the cell's text; bids grow towards the price column."""

    def __init__(self, colors: ThemeColors, parent=None) -> None:
        super().__init__(parent)
        self.font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.bold_font = QFont(self.font)
        self.bold_font.setBold(True)
        # Laid-out texts per font: drawText lays its string out on every call, about half of a ladder repaint.
        self._plain_texts: dict[str, QStaticText] = {}
        self._bold_texts: dict[str, QStaticText] = {}
        self.set_colors(colors)

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        self._bid, self._ask = qcolor(colors.bid), qcolor(colors.ask)
        self._bid_fill, self._ask_fill = qcolor(colors.bid_fill), qcolor(colors.ask_fill)
        self._bid_faint, self._ask_faint = qcolor(colors.bid_fill), qcolor(colors.ask_fill)
        self._bid_faint.setAlpha(max(20, self._bid_fill.alpha() // 2))
        self._ask_faint.setAlpha(max(20, self._ask_fill.alpha() // 2))
        self._text, self._muted, self._line = (
            qcolor(colors.foreground),
            qcolor(colors.muted),
            qcolor(colors.muted),
        )

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        # One model call per cell (not one per role): the ladder repaints ten times a second.
        model = index.model()
        col = index.column()
        bid, fraction, touch, text = model.cell(index.row(), col)
        rect: QRect = option.rect
        if fraction > 0:
            inner = rect.adjusted(1, 2, -1, -2)
            width = max(1, round(inner.width() * min(fraction, 1.0)))
            if col == LadderColumn.CUMULATIVE:
                bar = QRect(inner.left(), inner.top(), width, inner.height())
                color = self._bid_faint if bid else self._ask_faint
            elif bid:  # the bid size column sits left of the price: grow from its right edge
                bar = QRect(inner.right() - width + 1, inner.top(), width, inner.height())
                color = self._bid_fill
            else:
                bar = QRect(inner.left(), inner.top(), width, inner.height())
                color = self._ask_fill
            painter.fillRect(bar, color)
        if touch:
            painter.setPen(self._line)
            painter.drawLine(rect.topLeft(), rect.topRight())
        if text:
            if col == LadderColumn.PRICE:
                painter.setFont(self.bold_font)
                painter.setPen(self._bid if bid else self._ask)
                static = self._static(text, self._bold_texts, self.bold_font)
                size = static.size()
                x = rect.left() + (rect.width() - size.width()) / 2  # centred
            else:
                painter.setFont(self.font)
                painter.setPen(self._muted if col == LadderColumn.CUMULATIVE else self._text)
                static = self._static(text, self._plain_texts, self.font)
                size = static.size()
                x = rect.right() - 6 - size.width()  # right-aligned inside a 6 px margin
            painter.drawStaticText(QPointF(x, rect.top() + (rect.height() - size.height()) / 2), static)

    @staticmethod
    def _static(text: str, cache: dict[str, QStaticText], font: QFont) -> QStaticText:
        static = cache.get(text)
        if static is None:
            if len(cache) >= TEXT_CACHE:
                cache.clear()
            static = cache[text] = QStaticText(text)
            static.setTextFormat(Qt.TextFormat.PlainText)
            static.prepare(font=font)
        return static


class LadderView(QTableView):
    """Asks on top, bids below; centred on the touch whenever the symbol changes."""

    def __init__(self, model: LadderModel, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ladder")
        self.empty_text = "Waiting for the order book…"  # drawn while there are no levels ("": nothing)
        self.setModel(model)
        self._delegate = SizeBarDelegate(colors, self)
        self.setItemDelegate(self._delegate)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setAlternatingRowColors(False)
        self.verticalHeader().hide()
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        header.setHighlightSections(False)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        model.modelReset.connect(self.center_on_touch)

    def set_colors(self, colors: ThemeColors) -> None:
        self._delegate.set_colors(colors)
        self.viewport().update()

    def center_on_touch(self) -> None:
        model = self.model()
        if not isinstance(model, LadderModel) or model.rowCount() == 0:
            return
        row = model.best_bid_row
        self.updateGeometries()  # after a reset the scroll range is updated lazily: do it now
        # Put the spread line (top of the best bid row) in the middle of the viewport.
        target = row * ROW_HEIGHT - self.viewport().height() // 2
        target = round(target / ROW_HEIGHT) * ROW_HEIGHT  # whole rows at the top, no half-cut price
        self.verticalScrollBar().setValue(max(0, target))

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        model = self.model()
        if model is not None and model.rowCount() == 0 and self.empty_text:
            painter = QPainter(self.viewport())
            painter.setPen(qcolor(self._delegate.colors.muted))
            painter.drawText(self.viewport().rect(), int(Qt.AlignmentFlag.AlignCenter), self.empty_text)
            painter.end()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.center_on_touch()
