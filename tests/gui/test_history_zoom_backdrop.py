"""The charts' backdrop (gui/widgets/history/backdrop.py), drawn under all five charts in opaque colours: the
holes and gaps shaded in the pixels a run covers, the time grid of the four charts above the heatmap at the time
axis's ticks, and their value grid at the ticks their labels are drawn at (what pyqtgraph would pick)."""

from __future__ import annotations

import itertools

import numpy as np
import pyqtgraph as pg
import pytest
from PySide6.QtGui import QColor, QImage

from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage
from gui.widgets.colors import qcolor
from gui.widgets.history.backdrop import GAP_RGBA, HOLE_RGBA, SHADE_STEPS, over, pixel_coverage
from tests.core.analysis.recordings import START, write_recording
from tests.gui.test_history_browser import unwire, wired_panel

SPAN = 2 * 3600
HOLE = (1800, 2399)  # ten minutes nothing recorded
GAP = (4200, 4499)  # five minutes the recorder could not store


@pytest.fixture
def panel(qtbot, dark, tmp_path):
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as db:
        write_recording(db, "BTCUSDT", START, SPAN, holes=[HOLE], gaps={GAP: GapReason.DISCONNECTED})
        panel = wired_panel(qtbot, dark, db)
        panel.show()
        panel.choose_symbol("BTCUSDT")
        panel.charts.set_x_range(START, START + SPAN - 1)
        panel.request_view_now()
        panel.charts.repaint()
        yield panel
        unwire(panel)


def _pixels(panel) -> tuple[QImage, float, float]:
    charts = panel.charts
    image = charts.grab().toImage()
    frame = charts.spread_plot.vb.sceneBoundingRect()
    (a, b), _ = charts.spread_plot.vb.viewRange()
    return image, frame.left(), frame.width() / (b - a)


def test_holes_and_gaps_are_shaded_over_all_the_charts_in_the_colours_they_had(panel, dark):
    image, left, scale = _pixels(panel)
    background = qcolor(dark.background)
    hole, gap = over(HOLE_RGBA, background), over(GAP_RGBA, over(HOLE_RGBA, background))
    charts = panel.charts
    for plot in charts.plots[:-1]:  # the heatmap's image covers it in the fifth
        frame = plot.vb.sceneBoundingRect()
        hole_x = int(left + (START + (HOLE[0] + HOLE[1]) / 2 - charts.x_range()[0]) * scale)
        gap_x = int(left + (START + (GAP[0] + GAP[1]) / 2 - charts.x_range()[0]) * scale)
        for x, color in ((hole_x, hole), (gap_x, gap)):  # most of the column (grid lines and curves cross it)
            column = [image.pixelColor(x, y) for y in range(int(frame.top()) + 1, int(frame.bottom()) - 1)]
            assert column.count(color) > len(column) / 2 and background not in column
    # Between the charts too: one band over all of them.
    below_mid, above_spread = (
        charts.mid_plot.vb.sceneBoundingRect().bottom(),
        charts.spread_plot.vb.sceneBoundingRect().top(),
    )
    assert image.pixelColor(hole_x, int((below_mid + above_spread) / 2)) == hole


def test_the_time_grid_is_drawn_at_the_time_axis_ticks_and_nowhere_else(panel, dark):
    image, left, scale = _pixels(panel)
    charts = panel.charts
    lo, hi = charts.x_range()
    axis = charts.heat_plot.getAxis("bottom")
    own = pg.DateAxisItem.tickValues(axis, lo, hi, axis.geometry().width())  # pyqtgraph's own, not shared
    ticks = {int(left + (t - lo) * scale) for _, level in own for t in level if lo <= t <= hi}
    assert ticks
    frame = charts.depth_plot.vb.sceneBoundingRect()
    y = int(frame.top() + 2)
    background = qcolor(dark.background)
    row = {x: image.pixelColor(x, y) for x in range(int(frame.left()) + 2, int(frame.right()) - 2)}
    # Outside the shaded runs, a column is either the background or a grid line: grid lines only at ticks.
    hole = range(
        int(left + (START + HOLE[0] - lo) * scale) - 1, int(left + (START + HOLE[1] + 1 - lo) * scale) + 2
    )
    gap = range(
        int(left + (START + GAP[0] - lo) * scale) - 1, int(left + (START + GAP[1] + 1 - lo) * scale) + 2
    )
    lines = {x for x, c in row.items() if c != background and x not in hole and x not in gap}
    assert lines and lines <= {t + d for t in ticks for d in (-1, 0, 1)}
    assert all(QColor(row[x]).alpha() == 255 for x in lines)


