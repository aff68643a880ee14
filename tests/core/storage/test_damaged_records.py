"""Damaged records in a real database, written with plain rocksdict: every reader skips, counts and names them
instead of failing the range, and Depthbook's own families are rebuilt from the snapshots."""

from __future__ import annotations

import logging

import msgpack
import numpy as np
import pytest

from core.analysis.history import History
from core.analysis.series import series_from_snapshot
from core.storage import counters
from core.storage.damage import WARN_BURST
from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage
from tests.core.storage.damage_helpers import (
    DAMAGED_SNAPSHOTS,
    T0,
    book,
    damage_snapshots,
    fingerprint,
    key,
    raw,
    record,
    write_raw,
)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "db"
    record(path, "BTCUSDT", T0, 120)
    return path


def test_range_reads_skip_undecodable_snapshots_and_name_each(db):
    bad = damage_snapshots(db, "BTCUSDT", T0 + 30)
    before = fingerprint(db)
    with SnapshotStorage.open(db, "read_only") as storage:
        snaps = storage.snapshots("BTCUSDT", T0, T0 + 119)
        # The fast bulk read checks shapes; the two with bad levels decode and are caught where they are used.
        undecodable = bad[:3] + bad[5:]
        assert [s.timestamp for s in snaps] == [ts for ts in range(T0, T0 + 120) if ts not in undecodable]
        assert storage.damage.seconds("BTCUSDT") == undecodable
        # The full read (export, stats --check) finds every kind.
        assert [s.timestamp for s in storage.iter_snapshots("BTCUSDT", T0, T0 + 119)] == [
            ts for ts in range(T0, T0 + 120) if ts not in bad
        ]
        assert storage.damage.seconds("BTCUSDT") == bad
        assert storage.damage.count("BTCUSDT") == len(DAMAGED_SNAPSHOTS)
        assert storage.count("BTCUSDT") == 120  # the keys are still there: count is stored seconds
    assert fingerprint(db) == before  # reading never rewrites anything


def test_order_flow_and_ladder_read_around_damaged_snapshots(db):  # the heatmap: the History view test below
    bad = damage_snapshots(db, "BTCUSDT", T0 + 100)
    with SnapshotStorage.open(db, "read_only") as storage:
        history = History(storage)
        flow = history.get_order_flow("BTCUSDT", 60)  # the window ends at T0 + 119 and holds every bad one
        assert flow.snapshot_count == 61 - len(bad)
        assert storage.damage.seconds("BTCUSDT") == bad  # the ones with bad levels too, found when used
        assert history.ladder_at("BTCUSDT", bad[0]) is None
        assert history.ladder_at("BTCUSDT", bad[-1], tolerance=10).timestamp == bad[0] - 1
        assert history.ladder_at("BTCUSDT", T0 + 5).timestamp == T0 + 5


def test_the_history_view_loads_a_range_with_damaged_records(db, caplog):
    """The History tab's queries (gui/history_browse.py, as gui/app.py calls them) over damaged snapshots and
    series rows: the range loads without the damaged seconds, a damaged ladder reads as "no snapshot at that
    second", and the summary counts what was skipped."""
    from gui.history_browse import HistoryQueries

    bad = damage_snapshots(db, "BTCUSDT", T0 + 110)
    write_raw(db, "series", {key("BTCUSDT", T0 + 111): b"short", key("BTCUSDT", T0 + 20): b"\x09" * 89})
    queries = HistoryQueries()
    with SnapshotStorage.open(db, "read_only") as storage:
        assert [row.stored for row in queries.library(storage)] == [120]  # the keys: damaged ones too
        span = queries.open_symbol(storage, "BTCUSDT")
        # T0 + 111: its series row and its snapshot are both damaged; T0 + 20's row is recomputed.
        assert (span.first, span.last, span.stored) == (T0, T0 + 119, 120 - 1)
        assert span.holes.tolist() == [[T0 + 111, T0 + 111]]
        data = queries.view(storage, "BTCUSDT", span.first, span.last, 200)
        assert (data.start, data.end, data.width, data.stored) == (T0, T0 + 119, 1, 120 - 1)
        assert np.flatnonzero(np.isnan(data.mid)).tolist() == [111]
        assert data.mid[20] == series_from_snapshot(book("BTCUSDT", T0 + 20, 20)).mid
        shown = data.heat_sampled[data.heat_sampled >= 0].tolist()  # one heatmap column a second
        assert shown == [ts for ts in range(T0, T0 + 120) if ts not in bad]
        assert data.damaged == len(DAMAGED_SNAPSHOTS) == storage.damage.count("BTCUSDT")
        assert storage.damage.seconds("BTCUSDT") == bad
        assert storage.damage.count("BTCUSDT", "series") == 2
        for ts in bad:
            cursor = queries.cursor(storage, "BTCUSDT", ts)
            assert cursor.bids is None and cursor.metrics is None
        assert queries.cursor(storage, "BTCUSDT", T0 + 119).flow.snapshot_count == 61 - len(bad)
        # The second whose snapshot and series row are both damaged is not taken for a change each time.
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="core.analysis.browse"):
            assert queries.open_symbol(storage, "BTCUSDT").stored == 120 - 1
        assert "rebuilding rollups" not in caplog.text


