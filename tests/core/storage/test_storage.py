"""SnapshotStorage against a real RocksDB in tmp_path: the contract layout, counters, modes, crash safety."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import msgpack
import pytest
from rocksdict import Options, Rdict

from core.storage.gaps import GapReason, GapRecord
from core.storage.retention import RetentionPolicy
from core.storage.sessions import SessionRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage, StorageError, StorageLockedError, StorageOptions
from tests.waiting import wait_until

T0 = 1737158400
DAY = 86_400
REPO_ROOT = Path(__file__).resolve().parents[3]


def snap(symbol: str, ts: int, update_id: int = 1) -> OrderBookSnapshot:
    return OrderBookSnapshot(
        symbol,
        bids=(("67650.01000000", "0.50000000"), ("67650.00000000", "1.00000000")),
        asks=(("67650.02000000", "0.25000000"),),
        update_id=update_id,
        timestamp=ts,
    )


def reference_value(ts: int, update_id: int) -> bytes:
    """What the Rust reference service stores: rmp_serde compact form of the snapshot struct."""
    return msgpack.packb([[["67650.01000000", "0.5"]], [["67650.02000000", "0.7"]], update_id, ts])


def plain_rdict(path: Path) -> Rdict:
    options = Options(raw_mode=True)
    options.create_if_missing(True)
    return Rdict(str(path), options)


def scan_count(path: Path, symbol: str) -> int:
    """Count a symbol's keys independently of SnapshotStorage."""
    with SnapshotStorage.open(path, "read_only") as storage:
        return sum(1 for _ in storage.range(symbol, 0, 9_999_999_999))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db"


@pytest.fixture
def writer(db_path: Path):
    storage = SnapshotStorage.open(db_path)
    yield storage
    storage.close()


# ---- compatibility with the reference service, both ways ----


def test_reads_a_database_written_in_the_reference_layout(db_path):
    db = plain_rdict(db_path)
    for i in range(10):
        db[f"BTCUSDT:{T0 + i}".encode()] = reference_value(T0 + i, 1000 + i)
    for i in range(3):
        db[f"BTCUSD:{T0 + i}".encode()] = reference_value(T0 + i, 1)
        db[f"ETHUSDT:{T0 + 2 * i}".encode()] = reference_value(T0 + 2 * i, 1)
    db[f"trades:BTCUSDT:{T0}123".encode()] = msgpack.packb([["67650.01", "0.1", T0 * 1000, 1, True]])
    db.close()

    with SnapshotStorage.open(db_path, "read_only") as storage:
        assert storage.symbols() == ["BTCUSD", "BTCUSDT", "ETHUSDT"]
        assert storage.count("BTCUSDT") == 10
        assert storage.count("ETHUSDT") == 3
        assert storage.first_last("BTCUSDT") == (T0, T0 + 9)
        assert [ts for ts, _ in storage.range("BTCUSDT", T0 + 2, T0 + 4)] == [T0 + 2, T0 + 3, T0 + 4]
        value = storage.get("BTCUSDT", T0 + 5)
        assert OrderBookSnapshot.from_bytes("BTCUSDT", value).update_id == 1005
        assert storage.get("BTCUSDT", T0 + 50) is None
        assert storage.gaps("BTCUSDT", 0, T0 * 2) == [] and storage.sessions() == []

    with SnapshotStorage.open(db_path) as storage:  # the writer counts once by a scan and keeps the counters
        assert storage.count("BTCUSDT") == 10
        storage.put_tick([snap("BTCUSDT", T0 + 10)])
        assert storage.count("BTCUSDT") == 11
    with SnapshotStorage.open(db_path, "read_only") as storage:
        assert storage.count("BTCUSDT") == 11


