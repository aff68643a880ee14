"""Archiving a recorded database to a real object store (SeaweedFS) and to a directory, and reading it back."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from core.archive.archiver import ArchiveOptions, Archiver
from core.archive.format import FORMAT_VERSION, content_checksum, read_meta
from core.archive.layout import STAGING_DIR, HourKey
from core.archive.location import open_location
from core.archive.reader import ArchiveReader
from core.archive.rollup import rollup_path
from core.storage.store import SnapshotStorage
from tests.core.archive.archived import all_files, archive, hour_files
from tests.core.archive.recorded import DAY, PLANS, at, expected_hours


def check_reads_back(db, location, written):
    """Every stored second equals its RocksDB snapshot (exact strings), the gaps match, the metadata is right."""
    reader = ArchiveReader(location)
    assert reader.symbols() == sorted(p.symbol for p in PLANS)
    with SnapshotStorage.open(db, mode="read_only") as storage:
        for plan in PLANS:
            symbol = plan.symbol
            first, last = storage.first_last(symbol)
            start, end = first - first % 3600, last - last % 3600 + 3599
            snaps, gaps = reader.snapshots(symbol, start, end), reader.gaps(symbol, start, end)
            assert snaps == storage.snapshots(symbol, start, end) == written[symbol][0]
            assert gaps == storage.gaps(symbol, start, end) == written[symbol][1]
            assert reader.first_last(symbol) == (first, last)
            assert reader.hours(symbol) == expected_hours(symbol)
            # a range inside one hour reads just that
            assert reader.snapshots(symbol, first + 10, first + 20) == snaps[10:21]
            for hour in reader.hours(symbol):
                meta = reader.meta(symbol, hour)
                hour_snaps = [s for s in snaps if hour <= s.timestamp < hour + 3600]
                hour_gaps = [g for g in gaps if hour <= g.timestamp < hour + 3600]
                assert (meta.market, meta.symbol, meta.hour, meta.format_version) == ("spot", symbol, hour, FORMAT_VERSION)
                assert (meta.snapshots, meta.gaps, meta.damaged) == (len(hour_snaps), len(hour_gaps), 0)
                assert (meta.first, meta.last) == (hour_snaps[0].timestamp, hour_snaps[-1].timestamp)
                assert meta.checksum == content_checksum(hour_snaps, hour_gaps)
                assert meta.completeness == pytest.approx(len(hour_snaps) / (len(hour_snaps) + len(hour_gaps)))
                assert meta.exact == "decimal" and meta.price_scale == meta.qty_scale == 8


@pytest.fixture(scope="module")
def s3_archive(recorded_db, seaweed):
    """The recorded database archived once to a bucket of the test store: (report, location, events, env)."""
    seaweed.start()
    seaweed.client().create_dir("archive-shared")
    env = seaweed.env()
    return (*archive(recorded_db[0], "s3://archive-shared/depth", env), env)


@pytest.fixture(scope="module")
def dir_archive(recorded_db, tmp_path_factory):
    """The recorded database archived once to a directory: (report, location, events, path)."""
    target = tmp_path_factory.mktemp("dir-archive") / "archive"
    return (*archive(recorded_db[0], f"file://{target}"), target)


def test_archive_to_s3_reads_back_every_second(recorded_db, s3_archive):
    db, written = recorded_db
    report, location, events, _ = s3_archive
    wanted = sorted(HourKey("spot", p.symbol, h).path for p in PLANS for h in expected_hours(p.symbol))
    assert hour_files(location) == wanted
    rollups = [rollup_path("spot", p.symbol, DAY) for p in PLANS]  # one day file per symbol
    assert all_files(location) == sorted(wanted + rollups)  # nothing in staging, nothing else
    assert len(report.uploaded) == len(wanted) and report.skipped == 0 and report.retries == 0
    assert [e.kind for e in events].count("uploaded") == len(wanted)
    check_reads_back(db, location, written)
    # The bytes of the file say so too (what any Parquet reader sees).
    with location.fs.open_input_file(location.full(HourKey("spot", "BTCUSDT", at(11)).path)) as handle:
        parquet = pq.ParquetFile(handle)
        assert parquet.schema_arrow.field("ts").type == pa.timestamp("ms", tz="UTC")
        assert parquet.schema_arrow.field("bid_price_0").type == pa.decimal128(18, 8)
        assert parquet.schema_arrow.field("bid_qty_0").type == pa.decimal128(38, 8)
        assert parquet.schema_arrow.field("update_id").type == pa.int64()
        assert parquet.metadata.row_group(0).column(3).compression == "ZSTD"
        assert parquet.metadata.num_rows == 3600  # 3595 snapshots and 5 gap rows
        assert read_meta(parquet.metadata).rows == 3600


def test_a_second_run_uploads_nothing(recorded_db, s3_archive):
    report, location, _, env = s3_archive
    before = {i.path: (i.size, i.mtime) for i in location.files()}
    again, _, events = archive(recorded_db[0], location.url, env)
    assert again.uploaded == [] and again.skipped == len(report.uploaded) and again.bytes_uploaded == 0
    assert [e.kind for e in events] == ["planned"]
    assert {i.path: (i.size, i.mtime) for i in location.files()} == before


def test_only_completed_hours_are_archived(recorded_db, bucket, s3_env):
    db, _ = recorded_db
    url = f"s3://{bucket}"
    # "now" just after the last BTCUSDT second (13:10): its hour 13 is not completed yet; every hour of the
    # others is (a later BTCUSDT second is not needed for them: they ended more than an hour ago).
    report, location, _ = archive(db, url, now=lambda: at(13, 10, 1))
    btc = [k.start for k in report.uploaded if k.symbol == "BTCUSDT"]
    assert btc == [at(10), at(11), at(12)]
    eth = [k.start for k in report.uploaded if k.symbol == "ETHUSDT"]
    assert eth == [at(11)]  # 12:00-12:59 ended less than an hour before 13:10 and ETH stored nothing after it
    later, _, _ = archive(db, url, now=lambda: at(15))
    assert sorted((k.symbol, k.start) for k in later.uploaded) == [("BTCUSDT", at(13)), ("ETHUSDT", at(12)), ("SOLUSDT", at(12))]
    assert len(hour_files(location)) == sum(len(expected_hours(p.symbol)) for p in PLANS)


def test_archive_to_a_directory(recorded_db, dir_archive):
    db, written = recorded_db
    report, location, _, target = dir_archive
    check_reads_back(db, location, written)
    assert not (target / STAGING_DIR).exists() or not any((target / STAGING_DIR).iterdir())
    again, _, _ = archive(db, str(target))  # a plain path names the same archive
    assert again.uploaded == [] and again.skipped == len(report.uploaded)


def test_pyarrow_dataset_reads_the_archive_with_hive_partitioning(recorded_db, s3_archive, seaweed):
    _, written = recorded_db
    location = s3_archive[1]
    dataset = ds.dataset(location.root, filesystem=seaweed.client(), format="parquet", partitioning="hive")
    table = dataset.to_table(
        columns=["market", "symbol", "date", "ts", "bid_price_0"],
        filter=(ds.field("symbol") == "BTCUSDT") & ds.field("gap").is_null(),
    )
    assert table.num_rows == len(written["BTCUSDT"][0])
    assert set(table.column("market").to_pylist()) == {"spot"}
    assert set(table.column("date").to_pylist()) == {"2025-06-02"}
    assert pa.types.is_decimal(table.schema.field("bid_price_0").type)
    assert dataset.count_rows() == sum(len(s) + len(g) for s, g in written.values())


def test_duckdb_reads_the_archive_and_gives_back_the_exact_strings(recorded_db, dir_archive):
    duckdb = pytest.importorskip("duckdb")
    _, written = recorded_db
    target = dir_archive[3]
    con = duckdb.connect()
    rows = con.execute(
        f"""
        SELECT symbol, count(*) FILTER (WHERE gap IS NULL), count(*) FILTER (WHERE gap IS NOT NULL)
        FROM read_parquet('{target}/market=spot/*/*/*.parquet', hive_partitioning = true)
        GROUP BY symbol ORDER BY symbol
        """
    ).fetchall()
    assert rows == [(s, len(written[s][0]), len(written[s][1])) for s in sorted(written)]
    first = written["SOLUSDT"][0][9]  # the one with a quantity of 0.00000001
    row = con.execute(
        f"""
        SELECT CAST(bid_price_0 AS VARCHAR), CAST(bid_qty_0 AS VARCHAR), update_id, epoch(ts)::BIGINT
        FROM read_parquet('{target}/market=spot/symbol=SOLUSDT/*/*.parquet') WHERE ts = to_timestamp({first.timestamp})
        """
    ).fetchone()
    assert row == (first.bids[0][0], first.bids[0][1], first.update_id, first.timestamp)
    meta = dict(
        con.execute(
            f"SELECT decode(key), decode(value) FROM parquet_kv_metadata('{target}/market=spot/symbol=SOLUSDT/date=2025-06-02/hour=10.parquet')"
        ).fetchall()
    )
    assert meta["depthbook.symbol"] == "SOLUSDT" and meta["depthbook.snapshots"] == "1800"


def test_a_tampered_hour_fails_its_checksum(recorded_db, tmp_path):
    db, _ = recorded_db
    _, location, _ = archive(db, str(tmp_path / "a"), symbols=("SOLUSDT",))
    reader = ArchiveReader(location)
    assert reader.verify("SOLUSDT", at(10))
    path = location.full(HourKey("spot", "SOLUSDT", at(10)).path)
    table = pq.read_table(path)
    qty = table.column("ask_qty_5").to_pylist()
    qty[100] = qty[100] + 1
    table = table.set_column(table.schema.get_field_index("ask_qty_5"), "ask_qty_5", pa.array(qty, table.schema.field("ask_qty_5").type))
    pq.write_table(table, path)  # the metadata travels with the schema
    assert not ArchiveReader(location).verify("SOLUSDT", at(10))


def test_unreachable_store_fails_in_one_sentence_after_its_retries(recorded_db, tmp_path):
    from core.archive.location import ArchiveError

    db, _ = recorded_db
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    location = open_location("s3://nowhere/x", env)
    events = []
    with SnapshotStorage.open(db, mode="read_only") as storage:
        archiver = Archiver(storage, location, ArchiveOptions(attempts=3, backoff_initial=0.01), events.append)
        with pytest.raises(ArchiveError) as raised:
            archiver.run()
    assert [e.kind for e in events] == ["retry", "retry"]  # 3 attempts, backoff between them, then one sentence
    message = str(raised.value)
    assert "s3://nowhere/x" in message and "\n" not in message and "y" not in message.split("(")[0][-3:]
    assert "SECRET" not in message and "AWS_SECRET_ACCESS_KEY=" not in message


def test_missing_bucket_is_said_plainly(recorded_db, s3_env):
    from core.archive.location import ArchiveError

    db, _ = recorded_db
    with pytest.raises(ArchiveError, match="The bucket 'no-such-bucket' does not exist"):
        archive(db, "s3://no-such-bucket/x")


def test_readers_skip_foreign_files_and_staging(recorded_db, tmp_path):
    db, written = recorded_db
    target = tmp_path / "archive"
    _, location, _ = archive(db, str(target), symbols=("SOLUSDT",))
    (target / STAGING_DIR).mkdir(exist_ok=True)
    (target / STAGING_DIR / "spot-SOLUSDT-2025-06-02T10.abc.partial").write_bytes(b"partial")
    (target / "market=spot" / "symbol=SOLUSDT" / "notes.txt").write_text("hello")
    reader = ArchiveReader(location)
    assert reader.symbols() == ["SOLUSDT"]
    assert reader.snapshots("SOLUSDT", at(0), at(23)) == written["SOLUSDT"][0]
    assert pafs.LocalFileSystem().get_file_info(str(target / "market=spot")).type == pafs.FileType.Directory
