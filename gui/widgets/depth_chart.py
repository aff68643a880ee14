"""Cumulative depth chart of the selected book (pyqtgraph): bids left of the mid, asks right of it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from core.market.wire import Level
from gui.values import ThemeColors
from gui.widgets.plot_style import color_axes, quiet_plot


def cumulative_steps(levels: Sequence[Level]) -> tuple[np.ndarray, np.ndarray]:
    """Step-shaped (price, cumulative size) points from the touch outwards, starting at zero depth."""
    if not levels:
        return np.empty(0), np.empty(0)
    prices = np.fromiter((float(p) for p, _ in levels), float, count=len(levels))
    sizes = np.cumsum(np.fromiter((float(q) for _, q in levels), float, count=len(levels)))
    # (p0, 0) (p0, c0) (p1, c0) (p1, c1) ... : vertical at each level, flat between levels.
    x = np.repeat(prices, 2)
    y = np.empty_like(x)
    y[0] = 0.0
    y[1::2] = sizes
    y[2::2] = sizes[:-1]
    return x, y


class DepthChart(pg.PlotWidget):
    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.setObjectName("depthChart")
        self.setMinimumHeight(140)
        plot = self.getPlotItem()
        quiet_plot(plot, grid_alpha=0.15, left_width=56)
        plot.setTitle("Cumulative depth", size="9pt")
        # Steps are horizontal and vertical lines: antialiasing adds nothing to them and doubles the paint.
        self._bids = pg.PlotDataItem(antialias=False)
        self._asks = pg.PlotDataItem(antialias=False)
        self._mid = pg.InfiniteLine(angle=90, movable=False)
        for item in (self._bids, self._asks, self._mid):
            plot.addItem(item)
        self._mid.hide()
        self._empty = False
        self.set_colors(colors)
        self._set_empty(True)

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        self.setBackground(colors.background)
        color_axes(self.getPlotItem(), colors)
        self._title()
        self._bids.setPen(pg.mkPen(colors.bid, width=1.5))
        self._bids.setFillLevel(0)
        self._bids.setBrush(pg.mkBrush(colors.bid_fill))
        self._asks.setPen(pg.mkPen(colors.ask, width=1.5))
        self._asks.setFillLevel(0)
        self._asks.setBrush(pg.mkBrush(colors.ask_fill))
        self._mid.setPen(pg.mkPen(colors.muted, width=1, style=pg.QtCore.Qt.PenStyle.DashLine))

    def _title(self) -> None:
        text = "Cumulative depth · waiting for the order book" if self._empty else "Cumulative depth"
        self.getPlotItem().setTitle(text, color=self.colors.muted, size="9pt")

    def _set_empty(self, empty: bool) -> None:
        """No book yet: no axes with made-up ranges, just a title that says so."""
        if empty == self._empty:
            return
        self._empty = empty
        plot = self.getPlotItem()
        for name in ("left", "bottom"):
            plot.showAxis(name, not empty)
        plot.showGrid(x=not empty, y=not empty, alpha=0.15)
        self._title()

    def clear_levels(self) -> None:
        self._bids.setData([], [])
        self._asks.setData([], [])
        self._mid.hide()
        self._set_empty(True)

    def set_levels(self, bids: Sequence[Level], asks: Sequence[Level]) -> None:
        bx, by = cumulative_steps(bids)
        ax, ay = cumulative_steps(asks)
        if not len(bx) or not len(ax):
            self.clear_levels()
            return
        mid = (bx[0] + ax[0]) / 2
        # Symmetric window around the mid, as deep as the shallower side reaches.
        half = max(min(mid - bx[-1], ax[-1] - mid), (ax[0] - bx[0]) * 2)
        lo, hi = mid - half, mid + half
        keep_b, keep_a = bx >= lo, ax <= hi
        bx, by, ax, ay = bx[keep_b], by[keep_b], ax[keep_a], ay[keep_a]
        self._set_empty(False)
        self._bids.setData(bx, by, skipFiniteCheck=True)
        self._asks.setData(ax, ay, skipFiniteCheck=True)
        self._mid.setValue(mid)
        self._mid.show()
        top = max(by.max() if len(by) else 0.0, ay.max() if len(ay) else 0.0)
        self._follow_range(lo, hi, top * 1.05 if top > 0 else 1.0)

    def _follow_range(self, lo: float, hi: float, top: float) -> None:
        """Move the axes only when the data leaves them or shrinks well inside them: a new range on every
        frame re-lays and repaints both axes, which costs more than the curves themselves."""
        plot = self.getPlotItem()
        (x0, x1), (_, y1) = plot.viewRange()
        width = hi - lo
        if lo < x0 or hi > x1 or (x1 - x0) > 1.5 * width or abs((x0 + x1) / 2 - (lo + hi) / 2) > 0.25 * width:
            plot.setXRange(lo, hi, padding=0)
        if top > y1 or top < 0.6 * y1:
            plot.setYRange(0, top * 1.1, padding=0)