def test_a_plain_rocksdict_reader_sees_only_contract_snapshots_in_the_default_family(db_path, writer):
    writer.start_session(["BTCUSDT", "ETHUSDT"], T0)
    for i in range(5):
        writer.put_tick(
            [snap("BTCUSDT", T0 + i, update_id=i), snap("ETHUSDT", T0 + i)],
            gaps=[GapRecord("SOLUSDT", T0 + i, GapReason.SYNCING)],
            series_rows=[("BTCUSDT", T0 + i, b"derived")],
        )
    writer.end_session(T0 + 4, "stopped")
    writer.close()

    db = plain_rdict(db_path)
    items = list(db.items())
    db.close()

    assert len(items) == 10
    for key, value in items:
        assert re.fullmatch(rb"[A-Z]+:\d{10}", key)
        bids, asks, _update_id, timestamp = msgpack.unpackb(value)
        assert key.endswith(str(timestamp).encode())
        assert bids == [["67650.01000000", "0.50000000"], ["67650.00000000", "1.00000000"]]
        assert asks == [["67650.02000000", "0.25000000"]]
    assert msgpack.unpackb(dict(items)[f"BTCUSDT:{T0 + 3}".encode()])[2] == 3
    assert set(Rdict.list_cf(str(db_path), Options(raw_mode=True))) == {
        "default",
        "meta",
        "gaps",
        "sessions",
        "series",
        "rollups",
        "heat",
        "heat_hours",
        "horizons",
    }


# Every gap reason any version has written, as stored: these bytes are in databases on disk and never change.
LEGACY_GAP_REASONS = {
    GapReason.NOT_SUBSCRIBED: b"not_subscribed",
    GapReason.SYNCING: b"syncing",
    GapReason.DISCONNECTED: b"disconnected",
    GapReason.STALE: b"stale",
    GapReason.EMPTY_BOOK: b"empty_book",
    GapReason.LATE: b"late",
    GapReason.SERIALIZE_ERROR: b"serialize_error",
    GapReason.UNVERIFIED: b"unverified",
}


def plain_rdict_with_families(path: Path) -> Rdict:
    """The database with every column family, through plain rocksdict (no Depthbook code)."""
    families = {name: Options(raw_mode=True) for name in Rdict.list_cf(str(path), Options(raw_mode=True))}
    return Rdict(str(path), Options(raw_mode=True), column_families=families)


def raw_gaps(path: Path) -> dict[bytes, bytes]:
    """The gaps column family as bytes."""
    db = plain_rdict_with_families(path)
    try:
        return dict(db.get_column_family("gaps").items())
    finally:
        db.close()


def test_every_gap_reason_is_stored_as_its_legacy_string_and_reads_back_as_itself(db_path):
    assert set(LEGACY_GAP_REASONS) == set(GapReason) - {GapReason.UNKNOWN}  # a new reason needs a row above
    reasons = list(LEGACY_GAP_REASONS)
    with SnapshotStorage.open(db_path) as storage:
        storage.put_tick([], gaps=[GapRecord("BTCUSDT", T0 + i, reason) for i, reason in enumerate(reasons)])
    stored = raw_gaps(db_path)
    assert stored == {f"BTCUSDT:{T0 + i}".encode(): LEGACY_GAP_REASONS[r] for i, r in enumerate(reasons)}

    with SnapshotStorage.open(db_path, "read_only") as storage:
        back = storage.gaps("BTCUSDT", 0, T0 * 2)
    assert [g.reason for g in back] == reasons
    assert all(type(g.reason) is GapReason for g in back)


def test_a_stored_gap_reason_this_version_does_not_know_reads_back_as_unknown(db_path):
    with SnapshotStorage.open(db_path) as storage:
        storage.put_tick([], gaps=[GapRecord("BTCUSDT", T0, GapReason.LATE)])
    db = plain_rdict_with_families(db_path)
    db.get_column_family("gaps")[f"BTCUSDT:{T0 + 1}".encode()] = b"write_error"  # e.g. a newer version's
    db.close()

    with SnapshotStorage.open(db_path, "read_only") as storage:
        assert storage.gaps("BTCUSDT", 0, T0 * 2) == [
            GapRecord("BTCUSDT", T0, GapReason.LATE),
            GapRecord("BTCUSDT", T0 + 1, GapReason.UNKNOWN),
        ]
    assert raw_gaps(db_path)[f"BTCUSDT:{T0 + 1}".encode()] == b"write_error"  # reading changes nothing


