"""Recording at 20 symbols: CPU of the persistence part and completeness, against the simulator.

The simulator runs in a child process (bench/_simproc.py). This process runs the real `OrderBookManager` with 20
symbols and, once every book is live, the real `SnapshotRecorder.run` on a fresh database for 60 s (`--quick`
20 s, `--long` 600 s, the issue's 10-minute run).

CPU of persistence, as a share of one core over the wall time of the recording:
- capture: `SnapshotRecorder.capture` wrapped, CPU time of the event-loop thread inside it (top-20 snapshots and
  series rows, taken on the loop);
- write: `SnapshotStorage.put_tick` wrapped, CPU time of the executor thread inside it (msgpack encoding, the
  WriteBatch, RocksDB's write path);
- RocksDB background: CPU of the threads that appeared when the database opened (flushes, compactions), read
  with psutil.
The manager's own CPU (frames, books) is not persistence and is printed apart for scale.

Completeness: snapshots in the database / (symbols x seconds from the first tick to the last), from the storage's
exact counters; gap records are listed by reason.

Then, apart: the cost of the minute rollups written while recording (core.analysis.minute_rows), issue 10's
target <= 0.1 % of a core at 20 symbols: `MinuteRollups.add` fed an hour of 20 symbols' series rows tick by tick
(CPU time of this thread), and the bytes the rows add per symbol-day.
"""

from __future__ import annotations

import asyncio
import copy
import os
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import psutil

from bench._report import Figure, at_least, below, heading, info, show
from bench._simproc import SimProcess
from core.feed.manager import ManagerConfig, OrderBookManager
from core.recording import recorder as persistence_module
from core.recording.recorder import SnapshotRecorder
from core.storage.store import SnapshotStorage

NAME = "recorder"
MAX_TS = 9_999_999_999
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"] + [f"S{i:02d}USDT" for i in range(17)]


def _thread_cpu(proc: psutil.Process) -> dict[int, float]:
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


async def _main(duration: float) -> list[Figure]:
    heading(
        f"recorder: {len(SYMBOLS)} symbols from the simulator (child process), {duration:.0f} s of recording"
    )
    proc = psutil.Process()
    async with SimProcess(SYMBOLS) as sim:
        manager = OrderBookManager(
            ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=len(SYMBOLS))
        )
        await manager.start()
        try:
            await manager.subscribe_many(SYMBOLS)
            t0 = time.monotonic()
            while not all(manager.is_live(s) for s in SYMBOLS):
                if time.monotonic() - t0 > 60:
                    raise RuntimeError("the books did not all go live within 60 s")
                await asyncio.sleep(0.1)
            print(
                f"  all {len(SYMBOLS)} books live after {time.monotonic() - t0:.1f} s; recording", flush=True
            )
            with tempfile.TemporaryDirectory(prefix="depthbook-bench-rec-") as tmp:
                before_open = set(_thread_cpu(proc))
                storage = SnapshotStorage.open(Path(tmp) / "db")
                try:
                    result = await _record(manager, storage, duration, proc, before_open)
                finally:
                    storage.close()
        finally:
            await manager.stop()
    return result


