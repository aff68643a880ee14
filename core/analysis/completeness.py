"""Completeness of a recording: the one definition, used by every view that shows it.

Completeness is the share of the seconds the recorder was asked to record that hold a snapshot:

    stored ÷ (stored + gap records)

A second the recorder was asked to record either holds a snapshot or gets a gap record with the reason it could
not be stored, so `stored + gap records` is the number of seconds asked for. Seconds when nothing was recording
(the app closed, recording off) are neither, and never count against a recording.

Pure: no clock, no I/O.
"""

from __future__ import annotations


def completeness(stored: int, gap_records: int) -> float | None:
    """stored ÷ (stored + gap records), 0..1; None when nothing was asked for (no snapshot and no gap)."""
    if stored < 0 or gap_records < 0:
        raise ValueError(f"counts cannot be negative: stored={stored} gap_records={gap_records}")
    asked = stored + gap_records
    return stored / asked if asked else None