def test_a_damaged_series_row_is_recomputed_from_its_snapshot(db):
    write_raw(db, "series", {
        key("BTCUSDT", T0 + 50): b"short",
        key("BTCUSDT", T0 + 51): b"\x09" + bytes(88),  # an unknown version
        key("BTCUSDT", T0 + 52): series_from_snapshot(book("BTCUSDT", T0 + 7, 7)).to_bytes(),  # another second's
    })  # fmt: skip
    write_raw(db, "default", {key("BTCUSDT", T0 + 53): b"\xc1"})
    write_raw(db, "series", {key("BTCUSDT", T0 + 53): b"\xc1"})  # and its snapshot is damaged too: left out
    with SnapshotStorage.open(db, "read_only") as storage:
        series = History(storage).series("BTCUSDT", T0, T0 + 119)
        assert series["timestamp"].tolist() == [ts for ts in range(T0, T0 + 120) if ts != T0 + 53]
        for ts in (T0 + 50, T0 + 51, T0 + 52):
            expected = series_from_snapshot(book("BTCUSDT", ts, ts - T0))
            i = series["timestamp"].tolist().index(ts)
            assert series["mid"][i] == expected.mid and series["update_id"][i] == expected.update_id
        assert storage.damage.count("BTCUSDT", "series") == 4


def test_a_database_without_series_rows_derives_them_around_damaged_snapshots(tmp_path):
    path = tmp_path / "db"
    with SnapshotStorage.open(path) as storage:  # snapshots only, as the reference service writes
        storage.put_tick([book("BTCUSDT", T0 + i, i) for i in range(20)])
    bad = damage_snapshots(path, "BTCUSDT", T0 + 5)
    with SnapshotStorage.open(path, "read_only") as storage:
        series = History(storage).series("BTCUSDT", T0, T0 + 19)
        assert series["timestamp"].tolist() == [T0 + i for i in range(20) if T0 + i not in bad]


def test_a_damaged_counter_is_recounted_and_a_writer_rewrites_it(db):
    for garbage in (b"\xff\xfe", msgpack.packb([5]), msgpack.packb(["a", "b", "c"]), msgpack.packb([999, T0, T0 + 1])):
        write_raw(db, "meta", {b"counter:BTCUSDT": garbage, b"counter:\xff\xfe": b"\x01"})
        with SnapshotStorage.open(db, "read_only") as reader:
            assert reader.count("BTCUSDT") == 120
            assert reader.damage.count("BTCUSDT", "meta") == 1
        assert fingerprint(db)["meta"][0] == (b"counter:BTCUSDT", garbage)  # a reader leaves it as it is
        with SnapshotStorage.open(db) as writer:
            assert writer.count("BTCUSDT") == 120
        meta = dict(fingerprint(db)["meta"])
        assert counters.unpack(meta[b"counter:BTCUSDT"]) == counters.Counter(120, T0, T0 + 119)
        assert b"counter:\xff\xfe" not in meta  # derived data with nothing to count: removed by the writer