async def _record(
    manager: OrderBookManager,
    storage: SnapshotStorage,
    duration: float,
    proc: psutil.Process,
    before_open: set[int],
) -> list[Figure]:
    recorder = SnapshotRecorder(storage, manager, SYMBOLS)
    capture_cpu = [0.0]
    capture_wall: list[float] = []
    write_cpu = [0.0]
    write_wall: list[float] = []
    writer_threads: set[int] = set()
    lock = threading.Lock()
    capture, encode_and_write = recorder.capture, persistence_module._encode_and_write

    def timed_capture(timestamp: int):
        c0, w0 = time.thread_time(), time.perf_counter()
        tick = capture(timestamp)
        capture_cpu[0] += time.thread_time() - c0
        capture_wall.append(time.perf_counter() - w0)
        return tick

    def timed_encode_and_write(*args, **kwargs):
        c0, w0 = time.thread_time(), time.perf_counter()
        try:
            return encode_and_write(*args, **kwargs)
        finally:
            with lock:
                write_cpu[0] += time.thread_time() - c0
                write_wall.append(time.perf_counter() - w0)
                writer_threads.add(threading.get_native_id())

    recorder.capture = timed_capture  # type: ignore[method-assign]
    # The executor side of a tick: series rows, encoding and the batch write.
    persistence_module._encode_and_write = timed_encode_and_write

    main_tid = threading.get_native_id()
    shutdown = asyncio.Event()
    threads0 = _thread_cpu(proc)
    cpu0, wall0 = time.process_time(), time.monotonic()
    task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
    await asyncio.sleep(duration)
    shutdown.set()
    await task
    persistence_module._encode_and_write = encode_and_write
    wall = time.monotonic() - wall0
    process_cpu = time.process_time() - cpu0
    threads1 = _thread_cpu(proc)

    # RocksDB's own threads: those that appeared when the database opened, minus the executor's.
    rocks_cpu = sum(
        threads1[t] - threads0.get(t, 0.0)
        for t in threads1
        if t not in before_open and t not in writer_threads and t != main_tid
    )
    executor_cpu = sum(threads1[t] - threads0.get(t, 0.0) for t in writer_threads if t in threads1)
    loop_cpu = threads1.get(main_tid, 0.0) - threads0.get(main_tid, 0.0)

    persistence = capture_cpu[0] + write_cpu[0] + rocks_cpu
    pct = 100.0 / wall

    # Completeness from the database itself.
    sessions = storage.sessions()
    edges = [e for e in (storage.first_last(s) for s in SYMBOLS) if e]
    gap_records = [g for s in SYMBOLS for g in storage.gaps(s, 0, MAX_TS)]
    if not edges:
        raise RuntimeError("nothing was recorded")
    first = min([e[0] for e in edges] + [g.timestamp for g in gap_records])
    last = max([e[1] for e in edges] + [g.timestamp for g in gap_records])
    gaps = Counter(g.reason for g in gap_records)
    span = last - first + 1
    stored = sum(storage.count(s) for s in SYMBOLS)
    expected = span * len(SYMBOLS)
    completeness = 100.0 * stored / expected
    gap_text = ", ".join(f"{r} {n}" for r, n in gaps.most_common()) or "none"

    figs = [
        show(
            below(
                NAME,
                "persistence CPU at 20 symbols",
                persistence * pct,
                0.5,
                "% of a core",
                contract="< 1 %",
                note=f"capture {capture_cpu[0] * pct:.3f} + write {write_cpu[0] * pct:.3f} "
                f"+ RocksDB background {rocks_cpu * pct:.3f}",
            )
        ),
        show(
            info(
                NAME,
                "executor threads' CPU (psutil, cross-check of write)",
                executor_cpu * pct,
                "% of a core",
            )
        ),
        show(
            info(
                NAME,
                "capture on the event loop, p50 / max per tick",
                statistics.median(capture_wall) * 1000,
                "ms",
                note=f"max {max(capture_wall) * 1000:.2f} ms (the loop is blocked meanwhile)",
            )
        ),
        show(
            info(
                NAME,
                "put_tick in the executor, p50 / max per tick",
                statistics.median(write_wall) * 1000,
                "ms",
                note=f"max {max(write_wall) * 1000:.2f} ms",
            )
        ),
        show(
            info(
                NAME,
                "whole process CPU (manager + persistence)",
                process_cpu * pct,
                "% of a core",
                note=f"event-loop thread {loop_cpu * pct:.2f} %",
            )
        ),
        show(
            at_least(
                NAME,
                f"completeness over a {wall:.0f} s run",
                completeness,
                99.9,
                "%",
                contract=">= 95 %",
                note=f"{stored:,} of {expected:,} symbol-seconds; gaps: {gap_text}; sessions {len(sessions)}",
            )
        ),
        show(info(NAME, "write errors", recorder.write_errors, "", note=f"ticks {recorder.ticks}")),
    ]
    return figs


