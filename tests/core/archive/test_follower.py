"""Archiving while recording: a bounded number of completed hours per pass, backoff while the store is down,
retention that deletes only verified hours, and `record --archive` against the simulator."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from core.archive.follower import ArchiveFollower, FollowOptions
from core.archive.layout import HourKey
from core.archive.location import open_location
from core.archive.reader import ArchiveReader
from core.simulator.server import ExchangeSimulator
from core.storage.retention import RetentionPolicy
from core.storage.store import SnapshotStorage, StorageOptions
from tests.core.archive.archived import all_files, hour_files
from tests.core.archive.recorded import DAY, PLANS, at, expected_hours, write_database
from tests.core.cli.cli_helpers import read_lines_until
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[3]
LATER = DAY + 10 * 86_400  # every recorded hour is long complete
ALL_HOURS = sorted((h, p.symbol) for p in PLANS for h in expected_hours(p.symbol))  # 8 symbol-hours


def test_a_pass_archives_the_oldest_hours_and_retention_deletes_only_verified_ones(tmp_path):
    db, written = tmp_path / "db", write_database(tmp_path / "db")
    location = open_location(str(tmp_path / "archive"))
    follower = ArchiveFollower(location, FollowOptions(max_hours=3), now=lambda: LATER)
    policy = RetentionPolicy(days=1, keep_from=follower.keep_from)  # every recorded second is > 1 day old
    with SnapshotStorage.open(db, options=StorageOptions(retention=policy)) as storage:
        assert storage.apply_retention(LATER) == 0  # nothing verified yet: nothing may go

        assert follower.run_pass(storage) == len(ALL_HOURS) - 3
        assert follower.worker_pid == os.getpid()  # run_pass runs here; a started follower's passes do not
        first_three = [HourKey("spot", s, h).path for h, s in ALL_HOURS[:3]]  # BTC 10:00, SOL 10:00, BTC 11:00
        assert hour_files(location) == sorted(first_three)
        assert {s: follower.keep_from(s) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")} == {
            "BTCUSDT": at(12), "ETHUSDT": at(11), "SOLUSDT": at(12)  # SOL's hour 11 holds nothing
        }  # fmt: skip
        storage.apply_retention(LATER)
        assert storage.first_last("BTCUSDT")[0] == at(12)
        assert storage.first_last("ETHUSDT")[0] == at(11)
        assert storage.first_last("SOLUSDT")[0] == at(12)

        left = [follower.run_pass(storage), follower.run_pass(storage)]
        assert left == [2, 0] and follower.status.archived == len(ALL_HOURS)
        assert follower.keep_from("BTCUSDT") == at(14)  # its last hour (13:00) is archived too
        storage.apply_retention(LATER)
        assert storage.symbols() == []  # all of it was archived, so all of it could go
    reader = ArchiveReader(location)
    for plan in PLANS:  # what retention deleted is in the archive, second for second
        assert reader.snapshots(plan.symbol, DAY, DAY + 86_399) == written[plan.symbol][0]
        assert reader.gaps(plan.symbol, DAY, DAY + 86_399) == written[plan.symbol][1]
    assert not any(path.startswith("_staging") for path in all_files(location))


def test_a_restarted_follower_uploads_nothing_already_archived(tmp_path):
    db = tmp_path / "db"
    write_database(db)
    location = open_location(str(tmp_path / "archive"))
    with SnapshotStorage.open(db, mode="read_only") as storage:
        first = ArchiveFollower(location, FollowOptions(max_hours=100), now=lambda: LATER)
        assert first.run_pass(storage) == 0 and first.status.archived == len(ALL_HOURS)
        again = ArchiveFollower(location, FollowOptions(max_hours=100), now=lambda: LATER)
        assert again.run_pass(storage) == 0 and again.status.archived == 0
        assert again.keep_from("BTCUSDT") == at(14)
    assert len(hour_files(location)) == len(ALL_HOURS)


@pytest.mark.asyncio
async def test_the_follower_backs_off_while_the_store_is_down_then_catches_up(tmp_path, seaweed, bucket, s3_env):
    db = tmp_path / "db"
    write_database(db)
    said: list[str] = []
    location = open_location(f"s3://{bucket}/fleet", s3_env)
    options = FollowOptions(max_hours=3, every=0.05, backoff_initial=0.05, backoff_max=0.2, duty=1.0)  # no idling
    follower = ArchiveFollower(location, options, now=lambda: LATER, on_error=said.append)
    seaweed.kill()
    try:
        follower.start(str(db))
        await wait_until(lambda: follower.status.failures >= 3, 30, "three failed passes")
        assert follower.status.archived == 0 and follower.keep_from("BTCUSDT") == 0
        assert len(said) == 1 and "does not answer" in said[0]  # said once, not at every retry
    finally:
        seaweed.start()
    await wait_until(lambda: follower.status.archived == len(ALL_HOURS), 90, "every hour archived")
    await follower.stop()
    assert follower.status.pending == 0 and follower.status.failures == 0
    assert said[-1].endswith("works again.")
    assert len(hour_files(location)) == len(ALL_HOURS)
    assert not any("_staging" in path for path in all_files(location))


@pytest.mark.asyncio
async def test_passes_run_in_a_child_process_and_a_killed_one_is_replaced(tmp_path, caplog):
    db = tmp_path / "db"
    written = write_database(db)
    location = open_location(str(tmp_path / "archive"))
    options = FollowOptions(max_hours=1, every=0.05, backoff_initial=0.05, backoff_max=0.2, duty=1.0)
    follower = ArchiveFollower(location, options, now=lambda: LATER)
    caplog.set_level(logging.WARNING, logger="core.archive.pass_worker")
    follower.start(str(db))
    try:
        await wait_until(lambda: follower.status.archived >= 1, 60, "a first hour archived")
        first = follower.worker_pid
        assert first is not None and first != os.getpid()
        assert psutil.Process(first).ppid() == os.getpid()  # a child of this process, not a thread of it
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: follower.status.archived == len(ALL_HOURS), 90, "every hour archived")
    finally:
        await follower.stop()
    assert follower.worker_pid not in (None, first, os.getpid())
    said = [r.getMessage() for r in caplog.records if r.name == "core.archive.pass_worker"]
    assert said == [f"archive worker pid={first} died; starting a new one"]  # one line
    assert hour_files(location) == sorted(HourKey("spot", s, h).path for h, s in ALL_HOURS)
    assert ArchiveReader(location).snapshots("BTCUSDT", DAY, DAY + 86_399) == written["BTCUSDT"][0]


@pytest.mark.asyncio
async def test_a_stop_that_cannot_wait_terminates_the_worker_and_publishes_nothing_partial(tmp_path):
    db = tmp_path / "db"
    written = write_database(db)
    location = open_location(str(tmp_path / "archive"))
    options = FollowOptions(max_hours=2, duty=1.0)  # passes back to back: one is in flight when we stop
    follower = ArchiveFollower(location, options, now=lambda: LATER)
    follower.start(str(db))
    await wait_until(lambda: follower.status.archived >= 2, 60, "a first pass done")
    pid = follower.worker_pid
    await follower.stop(grace=0)
    await wait_until(lambda: not _running(pid), 30, "the worker ended")
    for path in hour_files(location):  # whatever was published is a whole, readable hour
        with location.fs.open_input_file(location.full(path)) as handle:
            assert pq.read_metadata(handle).num_rows > 0
    with SnapshotStorage.open(db, mode="read_only") as storage:  # a later run finishes the job
        again = ArchiveFollower(location, FollowOptions(max_hours=100), now=lambda: LATER)
        assert again.run_pass(storage) == 0
    reader = ArchiveReader(location)
    for plan in PLANS:
        assert reader.snapshots(plan.symbol, DAY, DAY + 86_399) == written[plan.symbol][0]


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.asyncio
async def test_record_archives_completed_hours_while_it_records(tmp_path):
    """A database with earlier recordings: `record --archive` archives their hours in the background while
    it records BTCUSDT, and says so in its status lines."""
    db, archive = tmp_path / "db", tmp_path / "archive"
    written = write_database(db)
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=3, interval_ms=50) as sim:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gui.entry", "record", "--symbols", "BTCUSDT", "--db", str(db),
            "--ws-url", sim.ws_url, "--rest-url", sim.rest_url, "--status-every", "0.2", "--log-level", "WARNING",
            "--archive", str(archive), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            done = f"archived={len(ALL_HOURS)} pending=0"
            lines = await read_lines_until(proc.stdout, lambda line: done in line, 100)
            recording = [line for line in lines if line.startswith("BTCUSDT") and "stored=" in line]
            assert recording, lines  # it recorded meanwhile
        finally:
            proc.send_signal(signal.SIGINT)
            code = await asyncio.wait_for(proc.wait(), 15)
    assert code == 0 and b"Traceback" not in await proc.stderr.read()
    reader = ArchiveReader(open_location(str(archive)))
    assert reader.snapshots("ETHUSDT", DAY, DAY + 86_399) == written["ETHUSDT"][0]
    assert reader.hours("BTCUSDT") == expected_hours("BTCUSDT")  # today's hour is not complete: not archived


@pytest.mark.asyncio
async def test_two_sharded_recorders_archive_disjoint_symbols_that_cover_the_market(tmp_path, capsys):
    """`record --all --shard 1/2` and `--shard 2/2` against the simulator, each with --archive to one archive:
    their symbols do not overlap and cover the market, and `archive status` says which shard archived each.
    The hours they record are not complete before an hour has passed, so their databases are then archived
    by the same follower with a clock two hours ahead."""
    market = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "ADAUSDT"]
    archive = tmp_path / "archive"
    async with ExchangeSimulator(symbols=market, seed=5, interval_ms=50) as sim:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gui.entry", "record", "--all", "--shard", f"{k}/2", "--db", str(tmp_path / f"db{k}"),
                "--ws-url", sim.ws_url, "--rest-url", sim.rest_url, "--status-every", "0.2", "--log-level", "WARNING",
                "--archive", str(archive), cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
            for k in (1, 2)
        ]
        try:
            for proc in procs:  # each has stored a second of every symbol it records
                await read_lines_until(proc.stdout, _all_stored(), 60)
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGINT)
            codes = [await asyncio.wait_for(proc.wait(), 15) for proc in procs]
    assert codes == [0, 0]
    recorded = []
    location = open_location(str(archive))
    for k in (1, 2):
        with SnapshotStorage.open(tmp_path / f"db{k}", mode="read_only") as storage:
            recorded.append(set(storage.symbols()))
            follower = ArchiveFollower(location, FollowOptions(shard=f"{k}/2", max_hours=100), now=lambda: time.time() + 7200)
            assert follower.run_pass(storage) == 0
    assert recorded[0] and recorded[1] and not recorded[0] & recorded[1]
    assert recorded[0] | recorded[1] == set(market)
    from tests.core.archive.cli_run import main

    assert main(["archive", "status", str(archive), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["symbols"]
    assert {row["symbol"]: row["shard"] for row in rows} == {
        symbol: f"{k}/2" for k in (1, 2) for symbol in recorded[k - 1]
    }


def _all_stored():
    """A predicate over status lines: true at the `archive` line closing a round in which every symbol's line
    said at least one second was stored."""
    stored: dict[str, int] = {}

    def done(line: str) -> bool:
        if line.startswith("archive "):
            return bool(stored) and min(stored.values()) > 0
        parts = line.split()
        if parts and any(p.startswith("stored=") for p in parts):
            stored[parts[0]] = int(next(p for p in parts if p.startswith("stored="))[7:])
        return False

    return done


def test_record_passes_its_shard_to_the_archive(tmp_path):
    from core.cli.archive import record_follower
    from core.cli.main import build_parser
    from core.cli.record import record_config

    args = build_parser().parse_args(
        ["record", "--all", "--shard", "2/3", "--db", str(tmp_path / "db"), "--archive", str(tmp_path / "a")]
    )
    config, follower = record_follower(args, record_config(args, []), print)
    assert follower.options.shard == "2/3"
    assert config.retention.keep_from == follower.keep_from  # retention asks the follower what it may delete


def test_record_with_an_archive_url_that_cannot_be_is_one_sentence(tmp_path, capsys):
    from tests.core.archive.cli_run import main

    code = main(["record", "--symbols", "BTCUSDT", "--db", str(tmp_path / "db"), "--ws-url", "ws://127.0.0.1:9",
                 "--rest-url", "http://127.0.0.1:9", "--archive", "ftp://x/y"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err == "depthbook: Cannot archive to ftp://x/y: use s3://bucket/prefix, file:///path or a directory\n"
    assert not (tmp_path / "db").exists()  # refused before anything started


def test_an_archive_directory_that_is_a_file_is_refused_before_anything_starts(tmp_path, capsys):
    from core.archive.location import is_retryable
    from tests.core.archive.cli_run import main

    afile = tmp_path / "afile"
    afile.write_text("not a directory")
    for target, said in ((afile, "it is a file"), (afile / "archive", f"{afile} is a file")):
        code = main(["record", "--symbols", "BTCUSDT", "--db", str(tmp_path / "db"), "--ws-url", "ws://127.0.0.1:9",
                     "--rest-url", "http://127.0.0.1:9", "--archive", str(target)])  # fmt: skip
        assert code == 2 and capsys.readouterr().err == f"depthbook: Cannot archive to {target}: {said}, not a directory\n"
        assert not (tmp_path / "db").exists()
    # A file put there later, while archiving: no retry mends that either.
    assert not is_retryable(FileExistsError(17, "Cannot create directory: non-directory entry exists"))
    assert not is_retryable(NotADirectoryError(20, "Not a directory"))
    assert is_retryable(ConnectionRefusedError(111, "Connection refused"))


def test_the_follower_rewrites_version_1_day_files_as_version_2_once_within_its_budget(
    tmp_path, seaweed, bucket, s3_env
):
    from core.archive.rollup import ROW_COLUMNS, covered_hours, hours_without_rows, rollup_path, rows_hours

    db = tmp_path / "db"
    write_database(db)
    location = open_location(f"s3://{bucket}/fleet", s3_env)
    fs = location.fs
    paths = {p.symbol: location.full(rollup_path("spot", p.symbol, DAY)) for p in PLANS}

    def read(symbol: str):
        with fs.open_input_file(paths[symbol]) as handle:
            return pq.read_table(handle)

    with SnapshotStorage.open(db, mode="read_only") as storage:
        first = ArchiveFollower(location, FollowOptions(max_hours=100), now=lambda: LATER)
        assert first.run_pass(storage) == 0 and first.status.upgraded == 0  # written as version 2 from the start
        v2 = {symbol: read(symbol) for symbol in paths}
        for symbol, table in v2.items():  # what Depthbook wrote before version 2: no rows, version 1's metadata
            hours = ",".join(str(h) for h in covered_hours(table))
            v1 = table.drop_columns(list(ROW_COLUMNS)).replace_schema_metadata(
                {"depthbook.format": "depthbook-archive-rollup", "depthbook.format_version": "1",
                 "depthbook.rollup_hours": hours}
            )  # fmt: skip
            with fs.open_output_stream(paths[symbol]) as out:
                pq.write_table(v1, out)
            assert hours_without_rows(read(symbol)) == covered_hours(table)

        follower = ArchiveFollower(location, FollowOptions(max_hours=1), now=lambda: LATER)
        left = [follower.run_pass(storage) for _ in range(len(paths))]
        assert left == [len(paths) - 1 - i for i in range(len(paths))]  # one day file a pass: the budget's unit
        assert follower.status.upgraded == len(paths) and follower.status.archived == 0
        for symbol, table in v2.items():
            rewritten = read(symbol)
            assert rewritten.schema.metadata[b"depthbook.format_version"] == b"2"
            assert rows_hours(rewritten) == covered_hours(table) and not hours_without_rows(rewritten)
            assert rewritten.equals(table)  # the rows the archiver wrote at first, minute for minute
        assert follower.run_pass(storage) == 0 and follower.status.upgraded == len(paths)  # once
        restarted = ArchiveFollower(location, FollowOptions(max_hours=100), now=lambda: LATER)
        assert restarted.run_pass(storage) == 0 and restarted.status.upgraded == 0
    summary = ArchiveReader(location).day_summary("BTCUSDT", DAY)
    assert summary is not None and summary.row_hours == summary.covered  # History reads no hour file for it
    assert not any("_staging" in path for path in all_files(location))
