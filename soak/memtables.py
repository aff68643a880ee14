"""How fast RocksDB's memtables grow while recording: the part of the recorder's memory growth that is by design.

Each column family buffers its writes in a memtable of up to 64 MB (StorageOptions.write_buffer_size) before
flushing it to a table file, and all of them together up to 64 MB (`memtable_budget`: past it one is flushed
early), so a recorder's RSS climbs at the write rate for the first minutes, then levels off. This replays a stretch of the soak's own
recording (snapshots, series rows and gap records, one batch a second as the recorder writes them) into a fresh
database with the default options and reads RocksDB's own figure for its memtables, so that the soak can tell that
growth from a leak.
"""

from __future__ import annotations

import statistics
import tempfile
from collections import defaultdict

from core.storage.gaps import GapRecord
from core.storage.store import OWN_CFS, SnapshotStorage

MEMTABLE_PROPERTY = "rocksdb.cur-size-all-mem-tables"


def memtable_mib_per_minute(db: str, start: int, seconds: int = 600) -> float | None:
    """MiB of memtable per minute of recording, from `seconds` of the database's recording from `start`: the slope
    of RocksDB's figure (it counts whole arena blocks, so a slope over many batches, not one reading)."""
    batches: dict[int, tuple[list, list[GapRecord], list]] = defaultdict(lambda: ([], [], []))
    with SnapshotStorage.open(db, "read_only") as source:
        end = start + seconds - 1
        for symbol in source.symbols():
            for ts, value in source.range(symbol, start, end):
                batches[ts][0].append((symbol, ts, value))
            for gap in source.gaps(symbol, start, end):
                batches[gap.timestamp][1].append(gap)
            for ts, row in source.series(symbol, start, end):
                batches[ts][2].append((symbol, ts, row))
    if len(batches) < 60:
        return None
    points = []
    with tempfile.TemporaryDirectory(prefix="soak-memtables-") as tmp, SnapshotStorage.open(f"{tmp}/db") as replay:
        families = [replay._db, *(replay._views[cf] for cf in OWN_CFS if cf in replay._views)]
        for second, ts in enumerate(sorted(batches)):
            replay.put_encoded(*batches[ts])
            size = sum(family.property_int_value(MEMTABLE_PROPERTY) or 0 for family in families)
            points.append((second / 60, size / 2**20))
    return slope(points)


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points; None for fewer than 3 or no spread in x."""
    if len(points) < 3:
        return None
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return None if var == 0 else sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var
