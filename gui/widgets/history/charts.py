"""The history charts: mid with best bid/ask, spread (bps), top-20 imbalance, depth each side, and the heatmap,
on one time axis shared by all (mouse wheel zooms, drag pans), with the cursor line, the holes and gaps shaded,
and a crosshair readout over the heatmap.

Each chart holds a fixed set of items updated in place with `setData(..., skipFiniteCheck=True)`; the heatmap
is one ImageItem. The charts never query: they report the visible range and the cursor, and draw a ViewData.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal

from gui.formatting import fmt_qty
from gui.history_values import SymbolSpan, ViewData
from gui.values import ThemeColors
from gui.widgets.colors import qcolor
from gui.widgets.history.backdrop import ChartBackdrop
from gui.widgets.history.heat_colors import heat_lut
from gui.widgets.history.time_axis import TimeAxis, local_and_utc
from gui.widgets.history.value_axis import ValueAxis
from gui.widgets.plot_style import color_axes, quiet_plot

MIN_X_RANGE = 20.0  # seconds: the deepest zoom
GRID_ALPHA = 0.12


class HistoryCharts(pg.GraphicsLayoutWidget):
    range_changed = Signal(float, float)  # the visible time range moved (zoom or pan)
    cursor_moved = Signal(int)  # the user clicked a chart or dragged the cursor line
    hovered = Signal(str)  # the readout under the mouse

    def __init__(self, colors: ThemeColors, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("historyCharts")
        self.colors = colors
        self.data: ViewData | None = None
        self.span: SymbolSpan | None = None
        self.contrast = 1.0
        self.mid_plot = self._add_plot(0, "Mid · best bid/ask")
        self.spread_plot = self._add_plot(1, "Spread (bps)")
        self.imbalance_plot = self._add_plot(2, "Imbalance (top 20 bid share)")
        self.depth_plot = self._add_plot(3, "Depth (top 20, each side)")
        self.heat_plot = self._add_plot(4, "Resting liquidity: percentile per side")
        self.plots = (self.mid_plot, self.spread_plot, self.imbalance_plot, self.depth_plot, self.heat_plot)
        for row, stretch in enumerate((3, 1.4, 1.4, 1.6, 4.2)):
            self.ci.layout.setRowStretchFactor(row, int(stretch * 10))
        for plot in self.plots[:-1]:
            plot.hideAxis("bottom")  # their time grid is the backdrop's (below)
            plot.setXLink(self.heat_plot)
        # Value grid lines at the labelled (major) ticks only: the faint minor lines cost about a sixth of a
        # step's p95. The four charts above the heatmap have their whole grid drawn by the backdrop (below), under
        # their curves in opaque colours; their left axes draw the labels only.
        for plot in self.plots:
            plot.getAxis("left").setStyle(maxTickLevel=0)
        for plot in self.plots[:-1]:
            plot.getAxis("left").setGrid(False)
            plot.getAxis("left").setTickPen(pg.mkPen(None))

        def curve(
            **kw,
        ) -> pg.PlotCurveItem:  # no antialiasing: thousands of points repaint on every zoom step
            return pg.PlotCurveItem(antialias=False, **kw)

        self.mid_band = curve(connect="pairs")
        self.mid_curve = curve(connect="finite")
        self.bid_curve = curve(connect="finite")
        self.ask_curve = curve(connect="finite")
        for item in (self.mid_band, self.bid_curve, self.ask_curve, self.mid_curve):
            self.mid_plot.addItem(item)
        self.spread_curve = curve(connect="finite")
        self.spread_plot.addItem(self.spread_curve)
        self.imbalance_curve = curve(connect="finite")
        self.imbalance_plot.addItem(self.imbalance_curve)
        self.imbalance_plot.addItem(pg.InfiniteLine(0.5, angle=0, pen=pg.mkPen((128, 128, 128, 90))))
        self.depth_bid = curve(connect="finite")
        self.depth_ask = curve(connect="finite")
        self.depth_plot.addItem(self.depth_bid)
        self.depth_plot.addItem(self.depth_ask)
        self.image = pg.ImageItem(axisOrder="col-major")
        self.heat_plot.addItem(self.image)
        self.heat_bid = curve(connect="finite")
        self.heat_ask = curve(connect="finite")
        self.heat_plot.addItem(self.heat_bid)
        self.heat_plot.addItem(self.heat_ask)
        self.cross_v = pg.InfiniteLine(angle=90, movable=False)
        self.cross_h = pg.InfiniteLine(angle=0, movable=False)
        for line in (self.cross_v, self.cross_h):
            line.hide()
            self.heat_plot.addItem(line, ignoreBounds=True)

        # Holes and gaps shaded, and the grid of the four charts above the heatmap: one item under them all.
        self.backdrop = ChartBackdrop(self.plots, self.plots[:-1], self._time_ticks)
        self.scene().addItem(self.backdrop)
        self.shades = (self.backdrop,)
        for plot in self.plots:
            plot.geometryChanged.connect(self.backdrop.relayout)
            plot.vb.geometryChanged.connect(self.backdrop.relayout)
        self.cursors: list[pg.InfiniteLine] = []
        for plot in self.plots:
            line = pg.InfiniteLine(angle=90, movable=True)
            line.hide()
            line.sigDragged.connect(self._on_cursor_dragged)
            plot.addItem(line, ignoreBounds=True)
            self.cursors.append(line)
        self.cursor: int | None = None
        self.heat_plot.vb.sigXRangeChanged.connect(self._on_x_range)
        self.scene().sigMouseClicked.connect(self._on_clicked)
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.set_colors(colors)

    def _add_plot(self, row: int, title: str) -> pg.PlotItem:
        plot = self.addPlot(row=row, col=0, axisItems={"bottom": TimeAxis(), "left": ValueAxis()})
        quiet_plot(plot, grid_alpha=GRID_ALPHA, left_width=72)
        plot.setMouseEnabled(x=True, y=False)  # wheel zooms and drag pans time; prices follow the data
        plot.enableAutoRange(y=True)
        plot.setAutoVisible(y=True)
        plot.setTitle(title, size="8pt")
        plot.titleLabel.setMaximumHeight(16)
        return plot

    # --- colours ---------------------------------------------------------------------------------------

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        self.setBackground(colors.background)
        self.backdrop.set_colors(qcolor(colors.background), qcolor(colors.grid), int(GRID_ALPHA * 255))
        self.heat_plot.getAxis("bottom").opaque_over = qcolor(colors.background)
        for plot in self.plots:
            color_axes(plot, colors)
            plot.titleLabel.setText(plot.titleLabel.text, color=colors.muted, size="8pt")
        bid, ask = qcolor(colors.bid), qcolor(colors.ask)
        band = qcolor(colors.mid)
        band.setAlpha(70)
        self.mid_band.setPen(pg.mkPen(band, width=1))
        self.mid_curve.setPen(pg.mkPen(colors.mid, width=1.3))
        self.bid_curve.setPen(pg.mkPen(bid, width=0.8))
        self.ask_curve.setPen(pg.mkPen(ask, width=0.8))
        self.spread_curve.setPen(pg.mkPen(colors.spread, width=1.0))
        self.imbalance_curve.setPen(pg.mkPen(colors.mid, width=1.0))
        self.depth_bid.setPen(pg.mkPen(bid, width=1.0))
        self.depth_ask.setPen(pg.mkPen(ask, width=1.0))
        self.heat_bid.setPen(pg.mkPen(colors.foreground, width=1.0))
        self.heat_ask.setPen(pg.mkPen(colors.foreground, width=1.0, style=pg.QtCore.Qt.PenStyle.DashLine))
        for line in self.cursors:
            line.setPen(pg.mkPen(colors.foreground, width=1))
            line.setHoverPen(pg.mkPen(colors.foreground, width=3))
        for line in (self.cross_v, self.cross_h):
            line.setPen(pg.mkPen(colors.muted, width=1, style=pg.QtCore.Qt.PenStyle.DotLine))
        self.set_contrast(self.contrast)

    def set_contrast(self, contrast: float) -> np.ndarray:
        """Recolour the heatmap in place (the lookup table only; no query, no new image)."""
        self.contrast = contrast
        lut = heat_lut(self.colors, contrast)
        self.image.setLookupTable(lut)
        return lut

    # --- the span and the visible range -----------------------------------------------------------------

    def set_span(self, span: SymbolSpan) -> None:
        self.span = span
        pad = max(60.0, (span.last - span.first) * 0.02)
        for plot in self.plots:
            plot.vb.setLimits(xMin=span.first - pad, xMax=span.last + pad, minXRange=MIN_X_RANGE)
        self._shade()

    def set_x_range(self, start: float, end: float) -> None:
        self.heat_plot.setXRange(start, end, padding=0)

    def x_range(self) -> tuple[float, float]:
        (a, b), _ = self.heat_plot.vb.viewRange()
        return a, b

    def _on_x_range(self, _vb, rng) -> None:
        self.backdrop.update()  # its shading and time grid follow the view
        self.range_changed.emit(float(rng[0]), float(rng[1]))

    def _shade(self) -> None:
        """The span's holes and gap runs, all of them: the backdrop shades the pixels of the view they cover."""
        if self.span is not None:
            self.backdrop.set_runs(self.span.holes, self.span.gap_runs)

    def _time_ticks(self) -> list[tuple[list[float], float]]:
        """The heatmap's time axis's ticks, each level with how opaque pyqtgraph draws its grid lines (0..1 of
        the grid's alpha), for the backdrop's time grid (the linked axes share them: TimeAxis)."""
        axis = self.heat_plot.getAxis("bottom")
        size = axis.geometry().width()
        levels = axis.tickValues(*axis.range, size)
        return [
            (ticks, min(1.0, 0.05 * size / (len(ticks) + 1)) / (i + 1)) for i, (_, ticks) in enumerate(levels)
        ]

    # --- drawing a view ----------------------------------------------------------------------------------

    def set_view(self, data: ViewData) -> None:
        self.data = data
        t = data.t + (data.width / 2 if data.width > 1 else 0.0)  # a bucket's point sits in its middle
        both = np.isfinite(data.mid_min) & np.isfinite(data.mid_max)
        if data.width > 1 and both.any():
            self.mid_band.setData(np.repeat(t[both], 2), np.column_stack([data.mid_min[both], data.mid_max[both]]).ravel(),
                                  connect="pairs", skipFiniteCheck=True)  # fmt: skip
            self.mid_band.show()
        else:
            self.mid_band.hide()
        for item, y in (
            (self.mid_curve, data.mid),
            (self.bid_curve, data.best_bid),
            (self.ask_curve, data.best_ask),
            (self.spread_curve, data.spread_bps),
            (self.imbalance_curve, data.imbalance),
            (self.depth_bid, data.bid_volume),
            (self.depth_ask, data.ask_volume),
            (self.heat_bid, data.best_bid),
            (self.heat_ask, data.best_ask),
        ):
            item.setData(t, y, connect="finite", skipFiniteCheck=True)
        self._draw_image(data)

    def _draw_image(self, data: ViewData) -> None:
        if not data.heat_rank.size or not (data.heat_sampled >= 0).any():
            self.image.clear()
            return
        self.image.setImage(data.heat_rank, autoLevels=False, levels=(-1.0, 1.0))
        t0 = float(data.heat_t[0])
        width = float(len(data.heat_t) * data.heat_step)
        p0, p1 = float(data.heat_edges[0]), float(data.heat_edges[-1])
        self.image.setRect(QRectF(t0, p0, width, p1 - p0))
        # The price axis follows the book where the columns have one, not the whole bin range.
        rows = np.flatnonzero((data.heat_bid + data.heat_ask).any(axis=0))
        if len(rows):
            lo = data.heat_edges[rows[0]]
            hi = data.heat_edges[rows[-1] + 1]
            self.heat_plot.setYRange(lo, hi, padding=0.02)

    # --- the cursor ----------------------------------------------------------------------------------------

    def set_cursor(self, ts: int | None) -> None:
        self.cursor = ts
        for line in self.cursors:
            if ts is None:
                line.hide()
            else:
                line.setValue(ts)
                line.show()

    def _on_cursor_dragged(self, line: pg.InfiniteLine) -> None:
        ts = round(line.value())
        if ts != self.cursor:
            self.set_cursor(ts)
            self.cursor_moved.emit(ts)

    def _on_clicked(self, event) -> None:
        if self.data is None or event.button() != pg.QtCore.Qt.MouseButton.LeftButton:
            return
        for plot in self.plots:
            if plot.vb.sceneBoundingRect().contains(event.scenePos()):
                ts = round(plot.vb.mapSceneToView(event.scenePos()).x())
                self.set_cursor(ts)
                self.cursor_moved.emit(ts)
                return

    # --- readout -----------------------------------------------------------------------------------------

    def _on_mouse_moved(self, pos: QPointF) -> None:
        for plot in self.plots:
            if plot.vb.sceneBoundingRect().contains(pos):
                point = plot.vb.mapSceneToView(pos)
                text = self.readout(point.x(), point.y() if plot is self.heat_plot else None)
                self.cross_v.setVisible(plot is self.heat_plot)
                self.cross_h.setVisible(plot is self.heat_plot)
                if plot is self.heat_plot:
                    self.cross_v.setValue(point.x())
                    self.cross_h.setValue(point.y())
                self.hovered.emit(text)
                return

    def readout(self, x: float, price: float | None = None) -> str:
        """Time (local and UTC), the gap or hole under it, and over the heatmap the price bin, size and side."""
        ts = math.floor(x)
        parts = [local_and_utc(ts)]
        if self.span is not None:
            gap = _run_at(self.span.gap_runs, ts)
            if gap is not None:
                a, b, code = (int(v) for v in self.span.gap_runs[gap])
                parts.append(f"gap {b - a + 1:,} s: {self.span.reasons[code]}")
            elif _run_at(self.span.holes, ts) is not None:
                parts.append("not recorded (nothing was recording)")
        data = self.data
        if price is not None and data is not None and data.heat_rank.size:
            col = int((ts - data.heat_t[0]) // data.heat_step) if len(data.heat_t) else -1
            row = int(np.searchsorted(data.heat_edges, price, side="right")) - 1
            if 0 <= col < data.heat_rank.shape[0] and 0 <= row < data.heat_rank.shape[1]:
                lo, hi = data.heat_edges[row], data.heat_edges[row + 1]
                decimals = max(0, -math.floor(math.log10(data.tick))) if data.tick > 0 else 2
                bid, ask = data.heat_bid[col, row], data.heat_ask[col, row]
                rank = abs(float(data.heat_rank[col, row]))
                side = "ask" if ask > bid else "bid" if bid > 0 else None
                where = f"{lo:,.{decimals}f}–{hi:,.{decimals}f}"
                if side is None:
                    parts.append(f"{where}: nothing resting")
                else:
                    size = ask if side == "ask" else bid
                    parts.append(f"{where}: {side} {fmt_qty(size)} (p{rank * 100:.0f})")
        return " · ".join(parts)


def _run_at(runs: np.ndarray, ts: int) -> int | None:
    if not len(runs):
        return None
    i = int(np.searchsorted(runs[:, 0], ts, side="right")) - 1
    return i if i >= 0 and runs[i, 1] >= ts else None
