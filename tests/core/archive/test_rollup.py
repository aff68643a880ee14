"""The per-minute day rollups: what the archiver writes beside each hour agrees with the per-second series of
the database, and a reader fills any hour a day file lacks from the hour file itself."""

from __future__ import annotations

import dataclasses

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from core.analysis.browse import RollupIndex, build_rollups
from core.analysis.minute_rows import MinuteRollups
from core.analysis.series import series_from_snapshot
from core.archive.reader import ArchiveReader
from core.archive.rollup import ROW_COLUMNS, covered_hours, day_summary, merge_day, rollup_path, rows_hours
from core.archive.source import ArchiveSource
from core.storage.store import SnapshotStorage
from tests.core.archive.archived import archive
from tests.core.archive.fs_handlers import DelegatingHandler
from tests.core.archive.recorded import DAY, at


def expected_minutes(snaps, gaps, start: int, end: int) -> dict[int, dict]:
    """Per minute, from the database's snapshots through core.analysis.series (one Python object a second)."""
    out: dict[int, dict] = {}
    for snap in snaps:
        if start <= snap.timestamp <= end:
            row = series_from_snapshot(snap)
            m = out.setdefault(snap.timestamp - snap.timestamp % 60, {"rows": [], "gaps": 0})
            m["rows"].append(row)
    for gap in gaps:
        if start <= gap.timestamp <= end:
            out.setdefault(gap.timestamp - gap.timestamp % 60, {"rows": [], "gaps": 0})["gaps"] += 1
    return out


def test_day_rollups_agree_with_the_database_and_lag_is_filled_from_hour_files(recorded_db, tmp_path):
    db, written = recorded_db
    _, location, _ = archive(db, str(tmp_path / "archive"))
    reader = ArchiveReader(location)
    snaps, gaps = written["BTCUSDT"]
    start, end = at(10, 20), at(13, 10)
    for attempt in ("day files", "a day file that lags"):
        minutes = reader.minutes("BTCUSDT", start, end).to_pylist()
        want = expected_minutes(snaps, gaps, start, end)
        assert [int(m["minute"].timestamp()) for m in minutes] == sorted(want), attempt
        for m in minutes:
            w = want[int(m["minute"].timestamp())]
            rows = w["rows"]
            assert (m["snapshots"], m["gaps"]) == (len(rows), w["gaps"])
            if rows:
                close = lambda a, b: bool(np.isclose(a, b, rtol=1e-12))  # noqa: E731  (float sums' order)
                assert close(m["mid_first"], rows[0].mid) and close(m["mid_last"], rows[-1].mid)
                assert close(m["mid_min"], min(r.mid for r in rows)) and close(m["mid_max"], max(r.mid for r in rows))
                assert close(m["best_bid_last"], rows[-1].best_bid) and close(m["best_ask_last"], rows[-1].best_ask)
                for name in ("spread_bps", "bid_volume", "ask_volume", "imbalance"):
                    assert np.isclose(m[name], np.mean([getattr(r, name) for r in rows]), rtol=1e-12), name
        if attempt == "a day file that lags":
            break
        # Now take hour 11 out of the day file's coverage (as if the archiver died before updating it).
        path = location.full(rollup_path("spot", "BTCUSDT", DAY))
        table = pq.read_table(path, filesystem=location.fs)
        assert covered_hours(table) == [at(10), at(11), at(12), at(13)]
        ts = pc.cast(pc.cast(table.column("minute"), pa.timestamp("s", tz="UTC")), pa.int64())
        lagging = table.filter(pc.or_(pc.less(ts, at(11)), pc.greater_equal(ts, at(12))))
        kv = {**table.schema.metadata, b"depthbook.rollup_hours": f"{at(10)},{at(12)},{at(13)}".encode()}
        pq.write_table(lagging.replace_schema_metadata(kv), path, filesystem=location.fs)
        reader = ArchiveReader(location)


class CountingHandler(DelegatingHandler):
    """The local filesystem, noting every file opened for reading: which objects a reader fetched."""

    def __init__(self) -> None:
        super().__init__(pafs.LocalFileSystem())
        self.opened: list[str] = []

    def get_type_name(self):
        return "counting-local"

    def open_input_file(self, path):
        self.opened.append(path)
        return self.fs.open_input_file(path)

    def open_input_stream(self, path):
        self.opened.append(path)
        return self.fs.open_input_stream(path)