# ---- counters, ranges, gaps, series ----


def test_counters_are_exact_across_overwrites_holes_and_duplicates(db_path, writer):
    writer.put_tick([snap("BTCUSDT", T0 + i) for i in (0, 1, 2, 5, 6)])
    assert writer.count("BTCUSDT") == 5

    writer.put_tick([snap("BTCUSDT", T0 + 6, update_id=2)])  # overwrite the last second
    writer.put_tick([snap("BTCUSDT", T0 + 1, update_id=2)])  # overwrite inside the range
    assert writer.count("BTCUSDT") == 5
    assert OrderBookSnapshot.from_bytes("BTCUSDT", writer.get("BTCUSDT", T0 + 1)).update_id == 2

    writer.put_tick([snap("BTCUSDT", T0 + 3)])  # fills a hole
    writer.put_tick([snap("BTCUSDT", T0 - 10)])  # before the first
    writer.put_tick([snap("BTCUSDT", T0 + 7), snap("BTCUSDT", T0 + 7, update_id=9)])  # twice in one batch
    writer.put("BTCUSDT", T0 + 8, snap("BTCUSDT", T0 + 8).to_bytes())
    writer.put("BTCUSDT", T0 + 8, snap("BTCUSDT", T0 + 8).to_bytes())
    assert writer.count("BTCUSDT") == 9
    assert writer.first_last("BTCUSDT") == (T0 - 10, T0 + 8)
    assert OrderBookSnapshot.from_bytes("BTCUSDT", writer.get("BTCUSDT", T0 + 7)).update_id == 9
    writer.close()

    assert scan_count(db_path, "BTCUSDT") == 9
    with SnapshotStorage.open(db_path) as reopened:
        assert reopened.count("BTCUSDT") == 9
        assert reopened.first_last("BTCUSDT") == (T0 - 10, T0 + 8)


def test_a_tick_is_all_or_nothing(writer):
    writer.put_tick([snap("BTCUSDT", T0)])

    with pytest.raises(ValueError):  # the bad gap fails before anything reaches the database
        writer.put_tick(
            [snap("BTCUSDT", T0 + 1), snap("ETHUSDT", T0 + 1)],
            gaps=[GapRecord("BAD:SYM", T0, GapReason.STALE)],
        )

    assert writer.get("BTCUSDT", T0 + 1) is None and writer.get("ETHUSDT", T0 + 1) is None
    assert writer.count("BTCUSDT") == 1 and writer.count("ETHUSDT") == 0
    assert writer.symbols() == ["BTCUSDT"]


def test_range_is_inclusive_and_never_crosses_into_another_symbol(writer):
    writer.put_tick([snap("BTCUSD", T0 + i) for i in range(5)])
    writer.put_tick([snap("BTCUSDT", T0 + i) for i in range(5)])
    writer.put_tick([snap("BTCUSDC", T0 + i) for i in range(5)])

    assert [ts for ts, _ in writer.range("BTCUSD", T0 + 1, T0 + 3)] == [T0 + 1, T0 + 2, T0 + 3]
    assert [ts for ts, _ in writer.range("BTCUSD", 0, 9_999_999_999)] == [T0 + i for i in range(5)]
    assert [ts for ts, _ in writer.range("BTCUSD", -5, T0)] == [T0]
    assert list(writer.range("BTCUSD", T0 + 3, T0 + 1)) == []
    assert list(writer.range("BTCUS", 0, 9_999_999_999)) == []
    assert writer.first_last("BTCUS") is None and writer.count("BTCUS") == 0
    assert writer.symbols() == ["BTCUSD", "BTCUSDC", "BTCUSDT"]
    assert all(
        OrderBookSnapshot.from_bytes("BTCUSDT", v).timestamp == ts
        for ts, v in writer.range("BTCUSDT", 0, T0 * 2)
    )


