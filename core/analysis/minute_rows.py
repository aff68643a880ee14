"""Minute rollups written while recording: one row per symbol per whole minute the recorder watched, so that
browsing months reads about 140 bytes a minute instead of 60 series rows (5 KB).

A row is the minute's bucket of the per-minute `Rollup` (core.analysis.rollups), computed by the same
`rollup_seconds` a reader would run over the minute's series rows, plus a 60-bit map of the seconds that hold a
snapshot (a reader rebuilds the holes from it). `MinuteRollups` collects the series rows and gap seconds of each
recorded symbol as the recorder writes them and hands back the row of each minute once it is over.

Only minutes the recorder watched whole get a row: every tick of the minute captured, as a snapshot or a gap
record. The recorder is the database's only writer, so then the row says exactly what the minute holds. A minute
recording started or stopped in, or one a crash cut, gets no row: readers roll it up from its series rows
(core.analysis.browse). Adding the same second twice (a tick written again after a failed write) changes nothing.

Given the books too, a whole minute also gets its heatmap row (core.analysis.heat_rollups, family `heat`), and
an hour whose 60 minutes all got one gets its hour row (`heat_hours`), both in the same batch as the minute row.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.analysis.heat_rollups import HOUR, HourSums, add_to_hours, encode_row, numbers_rows
from core.analysis.rollups import ROLLUP_FIELDS, Rollup, empty_rollup, rollup_seconds
from core.analysis.series import SERIES_FIELDS, stored_rows_to_arrays
from core.market.book_side import level_numbers
from core.storage.store import HEAT_CF, HEAT_HOURS_CF

MINUTE = 60
_ROW_VERSION = 1
_INT_FIELDS = tuple(f for f in ROLLUP_FIELDS if f != "t" and (f in ("count", "gaps") or f.endswith("_n")))
_FLOAT_FIELDS = tuple(f for f in ROLLUP_FIELDS if f != "t" and f not in _INT_FIELDS)
# version, minute start, stored-seconds map, the integer fields, the float fields (little-endian)
_ROW = struct.Struct(f"<BqQ{len(_INT_FIELDS)}q{len(_FLOAT_FIELDS)}d")
ROW_SIZE = _ROW.size


def encode_minute(minute: Rollup, stored_map: int, bucket: int = 0, start: int | None = None) -> bytes:
    """The row of a minute rollup's bucket (the first) and the map of its stored seconds (bit i: second i of the
    minute); `start`: the minute's first second, when not the bucket's own (`MinuteRollups._rows`)."""
    a = minute.arrays
    return _ROW.pack(
        _ROW_VERSION, int(a["t"][bucket]) if start is None else start, stored_map,
        *(int(a[f][bucket]) for f in _INT_FIELDS), *(float(a[f][bucket]) for f in _FLOAT_FIELDS),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MinuteRows:
    """Decoded rows of consecutive or scattered minutes: a rollup holding only those minutes (`rollup.t` is not
    contiguous) and the stored seconds their maps name."""

    minutes: np.ndarray  # int64 minute starts, ascending
    arrays: dict[str, np.ndarray]  # ROLLUP_FIELDS, one value per row
    stored: np.ndarray  # int64 stored seconds, ascending


_DTYPE = np.dtype(
    [("version", "u1"), ("t", "<i8"), ("stored_map", "<u8")]
    + [(f, "<i8") for f in _INT_FIELDS]
    + [(f, "<f8") for f in _FLOAT_FIELDS]
)


def decode_minutes(items: Iterable[tuple[int, bytes]]) -> MinuteRows:
    """Rows read back as (minute start, value) pairs, ascending. A row that is not this layout, or whose minute
    is not its key's, is left out (its minute is then rolled up from its series rows)."""
    good = [(ts, v) for ts, v in items if len(v) == ROW_SIZE]
    table = np.frombuffer(b"".join(v for _, v in good), dtype=_DTYPE)
    keys = np.fromiter((ts for ts, _ in good), np.int64, count=len(good))
    ok = (table["version"] == _ROW_VERSION) & (table["t"] == keys) & (keys % MINUTE == 0)
    table = table[ok]
    arrays = {f: table[f].copy() for f in ROLLUP_FIELDS}
    bits = np.unpackbits(table["stored_map"].astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    rows, offsets = np.nonzero(bits[:, :MINUTE])
    stored = table["t"][rows] + offsets
    return MinuteRows(arrays["t"], arrays, stored.astype(np.int64))


@dataclass(slots=True)
class _Minute:
    start: int
    # By second (a second added twice counts once): the series row as stored (`SeriesRow.to_bytes`), which the
    # collector never walks, and which the minute's close reads in one numpy pass.
    rows: dict[int, bytes] = field(default_factory=dict)
    gaps: set[int] = field(default_factory=set)
    # By second: the book's (bids, asks) as LEVEL_NUMBERS records for the heatmap row (None: not to be had, no
    # row). 640 bytes a second, where the books' strings were a hundred objects kept for the minute.
    books: dict[int, tuple[bytes, bytes] | None] = field(default_factory=dict)


_SECOND = operator.itemgetter(0)  # of an (second, symbol, row) item

# (symbol, minute start, row) for the `rollups` family; (family, symbol, start, row) for the heatmap families
Row = tuple[str, int, bytes] | tuple[str, str, int, bytes]


class MinuteRollups:
    """The minute each recorded symbol is in, collected tick by tick; `add` returns the rows of minutes over."""

    def __init__(self, interval: int = 1) -> None:
        self.ticks_per_minute = MINUTE // interval if MINUTE % interval == 0 else 0  # 0: no minute is whole
        self._open: dict[str, _Minute] = {}
        self._earliest: int | None = None  # the earliest open minute's start: nothing closes before it (twice a tick)
        self._hours: dict[str, HourSums] = {}  # the heatmap row of the hour each symbol is in, so far

    def add(
        self,
        timestamp: int,
        series: Iterable[tuple[str, int, bytes]],
        gaps: Iterable[tuple[str, int]],
        books: Iterable[tuple[str, Any]] = (),
    ) -> list[Row]:
        """One tick's series rows as written (symbol, second, `SeriesRow.to_bytes()`) and gap seconds (symbol,
        second), possibly with older ticks' (a backlog), and their snapshots (symbol, snapshot: `.timestamp`,
        `.bids`, `.asks`, and `.numbers` if it has them) for the heatmap; returns the rows of every minute that is
        over at `timestamp` (`Row`)."""
        done: list[Row] = []
        levels = {(symbol, snap.timestamp): snap for symbol, snap in books}
        # In time order: a backlog's snapshots and gaps come as two lists, and a minute closes at its first
        # later second, so a gap folded after a later snapshot would spoil two minutes.
        items = [(ts, symbol, row) for symbol, ts, row in series]
        items += [(ts, symbol, None) for symbol, ts in gaps]
        items.sort(key=_SECOND)
        opened = None
        open_minutes = self._open
        for ts, symbol, row in items:
            if opened != (start := ts // MINUTE * MINUTE):
                # Every minute before this one is over: all of them close in one pass, not each at its symbol's
                # first later second (1,500 `rollup_seconds` calls at every minute's turn).
                done += self.finish_before(start)
                opened = start
            minute = open_minutes.get(symbol)
            if minute is None or minute.start != start:  # the symbol's first second of this minute
                minute = self._minute(symbol, ts, done)
            if row is None:
                minute.gaps.add(ts)
            else:
                minute.rows[ts] = row
                snap = levels.get((symbol, ts))
                if snap is not None:
                    minute.books[ts] = _book_numbers(snap)
        return done + self.finish_before(timestamp // MINUTE * MINUTE)

    def finish_before(self, minute_start: int) -> list[Row]:
        """Close every minute that starts before `minute_start`: the rows of those watched whole."""
        done: list[Row] = []
        if self._earliest is None or minute_start <= self._earliest:
            return done
        self._close([s for s, m in self._open.items() if m.start < minute_start], done)
        self._earliest = min((m.start for m in self._open.values()), default=None)
        return done

    def _minute(self, symbol: str, ts: int, done: list[Row]) -> _Minute:
        start = ts // MINUTE * MINUTE
        minute = self._open.get(symbol)
        if minute is not None and minute.start < start:  # a backlog reaches into the next minute
            self._close([symbol], done)
            minute = None
        if minute is None:
            minute = self._open[symbol] = _Minute(start)
            self._earliest = start if self._earliest is None else min(self._earliest, start)
        return minute  # a second older than the open minute (never: ticks go forward) joins it, and spoils it

    def _close(self, symbols: list[str], done: list[Row]) -> None:
        closed = [(symbol, self._open.pop(symbol)) for symbol in symbols]
        whole = [(symbol, minute) for symbol, minute in closed if self._watched_whole(minute)]
        heat: list[tuple[str, int, list[tuple[bytes, bytes]]]] = []
        for (symbol, minute), row in zip(whole, self._rows([m for _, m in whole]), strict=True):
            done.append((symbol, minute.start, row))
            if minute.books.keys() == minute.rows.keys():  # the heatmap row needs every stored second's book
                books = [minute.books[ts] for ts in sorted(minute.books)]
                if all(book is not None for book in books):  # else readers take the seconds: a level not numbers
                    heat.append((symbol, minute.start, books))  # type: ignore[arg-type]
        self._heat(heat, done)

    def _heat(self, minutes: list[tuple[str, int, list[tuple[bytes, bytes]]]], done: list[Row]) -> None:
        """The heatmap rows of these minutes (one per symbol), and of each hour they complete, in one pass."""
        if not minutes:
            return
        rows = numbers_rows([(start, books) for _, start, books in minutes])
        hours = []
        for (symbol, start, _), heat in zip(minutes, rows, strict=True):
            done.append((HEAT_CF, symbol, start, encode_row(heat)))
            hour_start = start // HOUR * HOUR
            hour = self._hours.get(symbol)
            if hour is None or hour.start != hour_start:  # a minute of the last hour had no row: that hour gets none
                hour = self._hours[symbol] = HourSums(hour_start)
            hours.append((hour, heat))
        add_to_hours(hours)
        for (symbol, _, _), (hour, _) in zip(minutes, hours, strict=True):
            if hour.minutes == HOUR // MINUTE:
                done.append((HEAT_HOURS_CF, symbol, hour.start, encode_row(hour.row())))
                del self._hours[symbol]

    def _watched_whole(self, minute: _Minute) -> bool:
        """Every tick of the minute captured (else readers roll it up from the series rows)."""
        seconds = minute.rows.keys() | minute.gaps
        return (
            bool(self.ticks_per_minute)
            and len(seconds) >= self.ticks_per_minute
            and minute.start <= min(seconds)
            and max(seconds) < minute.start + MINUTE
        )

    @staticmethod
    def _rows(minutes: list[_Minute]) -> list[bytes]:
        """The rows of minutes watched whole, all in one `rollup_seconds` pass: the minutes laid end to end, the
        k-th at seconds [60k, 60k + 60), are its buckets (every symbol's minute closes at once: one pass, not
        1,500). Each bucket is what the minute alone would give: a bucket's values come from its seconds only."""
        if not minutes:
            return []
        values: list[bytes] = []
        gaps: list[int] = []
        for k, minute in enumerate(minutes):
            rows = minute.rows
            values += [rows[ts] for ts in sorted(rows)]
            gaps += [ts + k * MINUTE - minute.start for ts in minute.gaps]
        columns = stored_rows_to_arrays(values)
        counts = np.array([len(m.rows) for m in minutes], dtype=np.int64)
        offsets = columns["timestamp"] - np.repeat([m.start for m in minutes], counts)  # 0..59 within its minute
        columns["timestamp"] = offsets + np.repeat(np.arange(len(minutes), dtype=np.int64) * MINUTE, counts)
        rollup = rollup_seconds(columns, MINUTE, 0, len(minutes) * MINUTE - 1, np.array(gaps, dtype=np.int64))
        # Each minute's stored-seconds map: bit i for second i (a minute of gaps alone has none).
        bits = np.left_shift(np.uint64(1), offsets.astype(np.uint64))
        held = counts > 0
        maps = np.zeros(len(minutes), dtype=np.uint64)
        maps[held] = np.bitwise_or.reduceat(bits, (np.cumsum(counts) - counts)[held]) if held.any() else 0
        return [encode_minute(rollup, int(maps[k]), k, m.start) for k, m in enumerate(minutes)]


def _book_numbers(snap: Any) -> tuple[bytes, bytes] | None:
    """A snapshot's sides as LEVEL_NUMBERS records: as its book captured them, else read from its strings (a
    stand-in book's snapshot). None when a level is not a pair of decimal strings or a price is beyond 64 bits."""
    numbers = getattr(snap, "numbers", None)
    if numbers is not None and numbers.whole:
        return numbers.bid_levels, numbers.ask_levels
    try:
        bids, asks = level_numbers(snap.bids), level_numbers(snap.asks)
    except (ValueError, TypeError):
        return None
    return None if bids is None or asks is None else (bids, asks)


def minutes_rollup(rows: MinuteRows, start: int, end: int) -> Rollup:
    """The decoded rows as a contiguous minute rollup over [start, end] (minutes without a row are empty)."""
    if not len(rows.minutes):
        return empty_rollup(MINUTE)
    t0 = start // MINUTE * MINUTE
    n = (end // MINUTE * MINUTE - t0) // MINUTE + 1
    out = rollup_seconds({"timestamp": np.empty(0, np.int64)} | {f: np.empty(0) for f in SERIES_FIELDS[1:]},
                         MINUTE, start, end)  # fmt: skip
    assert len(out) == n
    idx = (rows.minutes - t0) // MINUTE
    for name in ROLLUP_FIELDS:
        if name != "t":
            out.arrays[name][idx] = rows.arrays[name]
    return out