def test_an_undecodable_session_is_skipped_counted_and_kept(db, caplog):
    garbage = {b"0000000001:000": b"garbage", b"0000000002:000": msgpack.packb([1, "not a list", None, None])}
    write_raw(db, "sessions", garbage)
    with SnapshotStorage.open(db, "read_only") as reader:
        assert [(s.start, s.end_reason) for s in reader.sessions()] == [(T0, "stopped")]
        assert reader.damage.count("-", "sessions") == 2
    with caplog.at_level(logging.WARNING), SnapshotStorage.open(db) as writer:  # closes interrupted ones
        writer.start_session(["BTCUSDT"], T0 + 500)
        writer.end_session(T0 + 501, "stopped")
        assert [s.start for s in writer.sessions()] == [T0, T0 + 500]
    assert "family=sessions" in caplog.text and "key=b'0000000001:000'" in caplog.text
    sessions = dict(fingerprint(db)["sessions"])
    assert all(sessions[k] == v for k, v in garbage.items())  # never deleted: it may be someone's data


def test_an_undecodable_gap_reason_reads_back_as_unknown(db):
    write_raw(db, "gaps", {key("BTCUSDT", T0 + 200): b"\xff\xfe", key("BTCUSDT", T0 + 201): b"from_the_future"})
    with SnapshotStorage.open(db, "read_only") as reader:
        reasons = {g.timestamp: g.reason for g in reader.gaps("BTCUSDT", T0, T0 + 300)}
        assert reasons == {T0 + 120: GapReason.STALE, T0 + 200: GapReason.UNKNOWN, T0 + 201: GapReason.UNKNOWN}
        assert reader.damage.count("BTCUSDT", "gaps") == 1  # a newer version's reason is not damage


def test_damage_warnings_are_one_per_key_and_rate_limited(tmp_path, caplog):
    path = tmp_path / "db"
    with SnapshotStorage.open(path) as storage:
        storage.put_tick([book("BTCUSDT", T0 + i, i) for i in range(200)])
    write_raw(path, "default", {key("BTCUSDT", T0 + i): b"\xc1" for i in range(100)})
    with caplog.at_level(logging.WARNING, logger="core.storage"), SnapshotStorage.open(path, "read_only") as reader:
        assert len(reader.snapshots("BTCUSDT", T0, T0 + 199)) == 100
        assert len(reader.snapshots("BTCUSDT", T0, T0 + 199)) == 100  # read twice: each key counted once
        assert reader.damage.count("BTCUSDT") == 100
    lines = [r.getMessage() for r in caplog.records]
    per_key = [line for line in lines if line.startswith("skipped a damaged record")]
    assert len(per_key) == WARN_BURST
    assert "symbol=BTCUSDT timestamp=1737158400 " in per_key[0]
    assert any(line.startswith(f"skipped {100 - WARN_BURST} more damaged records") for line in lines)


def test_a_writer_records_on_after_damage_in_every_family(db):
    damage_snapshots(db, "BTCUSDT", T0 + 10)
    write_raw(db, "meta", {b"counter:BTCUSDT": b"\xc1"})
    write_raw(db, "sessions", {b"0000000001:000": b"\xc1"})
    write_raw(db, "gaps", {key("BTCUSDT", T0 + 300): b"\xc1\xff"})
    write_raw(db, "series", {key("BTCUSDT", T0 + 12): b"\xc1"})
    with SnapshotStorage.open(db) as writer:
        writer.start_session(["BTCUSDT"], T0 + 400)
        writer.put_tick([book("BTCUSDT", T0 + 400, 1)])
        writer.end_session(T0 + 401, "stopped")
        assert writer.count("BTCUSDT") == 121
    db_, views = raw(db, read_only=True)
    try:
        assert views["default"][key("BTCUSDT", T0 + 10)] == DAMAGED_SNAPSHOTS["garbage bytes"](T0 + 10)
    finally:
        for name, view in views.items():
            if name != "default":
                view.close()
        db_.close()

