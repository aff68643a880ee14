"""A database on a filesystem mounted read-only: reading works (stats, export, order-flow, the app's read-only
open, the history view), writing fails with one sentence. A real tmpfs, remounted read-only (needs root, as
`make test` and CI have; skipped with the reason otherwise)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import pytest

from core.analysis.series import series_from_snapshot
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from core.storage.store import SnapshotStorage, StorageError
from tests.core.cli.cli_helpers import NOWHERE, assert_one_sentence, depthbook
from tests.core.storage.damage_helpers import T0, book, record

READ_ONLY = "is on a read-only filesystem"


@pytest.fixture
def read_only_db(tmp_path):
    """A recording (120 s of BTCUSDT, plus 5 s still only in the write-ahead log, with their series rows as the
    recorder writes them) on a tmpfs that is then remounted read-only."""
    if os.geteuid() != 0:
        pytest.skip("a read-only filesystem test needs root to mount a tmpfs")
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        path = mount_point / "db"
        record(path, "BTCUSDT", T0, 120)
        with SnapshotStorage.open(path) as storage:  # left in the WAL: a read-only open must replay it
            snaps = [book("BTCUSDT", T0 + 120 + i, i) for i in range(5)]
            rows = [(s.symbol, s.timestamp, series_from_snapshot(s).to_bytes()) for s in snaps]
            storage.put_tick(snaps, [], rows)
        remount = subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only: {remount.stderr.strip()}")
        assert not os.access(mount_point, os.W_OK) or _write_fails(mount_point)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def files(directory: Path) -> dict[str, bytes]:
    """Every file of the database directory and its bytes (rocksdict itself cannot open it here)."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _write_fails(directory: Path) -> bool:
    try:
        (directory / "probe").write_text("x")
    except OSError:
        return True
    return False


@pytest.mark.parametrize("mode", ["read_only", "secondary"])
def test_a_read_only_database_opens_for_reading(read_only_db, mode):
    before = files(read_only_db)
    with SnapshotStorage.open(read_only_db, mode) as storage:
        assert storage.count("BTCUSDT") == 125 and storage.first_last("BTCUSDT") == (T0, T0 + 124)
        assert len(storage.snapshots("BTCUSDT", T0, T0 + 124)) == 125
        assert [s.end_reason for s in storage.sessions()] == ["stopped"]
        assert len(list(storage.series("BTCUSDT", T0, T0 + 200))) == 125
        assert len(storage.gaps("BTCUSDT", T0, T0 + 200)) == 1
        if mode == "secondary":
            storage.catch_up()  # nothing new, and nothing to write
        links = storage._opened.link_dir
        assert links is not None and Path(links).is_dir()
    assert not Path(links).exists()  # the temporary directory of links goes with the handle
    assert files(read_only_db) == before


def test_writing_a_read_only_database_fails_in_one_sentence(read_only_db):
    with pytest.raises(StorageError) as info:
        SnapshotStorage.open(read_only_db, "writer")
    assert str(info.value) == (
        f"The database at {read_only_db} is on a read-only filesystem: it can be read (stats, export, "
        "order-flow, the app's read-only open) but not recorded into."
    )
    with pytest.raises(StorageError, match=READ_ONLY):
        SnapshotStorage.open(read_only_db.parent / "new", "writer")


def test_the_commands_read_a_read_only_database_and_record_refuses_it(read_only_db, tmp_path):
    out = tmp_path / "btc.csv"
    stats = depthbook("stats", "--db", str(read_only_db), "--json", "--check")
    export = depthbook("export", "--db", str(read_only_db), "--symbol", "BTCUSDT", "--start", str(T0),
                       "--end", str(T0 + 124), "--out", str(out))  # fmt: skip
    flow = depthbook("order-flow", "--db", str(read_only_db), "--symbol", "BTCUSDT", "--json")
    for result in (stats, export, flow):
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    assert json.loads(stats.stdout)[0]["count"] == 125 and json.loads(stats.stdout)[0]["damaged"] == 0
    assert "exported 125 snapshots" in export.stderr and len(out.read_text().splitlines()) == 126
    assert json.loads(flow.stdout)["snapshot_count"] == 61

    record_there = depthbook("record", "--symbols", "BTCUSDT", "--db", str(read_only_db), *NOWHERE)
    assert_one_sentence(record_there, 2, READ_ONLY)
    record_new = depthbook("record", "--symbols", "BTCUSDT", "--db", str(read_only_db.parent / "new"), *NOWHERE)
    assert_one_sentence(record_new, 2, READ_ONLY)


def test_the_apps_read_only_open_and_history_view_work(read_only_db, tmp_path):
    """The History tab's queries as the app runs them (gui/app.py: library, open_symbol, view, cursor, each in
    the storage's executor), on the handle the app's read-only offer opens; the rollup cache lives in the user's
    cache directory, never beside the database."""
    from gui.history_browse import HistoryQueries

    queries = HistoryQueries(tmp_path / "rollups")

    async def open_read_only():
        config = RecordingConfig(db_path=read_only_db, ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
        session = RecordingSession(config)
        storage = await session.open_storage(read_only_db, "read_only")  # what the app's offer does
        try:
            assert not session.can_record
            library = await storage.run_blocking(queries.library, storage, [])
            span = await storage.run_blocking(queries.open_symbol, storage, "BTCUSDT", None)
            view = await storage.run_blocking(queries.view, storage, "BTCUSDT", span.first, span.last, 200, 1)
            cursor = await storage.run_blocking(queries.cursor, storage, "BTCUSDT", span.last, 60)
            return library, span, view, cursor
        finally:
            await session.close_storage()

    before = files(read_only_db)
    library, span, view, cursor = asyncio.run(open_read_only())
    assert [(r.symbol, r.first, r.last, r.stored) for r in library] == [("BTCUSDT", T0, T0 + 124, 125)]
    assert (span.first, span.last, span.stored) == (T0, T0 + 124, 125)  # the seconds in the WAL too
    assert (view.start, view.end, view.stored, view.width) == (T0, T0 + 124, 125, 1)
    assert len(view.t) == 125 and (view.heat_sampled >= 0).sum() == 125 and view.damaged == 0
    assert cursor.bids == book("BTCUSDT", T0 + 124, 4).bids
    assert files(read_only_db) == before
