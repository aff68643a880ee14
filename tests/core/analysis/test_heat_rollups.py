"""Heatmap rollups: the image drawn from the minute and hour rows equals the exact time average of the stored
seconds (holes and gap records included), the rows the recorder writes equal the rows a build makes later from
the snapshots, and retention deletes them with the seconds. Real RocksDB in tmp_path."""

from __future__ import annotations

import numpy as np

from core.analysis.browse import build_rollups
from core.analysis.depth_image import depth_image, rollup_image
from core.analysis.heat_rollups import (
    HOUR,
    MINUTE,
    HeatRow,
    HourSums,
    decode_row,
    encode_row,
    hour_row,
    minute_row,
)
from core.analysis.heat_rollups_build import build_heat, fill_minutes, read_rows
from core.analysis.minute_rows import MinuteRollups
from core.analysis.series import series_from_snapshot
from core.recording.recorder import _encode_and_write
from core.storage.gaps import GapReason, GapRecord
from core.storage.rollup_rows import row_starts
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import HEAT_CF, HEAT_HOURS_CF, SnapshotStorage
from tests.core.analysis.recordings import START, book_at

SYMBOL = "BTCUSDT"


def record(
    storage: SnapshotStorage, first: int, last: int, gaps: set[int] = frozenset(), heat: bool = True
) -> None:
    """Tick by tick through the recorder's own write (`_encode_and_write`): a snapshot or a gap record a second."""
    minutes = MinuteRollups() if heat else None
    pending: list = []
    for ts in range(first, last + 1):
        snaps = [] if ts in gaps else [book_at(SYMBOL, ts)]
        records = [GapRecord(SYMBOL, ts, GapReason.DISCONNECTED)] if ts in gaps else []
        _encode_and_write(storage, snaps, records, timestamp=ts, minutes=minutes, rollup_rows=pending)
    if minutes is not None:
        storage.put_encoded([], [], [], minutes.finish_before(last + 61))


def record_fast(storage: SnapshotStorage, first: int, last: int, gaps: range = range(0)) -> None:
    """Whole hours the way the recorder writes them, a minute per batch (fast enough for hours of seconds)."""
    minutes = MinuteRollups()
    for lo in range(first, last + 1, MINUTE):
        seconds = range(lo, min(lo + MINUTE, last + 1))
        snaps = [book_at(SYMBOL, ts) for ts in seconds if ts not in gaps]
        records = [GapRecord(SYMBOL, ts, GapReason.DISCONNECTED) for ts in seconds if ts in gaps]
        rows = [(SYMBOL, s.timestamp, s.to_bytes()) for s in snaps]
        series = [(SYMBOL, s.timestamp, series_from_snapshot(s).to_bytes()) for s in snaps]
        done = minutes.add(
            lo + MINUTE - 1, series, [(SYMBOL, g.timestamp) for g in records], [(SYMBOL, s) for s in snaps]
        )
        storage.put_encoded(rows, records, series, done)
    storage.put_encoded([], [], [], minutes.finish_before(last + 61))


def exact_mean_image(storage, state, start, end, columns):
    """The heatmap from the seconds, every stored second of each column averaged (no sampling)."""
    return depth_image(storage, state, start, end, columns, samples=10**9, rollups=False)