def test_gaps_and_series_are_kept_per_symbol_and_second(writer):
    writer.put_tick(
        [snap("BTCUSDT", T0)],
        gaps=[GapRecord("ETHUSDT", T0, GapReason.SYNCING), GapRecord("BTCUSD", T0, GapReason.STALE)],
        series_rows=[("BTCUSDT", T0, b"\x01"), ("BTCUSDT", T0 + 1, b"\x02")],
    )
    writer.put_tick(
        [],
        gaps=[
            GapRecord("ETHUSDT", T0 + 1, GapReason.DISCONNECTED),
            GapRecord("ETHUSDT", T0 + 9, GapReason.STALE),
        ],
    )

    assert writer.gaps("ETHUSDT", T0, T0 + 5) == [
        GapRecord("ETHUSDT", T0, GapReason.SYNCING),
        GapRecord("ETHUSDT", T0 + 1, GapReason.DISCONNECTED),
    ]
    assert writer.gaps("BTCUSD", 0, T0 * 2) == [GapRecord("BTCUSD", T0, GapReason.STALE)]
    assert writer.gaps("BTCUSDT", 0, T0 * 2) == []
    assert list(writer.series("BTCUSDT", T0, T0 + 1)) == [(T0, b"\x01"), (T0 + 1, b"\x02")]
    assert writer.symbols() == ["BTCUSDT"]  # gaps and series are not snapshots


def test_sessions_record_start_end_and_interrupted_recordings(db_path, writer):
    writer.start_session(["BTCUSDT"], T0)
    writer.put_tick([snap("BTCUSDT", T0 + i) for i in range(3)])
    writer.start_session(["BTCUSDT", "ETHUSDT"], T0 + 3)  # ends the first one
    writer.end_session(T0 + 3, "stopped")
    writer.start_session(["ETHUSDT"], T0 + 3)  # same second: kept apart
    writer.put_tick([snap("ETHUSDT", T0 + 4), snap("ETHUSDT", T0 + 5)])
    writer.close()  # without end_session: as if the process had died

    with SnapshotStorage.open(db_path) as reopened:
        assert reopened.sessions() == [
            SessionRecord(T0, ("BTCUSDT",), T0 + 3, "restarted"),
            SessionRecord(T0 + 3, ("BTCUSDT", "ETHUSDT"), T0 + 3, "stopped"),
            SessionRecord(T0 + 3, ("ETHUSDT",), T0 + 5, "interrupted"),
        ]
        assert reopened.end_session(T0 + 9, "stopped") is None


def test_retention_deletes_old_snapshots_gaps_and_series_and_fixes_counters(db_path):
    now = T0 + 3 * DAY
    options = StorageOptions(retention=RetentionPolicy(days=1))
    with SnapshotStorage.open(db_path, options=options) as storage:
        hours = range(0, 3 * DAY + 1, 3600)  # 73 snapshots over three days
        storage.put_tick(
            [snap("BTCUSDT", T0 + h) for h in hours], gaps=[GapRecord("BTCUSDT", T0, GapReason.STALE)]
        )
        storage.put_tick(
            [snap("ETHUSDT", T0)], series_rows=[("BTCUSDT", T0, b"old"), ("BTCUSDT", now, b"new")]
        )

        deleted = storage.apply_retention(now)

        assert deleted == 48 + 1  # BTCUSDT's first two days, ETHUSDT's only snapshot
        assert storage.count("BTCUSDT") == 25
        assert storage.first_last("BTCUSDT") == (now - DAY, now)
        assert storage.symbols() == ["BTCUSDT"]
        assert storage.count("ETHUSDT") == 0 and storage.first_last("ETHUSDT") is None
        assert storage.gaps("BTCUSDT", 0, now) == []
        assert list(storage.series("BTCUSDT", 0, now)) == [(now, b"new")]
    assert scan_count(db_path, "BTCUSDT") == 25
    with SnapshotStorage.open(db_path) as reopened:
        assert reopened.count("BTCUSDT") == 25 and reopened.count("ETHUSDT") == 0


