"""Reading an archive back: the same `OrderBookSnapshot`s (the exchange's exact strings) and gap records as the
database held, for a symbol and a range, reading only the hour files the range needs.

The calls mirror `SnapshotStorage`'s read side (`symbols`, `first_last`, `snapshots`, `iter_snapshots`,
`gaps`), so that `stats`, `export`, `order-flow` and the app's File → Open archive… can take either as their
source; `table` gives the typed columns (Arrow) for analysis that needs no strings, many times faster than
building snapshot objects. Listings are made once per symbol and kept for the reader's life (an archive only
grows by whole hours; make a new reader to see hours archived since). Blocking, like storage.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from core.archive.format import FileMeta, content_checksum, decode_hour, read_meta, seconds
from core.archive.layout import hour_start, parse_hour_path, symbol_dir
from core.archive.location import ArchiveLocation, open_location
from core.archive.rollup import (
    DAY,
    HOUR_COLUMNS,
    ROW_COLUMNS,
    DaySummary,
    covered_hours,
    day_of,
    day_summary,
    hour_minutes,
    rollup_dir,
)
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot


class ArchiveReader:
    """Read one market of an archive. `ArchiveReader.open("s3://bucket/prefix")` or a directory."""

    def __init__(self, location: ArchiveLocation, market: str = "spot", threads: int = 4) -> None:
        self.location = location
        self.market = market
        self.threads = threads
        self._hours: dict[str, dict[int, str]] = {}  # symbol -> hour start -> full path
        self._rollups: dict[str, dict[int, str]] = {}  # symbol -> day start -> full path of its rollup

    @classmethod
    def open(cls, url: str, market: str = "spot") -> ArchiveReader:
        return cls(open_location(url), market)

    def close(self) -> None:
        self._hours.clear()
        self._rollups.clear()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- what is there ----

    def symbols(self) -> list[str]:
        """Symbols with at least one archived hour, sorted."""
        base = self.location.full(f"market={self.market}")
        selector = pafs.FileSelector(base, recursive=False, allow_not_found=True)
        names = []
        for info in self.location.fs.get_file_info(selector):
            name = info.path.rsplit("/", 1)[-1]
            if info.type == pafs.FileType.Directory and name.startswith("symbol=") and self.hours(name[7:]):
                names.append(name[7:])
        return sorted(names)

    def hours(self, symbol: str) -> list[int]:
        """The starts of `symbol`'s archived hours, in order."""
        return sorted(self._listing(symbol))

    def first_last(self, symbol: str) -> tuple[int, int] | None:
        """The first and last archived snapshot second (from the footers of the first and last hour files
        that hold a snapshot), or None."""
        listing = self._listing(symbol)
        starts = sorted(listing)
        first = next((m.first for m in self._metas(listing, starts) if m.first is not None), None)
        last = next((m.last for m in self._metas(listing, reversed(starts)) if m.last is not None), None)
        return None if first is None or last is None else (first, last)

    def meta(self, symbol: str, hour: int) -> FileMeta | None:
        """The metadata of one archived hour (its footer only), or None when it is not archived."""
        path = self._listing(symbol).get(hour_start(hour))
        if path is None:
            return None
        with self.location.fs.open_input_file(path) as handle:
            return read_meta(pq.read_metadata(handle), path)

    # ---- reading ----

    def snapshots(self, symbol: str, start: int, end: int) -> list[OrderBookSnapshot]:
        return list(self.iter_snapshots(symbol, start, end))

    def iter_snapshots(self, symbol: str, start: int, end: int) -> Iterator[OrderBookSnapshot]:
        """The snapshots of `symbol` with start <= ts <= end, in time order, exact strings."""
        for _, snaps, _ in self._hours_in(symbol, start, end):
            for snap in snaps:
                if start <= snap.timestamp <= end:
                    yield snap

    def gaps(self, symbol: str, start: int, end: int) -> list[GapRecord]:
        """The gap records of `symbol` with start <= ts <= end, in time order."""
        return [
            gap
            for _, _, gaps in self._hours_in(symbol, start, end, columns=["ts", "gap"])
            for gap in gaps
            if start <= gap.timestamp <= end
        ]

    def table(self, symbol: str, start: int, end: int, columns: list[str] | None = None) -> pa.Table:
        """The archived rows of `symbol` in [start, end] as one Arrow table with the file columns (snapshot and
        gap rows; `gap` is null on a snapshot row), `columns` only if given. The hour files are read in
        parallel; their decimal types must agree (they do for a symbol whose exchange kept its decimals)."""
        paths = [path for _, path in self._paths(symbol, start, end)]
        if not paths:
            return pa.table({})
        wanted = None if columns is None else list(dict.fromkeys(["ts", *columns]))
        with concurrent.futures.ThreadPoolExecutor(self.threads) as pool:
            tables = list(pool.map(lambda p: self._read(p, wanted), paths))
        table = pa.concat_tables(tables, promote_options="permissive")
        ts = seconds(table)
        mask = pc.and_(pc.greater_equal(ts, start), pc.less_equal(ts, end))
        return table.filter(mask)

    def minutes(self, symbol: str, start: int, end: int) -> pa.Table:
        """Per-minute rollups of `symbol` over [start, end] (core.archive.rollup's columns): one day file per
        day, read in parallel; an archived hour that no day file covers is rolled up from its hour file."""
        days = self._rollup_listing(symbol)
        wanted = [path for day, path in sorted(days.items()) if day <= end and day + DAY > start]
        with concurrent.futures.ThreadPoolExecutor(self.threads) as pool:
            tables = list(pool.map(self._read, wanted))
            covered = {h for table in tables for h in covered_hours(table)}
            missing = [path for h, path in self._paths(symbol, start, end) if h not in covered]
            tables += pool.map(lambda p: hour_minutes(self._read(p, HOUR_COLUMNS)), missing)
        if not tables:
            return pa.table({})
        schema = pa.schema([f for f in tables[-1].schema.remove_metadata() if f.name not in ROW_COLUMNS])
        table = pa.concat_tables([t.select(schema.names).cast(schema) for t in tables]).sort_by("minute")
        minute = pc.cast(pc.cast(table.column("minute"), pa.timestamp("s", tz="UTC")), pa.int64())
        return table.filter(pc.and_(pc.greater_equal(minute, start - start % 60), pc.less_equal(minute, end)))

    def day_summary(self, symbol: str, day: int, rows: bool = True) -> DaySummary | None:
        """The day file of `symbol` for the day starting at `day` (without its rows and gaps unless `rows`),
        None when there is none or it cannot be read (derived data: the caller reads the hour files instead)."""
        path = self._rollup_listing(symbol).get(day)
        if path is None:
            return None
        try:
            return day_summary(self._read(path, None if rows else ["minute", "snapshots"]))
        except (pa.ArrowInvalid, KeyError):
            return None

    def hour_gaps(self, symbol: str, hours: list[int]) -> list[GapRecord]:
        """The gap records of these archived hours (starts), from their `ts` and `gap` columns only."""
        listing = self._listing(symbol)
        paths = [(h, listing[h]) for h in sorted(hours) if h in listing]
        return [gap for _, _, gaps in self._decode_paths(paths, ["ts", "gap"]) for gap in gaps]

    def verify(self, symbol: str, hour: int) -> bool:
        """Whether an archived hour's rows still give its metadata's content checksum."""
        for meta, snaps, gaps in self._hours_in(symbol, hour, hour_start(hour) + 3599):
            return content_checksum(snaps, gaps) == meta.checksum
        return False

    # ---- internals ----

    def _listing(self, symbol: str) -> dict[int, str]:
        if symbol not in self._hours:
            found = {}
            for info in self.location.files(symbol_dir(self.market, symbol)):
                key = parse_hour_path(self.location.relative(info.path))
                if key is not None and key.market == self.market and key.symbol == symbol:
                    found[key.start] = info.path
            self._hours[symbol] = found
        return self._hours[symbol]

    def _rollup_listing(self, symbol: str) -> dict[int, str]:
        if symbol not in self._rollups:
            found = {}
            for info in self.location.files(rollup_dir(self.market, symbol)):
                day = day_of(info.path)
                if day is not None:
                    found[day] = info.path
            self._rollups[symbol] = found
        return self._rollups[symbol]

    def _paths(self, symbol: str, start: int, end: int) -> list[tuple[int, str]]:
        listing = self._listing(symbol)
        return [(h, listing[h]) for h in sorted(listing) if hour_start(start) <= h <= end]

    def _metas(self, listing: dict[int, str], starts) -> Iterator[FileMeta]:
        for h in starts:
            with self.location.fs.open_input_file(listing[h]) as handle:
                yield read_meta(pq.read_metadata(handle), listing[h])

    def _read(self, path: str, columns: list[str] | None = None) -> pa.Table:
        with self.location.fs.open_input_file(path) as handle:
            return pq.read_table(handle, columns=columns, use_threads=False)

    def _read_hour(self, path: str, columns: list[str] | None) -> tuple[FileMeta, pa.Table]:
        with self.location.fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            meta = read_meta(parquet.metadata, path)
            return meta, parquet.read(columns=columns, use_threads=False)

    def decoded_hours(
        self, symbol: str, hours: list[int]
    ) -> Iterator[tuple[FileMeta, list[OrderBookSnapshot], list[GapRecord]]]:
        """These archived hours of `symbol` (starts; those not archived are left out), decoded, in order."""
        listing = self._listing(symbol)
        return self._decode_paths([(h, listing[h]) for h in hours if h in listing])

    def _hours_in(
        self, symbol: str, start: int, end: int, columns: list[str] | None = None
    ) -> Iterator[tuple[FileMeta, list[OrderBookSnapshot], list[GapRecord]]]:
        """Each hour file the range needs, decoded, in order."""
        return self._decode_paths(self._paths(symbol, start, end), columns)

    def _decode_paths(
        self, paths: list[tuple[int, str]], columns: list[str] | None = None
    ) -> Iterator[tuple[FileMeta, list[OrderBookSnapshot], list[GapRecord]]]:
        """Each file decoded, in order; the next files are fetched while one decodes."""
        if not paths:
            return
        with concurrent.futures.ThreadPoolExecutor(self.threads) as pool:
            pending = [pool.submit(self._read_hour, path, columns) for _, path in paths[: self.threads]]
            queued = self.threads
            while pending:
                meta, table = pending.pop(0).result()
                if queued < len(paths):
                    pending.append(pool.submit(self._read_hour, paths[queued][1], columns))
                    queued += 1
                if columns is not None and "bid_price_0" not in columns:
                    yield meta, [], _gaps_only(table, meta)
                else:
                    snaps, gaps = decode_hour(table, meta)
                    yield meta, snaps, gaps


def _gaps_only(table: pa.Table, meta: FileMeta) -> list[GapRecord]:
    ts = seconds(table).to_pylist()
    return [
        GapRecord(meta.symbol, ts[r], GapReason.from_stored(reason))
        for r, reason in enumerate(table.column("gap").to_pylist())
        if reason is not None
    ]

