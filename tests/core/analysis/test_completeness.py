"""One definition of completeness: the History library and `depthbook stats` give the same figure for the same
recording, from its first snapshot on: the seconds of the first sync (gap records before it) are the start of the
recording (the app shows them as "waiting"), not data it lost."""

from __future__ import annotations

import pytest

from core.analysis.completeness import completeness, recorded_counts
from core.analysis.library import read_library
from core.cli.stats import symbol_stats
from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage
from tests.core.analysis.recordings import START, write_recording


def test_completeness_is_stored_over_stored_plus_gap_records():
    assert completeness(3, 1) == 0.75
    assert completeness(0, 0) is None
    with pytest.raises(ValueError):
        completeness(-1, 2)


def test_library_and_stats_agree_on_a_recording_that_starts_with_a_sync(tmp_path):
    with SnapshotStorage.open(tmp_path / "db") as storage:
        # 5 s syncing before the first snapshot, then 2 s unverified and a hole without any record.
        stored = write_recording(
            storage, "BTCUSDT", START, 120, holes=[(60, 69)],
            gaps={(0, 4): GapReason.SYNCING, (30, 31): GapReason.UNVERIFIED},
        )  # fmt: skip
        counts = recorded_counts(storage, "BTCUSDT")
        (entry,) = read_library(storage)
        row = symbol_stats(storage, "BTCUSDT", 0)
    assert (counts.stored, counts.gap_records, counts.unverified) == (len(stored), 2, 2)  # not the 5 s syncing
    expected = len(stored) / (len(stored) + 2)
    assert entry.completeness == pytest.approx(expected)
    assert row["completeness_pct"] == pytest.approx(100 * expected, abs=0.001)
    assert (row["count"], row["gaps"], row["unverified"]) == (len(stored), 2, 2)


def test_a_symbol_that_never_stored_a_second_counts_every_gap_record(tmp_path):
    with SnapshotStorage.open(tmp_path / "db") as storage:
        write_recording(storage, "BTCUSDT", START, 10, holes=[(0, 9)], gaps={(0, 9): GapReason.SYNCING})
        counts = recorded_counts(storage, "BTCUSDT")
    assert (counts.stored, counts.gap_records, counts.completeness) == (0, 10, 0.0)
