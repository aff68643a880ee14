"""The library: every symbol a database holds, with its span, stored seconds, completeness and size.

Blocking (RocksDB reads: two seeks and the stored counter per symbol, and its gap records' keys); the app runs
it in an executor. Works on a writer, read-only or secondary handle alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.analysis.completeness import completeness
from core.storage.keys import MAX_TIMESTAMP
from core.storage.store import SnapshotStorage


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    symbol: str
    first: int  # first recorded second (Unix)
    last: int
    stored: int  # seconds with a snapshot
    gap_records: int  # seconds the recorder was asked for and could not store
    bytes_estimate: int  # its share of the database on disk, by stored seconds

    @property
    def completeness(self) -> float | None:
        return completeness(self.stored, self.gap_records)

    @property
    def span(self) -> int:
        return self.last - self.first + 1


def read_library(storage: SnapshotStorage) -> list[LibraryEntry]:
    """One entry per symbol with at least one snapshot, sorted by symbol."""
    rows = []
    for symbol in storage.symbols():
        edges = storage.first_last(symbol)
        if edges is None:
            continue
        stored = storage.count(symbol)
        gaps = len(storage.gaps(symbol, 0, MAX_TIMESTAMP))
        rows.append((symbol, edges, stored, gaps))
    total = sum(stored for _, _, stored, _ in rows)
    size = storage.size_on_disk() if rows else 0
    return [
        LibraryEntry(symbol, first, last, stored, gaps, round(size * stored / total) if total else 0)
        for symbol, (first, last), stored, gaps in rows
    ]
