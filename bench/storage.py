"""Storage: put/get, encoding, one recording tick, range reads, order flow, series, bytes on disk.

Data: realistic top-20 BTCUSDT snapshots from the simulator's market (`core.simulator.market`, 10 events per
second between two snapshots), one per second for an hour. A symbol-day is that hour written 24 times with
shifted timestamps and update ids (86,400 snapshots plus their `series` rows), written tick-sized batches at a
time through `SnapshotStorage.put_tick`, then compacted. Everything runs on a fresh database in a temporary
directory (default `StorageOptions`: zstd, WAL on, no fsync); times are wall clock, garbage collector on.
The recording tick uses 20 live 1000-level books (BookSync) fed 10 BTCUSDT-shaped frames per second each.
"""

from __future__ import annotations

import dataclasses
import gc
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from bench._report import Figure, below, heading, info, show
from bench.corpus import BookModel
from core.analysis.history import History
from core.analysis.order_flow import compute_order_flow
from core.analysis.series import series_from_snapshot
from core.feed.config import ManagerConfig
from core.market.book_sync import BookSync, SyncState
from core.market.wire import parse_depth_snapshot, parse_stream_message
from core.recording.recorder import SnapshotRecorder
from core.recording.recorder import _encode_and_write as encode_and_write
from core.simulator.market import market_for
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

NAME = "storage"
SYMBOL = "BTCUSDT"
DAY0 = 1_737_158_400  # 2025-01-18 00:00:00 UTC
HOUR = 3600
MS = 1000.0
US = 1_000_000.0


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def hour_of_snapshots(symbol: str = SYMBOL, seconds: int = HOUR, seed: int = 1) -> list[OrderBookSnapshot]:
    """One snapshot per second of a simulated market moving 10 events a second."""
    market = market_for(symbol, seed=seed, history=16)
    out = []
    for second in range(seconds):
        for i in range(10):
            market.next_event((DAY0 + second) * 1000 + i * 100)
        body = market.snapshot(20)
        out.append(
            OrderBookSnapshot(
                symbol,
                tuple((p, q) for p, q in body["bids"]),
                tuple((p, q) for p, q in body["asks"]),
                body["lastUpdateId"],
                DAY0 + second,
            )
        )
    return out


