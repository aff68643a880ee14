"""An archive as a read-only database: the read side of `SnapshotStorage` over an `ArchiveReader`, so that
`stats`, `export`, `order-flow` and the app's history browser (core.analysis) work on an archive as they do
on a local database, reading only the hour files a call needs.

What it answers and from where:
    symbols, first_last, size_on_disk     the listing, and the footers of a symbol's first and last hour
    count                                 the day files' snapshot counts; the footers of hours no day file covers
    snapshots, range, get, seconds        the hour files of the range, decoded; the last few hours decoded are
                                          kept (a cursor moving within an hour reads its file once)
    rollups                               the minute rows (core.analysis.minute_rows) of the day files
                                          (core.archive.rollup, version 2): the history browser's coarse zoom
    gaps                                  the day files' gap records; the `ts` and `gap` columns of the hour
                                          files for hours whose day file carries none (version 1, or lagging)
    series                                nothing: core.analysis derives the seconds of the minutes without a row
                                          from the snapshots (as for a reference database)
So the first build of a symbol's minute rollups reads one day file a day, and hour files only where they lack.
Blocking, like storage: the app runs every call in an executor.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TypeVar

import pyarrow as pa

from core.archive.format import FileMeta
from core.archive.layout import HOUR, hour_start
from core.archive.location import describe
from core.archive.reader import ArchiveReader
from core.archive.rollup import DAY, DaySummary
from core.storage.damage import DamageLog
from core.storage.gaps import GapReason, GapRecord
from core.storage.opening import StorageError
from core.storage.snapshot import OrderBookSnapshot

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])
CACHED_HOURS = 6  # decoded hours kept: about 60 MB of snapshot objects for top-20 books
CACHED_DAYS = 4  # day files kept: a build reads a day at a time, across at most two day files


def _as_storage_error(method: F) -> F:
    """An archive that stops answering fails a read as the database does: StorageError, one sentence."""

    @functools.wraps(method)
    def wrapper(self: ArchiveSource, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(describe(self.reader.location, exc, "read the archive")) from exc

    return wrapper  # type: ignore[return-value]


class ArchiveSource:
    """One market of an archive, opened read-only. `ArchiveSource.open(url)`; `path` is the archive's URL."""

    mode = "read_only"

    def __init__(self, reader: ArchiveReader) -> None:
        self.reader = reader
        self.path = reader.location.url
        self.damage = DamageLog(self.path)
        self._decoded: OrderedDict[tuple[str, int], tuple[dict[int, OrderBookSnapshot], list[GapRecord]]] = (
            OrderedDict()
        )
        self._counts: dict[str, int] = {}
        self._days: OrderedDict[tuple[str, int], DaySummary | None] = OrderedDict()
        self._lock = threading.Lock()  # the app calls from several executor threads

    @classmethod
    def open(cls, url: str, market: str = "spot") -> ArchiveSource:
        """ArchiveError (one sentence) for a URL that cannot be an archive."""
        return cls(ArchiveReader.open(url, market))

    def close(self) -> None:
        self._decoded.clear()
        self._days.clear()
        self.reader.close()

    def __enter__(self) -> ArchiveSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def catch_up(self) -> None:
        """An archive grows by whole hours: nothing to follow between listings."""

    async def run_blocking(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(fn, *args, **kwargs))

    # ---- what is there ----

    @_as_storage_error
    def symbols(self) -> list[str]:
        return self.reader.symbols()

    @_as_storage_error
    def first_last(self, symbol: str) -> tuple[int, int] | None:
        return self.reader.first_last(symbol)

    @_as_storage_error
    def count(self, symbol: str) -> int:
        """Snapshots archived for `symbol`: the sum of its hours' footers."""
        if symbol not in self._counts:
            hours = self.reader.hours(symbol)
            days = sorted({h - h % DAY for h in hours})
            with concurrent.futures.ThreadPoolExecutor(self.reader.threads) as pool:
                summaries = dict(zip(days, pool.map(lambda d: self.reader.day_summary(symbol, d, False), days), strict=True))
                total, uncovered = 0, []
                for h in hours:
                    summary = summaries[h - h % DAY]
                    if summary is None or h not in summary.covered:
                        uncovered.append(h)
                for summary in summaries.values():
                    if summary is not None:
                        covered = summary.covered & set(hours)
                        total += sum(n for m, n in zip(summary.minutes, summary.snapshots, strict=True)
                                     if m - m % HOUR in covered)  # fmt: skip
                metas: list[FileMeta | None] = list(pool.map(lambda h: self.reader.meta(symbol, h), uncovered))
            self._counts[symbol] = total + sum(meta.snapshots for meta in metas if meta is not None)
        return self._counts[symbol]

    @_as_storage_error
    def size_on_disk(self) -> int:
        """Bytes of the market's hour files in the archive."""
        return sum(info.size or 0 for info in self.reader.location.files(f"market={self.reader.market}"))

    @_as_storage_error
    def check_snapshots(self, symbol: str) -> int:
        """Snapshots in hours whose rows no longer give their checksum (a damaged or altered file); reads all."""
        bad = 0
        for hour in self.reader.hours(symbol):
            if not self.reader.verify(symbol, hour):
                meta = self.reader.meta(symbol, hour)
                bad += meta.snapshots if meta is not None else 0
        return bad

    # ---- snapshots ----

    def snapshots(self, symbol: str, start: int, end: int, *, check_levels: bool = False) -> list[OrderBookSnapshot]:
        return [snap for hour in self._hours(symbol, start, end) for ts, snap in hour[0].items() if start <= ts <= end]

    def iter_snapshots(self, symbol: str, start: int, end: int) -> Iterator[OrderBookSnapshot]:
        return iter(self.snapshots(symbol, start, end))

    def range(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(second, contract value) pairs, as the database stores them."""
        return ((snap.timestamp, snap.to_bytes()) for snap in self.snapshots(symbol, start, end))

    def get(self, symbol: str, ts: int) -> bytes | None:
        hours = self._hours(symbol, ts, ts)
        snap = hours[0][0].get(ts) if hours else None
        return None if snap is None else snap.to_bytes()

    def seconds(self, symbol: str, start: int, end: int) -> Iterator[int]:
        return (snap.timestamp for snap in self.snapshots(symbol, start, end))

    @_as_storage_error
    def gaps(self, symbol: str, start: int, end: int) -> list[GapRecord]:
        """From the day files where they carry gap records, from the hour files' `ts` and `gap` elsewhere."""
        start = max(start, 0)
        hours = [h for h in self.reader.hours(symbol) if hour_start(start) <= h <= end]
        found: list[GapRecord] = []
        lacking = []
        for h in hours:
            summary = self._day(symbol, h - h % DAY)
            if summary is None or h not in summary.row_hours:
                lacking.append(h)
                continue
            first = bisect.bisect_left(summary.minutes, h)
            last = bisect.bisect_left(summary.minutes, h + HOUR)
            found += [
                GapRecord(symbol, ts, GapReason.from_stored(reason))
                for minute_gaps in summary.gaps[first:last]
                for ts, reason in minute_gaps
            ]
        if lacking:
            found += self.reader.hour_gaps(symbol, lacking)
            found.sort(key=lambda g: g.timestamp)
        return [g for g in found if start <= g.timestamp <= end]

    def series(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        return iter(())

    @_as_storage_error
    def rollups(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(minute start, core.analysis.minute_rows row) of the minutes in [start, end] that the day files carry
        a row for; readers roll every other minute up from its seconds (the hour files)."""
        start = max(start, 0)
        out: list[tuple[int, bytes]] = []
        for h in self.reader.hours(symbol):
            if not hour_start(start) <= h <= end:
                continue
            summary = self._day(symbol, h - h % DAY)
            if summary is None or h not in summary.row_hours:
                continue
            first = bisect.bisect_left(summary.minutes, max(h, start))
            last = bisect.bisect_right(summary.minutes, min(h + HOUR - 1, end))
            out += [(m, row) for m, row in zip(summary.minutes[first:last], summary.rows[first:last], strict=True)
                    if row is not None]  # fmt: skip
        return iter(out)

    def _day(self, symbol: str, day: int) -> DaySummary | None:
        """A day file of `symbol`, read once while a build walks through its day."""
        key = (symbol, day)
        with self._lock:
            if key in self._days:
                self._days.move_to_end(key)
                return self._days[key]
        summary = self.reader.day_summary(symbol, day)
        with self._lock:
            self._days[key] = summary
            while len(self._days) > CACHED_DAYS:
                self._days.popitem(last=False)
        return summary

    # ---- decoded hours ----

    @_as_storage_error
    def _hours(self, symbol: str, start: int, end: int) -> list[tuple[dict[int, OrderBookSnapshot], list[GapRecord]]]:
        """The decoded hours holding [start, end] (archived ones only), from the cache or the files."""
        wanted = [h for h in self.reader.hours(symbol) if hour_start(start) <= h <= end]
        with self._lock:
            cached = {h: self._decoded[symbol, h] for h in wanted if (symbol, h) in self._decoded}
            for h in cached:
                self._decoded.move_to_end((symbol, h))
        missing = [h for h in wanted if h not in cached]
        if missing:
            fresh = {}
            for meta, snaps, gaps in self.reader.decoded_hours(symbol, missing):
                fresh[meta.hour] = ({snap.timestamp: snap for snap in snaps}, gaps)
            with self._lock:
                for h in missing[-CACHED_HOURS:]:
                    if h in fresh:
                        self._decoded[symbol, h] = fresh[h]
                while len(self._decoded) > CACHED_HOURS:
                    self._decoded.popitem(last=False)
            cached.update(fresh)
        return [cached[h] for h in wanted if h in cached]
