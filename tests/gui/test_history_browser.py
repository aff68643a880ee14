"""The History tab over a real database: the library, charts at three zoom levels with gaps breaking the lines,
the heatmap, the cursor's recorded ladder, replay skipping a hole and stopping at the end, keyboard control, and
damaged records counted in the summary. The panel's requests are answered synchronously here by the same query
layer the app runs in its executor."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from core.analysis.series import series_from_snapshot
from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage
from gui.formatting import fmt_percent
from gui.history_browse import HistoryQueries
from gui.widgets.history import HistoryPanel
from gui.widgets.history.panel import REPLAY_HZ, parse_jump
from tests.core.analysis.recordings import START, book_at, write_recording
from tests.core.storage.damage_helpers import T0, damage_snapshots, record

SPAN = 8 * 3600  # long enough for a view of minute buckets
HOLE = (1000, 1599)  # ten minutes nothing recorded
GAP = (3000, 3059)  # a minute the recorder could not store


@pytest.fixture
def db(tmp_path):
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as storage:
        storage.stored_seconds = write_recording(
            storage, "BTCUSDT", START, SPAN, holes=[HOLE], gaps={GAP: GapReason.STALE}
        )
        write_recording(storage, "ETHUSDT", START, 120)
        yield storage


@pytest.fixture
def panel(qtbot, dark, db):
    """A panel wired straight to the query layer (synchronously)."""
    panel = wired_panel(qtbot, dark, db)
    panel.set_library(panel.queries.library(db, live=["ETHUSDT"]))
    yield panel
    unwire(panel)


def wired_panel(qtbot, dark, db: SnapshotStorage) -> HistoryPanel:
    queries = HistoryQueries()
    panel = HistoryPanel(dark)
    panel.resize(1300, 800)
    qtbot.addWidget(panel)
    panel.symbol_requested.connect(lambda symbol: panel.set_span(queries.open_symbol(db, symbol)))
    panel.view_requested.connect(
        lambda symbol, start, end, columns, request: panel.set_view(
            queries.view(db, symbol, start, end, columns, request)
        )
    )
    panel.cursor_requested.connect(
        lambda symbol, ts, window: panel.set_cursor(queries.cursor(db, symbol, ts, window))
    )
    panel.queries = queries
    panel.show()
    return panel


def unwire(panel: HistoryPanel) -> None:
    """Before the database closes (qtbot closes the panel later): a view its debounce timer still asks for then
    must not reach the closed database (it did, once: DbClosedError in a slot)."""
    for signal in (panel.symbol_requested, panel.view_requested, panel.cursor_requested):
        signal.disconnect()


def mids(ts) -> list[float]:
    return [series_from_snapshot(book_at("BTCUSDT", int(t))).mid for t in ts]


def test_the_library_lists_what_is_stored_and_opens_the_whole_history(panel, db):
    table = panel.library
    assert [r.symbol for r in table.rows] == ["BTCUSDT", "ETHUSDT"]
    assert [r.live for r in table.rows] == [False, True]
    assert table.item(0, 2).text() == f"{SPAN - 660:,}"
    assert table.item(0, 3).text() == f"{100 * (SPAN - 660) / (SPAN - 600):.1f} %"  # the hole does not count
    table.selectRow(0)
    assert panel.span is not None and (panel.span.first, panel.span.last) == (START, START + SPAN - 1)
    assert panel.data is not None and panel.data.start <= START and panel.data.end >= START + SPAN - 1
    assert "BTCUSDT" in panel.summary.text() and "complete" in panel.summary.text()
    assert f"{SPAN - 660:,} s stored" in panel.summary.text()
    assert fmt_percent((SPAN - 660) / (SPAN - 600)) in panel.summary.text()
    assert "damaged" not in panel.summary.text()
    assert panel.second == START + SPAN - 1 and panel.ladder_model.rowCount() == 40  # the newest second first
    with pytest.raises(ValueError, match="Nothing is recorded for SOLUSDT"):
        panel.queries.open_symbol(db, "SOLUSDT")


def test_each_chart_at_three_zoom_levels_matches_the_stored_seconds(panel, db):
    panel.choose_symbol("BTCUSDT")
    stored = np.array(db.stored_seconds)
    zooms = ((START + 900, START + 1799, 1), (START, START + 7199, 2), (START, START + SPAN - 1, 60))
    for start, end, width in zooms:
        panel.charts.set_x_range(start, end)
        panel.request_view_now()
        data = panel.data
        assert data.width == width and len(data.t) <= 4000
        a, b = panel.view_range()
        assert (data.start, data.end) == (a, b)
        curve_x, curve_y = panel.charts.mid_curve.getData()
        assert len(curve_x) == len(data.t) <= 4000
        for i, bucket in enumerate(data.t.astype(int)):
            inside = stored[(stored >= bucket) & (stored < bucket + width)]
            if len(inside):
                assert curve_y[i] == mids([inside[-1]])[0]
            else:  # the line breaks: NaN where nothing is stored, drawn with connect="finite"
                assert np.isnan(curve_y[i])
                assert np.isnan(panel.charts.spread_curve.getData()[1][i])
        assert panel.charts.mid_curve.opts["connect"] == "finite"
    # The hole and the gap are shaded, the gap with the recorder's reason on hover.
    shade = panel.charts.shades[0]
    assert shade.holes[:, :2].tolist() == [[START + 1000, START + 1599], [START + 3000, START + 3059]]
    assert shade.gaps[:, :2].tolist() == [[START + 3000, START + 3059]]
    assert "gap 60 s: stream silent" in panel.charts.readout(START + 3010)
    assert "not recorded" in panel.charts.readout(START + 1200)


def test_the_heatmap_draws_one_image_of_ranks_with_best_prices_on_top(panel):
    panel.choose_symbol("BTCUSDT")
    panel.charts.set_x_range(START, START + 99)
    panel.request_view_now()
    data = panel.data
    assert data.heat_step == 1 and len(data.heat_t) == 100 and data.bin_size == 0.01
    image = panel.charts.image.image
    assert image.shape == data.heat_rank.shape and image.min() == -1.0 and image.max() == 1.0
    book = book_at("BTCUSDT", START + 5)
    row = round((float(book.bids[0][0]) - data.heat_edges[0]) / data.bin_size)
    assert data.heat_bid[5, row] == float(book.bids[0][1]) and image[5, row] < 0
    assert [i for i in panel.charts.heat_plot.items if type(i).__name__ == "ImageItem"] == [
        panel.charts.image
    ]
    _, y = panel.charts.heat_bid.getData()
    assert y[5] == float(book.bids[0][0])
    text = panel.charts.readout(START + 5.5, float(book.bids[0][0]) + 0.001)
    assert f"bid {book.bids[0][1][:6]}" in text and "p" in text
    before = panel.charts.image.lut.copy() if panel.charts.image.lut is not None else None
    panel.contrast.setValue(15)
    assert before is None or not np.array_equal(before, panel.charts.image.lut)


def test_the_cursor_shows_the_recorded_ladder_metrics_and_flow(panel, qtbot, db):
    panel.choose_symbol("BTCUSDT")
    panel.select_second(START + 200)
    book = book_at("BTCUSDT", START + 200)
    assert panel.ladder_model.rowCount() == 40 and panel.cursor_view.bids == book.bids
    assert "update id" in panel.cursor_pane.title.text()
    assert "Mid" in panel.cursor_pane.metrics.text() and "snapshots over" in panel.cursor_pane.flow.text()
    late = panel.queries.cursor(db, "BTCUSDT", START + 5)  # the answer to an older request
    panel.set_cursor(late)
    assert panel.ladder_model.rowCount() == 40 and panel.cursor_view.timestamp == START + 200
    panel.select_second(START + 3010)
    assert panel.ladder_model.rowCount() == 0 and "stream silent" in panel.cursor_pane.title.text()
    panel.select_second(START + 1200)  # in the hole: no snapshot and no gap record
    assert panel.ladder_model.rowCount() == 0 and "nothing was recording" in panel.cursor_pane.title.text()
    panel.select_second(START)  # one snapshot in its window
    assert "Insufficient historical data" in panel.cursor_pane.flow.text()
    panel.select_second(START + 100)
    panel.charts.setFocus()
    qtbot.keyClick(panel.charts, Qt.Key.Key_Right)
    assert panel.second == START + 101
    qtbot.keyClick(panel.charts, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    assert panel.second == START + 41


def step_clock(panel) -> None:
    """Replay is paced by its clock: one that moves a timer period per call makes each step exactly speed / 10 s."""
    calls = iter(range(1_000_000))
    panel.replay_clock = lambda: next(calls) / REPLAY_HZ


def test_replay_skips_a_hole_in_one_jump(panel, qtbot):
    step_clock(panel)
    panel.choose_symbol("BTCUSDT")
    panel.select_second(START + 990)
    panel.speed_box.setCurrentIndex(panel.speed_box.findText("10x"))  # one second a step
    asked = []
    panel.cursor_requested.connect(lambda _s, ts, _w: asked.append(ts))
    qtbot.keyClick(panel.charts, Qt.Key.Key_Space)
    assert panel.play_button.text() == "Pause"
    qtbot.waitUntil(lambda: panel.second is not None and panel.second > START + 1605, timeout=5000)
    panel.toggle_replay()
    assert panel.play_button.text() == "Play"
    assert panel.last_jump == (START + 1000, START + 1599)
    assert not any(START + 1000 <= ts <= START + 1599 for ts in asked)  # never a second inside the hole
    assert START + 999 in asked and START + 1600 in asked


def test_replay_from_the_end_starts_again_walks_at_its_speed_and_stops_at_the_last_second(panel, qtbot):
    step_clock(panel)
    panel.choose_symbol("ETHUSDT")  # 120 s, nothing missing
    assert panel.second == START + 119  # a symbol opens on its newest second
    panel.speed_box.setCurrentIndex(panel.speed_box.findText("60x"))  # 6 s a step
    asked = []
    panel.cursor_requested.connect(lambda _s, ts, _w: asked.append(ts))
    panel.toggle_replay()  # at the end of the recording: replays from its first second
    assert panel.play_button.text() == "Pause" and asked[0] == START
    qtbot.waitUntil(lambda: panel.play_button.text() == "Play", timeout=5000)
    assert panel.second == START + 119 and asked[-1] == START + 119
    assert asked == sorted(asked) and set(np.diff(asked[:-1]).tolist()) == {6}  # in order, 6 s a step


def test_replay_keeps_its_speed_when_steps_come_late(panel, qtbot):
    """A slow redraw delays the timer: the next step covers the time that passed, so 60x stays 60 s a second."""
    times = iter([0.0, 0.1, 0.35, 0.45, 1.0])  # the second and fourth ticks came late
    panel.replay_clock = lambda: next(times)
    panel.choose_symbol("ETHUSDT")
    panel.select_second(START)
    panel.speed_box.setCurrentIndex(panel.speed_box.findText("60x"))
    panel.toggle_replay()
    seconds = []
    for _ in range(4):
        panel._replay_step()  # what the timer's ticks call
        seconds.append(panel.second)
    panel.stop_replay()
    assert seconds == [START + 6, START + 21, START + 27, START + 60]  # 60 x the time passed, every time


def test_the_summary_counts_the_damaged_snapshots_skipped(qtbot, dark, tmp_path):
    record(tmp_path / "damaged", "BTCUSDT", T0, 120)
    bad = damage_snapshots(tmp_path / "damaged", "BTCUSDT", T0 + 30)
    with SnapshotStorage.open(tmp_path / "damaged", "read_only") as storage:
        panel = wired_panel(qtbot, dark, storage)
        panel.choose_symbol("BTCUSDT")
        panel.charts.set_x_range(T0, T0 + 99)
        panel.request_view_now()  # 100 s: at least 100 heatmap columns, one a second, reads every snapshot
        data = panel.data
        assert (data.start, data.end, data.heat_step) == (T0, T0 + 99, 1)
        assert data.heat_sampled[data.heat_sampled >= 0].tolist() == [
            ts for ts in range(T0, T0 + 100) if ts not in bad
        ]
        assert data.damaged == len(bad) == storage.damage.count("BTCUSDT")
        assert f"{len(bad)} damaged snapshots skipped" in panel.summary.text()
        panel.select_second(bad[0])
        assert panel.ladder_model.rowCount() == 0 and "Nothing stored" in panel.cursor_pane.title.text()
        unwire(panel)


def test_a_typed_time_jumps(panel):
    panel.choose_symbol("BTCUSDT")
    panel.jump_edit.setText(str(START + 4000))
    panel.jump_edit.returnPressed.emit()
    assert panel.second == START + 4000
    assert parse_jump("1737158400", None) == START
    with pytest.raises(ValueError):
        parse_jump("soon", None)


def test_follow_live_shows_new_seconds_written_by_another_handle(panel, db, tmp_path):
    follower = SnapshotStorage.open(db.path, mode="secondary")
    try:
        queries = HistoryQueries()
        panel.set_span(queries.open_symbol(follower, "BTCUSDT"))  # not the symbol chosen: dropped
        panel.choose_symbol("BTCUSDT")
        panel.follow_box.setChecked(True)
        panel.show_last(900)
        write_recording(db, "BTCUSDT", START + SPAN, 300)
        span = queries.refresh(follower, "BTCUSDT")  # catch_up, then the rollups take the new seconds
        assert span.last == START + SPAN + 299
        panel.set_span(span)
        assert panel.view_range()[1] >= START + SPAN + 299 - 1  # the view moved with the live edge
        assert panel.second == START + SPAN + 299
    finally:
        follower.close()


def test_the_linked_time_axes_share_ticks_that_match_pyqtgraphs_own(panel):
    """The five charts' time axes work their ticks out once a redraw; what they draw is what pyqtgraph's
    DateAxisItem would draw, at every zoom level from seconds to the whole span."""
    import pyqtgraph as pg

    panel.choose_symbol("BTCUSDT")
    for start, end in ((START, START + SPAN - 1), (START, START + 3 * 3600), (START + 600, START + 1500),
                       (START + 100, START + 160)):  # fmt: skip
        panel.charts.set_x_range(start, end)
        panel.charts.repaint()
        lo, hi = panel.charts.x_range()
        axes = [plot.getAxis("bottom") for plot in panel.charts.plots]
        size = axes[-1].geometry().width()
        own = pg.DateAxisItem.tickValues(axes[-1], lo, hi, size)
        assert own and all(axis.tickValues(lo, hi, size) == own for axis in axes)
        assert axes[-1].tickStrings(own[-1][1], 1.0, own[-1][0]) == pg.DateAxisItem.tickStrings(
            axes[-1], own[-1][1], 1.0, own[-1][0]
        )


def test_a_view_of_a_minute_or_two_is_labelled_by_the_second(panel):
    panel.choose_symbol("BTCUSDT")
    axis = panel.charts.heat_plot.getAxis("bottom")
    for seconds in (30, 90):
        panel.charts.set_x_range(START + 100, START + 100 + seconds)
        lo, hi = panel.charts.x_range()
        levels = axis.tickValues(lo, hi, axis.geometry().width())
        labels = [label for spacing, ticks in levels for label in axis.tickStrings(ticks, 1.0, spacing)]
        assert len(labels) >= 3 and all(label.count(":") == 2 for label in labels), labels  # HH:MM:SS


def test_the_cursor_dragged_a_second_at_a_time_shows_the_full_order_flow(panel, db):
    from core.analysis.history import History
    from core.analysis.order_flow import InsufficientDataError

    panel.choose_symbol("BTCUSDT")
    insufficient = 0
    for ts in [*range(START + 950, START + 1700, 5), *range(START + 3100, START + 2990, -1)]:  # over the hole
        panel.select_second(ts)
        try:
            assert panel.cursor_view.flow == History(db).get_order_flow("BTCUSDT", 60, ts)
        except InsufficientDataError as exc:
            insufficient += 1
            assert panel.cursor_view.flow is None and panel.cursor_pane.flow.text() == str(exc)
    assert insufficient > 0
