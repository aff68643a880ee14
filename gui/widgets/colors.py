"""Colour strings of ThemeColors as QColor: "#RRGGBB" or "#RRGGBBAA" (CSS order, alpha last)."""

from __future__ import annotations

from PySide6.QtGui import QColor


def qcolor(text: str) -> QColor:
    """QColor reads 8-digit hex as #AARRGGBB; the themes (and pyqtgraph) write #RRGGBBAA."""
    if len(text) == 9 and text.startswith("#"):
        color = QColor(text[:7])
        color.setAlpha(int(text[7:9], 16))
        return color
    return QColor(text)