def _per_call(fn: Callable[[], object], items: int, repeat: int = 5) -> float:
    """Best-of-`repeat` mean seconds per item of fn() (fn processes `items` items)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best / items


class _Books:
    """A stand-in for OrderBookManager as SnapshotRecorder sees it: live 1000-level books fed with
    BTCUSDT-shaped frames through the real parser and BookSync (bench/corpus.py's model; the simulator's
    market is not used here because its per-event history objects would load the garbage collector)."""

    def __init__(self, symbols: list[str]) -> None:
        self.config = ManagerConfig("ws://unused", "http://unused")  # spot, as the recorder asks; never dialled
        self.models: dict[str, BookModel] = {}
        self.syncs: dict[str, BookSync] = {}
        for i, symbol in enumerate(symbols):
            model = BookModel(1000, seed=i, symbol=symbol)
            for _ in range(500):
                model.next_frame()
            body = orjson.loads(model.snapshot())
            sync = BookSync(symbol)
            sync.on_event(parse_stream_message(model.next_frame()), 0.0)
            sync.on_snapshot(parse_depth_snapshot(body, symbol), 0.0)
            if sync.state is not SyncState.LIVE:
                raise RuntimeError(f"{symbol} book did not go live")
            self.models[symbol] = model
            self.syncs[symbol] = sync

    def advance(self, frames: int) -> None:
        for symbol, model in self.models.items():
            on_event = self.syncs[symbol].on_event
            for _ in range(frames):
                on_event(parse_stream_message(model.next_frame()), 0.0)

    def book(self, symbol: str):
        sync = self.syncs.get(symbol)
        return sync.book if sync else None

    def is_live(self, symbol: str) -> bool:
        return self.syncs[symbol].is_live

    def status(self, symbol: str):
        return None


def _tick_bench(root: Path, ticks: int) -> list[float]:
    """Seconds per tick of 20 symbols: capture (top 20 copied on the loop) + series rows, encoding and one
    WriteBatch (in the executor), run back to back here."""
    symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT"] + [f"S{i:02d}USDT" for i in range(17)]
    books = _Books(symbols)
    with SnapshotStorage.open(root / "tick") as storage:
        recorder = SnapshotRecorder(storage, books, symbols)  # type: ignore[arg-type]
        times = []
        for n in range(ticks):
            books.advance(10)
            start = time.perf_counter()
            tick = recorder.capture(DAY0 + n)
            encode_and_write(storage, tick.snapshots, tick.gaps)  # what the executor runs
            times.append(time.perf_counter() - start)
            if len(tick.snapshots) != len(symbols):
                raise RuntimeError(f"tick stored {len(tick.snapshots)} of {len(symbols)} symbols")
    return times


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    figures: list[Figure] = []
    heading("storage: building an hour of realistic BTCUSDT snapshots from the simulator's market")
    t0 = time.perf_counter()
    hour = hour_of_snapshots()
    values = [s.to_bytes() for s in hour]
    rows = [series_from_snapshot(s) for s in hour]
    print(
        f"  {len(hour):,} snapshots in {time.perf_counter() - t0:.1f} s; msgpack "
        f"{statistics.fmean(map(len, values)):.0f} B mean",
        flush=True,
    )

    # ---- encoding
    heading("storage: encoding (mean per call over the hour, best of 5)")
    to_b = _per_call(lambda: [s.to_bytes() for s in hour], len(hour))
    from_b = _per_call(lambda: [OrderBookSnapshot.from_bytes(SYMBOL, v) for v in values], len(hour))
    figures += [
        show(below(NAME, "to_bytes", to_b * US, 20, "µs", contract="< 100 µs")),
        show(below(NAME, "from_bytes", from_b * US, 20, "µs", contract="< 50 µs")),
    ]

    with tempfile.TemporaryDirectory(prefix="depthbook-bench-") as tmp:
        root = Path(tmp)
        storage = SnapshotStorage.open(root / "day")
        try:
            # ---- put: the first hour one snapshot at a time, as the contract's put
            heading("storage: put and get (blocking calls, as they run in the executor)")
            put_times = []
            for snap, value in zip(hour, values, strict=True):
                start = time.perf_counter()
                storage.put(SYMBOL, snap.timestamp, value)
                put_times.append(time.perf_counter() - start)
            figures += [
                show(info(NAME, "put p50", statistics.median(put_times) * MS, "ms")),
                show(below(NAME, "put p99", _pct(put_times, 0.99) * MS, 0.1, "ms", contract="< 10 ms")),
            ]

            # ---- the rest of the day, ten minutes per WriteBatch (not timed)
            days_hours = 6 if quick else 24
            t0 = time.perf_counter()
            storage.put_tick(
                [], (), [(SYMBOL, s.timestamp, r.to_bytes()) for s, r in zip(hour, rows, strict=True)]
            )
            for h in range(1, days_hours):
                shift = h * HOUR
                for chunk in range(0, HOUR, 600):
                    snaps = [
                        OrderBookSnapshot(
                            s.symbol, s.bids, s.asks, s.update_id + shift * 1000, s.timestamp + shift
                        )
                        for s in hour[chunk : chunk + 600]
                    ]
                    series = [
                        (
                            SYMBOL,
                            r.timestamp + shift,
                            dataclasses.replace(r, timestamp=r.timestamp + shift).to_bytes(),
                        )
                        for r in rows[chunk : chunk + 600]
                    ]
                    storage.put_tick(snaps, (), series)
            total = days_hours * HOUR
            if storage.count(SYMBOL) != total:
                raise RuntimeError(f"count {storage.count(SYMBOL)} != {total}")
            db = storage._db  # bench-only: RocksDB's own compaction and size properties
            cpu0 = time.process_time()  # every thread of the process: RocksDB's work is in its own
            db.flush()
            db.compact_range(None, None)
            for view in storage._views.values():
                view.compact_range(None, None)
            compaction_cpu = time.process_time() - cpu0
            print(
                f"  wrote and compacted {total:,} snapshots + series rows in {time.perf_counter() - t0:.1f} s"
            )
            per_snapshot = compaction_cpu / total
            figures.append(
                show(
                    info(
                        NAME,
                        "RocksDB flush + full compaction, CPU per snapshot",
                        per_snapshot * US,
                        "µs",
                        note=f"{compaction_cpu:.2f} s for {total:,}; at 20 symbols "
                        f"{per_snapshot * 20 * 100:.3f} % of a core",
                    )
                )
            )

            # ---- get: random seconds of the day, from the compacted files (block cache warm after a few)
            rng = random.Random(5)
            keys = [DAY0 + rng.randrange(total) for _ in range(3000 if quick else 10_000)]
            get_times = []
            for ts in keys:
                start = time.perf_counter()
                value = storage.get(SYMBOL, ts)
                get_times.append(time.perf_counter() - start)
                if value is None:
                    raise RuntimeError(f"missing {ts}")
            figures += [
                show(info(NAME, "get p50", statistics.median(get_times) * MS, "ms")),
                show(below(NAME, "get p99", _pct(get_times, 0.99) * MS, 0.1, "ms", contract="< 5 ms")),
            ]

            # ---- one hour read and decoded
            heading("storage: range reads and analytics (median of runs over different hours)")
            history = History(storage)
            range_times = []
            for h in range(1, days_hours):
                start_ts = DAY0 + h * HOUR
                start = time.perf_counter()
                snaps = history.snapshots(SYMBOL, start_ts, start_ts + HOUR - 1)
                range_times.append(time.perf_counter() - start)
                if len(snaps) != HOUR:
                    raise RuntimeError(f"range returned {len(snaps)} snapshots")
            figures.append(
                show(
                    below(
                        NAME,
                        "1 h range (3,600 snapshots) read + decoded",
                        statistics.median(range_times) * MS,
                        50,
                        "ms",
                        contract="< 200 ms",
                        note=f"History.snapshots; max {max(range_times) * MS:.0f} ms",
                    )
                )
            )

            # ---- order flow: a 300 s window as `depthbook order-flow --window 300` does it, then a whole hour
            flow_times = []
            for h in range(1, days_hours):
                end = DAY0 + h * HOUR + 1800
                start = time.perf_counter()
                window = history.snapshots(SYMBOL, end - 300, end)
                compute_order_flow(SYMBOL, window, 300, end)
                flow_times.append(time.perf_counter() - start)
            hour_flow_times = []
            for h in range(1, days_hours):
                base = DAY0 + h * HOUR
                start = time.perf_counter()
                snaps = history.snapshots(SYMBOL, base, base + HOUR - 1)
                for w in range(12):  # windows (base+300w, base+300(w+1)], each 301 snapshots with its first
                    compute_order_flow(SYMBOL, snaps[w * 300 : w * 300 + 301], 300, base + 300 * (w + 1))
                hour_flow_times.append(time.perf_counter() - start)
            figures += [
                show(
                    below(
                        NAME,
                        "order flow, one 300 s window (read + decode + compute)",
                        statistics.median(flow_times) * MS,
                        100,
                        "ms",
                        contract="< 500 ms",
                        note="the widest window compute_order_flow accepts",
                    )
                ),
                show(
                    below(
                        NAME,
                        "order flow over 1 h: 3,600 decoded, 12 x 300 s windows",
                        statistics.median(hour_flow_times) * MS,
                        100,
                        "ms",
                        contract="< 500 ms",
                    )
                ),
            ]

            # ---- 24 h mid/spread series from the `series` column family
            series_times = []
            for _ in range(3 if quick else 5):
                start = time.perf_counter()
                arrays = history.series(SYMBOL, DAY0, DAY0 + total - 1)
                series_times.append(time.perf_counter() - start)
                if len(arrays["mid"]) != total:
                    raise RuntimeError(f"series returned {len(arrays['mid'])} rows")
            label = "24 h" if total == 86_400 else f"{days_hours} h (--quick)"
            figures.append(
                show(
                    below(
                        NAME,
                        f"{label} mid/spread series of one symbol",
                        statistics.median(series_times) * MS,
                        300,
                        "ms",
                        note="History.series from the `series` family",
                    )
                )
            )

            # The History tab's 24 h view (HistoryQueries.view at the chart's resolution, then drawn) is timed by
            # `python -m bench history` ("24 h view drawn"), on a month of one symbol with its minute rollups.

            # ---- bytes on disk per snapshot after a compaction
            heading("storage: bytes on disk after a full compaction (zstd)")
            default_sst = db.property_int_value("rocksdb.total-sst-files-size") or 0
            whole = storage.size_on_disk()
            figures += [
                show(
                    below(
                        NAME,
                        "bytes on disk per snapshot (snapshot SST files)",
                        default_sst / total,
                        400,
                        "B",
                        contract="~500 B",
                        note=f"msgpack {statistics.fmean(map(len, values)):.0f} B before compression",
                    )
                ),
                show(
                    info(
                        NAME,
                        "bytes on disk per snapshot (whole directory)",
                        whole / total,
                        "B",
                        note="adds the series rows, counters, WAL, MANIFEST, OPTIONS and logs",
                    )
                ),
            ]
        finally:
            storage.close()

        # ---- one recording tick of 20 symbols
        heading("storage: one tick of 20 symbols = capture (snapshot + series row) + encode + one WriteBatch")
        gc.collect()
        tick_times = _tick_bench(root, 100 if quick else 300)
        figures += [
            show(info(NAME, "one tick, 20 symbols, p50", statistics.median(tick_times) * MS, "ms")),
            show(below(NAME, "one tick, 20 symbols, p99", _pct(tick_times, 0.99) * MS, 2, "ms")),
        ]
    return figures
