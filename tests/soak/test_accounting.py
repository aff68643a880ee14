"""The soak's verdict on a small real database: every second stored, a gap with its reason, inside the kill window,
or unexplained; and recovery times measured from it."""

from __future__ import annotations

import pytest

from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from soak.accounting import account, fault_recovery, seconds_lost

T0 = 1_767_225_600  # 2026-01-01


def _write(storage: SnapshotStorage, symbol: str, stored: range | list[int], gaps: range | list[int] = ()) -> None:
    rows = [
        (symbol, ts, OrderBookSnapshot(symbol, (("100.0", "1.0"),), (("101.0", "2.0"),), ts, ts).to_bytes())
        for ts in stored
    ]
    storage.put_encoded(rows, [GapRecord(symbol, ts, GapReason.SYNCING) for ts in gaps])


@pytest.fixture
def killed_db(tmp_path):
    """Two recording sessions of A and B; the first killed at T0 + 20.3 (never ended), the second from T0 + 25.

    A: stored T0+1..T0+19, then T0+26..T0+30.
    B: stored T0+1..5, gaps (syncing) 6..8, nothing at 9 (unexplained), stored 10..18, then gap 26 and stored 27..30.
    """
    db = tmp_path / "db"
    first = SnapshotStorage.open(db)
    first.start_session(["A", "B"], T0)
    _write(first, "A", range(T0 + 1, T0 + 20))
    _write(first, "B", [*range(T0 + 1, T0 + 6), *range(T0 + 10, T0 + 19)], range(T0 + 6, T0 + 9))
    first.close()  # like a kill: the session record stays open
    second = SnapshotStorage.open(db)  # ends the interrupted session at its last data
    second.start_session(["A", "B"], T0 + 25)
    _write(second, "A", range(T0 + 26, T0 + 31))
    _write(second, "B", range(T0 + 27, T0 + 31), [T0 + 26])
    second.end_session(T0 + 31, "stopped")
    second.close()
    return db


def test_every_second_is_stored_a_gap_killed_or_named_unexplained(killed_db):
    with SnapshotStorage.open(killed_db, "read_only") as storage:
        accounting = account(storage, ["A", "B"], kills=[T0 + 20.3])
    assert accounting.span == (T0 + 1, T0 + 30)
    assert accounting.kill_windows == [(T0 + 19, T0 + 25)]
    a, b = accounting.symbols["A"], accounting.symbols["B"]
    assert (len(a.stored), len(a.gaps), a.killed, a.unexplained) == (24, 0, 6, [])
    assert (len(b.stored), len(b.gaps), b.killed, b.unexplained) == (18, 4, 7, [T0 + 9])
    for s in (a, b):  # each second is in exactly one of the four
        assert len(s.stored) + len(s.gaps) + s.killed + len(s.unexplained) == accounting.seconds
    summary = accounting.summary()
    assert summary["unexplained_seconds"] == 1
    assert summary["gap_reasons"] == {"syncing": 4}
    assert summary["per_symbol"]["B"]["unexplained_seconds"] == [T0 + 9]
    assert summary["completeness_pct"] == round(100 * 42 / 60, 2)


def test_without_the_kill_its_seconds_are_unexplained(killed_db):
    with SnapshotStorage.open(killed_db, "read_only") as storage:
        accounting = account(storage, ["A", "B"], kills=[])
    assert accounting.symbols["A"].unexplained == list(range(T0 + 20, T0 + 26))
    assert accounting.unexplained == 6 + 1 + 7


def test_recovery_runs_from_the_faults_end_to_the_first_stored_second_after_what_it_cost(killed_db):
    with SnapshotStorage.open(killed_db, "read_only") as storage:
        accounting = account(storage, ["A", "B"], kills=[T0 + 20.3])
    gap_on_b = {"kind": "gap", "at": T0 + 5.5, "until": T0 + 5.5, "symbols": ["B"]}
    assert fault_recovery(accounting, gap_on_b) == [pytest.approx(4.5)]  # lost 6..9, stored again at 10
    untouched = {"kind": "gap", "at": T0 + 26.2, "until": T0 + 26.2, "symbols": ["A"]}
    assert (fault_recovery(accounting, untouched), seconds_lost(accounting, untouched)) == ([0.0], 0)
    # A loss within 30 s of a fault is blamed on it: faults need their own slots (soak.schedule gives them).
    early = {"kind": "gap", "at": T0 + 1.2, "until": T0 + 1.2, "symbols": ["A"]}
    assert (fault_recovery(accounting, early), seconds_lost(accounting, early)) == ([pytest.approx(24.8)], 6)
    kill = {"kind": "kill", "at": T0 + 20.3, "until": T0 + 23.3, "symbols": []}
    assert fault_recovery(accounting, kill) == [pytest.approx(2.7), pytest.approx(3.7)]  # A at 26, B at 27
