"""Mid and spread of the last few minutes: two small time-linked plots with a date axis."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QWidget

from gui.values import SeriesView, ThemeColors
from gui.widgets.plot_style import color_axes, quiet_plot

WINDOW_SECONDS = 300


class Sparkline(pg.GraphicsLayoutWidget):
    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.setObjectName("sparkline")
        self.setMinimumHeight(140)
        self.mid_plot = self.addPlot(row=0, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.spread_plot = self.addPlot(row=1, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.spread_plot.setXLink(self.mid_plot)
        self.mid_plot.getAxis("bottom").setStyle(showValues=False)
        self.mid_plot.getAxis("bottom").setHeight(4)
        for plot in (self.mid_plot, self.spread_plot):
            quiet_plot(plot, grid_alpha=0.12, left_width=64)
        self.ci.layout.setRowStretchFactor(0, 3)
        self.ci.layout.setRowStretchFactor(1, 2)
        self._mid = self.mid_plot.plot()
        self._spread = self.spread_plot.plot()
        self._empty = False
        self.set_colors(colors)
        self._set_empty(True)

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        self.setBackground(colors.background)
        self._titles()
        for plot in (self.mid_plot, self.spread_plot):
            color_axes(plot, colors)
        self._mid.setPen(pg.mkPen(colors.mid, width=1.5))
        self._spread.setPen(pg.mkPen(colors.spread, width=1.2))

    def _titles(self) -> None:
        waiting = " · no samples yet" if self._empty else ""
        self.mid_plot.setTitle(f"Mid (last 5 min){waiting}", color=self.colors.muted, size="9pt")
        self.spread_plot.setTitle("Spread (bps)", color=self.colors.muted, size="9pt")

    def _set_empty(self, empty: bool) -> None:
        if empty == self._empty:
            return
        self._empty = empty
        for plot in (self.mid_plot, self.spread_plot):
            plot.showAxis("left", not empty)
        self.spread_plot.showAxis("bottom", not empty)
        self._titles()

    def set_series(self, series: SeriesView) -> None:
        if len(series.t) == 0:
            self._mid.setData([], [])
            self._spread.setData([], [])
            self._set_empty(True)
            return
        self._set_empty(False)
        self._mid.setData(series.t, series.mid, skipFiniteCheck=True)
        self._spread.setData(series.t, series.spread_bps, skipFiniteCheck=True)
        end = float(series.t[-1])
        start = max(float(series.t[0]), end - WINDOW_SECONDS)
        self.mid_plot.setXRange(start, max(end, start + 10), padding=0.01)
