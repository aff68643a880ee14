"""The per-minute day rollups: what the archiver writes beside each hour agrees with the per-second series of
the database, and a reader fills any hour a day file lacks from the hour file itself."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.analysis.series import series_from_snapshot
from core.archive.reader import ArchiveReader
from core.archive.rollup import covered_hours, rollup_path
from tests.core.archive.recorded import DAY, at
from tests.core.archive.test_archive import archive


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
