"""The recording process's collector settings: a tick's objects come and go between two young collections."""

from __future__ import annotations

import gc
import random

from core.analysis.minute_rows import MinuteRollups
from core.market.orderbook import OrderBook
from core.recording.collector import YOUNG_THRESHOLD, settle_collector, young_threshold
from core.recording.recorder import _encode_and_write
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

T0 = 1_800_000_000


def books(n: int) -> list[OrderBook]:
    rng = random.Random(5)
    out = []
    for i in range(n):
        book = OrderBook(f"S{i}USDT")
        book.load_snapshot([(f"{100 - k / 100:.2f}", f"{rng.random() * 10:.8f}") for k in range(60)],
                           [(f"{100.01 + k / 100:.2f}", f"{rng.random() * 10:.8f}") for k in range(60)], 1, 1000)  # fmt: skip
        out.append(book)
    return out


def test_a_ticks_tracked_objects_stay_under_the_young_threshold_for_its_books(tmp_path):
    n = 500  # young_threshold(500) is above the fixed floor: the per-book share decides
    assert young_threshold(n) > YOUNG_THRESHOLD and young_threshold(10) == YOUNG_THRESHOLD
    ladder = books(n)
    with SnapshotStorage(tmp_path / "db") as storage:
        minutes, pending = MinuteRollups(), []
        was_enabled = gc.isenabled()
        gc.collect()
        gc.disable()  # count the allocations, without a collection resetting the count
        try:
            peaks = []
            for ts in range(T0, T0 + 3):  # the first tick also opens each symbol's minute
                before = gc.get_count()[0]
                snaps = [OrderBookSnapshot.from_orderbook(book, ts) for book in ladder]
                _encode_and_write(storage, snaps, [], timestamp=ts, minutes=minutes, rollup_rows=pending)
                peaks.append(gc.get_count()[0] - before)  # all of the tick's objects are still alive here
                del snaps
        finally:
            if was_enabled:
                gc.enable()
    assert min(peaks) > n  # the tick does allocate per book: the count measures something
    assert max(peaks) < young_threshold(n) * 0.75  # with room for the frames that arrive meanwhile


def test_settling_freezes_what_start_up_built_and_sets_the_threshold_for_the_books():
    saved = gc.get_threshold()
    try:
        settle_collector(2000)
        assert gc.get_threshold()[0] == young_threshold(2000) > YOUNG_THRESHOLD
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*saved)
