"""History queries over a recording: chart series, the recorded ladder at a second, order flow.

Blocking (RocksDB reads); the GUI runs them in an executor for long ranges. Long ranges never decode more
than they need: chart series come from the `series` column family written at record time (89 bytes a
second, decoded in one numpy call), heatmaps sample at most `max_rows` seconds.

A damaged record never fails a query: a snapshot that does not decode is skipped (SnapshotStorage.snapshots),
a snapshot whose levels trip a computation is found by the full level check and left out, and a series row
that does not decode is recomputed from its snapshot. Each is counted and named in `storage.damage`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import numpy as np

from core.analysis.order_flow import OrderFlow, check_flow_window, compute_order_flow, insufficient_flow_data
from core.analysis.series import (
    SERIES_FIELDS,
    SERIES_ROW_DTYPE,
    SERIES_ROW_VERSION,
    SeriesArrays,
    series_from_snapshot,
    series_to_arrays,
    stored_rows_to_arrays,
)
from core.storage.keys import normal_symbol
from core.storage.snapshot import OrderBookSnapshot, SnapshotDecodeError, level_problem
from core.storage.store import SERIES_CF, SnapshotStorage

T = TypeVar("T")

_ROW_DTYPE, _ROW_VERSION = SERIES_ROW_DTYPE, SERIES_ROW_VERSION  # core.analysis.series' stored row
# What a computation over decoded levels raises when a damaged level reaches it (a float() of garbage, a level
# that is not a pair): the query then checks every snapshot, leaves the damaged ones out and computes again.
_LEVEL_ERRORS = (ValueError, TypeError, IndexError, AttributeError)


class History:
    def __init__(self, storage: SnapshotStorage) -> None:
        self.storage = storage

    def series(self, symbol: str, start: int, end: int) -> SeriesArrays:
        """Per-second mid, spread, bps, microprice, volumes and imbalance over [start, end]."""
        items = list(self.storage.series(symbol, start, end))
        if not items:
            # A database without the series family (the reference service's): derive it from the snapshots.
            snaps = self.snapshots(symbol, start, end)
            return self._tolerant(symbol, snaps, lambda ok: series_to_arrays([series_from_snapshot(s) for s in ok]))
        size = _ROW_DTYPE.itemsize
        if all(len(value) == size for _, value in items):
            table = np.frombuffer(b"".join([value for _, value in items]), dtype=_ROW_DTYPE)
            seconds = np.fromiter((ts for ts, _ in items), np.int64, count=len(items))
            bad = np.flatnonzero((table["version"] != _ROW_VERSION) | (table["timestamp"] != seconds))
            if not bad.size:  # the fast path: every row is what the recorder wrote
                return {name: table[name].copy() for name in SERIES_FIELDS}
        return self._series_with_repairs(symbol, items)

    def _series_with_repairs(self, symbol: str, items: list[tuple[int, bytes]]) -> SeriesArrays:
        """Series rows where some are damaged: those are recomputed from their snapshots (and left out when
        the snapshot is missing or damaged too)."""
        size = _ROW_DTYPE.itemsize
        rows: list[bytes] = []
        for ts, value in items:
            problem = _row_problem(ts, value, size)
            if problem is None:
                rows.append(value)
                continue
            self.storage.damage.record(SERIES_CF, symbol, f"{symbol}:{ts:010d}".encode(), problem, ts)
            row = self._recomputed_row(symbol, ts)
            if row is not None:
                rows.append(row)
        return stored_rows_to_arrays(rows)

    def _recomputed_row(self, symbol: str, ts: int) -> bytes | None:
        snap = self._checked_snapshot(symbol, ts, self.storage.get(symbol, ts))
        if snap is None:
            return None
        try:
            return series_from_snapshot(snap).to_bytes()
        except _LEVEL_ERRORS as exc:
            self.storage.damage.snapshot(symbol, ts, f"cannot derive its series: {exc}")
            return None

    def snapshots(self, symbol: str, start: int, end: int) -> list[OrderBookSnapshot]:
        """The decoded snapshots of [start, end]; damaged ones are skipped and reported (storage.damage)."""
        # Level types are not checked one by one on bulk reads: the shape check is enough for charts.
        return self.storage.snapshots(symbol, start, end)

    def get_order_flow(self, symbol: str, window_secs: int = 60, end: int | None = None) -> OrderFlow:
        """The reference service's order flow over [end − window_secs, end] (core.analytics), read from the
        store; `end` defaults to the last recorded second. ValueError for a window outside 10–300 s,
        InsufficientDataError with fewer than 2 snapshots in the window. Damaged snapshots are left out."""
        symbol = normal_symbol(symbol)
        check_flow_window(window_secs)
        if end is None:
            edges = self.storage.first_last(symbol)
            if edges is None:
                raise insufficient_flow_data(window_secs, 0)
            end = edges[1]
        snaps = self.snapshots(symbol, end - window_secs, end)
        return self._tolerant(symbol, snaps, lambda ok: compute_order_flow(symbol, ok, window_secs, end))

    def ladder_at(self, symbol: str, ts: int, tolerance: int = 0) -> OrderBookSnapshot | None:
        """The snapshot recorded at `ts`, or the latest one at most `tolerance` seconds before it. A damaged
        snapshot counts as missing (and is reported)."""
        snap = self._checked_snapshot(symbol, ts, self.storage.get(symbol, ts))
        if snap is not None or tolerance <= 0:
            return snap
        for second, value in reversed(list(self.storage.range(symbol, ts - tolerance, ts))):
            snap = self._checked_snapshot(symbol, second, value)
            if snap is not None:
                return snap
        return None

    # --- damaged records ---------------------------------------------------------------------------------

    def _tolerant(self, symbol: str, snaps: Sequence[OrderBookSnapshot], compute: Callable[[list], T]) -> T:
        """compute(snaps); if a damaged level makes it fail, again without the snapshots the full level check
        finds damaged. An error that no damaged snapshot explains is raised as it is."""
        try:
            return compute(list(snaps))
        except _LEVEL_ERRORS:
            usable = checked_levels(self.storage, symbol, list(snaps))
            if len(usable) == len(snaps):
                raise
        return compute(usable)

    def _checked_snapshot(self, symbol: str, ts: int, value: bytes | None) -> OrderBookSnapshot | None:
        """One stored value fully checked; None (reported) if it is damaged, None if there is none."""
        if value is None:
            return None
        try:
            snap = OrderBookSnapshot.from_bytes(symbol, value)
        except SnapshotDecodeError as exc:
            self.storage.damage.snapshot(symbol, ts, str(exc))
            return None
        problem = level_problem(snap)
        if problem is None and snap.timestamp != ts:
            problem = f"{symbol} snapshot timestamp {snap.timestamp} is not its key's second {ts}"
        if problem is not None:
            self.storage.damage.snapshot(symbol, ts, problem)
            return None
        return snap


def _row_problem(ts: int, value: bytes, size: int) -> str | None:
    """Why a stored series row cannot be used, or None."""
    if len(value) != size:
        return f"series row is {len(value)} bytes, not {size}"
    row = np.frombuffer(value, dtype=_ROW_DTYPE)[0]
    if row["version"] != _ROW_VERSION:
        return f"unknown series row version {int(row['version'])}"
    if row["timestamp"] != ts:
        return f"series row second {int(row['timestamp'])} is not its key's second {ts}"
    return None


def checked_levels(
    storage: SnapshotStorage, symbol: str, snaps: list[OrderBookSnapshot]
) -> list[OrderBookSnapshot]:
    """The snapshots whose every level is a pair of decimal strings; the others are counted in `storage.damage`."""
    usable = []
    for snap in snaps:
        problem = level_problem(snap)
        if problem is None:
            usable.append(snap)
        else:
            storage.damage.snapshot(symbol, snap.timestamp, problem)
    return usable
