"""The archive files each stored symbol under its own market: usdm/BTCUSDT goes to market=usdm/symbol=BTCUSDT."""

from __future__ import annotations

from core.archive.archiver import ArchiveOptions, Archiver
from core.archive.layout import hour_key
from core.archive.location import open_location
from core.archive.reader import ArchiveReader
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

HOUR = 1_748_851_200  # 2025-06-02 08:00 UTC, long completed


def book(name: str, ts: int, mid: int, decimals: int) -> OrderBookSnapshot:
    step = 10**-decimals

    def price(i: int) -> str:
        return f"{mid + i * step:.{decimals}f}"

    bids = tuple((price(-i - 1), "1.000") for i in range(20))
    asks = tuple((price(i + 1), "2.000") for i in range(20))
    return OrderBookSnapshot(name, bids, asks, update_id=ts, timestamp=ts)


def test_spot_and_futures_of_one_symbol_name_are_archived_apart(tmp_path):
    db, target = tmp_path / "db", tmp_path / "archive"
    spot = [book("BTCUSDT", HOUR + s, 60_000, 8) for s in range(5)]
    futures = [book("usdm/BTCUSDT", HOUR + s, 60_010, 1) for s in range(3)]
    with SnapshotStorage.open(db) as storage:
        storage.put_encoded([(s.symbol, s.timestamp, s.to_bytes()) for s in spot + futures])
    location = open_location(str(target))
    options = ArchiveOptions(now=lambda: HOUR + 10 * 3600)
    with SnapshotStorage.open(db, mode="read_only") as storage:
        report = Archiver(storage, location, options, sleep=lambda s: None).run()
        assert sorted(report.uploaded) == sorted([hour_key("BTCUSDT", HOUR), hour_key("usdm/BTCUSDT", HOUR)])
        again = Archiver(storage, location, options, sleep=lambda s: None).run()
    assert (again.uploaded, again.skipped) == ([], 2)  # both found where they were put: nothing twice
    files = sorted(location.relative(i.path) for i in location.files() if i.path.endswith(".parquet"))
    assert [f for f in files if not f.startswith("_")] == [
        "market=spot/symbol=BTCUSDT/date=2025-06-02/hour=08.parquet",
        "market=usdm/symbol=BTCUSDT/date=2025-06-02/hour=08.parquet",
    ]
    assert "_rollups/market=usdm/symbol=BTCUSDT/date=2025-06-02.parquet" in files
    spot_back = ArchiveReader(location).snapshots("BTCUSDT", HOUR, HOUR + 3599)
    futures_back = ArchiveReader(location, market="usdm").snapshots("BTCUSDT", HOUR, HOUR + 3599)
    assert [(s.bids, s.asks, s.update_id) for s in spot_back] == [(s.bids, s.asks, s.update_id) for s in spot]
    assert [(s.bids, s.asks, s.update_id) for s in futures_back] == [(s.bids, s.asks, s.update_id) for s in futures]
    assert hour_key("usdm/BTCUSDT", HOUR).stored_symbol == "usdm/BTCUSDT"
