"""The library: every symbol a database holds, with its span, stored seconds, completeness and size.

Blocking (RocksDB reads: two seeks, the stored counter and its newest values per symbol, and its gap records);
the app runs it in an executor. Bytes on disk are an estimate (core.storage.usage). Works on a writer, read-only or secondary handle alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.analysis.completeness import completeness, recorded_counts
from core.storage.store import SnapshotStorage
from core.storage.usage import bytes_per_symbol


@dataclass(frozen=True, slots=True)
class LibraryEntry:
    symbol: str
    first: int  # first recorded second (Unix)
    last: int
    stored: int  # seconds with a snapshot
    gap_records: int  # seconds the recorder was asked for and could not store
    bytes_estimate: int  # its share of the database on disk: stored seconds x its mean record size

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
        counts = recorded_counts(storage, symbol)
        rows.append((symbol, edges, counts.stored, counts.gap_records))
    usage = bytes_per_symbol(storage) if rows else {}
    return [
        LibraryEntry(symbol, first, last, stored, gaps, usage.get(symbol, 0))
        for symbol, (first, last), stored, gaps in rows
    ]
