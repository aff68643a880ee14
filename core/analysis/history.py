"""History queries over a recording: chart series, the recorded ladder at a second, heatmaps, coverage.

Blocking (RocksDB reads); the GUI runs them in an executor for long ranges. Long ranges never decode more
than they need: chart series come from the `series` column family written at record time (89 bytes a
second, decoded in one numpy call), heatmaps sample at most `max_rows` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.analysis.heatmap import LiquidityMatrix, liquidity_matrix
from core.analysis.order_flow import OrderFlow, check_flow_window, compute_order_flow, insufficient_flow_data
from core.analysis.series import SERIES_FIELDS, SeriesArrays, series_from_snapshot, series_to_arrays
from core.storage.gaps import GapRecord
from core.storage.snapshot import OrderBookSnapshot, decode_many
from core.storage.store import SnapshotStorage

# The same layout as core.series' struct "<Bq9dQ": version, second, nine doubles, update id.
_ROW_DTYPE = np.dtype(
    [("version", "u1"), ("timestamp", "<i8")]
    + [(name, "<f8") for name in SERIES_FIELDS[1:-1]]
    + [("update_id", "<u8")]
)


@dataclass(frozen=True, slots=True)
class Coverage:
    """Which seconds of [start, end] hold a snapshot, as runs; the rest is missing."""

    start: int
    end: int
    stored: int
    present: list[tuple[int, int]]  # inclusive runs of stored seconds
    missing: list[tuple[int, int]]  # inclusive runs of seconds with no snapshot
    gaps: list[GapRecord]  # the recorder's reasons for seconds it could not store

    @property
    def completeness_pct(self) -> float:
        span = self.end - self.start + 1
        return 100.0 * self.stored / span if span > 0 else 0.0


class History:
    def __init__(self, storage: SnapshotStorage) -> None:
        self.storage = storage

    def series(self, symbol: str, start: int, end: int) -> SeriesArrays:
        """Per-second mid, spread, bps, microprice, volumes and imbalance over [start, end]."""
        rows = [value for _, value in self.storage.series(symbol, start, end)]
        if rows:
            table = np.frombuffer(b"".join(rows), dtype=_ROW_DTYPE)
            return {name: table[name].copy() for name in SERIES_FIELDS}
        # A database without the series family (the reference service's): derive it from the snapshots.
        return series_to_arrays([series_from_snapshot(s) for s in self.snapshots(symbol, start, end)])

    def snapshots(self, symbol: str, start: int, end: int) -> list[OrderBookSnapshot]:
        # Level types are not checked one by one on bulk reads: the shape check is enough for charts.
        return decode_many(symbol, (v for _, v in self.storage.range(symbol, start, end)))

    def get_order_flow(self, symbol: str, window_secs: int = 60, end: int | None = None) -> OrderFlow:
        """The reference service's order flow over [end − window_secs, end] (core.analytics), read from the
        store; `end` defaults to the last recorded second. ValueError for a window outside 10–300 s,
        InsufficientDataError with fewer than 2 snapshots in the window."""
        symbol = symbol.strip().upper()
        check_flow_window(window_secs)
        if end is None:
            edges = self.storage.first_last(symbol)
            if edges is None:
                raise insufficient_flow_data(window_secs, 0)
            end = edges[1]
        values = (v for _, v in self.storage.range(symbol, end - window_secs, end))
        return compute_order_flow(symbol, decode_many(symbol, values), window_secs, end)

    def ladder_at(self, symbol: str, ts: int, tolerance: int = 0) -> OrderBookSnapshot | None:
        """The snapshot recorded at `ts`, or the latest one at most `tolerance` seconds before it."""
        value = self.storage.get(symbol, ts)
        if value is not None:
            return OrderBookSnapshot.from_bytes(symbol, value)
        if tolerance <= 0:
            return None
        found = None
        for _, value in self.storage.range(symbol, ts - tolerance, ts):
            found = value
        return OrderBookSnapshot.from_bytes(symbol, found) if found is not None else None

    def liquidity(
        self, symbol: str, start: int, end: int, price_bins: int = 120, max_rows: int = 1800
    ) -> LiquidityMatrix:
        """Resting quantity per (second, price bin) for a heatmap, sampling long ranges evenly."""
        step = max(1, math.ceil((end - start + 1) / max_rows))
        if step == 1:
            values = [v for _, v in self.storage.range(symbol, start, end)]
        else:  # one read per sampled second: a day of 86,400 values is never read for 900 rows
            get = self.storage.get
            values = [v for ts in range(start, end + 1, step) if (v := get(symbol, ts)) is not None]
        return liquidity_matrix(decode_many(symbol, values), price_bins)

    def coverage(self, symbol: str, start: int, end: int) -> Coverage:
        present: list[tuple[int, int]] = []
        stored = 0
        for ts in self.storage.seconds(symbol, start, end):  # keys only: values are never read
            stored += 1
            if present and present[-1][1] == ts - 1:
                present[-1] = (present[-1][0], ts)
            else:
                present.append((ts, ts))
        missing = []
        cursor = start
        for a, b in present:
            if a > cursor:
                missing.append((cursor, a - 1))
            cursor = b + 1
        if cursor <= end:
            missing.append((cursor, end))
        return Coverage(start, end, stored, present, missing, self.storage.gaps(symbol, start, end))
