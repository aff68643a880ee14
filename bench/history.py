"""The history browser on a month of one symbol: library, rollups, first draw, zoom/pan, 24 h, cursor, heatmap.

Data: 30 days of BTCUSDT, one snapshot per second (2,592,000 seconds less the holes and gaps below), plus 20
other symbols of one hour each. Books are generated, not simulated, so a month writes in minutes: the mid is a
random walk in ticks, each side 20 levels one tick apart with sizes from a pool; values are assembled as
MessagePack bytes directly (the contract's layout, checked by decoding a sample) and written with their series
rows in batches of 50,000 through `SnapshotStorage.put_encoded`. Holes: one 6-hour stretch with nothing recorded
(the app closed), a 10-minute disconnect a day (gap records), and ~0.1 % single seconds late (gap records).
The minute rollup rows a recorder writes go in with them (core.analysis.minute_rows, fed the same series rows
tick by tick as the recorder does). The heatmap rollup rows are then built once from the snapshots, as the app
does for a database that lacks them (timed; a `HEAT` file marks them done). The database is kept in the temp
directory between runs (`--quick`: 3 days instead of 30). Also measured: what all the rollups cost a recorder of
20 symbols (`MinuteRollups.add`, CPU time), and the zoom/pan heatmaps from the rows against sampled seconds.

What is timed is what the app runs: `HistoryQueries` in the executor's place (here, called directly) and the
HistoryPanel drawing the answer offscreen (the time axes moved to the step's range, set_view, then a repaint of
the charts). The cursor drag steps 7 s at a time, each query reusing the previous window's order-flow reads as
the app's HistoryQueries does.
"""

from __future__ import annotations

import os
import shutil
import statistics
import struct
import tempfile
import time
from pathlib import Path

import msgpack
import numpy as np

from bench._report import Figure, at_least, below, heading, info, show
from core.analysis.browse import MINUTE, RollupIndex, build_rollups
from core.analysis.library import read_library
from core.analysis.minute_rows import MinuteRollups
from core.analysis.series import SeriesRow, series_from_snapshot
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

NAME = "history"
SYMBOL = "BTCUSDT"
DAY = 86_400
END = 1_737_158_400  # 2025-01-18 00:00:00 UTC: the month ends here
TICK = 0.01
BATCH = 50_000
MS = 1000.0


def _encode_str(s: str) -> bytes:
    return msgpack.packb(s)


