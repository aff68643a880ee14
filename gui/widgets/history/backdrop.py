"""What the five history charts draw behind their curves, in one item under all of them: the shaded runs of
seconds (holes: nothing recorded; gaps: gap records) and the grid of the four charts above the heatmap (their
time axes are hidden and their value axes draw labels only; the heatmap's axes keep their own grid, over its
image).

Why one item, and why opaque: each chart used to shade its own runs and have its two axes draw the grid, so a
zoom step painted five shading items and ten gridded axes. Translucent fills and lines taller or longer than
~96 scanlines or pixels are split over Qt's GUI thread pool by the raster engine, and on two loaded cores that
hand-off cost more than the drawing. The item sits under every chart, directly on the view's background, so its
colours are blended with the background here once and drawn opaque: the raster engine fills opaque colours
inline, with the same pixels (a grid line now passes under a curve rather than over it).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QLineF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

HOLE_RGBA = (128, 128, 128, 40)
GAP_RGBA = (246, 70, 93, 50)


def over(rgba: tuple[int, int, int, int], background: QColor) -> QColor:
    """`rgba` blended over `background`, opaque."""
    a = rgba[3] / 255
    bg = (background.red(), background.green(), background.blue())
    return QColor(*(round(c * a + b * (1 - a)) for c, b in zip(rgba[:3], bg, strict=True)))


def coalesce(runs: np.ndarray, start: float, end: float, min_gap: float) -> np.ndarray:
    """The runs inside [start, end], those closer than `min_gap` seconds merged, as float (first, last) rows:
    what a chart can paint, a few thousand rectangles at most."""
    if not len(runs):
        return np.empty((0, 2))
    r = runs[(runs[:, 1] >= start) & (runs[:, 0] <= end), :2].astype(float)
    if len(r) < 2:
        return r
    breaks = np.flatnonzero(r[1:, 0] - r[:-1, 1] > min_gap)
    firsts = np.r_[0, breaks + 1]
    lasts = np.r_[breaks, len(r) - 1]
    return np.column_stack([r[firsts, 0], r[lasts, 1]])


class ChartBackdrop(QGraphicsItem):
    """Added to the charts' scene under the plots. `plots` share one time range; `gridded` are those whose grid
    it draws: vertical lines at `ticks()` (the time axes' ticks), horizontal ones at their left axis's major
    ticks (a ValueAxis)."""

    def __init__(self, plots, gridded, ticks) -> None:
        super().__init__()
        self.plots = plots
        self.gridded = gridded
        self.ticks = ticks  # () -> [(tick seconds, opacity 0..1)] a level, over the visible range
        self.holes = np.empty((0, 2))
        self.gaps = np.empty((0, 2))
        self.hole_color = self.gap_color = self.edge_color = QColor()
        self.background, self.grid, self.grid_alpha = QColor(), QColor(), 0
        self._shades: dict[int, QColor] = {}
        self._rect = QRectF()
        self.setZValue(-1000)  # under the plots: drawn right after the background
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    def set_colors(self, background: QColor, grid: QColor, grid_alpha: int) -> None:
        self.hole_color = over(HOLE_RGBA, background)
        self.gap_color = over(GAP_RGBA, self.hole_color)  # gap seconds are holes too: both were painted
        self.edge_color = QColor(grid)
        self.background, self.grid, self.grid_alpha = background, grid, grid_alpha
        self._shades = {}
        self.update()

    def _grid_at(self, fraction: float) -> QColor:
        alpha = int(self.grid_alpha * fraction)
        color = self._shades.get(alpha)
        if color is None:
            g = self.grid
            color = self._shades[alpha] = over((g.red(), g.green(), g.blue(), alpha), self.background)
        return color

    def set_runs(self, holes: np.ndarray, gaps: np.ndarray) -> None:
        self.holes, self.gaps = holes, gaps
        self.update()

    def relayout(self) -> None:
        """The plots moved or were resized: the item covers them all."""
        rect = QRectF()
        for plot in self.plots:
            rect = rect.united(plot.vb.sceneBoundingRect())
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def boundingRect(self) -> QRectF:
        return self._rect

    def paint(self, painter: QPainter, *_args) -> None:
        frames = [plot.vb.sceneBoundingRect() for plot in self.plots]
        if not frames or self._rect.isEmpty():
            return
        (a, b), _ = self.plots[0].vb.viewRange()
        left, width = frames[0].left(), frames[0].width()
        if b <= a or width <= 0:
            return
        scale = width / (b - a)
        top, bottom = min(f.top() for f in frames), max(f.bottom() for f in frames)
        painter.setPen(Qt.PenStyle.NoPen)
        # One rectangle a run over all the charts (the space between them too): the bands read as one. Whole
        # pixels: the raster engine fills an integer rectangle directly, a fractional one as a path.
        y, h = math.floor(top), math.ceil(bottom - top)
        for runs, color in ((self.holes, self.hole_color), (self.gaps, self.gap_color)):
            visible = runs[(runs[:, 1] + 1 >= a) & (runs[:, 0] <= b)] if len(runs) else runs
            if len(visible):
                # Pixels whose centre a run covers, as the fractional rectangles filled before (a lone late
                # second in a day's view covers none).
                x0 = np.rint(np.clip(left + (visible[:, 0] - a) * scale, left, left + width)).astype(int)
                x1 = np.rint(np.clip(left + (visible[:, 1] + 1 - a) * scale, left, left + width)).astype(int)
                keep = x1 > x0
                x0, w = x0[keep], (x1 - x0)[keep]
                painter.setBrush(color)
                painter.drawRects([QRect(p, y, q, h) for p, q in zip(x0.tolist(), w.tolist(), strict=True)])
        frames = [plot.vb.sceneBoundingRect() for plot in self.gridded]
        for ticks, fraction in self.ticks():  # the time grid, a level at a time (pyqtgraph's shades)
            xs = [left + (t - a) * scale for t in ticks if a <= t <= b]
            if xs and fraction > 0:
                painter.setPen(QPen(self._grid_at(fraction), 0))
                painter.drawLines([QLineF(x, f.top(), x, f.bottom()) for f in frames for x in xs])
        for plot in self.gridded:  # the value grid, in each chart's own shade (pyqtgraph's thinning)
            f = plot.vb.sceneBoundingRect()
            (_, _), (y0, y1) = plot.vb.viewRange()
            values, fraction = plot.getAxis("left").major_ticks(f.height())
            if y1 <= y0 or not values:
                continue
            k = f.height() / (y1 - y0)
            painter.setPen(QPen(self._grid_at(fraction), 0))
            painter.drawLines(
                [QLineF(f.left(), y, f.right(), y) for y in (f.bottom() - (v - y0) * k for v in values)]
            )
        painter.setPen(QPen(self.edge_color, 0))  # where the hidden time axes drew their line
        painter.drawLines([QLineF(f.left(), f.bottom(), f.right(), f.bottom()) for f in frames])
