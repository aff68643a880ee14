"""The recorder's once-a-second work at the whole market, alone: 1,500 recorded books, no network.

Real books (1,000 levels a side), a real database in a temporary directory, the real `SnapshotRecorder.capture`
(on the loop, in the app) and `_encode_and_write` (the executor: snapshots, series rows, minute and heatmap rows,
the WriteBatch). Before each second, a share of the books (`CHANGED`, about the long-tailed market's: its median
symbol has an event a second) gets one event among its top 20; the others are unchanged and reuse their last
capture. The books are recorded in a shuffled order, as `record --all` follows exchangeInfo's (the recorder sorts
them: section 11, "Session 21"). The first minute warms up (first captures, the memtables); the figures are over
the minutes after it, which include their minute closes. No manager: a stand-in serves the books, as the
recorder's tests' do.

Figures: CPU time of this thread per book-second, capture and executor apart, and the minute close (every
symbol's minute and heatmap rows) per minute. At ~2,700 frames/s for 1,500 symbols (section 11), µs per
book-second x 0.56 is the part of the recorder's µs per frame this work takes.
"""

from __future__ import annotations

import random
import tempfile
import time
from types import SimpleNamespace

from bench._report import Figure, heading, info, show
from core.analysis.minute_rows import MinuteRollups
from core.market.markets import SPOT
from core.market.orderbook import OrderBook
from core.recording.recorder import SnapshotRecorder, _encode_and_write
from core.storage.store import SnapshotStorage

NAME = "tick"
BOOKS = 1500
CHANGED = 0.7  # share of the books with an event in a second
FRAMES_PER_BOOK_SECOND = 2700 / 1500  # the whole-market simulator's frames per recorded book and second
START = 1_800_000_000  # a minute's first second


class _Books:
    """Serves the recorder its books, all live (the manager's part is measured elsewhere)."""

    def __init__(self, books: dict[str, OrderBook]) -> None:
        self.books = books
        self.config = SimpleNamespace(market=SPOT)

    def book(self, symbol: str) -> OrderBook | None:
        return self.books.get(symbol)

    def is_live(self, symbol: str) -> bool:
        return True

    def status(self, symbol: str) -> None:
        return None

    def live_book(self, symbol: str) -> tuple[OrderBook, tuple[int, int]] | None:
        book = self.books.get(symbol)
        return None if book is None else (book, (0, 0))  # never rebuilt


def _book(symbol: str, rng: random.Random) -> OrderBook:
    book = OrderBook(symbol)
    bids = [(f"{100 - k * 0.01:.2f}", f"{rng.random() * 5:.4f}") for k in range(1000)]
    asks = [(f"{100.01 + k * 0.01:.2f}", f"{rng.random() * 5:.4f}") for k in range(1000)]
    book.load_snapshot(bids, asks, 1, 1000)
    return book


def change_some(books: dict[str, OrderBook], rng: random.Random, update_id: int) -> int:
    """One event among the top 20 for a share (CHANGED) of the books; returns the next update id."""
    for book in books.values():
        if rng.random() < CHANGED:
            level = rng.randrange(20)
            book.apply([(f"{100 - level * 0.01:.2f}", f"{rng.random() * 5:.4f}")], [], update_id)
            update_id += 1
    return update_id


def write_tick(storage: SnapshotStorage, recorder: SnapshotRecorder, tick) -> None:
    """What the recorder's executor runs for a captured tick."""
    _encode_and_write(
        storage, tick.snapshots, tick.gaps, SPOT, timestamp=tick.timestamp, minutes=recorder.minutes,
        rollup_rows=recorder._rollup_rows, last=recorder._last, horizons=tick.horizons,
    )  # fmt: skip


def _measure(minutes: int) -> tuple[float, float, list[float]]:
    rng = random.Random(1)
    books = {f"S{i:04d}USDT": _book(f"S{i:04d}USDT", rng) for i in range(BOOKS)}
    update_id = 2
    closes: list[float] = []
    capture = write = 0.0
    with tempfile.TemporaryDirectory() as tmp, SnapshotStorage.open(tmp) as storage:
        listed = list(books)
        rng.shuffle(listed)  # recorded in no particular order, as `record --all` follows exchangeInfo's
        recorder = SnapshotRecorder(storage, _Books(books), listed)  # type: ignore[arg-type]
        timed_close = _MinuteCloseTimer(recorder.minutes, closes)
        for second in range((minutes + 1) * 60):
            update_id = change_some(books, rng, update_id)
            timed = second >= 60
            if timed:
                timed_close.on = True
            t0 = time.thread_time()
            tick = recorder.capture(START + second)
            t1 = time.thread_time()
            write_tick(storage, recorder, tick)
            t2 = time.thread_time()
            if timed:
                capture += t1 - t0
                write += t2 - t1
    seconds = minutes * 60 * BOOKS
    return capture / seconds * 1e6, write / seconds * 1e6, closes


class _MinuteCloseTimer:
    """Times `MinuteRollups.finish_before` calls that close minutes (every symbol's rows, once a minute)."""

    def __init__(self, minutes: MinuteRollups, closes: list[float]) -> None:
        self.on = False
        finish = minutes.finish_before

        def timed(minute_start: int):
            t = time.thread_time()
            rows = finish(minute_start)
            if self.on and rows:
                closes.append((time.thread_time() - t) * 1e3)
            return rows

        minutes.finish_before = timed  # type: ignore[method-assign]


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    minutes = 1 if quick else 4
    heading(f"tick: the recorder's per-second work for {BOOKS:,} books, {minutes} timed minute(s) after one of warm-up")
    capture, write, closes = _measure(minutes)
    per_frame = (capture + write) / FRAMES_PER_BOOK_SECOND
    return [
        show(info(NAME, "capture on the loop, per book-second", capture, "µs", note=f"{CHANGED:.0%} of books changed")),
        show(info(NAME, "executor (encode, rows, write), per book-second", write, "µs")),
        show(info(NAME, "minute close (minute + heatmap rows, all books)", max(closes, default=0.0), "ms",
                  note=f"the slowest of {len(closes)}; each: {', '.join(f'{c:.0f}' for c in closes)} ms")),
        show(info(NAME, "the same, per received frame at the whole market", per_frame, "µs",
                  note="~2,700 frames/s for 1,500 books (section 11)")),
    ]


if __name__ == "__main__":
    run()
