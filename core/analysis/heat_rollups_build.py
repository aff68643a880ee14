"""The heatmap rollup rows of a view read back, the minutes without one filled from their seconds, and the
build that gives a database without rows (the reference service's, or one recorded before they existed) all of
them once, with progress.

Where rows come from, in order: the database's `heat` / `heat_hours` families (written while recording, or by a
build on a writer handle); rows a build made for a database it could not write (a read-only or secondary
handle), kept for the process and in a cache file (core.analysis.heat_cache: loaded by the next process's build,
extended as the database grows); and, for a few minutes at most (`fill_minutes`, the minutes recording started
or stopped in), the seconds themselves, through the same `minute_row` the recorder runs.

Blocking (RocksDB reads); the app runs every call here in an executor.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from itertools import groupby
from pathlib import Path

import numpy as np

from core.analysis.browse import LEVEL_ERRORS, SymbolRollups, decode_tolerant
from core.analysis.heat_cache import BuiltRows, database_identity, load
from core.analysis.heat_rollups import (
    HOUR,
    MINUTE,
    HeatRow,
    HeatTable,
    Levels,
    decode_row,
    decode_rows,
    encode_row,
    hour_row,
    join_tables,
    minute_row,
)
from core.analysis.history import checked_levels
from core.storage.keys import snapshot_key
from core.storage.rollup_rows import rollup_rows, row_starts
from core.storage.snapshot import raw_sides
from core.storage.store import HEAT_CF, HEAT_HOURS_CF, SnapshotStorage

log = logging.getLogger(__name__)

BUILD_MINUTES = 1440  # minutes per step of a build (a day)
Progress = Callable[[float], None]

# Rows built for databases that could not store them, by (database path, symbol).
_MEMORY: dict[tuple[str, str], BuiltRows] = {}
_MEMORY_LOCK = threading.Lock()


def _family(width: int) -> str:
    return HEAT_CF if width == MINUTE else HEAT_HOURS_CF


def read_rows(storage: SnapshotStorage, symbol: str, width: int, start: int, end: int) -> dict[int, HeatRow]:
    """The rows `width` seconds wide (a minute or an hour) whose first second is in [start, end], by start. A
    row that does not decode is left out (its span is then read from finer rows or the seconds) and counted."""
    family = _family(width)
    rows: dict[int, HeatRow] = {}
    for ts, value in rollup_rows(storage, family, symbol, start, end):
        row = decode_row(ts, value, width)
        if row is None:
            storage.damage.record(
                family, symbol, snapshot_key(symbol, ts), "heatmap rollup row is not readable", ts
            )
        else:
            rows[ts] = row
    built = _MEMORY.get((storage.path, symbol))
    if built is not None:
        for ts, value in built.items(width, start, end):
            if ts not in rows:
                rows[ts] = decode_row(ts, value, width)  # checked when built or loaded: decodes
    return rows


def read_table(storage: SnapshotStorage, symbol: str, width: int, start: int, end: int) -> HeatTable:
    """`read_rows` as one table, decoded in one numpy pass (a view reads thousands of rows)."""
    family = _family(width)
    table, bad = decode_rows(list(rollup_rows(storage, family, symbol, start, end)), width)
    for ts in bad:
        storage.damage.record(
            family, symbol, snapshot_key(symbol, ts), "heatmap rollup row is not readable", ts
        )
    built = _MEMORY.get((storage.path, symbol))
    if built is not None:
        extra = built.items(width, start, end)
        if len(table) and extra:  # a row the database holds wins
            have = set(table.starts.tolist())
            extra = [(ts, v) for ts, v in extra if ts not in have]
        if extra:
            table = join_tables([table, decode_rows(extra, width)[0]])
    return table


def fill_minutes(storage: SnapshotStorage, symbol: str, minutes: list[int]) -> dict[int, HeatRow]:
    """Rows computed from the stored seconds of `minutes` (ascending minute starts): one range read per run of
    consecutive minutes, decoded a minute at a time (a day of decoded books alive at once made the garbage
    collector's passes cost more than the decoding). A minute without a stored second gets no row."""
    rows: dict[int, HeatRow] = {}
    for first, last in _runs(minutes):
        for start, items in _by_minute(storage.range(symbol, first, last + MINUTE - 1)):
            books = _raw_books(items)
            if books is not None:
                try:
                    rows[start] = minute_row(start, books)
                    continue
                except LEVEL_ERRORS:
                    pass  # decoded again below, where a damaged value or level is left out and counted
            group = decode_tolerant(storage, symbol, items)
            if not group:
                continue
            try:
                rows[start] = minute_row(start, [(s.bids, s.asks) for s in group])
            except LEVEL_ERRORS:  # a damaged level: those snapshots are left out (and counted)
                usable = checked_levels(storage, symbol, group)
                rows[start] = minute_row(start, [(s.bids, s.asks) for s in usable])
    return rows


def _raw_books(items: list[tuple[int, bytes]]) -> list[tuple[Levels, Levels]] | None:
    """The (bids, asks) of stored values with their strings left as bytes; None when any value is not plainly
    one: the minute is then decoded with `decode_tolerant`, which counts the damage."""
    books = []
    for ts, value in items:
        sides = raw_sides(ts, value)
        if sides is None:
            return None
        books.append(sides)
    return books


def _by_minute(items: Iterable[tuple[int, bytes]]) -> Iterable[tuple[int, list[tuple[int, bytes]]]]:
    for start, group in groupby(items, key=lambda item: item[0] // MINUTE * MINUTE):
        yield start, list(group)


def _runs(starts: list[int], width: int = MINUTE) -> list[tuple[int, int]]:
    """Runs (first, last start) of consecutive starts `width` apart."""
    runs: list[tuple[int, int]] = []
    for m in starts:
        if runs and runs[-1][1] + width == m:
            runs[-1] = (runs[-1][0], m)
        else:
            runs.append((m, m))
    return runs


def stored_minutes(state: SymbolRollups, start: int, end: int) -> np.ndarray:
    """Starts of the minutes in [start, end] that hold at least one stored second."""
    window = state.minute.window(start, end)
    return window.t[window["count"] > 0]


def missing_minutes(storage: SnapshotStorage, state: SymbolRollups, until: int) -> np.ndarray:
    """Minutes with stored seconds, before the minute of `until`, that have no row anywhere. An hour row is only
    ever written when every stored minute of its hour has one, so only the hours without one are looked at
    minute by minute (their keys only: a month's minute rows are ~80 MB, its hour keys 720)."""
    wanted = stored_minutes(state, state.first, until // MINUTE * MINUTE - 1)
    built = _MEMORY.get((storage.path, state.symbol)) or BuiltRows(state.symbol, "")
    hours = row_starts(storage, HEAT_HOURS_CF, state.symbol, state.first // HOUR * HOUR, until)
    hours = np.union1d(hours, built.starts(HOUR))
    wanted = wanted[~np.isin(wanted // HOUR * HOUR, hours)]
    have = [built.starts(MINUTE)]
    for first, last in _runs((np.unique(wanted // HOUR * HOUR)).tolist(), HOUR):
        have.append(row_starts(storage, HEAT_CF, state.symbol, first, last + HOUR - 1))
    return wanted[~np.isin(wanted, np.concatenate(have))]


def build_heat(
    storage: SnapshotStorage,
    state: SymbolRollups,
    progress: Progress | None = None,
    cache: Path | None = None,
) -> int:
    """Give every minute of `state` that has stored seconds but no heatmap row one, from its seconds, and every
    hour whose stored minutes then all have one its hour row; the minute `state.last` is in is left to the
    recorder (it may still be recording). Writes them into the database on a writer handle; else keeps them for
    the process and, with `cache` (a file path), on disk, where the next process's build finds them. Returns the
    minute rows built; 0 (and no reads of seconds) when none is missing."""
    writer = storage.mode == "writer"
    # On a writer handle too: rows this process built before on another handle of it must still match.
    kept = _built_rows(storage, state, None if writer else cache)
    if writer:
        cache = None
    missing = missing_minutes(storage, state, state.last).tolist()
    built = 0
    for lo in range(0, len(missing), BUILD_MINUTES):
        chunk = missing[lo : lo + BUILD_MINUTES]
        rows = fill_minutes(storage, state.symbol, chunk)
        _keep(storage, kept, state, MINUTE, rows)
        built += len(rows)
        # Saved now and then, each save at least doubling the file: a quit mid-build keeps most of the work.
        if cache is not None and len(kept) >= 2 * max(kept.saved, 1000):
            kept.save(cache)
        if progress is not None:
            progress(min(1.0, (lo + len(chunk)) / len(missing)) * 0.95)
    hours = sorted({m // HOUR * HOUR for m in missing})
    for lo in range(0, len(hours), 24):
        _keep(storage, kept, state, HOUR, _hour_rows(storage, state, hours[lo : lo + 24]))
    if cache is not None and kept.changed:
        kept.save(cache)
    if progress is not None:
        progress(1.0)
    return built


def _built_rows(storage: SnapshotStorage, state: SymbolRollups, cache: Path | None) -> BuiltRows:
    """The process's built rows of this database and symbol, else those of the cache file, else none yet; only
    the rows whose span still has the stored seconds they were built over."""
    identity = database_identity(storage.path)
    with _MEMORY_LOCK:
        kept = _MEMORY.get((storage.path, state.symbol))
        if kept is None or kept.identity != identity:  # first use, or another database now at that path
            kept = (load(cache, state.symbol, identity) if cache is not None else None) or BuiltRows(
                state.symbol, identity
            )
            _MEMORY[(storage.path, state.symbol)] = kept
    dropped = kept.keep_matching(lambda width, starts: span_counts(state, width, starts))
    if dropped:
        log.info(
            "dropped built heatmap rows symbol=%s rows=%s (their seconds changed)", state.symbol, dropped
        )
    return kept


def likely_to_build(storage: SnapshotStorage, symbol: str, cache: Path | None = None) -> bool:
    """Whether a build for `symbol` will probably read most of its seconds: rows for fewer than half the minutes
    of its last recorded day in the database, none built by this process, no cache file (a cheap guess, for the
    progress bar)."""
    edges = storage.first_last(symbol)
    if edges is None or _MEMORY.get((storage.path, symbol)) or (cache is not None and cache.exists()):
        return False
    first = max(edges[0], edges[1] - 86_400 + 1)
    rows = row_starts(storage, HEAT_CF, symbol, first, edges[1]).size
    return rows < (edges[1] - first + 1) / MINUTE / 2


def built_rows(storage_path: str, symbol: str) -> BuiltRows | None:
    """The rows this process built, or loaded from a cache file, for a database it could not write."""
    return _MEMORY.get((storage_path, symbol))


def forget(storage_path: str) -> None:
    """Drop the process's built rows of a database (a later build loads them from its cache file again)."""
    with _MEMORY_LOCK:
        for key in [k for k in _MEMORY if k[0] == storage_path]:
            del _MEMORY[key]


def span_counts(state: SymbolRollups, width: int, starts: np.ndarray) -> np.ndarray:
    """The stored seconds of the minutes (or hours) starting at `starts`, per the series rollups."""
    t, count = state.minute.t, state.minute["count"]
    if not len(t):
        return np.zeros(len(starts), np.int64)
    total = np.concatenate([[0], np.cumsum(count, dtype=np.int64)])
    # The rollup's minutes are contiguous from t[0]: a span's counts are a difference of the running total.
    lo = np.clip((starts - t[0]) // MINUTE, 0, len(t))
    hi = np.clip((starts + width - t[0]) // MINUTE, 0, len(t))
    return total[hi] - total[lo]


def _hour_rows(storage: SnapshotStorage, state: SymbolRollups, hours: list[int]) -> dict[int, HeatRow]:
    """Hour rows of `hours` where every minute with stored seconds has a row (and the hour is over)."""
    out: dict[int, HeatRow] = {}
    if not hours:
        return out
    minutes = read_rows(storage, state.symbol, MINUTE, hours[0], hours[-1] + HOUR - 1)
    for start in hours:
        if start + HOUR - 1 >= state.last:
            continue
        stored = stored_minutes(state, start, start + HOUR - 1).tolist()
        if stored and all(m in minutes for m in stored):
            out[start] = hour_row(start, [minutes[m] for m in stored])
    return out


def _keep(
    storage: SnapshotStorage, kept: BuiltRows, state: SymbolRollups, width: int, rows: dict[int, HeatRow]
) -> None:
    if not rows:
        return
    if storage.mode == "writer":
        family = _family(width)
        storage.put_encoded(
            [], rollup_rows=[(family, state.symbol, ts, encode_row(row)) for ts, row in rows.items()]
        )
        return
    starts = np.fromiter(rows, np.int64, count=len(rows))
    counts = dict(zip(rows, span_counts(state, width, starts).tolist(), strict=True))
    kept.add(width, rows, counts)
