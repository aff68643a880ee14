"""The memtable growth the soak subtracts from the recorder's: RocksDB's own figure, proportional to what is
recorded."""

from __future__ import annotations

from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from soak.memtables import memtable_mib_per_minute

T0 = 1_767_225_600


def _record(path, symbols: int, seconds: int = 240) -> str:
    levels = tuple((f"{100 + i}.00000000", f"{1 + i}.50000000") for i in range(20))
    with SnapshotStorage.open(path) as storage:
        for ts in range(T0, T0 + seconds):
            rows = [
                (f"S{n}USDT", ts, OrderBookSnapshot(f"S{n}USDT", levels, levels, ts * 10 + n, ts).to_bytes())
                for n in range(symbols)
            ]
            storage.put_encoded(rows)
    return str(path)


def test_memtables_grow_with_what_is_recorded(tmp_path):
    twenty = memtable_mib_per_minute(_record(tmp_path / "twenty", 20), T0)
    forty = memtable_mib_per_minute(_record(tmp_path / "forty", 40), T0)
    assert twenty is not None and forty is not None
    assert 0.8 < twenty < 3.0  # 20 snapshots of ~1 KB a second: 1.2 MB a minute, and the skip list's overhead
    assert 1.6 < forty / twenty < 2.4


def test_an_empty_stretch_has_no_figure(tmp_path):
    assert memtable_mib_per_minute(_record(tmp_path / "db", 2), T0 + 10_000) is None
    assert memtable_mib_per_minute(_record(tmp_path / "short", 2, seconds=30), T0) is None  # too short to tell
