"""The history tab: what was recorded for one symbol over a range, and the recorded ladder at any second.

Top: symbol, range and a coverage strip (stored seconds green, missing red). Left: mid and spread (bps) over
the range, and a liquidity heatmap (resting quantity per price bin and second), time-linked, with a cursor line
at the selected second. Right: the recorded top-20 ladder at that second, a slider over the range and replay
at 1x, 10x or 60x. The panel only asks (signals) and draws what it is given (gui.values); the app runs the
queries off the event loop.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui.formatting import fmt_datetime, fmt_percent
from gui.models.ladder import LadderModel
from gui.values import RecordedLadder, RecordedRange, ThemeColors
from gui.widgets.ladder import LadderView
from gui.widgets.plot_style import color_axes, quiet_plot

RANGES = (("Last 15 min", 900), ("Last hour", 3600), ("Last 6 h", 6 * 3600), ("Last 24 h", 86_400))
SPEEDS = (("1x", 1), ("10x", 10), ("60x", 60))
REPLAY_HZ = 10  # replay steps a second; at 60x each step moves 6 s


class CoverageStrip(QWidget):
    """Stored seconds of the range in the bid colour, missing ones in the ask colour."""

    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("coverageStrip")
        self.setFixedHeight(10)
        self.colors = colors
        self.span: tuple[int, int] | None = None
        self.missing: tuple[tuple[int, int], ...] = ()

    def set_coverage(self, start: int, end: int, missing: tuple[tuple[int, int], ...]) -> None:
        self.span, self.missing = (start, end), missing
        self.update()

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        rect = QRectF(self.rect())
        if self.span is None:
            painter.fillRect(rect, QColor(self.colors.grid))
            return
        start, end = self.span
        seconds = max(end - start + 1, 1)
        painter.fillRect(rect, QColor(self.colors.bid))
        for a, b in self.missing:  # at least a pixel each, so a single missing second still shows
            x = rect.width() * (a - start) / seconds
            w = max(rect.width() * (b - a + 1) / seconds, 1.0)
            painter.fillRect(QRectF(x, 0, w, rect.height()), QColor(self.colors.ask))


class HistoryPanel(QWidget):
    load_requested = Signal(str, int)  # symbol, range in seconds (ending now)
    ladder_requested = Signal(str, int)  # symbol, second

    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyPanel")
        self.colors = colors
        self.data: RecordedRange | None = None
        self.second: int | None = None

        self.symbol_box = QComboBox()
        self.symbol_box.setObjectName("historySymbol")
        self.symbol_box.setMinimumWidth(120)
        self.range_box = QComboBox()
        for label, seconds in RANGES:
            self.range_box.addItem(label, seconds)
        self.range_box.setCurrentIndex(1)
        self.load_button = QPushButton("Load")
        self.summary = QLabel("Pick a recorded symbol and a range.")
        self.summary.setObjectName("historySummary")
        # A long summary must not widen the window: it is cut at the panel's edge (the tooltip has it all).
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.addWidget(QLabel("Symbol"))
        top.addWidget(self.symbol_box)
        top.addWidget(self.range_box)
        top.addWidget(self.load_button)
        top.addStretch(1)
        self.coverage = CoverageStrip(colors)

        self.charts = pg.GraphicsLayoutWidget()
        self.charts.setObjectName("historyCharts")
        self.mid_plot = self.charts.addPlot(row=0, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.spread_plot = self.charts.addPlot(row=1, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self.heat_plot = self.charts.addPlot(row=2, col=0, axisItems={"bottom": pg.DateAxisItem()})
        self._plots = (self.mid_plot, self.spread_plot, self.heat_plot)
        for plot in self._plots:
            quiet_plot(plot, grid_alpha=0.12, left_width=70)
            if plot is not self.mid_plot:
                plot.setXLink(self.mid_plot)
        for plot in (self.mid_plot, self.spread_plot):  # the heatmap's time axis labels all three
            plot.getAxis("bottom").setStyle(showValues=False)
            plot.getAxis("bottom").setHeight(4)
        for row, stretch in enumerate((3, 2, 4)):
            self.charts.ci.layout.setRowStretchFactor(row, stretch)
        self._mid = self.mid_plot.plot()
        self._spread = self.spread_plot.plot()
        self._heat = pg.ImageItem()
        self.heat_plot.addItem(self._heat)
        self._cursors = [pg.InfiniteLine(angle=90, movable=False) for _ in self._plots]
        for plot, line in zip(self._plots, self._cursors, strict=True):
            plot.addItem(line)
            line.hide()
        self.mid_plot.scene().sigMouseClicked.connect(self._on_chart_clicked)

        self.ladder_model = LadderModel()
        self.ladder = LadderView(self.ladder_model, colors)
        self.ladder_title = QLabel("Recorded ladder")
        self.ladder_title.setObjectName("historyLadderTitle")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("historySlider")
        self.slider.setEnabled(False)
        self.play_button = QPushButton("Play")
        self.play_button.setEnabled(False)
        self.speed_box = QComboBox()
        for label, speed in SPEEDS:
            self.speed_box.addItem(label, speed)
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.speed_box)
        controls.addWidget(self.slider, 1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.ladder_title)
        right_layout.addWidget(self.ladder, 1)
        right_layout.addLayout(controls)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("historySplitter")
        self.splitter.addWidget(self.charts)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([540, 360])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.coverage)
        layout.addWidget(self.splitter, 1)

        self._replay = QTimer(self)
        self._replay.setInterval(1000 // REPLAY_HZ)
        self._replay.timeout.connect(self._replay_step)
        self._replay_carry = 0.0
        self.load_button.clicked.connect(self.request_load)
        self.slider.valueChanged.connect(self._on_slider)
        self.play_button.clicked.connect(self.toggle_replay)
        self.set_colors(colors)

    # --- input -----------------------------------------------------------------------------------------

    def set_symbols(self, symbols: list[str]) -> None:
        """The symbols the database holds; keeps the current choice when it is still there."""
        current = self.symbol_box.currentText()
        self.symbol_box.blockSignals(True)
        self.symbol_box.clear()
        self.symbol_box.addItems(symbols)
        if current in symbols:
            self.symbol_box.setCurrentText(current)
        self.symbol_box.blockSignals(False)
        if not symbols:
            self.summary.setText("Nothing recorded yet: switch recording on for a symbol in the table.")

    def request_load(self) -> None:
        symbol = self.symbol_box.currentText()
        if not symbol:
            self.summary.setText("Nothing recorded yet: switch recording on for a symbol in the table.")
            return
        self.summary.setText(f"Loading {symbol}…")
        self.load_requested.emit(symbol, int(self.range_box.currentData()))

    # --- output ----------------------------------------------------------------------------------------

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        self.coverage.colors = colors
        self.charts.setBackground(colors.background)
        for plot in self._plots:
            color_axes(plot, colors)
        self.mid_plot.setTitle("Mid", color=colors.muted, size="9pt")
        self.spread_plot.setTitle("Spread (bps)", color=colors.muted, size="9pt")
        self._spread.setPen(pg.mkPen(colors.spread, width=1.0))
        self.heat_plot.setTitle("Resting liquidity (price × time)", color=colors.muted, size="9pt")
        self._mid.setPen(pg.mkPen(colors.mid, width=1.2))
        self._heat.setColorMap(pg.ColorMap([0.0, 1.0], [QColor(colors.background), QColor(colors.mid)]))
        for line in self._cursors:
            line.setPen(pg.mkPen(colors.ask, width=1))
        self.ladder.set_colors(colors)
        self.coverage.update()

    def set_range(self, data: RecordedRange) -> None:
        self.stop_replay()
        self.data = data
        span = data.end - data.start + 1
        self.summary.setText(
            f"{data.symbol} · {fmt_datetime(data.start)} → {fmt_datetime(data.end)} · "
            f"{data.stored:,} of {span:,} s stored ({fmt_percent(data.completeness)}) · "
            f"{len(data.missing):,} missing runs · {data.gaps:,} gap records"
        )
        self.summary.setToolTip(self.summary.text())
        self.coverage.set_coverage(data.start, data.end, data.missing)
        self._mid.setData(data.t, data.mid, connect="finite", skipFiniteCheck=False)
        self._spread.setData(data.t, data.spread_bps, connect="finite", skipFiniteCheck=False)
        self._draw_heatmap(data)
        self.mid_plot.setXRange(data.start, data.end, padding=0)
        self.slider.blockSignals(True)
        self.slider.setRange(data.start, data.end)
        self.slider.setValue(data.end)
        self.slider.blockSignals(False)
        has_data = data.stored > 0
        self.slider.setEnabled(has_data)
        self.play_button.setEnabled(has_data)
        last = int(data.t[-1]) if len(data.t) else data.end
        self.select_second(last)

    def _draw_heatmap(self, data: RecordedRange) -> None:
        if data.heat.size == 0 or len(data.heat_t) < 2:
            self._heat.clear()
            return
        # One image row per sampled second; ImageItem wants [x, y] = [time, price].
        image = np.log1p(np.nan_to_num(data.heat, nan=0.0))
        self._heat.setImage(image, autoLevels=True)
        t0, t1 = float(data.heat_t[0]), float(data.heat_t[-1])
        step = (t1 - t0) / (len(data.heat_t) - 1)
        p0, p1 = float(data.heat_edges[0]), float(data.heat_edges[-1])
        self._heat.setRect(QRectF(t0, p0, (t1 - t0) + step, p1 - p0))
        self.heat_plot.setYRange(p0, p1, padding=0)

    def set_ladder(self, ladder: RecordedLadder) -> None:
        if self.data is None or ladder.symbol != self.data.symbol or ladder.timestamp != self.second:
            return  # an answer to an older request
        if ladder.bids is None or ladder.asks is None:
            self.ladder_title.setText(f"{fmt_datetime(ladder.timestamp)} · nothing recorded at this second")
            self.ladder_model.clear()
            return
        self.ladder_title.setText(
            f"{ladder.symbol} at {fmt_datetime(ladder.timestamp)} · update id {ladder.update_id:,}"
        )
        self.ladder_model.set_levels(ladder.symbol, ladder.bids, ladder.asks)

    # --- the selected second, and replay ---------------------------------------------------------------

    def select_second(self, ts: int) -> None:
        if self.data is None:
            return
        ts = min(max(int(ts), self.data.start), self.data.end)
        self.second = ts
        for line in self._cursors:
            line.setValue(ts)
            line.show()
        if self.slider.value() != ts:
            self.slider.blockSignals(True)
            self.slider.setValue(ts)
            self.slider.blockSignals(False)
        self.ladder_requested.emit(self.data.symbol, ts)

    def _on_slider(self, value: int) -> None:
        self.select_second(value)

    def _on_chart_clicked(self, event) -> None:
        if self.data is None:
            return
        point = self.mid_plot.vb.mapSceneToView(event.scenePos())
        self.select_second(round(point.x()))

    def toggle_replay(self) -> None:
        if self._replay.isActive():
            self.stop_replay()
            return
        if self.data is None or self.second is None:
            return
        if self.second >= self.data.end:
            self.select_second(self.data.start)  # replay from the start of the range
        self._replay_carry = 0.0
        self._replay.start()
        self.play_button.setText("Pause")

    def stop_replay(self) -> None:
        self._replay.stop()
        self.play_button.setText("Play")

    def _replay_step(self) -> None:
        if self.data is None or self.second is None:
            self.stop_replay()
            return
        self._replay_carry += int(self.speed_box.currentData()) / REPLAY_HZ
        step = int(self._replay_carry)
        if step == 0:
            return
        self._replay_carry -= step
        self.select_second(self.second + step)
        if self.second >= self.data.end:
            self.stop_replay()
