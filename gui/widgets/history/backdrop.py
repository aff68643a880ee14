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
# A pixel column is shaded by the share of its seconds a run covers, in this many steps (a quarter of the full
# colour at least): a month's view shows scattered single seconds as a faint tint and a ten-minute disconnect
# as a stronger one, where merging runs closer than a pixel painted both as one solid band.
SHADE_STEPS = 4


def over(rgba: tuple[int, int, int, int], background: QColor) -> QColor:
    """`rgba` blended over `background`, opaque."""
    a = rgba[3] / 255
    bg = (background.red(), background.green(), background.blue())
    return QColor(*(round(c * a + b * (1 - a)) for c, b in zip(rgba[:3], bg, strict=True)))


def pixel_coverage(runs: np.ndarray, a: float, b: float, width: int) -> np.ndarray:
    """The share (0..1) of each of `width` pixel columns spanning [a, b] seconds that `runs` cover: rows of
    (first, last) whole seconds, sorted and not overlapping, a run covering [first, last + 1)."""
    if width <= 0 or b <= a:
        return np.zeros(max(width, 0))
    if not len(runs):
        return np.zeros(width)
    starts = runs[:, 0].astype(float)
    ends = runs[:, 1].astype(float) + 1.0
    before = np.concatenate([[0.0], np.cumsum(ends - starts)])  # seconds covered by the first k runs
    edges = a + (b - a) * np.arange(width + 1) / width
    k = np.searchsorted(starts, edges, side="right")  # runs begun by each edge; only the k-th may go on past it
    covered = before[k] - np.where(k > 0, np.maximum(0.0, ends[np.maximum(k - 1, 0)] - edges), 0.0)
    return np.clip(np.diff(covered) * (width / (b - a)), 0.0, 1.0)


def shade_steps(coverage: np.ndarray) -> np.ndarray:
    """0 for a column no run touches, else 1..SHADE_STEPS by the share covered (rounded up)."""
    return np.ceil(coverage * SHADE_STEPS).astype(np.int8)


def column_runs(steps: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """(first column, width) of each run of columns at `step`."""
    edges = np.diff(np.r_[0, (steps == step).astype(np.int8), 0])
    firsts = np.flatnonzero(edges == 1)
    return firsts, np.flatnonzero(edges == -1) - firsts


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
        self.hole_colors: list[QColor] = []  # by shade step (index 0 unused)
        self.gap_colors: list[QColor] = []
        self.edge_color = QColor()
        self.background, self.grid, self.grid_alpha = QColor(), QColor(), 0
        self._shades: dict[int, QColor] = {}
        self._rect = QRectF()
        self.setZValue(-1000)  # under the plots: drawn right after the background
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)

    def set_colors(self, background: QColor, grid: QColor, grid_alpha: int) -> None:
        self.hole_colors, self.gap_colors = [QColor()], [QColor()]
        for step in range(1, SHADE_STEPS + 1):
            share = step / SHADE_STEPS
            hole = over((*HOLE_RGBA[:3], round(HOLE_RGBA[3] * share)), background)
            self.hole_colors.append(hole)
            # Gap seconds are holes too: their colour lies over the hole's.
            self.gap_colors.append(over((*GAP_RGBA[:3], round(GAP_RGBA[3] * share)), hole))
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
        """The span's runs of seconds not recorded, and of gap records: rows starting (first, last), sorted."""
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
        # Whole pixel columns over all the charts (the space between them too: the bands read as one), each
        # shaded by the share of its seconds a run covers. Whole pixels: the raster engine fills an integer
        # rectangle directly, a fractional one as a path.
        y, h = math.floor(top), math.ceil(bottom - top)
        x0, columns = math.floor(left), max(0, round(width))
        for runs, colors in ((self.holes, self.hole_colors), (self.gaps, self.gap_colors)):
            steps = shade_steps(pixel_coverage(runs, a, b, columns))
            for step in range(1, SHADE_STEPS + 1):
                firsts, widths = column_runs(steps, step)
                if len(firsts):
                    painter.setBrush(colors[step])
                    painter.drawRects(
                        [QRect(x0 + p, y, q, h) for p, q in zip(firsts.tolist(), widths.tolist(), strict=True)]
                    )
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
