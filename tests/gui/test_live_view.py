"""LadderModel first, then the ladder view, the header, the depth chart and the sparkline."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.analysis.l1 import compute_l1_metrics
from gui.models.ladder import BAR_ROLE, SIDE_ROLE, TOUCH_ROLE, LadderColumn, LadderModel, Side
from gui.values import DisplayState, LiveFrame, SeriesView
from gui.widgets.depth_chart import DepthChart, cumulative_steps
from gui.widgets.header import BookHeader
from gui.widgets.ladder import LadderView
from gui.widgets.live_view import LiveView
from gui.widgets.sparkline import Sparkline

BIDS = [("100.50000000", "2.00000000"), ("100.40000000", "1.00000000"), ("100.00000000", "4.50000000")]
ASKS = [("100.60000000", "1.50000000"), ("100.70000000", "3.00000000")]
D = Qt.ItemDataRole.DisplayRole


def frame(symbol="BTCUSDT", bids=BIDS, asks=ASKS) -> LiveFrame:
    metrics = compute_l1_metrics(symbol, bids, asks, 1_737_158_400_000, 42)
    return LiveFrame(symbol, DisplayState.LIVE, tuple(bids), tuple(asks), metrics, 42, 1_737_158_400_000)


def test_ladder_model_passes_qt_model_tester(qtmodeltester):
    model = LadderModel()
    model.set_levels("BTCUSDT", BIDS, ASKS)
    qtmodeltester.check(model)


def test_asks_above_bids_with_cumulative_sizes_and_trimmed_decimals():
    model = LadderModel()
    model.set_levels("BTCUSDT", BIDS, ASKS)
    prices = [model.data(model.index(r, LadderColumn.PRICE), D) for r in range(model.rowCount())]
    assert prices == ["100.7", "100.6", "100.5", "100.4", "100.0"]
    sides = [model.data(model.index(r, 0), SIDE_ROLE) for r in range(model.rowCount())]
    assert sides == ["ask", "ask", "bid", "bid", "bid"]
    assert model.best_bid_row == 2
    # Sizes sit in their own side's column only.
    assert model.data(model.index(0, LadderColumn.ASK), D) == "3.0"
    assert model.data(model.index(0, LadderColumn.BID), D) == ""
    assert model.data(model.index(2, LadderColumn.BID), D) == "2.0"
    # Cumulative from the touch outwards, on each side.
    cum = [model.data(model.index(r, LadderColumn.CUMULATIVE), D) for r in range(model.rowCount())]
    assert cum == ["4.5", "1.5", "2.0", "3.0", "7.5"]
    # Bars are fractions of the largest visible size / cumulative size.
    assert model.data(model.index(4, LadderColumn.BID), BAR_ROLE) == pytest.approx(1.0)
    assert model.data(model.index(1, LadderColumn.ASK), BAR_ROLE) == pytest.approx(1.5 / 4.5)
    assert model.data(model.index(4, LadderColumn.CUMULATIVE), BAR_ROLE) == pytest.approx(1.0)
    assert model.data(model.index(2, 0), TOUCH_ROLE) is True
    assert model.data(model.index(3, 0), TOUCH_ROLE) is False


def test_depth_limits_rows_and_same_shape_updates_do_not_reset(qtbot):
    model = LadderModel(depth=2)
    model.set_levels("BTCUSDT", BIDS, ASKS)
    assert model.rowCount() == 4
    with qtbot.assertNotEmitted(model.modelReset), qtbot.waitSignal(model.dataChanged):
        model.set_levels("BTCUSDT", [("100.5", "9"), ("100.4", "1")], ASKS)
    assert model.data(model.index(2, LadderColumn.BID), D) == "9.0"
    with qtbot.waitSignal(model.modelReset):
        model.set_levels("ETHUSDT", BIDS, ASKS)  # another symbol: a reset (the view recentres)


def test_ladder_view_paints_and_centres(qtbot, dark):
    model = LadderModel()
    view = LadderView(model, dark)
    qtbot.addWidget(view)
    view.resize(360, 200)
    view.show()
    bids = [(f"{100 - i * 0.1:.2f}", "1.0") for i in range(20)]
    asks = [(f"{100.1 + i * 0.1:.2f}", "1.0") for i in range(20)]
    model.set_levels("BTCUSDT", bids, asks)
    view.center_on_touch()
    assert view.verticalScrollBar().value() > 0
    image = view.grab().toImage()
    assert not image.isNull()


def test_cumulative_steps():
    x, y = cumulative_steps(BIDS)
    assert x.tolist() == [100.5, 100.5, 100.4, 100.4, 100.0, 100.0]
    assert y.tolist() == [0.0, 2.0, 2.0, 3.0, 3.0, 7.5]
    x, y = cumulative_steps([])
    assert x.size == 0


def test_depth_chart_draws_both_sides(qtbot, dark):
    chart = DepthChart(dark)
    qtbot.addWidget(chart)
    chart.set_levels(BIDS, ASKS)
    bx, by = chart._bids.getData()
    ax, ay = chart._asks.getData()
    assert bx[0] == 100.5 and ax[0] == 100.6
    assert by.max() > 0 and ay.max() > 0
    assert "waiting" not in chart.getPlotItem().titleLabel.text
    chart.set_levels([], ASKS)  # one side empty: nothing to draw, no error, and the title says why
    assert chart._bids.getData()[0] is None or len(chart._bids.getData()[0]) == 0
    assert "waiting for the order book" in chart.getPlotItem().titleLabel.text


def test_header_shows_top_of_book_metrics(qtbot, dark):
    header = BookHeader(dark)
    qtbot.addWidget(header)
    header.set_frame(frame())
    assert header.title.text() == "BTCUSDT · spot"
    assert header.badge.text() == "live"
    assert header.metrics["Best bid"].value.text() == "100.50"
    assert header.metrics["Best ask"].value.text() == "100.60"
    assert header.metrics["Spread"].value.text() == "0.10"
    assert "bps" in header.metrics["Spread"].detail.text()
    assert header.metrics["Mid"].value.text() == "100.550"
    # Imbalance: top-20 bid volume / ask volume = 7.5 / 4.5.
    assert header.metrics["Imbalance"].value.text() == f"{7.5 / 4.5:.2f}"
    header.show_symbol("ETHUSDT")
    assert header.metrics["Mid"].value.text() == "—"


def test_sparkline_plots_the_series(qtbot, dark):
    spark = Sparkline(dark)
    qtbot.addWidget(spark)
    t = np.arange(1_737_158_400, 1_737_158_460, 0.5)
    spark.set_series(SeriesView("BTCUSDT", t, np.full(t.size, 100.0), np.full(t.size, 1.5)))
    x, _y = spark._mid.getData()
    assert len(x) == t.size
    assert "no samples" not in spark.mid_plot.titleLabel.text
    spark.set_series(SeriesView("BTCUSDT"))
    assert spark._mid.getData()[0] is None or len(spark._mid.getData()[0]) == 0
    assert "no samples yet" in spark.mid_plot.titleLabel.text


def test_live_view_ignores_frames_of_other_symbols(qtbot, dark):
    model = LadderModel()
    view = LiveView(model, dark)
    qtbot.addWidget(view)
    view.show_symbol("BTCUSDT")
    view.set_frame(frame("ETHUSDT"))
    assert model.rowCount() == 0
    view.set_frame(frame("BTCUSDT"))
    assert model.rowCount() == 5
    view.set_depth(frame("ETHUSDT"))
    assert view.depth_chart._bids.getData()[0] is None
    view.set_depth(frame("BTCUSDT"))
    assert len(view.depth_chart._bids.getData()[0]) > 0
    assert model.data(model.index(2, 0), SIDE_ROLE) == Side.BID
    view.show_symbol(None)
    assert model.rowCount() == 0
