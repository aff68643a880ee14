"""RocksDB's own CPU over a whole market's hour of recording: Depthbook's compaction options (universal style, a
merge at 8 sorted runs) against RocksDB's defaults (level style, L0 -> L1 at 4 files).

A recorder's RocksDB threads flush and compact what it writes; their cost grows with the database, so a ten-minute
window sees only its start. This bench first records `SOURCE_MINUTES` of 1,500 books through the real recorder
(bench.tick's books and `_encode_and_write`: snapshots, series, minute and heatmap rows), then writes those rows
again, shifted in time, into a fresh database for 60 simulated minutes (`--quick` 20) with each set of
options, at a real recorder's pace for the background work: every five simulated seconds it waits until
no flush or compaction runs, as a recorder's flush comes every ~40 s and its compactions end long before the next.
Writing as fast as it goes instead lets L0 files pile up and merges them in fewer, larger compactions, which a
recorder never sees (it halved the level style's cost in a first try).

Figures: the RocksDB threads' CPU (`/proc`, threads named `rocksdb:*`) per recorded book-second, over the whole
hour and its last third, for each style; and the same per received frame at the whole market (~2,700 frames/s for
1,500 books: x 0.56), the part of the recorder's µs a frame it takes.
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from rocksdict import AccessType, Options, Rdict, WriteBatch

from bench._report import Figure, heading, info, show
from bench.tick import BOOKS, FRAMES_PER_BOOK_SECOND, START, _book, _Books, change_some, write_tick
from core.recording.recorder import SnapshotRecorder
from core.storage.options import StorageOptions
from core.storage.store import SnapshotStorage

NAME = "compaction"
SOURCE_MINUTES = 3
PACE_EVERY = 5  # simulated seconds between waits for the background work
STYLES = {  # RocksDB's defaults (Depthbook's until session 27) and Depthbook's
    "level, 4 files": StorageOptions(universal_compaction=False, l0_compaction_trigger=4),
    "universal, 8 runs": StorageOptions(),
}


def _record_source(path: str) -> None:
    """SOURCE_MINUTES of the whole market through the real recorder (bench.tick's market)."""
    rng = random.Random(1)
    books = {f"S{i:04d}USDT": _book(f"S{i:04d}USDT", rng) for i in range(BOOKS)}
    update_id = 2
    with SnapshotStorage.open(path) as storage:
        recorder = SnapshotRecorder(storage, _Books(books), list(books))  # type: ignore[arg-type]
        for second in range(SOURCE_MINUTES * 60 + 1):  # + 1: the last minute's rows are written with the next
            update_id = change_some(books, rng, update_id)
            write_tick(storage, recorder, recorder.capture(START + second))


def _rows_by_second(path: str) -> dict[int, list[tuple[str, bytes, bytes]]]:
    """Every row keyed `SYMBOL:SECONDS` (snapshots, series, minute and heatmap rows), by its second."""
    rows: dict[int, list[tuple[str, bytes, bytes]]] = collections.defaultdict(list)
    families = Rdict.list_cf(path, Options(raw_mode=True))
    others = {name: Options(raw_mode=True) for name in families if name != "default"}
    db = Rdict(path, Options(raw_mode=True), column_families=others, access_type=AccessType.read_only(False))
    try:
        for family in families:
            view = db if family == "default" else db.get_column_family(family)
            for key, value in view.items():
                prefix, _, second = key.rpartition(b":")
                if prefix and second.isdigit() and START <= int(second) < START + SOURCE_MINUTES * 60:
                    rows[int(second)].append((family, prefix + b":", value))
            if view is not db:
                view.close()
    finally:
        db.close()
    return rows


def _rocksdb_cpu() -> float:
    """CPU seconds of this process's RocksDB threads."""
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # a thread that ended
        if stat[stat.index("(") + 1 : stat.rindex(")")].startswith("rocksdb"):
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def _busy(db: Rdict) -> bool:
    return any(
        db.property_int_value(name)
        for name in ("rocksdb.num-running-compactions", "rocksdb.num-running-flushes", "rocksdb.mem-table-flush-pending")
    )


def _replay(rows: dict[int, list[tuple[str, bytes, bytes]]], path: Path, options: StorageOptions, minutes: int):
    """Write `minutes` of the rows, shifted in time cycle after cycle; RocksDB CPU per book-second by minute."""
    opts = options.rocksdb()
    opts.create_if_missing(True)
    opts.create_missing_column_families(True)
    families = {family for rows_of_second in rows.values() for family, _, _ in rows_of_second} | {"default"}
    others = {name: options.rocksdb() for name in families if name != "default"}
    db = Rdict(str(path), opts, column_families=others)  # the options SnapshotStorage opens with, every family
    try:
        handles = {name: db.get_column_family_handle(name) for name in families}
        cycle = SOURCE_MINUTES * 60
        by_minute: list[float] = []
        before = _rocksdb_cpu()
        for simulated in range(minutes * 60):
            turn, offset = divmod(simulated, cycle)
            stamp = str(START + turn * cycle + offset).encode()
            batch = WriteBatch(raw_mode=True)
            for family, prefix, value in rows[START + offset]:
                batch.put(prefix + stamp, value, handles[family])
            db.write(batch)
            if simulated % PACE_EVERY == PACE_EVERY - 1:
                while _busy(db):
                    time.sleep(0.01)
            if simulated % 60 == 59:
                now = _rocksdb_cpu()
                by_minute.append((now - before) / (60 * BOOKS) * 1e6)
                before = now
        del handles
    finally:
        db.close()
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return by_minute, size / (minutes * 60 * BOOKS)


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    minutes = 20 if quick else 60
    heading(f"compaction: RocksDB's CPU over {minutes} simulated minutes of {BOOKS:,} books, at a recorder's pace")
    figures = []
    with tempfile.TemporaryDirectory(prefix="depthbook-bench-compaction-") as tmp:
        _record_source(os.path.join(tmp, "source"))
        rows = _rows_by_second(os.path.join(tmp, "source"))
        for style, options in STYLES.items():
            target = Path(tmp) / style.split()[0]
            by_minute, per_snapshot = _replay(rows, target, options, minutes)
            shutil.rmtree(target, ignore_errors=True)
            hour, last = sum(by_minute) / len(by_minute), by_minute[-minutes // 3 :]
            last_third = sum(last) / len(last)
            tens = [sum(by_minute[i : i + 10]) / len(by_minute[i : i + 10]) for i in range(0, minutes, 10)]
            figures += [
                show(info(NAME, f"{style}: RocksDB CPU per book-second, whole run", hour, "µs",
                          note=f"by ten minutes: {', '.join(f'{t:.1f}' for t in tens)}")),
                show(info(NAME, f"{style}: the same, last third", last_third, "µs",
                          note=f"{last_third / FRAMES_PER_BOOK_SECOND:.1f} µs per received frame at the whole market")),
                show(info(NAME, f"{style}: bytes on disk per book-second", per_snapshot, "B",
                          note="every family; the WAL included")),
            ]  # fmt: skip
    return figures


if __name__ == "__main__":
    run()
