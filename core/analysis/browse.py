"""Browsing a recording at any range and zoom: per-minute rollups built on demand and cached, the series of a
view at the view's resolution, and what the cursor shows (the recorded ladder, L1 metrics, order flow).

Rollups are built the first time a symbol is browsed, then extended with the seconds recorded since, and cached
in memory and in a directory (an .npz file per database and symbol). A build reads the minute rows the recorder
wrote (the `rollups` column family, core.analysis.minute_rows: one row a minute) and rolls up only the minutes
without one from the `series` column family (or, for a database without it, from the snapshots): the minutes
recording started or stopped in, and every minute of a database recorded before the recorder wrote rows (or by
the reference service). The cache file still helps those, and works for every way a database can be opened.

Blocking (RocksDB reads); the app runs every call here in an executor. A `RollupIndex` may be used from several
executor threads: one lock serialises the builds.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.analysis.history import History
from core.analysis.l1 import L1Metrics, compute_l1_metrics
from core.analysis.minute_rows import decode_minutes, minutes_rollup
from core.analysis.order_flow import InsufficientDataError, OrderFlow
from core.analysis.order_flow_window import SlidingOrderFlow
from core.analysis.rollups import (
    Rollup,
    coarsen,
    combine,
    empty_rollup,
    gap_runs,
    holes_between,
    in_runs,
    merge_runs,
    reason_code,
    rollup_seconds,
    runs_in,
)
from core.analysis.series import SeriesArrays, series_to_arrays
from core.storage.gaps import GapReason
from core.storage.keys import MAX_TIMESTAMP
from core.storage.snapshot import OrderBookSnapshot, decode_range
from core.storage.store import SnapshotStorage

log = logging.getLogger(__name__)

MINUTE = 60
BUILD_CHUNK = 86_400  # seconds read per step of a build: a day, ~8 MB of series rows
MAX_POINTS = 4000  # buckets a view draws at most
SECONDS_LIMIT = 6 * 3600  # views up to this long are rolled up from the stored seconds, longer from minutes
SECOND_WIDTHS = (1, 2, 5, 10, 15, 30)
MINUTE_FACTORS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080)
_CACHE_VERSION = 1

Progress = Callable[[float], None]


# ---- per-second rows --------------------------------------------------------------------------------------


def read_seconds(storage: SnapshotStorage, symbol: str, start: int, end: int) -> SeriesArrays:
    """Per-second series rows in [start, end] from the `series` family; derived from the snapshots for a
    database that has no series rows there (the reference service's). A damaged row is recomputed from its
    snapshot, or left out when that is damaged too, and counted in `storage.damage` (History.series)."""
    return History(storage).series(symbol, start, end)


def read_snapshots(storage: SnapshotStorage, symbol: str, start: int, end: int) -> list[OrderBookSnapshot]:
    """Snapshots in [start, end], a damaged value skipped (and counted) rather than failing the range."""
    return decode_tolerant(storage, symbol, storage.range(symbol, start, end))


def decode_tolerant(storage: SnapshotStorage, symbol: str, items) -> list[OrderBookSnapshot]:
    """(second, stored value) pairs decoded, checking shapes but not every level (the fast bulk read); a value
    that does not decode, or whose timestamp is not its key's second, is skipped and counted in
    `storage.damage`."""
    return decode_range(symbol, items, storage.damage.snapshot)


# What a computation over decoded levels raises when a damaged level reaches it (a float() of garbage, a level
# that is not a pair); the reader then checks every level (`checked_levels`) and computes again.
LEVEL_ERRORS = (ValueError, TypeError, IndexError, AttributeError)


# ---- per-minute rollups of one symbol ---------------------------------------------------------------------


@dataclass(slots=True)
class SymbolRollups:
    """Everything a view of one symbol needs that does not depend on the view, up to `last`."""

    symbol: str
    first: int  # first stored second
    last: int  # last stored second rolled up
    gaps_until: int  # gap records rolled up to this second (they may run past the last stored second)
    stored: int
    gap_records: int
    minute: Rollup
    holes: np.ndarray  # (first, last) runs of seconds without a snapshot in [first, last]
    gap_runs: np.ndarray  # (first, last, reason code) runs of gap records
    saved_last: int = field(default=0)
    # Seconds `storage.count` holds that no reader can roll up (their snapshot and series row are both damaged),
    # found by a full build: without it every `ensure` would take the difference for a change and rebuild.
    unreadable: int = field(default=0)

    @property
    def end(self) -> int:
        return max(self.last, self.gaps_until)

    def stored_in(self, start: int, end: int) -> int:
        lo, hi = max(start, self.first), min(end, self.last)
        if hi < lo:
            return 0
        holes = runs_in(self.holes, lo, hi)
        return (hi - lo + 1) - int((holes[:, 1] - holes[:, 0] + 1).sum())

    def gaps_in(self, start: int, end: int) -> int:
        runs = runs_in(self.gap_runs, start, end)
        return int((runs[:, 1] - runs[:, 0] + 1).sum())

    def latest_stored_at_or_before(self, ts: np.ndarray) -> np.ndarray:
        """For each second, the latest stored second at or before it (-1 before the first)."""
        ts = np.minimum(np.asarray(ts, dtype=np.int64), self.last)
        out = ts.copy()
        if len(self.holes):
            i = np.searchsorted(self.holes[:, 0], ts, side="right") - 1
            inside = (i >= 0) & (self.holes[np.maximum(i, 0), 1] >= ts)
            out = np.where(inside, self.holes[np.maximum(i, 0), 0] - 1, ts)
        return np.where(out >= self.first, out, -1)


def _extend(
    state: SymbolRollups | None, storage: SnapshotStorage, symbol: str, start: int, end: int, minute_rows: bool
) -> None:
    """Roll [start, end] up into `state` (start is after everything it holds): the whole minutes inside it from
    the recorder's minute rows where there are some (`minute_rows`), every other second from its series row."""
    assert state is not None
    gaps = storage.gaps(symbol, start, end)
    gap_ts = np.fromiter((g.timestamp for g in gaps), np.int64, count=len(gaps))
    codes = np.fromiter((reason_code(g.reason) for g in gaps), np.int64, count=len(gaps))
    first_whole = -(-start // MINUTE) * MINUTE
    rows = decode_minutes(storage.rollups(symbol, first_whole, end - MINUTE + 1)) if minute_rows else None
    if rows is None or not len(rows.minutes):
        seconds = read_seconds(storage, symbol, start, end)
        loose_gaps = gap_ts
        covered = None
    else:
        parts = [read_seconds(storage, symbol, a, b) for a, b in _uncovered(rows.minutes, start, end)]
        seconds = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]} if parts else series_to_arrays([])
        loose_gaps = gap_ts[~np.isin(gap_ts // MINUTE * MINUTE, rows.minutes)]
        covered = minutes_rollup(rows, start, end)
    ts = seconds["timestamp"]
    if covered is not None:  # two ascending runs: a stable sort merges them in linear time
        ts = np.sort(np.concatenate([rows.stored, ts]), kind="stable")
    hi = max(int(ts[-1]) if len(ts) else start, int(gap_ts[-1]) if len(gap_ts) else start)
    if len(seconds["timestamp"]) or len(loose_gaps):
        state.minute = combine(state.minute, rollup_seconds(seconds, MINUTE, start, hi, loose_gaps))
    if covered is not None:
        state.minute = combine(state.minute, covered.window(start, hi))
    if len(ts):
        state.holes = merge_runs(state.holes, holes_between(ts, before=state.last if state.stored else None))
        if not state.stored:
            state.first = int(ts[0])
        state.last = int(ts[-1])
        state.stored += len(ts)
    if len(gap_ts):
        state.gap_runs = merge_runs(state.gap_runs, gap_runs(gap_ts, codes))
        state.gap_records += len(gap_ts)
    state.gaps_until = max(state.gaps_until, end)


def _uncovered(minutes: np.ndarray, start: int, end: int) -> list[tuple[int, int]]:
    """The runs of [start, end] outside the given minutes (ascending minute starts)."""
    runs = []
    cursor = start
    for m in minutes.tolist():
        if m > cursor:
            runs.append((cursor, min(m - 1, end)))
        cursor = max(cursor, m + MINUTE)
    if cursor <= end:
        runs.append((cursor, end))
    return runs


def build_rollups(
    storage: SnapshotStorage,
    symbol: str,
    progress: Progress | None = None,
    state: SymbolRollups | None = None,
    minute_rows: bool = True,
) -> SymbolRollups:
    """Build a symbol's rollups from its first second, or extend `state` with the seconds recorded since;
    `minute_rows=False` reads every second's series row even where the recorder wrote minute rows."""
    edges = storage.first_last(symbol)
    if edges is None:
        raise ValueError(f"Nothing is recorded for {symbol} in this database.")
    first, last = edges
    if state is None:
        state = SymbolRollups(
            symbol, first, first - 1, first - 1, 0, 0, empty_rollup(MINUTE),
            np.empty((0, 2), np.int64), np.empty((0, 3), np.int64),
        )  # fmt: skip
    start = state.end + 1
    # Gap records after the last snapshot (the book is down right now) are read too, up to "now".
    stop = max(last, start)
    total = max(1, stop - start + 1)
    cursor = start
    while cursor <= stop:
        chunk_end = min(stop, cursor + BUILD_CHUNK - 1)
        _extend(state, storage, symbol, cursor, chunk_end, minute_rows)
        cursor = chunk_end + 1
        if progress is not None:
            progress(min(1.0, (cursor - start) / total))
    # Gap records newer than the last snapshot: one more read to the end of the key space.
    tail = storage.gaps(symbol, state.gaps_until + 1, MAX_TIMESTAMP)
    if tail:
        _extend(state, storage, symbol, state.gaps_until + 1, tail[-1].timestamp, minute_rows)
    return state


class RollupIndex:
    """The rollups of every browsed symbol of one database, built on demand, extended as it grows, and kept
    in `cache_dir` (None: in memory only) between runs."""

    def __init__(self, storage_path: str, cache_dir: Path | None = None) -> None:
        self.storage_path = storage_path
        self.cache_dir = cache_dir
        self._states: dict[str, SymbolRollups] = {}
        self._lock = threading.Lock()

    def get(self, symbol: str) -> SymbolRollups | None:
        return self._states.get(symbol)

    def ensure(
        self, storage: SnapshotStorage, symbol: str, progress: Progress | None = None
    ) -> SymbolRollups:
        """The symbol's rollups up to its last recorded second, built or extended as needed."""
        with self._lock:
            state = self._states.get(symbol) or self._load(symbol)
            edges = storage.first_last(symbol)
            if edges is None:
                raise ValueError(f"Nothing is recorded for {symbol} in this database.")
            if state is not None and (state.first != edges[0] or state.last > edges[1]):
                state = None  # older seconds were deleted (retention) or the cache is another database's
            count = storage.count(symbol)
            if state is not None and state.last == edges[1] and state.stored + state.unreadable == count:
                self._states[symbol] = state
                return state
            state = build_rollups(storage, symbol, progress, state)
            # Something changed inside the covered range: rebuild.
            if state.stored + state.unreadable != count:
                log.info("rebuilding rollups symbol=%s cached=%s stored=%s", symbol, state.stored, count)
                state = build_rollups(storage, symbol, progress, minute_rows=False)
                state.unreadable = count - state.stored  # damaged seconds (counted in storage.damage), or 0
            self._states[symbol] = state
            if state.last - state.saved_last >= 3600:
                self._save(state)
            return state

    # ---- the cache file ----

    def cache_file(self, symbol: str) -> Path | None:
        if self.cache_dir is None:
            return None
        digest = hashlib.sha1(os.path.realpath(self.storage_path).encode()).hexdigest()[:16]
        return self.cache_dir / digest / f"{symbol}.npz"

    def _save(self, state: SymbolRollups) -> None:
        path = self.cache_file(state.symbol)
        if path is None:
            return
        meta = np.array([_CACHE_VERSION, state.first, state.last, state.gaps_until, state.stored,
                         state.gap_records, state.minute.width], dtype=np.int64)  # fmt: skip
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npz")
            np.savez(tmp, meta=meta, holes=state.holes, gap_runs=state.gap_runs,
                     **{f"m_{k}": v for k, v in state.minute.arrays.items()})  # fmt: skip
            os.replace(tmp, path)
            state.saved_last = state.last
        except OSError as exc:
            log.warning("could not cache rollups symbol=%s path=%s error=%s", state.symbol, path, exc)

    def _load(self, symbol: str) -> SymbolRollups | None:
        path = self.cache_file(symbol)
        if path is None or not path.exists():
            return None
        try:
            with np.load(path) as data:
                version, first, last, gaps_until, stored, gap_records, width = data["meta"].tolist()
                if version != _CACHE_VERSION or width != MINUTE:
                    return None
                minute = Rollup(width, {k[2:]: data[k] for k in data.files if k.startswith("m_")})
                return SymbolRollups(symbol, first, last, gaps_until, stored, gap_records, minute,
                                     data["holes"], data["gap_runs"], last)  # fmt: skip
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # a damaged file: rebuilt
            log.warning("ignored an unreadable rollup cache path=%s error=%s", path, exc)
            with contextlib.suppress(OSError):
                path.unlink()
            return None


# ---- the series of a view ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SeriesView:
    rollup: Rollup  # buckets of `rollup.width` seconds over the view
    holes: np.ndarray  # runs of seconds without a snapshot in the view
    gap_runs: np.ndarray  # runs of gap records in the view, with reason codes
    stored: int  # seconds with a snapshot in the view
    gap_records: int


def view_width(span: int, max_points: int = MAX_POINTS) -> int:
    """Seconds per bucket for a view of `span` seconds: the finest that keeps it to `max_points` buckets."""
    if span <= SECONDS_LIMIT:
        for width in SECOND_WIDTHS:
            if span / width <= max_points:
                return width
    for factor in MINUTE_FACTORS:
        if span / (MINUTE * factor) <= max_points:
            return MINUTE * factor
    return MINUTE * MINUTE_FACTORS[-1]


def series_view(
    storage: SnapshotStorage, state: SymbolRollups, start: int, end: int, max_points: int = MAX_POINTS
) -> SeriesView:
    """The series of [start, end] at the finest resolution that keeps it to `max_points` buckets."""
    width = view_width(end - start + 1, max_points)
    if width < MINUTE:
        rows = read_seconds(storage, state.symbol, start, end)
        gap_ts = np.fromiter((g.timestamp for g in storage.gaps(state.symbol, start, end)), np.int64)
        rollup = rollup_seconds(rows, width, start, end, gap_ts)
    else:
        rollup = coarsen(state.minute.window(start, end), width // MINUTE).window(start, end)
    return SeriesView(
        rollup, runs_in(state.holes, start, end), runs_in(state.gap_runs, start, end),
        state.stored_in(start, end), state.gaps_in(start, end),
    )  # fmt: skip


# ---- the cursor -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CursorData:
    symbol: str
    timestamp: int
    snapshot: OrderBookSnapshot | None  # None: nothing stored at this second
    metrics: L1Metrics | None
    flow: OrderFlow | None
    flow_problem: str | None  # why there is no order flow, a sentence
    gap_reason: GapReason | None  # the recorder's reason when the second has a gap record


def cursor_at(
    storage: SnapshotStorage, symbol: str, ts: int, flow_window: int = 60, sliding: SlidingOrderFlow | None = None
) -> CursorData:
    """The recorded ladder at `ts`, its L1 metrics, and the order flow over the window ending at `ts`. A damaged
    snapshot counts as nothing stored at that second and is left out of the window (History, storage.damage).
    `sliding` (the same database and symbol) reuses the previous window's reads: a cursor drag reads a second."""
    history = History(storage)
    snap = history.ladder_at(symbol, ts)  # every level checked: the L1 metrics never meet a damaged one
    metrics = (
        compute_l1_metrics(symbol, snap.bids, snap.asks, snap.timestamp * 1000, snap.update_id)
        if snap
        else None
    )
    gap_reason = None
    if snap is None:
        gaps = storage.gaps(symbol, ts, ts)
        gap_reason = gaps[0].reason if gaps else None
    flow = problem = None
    try:
        if sliding is not None:
            flow = sliding.flow(flow_window, ts)
        else:
            flow = history.get_order_flow(symbol, flow_window, ts)
    except (InsufficientDataError, ValueError) as exc:
        problem = str(exc)
    return CursorData(symbol, ts, snap, metrics, flow, problem, gap_reason)


def next_stored(state: SymbolRollups, ts: int) -> int | None:
    """The first stored second at or after `ts` (skipping a hole), or None past the last."""
    if ts > state.last:
        return None
    ts = max(ts, state.first)
    i = in_runs(state.holes, ts)
    return ts if i is None else int(state.holes[i, 1]) + 1
