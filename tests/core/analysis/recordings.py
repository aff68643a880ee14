"""Recordings with a known shape for the history browser's tests: books that are a function of the second,
holes without any record, and gap records with reasons, written the way the recorder writes them
(snapshot + series row in the same batch, gap records beside them)."""

from __future__ import annotations

from collections.abc import Iterable

from core.analysis.series import series_from_snapshot
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

START = 1_737_158_400  # 2025-01-18 00:00:00 UTC


def book_at(symbol: str, ts: int) -> OrderBookSnapshot:
    """A 20-level book whose mid walks with the second: tick 0.01, best bid 100.00 + (ts % 37) ticks."""
    best = 10_000 + ts % 37
    bids = tuple((f"{(best - k) / 100:.2f}", f"{1 + (k + ts) % 5}.00000000") for k in range(20))
    asks = tuple((f"{(best + 2 + k) / 100:.2f}", f"{1 + (k * 3 + ts) % 7}.50000000") for k in range(20))
    return OrderBookSnapshot(symbol, bids, asks, ts * 10, ts)


def write_recording(
    storage: SnapshotStorage,
    symbol: str,
    start: int,
    seconds: int,
    holes: Iterable[tuple[int, int]] = (),
    gaps: dict[tuple[int, int], GapReason] | None = None,
    batch: int = 5000,
) -> list[int]:
    """Seconds start .. start+seconds-1 recorded, except the (first, last) offsets in `holes` and `gaps`
    (gaps get gap records with their reason). Returns the stored seconds."""
    missing = set()
    for a, b in holes:
        missing.update(range(a, b + 1))
    gap_at: dict[int, GapReason] = {}
    for (a, b), reason in (gaps or {}).items():
        for i in range(a, b + 1):
            gap_at[i] = reason
    stored: list[int] = []
    rows: list[tuple[str, int, bytes]] = []
    series: list[tuple[str, int, bytes]] = []
    gap_records: list[GapRecord] = []
    for i in range(seconds):
        ts = start + i
        if i in gap_at:
            gap_records.append(GapRecord(symbol, ts, gap_at[i]))
        elif i not in missing:
            snap = book_at(symbol, ts)
            rows.append((symbol, ts, snap.to_bytes()))
            series.append((symbol, ts, series_from_snapshot(snap).to_bytes()))
            stored.append(ts)
        if len(rows) + len(gap_records) >= batch:
            storage.put_encoded(rows, gap_records, series)
            rows, series, gap_records = [], [], []
    if rows or gap_records:
        storage.put_encoded(rows, gap_records, series)
    return stored