def recorder_rows(snaps, gaps) -> dict[int, bytes]:
    """The minute rows the recorder writes to the database for these seconds (core.analysis.minute_rows)."""
    rollups = MinuteRollups()
    rows = rollups.add(max(s.timestamp for s in snaps), [(s.symbol, s.timestamp, series_from_snapshot(s).to_bytes()) for s in snaps],
                       [(g.symbol, g.timestamp) for g in gaps])  # fmt: skip
    rows += rollups.finish_before(10**12)
    return {minute: row for _, minute, row in rows}


def test_minute_rows_of_the_archive_are_the_recorders_and_a_build_reads_day_files_only(recorded_db, tmp_path):
    db, written = recorded_db
    _, location, _ = archive(db, str(tmp_path / "archive"))
    for symbol in ("BTCUSDT", "ETHUSDT"):
        snaps, gaps = written[symbol]
        want = recorder_rows(snaps, gaps)
        with ArchiveSource(ArchiveReader(location)) as source:
            got = dict(source.rollups(symbol, 0, 2 * DAY))
        assert want and all(got[minute] == row for minute, row in want.items()), symbol
        # Minutes the recorder did not watch whole (the first and last) get a row too: the hour never changes.
        assert set(got) == {t - t % 60 for t in [s.timestamp for s in snaps] + [g.timestamp for g in gaps]}

    def build(source_location):
        handler = CountingHandler()
        counted = dataclasses.replace(source_location, fs=pafs.PyFileSystem(handler))
        with ArchiveSource(ArchiveReader(counted)) as source:
            state = RollupIndex(str(tmp_path)).ensure(source, "BTCUSDT")
        return state, [location.relative(p) for p in handler.opened]

    with SnapshotStorage.open(db, mode="read_only") as storage:
        on_db = build_rollups(storage, "BTCUSDT")
    on_archive, opened = build(location)
    hours = [f"market=spot/symbol=BTCUSDT/date=2025-06-02/hour={h:02d}.parquet" for h in (10, 11, 12, 13)]
    # The day file, and the footers of the first and last hour (the symbol's first and last second).
    assert set(opened) == {rollup_path("spot", "BTCUSDT", DAY), hours[0], hours[-1]}
    assert_same_rollups(on_archive, on_db)

    # A day file without rows for hour 11 (version 1, or an archiver that died before updating it): that hour's
    # seconds and gaps come from its hour file, and the rollups are the same.
    path = location.full(rollup_path("spot", "BTCUSDT", DAY))
    table = pq.read_table(path, filesystem=location.fs)
    kv = {**table.schema.metadata, b"depthbook.row_hours": f"{at(10)},{at(12)},{at(13)}".encode()}
    pq.write_table(table.replace_schema_metadata(kv), path, filesystem=location.fs)
    on_archive, opened = build(location)
    assert hours[1] in opened and hours[2] not in opened
    assert_same_rollups(on_archive, on_db)


def assert_same_rollups(got, want) -> None:
    assert (got.first, got.last, got.stored, got.gap_records) == (want.first, want.last, want.stored, want.gap_records)
    np.testing.assert_array_equal(got.holes, want.holes)
    np.testing.assert_array_equal(got.gap_runs, want.gap_runs)
    for name, values in want.minute.arrays.items():
        np.testing.assert_array_equal(got.minute.arrays[name], values, err_msg=name)


def test_an_hour_merged_into_a_version_1_day_file_gets_rows_and_the_old_hours_keep_none(recorded_db, tmp_path):
    db, _ = recorded_db
    _, location, _ = archive(db, str(tmp_path / "archive"))
    table = pq.read_table(location.full(rollup_path("spot", "BTCUSDT", DAY)), filesystem=location.fs)
    assert rows_hours(table) == [at(10), at(11), at(12), at(13)]
    ts = pc.cast(pc.cast(table.column("minute"), pa.timestamp("s", tz="UTC")), pa.int64())
    hour_12 = table.filter(pc.and_(pc.greater_equal(ts, at(12)), pc.less(ts, at(13))))
    old = table.drop_columns(list(ROW_COLUMNS)).replace_schema_metadata(
        {"depthbook.format": "depthbook-archive-rollup", "depthbook.format_version": "1",
         "depthbook.rollup_hours": f"{at(10)},{at(11)},{at(12)},{at(13)}"}
    )  # fmt: skip
    assert rows_hours(old) == []
    merged = merge_day(old, at(12), hour_12.replace_schema_metadata(None))
    assert covered_hours(merged) == [at(10), at(11), at(12), at(13)] and rows_hours(merged) == [at(12)]
    summary = day_summary(merged)
    with_row = {m for m, row in zip(summary.minutes, summary.rows, strict=True) if row is not None}
    assert with_row == {m for m in summary.minutes if at(12) <= m < at(13)} and with_row
