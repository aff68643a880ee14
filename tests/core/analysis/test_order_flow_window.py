"""The cursor's sliding order flow gives History.get_order_flow's numbers exactly, whichever way the cursor
moves, over holes and gaps, at a live edge that grows, and around damaged snapshots."""

from __future__ import annotations

import pytest

from core.analysis.history import History
from core.analysis.order_flow import InsufficientDataError
from core.analysis.order_flow_window import SlidingOrderFlow
from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage
from tests.core.analysis.recordings import START, write_recording
from tests.core.storage.damage_helpers import T0, damage_snapshots, record


def _same_as_history(storage: SnapshotStorage, sliding: SlidingOrderFlow, window: int, end: int) -> None:
    try:
        expected = History(storage).get_order_flow("BTCUSDT", window, end)
    except InsufficientDataError as exc:
        with pytest.raises(InsufficientDataError, match=str(exc)):
            sliding.flow(window, end)
        return
    assert sliding.flow(window, end) == expected


def test_a_drag_forward_back_and_a_jump_over_holes_and_gaps(tmp_path):
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as storage:
        write_recording(storage, "BTCUSDT", START, 900, holes=[(300, 340)], gaps={(500, 520): GapReason.LATE})
        sliding = SlidingOrderFlow(storage, "BTCUSDT")
        ends = [*range(START + 5, START + 420, 3), *range(START + 600, START + 480, -1), START + 880, START + 30]
        for end in ends:
            _same_as_history(storage, sliding, 60, end)
        for window in (10, 300):  # the window changes under a still cursor
            _same_as_history(storage, sliding, window, START + 700)
        with pytest.raises(ValueError, match="between 10 and 300"):
            sliding.flow(5, START + 700)


def test_seconds_written_after_a_read_at_the_live_edge_are_counted(tmp_path):
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as storage:
        write_recording(storage, "BTCUSDT", START, 100)
        sliding = SlidingOrderFlow(storage, "BTCUSDT")
        before = sliding.flow(60, START + 119)  # the window reaches 20 s past the last stored second
        write_recording(storage, "BTCUSDT", START + 100, 20)
        after = sliding.flow(60, START + 119)
        assert after.snapshot_count == before.snapshot_count + 20
        assert after == History(storage).get_order_flow("BTCUSDT", 60, START + 119)


def test_windows_over_damaged_snapshots_match_the_careful_path(tmp_path):
    path = tmp_path / "db"
    record(path, "BTCUSDT", T0, 120)
    damage_snapshots(path, "BTCUSDT", T0 + 100)
    with SnapshotStorage.open(path, "read_only") as storage:
        sliding = SlidingOrderFlow(storage, "BTCUSDT")
        for end in range(T0 + 60, T0 + 120):
            _same_as_history(storage, sliding, 30, end)
