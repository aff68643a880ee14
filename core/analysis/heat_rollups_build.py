"""The heatmap rollup rows of a view read back, the minutes without one filled from their seconds, and the
build that gives a database without rows (the reference service's, or one recorded before they existed) all of
them once, with progress.

Where rows come from, in order: the database's `heat` / `heat_hours` families (written while recording, or by a
build on a writer handle); rows a build made for a database it could not write (a read-only or secondary
handle), kept in memory for the process; and, for a few minutes at most (`fill_minutes`, the minutes recording
started or stopped in), the seconds themselves, through the same `minute_row` the recorder runs.

Blocking (RocksDB reads); the app runs every call here in an executor.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

import numpy as np

from core.analysis.browse import LEVEL_ERRORS, SymbolRollups, decode_tolerant
from core.analysis.heat_rollups import (
    HOUR,
    MINUTE,
    HeatRow,
    HeatTable,
    decode_row,
    decode_rows,
    encode_row,
    hour_row,
    join_tables,
    minute_row,
    table_of,
)
from core.analysis.history import checked_levels
from core.storage.keys import snapshot_key
from core.storage.rollup_rows import rollup_rows, row_starts
from core.storage.store import HEAT_CF, HEAT_HOURS_CF, SnapshotStorage

BUILD_MINUTES = 1440  # minutes per step of a build (a day)
Progress = Callable[[float], None]

# Rows built for databases that could not store them: (database path, symbol) -> {width: {start: row}}.
_MEMORY: dict[tuple[str, str], dict[int, dict[int, HeatRow]]] = {}
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
            storage.damage.record(family, symbol, snapshot_key(symbol, ts), "heatmap rollup row is not readable", ts)
        else:
            rows[ts] = row
    built = _MEMORY.get((storage.path, symbol), {}).get(width)
    if built:
        for ts, row in built.items():
            if start <= ts <= end:
                rows.setdefault(ts, row)
    return rows


def read_table(storage: SnapshotStorage, symbol: str, width: int, start: int, end: int) -> HeatTable:
    """`read_rows` as one table, decoded in one numpy pass (a view reads thousands of rows)."""
    family = _family(width)
    table, bad = decode_rows(list(rollup_rows(storage, family, symbol, start, end)), width)
    for ts in bad:
        storage.damage.record(family, symbol, snapshot_key(symbol, ts), "heatmap rollup row is not readable", ts)
    built = _MEMORY.get((storage.path, symbol), {}).get(width)
    if built:
        have = set(table.starts.tolist())
        extra = [row for ts, row in sorted(built.items()) if start <= ts <= end and ts not in have]
        if extra:
            table = join_tables([table, table_of(extra)])
    return table


def fill_minutes(storage: SnapshotStorage, symbol: str, minutes: list[int]) -> dict[int, HeatRow]:
    """Rows computed from the stored seconds of `minutes` (ascending minute starts): one range read per run of
    consecutive minutes. A minute without a stored second gets no row."""
    rows: dict[int, HeatRow] = {}
    for first, last in _runs(minutes):
        snaps = decode_tolerant(storage, symbol, storage.range(symbol, first, last + MINUTE - 1))
        by_minute: dict[int, list] = defaultdict(list)
        for snap in snaps:
            by_minute[snap.timestamp // MINUTE * MINUTE].append(snap)
        for start, group in by_minute.items():
            try:
                rows[start] = minute_row(start, [(s.bids, s.asks) for s in group])
            except LEVEL_ERRORS:  # a damaged level: those snapshots are left out (and counted)
                usable = checked_levels(storage, symbol, group)
                rows[start] = minute_row(start, [(s.bids, s.asks) for s in usable])
    return rows


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
    memory = _MEMORY.get((storage.path, state.symbol), {})
    hours = row_starts(storage, HEAT_HOURS_CF, state.symbol, state.first // HOUR * HOUR, until)
    hours = np.union1d(hours, np.fromiter(memory.get(HOUR, {}), np.int64))
    wanted = wanted[~np.isin(wanted // HOUR * HOUR, hours)]
    have = [np.fromiter(memory.get(MINUTE, {}), np.int64)]
    for first, last in _runs((np.unique(wanted // HOUR * HOUR)).tolist(), HOUR):
        have.append(row_starts(storage, HEAT_CF, state.symbol, first, last + HOUR - 1))
    return wanted[~np.isin(wanted, np.concatenate(have))]


def build_heat(storage: SnapshotStorage, state: SymbolRollups, progress: Progress | None = None) -> int:
    """Give every minute of `state` that has stored seconds but no heatmap row one, from its seconds, and every
    hour whose stored minutes then all have one its hour row; the minute `state.last` is in is left to the
    recorder (it may still be recording). Writes them into the database on a writer handle, else keeps them in
    memory for the process. Returns the minute rows built; 0 (and no reads of seconds) when none is missing."""
    missing = missing_minutes(storage, state, state.last).tolist()
    if not missing:
        return 0
    built = 0
    for lo in range(0, len(missing), BUILD_MINUTES):
        chunk = missing[lo : lo + BUILD_MINUTES]
        rows = fill_minutes(storage, state.symbol, chunk)
        _keep(storage, state.symbol, MINUTE, rows)
        built += len(rows)
        if progress is not None:
            progress(min(1.0, (lo + len(chunk)) / len(missing)) * 0.95)
    hours = sorted({m // HOUR * HOUR for m in missing})
    for lo in range(0, len(hours), 24):
        _keep(storage, state.symbol, HOUR, _hour_rows(storage, state, hours[lo : lo + 24]))
    if progress is not None:
        progress(1.0)
    return built


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


def _keep(storage: SnapshotStorage, symbol: str, width: int, rows: dict[int, HeatRow]) -> None:
    if not rows:
        return
    if storage.mode == "writer":
        family = _family(width)
        storage.put_encoded([], rollup_rows=[(family, symbol, ts, encode_row(row)) for ts, row in rows.items()])
        return
    with _MEMORY_LOCK:
        _MEMORY.setdefault((storage.path, symbol), {}).setdefault(width, {}).update(rows)
