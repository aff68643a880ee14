"""The history browser's queries over a real database: library, rollups built and extended, views at three
zoom levels, the heatmap of a known book, the cursor, and a second handle that catches up with the writer."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.browse import (
    RollupIndex,
    build_rollups,
    cursor_at,
    next_stored,
    read_seconds,
    series_view,
    view_width,
)
from core.analysis.depth_image import ColumnCache, depth_image, nice_bin, rank_image
from core.analysis.library import read_library
from core.analysis.rollups import GAP_REASONS, ROLLUP_FIELDS, rollup_seconds
from core.analysis.series import series_from_snapshot
from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage
from tests.core.analysis.recordings import START, book_at, write_recording

SPAN = 3 * 3600  # three hours of BTCUSDT
HOLE = (1000, 1099)  # 100 s with no record at all (nothing was recording)
GAP = (5000, 5029)  # 30 s the recorder could not store


@pytest.fixture
def db(tmp_path):
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as storage:
        storage.stored_seconds = write_recording(
            storage, "BTCUSDT", START, SPAN, holes=[HOLE], gaps={GAP: GapReason.DISCONNECTED}
        )
        write_recording(storage, "ETHUSDT", START + 100, 50)
        yield storage


def test_the_library_lists_every_stored_symbol_with_its_span_and_completeness(db):
    entries = {e.symbol: e for e in read_library(db)}
    assert list(entries) == ["BTCUSDT", "ETHUSDT"]
    btc = entries["BTCUSDT"]
    assert (btc.first, btc.last) == (START, START + SPAN - 1)
    assert btc.stored == SPAN - 130 and btc.gap_records == 30
    assert btc.completeness == pytest.approx((SPAN - 130) / (SPAN - 100))  # the hole does not count
    assert entries["ETHUSDT"].completeness == 1.0
    assert btc.bytes_estimate > 0 and btc.bytes_estimate > entries["ETHUSDT"].bytes_estimate


def test_the_library_of_a_read_only_handle(db, tmp_path):
    db.close()
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as ro:
        assert [e.symbol for e in read_library(ro)] == ["BTCUSDT", "ETHUSDT"]


def test_rollups_count_the_stored_seconds_holes_and_gaps(db):
    state = build_rollups(db, "BTCUSDT")
    assert (state.first, state.last, state.stored, state.gap_records) == (
        START,
        START + SPAN - 1,
        SPAN - 130,
        30,
    )
    assert state.holes.tolist() == [[START + 1000, START + 1099], [START + 5000, START + 5029]]
    assert state.gap_runs.tolist() == [
        [START + 5000, START + 5029, GAP_REASONS.index(GapReason.DISCONNECTED)]
    ]
    assert state.minute["count"].sum() == state.stored and state.minute["gaps"].sum() == 30
    assert state.stored_in(START + 990, START + 1109) == 20 and state.gaps_in(START, START + SPAN) == 30
    assert next_stored(state, START + 1000) == START + 1100 and next_stored(state, START + SPAN) is None


def test_the_minute_rollups_equal_the_stored_seconds(db):
    state = build_rollups(db, "BTCUSDT")
    rows = read_seconds(db, "BTCUSDT", START, START + SPAN)
    direct = rollup_seconds(rows, 60, START, START + SPAN - 1)
    for name in ROLLUP_FIELDS:
        if name != "gaps":
            np.testing.assert_array_equal(state.minute[name], direct[name])
    snaps = [book_at("BTCUSDT", ts) for ts in db.stored_seconds[:60]]
    assert state.minute["mid_min"][0] == min(series_from_snapshot(s).mid for s in snaps)
    assert state.minute["mid_last"][0] == series_from_snapshot(snaps[-1]).mid


def test_rollups_extended_as_the_recording_grows_equal_a_fresh_build(db, tmp_path):
    index = RollupIndex(db.path, cache_dir=tmp_path / "cache")
    before = index.ensure(db, "BTCUSDT")
    write_recording(db, "BTCUSDT", START + SPAN + 200, 3700, gaps={(10, 14): GapReason.STALE})
    after = index.ensure(db, "BTCUSDT")
    fresh = build_rollups(db, "BTCUSDT")
    assert after.stored == fresh.stored == SPAN - 130 + 3695 and before is after
    assert after.holes.tolist() == fresh.holes.tolist() and after.gap_runs.tolist() == fresh.gap_runs.tolist()
    for name in ROLLUP_FIELDS:
        np.testing.assert_array_equal(after.minute[name], fresh.minute[name])
    # The cache file written on the way is read back by a new index of the same database.
    assert index.cache_file("BTCUSDT").exists()
    again = RollupIndex(db.path, cache_dir=tmp_path / "cache")
    reloaded = again.ensure(db, "BTCUSDT")
    assert reloaded.stored == fresh.stored and reloaded.holes.tolist() == fresh.holes.tolist()


@pytest.mark.parametrize(
    ("start", "end", "width"),
    [(START + 900, START + 1299, 1), (START, START + SPAN - 1, 5), (START - 86_400, START + 6 * 86_400, 300)],
)
def test_a_view_at_three_zoom_levels_matches_the_stored_seconds(db, start, end, width):
    state = build_rollups(db, "BTCUSDT")
    view = series_view(db, state, start, end)
    r = view.rollup
    assert r.width == width and len(r) <= 4000
    stored = np.array(db.stored_seconds)
    mids = {ts: series_from_snapshot(book_at("BTCUSDT", ts)).mid for ts in db.stored_seconds}
    for i, bucket in enumerate(r.t):
        inside = stored[(stored >= bucket) & (stored < bucket + width)]
        assert r["count"][i] == len(inside)
        if len(inside):  # the line goes through the bucket's last stored mid
            assert r["mid_last"][i] == mids[int(inside[-1])]
        else:  # nothing stored: NaN, so the line breaks there
            assert np.isnan(r["mid_last"][i])
    assert view.stored == len(stored[(stored >= start) & (stored <= end)])
    assert view.gap_records == (30 if start <= START + 5000 <= end else 0)


def test_view_width_keeps_a_view_to_a_few_thousand_points():
    assert view_width(900) == 1 and view_width(4000) == 1 and view_width(4001) == 2
    assert view_width(86_400) == 60 and view_width(7 * 86_400) == 300 and view_width(30 * 86_400) == 900
    for span in (60, 3600, 86_400, 30 * 86_400, 365 * 86_400):
        assert span / view_width(span) <= 4000


def test_the_heatmap_of_a_known_book(db):
    state = build_rollups(db, "BTCUSDT")
    image = depth_image(db, state, START, START + 9, columns=10)
    assert image.step == 1 and image.tick == 0.01 and image.bin_size == 0.01
    assert image.sampled.tolist() == list(range(START, START + 10))
    for col, ts in enumerate(range(START, START + 10)):
        book = book_at("BTCUSDT", ts)
        for side, levels in ((image.bid, book.bids), (image.ask, book.asks)):
            expected = np.zeros(image.bid.shape[1])
            for price, qty in levels:
                expected[round((float(price) - image.edges[0]) / image.bin_size)] += float(qty)
            np.testing.assert_allclose(side[col], expected)
    ranks = rank_image(image)
    assert ranks.min() == -1.0 and ranks.max() == 1.0  # the largest bid and ask are the 100th percentile
    assert (ranks[image.bid > 0] < 0).all() and (ranks[image.ask > 0] > 0).all()


def test_a_long_heatmap_samples_one_stored_second_per_column(db):
    state = build_rollups(db, "BTCUSDT")
    cache = ColumnCache()
    image = depth_image(db, state, START, START + SPAN - 1, columns=1000, max_bins=50, cache=cache)
    assert image.step == 15 and len(image.t) == SPAN // 15 and (image.t % 15 == 0).all()
    assert image.bid.shape[1] <= 51 and image.bin_size == nice_bin(0.01, image.bin_size)
    stored = np.array(db.stored_seconds)
    for t, s in zip(image.t, image.sampled, strict=True):
        inside = stored[(stored >= t) & (stored < t + 15)]
        assert s == (inside[-1] if len(inside) else -1)  # the latest stored second of the column, or none
    assert (image.sampled == -1).sum() == 6 + 1  # the columns wholly inside the hole and the gap
    # Panned by a third: the columns already parsed come from the cache, and the image is the same there.
    moved = depth_image(db, state, START + 3600, START + SPAN + 3599, columns=1000, max_bins=50, cache=cache)
    np.testing.assert_array_equal(moved.sampled[: len(image.t) - 240], image.sampled[240:])
    fresh = depth_image(db, state, START + 3600, START + SPAN + 3599, columns=1000, max_bins=50)
    np.testing.assert_array_equal(moved.bid, fresh.bid)


def test_a_coarse_heatmap_column_is_the_mean_of_its_stored_seconds(db):
    """Columns of 10 s over a stretch with a hole in it: each column is the mean of the one-second columns of its
    stored seconds (the hole's seconds are not zeros in the mean), on the same price bins."""
    state = build_rollups(db, "BTCUSDT")
    start, end = START + 960, START + 1159  # 200 s, the hole START+1000..1099 inside
    fine = depth_image(db, state, start, end, columns=200, price_range=(99.0, 101.5))
    coarse = depth_image(db, state, start, end, columns=20, price_range=(99.0, 101.5))
    assert (fine.step, coarse.step, coarse.sub_step) == (1, 10, 1)
    np.testing.assert_array_equal(coarse.edges, fine.edges)
    stored = set(db.stored_seconds)
    for col, t in enumerate(coarse.t.tolist()):
        seconds = [i for i, ts in enumerate(fine.t.tolist()) if t <= ts < t + 10 and ts in stored]
        assert coarse.averaged[col] == len(seconds)
        for fine_side, side in ((fine.bid, coarse.bid), (fine.ask, coarse.ask)):
            expected = fine_side[seconds].mean(axis=0) if seconds else np.zeros(side.shape[1])
            np.testing.assert_allclose(side[col], expected)
    assert (coarse.averaged == 0).sum() == 10  # the columns wholly inside the hole
    assert coarse.bid[coarse.averaged == 0].sum() == 0


def test_a_wide_column_averages_evenly_spread_seconds_within_the_read_budget(db):
    state = build_rollups(db, "BTCUSDT")
    image = depth_image(db, state, START, START + 2399, columns=40, samples=160, price_range=(99.0, 101.5))
    assert (image.step, image.sub_step) == (60, 15)  # 4 sub-spans of 15 s a column: 160 reads for 40 columns
    one = depth_image(db, state, START, START + 2399, columns=160, samples=160, price_range=(99.0, 101.5))
    assert one.step == 15 and one.sub_step == 15  # the sub-spans themselves, one read each
    for col in range(len(image.t)):
        parts = one.bid[4 * col : 4 * col + 4][one.averaged[4 * col : 4 * col + 4] > 0]
        expected = parts.mean(axis=0) if len(parts) else np.zeros(image.bid.shape[1])
        np.testing.assert_allclose(image.bid[col], expected)


def test_the_cursor_shows_the_recorded_ladder_metrics_and_order_flow(db):
    at = cursor_at(db, "BTCUSDT", START + 200, flow_window=30)
    assert at.snapshot == book_at("BTCUSDT", START + 200)
    assert at.metrics.best_bid == at.snapshot.bids[0][0] and at.flow.snapshot_count == 31
    gap = cursor_at(db, "BTCUSDT", START + 5010)
    assert gap.snapshot is None and gap.metrics is None and gap.gap_reason is GapReason.DISCONNECTED
    early = cursor_at(db, "BTCUSDT", START, flow_window=60)
    assert early.flow is None and "need at least 2 snapshots" in early.flow_problem


def test_a_secondary_handle_sees_new_seconds_after_catch_up(db, tmp_path):
    follower = SnapshotStorage.open(tmp_path / "db", mode="secondary")
    try:
        index = RollupIndex(follower.path)
        assert index.ensure(follower, "BTCUSDT").last == START + SPAN - 1
        write_recording(db, "BTCUSDT", START + SPAN, 120)
        follower.catch_up()
        state = index.ensure(follower, "BTCUSDT")
        assert state.last == START + SPAN + 119 and state.stored == SPAN - 130 + 120
    finally:
        follower.close()


@pytest.mark.parametrize("damage", ["truncated", "not a zip"])
def test_a_damaged_rollup_cache_file_is_ignored_and_rebuilt(db, tmp_path, damage):
    RollupIndex(db.path, cache_dir=tmp_path / "cache").ensure(db, "BTCUSDT")
    path = RollupIndex(db.path, cache_dir=tmp_path / "cache").cache_file("BTCUSDT")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"garbage" * 100)
    rebuilt = RollupIndex(db.path, cache_dir=tmp_path / "cache").ensure(db, "BTCUSDT")
    assert rebuilt.stored == build_rollups(db, "BTCUSDT").stored