def test_retention_per_symbol_overrides_the_default(db_path):
    now = T0 + 10 * DAY
    policy = RetentionPolicy(days=3, per_symbol={"BTCUSDT": 7, "ETHUSDT": None})
    with SnapshotStorage.open(db_path, options=StorageOptions(retention=policy)) as storage:
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
            storage.put_tick([snap(symbol, T0 + d * DAY) for d in range(11)])  # one a day, days 0..10
        storage.apply_retention(now)
        assert storage.first_last("BTCUSDT") == (now - 7 * DAY, now)  # its own 7 days
        assert storage.first_last("ETHUSDT") == (T0, now)  # kept forever
        assert storage.first_last("SOLUSDT") == (now - 3 * DAY, now)  # the default
    assert not RetentionPolicy().enabled and RetentionPolicy(per_symbol={"X": 1}).enabled
    assert not RetentionPolicy(per_symbol={"X": None}).enabled


def test_retention_is_off_by_default(writer):
    writer.put_tick([snap("BTCUSDT", T0)])

    assert writer.apply_retention(T0 + 365 * DAY) == 0
    assert writer.count("BTCUSDT") == 1


def test_size_on_disk_counts_the_database_files(db_path, writer):
    writer.put_tick([snap("BTCUSDT", T0 + i) for i in range(100)])
    files = [p for p in db_path.rglob("*") if p.is_file()]

    assert writer.size_on_disk() == sum(p.stat().st_size for p in files) > 0


# ---- modes, locking, errors ----


def test_a_second_writer_is_refused_and_readers_still_open(db_path, writer):
    writer.put_tick([snap("BTCUSDT", T0)])

    with pytest.raises(StorageLockedError) as excinfo:
        SnapshotStorage.open(db_path)
    assert str(excinfo.value) == (
        f"The database at {db_path} is in use by another Depthbook process; open it read-only to browse."
    )

    with SnapshotStorage.open(db_path, "read_only") as reader:
        assert reader.get("BTCUSDT", T0) is not None
        assert reader.count("BTCUSDT") == 1
        with pytest.raises(StorageError, match="read-only"):
            reader.put_tick([snap("BTCUSDT", T0 + 1)])
        with pytest.raises(StorageError, match="secondary"):
            reader.catch_up()


def test_a_secondary_follows_the_writer_after_catch_up(db_path, writer):
    writer.put_tick([snap("BTCUSDT", T0)])
    with SnapshotStorage.open(db_path, "secondary") as follower:
        assert follower.count("BTCUSDT") == 1

        writer.put_tick(
            [snap("BTCUSDT", T0 + 1), snap("ETHUSDT", T0 + 1)],
            gaps=[GapRecord("SOLUSDT", T0, GapReason.STALE)],
        )
        follower.catch_up()

        assert follower.count("BTCUSDT") == 2
        assert follower.first_last("BTCUSDT") == (T0, T0 + 1)
        assert follower.symbols() == ["BTCUSDT", "ETHUSDT"]
        assert follower.gaps("SOLUSDT", 0, T0) == [GapRecord("SOLUSDT", T0, GapReason.STALE)]


def test_open_errors_are_one_sentence(tmp_path):
    with pytest.raises(StorageError, match=r"^There is no Depthbook database at .*missing\.$"):
        SnapshotStorage.open(tmp_path / "missing", "read_only")
    (tmp_path / "a-file").write_text("not a database")
    with pytest.raises(StorageError, match=r"^Could not open the database at .*a-file"):
        SnapshotStorage.open(tmp_path / "a-file")


