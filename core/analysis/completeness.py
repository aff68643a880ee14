"""Completeness of a recording: the one definition, used by every view that shows it.

Completeness is the share of the seconds the recorder was asked to record that hold a snapshot:

    stored ÷ (stored + gap records)

A second the recorder was asked to record either holds a snapshot or gets a gap record with the reason it could
not be stored, so `stored + gap records` is the number of seconds asked for. Seconds when nothing was recording
(the app closed, recording off) are neither, and never count against a recording.

`completeness` is pure; `recorded_counts` reads a symbol's stored seconds and gap records from a database, so
the History library and `depthbook stats` count the same seconds, from the symbol's first snapshot on (the Live
table counts this session's, from the recorder, and says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.storage.gaps import GapReason
from core.storage.keys import MAX_TIMESTAMP
from core.storage.store import SnapshotStorage


def completeness(stored: int, gap_records: int) -> float | None:
    """stored ÷ (stored + gap records), 0..1; None when nothing was asked for (no snapshot and no gap)."""
    if stored < 0 or gap_records < 0:
        raise ValueError(f"counts cannot be negative: stored={stored} gap_records={gap_records}")
    asked = stored + gap_records
    return stored / asked if asked else None


@dataclass(frozen=True, slots=True)
class RecordedCounts:
    stored: int  # seconds with a snapshot
    gap_records: int  # seconds asked for and not stored, each with its reason
    unverified: int  # of those, the seconds whose top levels reached beyond the snapshot horizon

    @property
    def completeness(self) -> float | None:
        return completeness(self.stored, self.gap_records)


def recorded_counts(storage: SnapshotStorage, symbol: str) -> RecordedCounts:
    """Every stored second of `symbol` and every gap record from its first snapshot on, including any after its
    last one (reads the gap records' keys and values). The gap records before its first snapshot are the seconds
    its book took to sync when its recording began: the start of the recording, not data it lost (the app's
    status shows them apart as "waiting"). A symbol with no snapshot yet counts all of them: nothing stored."""
    edges = storage.first_last(symbol)
    gaps = storage.gaps(symbol, edges[0] if edges else 0, MAX_TIMESTAMP)
    unverified = sum(1 for g in gaps if g.reason is GapReason.UNVERIFIED)
    return RecordedCounts(storage.count(symbol), len(gaps), unverified)
