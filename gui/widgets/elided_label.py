"""A one-line label that ends with "…" when its plain text is wider than the room it has, so a cut value reads as
cut (a tooltip keeps the whole text). Rich text (a coloured state) is drawn as QLabel draws it."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QPainter, QPaintEvent
from PySide6.QtGui import Qt as GuiQt  # mightBeRichText lives in QtGui's Qt namespace
from PySide6.QtWidgets import QLabel, QWidget


class ElidedLabel(QLabel):
    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
        least: int = 0,
        most: int = 0,
    ) -> None:
        super().__init__(text, parent)
        self.mode = mode  # ElideMiddle for paths: both ends of a path say the most
        self.least = least  # pixels it keeps, if its text is that wide, when the layout is short of room
        self.most = most  # pixels it asks for at most (0: its whole text), leaving the rest to its neighbours

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        return QSize(min(hint.width(), self.most), hint.height()) if self.most else hint

    def minimumSizeHint(self) -> QSize:
        # It asks for its whole text (sizeHint) but can be given far less: a long text never widens the window.
        least = max(self.fontMetrics().horizontalAdvance("…") * 4, min(self.least, self.sizeHint().width()))
        return QSize(least, super().minimumSizeHint().height())

    def is_rich(self) -> bool:
        return self.textFormat() == Qt.TextFormat.RichText or GuiQt.mightBeRichText(self.text())

    def shown_text(self) -> str:
        """The text as drawn: whole when it fits, else cut with "…" (rich text: as it is)."""
        if self.is_rich():
            return self.text()
        return self.fontMetrics().elidedText(self.text(), self.mode, self.contentsRect().width())

    def paintEvent(self, event: QPaintEvent) -> None:
        if self.is_rich():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        self.style().drawItemText(
            painter, self.contentsRect(), int(self.alignment()), self.palette(), self.isEnabled(), self.shown_text(),
            self.foregroundRole(),
        )  # fmt: skip
        painter.end()
