"""A fault's recovery stops where the next fault on the same symbols begins: in a short soak a one-symbol gap lands
among the big faults, and a loss the next fault caused is not the gap's (nor is one it found already under way)."""

from __future__ import annotations

import math

import pytest

from core.storage.store import SnapshotStorage
from soak.accounting import account, fault_recovery, seconds_lost
from soak.report import recovery
from tests.soak.test_accounting import T0, _write


@pytest.fixture
def silenced_db(tmp_path):
    """A and B stored T0+1..T0+40 except T0+12..T0+33 (a silence from T0+12 and its resync) and, for A only, its
    gap's second T0+5 (A's own gap, recovered at T0+6)."""
    db = tmp_path / "db"
    storage = SnapshotStorage.open(db)
    storage.start_session(["A", "B"], T0)
    _write(storage, "A", [t for t in range(T0 + 1, T0 + 41) if t != T0 + 5 and not T0 + 12 <= t <= T0 + 33])
    _write(storage, "B", [t for t in range(T0 + 1, T0 + 41) if not T0 + 12 <= t <= T0 + 33], [T0 + 5])
    storage.end_session(T0 + 41, "stopped")
    storage.close()
    return db


def test_a_gap_is_not_charged_with_the_silence_that_came_after_it(silenced_db):
    with SnapshotStorage.open(silenced_db, "read_only") as storage:
        accounting = account(storage, ["A", "B"], kills=[])
    gap_on_b = {"kind": "gap", "at": T0 + 11.6, "until": T0 + 11.6, "symbols": ["B"]}  # B lost nothing to it
    silence = {"kind": "silence", "at": T0 + 12.0, "until": T0 + 32.0, "symbols": []}
    gap_during = {"kind": "gap", "at": T0 + 20.2, "until": T0 + 20.2, "symbols": ["A"]}  # A already down
    # Unbounded, the silence's 22 lost seconds were B's gap's (the old figure):
    assert fault_recovery(accounting, gap_on_b) == [pytest.approx(22.4)]
    assert fault_recovery(accounting, gap_on_b, next_at=silence["at"]) == [0.0]
    assert seconds_lost(accounting, gap_on_b, next_at=silence["at"]) == 0
    assert fault_recovery(accounting, gap_during, next_at=None) == [pytest.approx(13.8)]
    assert fault_recovery(accounting, gap_during, next_at=math.inf) == []  # the silence's recovery, not its

    figures = recovery(accounting, [gap_on_b, silence, gap_during], [])
    assert figures["gap"]["p50_s"] == 0.0 and figures["gap"]["seconds_lost"] == 0
    assert figures["silence"]["p99_s"] == pytest.approx(2.0)  # from its end (T0+32) to T0+34, for A and B
    assert figures["silence"]["seconds_lost"] == 2 * 22
