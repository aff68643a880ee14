"""The history tab: its queries against a real recording, then the panel drawing and replaying them."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.series import series_from_snapshot
from core.simulator.market import SyntheticMarket
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from gui.history_queries import recorded_ladder, recorded_range
from gui.values import RecordedLadder, RecordedRange
from gui.widgets.history_panel import HistoryPanel

START = 1_737_158_400


@pytest.fixture
def recording(tmp_path):
    """120 s of BTCUSDT from the synthetic market with seconds 40..44 missing (gap records for 40..42)."""
    market = SyntheticMarket("BTCUSDT", seed=6)
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as storage:
        for i in range(120):
            for _ in range(5):
                market.next_event(i * 1000)
            ts = START + i
            if 40 <= i < 45:
                if i < 43:
                    storage.put_tick([], [GapRecord("BTCUSDT", ts, GapReason.DISCONNECTED)])
                continue
            raw = market.snapshot(20)
            snap = OrderBookSnapshot(
                "BTCUSDT", tuple(map(tuple, raw["bids"])), tuple(map(tuple, raw["asks"])), raw["lastUpdateId"], ts
            )
            storage.put_tick([snap], [], [("BTCUSDT", ts, series_from_snapshot(snap).to_bytes())])
        yield storage


def test_recorded_range_ends_at_the_newest_snapshot_and_shows_what_is_missing(recording):
    assert recording.symbols() == ["BTCUSDT"]
    data = recorded_range(recording, "BTCUSDT", 60)
    assert (data.start, data.end) == (START + 60, START + 119)
    assert data.stored == 60 and data.missing == () and data.completeness == 1.0
    whole = recorded_range(recording, "BTCUSDT", 3600)  # longer than the recording: from its first second
    assert (whole.start, whole.end, whole.stored) == (START, START + 119, 115)
    assert whole.missing == ((START + 40, START + 44),) and whole.gaps == 3
    assert len(whole.t) == 115 and np.all(np.isfinite(whole.mid))
    assert whole.heat.shape == (115, len(whole.heat_edges) - 1) and whole.heat.sum() > 0
    with pytest.raises(ValueError, match="Nothing is recorded for ETHUSDT"):
        recorded_range(recording, "ETHUSDT", 60)


def test_recorded_ladder_at_a_second_or_none(recording):
    ladder = recorded_ladder(recording, "BTCUSDT", START + 10)
    assert len(ladder.bids) == len(ladder.asks) == 20 and ladder.bids[0][0] < ladder.asks[0][0]
    assert recorded_ladder(recording, "BTCUSDT", START + 41).bids is None


def test_panel_draws_a_range_and_shows_the_ladder_of_the_selected_second(qtbot, dark, recording):
    panel = HistoryPanel(dark)
    qtbot.addWidget(panel)
    panel.set_symbols(recording.symbols())
    with qtbot.waitSignal(panel.load_requested) as load:
        panel.load_button.click()
    assert load.args == ["BTCUSDT", 3600]
    data = recorded_range(recording, "BTCUSDT", 3600)
    with qtbot.waitSignal(panel.ladder_requested) as asked:
        panel.set_range(data)
    assert asked.args == ["BTCUSDT", START + 119]  # the newest second first
    assert "115 of 120 s stored" in panel.summary.text() and "95.8 %" in panel.summary.text()
    assert panel.coverage.missing == ((START + 40, START + 44),)
    assert (panel.slider.minimum(), panel.slider.maximum(), panel.slider.value()) == (START, START + 119, START + 119)

    panel.set_ladder(recorded_ladder(recording, "BTCUSDT", START + 119))
    assert panel.ladder_model.rowCount() == 40
    panel.set_ladder(RecordedLadder("BTCUSDT", START + 5, None, None))  # a late answer to an old request
    assert panel.ladder_model.rowCount() == 40

    with qtbot.waitSignal(panel.ladder_requested) as asked:
        panel.slider.setValue(START + 41)
    assert asked.args == ["BTCUSDT", START + 41]
    panel.set_ladder(recorded_ladder(recording, "BTCUSDT", START + 41))
    assert panel.ladder_model.rowCount() == 0 and "nothing recorded" in panel.ladder_title.text()


def test_replay_walks_the_range_at_its_speed_and_stops_at_the_end(qtbot, dark):
    t = np.arange(START, START + 100, dtype=float)
    data = RecordedRange("BTCUSDT", START, START + 99, t, np.full(100, 100.0), np.full(100, 1.0), t[:0],
                         np.array([99.0, 101.0]), np.zeros((0, 1)), 100, (), 0)  # fmt: skip
    panel = HistoryPanel(dark)
    qtbot.addWidget(panel)
    panel.set_range(data)
    asked = []
    panel.ladder_requested.connect(lambda _symbol, ts: asked.append(ts))
    panel.speed_box.setCurrentIndex(2)  # 60x: 6 s a step
    panel.toggle_replay()  # at the end of the range: replays from its start
    assert panel.play_button.text() == "Pause" and asked[0] == START
    qtbot.waitUntil(lambda: panel.play_button.text() == "Play", timeout=5000)
    assert panel.second == START + 99
    assert asked == sorted(asked) and asked[1] - asked[0] == 6  # in order, 6 s a step
