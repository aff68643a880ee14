"""Heatmap rollup rows built for a database the app cannot write: built once, kept in a cache file beside the
series rollups', found there by the next process without reading a second, and never used once they no longer
match the database (another database at the same path, older seconds deleted, a damaged or foreign file).
Real RocksDB in tmp_path; "the next process" is this one with its built rows forgotten (`forget`)."""

from __future__ import annotations

import logging
import shutil

from core.analysis.browse import build_rollups
from core.analysis.heat_cache import database_identity, load
from core.analysis.heat_rollups import HOUR, MINUTE, encode_row
from core.analysis.heat_rollups_build import build_heat, built_rows, forget, read_rows, read_table
from core.storage.rollup_rows import row_starts
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import HEAT_CF, SnapshotStorage
from gui.history_browse import SERIES_SHARE, HistoryQueries
from tests.core.analysis.recordings import START, book_at, write_recording

SYMBOL = "BTCUSDT"
SECONDS = (
    3 * HOUR
)  # two whole hours and the last one, which gets no hour row (its last minute may be recording)
MINUTES = SECONDS // MINUTE - 1  # rows a build gives: every minute but the last


def recorded(path, seconds: int = SECONDS, shift: int = 0) -> None:
    """A database recorded before heatmap rows existed (snapshots and series rows); `shift` makes another
    recording of the same seconds (other books)."""
    with SnapshotStorage.open(path) as storage:
        if not shift:
            write_recording(storage, SYMBOL, START, seconds, holes=[(4000, 4100)])
            return
        snaps = [book_at(SYMBOL, ts + shift) for ts in range(START, START + seconds)]
        storage.put_encoded([(SYMBOL, ts, OrderBookSnapshot(SYMBOL, s.bids, s.asks, ts, ts).to_bytes())
                             for ts, s in enumerate(snaps, START) if not 4000 <= ts - START <= 4100])  # fmt: skip


def writer_rows(path, copy) -> dict[int, dict[int, bytes]]:
    """The rows a build on a writer handle stores, on a copy of the database, by width."""
    shutil.copytree(path, copy)
    with SnapshotStorage.open(copy) as writer:
        build_heat(writer, build_rollups(writer, SYMBOL))
        return rows_of(writer)


def rows_of(storage: SnapshotStorage) -> dict[int, dict[int, bytes]]:
    return {
        w: {t: encode_row(r) for t, r in read_rows(storage, SYMBOL, w, 0, 2 * START).items()}
        for w in (MINUTE, HOUR)
    }


def open_built(path, cache) -> tuple[int, dict[int, dict[int, bytes]]]:
    """A read-only open as a new process would: the rows built (0 when none had to be) and all rows read."""
    forget(str(path))
    with SnapshotStorage.open(path, mode="read_only") as reader:
        built = build_heat(reader, build_rollups(reader, SYMBOL), cache=cache)
        return built, rows_of(reader)


def test_a_read_only_database_builds_once_and_the_next_process_finds_the_rows_in_the_cache(tmp_path):
    path, cache = tmp_path / "db", tmp_path / "cache" / "BTCUSDT.heat.npz"
    recorded(path)
    stored = writer_rows(path, tmp_path / "copy")
    assert len(stored[MINUTE]) == MINUTES - 1 and sorted(stored[HOUR]) == [
        START,
        START + HOUR,
    ]  # a minute: a hole
    with SnapshotStorage.open(path, mode="read_only") as reader:
        state = build_rollups(reader, SYMBOL)
        progress: list[float] = []
        assert build_heat(reader, state, progress.append, cache) == MINUTES - 1
        assert progress[-1] == 1.0 and progress == sorted(progress)
        assert build_heat(reader, state, cache=cache) == 0  # once
        assert row_starts(reader, HEAT_CF, SYMBOL, 0, 2 * START).size == 0  # nothing written to the database
        assert rows_of(reader) == stored  # the same bytes as a writer build stores
    assert cache.exists()

    built, rows = open_built(path, cache)
    assert built == 0  # nothing read from the seconds
    kept = built_rows(str(path), SYMBOL)
    assert kept is not None and kept.loaded == len(kept) == MINUTES - 1 + 2  # every row came from the file
    assert rows == stored
    with SnapshotStorage.open(path, mode="read_only") as reader:  # read as one table too (the views' read)
        table = read_table(reader, SYMBOL, MINUTE, START, START + SECONDS)
        assert table.starts.tolist() == sorted(stored[MINUTE])


def test_the_cache_is_extended_as_the_database_grows(tmp_path):
    path, cache = tmp_path / "db", tmp_path / "cache" / "BTCUSDT.heat.npz"
    recorded(path, seconds=2 * HOUR)
    assert open_built(path, cache)[0] == 2 * 60 - 2  # a minute of a hole, and the last one
    with SnapshotStorage.open(path) as writer:  # another hour recorded (by another process, say)
        write_recording(writer, SYMBOL, START + 2 * HOUR, HOUR)
    built, rows = open_built(path, cache)
    assert built == 60  # the minute that was the last, and the new hour's but its last
    assert built_rows(str(path), SYMBOL).loaded == 2 * 60 - 2 + 1  # and the first hour's row
    assert rows == writer_rows(path, tmp_path / "copy")
    assert open_built(path, cache)[0] == 0