def test_the_value_grid_and_labels_use_the_ticks_pyqtgraph_picks(panel):
    for plot in panel.charts.plots:
        axis = plot.getAxis("left")
        lo, hi = axis.range
        size = axis.geometry().height()
        assert axis.tickValues(lo, hi, size) == pg.AxisItem.tickValues(axis, lo, hi, size)
    for plot in panel.charts.plots[:-1]:  # the backdrop draws these four's grid: the axes draw labels only
        assert plot.getAxis("left").grid is False
        values, fraction = plot.getAxis("left").major_ticks(plot.vb.height())
        assert values and 0 < fraction <= 1


def test_pixel_coverage_is_the_share_of_each_columns_seconds_the_runs_cover():
    rng = np.random.default_rng(7)
    for _ in range(200):
        covered = rng.random(600) < rng.choice([0.01, 0.3, 0.9])  # each second of [1000, 1600): in a run or not
        edges = np.diff(np.r_[0, covered.astype(int), 0])
        runs = np.column_stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1]) + 1000
        a = 1000 + rng.integers(0, 300) + rng.random()
        b = a + 1 + rng.integers(0, 300) + rng.random()
        width = int(rng.integers(1, 120))
        # By brute force: each column's span of seconds, and how much of it lies in covered seconds.
        bounds = a + (b - a) * np.arange(width + 1) / width
        expected = []
        for lo, hi in itertools.pairwise(bounds):
            seconds = np.arange(np.floor(lo), np.ceil(hi))
            overlap = np.minimum(seconds + 1, hi) - np.maximum(seconds, lo)
            inside = (seconds >= 1000) & (seconds < 1600)
            hit = np.zeros(len(seconds), bool)
            hit[inside] = covered[(seconds[inside] - 1000).astype(int)]
            expected.append(overlap[hit].sum() / (hi - lo))
        np.testing.assert_allclose(pixel_coverage(runs, a, b, width), expected, atol=1e-9)


def test_scattered_seconds_are_a_faint_tint_and_a_long_gap_the_full_colour(qtbot, dark, tmp_path):
    scattered = {(s, s): GapReason.LATE for s in range(3000, 3600, 97)}  # single seconds, far under a pixel
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as db:
        write_recording(db, "BTCUSDT", START, 12 * 3600, gaps={**scattered, (30_000, 30_599): GapReason.DISCONNECTED})
        panel = wired_panel(qtbot, dark, db)
        try:
            panel.show()
            panel.choose_symbol("BTCUSDT")
            panel.charts.set_x_range(START, START + 12 * 3600 - 1)  # about a minute a pixel
            panel.request_view_now()
            panel.charts.repaint()
            image, left, scale = _pixels(panel)
            background = qcolor(dark.background)
            faintest = over((*GAP_RGBA[:3], round(GAP_RGBA[3] / SHADE_STEPS)), over(
                (*HOLE_RGBA[:3], round(HOLE_RGBA[3] / SHADE_STEPS)), background))
            full = over(GAP_RGBA, over(HOLE_RGBA, background))
            frame = panel.charts.depth_plot.vb.sceneBoundingRect()
            y = int(frame.top() + 3)
            lo = panel.charts.x_range()[0]

            def color_at(second: float) -> QColor:
                return image.pixelColor(int(left + (START + second - lo) * scale), y)

            assert color_at(30_300) == full  # ten minutes: many whole columns
            tinted = [color_at(s + 0.5) for s in range(3000, 3600, 97)]
            assert all(c == faintest for c in tinted), tinted  # one second in a minute's column: a quarter
            assert color_at(20_000) == background  # nothing missing there: nothing drawn
        finally:
            unwire(panel)