def test_counters_are_recounted_when_someone_else_wrote_more(db_path, writer):
    writer.put_tick([snap("BTCUSDT", T0 + i) for i in range(3)])
    writer.close()
    db = plain_rdict(db_path)  # e.g. the reference service appending seconds
    db[f"BTCUSDT:{T0 + 3}".encode()] = reference_value(T0 + 3, 1)
    db.close()

    with SnapshotStorage.open(db_path, "read_only") as reader:
        assert reader.count("BTCUSDT") == 4
    with SnapshotStorage.open(db_path) as reopened:
        assert reopened.count("BTCUSDT") == 4


def test_an_appending_writer_stores_a_counter_once_a_minute_and_readers_count_exactly_meanwhile(db_path, writer):
    # The stored counter is a checkpoint (core.storage.counters): readers add the snapshots after its last second.
    def stored_and_counted() -> tuple[list[int] | None, int]:
        with SnapshotStorage.open(db_path, "read_only") as reader:
            stored = reader._stored_counter("BTCUSDT")
            return (list(stored) if stored else None), reader.count("BTCUSDT")

    seen = {}
    for i in range(130):
        writer.put_tick([snap("BTCUSDT", T0 + i)])
        if i in (0, 59, 60, 129):
            seen[i] = stored_and_counted()
    assert seen == {
        0: ([1, T0, T0], 1),
        59: ([1, T0, T0], 60),  # the checkpoint is 59 s behind: the reader counts the 59 seconds after it
        60: ([61, T0, T0 + 60], 61),
        129: ([121, T0, T0 + 120], 130),
    }
    writer.put_tick([snap("BTCUSDT", T0 + 125, update_id=2)])  # an overwrite changes no count
    assert stored_and_counted() == ([121, T0, T0 + 120], 130)
    writer.put_tick([snap("BTCUSDT", T0 - 5)])  # not an append: its counter is stored with it
    assert stored_and_counted() == ([131, T0 - 5, T0 + 129], 131)
    writer.put_tick([snap("BTCUSDT", T0 + 130)])
    writer.close()  # a clean close stores what lags
    assert stored_and_counted() == ([132, T0 - 5, T0 + 130], 132)


@pytest.mark.asyncio
async def test_async_wrappers_run_in_an_executor(writer):
    await writer.aput_tick(
        [snap("BTCUSDT", T0), snap("BTCUSDT", T0 + 1)], [GapRecord("BTCUSDT", T0 + 2, GapReason.STALE)]
    )
    await writer.aput("BTCUSDT", T0 + 3, snap("BTCUSDT", T0 + 3).to_bytes())

    assert await writer.aget("BTCUSDT", T0 + 3) == snap("BTCUSDT", T0 + 3).to_bytes()
    assert [ts for ts, _ in await writer.arange("BTCUSDT", T0, T0 + 3)] == [T0, T0 + 1, T0 + 3]
    assert await writer.run_blocking(writer.count, "BTCUSDT") == 3
    await writer.aclose()


# ---- crash safety ----

WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    from core.storage.snapshot import OrderBookSnapshot
    from core.storage.store import SnapshotStorage

    storage = SnapshotStorage.open(sys.argv[1])
    ts = 1737158400
    while True:
        storage.put_tick([OrderBookSnapshot(s, (("1.0", "2.0"),), (), ts, ts) for s in ("BTC", "ETH")])
        print(ts, flush=True)
        ts += 1
    """
)


def test_kill_9_of_a_writer_loses_no_committed_tick(db_path):
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER_SCRIPT, str(db_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        committed = [int(child.stdout.readline()) for _ in range(300)]
        with pytest.raises(StorageLockedError):  # the lock holds across processes too
            SnapshotStorage.open(db_path)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        committed += [int(line) for line in child.stdout.read().split()]
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with SnapshotStorage.open(db_path) as reopened:  # no repair step
        assert all(reopened.get("BTC", ts) is not None for ts in committed)
        assert all(reopened.get("ETH", ts) is not None for ts in committed)
        count = reopened.count("BTC")
        assert count in (len(committed), len(committed) + 1)  # the tick after the last print may be in
        assert reopened.count("ETH") == count
    assert scan_count(db_path, "BTC") == count


def test_all_memtables_together_stay_within_the_memtable_budget(tmp_path):
    # Each family would fill its own 64 MB memtable before a flush (the whole market: 200 MB of memtables); the
    # budget flushes one early once all of them together pass it.
    budget = 4 * 2**20
    payload = b"x" * 1000
    with SnapshotStorage(tmp_path / "db", options=StorageOptions(memtable_budget=budget)) as storage:
        families = [storage._db, *storage._views.values()]

        def wait_for_flushes() -> None:
            # The recorder writes once a second and a 1 MB flush takes milliseconds; a write that comes while a
            # family's flush is still pending cannot flush that family again (RocksDB skips it), so a test that
            # wrote without pause on a slow disk measured the disk, not the budget (8.4 MB once in CI).
            deadline = time.monotonic() + 30
            while any(f.property_int_value("rocksdb.num-immutable-mem-table") for f in families):
                assert time.monotonic() < deadline, "RocksDB's flushes did not finish"
                time.sleep(0.01)

        for second in range(12):  # 24 MB over two families, one batch a second as the recorder writes
            rows = [(f"S{i}USDT", T0 + second, payload) for i in range(1000)]
            storage.put_encoded(rows, [], rows, [])
            wait_for_flushes()
        assert sum(storage.memtable_bytes().values()) <= 2 * budget  # without the budget: 26 MB


@pytest.mark.asyncio
async def test_closing_waits_for_a_read_in_flight_whose_caller_gave_up(writer):
    # The app cancels the task awaiting a read (shutting down, another database opened); its thread reads on.
    # Closing RocksDB under it would be a use after free.
    writer.put("BTCUSDT", T0, snap("BTCUSDT", T0).to_bytes())
    started, release = threading.Event(), threading.Event()
    counted: list[int] = []

    def slow_read() -> None:
        started.set()
        release.wait(30)
        counted.append(writer.count("BTCUSDT"))  # the database must still be open here

    reading = asyncio.ensure_future(writer.run_blocking(slow_read))
    await wait_until(started.is_set, 10, "the read to start")
    reading.cancel()
    closing = asyncio.ensure_future(writer.aclose())
    await wait_until(lambda: writer._calls._closing, 10, "the close to begin")
    assert not closing.done() and not writer._closed  # waiting for the read
    release.set()
    await closing
    assert counted == [1] and writer._closed
    with pytest.raises(StorageError, match=r"^The database at .* was closed\.$"):
        await writer.run_blocking(writer.count, "BTCUSDT")


def rocksdb_options(db: Path, section: str) -> str:
    """One `[section]` of the OPTIONS file RocksDB wrote last into `db`: the options it ran with."""
    text = max(db.glob("OPTIONS-*")).read_text()
    return text.split(f"[{section}]")[1].split("[")[0]


def test_the_compaction_options_reach_rocksdb(tmp_path):
    # RocksDB writes the options it runs with into the database's OPTIONS file: the format stays the same, only
    # how files are compacted and how hard zstd works change.
    with SnapshotStorage(tmp_path / "default", options=StorageOptions()) as storage:
        storage.put_encoded([("BTCUSDT", T0, b"x")])
    default_options = rocksdb_options(tmp_path / "default", 'CFOptions "default"')
    assert "compaction_style=kCompactionStyleUniversal" in default_options
    assert "level0_file_num_compaction_trigger=8" in default_options
    options = StorageOptions(universal_compaction=False, l0_compaction_trigger=6, zstd_level=5)
    with SnapshotStorage(tmp_path / "db", options=options) as storage:
        storage.put_encoded([("BTCUSDT", T0, b"x")])
    default_family = rocksdb_options(tmp_path / "db", 'CFOptions "default"')
    assert "compaction_style=kCompactionStyleLevel" in default_family
    assert "level0_file_num_compaction_trigger=6" in default_family
    assert "compression=kZSTD" in default_family
    assert "level=5;" in default_family.split("compression_opts=")[1].split("\n")[0]


def test_tables_are_written_in_64_kb_blocks_at_zstd_level_1_and_4_kb_ones_still_read(tmp_path):
    # RocksDB's default is 4 KB at zstd's level 3; Depthbook writes 64 KB blocks at level 1 (StorageOptions). Each
    # table file says its own block size, so a database written in 4 KB blocks (an older Depthbook, the reference
    # service) reads.
    with SnapshotStorage(tmp_path / "db", options=StorageOptions(block_size=4096)) as storage:
        storage.put_tick([snap("BTCUSDT", T0 + i, update_id=i + 1) for i in range(50)])
    assert list((tmp_path / "db").glob("*.sst"))  # closing flushed them into table files
    assert "block_size=4096" in rocksdb_options(tmp_path / "db", 'TableOptions/BlockBasedTable "default"')
    with SnapshotStorage(tmp_path / "db") as storage:
        storage.put_tick([snap("BTCUSDT", T0 + 50, update_id=51)])
        assert [s.update_id for s in storage.snapshots("BTCUSDT", T0, T0 + 50)] == list(range(1, 52))
        assert storage.count("BTCUSDT") == 51
    default_family = rocksdb_options(tmp_path / "db", 'CFOptions "default"')
    assert "level=1;" in default_family.split("compression_opts=")[1].split("\n")[0]
    assert "block_size=65536" in rocksdb_options(tmp_path / "db", 'TableOptions/BlockBasedTable "default"')


def levels_holding_files(db: Rdict) -> int:
    stats = db.property_value("rocksdb.levelstats") or ""  # "Level Files Size(MB)", then one row per level
    return sum(1 for row in stats.splitlines()[2:] if row.split() and int(row.split()[1]) > 0)


def test_a_database_compacted_in_universal_style_opens_in_the_level_style_and_back(tmp_path):
    # Depthbook compacts in RocksDB's universal style; the reference service (and a plain rocksdict) opens databases in
    # RocksDB's default level style. Small memtables flush often, so the snapshots lie in sorted runs on several levels.
    path = tmp_path / "db"
    small = StorageOptions(write_buffer_size=64 * 1024, memtable_budget=64 * 1024)
    with SnapshotStorage(path, options=small) as storage:
        for second in range(400):
            storage.put_tick([snap(f"S{i:02d}USDT", T0 + second, update_id=second + 1) for i in range(30)])
    db = plain_rdict_with_families(path)  # the level style: RocksDB's default
    try:
        assert levels_holding_files(db) >= 2
        assert sum(1 for key in db.keys(from_key=b"S07USDT:") if key.startswith(b"S07USDT:")) == 400
        for second in range(400, 500):
            db[f"S07USDT:{T0 + second}".encode()] = snap("S07USDT", T0 + second, update_id=second + 1).to_bytes()
        db.compact_range(None, None)  # the level style rewrites the universal style's runs into its levels
    finally:
        db.close()
    with SnapshotStorage(path, options=small) as storage:  # and back in the universal style
        assert storage.count("S07USDT") == 500 and storage.count("S29USDT") == 400
        assert [s.update_id for s in storage.snapshots("S07USDT", T0 + 395, T0 + 404)] == list(range(396, 406))
        storage.put_tick([snap("S29USDT", T0 + 400, update_id=401)])
    with SnapshotStorage.open(path, "read_only") as storage:
        assert storage.count("S29USDT") == 401
