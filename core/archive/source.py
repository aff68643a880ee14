"""An archive as a read-only database: the read side of `SnapshotStorage` over an `ArchiveReader`, so that
`stats`, `export`, `order-flow` and the app's history browser (core.analysis) work on an archive as they do
on a local database, reading only the hour files a call needs.

What it answers and from where:
    symbols, first_last, size_on_disk     the listing, and the footers of a symbol's first and last hour
    count                                 the footers of every hour of the symbol (read in parallel, once)
    snapshots, range, get, seconds        the hour files of the range, decoded; the last few hours decoded are
                                          kept (a cursor moving within an hour reads its file once)
    gaps                                  the `ts` and `gap` columns only of the range's hour files
    series, rollups                       nothing: there are no series or minute-row families, so core.analysis
                                          derives the per-second series from the snapshots (as for a reference
                                          database); the day rollups (core.archive.rollup) do not feed it yet
Blocking, like storage: the app runs every call in an executor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TypeVar

import pyarrow as pa

from core.archive.format import FileMeta
from core.archive.layout import hour_start
from core.archive.location import describe
from core.archive.reader import ArchiveReader
from core.storage.damage import DamageLog
from core.storage.gaps import GapRecord
from core.storage.opening import StorageError
from core.storage.snapshot import OrderBookSnapshot

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])
CACHED_HOURS = 6  # decoded hours kept: about 60 MB of snapshot objects for top-20 books


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
        self._lock = threading.Lock()  # the app calls from several executor threads

    @classmethod
    def open(cls, url: str, market: str = "spot") -> ArchiveSource:
        """ArchiveError (one sentence) for a URL that cannot be an archive."""
        return cls(ArchiveReader.open(url, market))

    def close(self) -> None:
        self._decoded.clear()
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
            with concurrent.futures.ThreadPoolExecutor(self.reader.threads) as pool:
                metas: list[FileMeta | None] = list(pool.map(lambda h: self.reader.meta(symbol, h), hours))
            self._counts[symbol] = sum(meta.snapshots for meta in metas if meta is not None)
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
        return self.reader.gaps(symbol, max(start, 0), end)

    def series(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        return iter(())

    def rollups(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """No recorder minute rows (core.analysis.minute_rows): readers roll the minutes up from the seconds."""
        return iter(())

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