def test_the_app_keeps_the_rows_beside_the_series_rollups_and_reports_one_progress(tmp_path):
    path = tmp_path / "db"
    recorded(path)
    seen: list[float] = []
    with SnapshotStorage.open(path, mode="read_only") as reader:
        queries = HistoryQueries(tmp_path / "rollups")
        queries.open_symbol(reader, SYMBOL, seen.append)
        series_file = queries.index(reader).cache_file(SYMBOL)
    assert series_file is not None and series_file.with_name("BTCUSDT.heat.npz").exists()
    # One progress over both phases: the series rollups (a database with series rows: their share is small) up
    # to SERIES_SHARE, then the heatmap build (a chunk, then done) from there to 1; it never goes back.
    assert (
        seen[0] == SERIES_SHARE and SERIES_SHARE < seen[1] < 1.0 and seen[-1] == 1.0 and seen == sorted(seen)
    )
    forget(str(path))
    with SnapshotStorage.open(path, mode="read_only") as reader:
        HistoryQueries(tmp_path / "rollups").open_symbol(reader, SYMBOL)
    kept = built_rows(str(path), SYMBOL)
    assert kept is not None and kept.loaded == len(kept) > 0 and not kept.changed


def test_a_cache_of_another_database_at_the_same_path_is_not_used(tmp_path, caplog):
    path, cache = tmp_path / "db", tmp_path / "cache" / "BTCUSDT.heat.npz"
    recorded(path)
    assert open_built(path, cache)[0] == MINUTES - 1
    shutil.rmtree(path)
    recorded(path, shift=5)  # the same seconds, other books: only the database's identity tells them apart
    stored = writer_rows(path, tmp_path / "copy")
    with caplog.at_level(logging.WARNING, logger="core.analysis.heat_cache"):
        built, rows = open_built(path, cache)
    assert built == MINUTES - 1 and rows == stored
    assert "another database" in caplog.text


def test_rows_over_deleted_seconds_are_not_used(tmp_path):
    path, cache = tmp_path / "db", tmp_path / "cache" / "BTCUSDT.heat.npz"
    recorded(path)
    assert open_built(path, cache)[0] == MINUTES - 1
    cutoff = START + HOUR + 90  # retention: the first hour and a half minute go
    with SnapshotStorage.open(path) as writer:
        writer.delete_before(SYMBOL, cutoff)
    stored = writer_rows(path, tmp_path / "copy")
    built, rows = open_built(path, cache)
    assert built == 1  # the minute the cutoff cut, from its remaining seconds
    assert rows == stored
    assert min(rows[MINUTE]) == cutoff // MINUTE * MINUTE and sorted(rows[HOUR]) == [START + HOUR]


def test_a_damaged_or_foreign_cache_file_is_ignored_and_rebuilt(tmp_path, caplog):
    path, cache = tmp_path / "db", tmp_path / "cache" / "BTCUSDT.heat.npz"
    recorded(path)
    assert open_built(path, cache)[0] == MINUTES - 1
    good = cache.read_bytes()
    for damage in (good[: len(good) // 2], b"not a cache file", b""):
        cache.write_bytes(damage)
        with caplog.at_level(logging.WARNING, logger="core.analysis.heat_cache"):
            assert open_built(path, cache)[0] == MINUTES - 1
        assert "ignored a heatmap rollup cache" in caplog.text
        caplog.clear()
    identity = database_identity(str(path))
    assert load(cache, SYMBOL, identity) is not None  # rebuilt and saved again
    with caplog.at_level(logging.WARNING, logger="core.analysis.heat_cache"):
        assert load(cache, "ETHUSDT", identity) is None  # another symbol's file under this symbol's name
    assert "the rows of 'BTCUSDT', not 'ETHUSDT'" in caplog.text


def test_a_secondary_following_a_recording_builds_the_new_minutes_only(tmp_path):
    path, cache = tmp_path / "db", tmp_path / "cache" / "BTCUSDT.heat.npz"
    with SnapshotStorage.open(path) as writer:  # another process recording, without heatmap rows
        write_recording(writer, SYMBOL, START, 2 * HOUR)
        with SnapshotStorage.open(path, mode="secondary") as follower:
            assert build_heat(follower, build_rollups(follower, SYMBOL), cache=cache) == 2 * 60 - 1
            write_recording(writer, SYMBOL, START + 2 * HOUR, HOUR)
            follower.catch_up()
            assert build_heat(follower, build_rollups(follower, SYMBOL), cache=cache) == 60
            assert row_starts(follower, HEAT_CF, SYMBOL, 0, 2 * START).size == 0
            forget(str(path))
            assert build_heat(follower, build_rollups(follower, SYMBOL), cache=cache) == 0
            assert built_rows(str(path), SYMBOL).loaded == 3 * 60 - 1 + 2