def assert_same_image(a, b):
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_allclose(a.edges, b.edges)
    np.testing.assert_allclose(a.bid, b.bid, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(a.ask, b.ask, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(a.averaged, b.averaged)


def test_the_rollup_heatmap_is_the_exact_mean_of_the_seconds_with_a_gap_and_a_hole(tmp_path):
    first, last = START, START + 5 * MINUTE - 1
    gap = set(range(START + 70, START + 100))  # half a minute of gap records inside minute 1
    with SnapshotStorage.open(tmp_path / "db") as storage:
        record(storage, first, START + 3 * MINUTE - 1, gaps=gap)
        # a hole: nothing recorded for a minute and a half, then recording again from mid-minute 4
        record(storage, START + 4 * MINUTE + 30, last)
        state = build_rollups(storage, SYMBOL)
        minutes = row_starts(storage, HEAT_CF, SYMBOL, first, last).tolist()
        # minutes 0-2 were watched whole (gap records count), minute 4 was not: it has no row
        assert minutes == [START, START + 60, START + 120]
        row = decode_row(
            START + 60, dict(storage._views[HEAT_CF].items())[f"{SYMBOL}:{START + 60}".encode()], 60
        )
        assert row is not None and row.seconds == 30  # the gap's seconds are not in the mean
        for columns in (5, 3, 2):  # a minute a column, two minutes, three minutes
            image = rollup_image(storage, state, first, last, columns)
            assert image is not None and image.step >= MINUTE
            assert_same_image(image, exact_mean_image(storage, state, first, last, columns))
        assert depth_image(storage, state, first, last, 5).averaged.tolist() == [60, 30, 60, 0, 30]


def test_rows_written_while_recording_equal_rows_built_afterwards(tmp_path):
    with (
        SnapshotStorage.open(tmp_path / "recorded") as recorded,
        SnapshotStorage.open(tmp_path / "plain") as plain,
    ):
        record(recorded, START, START + 3 * MINUTE - 1, gaps={START + 5, START + 6})
        record(plain, START, START + 3 * MINUTE - 1, gaps={START + 5, START + 6}, heat=False)
        assert row_starts(plain, HEAT_CF, SYMBOL, 0, 2 * START).size == 0
        state = build_rollups(plain, SYMBOL)
        assert build_heat(plain, state) == 2  # minutes 0 and 1; the last one may still be recording
        assert build_heat(plain, state) == 0  # once
        written = read_rows(recorded, SYMBOL, MINUTE, START, START + 119)
        built = read_rows(plain, SYMBOL, MINUTE, START, START + 119)
        assert sorted(written) == sorted(built) == [START, START + 60]
        assert all(encode_row(written[m]) == encode_row(built[m]) for m in written)
        from_seconds = fill_minutes(recorded, SYMBOL, [START, START + 60])
        assert all(encode_row(from_seconds[m]) == encode_row(written[m]) for m in written)


def test_hour_rows_give_the_exact_mean_and_a_read_only_build_stays_in_memory(tmp_path):
    path = tmp_path / "db"
    first, last = START, START + 2 * HOUR - 1
    with SnapshotStorage.open(path) as storage:
        record_fast(storage, first, last, gaps=range(START + 4000, START + 4300))
        state = build_rollups(storage, SYMBOL)
        hours = read_rows(storage, SYMBOL, HOUR, first, last)
        assert sorted(hours) == [START, START + HOUR]
        minutes = read_rows(storage, SYMBOL, MINUTE, first, last)
        assert encode_row(hours[START]) == encode_row(
            hour_row(START, [minutes[START + 60 * i] for i in range(60)])
        )
        assert hours[START + HOUR].seconds == HOUR - 300
        image = rollup_image(storage, state, first, last, 2)  # a column an hour: the hour rows
        assert image is not None and image.step == HOUR
        assert_same_image(image, exact_mean_image(storage, state, first, last, 2))
        # Six columns would be 20 minutes wide: the view takes hour-wide ones from the hour rows instead.
        assert_same_image(depth_image(storage, state, first, last, 6), image)
    with SnapshotStorage.open(tmp_path / "plain") as plain:
        for lo in range(first, last + 1, 5000):
            snaps = [book_at(SYMBOL, ts) for ts in range(lo, min(lo + 5000, last + 1))]
            plain.put_encoded([(SYMBOL, s.timestamp, s.to_bytes()) for s in snaps])
    with SnapshotStorage.open(tmp_path / "plain", mode="read_only") as reader:
        state = build_rollups(reader, SYMBOL)
        seen: list[float] = []
        assert build_heat(reader, state, seen.append) == 119  # all but the last minute (it may be recording)
        assert seen[-1] == 1.0 and seen == sorted(seen)
        assert row_starts(reader, HEAT_CF, SYMBOL, 0, 2 * START).size == 0  # nothing written to the database
        assert sorted(read_rows(reader, SYMBOL, HOUR, first, last)) == [START]  # the second hour is not over
        image = rollup_image(reader, state, first, last, 2)
        assert image is not None
        assert_same_image(image, exact_mean_image(reader, state, first, last, 2))


def test_a_row_round_trips_and_a_wide_minute_is_coarsened_keeping_every_quantity():
    books = [(book_at(SYMBOL, START + i).bids, book_at(SYMBOL, START + i).asks) for i in range(60)]
    row = minute_row(START, books)
    assert row.exponent == -2 and row.seconds == 60
    back = decode_row(START, encode_row(row), MINUTE)
    assert back is not None and encode_row(back) == encode_row(row)
    np.testing.assert_array_equal(back.ask_bins, row.ask_bins)
    assert decode_row(START, encode_row(row)[:-1], MINUTE) is None  # a damaged row is not read
    assert decode_row(START + 60, encode_row(row), MINUTE) is None  # nor one under another minute's key
    total = sum(float(q) for bids, _ in books for _, q in bids)
    assert abs(row.bid_sums.sum() - total) < 1e-9
    # A minute whose bids span 3,000 ticks: stored at 0.1 (10 ticks a bin), no quantity lost or moved.
    wide = [((("100.00", "1.5"), ("70.00", "2.0"), ("70.09", "0.25")), (("100.01", "3.0"),))]
    coarse = minute_row(START, wide)
    assert coarse.exponent == -1
    assert coarse.bid_bins.tolist() == [700, 1000] and coarse.bid_sums.tolist() == [2.25, 1.5]
    assert coarse.ask_bins.tolist() == [1000] and coarse.ask_sums.tolist() == [3.0]


def test_a_view_bin_finer_than_a_rows_unit_is_drawn_from_the_seconds(tmp_path):
    def wide_book(ts: int) -> OrderBookSnapshot:  # a far bid 3,000 ticks down: the row is stored at 0.1
        book = book_at(SYMBOL, ts)
        return OrderBookSnapshot(SYMBOL, (*book.bids[:19], ("70.00", "4.00000000")), book.asks, ts * 10, ts)

    minutes = MinuteRollups()
    with SnapshotStorage.open(tmp_path / "db") as storage:
        for ts in range(START, START + 3 * MINUTE):
            _encode_and_write(storage, [wide_book(ts)], [], timestamp=ts, minutes=minutes, rollup_rows=[])
        storage.put_encoded([], [], [], minutes.finish_before(START + 4 * MINUTE))
        state = build_rollups(storage, SYMBOL)
        assert {row.exponent for row in read_rows(storage, SYMBOL, MINUTE, START, START + 179).values()} == {
            -1
        }
        narrow = (99.9, 100.6)  # 70 ticks over 240 bins: a bin of one tick, finer than the rows' 10
        assert rollup_image(storage, state, START, START + 179, 3, price_range=narrow) is None
        image = depth_image(storage, state, START, START + 179, 3, price_range=narrow, samples=10**9)
        assert image.bin_size == 0.01 and image.bid.sum() > 0
        exact = depth_image(
            storage, state, START, START + 179, 3, price_range=narrow, samples=10**9, rollups=False
        )
        assert_same_image(image, exact)
        wide = rollup_image(
            storage, state, START, START + 179, 3
        )  # the whole range: bins of 0.2, from the rows
        assert wide is not None and wide.bin_size >= 0.1
        assert_same_image(wide, exact_mean_image(storage, state, START, START + 179, 3))


def test_retention_deletes_heat_rows_with_their_seconds(tmp_path):
    with SnapshotStorage.open(tmp_path / "db") as storage:
        record_fast(storage, START, START + HOUR + 10 * MINUTE - 1)
        assert row_starts(storage, HEAT_HOURS_CF, SYMBOL, 0, 2 * START).tolist() == [START]
        storage.delete_before(SYMBOL, START + HOUR + 90)
        assert row_starts(storage, HEAT_HOURS_CF, SYMBOL, 0, 2 * START).size == 0
        left = row_starts(storage, HEAT_CF, SYMBOL, 0, 2 * START)
        assert left.tolist() == list(range(START + HOUR + 120, START + HOUR + 10 * MINUTE, 60))


def test_a_build_leaves_damaged_values_and_levels_out_and_counts_them(tmp_path):
    """The build decodes the stored values raw (fast); a minute with a value or a level that is not plainly a
    snapshot's is decoded again with the checks, the damaged second left out and counted."""
    bad_value, bad_level = START + 7, START + 65
    with SnapshotStorage.open(tmp_path / "db") as storage:
        snaps = [book_at(SYMBOL, ts) for ts in range(START, START + 3 * MINUTE)]
        storage.put_encoded([(SYMBOL, s.timestamp, s.to_bytes()) for s in snaps])
        storage.put(SYMBOL, bad_value, b"\x94\xc1 not msgpack")
        broken = snaps[65]
        storage.put(SYMBOL, bad_level, OrderBookSnapshot(SYMBOL, (("1.0x", "2"), *broken.bids[1:]), broken.asks,
                                                         broken.update_id, bad_level).to_bytes())  # fmt: skip
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as reader:
        state = build_rollups(
            reader, SYMBOL
        )  # (it counts the damage too: the build counts it on its own handle)
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as reader:
        assert build_heat(reader, state) == 2
        rows = read_rows(reader, SYMBOL, MINUTE, START, START + 119)
        assert reader.damage.count(SYMBOL) == 2
    for start in (START, START + 60):
        good = [
            (s.bids, s.asks)
            for s in snaps[start - START : start - START + 60]
            if s.timestamp not in (bad_value, bad_level)
        ]
        assert rows[start].seconds == 59 and encode_row(rows[start]) == encode_row(minute_row(start, good))


def test_an_hour_row_is_the_sum_of_its_minutes_at_the_coarsest_unit_of_any_of_them():
    # The recorder adds each minute to its hour as it comes (HourSums) rather than keeping the hour's minute rows;
    # a minute of a fast market may have a coarser unit (MAX_ROW_BINS) than those before it.
    rng = np.random.default_rng(7)
    minutes = []
    for i in range(60):
        exponent = -1 if i == 37 else -2  # one fast minute, ten times coarser
        bids = np.unique(rng.integers(9_000, 9_400, 40)) // (10 if exponent == -1 else 1)
        asks = np.unique(rng.integers(9_400, 9_800, 40)) // (10 if exponent == -1 else 1)
        minutes.append(HeatRow(START + 60 * i, MINUTE, 60, exponent, bids, rng.random(len(bids)) * 60,
                               asks, rng.random(len(asks)) * 60))  # fmt: skip
    minutes.insert(20, HeatRow(START + 1200, MINUTE, 0, 0, *(np.empty(0, np.int64), np.empty(0)) * 2))  # all gaps
    row = hour_row(START, minutes)
    assert row.exponent == -1 and row.seconds == 60 * 60 and row.width == HOUR
    for side in ("bid", "ask"):
        coarse = np.concatenate([getattr(m, f"{side}_bins") // 10 ** (-1 - m.exponent) for m in minutes])
        sums = np.concatenate([getattr(m, f"{side}_sums") for m in minutes])
        bins = np.unique(coarse)
        assert np.array_equal(getattr(row, f"{side}_bins"), bins)
        assert np.allclose(getattr(row, f"{side}_sums"), [sums[coarse == b].sum() for b in bins], rtol=1e-12)
    hour = HourSums(START)  # the same, minute by minute
    for minute in minutes:
        hour.add(minute)
    assert hour.minutes == 61 and encode_row(hour.row()) == encode_row(row)


def test_a_second_written_again_adds_nothing_to_its_minutes_heat_row(tmp_path):
    # A tick written again after a failed write comes back with its snapshots: the minute's sums, kept second by
    # second, must not count it twice.
    with (
        SnapshotStorage.open(tmp_path / "again") as again,
        SnapshotStorage.open(tmp_path / "plain") as plain,
    ):
        minutes = MinuteRollups()
        pending: list = []
        for ts in range(START, START + MINUTE + 1):
            snaps = [book_at(SYMBOL, ts)]
            _encode_and_write(again, snaps, [], timestamp=ts, minutes=minutes, rollup_rows=pending)
            if ts == START + 7:
                _encode_and_write(again, snaps, [], timestamp=ts, minutes=minutes, rollup_rows=pending)
        record(plain, START, START + MINUTE, heat=False)
        state = build_rollups(plain, SYMBOL)
        assert build_heat(plain, state) == 1
        written = read_rows(again, SYMBOL, MINUTE, START, START + 59)
        built = read_rows(plain, SYMBOL, MINUTE, START, START + 59)
        assert list(written) == [START] and written[START].seconds == MINUTE
        assert encode_row(written[START]) == encode_row(built[START])
