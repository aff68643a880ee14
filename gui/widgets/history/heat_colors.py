"""The heatmap's two-hue colour scale: bids and asks each from the background to their colour by percentile
rank, a contrast (gamma) control, and the colour bar that explains it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QWidget

from gui.values import ThemeColors
from gui.widgets.colors import qcolor

LUT_SIZE = 256


def heat_lut(colors: ThemeColors, contrast: float) -> np.ndarray:
    """uint8 [LUT_SIZE, 4] for image levels (−1, 1): −1 the brightest bid, 0 the background, +1 the brightest
    ask. `contrast` is a gamma: below 1 lifts the small sizes, above 1 keeps only the largest bright."""
    v = np.linspace(-1.0, 1.0, LUT_SIZE)
    strength = np.abs(v) ** (1.0 / max(contrast, 1e-3))
    bg = np.array(_rgb(colors.background), dtype=float)
    bid = np.array(_rgb(colors.bid), dtype=float)
    ask = np.array(_rgb(colors.ask), dtype=float)
    hue = np.where((v < 0)[:, None], bid, ask)
    # Any occupied cell is at least a quarter of the way to its hue, so a small level never vanishes.
    strength = np.where(np.abs(v) >= 0.04, 0.25 + 0.75 * strength, 0.0)  # occupied cells are >= 0.05
    rgb = bg + (hue - bg) * strength[:, None]
    lut = np.empty((LUT_SIZE, 4), dtype=np.uint8)
    lut[:, :3] = np.clip(rgb, 0, 255).astype(np.uint8)
    lut[:, 3] = 255
    return lut


def _rgb(text: str) -> tuple[int, int, int]:
    c = qcolor(text)
    return c.red(), c.green(), c.blue()


class ColourBar(QWidget):
    """A horizontal legend: bids from the 100th percentile down to nothing, then asks back up."""

    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("heatColourBar")
        self.setMinimumWidth(200)
        self.setFixedHeight(26)
        self.colors = colors
        self.lut = heat_lut(colors, 1.0)

    def set_lut(self, lut: np.ndarray, colors: ThemeColors) -> None:
        self.lut, self.colors = lut, colors
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        rgba = np.ascontiguousarray(self.lut[None, :, :])
        image = QImage(rgba.data, rgba.shape[1], 1, rgba.shape[1] * 4, QImage.Format.Format_RGBA8888)
        bar = QRectF(0, 0, self.width(), 12)
        painter.drawImage(bar, image)
        painter.setPen(QColor(qcolor(self.colors.muted)))
        font = painter.font()
        font.setPointSizeF(max(6.5, font.pointSizeF() - 1.5))
        painter.setFont(font)
        text = QRectF(0, 12, self.width(), 14)
        painter.drawText(text, int(Qt.AlignmentFlag.AlignLeft), "bids p100")
        painter.drawText(text, int(Qt.AlignmentFlag.AlignHCenter), "empty")
        painter.drawText(text, int(Qt.AlignmentFlag.AlignRight), "asks p100")
        painter.end()