def _minute_rollups_cost(seconds: int) -> list[Figure]:
    from core.analysis.minute_rows import ROW_SIZE, MinuteRollups
    from core.analysis.series import series_from_snapshot
    from core.simulator.market import SyntheticMarket
    from core.storage.snapshot import OrderBookSnapshot

    start = 1_737_158_400
    books = []
    for symbol in SYMBOLS:  # one real-shaped top-20 book per symbol, its series row re-stamped each second
        market = SyntheticMarket(symbol, seed=len(books) + 1)
        raw = market.snapshot(20)
        snap = OrderBookSnapshot(symbol, tuple(map(tuple, raw["bids"])), tuple(map(tuple, raw["asks"])), 1, start)
        books.append((symbol, series_from_snapshot(snap)))
    ticks = []
    for ts in range(start, start + seconds):
        rows = []
        for symbol, row in books:
            stamped = copy.copy(row)
            stamped.timestamp = ts
            rows.append((symbol, ts, stamped.to_bytes()))  # as the recorder hands them: the rows as written
        ticks.append((ts, rows))
    minutes = MinuteRollups()
    written = 0
    began = time.thread_time()
    for ts, rows in ticks:
        written += len(minutes.add(ts, rows, ()))
    cpu = time.thread_time() - began
    share = cpu / seconds * 100  # CPU seconds per recorded second, as % of one core
    return [
        show(below(NAME, f"minute rollups written while recording, {len(SYMBOLS)} symbols", share, 0.1, "% of a core",
                   note=f"{cpu / (seconds * len(SYMBOLS)) * 1e6:.1f} µs per symbol-second; {written:,} rows in "
                        f"{seconds // 60} min")),
        show(info(NAME, "minute rollup rows on disk per symbol-day (before compression)", ROW_SIZE * 1440 / 1e3,
                  "KB", note=f"{ROW_SIZE} bytes a minute")),
    ]  # fmt: skip


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    duration = 600.0 if long else 20.0 if quick else 60.0
    return _minute_rollups_cost(600 if quick else 3600) + asyncio.run(_main(duration))


# ---- Cost per event, layer by layer (docs/PERFORMANCE.md, "Cost per event") -------------------------------------
#
# `python -m bench.recorder --per-event [--symbols 50] [--window 20] [--rounds 2]`: against the simulator with a
# whole market's activity (bench/_simproc.py --long-tail; 50 symbols are all at 10 events/s), this process's CPU
# per received frame (`time.process_time`, the simulator is another process) when it does ever more of the path:
#   frames            one combined-stream StreamConnection, each frame read and dropped (socket, framing, loop);
#   + parse           and each frame parsed (core.market.wire: orjson, the level check, a DepthUpdate);
#   + sync + book     the real OrderBookManager (its connections, parse, BookSync, OrderBook; no recorder);
# the layers alternate `rounds` times (the machine is shared: compare medians). Then the executor's part of
# recording, measured apart: `_encode_and_write` of the live books' top 20 (msgpack, series and minute rows, the
# WriteBatch) per snapshot, and per event at one snapshot per symbol-second. The recorder's whole process is
# `python -m bench.whole_market --symbols 50` (CPU per received frame there).


async def _layer(sim: SimProcess, symbols: list[str], layer: str, window: float) -> tuple[float, float, float, float]:
    """(CPU µs per frame, frames/s, reads per frame, levels per frame) of one layer over `window` seconds."""
    from core.feed.stream import StreamConnection, depth_stream
    from core.market.wire import parse_stream_message

    counts = {"frames": 0, "reads": 0, "levels": 0}
    if layer == "+ sync + book":
        manager = OrderBookManager(ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=len(symbols)))
        on_frame = manager.on_frame

        def counted(conn, raw, now):  # the slots call the manager's on_frame: count the frames it handles
            counts["frames"] += 1
            on_frame(conn, raw, now)

        manager.on_frame = counted  # type: ignore[method-assign]
        await manager.start()
        try:
            await manager.subscribe_many(symbols)
            t0 = time.monotonic()
            while not all(manager.is_live(s) for s in symbols) and time.monotonic() - t0 < 60:
                await asyncio.sleep(0.1)
            return await _measure(counts, window)
        finally:
            await manager.stop()
    conn = await StreamConnection.open(sim.ws_url, [depth_stream(s) for s in symbols])
    ws = conn.ws
    received = ws.data_received

    def counted_read(data: bytes) -> None:
        counts["reads"] += 1
        received(data)

    ws.data_received = counted_read  # type: ignore[method-assign]

    parse = layer == "+ parse"

    def on_message(raw: bytes, _received_at: float) -> None:
        counts["frames"] += 1
        if parse:
            msg = parse_stream_message(raw)
            counts["levels"] += len(getattr(msg, "bids", ())) + len(getattr(msg, "asks", ()))

    reader = asyncio.get_running_loop().create_task(conn.read(on_message))
    try:
        await asyncio.sleep(2.0)  # every stream subscribed and flowing
        return await _measure(counts, window)
    finally:
        reader.cancel()
        await conn.close("measured")


