"""Minute rollups written while recording: the rows the recorder writes equal what the seconds give, only whole
minutes get one, and the history browser built from them equals the one built from every second."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.browse import build_rollups
from core.analysis.minute_rows import MinuteRollups, decode_minutes
from core.analysis.rollups import ROLLUP_FIELDS, rollup_seconds
from core.analysis.series import series_from_snapshot, series_to_arrays
from core.feed.manager import ManagerConfig, OrderBookManager
from core.recording.recorder import SnapshotRecorder, _encode_and_write
from core.storage.gaps import GapReason, GapRecord
from core.storage.store import SnapshotStorage
from tests.core.analysis.recordings import START, book_at

SYMBOL = "BTCUSDT"


def record(storage: SnapshotStorage, seconds: range, gaps: dict[int, GapReason], skip: set[int] = frozenset()):
    """Tick by tick as the recorder writes: a snapshot, or a gap record, each second; `skip`: seconds with no
    tick at all (recording was off)."""
    minutes = MinuteRollups()
    pending: list = []
    for ts in seconds:
        if ts in skip:
            continue
        snaps = [] if ts in gaps else [book_at(SYMBOL, ts)]
        records = [GapRecord(SYMBOL, ts, gaps[ts])] if ts in gaps else []
        _encode_and_write(storage, snaps, records, timestamp=ts, minutes=minutes, rollup_rows=pending)
    storage.put_encoded([], [], [], minutes.finish_before(seconds[-1] + 61))  # what the recorder does at stop


def assert_same_rollup(a, b):
    for name in ROLLUP_FIELDS:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_whole_minute_gives_the_row_its_seconds_give_and_a_partial_one_none():
    minutes = MinuteRollups()
    rows = [series_from_snapshot(book_at(SYMBOL, START + i)) for i in range(60)]
    assert minutes.add(START + 59, [(SYMBOL, r.timestamp, r.to_bytes()) for r in rows[:59]], [(SYMBOL, START + 59)]) == []
    again = minutes.add(START + 59, [(SYMBOL, rows[10].timestamp, rows[10].to_bytes())], [])  # a tick written again after a failed write
    [(symbol, start, value)] = minutes.add(START + 60, [], [])  # the next minute's first tick closes it
    assert again == [] and (symbol, start) == (SYMBOL, START)
    decoded = decode_minutes([(start, value)])
    assert decoded.stored.tolist() == list(range(START, START + 59))
    expected = rollup_seconds(series_to_arrays(rows[:59]), 60, START, START + 59, np.array([START + 59]))
    for name in ROLLUP_FIELDS:
        np.testing.assert_array_equal(decoded.arrays[name], expected[name], err_msg=name)
    # Switched on at second 20: the minute was not watched whole, so it gets no row.
    late = MinuteRollups()
    late.add(START + 80, [(SYMBOL, ts, series_from_snapshot(book_at(SYMBOL, ts)).to_bytes()) for ts in range(START + 80, START + 120)], [])
    assert late.finish_before(START + 180) == []
    assert decode_minutes([(START, b"\x01short")]).minutes.size == 0  # a damaged row is left out


def test_every_symbols_minute_closing_at_once_gets_the_row_its_own_seconds_give():
    # The rows of all symbols are rolled up in one pass (MinuteRollups._rows); each must be its minute's alone:
    # different gaps, a one-sided book (NaN values), a minute all gaps, and one not watched whole (no row).
    minutes = MinuteRollups()
    gapped = {"AUSDT": set(), "BUSDT": {START + 3, START + 59}, "CUSDT": set(range(START, START + 60)),
              "DUSDT": {START}, "EUSDT": set()}  # fmt: skip
    series: dict[str, list] = {symbol: [] for symbol in gapped}
    for ts in range(START, START + 60):
        tick = []
        for k, symbol in enumerate(gapped):
            if ts in gapped[symbol] or (symbol == "EUSDT" and ts == START + 7):  # EUSDT misses a tick
                continue
            snap = book_at(symbol, ts + 11 * k)
            if symbol == "DUSDT" and ts % 2:
                snap.asks = ()  # one-sided every other second
            snap.timestamp = ts
            row = series_from_snapshot(snap)
            series[symbol].append(row)
            tick.append((symbol, ts, row.to_bytes()))
        gaps = [(symbol, ts) for symbol in gapped if ts in gapped[symbol]]
        assert minutes.add(ts, tick, gaps) == []
    done = {row[0]: row[2] for row in minutes.add(START + 60, [], []) if len(row) == 3}  # the minute rows
    assert sorted(done) == ["AUSDT", "BUSDT", "CUSDT", "DUSDT"]  # EUSDT's minute was not watched whole
    for symbol, value in done.items():
        own = np.array(sorted(gapped[symbol]), dtype=np.int64)
        expected = rollup_seconds(series_to_arrays(series[symbol]), 60, START, START + 59, own)
        decoded = decode_minutes([(START, value)])
        assert decoded.stored.tolist() == [r.timestamp for r in series[symbol]]
        for name in ROLLUP_FIELDS:
            np.testing.assert_array_equal(decoded.arrays[name], expected[name], err_msg=f"{symbol} {name}")


def test_a_backlog_over_a_minute_boundary_keeps_both_minutes_whole():
    """After failed writes the recorder hands over several ticks at once, snapshots apart from gaps."""
    minutes = MinuteRollups()
    rows = [(SYMBOL, ts, series_from_snapshot(book_at(SYMBOL, ts)).to_bytes()) for ts in range(START, START + 120) if ts % 60 != 30]
    gaps = [(SYMBOL, START + 30), (SYMBOL, START + 90)]
    done = minutes.add(START + 119, rows, gaps) + minutes.finish_before(START + 120)
    assert [start for _, start, _ in done] == [START, START + 60]
    assert decode_minutes([(s, v) for _, s, v in done]).arrays["gaps"].tolist() == [1, 1]


def test_rollups_built_from_the_recorders_minute_rows_equal_those_built_from_every_second(tmp_path):
    seconds = range(START + 30, START + 30 + 600)  # starts and ends mid-minute
    gaps = {ts: GapReason.DISCONNECTED for ts in range(START + 200, START + 215)}
    off = set(range(START + 400, START + 470))  # recording off for 70 s: minutes with a hole get no row
    with SnapshotStorage.open(tmp_path / "db") as storage:
        record(storage, seconds, gaps, off)
        written = decode_minutes(storage.rollups(SYMBOL, 0, START + 10_000))
        whole = [m for m in range(START, START + 700, 60)
                 if all(ts in seconds and ts not in off for ts in range(m, m + 60))]  # fmt: skip
        assert written.minutes.tolist() == whole and len(whole) == 7
        # A damaged series row inside a whole minute: a build from the minute rows never reads it.
        storage.put_encoded([], [], [(SYMBOL, whole[0] + 5, b"damaged")])
        from_rows = build_rollups(storage, SYMBOL)
        assert storage.damage.count(SYMBOL, "series") == 0
        from_seconds = build_rollups(storage, SYMBOL, minute_rows=False)
        assert storage.damage.count(SYMBOL, "series") == 1  # read, found damaged, recomputed from its snapshot
    assert_same_rollup(from_rows.minute, from_seconds.minute)
    np.testing.assert_array_equal(from_rows.holes, from_seconds.holes)
    np.testing.assert_array_equal(from_rows.gap_runs, from_seconds.gap_runs)
    assert (from_rows.first, from_rows.last, from_rows.stored, from_rows.gap_records) == (
        from_seconds.first, from_seconds.last, from_seconds.stored, from_seconds.gap_records,
    )  # fmt: skip
    assert from_rows.stored == 600 - 15 - 70
    assert from_rows.holes.tolist() == [[START + 200, START + 214], [START + 400, START + 469]]  # gaps, then off


def test_retention_deletes_the_rows_with_the_seconds(tmp_path):
    with SnapshotStorage.open(tmp_path / "db") as storage:
        record(storage, range(START, START + 300), {})
        storage.delete_before(SYMBOL, START + 90)  # mid-minute: the minute it cuts loses its row
        assert decode_minutes(storage.rollups(SYMBOL, 0, START + 10_000)).minutes.tolist() == [
            START + 120, START + 180, START + 240,
        ]  # fmt: skip
        state = build_rollups(storage, SYMBOL)
        assert (state.first, state.stored) == (START + 90, 210)


@pytest.mark.asyncio
async def test_the_recorder_writes_the_row_of_each_minute_it_watched_whole(tmp_path):
    """Through SnapshotRecorder.tick with a manager that was never started: every second is a gap record, and the
    minute watched whole gets its row (60 gap records, nothing stored) with the tick after it."""
    t0 = 1_795_000_020  # a minute's first second
    manager = OrderBookManager(ManagerConfig(ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9"))
    with SnapshotStorage.open(tmp_path / "db") as storage:
        recorder = SnapshotRecorder(storage, manager, ["BTCUSDT"])
        for ts in range(t0 + 30, t0 + 121):  # half a minute, a whole one, and the next minute's first second
            await recorder.tick(ts)
        rows = decode_minutes(storage.rollups("BTCUSDT", 0, t0 + 1000))
    assert rows.minutes.tolist() == [t0 + 60]
    assert (rows.arrays["gaps"].tolist(), rows.arrays["count"].tolist(), rows.stored.size) == ([60], [0], 0)
