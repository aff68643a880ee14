"""The commands over a real database with damaged records in every column family: each one reads around them,
says how many it skipped and which, and never leaves a traceback or a partial file."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json

import msgpack
import pytest

from core.cli.export_files import export_columns
from core.simulator.server import ExchangeSimulator
from core.storage import counters
from core.storage.store import SnapshotStorage
from tests.core.cli.cli_helpers import assert_one_sentence, depthbook
from tests.core.storage.damage_helpers import (
    DAMAGED_SNAPSHOTS,
    T0,
    damage_snapshots,
    fingerprint,
    key,
    record,
    write_raw,
)

N_BAD = len(DAMAGED_SNAPSHOTS)


@pytest.fixture
def damaged_db(tmp_path):
    """120 s of BTCUSDT with every kind of damaged snapshot at T0+60.., 30 s of ETHUSDT, and garbage in
    each of Depthbook's own families."""
    path = tmp_path / "db"
    record(path, "BTCUSDT", T0, 120)
    record(path, "ETHUSDT", T0, 30)
    damage_snapshots(path, "BTCUSDT", T0 + 60)
    write_raw(path, "meta", {b"counter:BTCUSDT": b"\xc1\xc1", b"counter:ETHUSDT": msgpack.packb("thirty")})
    write_raw(path, "sessions", {b"0000000001:000": b"not a session"})
    write_raw(path, "gaps", {key("BTCUSDT", T0 + 150): b"\xff\xfe"})
    write_raw(path, "series", {key("BTCUSDT", T0 + 61): b"\x00" * 10, key("BTCUSDT", T0 + 90): b"\x00" * 10})
    return path


def bad_seconds() -> list[int]:
    return [T0 + 60 + i for i in range(N_BAD)]


def test_stats_reports_damaged_snapshots_per_symbol(damaged_db):
    before = fingerprint(damaged_db)
    checked = depthbook("stats", "--db", str(damaged_db), "--json", "--check")
    quick = depthbook("stats", "--db", str(damaged_db), "--json")
    table = depthbook("stats", "--db", str(damaged_db), "--check")
    for result in (checked, quick, table):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    rows = {row["symbol"]: row for row in json.loads(checked.stdout)}
    assert (rows["BTCUSDT"]["count"], rows["BTCUSDT"]["damaged"]) == (120, N_BAD)  # recounted, not the garbage
    assert (rows["ETHUSDT"]["count"], rows["ETHUSDT"]["damaged"]) == (30, 0)
    assert f"depthbook: {N_BAD} damaged snapshots of BTCUSDT (2025-01-18T00:01:00Z" in checked.stderr
    assert "family=meta symbol=BTCUSDT" in checked.stderr  # the log names the damaged counter
    assert all(row["damaged"] is None for row in json.loads(quick.stdout))  # not read: not claimed clean
    assert "damaged" in table.stdout.splitlines()[0] and f" {N_BAD}\n" in table.stdout
    assert fingerprint(damaged_db) == before


def test_export_skips_and_names_damaged_snapshots_in_csv_and_parquet(damaged_db, tmp_path):
    out = tmp_path / "btc.csv"
    result = depthbook("export", "--db", str(damaged_db), "--symbol", "BTCUSDT", "--start", str(T0),
                       "--end", str(T0 + 119), "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"exported {120 - N_BAD} snapshots" in result.stderr
    assert f"depthbook: skipped {N_BAD} damaged snapshots of BTCUSDT (2025-01-18T00:01:00Z" in result.stderr
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == export_columns()
    assert [int(r[2]) // 1_000_000 for r in rows[1:]] == [T0 + i for i in range(120) if T0 + i not in bad_seconds()]

    pq = pytest.importorskip("pyarrow.parquet")
    parquet = tmp_path / "btc.parquet"
    result = depthbook("export", "--db", str(damaged_db), "--symbol", "BTCUSDT", "--start", str(T0),
                       "--end", str(T0 + 119), "--format", "parquet", "--out", str(parquet))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert pq.read_table(parquet).num_rows == 120 - N_BAD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["btc.csv", "btc.parquet", "db"]  # no temporary left


def test_an_export_that_fails_leaves_no_partial_file_and_the_old_one_intact(damaged_db, small_disk):
    out = small_disk.path / "btc.csv"
    out.write_text("the previous export\n")
    with contextlib.suppress(OSError):  # SmallDisk.fill's close can itself hit the full disk; full either way
        small_disk.fill()
    try:
        result = depthbook("export", "--db", str(damaged_db), "--symbol", "BTCUSDT", "--start", str(T0),
                           "--end", str(T0 + 119), "--out", str(out), "--log-level", "ERROR")  # fmt: skip
    finally:
        small_disk.free()
    assert_one_sentence(result, 2, f"cannot write {out}")
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in small_disk.path.iterdir()) == ["btc.csv"]


def test_order_flow_leaves_damaged_snapshots_out_of_its_window(damaged_db):
    result = depthbook("order-flow", "--db", str(damaged_db), "--symbol", "BTCUSDT", "--end", str(T0 + 90),
                       "--window", "60", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(result.stdout)["snapshot_count"] == 61 - N_BAD
    assert f"depthbook: left out {N_BAD} damaged snapshots of BTCUSDT (2025-01-18T00:01:00Z" in result.stderr


def test_record_opens_a_database_with_damaged_records_and_rebuilds_its_counters(damaged_db):
    async def run():
        async with ExchangeSimulator(symbols=["BTCUSDT"], seed=3, interval_ms=50) as sim:
            return await asyncio.to_thread(
                depthbook, "record", "--symbols", "BTCUSDT", "--db", str(damaged_db), "--ws-url", sim.ws_url,
                "--rest-url", sim.rest_url, "--duration", "4", "--log-level", "WARNING",
            )  # fmt: skip

    result = asyncio.run(run())
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "rebuilt damaged counters from the snapshots count=2" in result.stderr
    stored = fingerprint(damaged_db)
    meta = dict(stored["meta"])
    with SnapshotStorage.open(damaged_db, "read_only") as storage:
        assert counters.unpack(meta[b"counter:BTCUSDT"]).count == storage.count("BTCUSDT") >= 120
        assert counters.unpack(meta[b"counter:ETHUSDT"]) == counters.Counter(30, T0, T0 + 29)
        assert storage.sessions()[-1].end_reason == "stopped"
    assert dict(stored["sessions"])[b"0000000001:000"] == b"not a session"  # skipped, never deleted
    assert dict(stored["default"])[key("BTCUSDT", T0 + 60)] == DAMAGED_SNAPSHOTS["garbage bytes"](T0 + 60)