async def _measure(counts: dict[str, int], window: float) -> tuple[float, float, float, float]:
    f0, r0, l0 = counts["frames"], counts["reads"], counts["levels"]
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(window)
    frames = counts["frames"] - f0
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    if not frames:
        raise RuntimeError("no frame arrived in the window")
    return cpu / frames * 1e6, frames / wall, (counts["reads"] - r0) / frames, (counts["levels"] - l0) / frames


def _executor_cost(symbols: list[str], seconds: int = 60) -> float:
    """CPU µs of `_encode_and_write` per snapshot: `seconds` ticks of every symbol's top 20 (simulator books)."""
    from core.analysis.minute_rows import MinuteRollups
    from core.simulator.market import market_for
    from core.storage.snapshot import OrderBookSnapshot

    start = 1_737_158_400
    tops = []
    for symbol in symbols:
        raw = market_for(symbol, seed=1, history=10).snapshot(20)
        tops.append((symbol, tuple(map(tuple, raw["bids"])), tuple(map(tuple, raw["asks"]))))
    with tempfile.TemporaryDirectory(prefix="depthbook-bench-exec-") as tmp:
        storage = SnapshotStorage.open(Path(tmp) / "db")
        try:
            minutes, rollup_rows, cpu = MinuteRollups(), [], 0.0
            for ts in range(start, start + seconds):
                snaps = [OrderBookSnapshot(s, b, a, 1, ts) for s, b, a in tops]
                began = time.thread_time()
                persistence_module._encode_and_write(
                    storage, snaps, [], timestamp=ts, minutes=minutes, rollup_rows=rollup_rows
                )
                cpu += time.thread_time() - began
        finally:
            storage.close()
    return cpu / (seconds * len(symbols)) * 1e6


LAYERS = ("frames", "+ parse", "+ sync + book")


async def _per_event(n: int, window: float, rounds: int) -> list[Figure]:
    from bench.whole_market import market_symbols

    symbols = market_symbols(n)
    heading(f"recorder cost per event: {n} symbols (long-tailed activity), {rounds} x {window:.0f} s per layer")
    results: dict[str, list[tuple[float, float, float, float]]] = {layer: [] for layer in LAYERS}
    async with SimProcess(symbols, long_tail=True, history=100) as sim:
        for r in range(rounds):
            for layer in LAYERS if r % 2 == 0 else reversed(LAYERS):
                results[layer].append(await _layer(sim, symbols, layer, window))
                print(f"  {layer}: {results[layer][-1][0]:.1f} µs/frame (load {os.getloadavg()[0]:.1f})", flush=True)
    figs = []
    for layer, runs in results.items():
        us, rate, reads, levels = (statistics.median(col) for col in zip(*runs, strict=True))
        note = f"{rate:.0f} frames/s; runs " + ", ".join(f"{r[0]:.0f}" for r in runs)
        if layer == "frames":
            note += f"; {reads:.2f} socket reads per frame"
        if layer == "+ parse":
            note += f"; {levels:.1f} levels per frame"
        figs.append(show(info(NAME, f"CPU per frame, {layer}", us, "µs", note=note)))
    rate = statistics.median(r[1] for r in results["+ sync + book"])
    per_snapshot = _executor_cost(symbols)
    figs.append(show(info(NAME, "executor, per snapshot written", per_snapshot, "µs",
                          note=f"per event at {n} snapshots/s and {rate:.0f} events/s: {per_snapshot * n / rate:.1f} µs")))  # fmt: skip
    print(f"  load average {os.getloadavg()[0]:.1f} (2 cores)")
    return figs


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.recorder")
    parser.add_argument("--per-event", action="store_true", help="CPU per received event, layer by layer")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured per layer and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.per_event:
        asyncio.run(_per_event(args.symbols, args.window, args.rounds))
    else:
        run(quick=args.quick)


if __name__ == "__main__":
    main()
