"""The live view of the selected symbol: header on top, ladder left, depth chart and sparkline right."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from gui.models.ladder import LadderModel
from gui.values import LiveFrame, SeriesView, ThemeColors
from gui.widgets.depth_chart import DepthChart
from gui.widgets.header import BookHeader
from gui.widgets.ladder import LadderView
from gui.widgets.sparkline import Sparkline


class LiveView(QWidget):
    def __init__(self, ladder_model: LadderModel, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("liveView")
        self.ladder_model = ladder_model
        self.symbol: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 10, 10, 8)
        layout.setSpacing(8)

        self.header = BookHeader(colors)
        layout.addWidget(self.header)

        self.stack = QStackedWidget()
        self.placeholder = QLabel("Add a symbol on the left, then select it to watch its book.")
        self.placeholder.setObjectName("hint")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack.addWidget(self.placeholder)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("liveSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.ladder = LadderView(ladder_model, colors)
        self.ladder.setMinimumWidth(300)
        self.charts = QSplitter(Qt.Orientation.Vertical)
        self.charts.setObjectName("chartSplitter")
        self.charts.setChildrenCollapsible(False)
        self.depth_chart = DepthChart(colors)
        self.sparkline = Sparkline(colors)
        self.charts.addWidget(_card(self.depth_chart))
        self.charts.addWidget(_card(self.sparkline))
        self.charts.setSizes([400, 300])
        self.splitter.addWidget(self.ladder)
        self.splitter.addWidget(self.charts)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([380, 520])
        self.stack.addWidget(self.splitter)
        layout.addWidget(self.stack, 1)

    def set_colors(self, colors: ThemeColors) -> None:
        self.header.set_colors(colors)
        self.ladder.set_colors(colors)
        self.depth_chart.set_colors(colors)
        self.sparkline.set_colors(colors)

    def show_symbol(self, symbol: str | None) -> None:
        """Switch to another symbol (or none); its data arrives with the next frame."""
        self.symbol = symbol
        self.header.show_symbol(symbol)
        self.ladder_model.clear()
        self.depth_chart.clear_levels()
        self.sparkline.set_series(SeriesView(symbol or ""))
        self.stack.setCurrentIndex(1 if symbol else 0)

    def set_frame(self, frame: LiveFrame) -> None:
        if frame.symbol != self.symbol:
            return
        self.header.set_frame(frame)
        self.ladder_model.set_levels(frame.symbol, frame.bids, frame.asks)

    def set_depth(self, frame: LiveFrame) -> None:
        """The depth chart: its shape changes slowly to the eye, so the bridge sends it twice a second."""
        if frame.symbol == self.symbol:
            self.depth_chart.set_levels(frame.bids, frame.asks)

    def set_series(self, series: SeriesView) -> None:
        if series.symbol == self.symbol:
            self.sparkline.set_series(series)


def _card(widget: QWidget) -> QFrame:
    frame = QFrame()
    frame.setObjectName("card")
    layout = QVBoxLayout(frame)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addWidget(widget)
    return frame