class BookMaker:
    """Generated books as contract bytes and series rows, vectorised per batch."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        pool = np.round(self.rng.lognormal(-0.5, 1.2, 512), 5)
        pool[self.rng.random(512) < 0.03] *= 40  # walls
        self.qty = pool
        self.qty_bytes = [_encode_str(f"{q:.8f}") for q in pool]
        self.price_cache: dict[int, bytes] = {}
        self.mid_ticks = 6_765_000  # 67,650.00

    def price(self, ticks: int) -> bytes:
        b = self.price_cache.get(ticks)
        if b is None:
            b = self.price_cache[ticks] = _encode_str(f"{ticks / 100:.8f}")
        return b

    def batch(self, symbol: str, seconds: np.ndarray) -> tuple[list, list, list]:
        n = len(seconds)
        steps = self.rng.integers(-3, 4, n)
        best_bid = self.mid_ticks + np.cumsum(steps)
        self.mid_ticks = int(best_bid[-1])
        qi = self.rng.integers(0, len(self.qty), (n, 40))
        q = self.qty[qi]
        bid_vol, ask_vol = q[:, :20].sum(axis=1), q[:, 20:].sum(axis=1)
        bb, ba = best_bid * TICK, (best_bid + 1) * TICK
        mid = (bb + ba) / 2
        spread = ba - bb
        micro = (bb * q[:, 20] + ba * q[:, 0]) / (q[:, 0] + q[:, 20])
        total = bid_vol + ask_vol
        header20 = b"\xdc\x00\x14"
        rows, series, derived = [], [], []
        qb = self.qty_bytes
        for i in range(n):
            ts = int(seconds[i])
            b0 = int(best_bid[i])
            qs = qi[i]
            bids = b"".join(b"\x92" + self.price(b0 - k) + qb[qs[k]] for k in range(20))
            asks = b"".join(b"\x92" + self.price(b0 + 1 + k) + qb[qs[20 + k]] for k in range(20))
            uid = 10_000_000_000 + ts * 10
            value = (
                b"\x94" + header20 + bids + header20 + asks + b"\xcf" + uid.to_bytes(8, "big") + b"\xce"
                + ts.to_bytes(4, "big")
            )  # fmt: skip
            rows.append((symbol, ts, value))
            row = SeriesRow(ts, float(bb[i]), float(ba[i]), float(mid[i]), float(spread[i]),
                            float(spread[i] / mid[i] * 10_000), float(micro[i]), float(bid_vol[i]),
                            float(ask_vol[i]), float(bid_vol[i] / total[i]), uid)  # fmt: skip
            series.append((symbol, ts, row.to_bytes()))
            derived.append((symbol, row))
        return rows, series, derived


def generate(path: Path, days: int, others: int = 20, seed: int = 1) -> dict[str, float]:
    started = time.perf_counter()
    first = END - days * DAY
    rng = np.random.default_rng(seed + 1)
    seconds = np.arange(first, END, dtype=np.int64)
    gap_reason: dict[int, GapReason] = {}
    for d in range(days):  # a 10-minute disconnect each day at a random time
        at = first + d * DAY + int(rng.integers(0, DAY - 600))
        for s in range(at, at + 600):
            gap_reason[s] = GapReason.DISCONNECTED
    for s in rng.choice(seconds, size=len(seconds) // 1000, replace=False):  # single late seconds
        gap_reason[int(s)] = GapReason.LATE
    hole_start = first + days * DAY // 2  # six hours with nothing recorded (the app was closed)
    keep = ~((seconds >= hole_start) & (seconds < hole_start + 6 * 3600))
    gap_mask = np.isin(seconds, np.fromiter(gap_reason, np.int64))
    stored = seconds[keep & ~gap_mask]
    maker = BookMaker(seed)
    minutes = MinuteRollups()
    with SnapshotStorage.open(path, mode="writer") as storage:
        gaps_sorted = sorted(gap_reason.items())
        gi = 0
        for lo in range(0, len(stored), BATCH):
            chunk = stored[lo : lo + BATCH]
            rows, series, _ = maker.batch(SYMBOL, chunk)
            gaps = []
            while gi < len(gaps_sorted) and gaps_sorted[gi][0] <= chunk[-1]:
                gaps.append(GapRecord(SYMBOL, gaps_sorted[gi][0], gaps_sorted[gi][1]))
                gi += 1
            minute_rows = minutes.add(int(chunk[-1]), series, ((g.symbol, g.timestamp) for g in gaps))
            storage.put_encoded(rows, gaps, series, minute_rows)
        for k in range(others):
            other = BookMaker(seed + 10 + k)
            rows, series, _ = other.batch(f"SYM{k:02d}USDT", np.arange(END - 3600, END, dtype=np.int64))
            storage.put_encoded(rows, (), series, minutes.add(END, series, ()))
        storage.put_encoded([], [], [], minutes.finish_before(END + 60))
        sample = storage.get(SYMBOL, int(stored[1234]))
        snap = OrderBookSnapshot.from_bytes(SYMBOL, sample)  # the contract's layout, fully checked
        assert snap.timestamp == int(stored[1234]) and len(snap.bids) == 20
        row = next(storage.series(SYMBOL, snap.timestamp, snap.timestamp))[1]
        assert abs(struct.unpack("<Bq9dQ", row)[4] - series_from_snapshot(snap).mid) < 1e-9
        storage._db.compact_range(None, None)  # as a month-old database would be
    return {"seconds": time.perf_counter() - started, "snapshots": len(stored), "gaps": len(gap_reason)}


def _db_path(days: int) -> Path:
    return Path(tempfile.gettempdir()) / f"depthbook-bench-history-{days}d-minute-rows"


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    days = 3 if quick else 30
    path = _db_path(days)
    figures: list[Figure] = []
    heading(f"history: a database of {days} days of {SYMBOL} + 20 symbols of an hour")
    if not (path / "CURRENT").exists() or not (path / "READY").exists():
        shutil.rmtree(path, ignore_errors=True)
        made = generate(path, days)
        (path / "READY").write_text("ok")
        figures.append(show(info(NAME, f"generated {made['snapshots']:,} snapshots + {made['gaps']:,} gap records",
                                 made["seconds"], "s")))  # fmt: skip
    else:
        print(f"   (reusing {path})")
    if not (path / "HEAT").exists():  # a database without heatmap rollups: built once, as the app does
        figures.append(show(_build_heat(path)))
        (path / "HEAT").write_text("ok")
    series_only, with_heat = recording_cost()
    figures.append(show(below(NAME, "rollups while recording, 20 symbols: % of one core", with_heat, 0.1, "%",
                              note=f"series minute rows alone {series_only:.3f} %; + heatmap minute/hour rows")))  # fmt: skip
    cache = Path(tempfile.mkdtemp(prefix="depthbook-bench-rollups-"))
    try:
        figures += _measure(path, cache, days)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return figures


def recording_cost(symbols: int = 20, seconds: int = 600) -> tuple[float, float]:
    """CPU share of one core the recorder's rollups take at `symbols` symbols, one snapshot each a second:
    (series minute rows alone, series + heatmap rows). What is timed is `MinuteRollups.add` as the recorder
    calls it each tick (the books are decoded beforehand: the recorder has them)."""
    start = END - seconds
    ticks: list[list] = [[] for _ in range(seconds)]
    for k in range(symbols):
        maker = BookMaker(100 + k)
        rows, series, _ = maker.batch(f"SYM{k:02d}USDT", np.arange(start, END, dtype=np.int64))
        for i, ((symbol, _ts, value), row) in enumerate(zip(rows, series, strict=True)):
            ticks[i].append((symbol, row, OrderBookSnapshot.from_bytes(symbol, value)))
    shares = []
    for with_books in (False, True):
        minutes = MinuteRollups()
        began = time.process_time()
        for i, tick in enumerate(ticks):
            books = [(symbol, snap) for symbol, _, snap in tick] if with_books else ()
            minutes.add(start + i, [row for _, row, _ in tick], (), books)  # rows: (symbol, second, bytes)
        minutes.finish_before(END + 60)
        shares.append((time.process_time() - began) / seconds * 100)
    return shares[0], shares[1]


def _build_heat(path: Path) -> Figure:
    """The heatmap rollups of every minute, from the snapshots (what the app does once for a database that
    lacks them; a recorder writes them as it goes)."""
    from core.analysis.heat_rollups_build import build_heat

    with SnapshotStorage.open(path, mode="writer") as storage:
        state = build_rollups(storage, SYMBOL)
        started = time.perf_counter()
        built = build_heat(storage, state)
        seconds = time.perf_counter() - started
        storage._db.compact_range(None, None)
    return info(NAME, "build heatmap rollups from every second (once)", seconds, "s",
                note=f"{built:,} minute rows + their hour rows, from {state.stored:,} snapshots")  # fmt: skip


def _measure(path: Path, cache: Path, days: int) -> list[Figure]:
    from PySide6.QtWidgets import QApplication

    from gui.history_browse import HistoryQueries
    from gui.theme import colors
    from gui.widgets.history import HistoryPanel

    app = QApplication.instance() or QApplication([])
    figures: list[Figure] = []
    storage = SnapshotStorage.open(path, mode="read_only")
    try:
        started = time.perf_counter()
        library = read_library(storage)
        t_lib = time.perf_counter() - started
        btc = next(e for e in library if e.symbol == SYMBOL)
        figures.append(show(below(NAME, f"open the library ({len(library)} symbols)", t_lib * MS, 500, "ms")))
        figures.append(show(info(NAME, f"{SYMBOL} stored seconds", btc.stored, "s",
                                 note=f"completeness {btc.completeness:.4f}")))  # fmt: skip

        started = time.perf_counter()
        state = build_rollups(storage, SYMBOL, minute_rows=False)
        t_build = time.perf_counter() - started
        figures.append(show(info(NAME, f"build minute rollups from every second ({days} days)", t_build, "s",
                                 note=f"{len(state.minute):,} minutes; a database without minute rows, once")))  # fmt: skip
        started = time.perf_counter()
        from_rows = build_rollups(storage, SYMBOL)
        t_rows = time.perf_counter() - started
        assert from_rows.stored == state.stored and from_rows.holes.tolist() == state.holes.tolist()
        figures.append(show(below(NAME, f"open {days} days from the recorder's minute rows (no cache)", t_rows * MS,
                                  1000, "ms", note=f"{t_build / t_rows:.0f}x faster than from every second")))  # fmt: skip
        RollupIndex(storage.path, cache).ensure(storage, SYMBOL)  # writes the cache file

        panel = HistoryPanel(colors("dark"))
        panel.resize(1400, 860)
        panel.show()
        app.processEvents()
        queries = HistoryQueries(cache)
        columns = 0
        drawn = []
        queried: list[float] = []

        def draw(start: int, end: int) -> float:
            began = time.perf_counter()
            nonlocal columns
            panel.charts.set_x_range(start, end)  # the wheel or drag moves the time axes first, as in the app
            columns = int(panel.charts.heat_plot.vb.width() / 2)  # as the panel asks: a column every 2 px
            data = queries.view(storage, SYMBOL, start, end, columns=columns, request=len(drawn) + 10)
            queried.append(time.perf_counter() - began)
            panel.set_view(data)
            panel.charts.repaint()
            app.processEvents()
            drawn.append(data)
            return time.perf_counter() - began

        # First full draw: a fresh query layer (rollups read back from the cache file), the whole month.
        began = time.perf_counter()
        panel.symbol = SYMBOL
        span = queries.open_symbol(storage, SYMBOL)
        panel.set_span(span)  # this asks for the view by signal: answered below
        app.processEvents()
        t_first = time.perf_counter() - began + draw(span.first, span.last)
        figures.append(show(below(NAME, f"first full draw of all {days} days (cached rollups)", t_first * MS,
                                  1000, "ms", note=f"{len(drawn[-1].t):,} points, width {drawn[-1].width} s")))  # fmt: skip

        rng = np.random.default_rng(5)
        steps = []
        viewed: list[tuple[int, int]] = []
        a, b = float(span.first), float(span.last)
        for _ in range(60):  # zoom in and out by 2x around random points, and pan by a third
            kind = rng.integers(0, 3)
            width = b - a
            if kind == 0 and width > 600:
                c = a + rng.random() * width
                a, b = c - width / 4, c + width / 4
            elif kind == 1:
                c = (a + b) / 2
                a, b = c - width, c + width
            else:
                shift = width / 3 * (1 if rng.random() < 0.5 else -1)
                a, b = a + shift, b + shift
            a, b = max(a, span.first), min(b, span.last)
            if b - a < 60:
                b = a + 60
            steps.append((draw(int(a), int(b)), int(b - a)))
            viewed.append((int(a), int(b)))
        times = sorted(t for t, _ in steps)
        q = sorted(queried[-len(steps) :])
        figures.append(show(info(NAME, "zoom/pan step: query alone, p95", q[int(0.95 * len(q))] * MS, "ms",
                                 note=f"median {statistics.median(q) * MS:.1f} ms; the rest is the redraw")))  # fmt: skip
        figures.append(show(below(NAME, "zoom/pan step redrawn, p95 of 60", times[int(0.95 * len(times))] * MS, 100,
                                  "ms", note=f"median {statistics.median(times) * MS:.1f} ms, max {times[-1] * MS:.1f}")))  # fmt: skip

        figures.append(show(_heat_ab(storage, queries.index(storage).get(SYMBOL), viewed, columns)))

        t24 = [draw(span.last - DAY * k - DAY + 1, span.last - DAY * k) for k in range(1, 4)]
        figures.append(
            show(below(NAME, "24 h view drawn (median of 3 days)", statistics.median(t24) * MS, 300, "ms"))
        )
        t1h = [draw(span.last - 3600 * k - 3599, span.last - 3600 * k) for k in range(1, 6)]
        figures.append(show(info(NAME, "1 h view drawn (median of 5)", statistics.median(t1h) * MS, "ms",
                                 note="per-second series, 1 column a second")))  # fmt: skip

        # Cursor drag: the query at one second, then the ladder and analytics drawn.
        panel.span = span
        cursor_times = []
        base = span.last - 7200
        for i in range(200):
            ts = base + i * 7
            began = time.perf_counter()
            panel.second = ts
            view = queries.cursor(storage, SYMBOL, ts, 60)
            panel.set_cursor(view)
            panel.cursor_pane.ladder.viewport().repaint()
            cursor_times.append(time.perf_counter() - began)
        cursor_times.sort()
        figures.append(show(below(NAME, "cursor drag → ladder redrawn, p95", cursor_times[190] * MS, 16, "ms",
                                  note="query (ladder + L1 + 60 s order flow) + draw")))  # fmt: skip
        ladder_only = []
        for i in range(200):
            began = time.perf_counter()
            value = storage.get(SYMBOL, base + i * 7)
            snap = OrderBookSnapshot.from_bytes(SYMBOL, value, check_levels=False) if value else None
            if snap is not None:
                panel.ladder_model.set_levels(SYMBOL, snap.bids, snap.asks)
            panel.cursor_pane.ladder.viewport().repaint()
            ladder_only.append(time.perf_counter() - began)
        ladder_only.sort()
        figures.append(show(info(NAME, "cursor → ladder alone redrawn, p95", ladder_only[190] * MS, "ms")))

        figures.append(show(_replay(app, panel, queries, storage, span, 10.0 if days < 30 else 60.0)))

        # The heatmap with 10,000 time columns: one ImageItem, set in place and repainted.
        last = drawn[-1]
        cols, bins = 10_000, 240
        ranks = np.random.default_rng(1).uniform(-1, 1, (cols, bins)).astype(np.float32)
        renders = []
        for _ in range(5):
            began = time.perf_counter()
            panel.charts.image.setImage(ranks, autoLevels=False, levels=(-1.0, 1.0))
            panel.charts.repaint()
            app.processEvents()
            renders.append(time.perf_counter() - began)
        figures.append(show(below(NAME, "heatmap of 10,000 columns × 240 bins redrawn", statistics.median(renders) * MS,
                                  50, "ms", note=f"last real view: {last.heat_rank.shape[0]} columns")))  # fmt: skip
        panel.close()
    finally:
        storage.close()
    return figures


def _heat_ab(storage: SnapshotStorage, state, viewed: list[tuple[int, int]], columns: int) -> Figure:
    """The zoom/pan steps' heatmaps again, each from the rollup rows and from sampled seconds, interleaved so
    both see the same load (a fresh column cache for the sampled ones, as a first visit)."""
    from core.analysis.depth_image import ColumnCache, depth_image

    rows, sampled = [], []
    for a, b in viewed:
        began = time.perf_counter()
        depth_image(storage, state, a, b, columns)
        rows.append(time.perf_counter() - began)
        began = time.perf_counter()
        depth_image(storage, state, a, b, columns, cache=ColumnCache(), rollups=False)
        sampled.append(time.perf_counter() - began)
    rows.sort()
    sampled.sort()
    p95 = int(0.95 * len(rows))
    return info(NAME, "zoom/pan heatmap alone: rollup rows, p95", rows[p95] * MS, "ms",
                note=f"median {statistics.median(rows) * MS:.1f}; sampled seconds (before): p95 "
                     f"{sampled[p95] * MS:.1f}, median {statistics.median(sampled) * MS:.1f}")  # fmt: skip


def _replay(app, panel, queries, storage: SnapshotStorage, span, wall: float) -> Figure:
    """Replay at 60x for `wall` seconds from a day before the end, through the panel's own replay timer, each
    cursor (and any page-forward view) answered at once as the app's executor would: keeps pace when the cursor
    advanced 60 recorded seconds per wall second, holes jumped counting as covered."""
    from gui.widgets.history.panel import SPEEDS

    def answer_cursor(symbol: str, ts: int, window: int) -> None:
        panel.set_cursor(queries.cursor(storage, symbol, ts, window))

    def answer_view(symbol: str, start: int, end: int, columns: int, request: int) -> None:
        panel.set_view(queries.view(storage, symbol, start, end, columns, request))

    panel.cursor_requested.connect(answer_cursor)
    panel.view_requested.connect(answer_view)
    try:
        start = span.last - DAY
        panel.charts.set_x_range(start - 60, start + 3600)
        panel.select_second(start)
        app.processEvents()
        panel.speed_box.setCurrentIndex(next(i for i, (label, _) in enumerate(SPEEDS) if label == "60x"))
        began = time.perf_counter()
        panel.toggle_replay()
        while time.perf_counter() - began < wall:
            app.processEvents()
            time.sleep(0.002)
        panel.stop_replay()
        elapsed = time.perf_counter() - began
        pace = (panel.second - start) / elapsed
    finally:
        panel.cursor_requested.disconnect(answer_cursor)
        panel.view_requested.disconnect(answer_view)
    return at_least(NAME, f"replay at 60x for {wall:.0f} s: recorded seconds per wall second", pace, 0.95 * 60, "s/s",
                    note="the ladder, L1 and order flow redrawn at each step; target: 60 (within 5 %)")  # fmt: skip


__all__ = ["MINUTE", "generate", "run"]
