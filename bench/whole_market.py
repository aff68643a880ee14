"""The whole market: 1,500 simulated symbols with a long-tailed activity, all recorded by one RecordingSession.

The simulator runs in a child process (bench/_simproc.py) with `--long-tail`: the first 50 symbols have an event
every 100 ms (10/s), the others follow a power law down to the median symbol's 1 event/s and the quietest's
0.55/s, about 2,700 events/s in all (core.simulator.market.long_tailed_activity states the distribution); a
busy symbol's book is 3,000 levels a side with about 10 level changes an event, a quiet one's a few hundred
levels with about 2 (`depth_for_rate`, `changes_for_depth`). Its REST weight limit is Binance's 6,000 a minute,
so every 429 it answers is one Binance would have answered.

This process runs what `depthbook record` runs: a `RecordingSession` following and recording every symbol on a
fresh database, one snapshot a second each. Figures:
- time from `follow` until every book is live (target: 3 minutes), and the 429/418 replies of the whole run (0);
- then over a measurement window (10 minutes, `--window` to shorten it while developing):
  - completeness per symbol: stored seconds / seconds of the window (target: every symbol >= 99.9 %);
  - this process's CPU (the recorder: feed, books, recorder, RocksDB threads) in % of one core (<= 25 %);
  - peak RSS (<= 1 GB);
  - frame -> book p99: from the time the socket read that held the frame came in (the `now` the connection passes
    to `on_frame`, shared by the frames of one read) to the end of its handling, the book updated (< 5 ms); each
    read is timed to the end of its last frame, and each of its frames counts with that time (`_Probe`); and, for
    information,
    exchange publish -> book, from the simulator's publish times (CLOCK_MONOTONIC is shared by the processes),
    which adds the simulator's send queue, the loopback and the time a frame waits while the loop is busy;
  - CPU µs per received frame: process CPU / frames received in the window (target: <= 40 µs);
  - for information, an estimate of what the event loop's wake-ups take of it: the loop thread's voluntary
    context switches in the window (its sleeps in epoll, and its waits for the GIL) times the CPU of a wake-up
    with nothing to do on this machine (a loop of `asyncio.sleep`, after the window, sleeping the window's mean
    time between wake-ups), per frame;
  - snapshot weight per symbol-hour in the window, and how many syncs went shallow and refreshes at 500 levels;
  - for information, the simulator process's CPU over the window (it may use one core of its own; it keeps no
    truth here, `history=0`, which nothing in this benchmark reads).
The collector is set up as `depthbook record` sets it (core.recording.collector; `--default-gc`: Python's), and
no `BookUpdated` is built, as in `depthbook record` (`--publish-latency` subscribes to them to also measure
exchange publish -> book, which costs the process a listener call per event).
The machine is shared: CPU figures are under whatever else runs; the simulator has its own process and core.

`python -m bench whole_market` (1,500 symbols, 10-minute window; `--quick`: 300 symbols, 1 minute), or
`python -m bench.whole_market --symbols 50 --window 60 [--profile PATH]`: `--profile` samples this process
with py-spy (the `bench` extra) over the window into PATH (collapsed stacks) and prints the functions with the
most CPU, own and inclusive, in µs per received frame. A sampler in its own process adds little to the figures,
where cProfile's per-call overhead, charged to the caller, made the book look several times its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from pathlib import Path

import psutil

from bench._market_run import (
    BINANCE_WEIGHT_LIMIT,
    follow_all,
    market_symbols,
    symbols_possible,
    wait_all_live,
)
from bench._report import Figure, at_least, below, heading, info, show
from bench._simproc import SimProcess
from core.cli.common import run_headless
from core.feed.events import BookUpdated
from core.feed.stream import DeliveringConnection
from core.recording.collector import settle_collector
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage

NAME = "whole_market"
WHOLE_MARKET = 1500
LIVE_TARGET_S = 180.0
START_UP_SPAN = 3600  # seconds before the window searched for the start-up's gap records (the whole run)
COMPLETENESS_TARGET = 99.9
CPU_TARGET = 25.0  # % of one core
RSS_TARGET_MB = 1024.0
LATENCY_TARGET_MS = 5.0
US_PER_EVENT_TARGET = 40.0


def _pct(values: array | list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class _Probe:
    """Frames received, receipt -> handled, and which book each updated.

    It adds to what `depthbook record` spends, so it does as little as it can: it reads the manager's own frame
    counter, and times socket reads, not frames (docs/PERFORMANCE.md, "Session 22": wrapping every frame's handler
    cost 1.6 µs a frame). A read's frames share their receipt time (`DeliveringConnection.received_at`), so the
    time from it to the end of the read's handling is its last frame's receipt -> handled, the longest of its
    frames'; each frame of the read counts with that time (`handled`, `handled_frames`), so the percentiles are
    never below the frames' own."""

    def __init__(self, session: RecordingSession, symbols: list[str], book_updates: bool) -> None:
        manager = session.manager
        self.index = {s: i for i, s in enumerate(symbols)}
        self.measuring = False
        self.handled = array("d")  # seconds from a read's receipt to its frames handled, in the window
        self.handled_frames = array("l")  # the frames of each of those reads
        self.updated = (array("l"), array("q"), array("q"))  # symbol index, u, monotonic ns at BookUpdated
        self.gc_seconds = 0.0  # the garbage collector's time in the window
        self.gc_runs = Counter()  # collections in the window, by generation
        self.gc_by_generation: Counter[int] = Counter()  # their seconds, by generation
        self._gc_started = 0.0
        self._manager = manager
        self._first = self._last = 0
        gc.callbacks.append(self._on_gc)
        read, monotonic = DeliveringConnection.data_received, time.monotonic
        handled, handled_frames = self.handled, self.handled_frames

        def data_received(conn: DeliveringConnection, data: bytes) -> None:
            before = manager.frames_received
            read(conn, data)
            frames = manager.frames_received - before
            if frames and self.measuring:
                handled.append(monotonic() - conn.received_at)
                handled_frames.append(frames)

        self._read = read
        DeliveringConnection.data_received = data_received  # type: ignore[method-assign]  # this process's only
        # A BookUpdated per event costs the process what `depthbook record` does not spend: only when asked.
        manager.add_listener(self._on_event, book_updates=book_updates)

    def close(self) -> None:
        DeliveringConnection.data_received = self._read  # type: ignore[method-assign]

    def handled_pct(self, q: float) -> float:
        """The q-quantile of receipt -> handled over the window's frames (each at its read's time)."""
        ordered = sorted(zip(self.handled, self.handled_frames, strict=True))
        total, seen = sum(self.handled_frames), 0
        for seconds, frames in ordered:
            seen += frames
            if seen > q * total:
                return seconds
        return float("nan")

    @property
    def frames(self) -> int:
        """Frames received in the window (so far, while it lasts)."""
        return (self._peek() if self.measuring else self._last) - self._first

    def _peek(self) -> int:
        return self._manager.frames_received

    def start(self) -> None:
        self._first = self._peek()
        del self.handled[:]
        del self.handled_frames[:]
        self.measuring = True

    def stop(self) -> None:
        self._last = self._peek()
        self.measuring = False

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self.measuring:
            took = time.perf_counter() - self._gc_started
            self.gc_seconds += took
            self.gc_runs[info["generation"]] += 1
            self.gc_by_generation[info["generation"]] += took

    def _on_event(self, event: object) -> None:
        if self.measuring and type(event) is BookUpdated:
            symbols, ids, times = self.updated
            symbols.append(self.index.get(event.symbol, -1))
            ids.append(event.last_update_id)
            times.append(time.monotonic_ns())


def _completeness(
    db: Path, symbols: list[str], first: int, last: int
) -> tuple[dict[str, float], Counter[str], str, tuple[int, str]]:
    """Stored seconds / seconds of the window, per symbol; the window's gap records by reason; where the
    unverified ones fell: by minute of the window, and by the symbols' activity rank (1: the busiest); and the
    unverified seconds before the window (the start-up), with the ranks of the symbols that had the most."""
    storage = SnapshotStorage.open(db, "read_only")
    try:
        span = last - first + 1
        stored = {s: 100.0 * sum(1 for _ in storage.seconds(s, first, last)) / span for s in symbols}
        gaps = [g for s in symbols for g in storage.gaps(s, first, last)]
        start_up = [g for s in symbols for g in storage.gaps(s, first - START_UP_SPAN, first - 1)]
    finally:
        storage.close()
    lost = [g for g in start_up if g.reason is GapReason.UNVERIFIED]
    ranks = {s: r for r, s in enumerate(symbols, 1)}
    before = len(lost), ", ".join(f"#{ranks[s]} {n}" for s, n in Counter(g.symbol for g in lost).most_common(8))
    reasons = Counter(str(g.reason) for g in gaps)
    unverified = [g for g in gaps if g.reason is GapReason.UNVERIFIED]
    rank = {s: r for r, s in enumerate(symbols, 1)}
    by_minute = Counter((g.timestamp - first) // 60 for g in unverified)
    by_symbol = Counter(g.symbol for g in unverified)
    where = (
        "unverified seconds by minute of the window: "
        + ", ".join(str(by_minute.get(m, 0)) for m in range(span // 60 + 1))
        + f"; on {len(by_symbol)} symbols, the most by activity rank: "
        + ", ".join(f"#{rank[s]} {n}" for s, n in by_symbol.most_common(8))
    )
    return stored, reasons, where, before


async def _main(
    n: int, window: float, profile_path: str | None, tune_gc: bool = True, publish_latency: bool = False
) -> list[Figure]:
    symbols = market_symbols(n)
    heading(
        f"{NAME}: {n:,} symbols, long-tailed activity, simulator in a child process; "
        f"{window:.0f} s measured" + (" sampled by py-spy" if profile_path else "")
    )
    proc = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="depthbook-bench-market-") as tmp:
        sends_path, stats_path, db = Path(tmp) / "sends", Path(tmp) / "stats.json", Path(tmp) / "db"
        sim = SimProcess(
            symbols,
            long_tail=True,
            history=0,  # no truth: nothing here reads it, and it cost about a third of the CPU of an event
            weight_limit=BINANCE_WEIGHT_LIMIT,
            record_sends=str(sends_path),
            record_stats=str(stats_path),
        )
        async with sim:
            config = RecordingConfig(db_path=db, ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=n)
            session = RecordingSession(config)
            probe = _Probe(session, symbols, publish_latency)
            await session.start()
            try:
                await follow_all(session, symbols)
                for symbol in symbols:
                    session.set_recording(symbol, True)
                if tune_gc:
                    settle_collector(len(symbols))  # as `depthbook record` does once it follows
                live_after = await wait_all_live(session, symbols)
                print(
                    f"  all {n:,} books live after {live_after:.1f} s; settling, then measuring", flush=True
                )
                await asyncio.sleep(5.0)
                rss_peak = proc.memory_info().rss
                gc.collect()
                profiler = _sampler(profile_path, window) if profile_path else None
                first_second = int(time.time()) + 1
                cpu0, wall0 = time.process_time(), time.monotonic()
                times0 = proc.cpu_times()
                threads0 = _thread_cpu(proc)
                sleeps0 = _loop_sleeps()
                sim_proc = psutil.Process(sim.pid)
                sim_cpu0 = sum(sim_proc.cpu_times()[:2])
                scheduler = session.manager.scheduler
                weight0, refreshes0 = scheduler.weight_spent, scheduler.refreshes_fetched
                probe.start()
                end = wall0 + window
                by_minute: list[tuple[float, float, int, float]] = []  # CPU %, µs a frame, refreshes queued, RocksDB µs
                mark = (cpu0, wall0, 0, threads0)
                while (now := time.monotonic()) < end:
                    await asyncio.sleep(min(5.0, end - now))
                    rss_peak = max(rss_peak, proc.memory_info().rss)
                    if time.monotonic() - mark[1] >= 60.0:  # the deepening's minutes against the steady state
                        queued = len(scheduler.waiting_refreshes())
                        mark = _minute_sample(mark, probe.frames, queued, by_minute)
                probe.stop()
                census = Counter(type(o).__name__ for o in gc.get_objects())  # what a full collection walks
                wall = time.monotonic() - wall0
                cpu = time.process_time() - cpu0
                times = proc.cpu_times()
                user, system = times.user - times0.user, times.system - times0.system
                by_thread = _cpu_by_thread(threads0, _thread_cpu(proc))
                sleeps = _loop_sleeps() - sleeps0
                sim_cpu = sum(sim_proc.cpu_times()[:2]) - sim_cpu0
                last_second = int(time.time()) - 1
                statuses = session.manager.statuses()
                resyncs = sum(s.resyncs for s in statuses)
                quiet_checks = sum(s.quiet_checks for s in statuses)  # silent books checked (BookSync.check_silence)
                weight = scheduler.weight_spent - weight0
                refreshes = scheduler.refreshes_fetched - refreshes0
                start_up = (scheduler.shallow_syncs, scheduler.tight_refreshes, scheduler.rescues)
                gaps = sum(s.gaps for s in statuses)
                memtables = session.storage.memtable_bytes() if session.storage is not None else {}
            finally:
                await session.stop()
                probe.close()
        completeness, gap_reasons, unverified_where, start_up_lost = _completeness(
            db, symbols, first_second, last_second
        )
        sends = sim.sends()
        rejected = sim.stats().get("rest_rejected")
    if profiler and profile_path:
        profiler.wait()
        _print_profile(profile_path, probe.frames)

    frames = probe.frames
    if not frames:
        raise RuntimeError("no frame was received in the window")
    between = wall / max(sleeps, 1)
    wake_up_us = await _wake_up_cost(between)  # the recorder and the simulator have stopped
    worst = min(completeness, key=completeness.__getitem__)
    below_target = sum(1 for v in completeness.values() if v < COMPLETENESS_TARGET)
    publish_to_book = [
        (t - sends[symbols[i], u]) / 1e6
        for i, u, t in zip(*probe.updated, strict=True)
        if (symbols[i], u) in sends
    ]
    ms = 1000.0
    pct = 100.0 / wall
    figs = [
        show(below(NAME, f"all {n:,} books live after", live_after, LIVE_TARGET_S, "s")),
        show(
            below(
                NAME,
                "HTTP 429/418 from the exchange, whole run",
                rejected if rejected is not None else -1,
                1,
                "",
                note="weight limit 6,000 a minute, as Binance's",
            )
        ),
        show(
            at_least(
                NAME,
                "completeness, worst symbol",
                completeness[worst],
                COMPLETENESS_TARGET,
                "%",
                note=f"{worst}; {below_target} of {n:,} symbols below {COMPLETENESS_TARGET} %; mean "
                f"{statistics.fmean(completeness.values()):.3f} % over {last_second - first_second + 1} s; gaps: "
                + (", ".join(f"{r} {n:,}" for r, n in gap_reasons.most_common()) or "none")
                + f"; {unverified_where}",
            )
        ),
        show(
            info(
                NAME,
                "unverified seconds before the window (the start-up)",
                start_up_lost[0],
                "",
                note=f"the most by activity rank: {start_up_lost[1] or 'none'}",
            )
        ),
        show(
            below(
                NAME,
                "recorder process CPU",
                cpu * pct,
                CPU_TARGET,
                "% of a core",
                note=f"{frames / wall:,.0f} frames/s received; gaps {gaps}, resyncs {resyncs}, quiet checks {quiet_checks}; "
                f"in the kernel {system / max(user + system, 1e-9):.0%} of it",
            )
        ),
        show(
            info(
                NAME,
                "recorder CPU on the event loop's thread",
                by_thread.get("event loop", 0.0) * pct,
                "% of a core",
                note="; ".join(f"{name} {seconds * pct:.1f} %" for name, seconds in by_thread.items()),
            )
        ),
        show(below(NAME, "recorder RSS, peak", rss_peak / 2**20, RSS_TARGET_MB, "MB")),
        show(
            info(
                NAME,
                "RocksDB memtables at the end of the window",
                sum(memtables.values()) / 2**20,
                "MB",
                note=", ".join(f"{name} {size / 2**20:.0f}" for name, size in memtables.items() if size > 2**20),
            )
        ),
        show(
            info(
                NAME,
                "simulator process CPU (its own process)",
                sim_cpu * pct,
                "% of a core",
                note=f"{sim_cpu / frames * 1e6:.0f} µs per frame the recorder received; it may use one core",
            )
        ),
        show(
            below(
                NAME,
                "frame receipt -> book updated p99",
                probe.handled_pct(0.99) * ms,
                LATENCY_TARGET_MS,
                "ms",
                note=f"p50 {probe.handled_pct(0.5) * ms:.3f} ms, max {max(probe.handled) * ms:.1f} ms; each frame "
                f"at its read's last frame's time ({len(probe.handled):,} reads timed)",
            )
        ),
    ]
    if publish_to_book:
        figs.append(
            show(
                info(
                    NAME,
                    "exchange publish -> book updated p99",
                    _pct(publish_to_book, 0.99),
                    "ms",
                    note=f"p50 {_pct(publish_to_book, 0.5):.2f} ms; includes the simulator's queue and a busy loop",
                )
            )
        )
    figs += [
        show(
            below(
                NAME, f"CPU per received frame, {n:,} symbols", cpu / frames * 1e6, US_PER_EVENT_TARGET, "µs",
                note=f"on {type(asyncio.get_running_loop()).__module__.split('.')[0]}'s event loop",
            )
        ),
        show(
            info(
                NAME,
                "snapshot weight per symbol-hour, in the window",
                weight / n * 3600 / wall,
                "weight",
                note=f"{refreshes:,} refreshes in the window; whole run: {start_up[0]:,} shallow syncs, "
                f"{start_up[1]:,} refreshes at the tight depth, {start_up[2]:,} urgent ones at the shallow depth",
            )
        ),
        show(
            info(
                NAME,
                "event-loop wake-ups' CPU, per received frame",
                sleeps * wake_up_us / frames,
                "µs",
                note=f"{sleeps / wall:,.0f} wake-ups a second (the loop thread's voluntary context switches), "
                f"{frames / max(sleeps, 1):.1f} frames each; a wake-up with nothing to do costs {wake_up_us:.0f} µs "
                f"of CPU on this machine (a loop of {between * 1e3:.1f} ms sleeps, the window's mean, after it)",
            )
        ),
        show(
            info(
                NAME,
                "garbage collector, per received frame",
                probe.gc_seconds / frames * 1e6,
                "µs",
                note=f"collections by generation {dict(sorted(probe.gc_runs.items()))}, ms each "
                + str({g: round(probe.gc_by_generation[g] / n * 1e3, 2) for g, n in sorted(probe.gc_runs.items())})
                + "; "
                f"{census.total():,} tracked objects, most: "
                + ", ".join(f"{k} {v:,}" for k, v in census.most_common(4)),
            )
        ),
    ]
    if by_minute:  # a window of a minute or more
        figs.append(
            show(
                info(
                    NAME,
                    "recorder CPU, the window's last whole minute",
                    by_minute[-1][0],
                    "% of a core",
                    note="by minute (CPU %, µs a frame of which RocksDB's threads, refreshes queued): "
                    + "; ".join(f"{c:.0f} %, {us:.0f} µs ({r:.1f}), {q:,}" for c, us, q, r in by_minute),
                )
            )
        )
    return figs


def _minute_sample(
    mark: tuple[float, float, int, dict[int, float]],
    frames: int,
    queued: int,
    out: list[tuple[float, float, int, float]],
) -> tuple[float, float, int, dict[int, float]]:
    """Append the CPU share and CPU per frame since `mark` (process CPU, wall time, frames, threads' CPU) to `out`,
    with the refreshes queued now (the start-up's deepening: while they wait, the scheduler and the re-ranking
    work) and RocksDB's own threads' µs a frame (flushes and compactions come in bursts); returns the new mark."""
    cpu, wall, threads = time.process_time(), time.monotonic(), _thread_cpu(psutil.Process())
    spent, seconds, received = cpu - mark[0], wall - mark[1], frames - mark[2]
    rocksdb = _cpu_by_thread(mark[3], threads).get("native threads (RocksDB)", 0.0)
    per_frame = (lambda x: x / received * 1e6) if received else (lambda x: float("nan"))
    out.append((100.0 * spent / seconds, per_frame(spent), queued, per_frame(rocksdb)))
    return cpu, wall, frames, threads


async def _wake_up_cost(interval: float, seconds: float = 2.0) -> float:
    """CPU µs this thread spends on one wake-up of the event loop that has nothing to do, after sleeping
    `interval`: what every socket read costs before any work. A machine's own figure, and it grows with the
    sleep: 60-180 µs on the 2-core VM of docs/PERFORMANCE.md ("Session 19"), a few µs on most machines."""
    interval = min(max(interval, 0.001), 0.05)
    sleeps = max(20, int(seconds / interval))
    started = time.thread_time()
    for _ in range(sleeps):
        await asyncio.sleep(interval)
    return (time.thread_time() - started) / sleeps * 1e6


def _loop_sleeps() -> int:
    """How often the event loop's thread (this one) has slept and woken so far: its voluntary context switches."""
    try:
        with open(f"/proc/self/task/{threading.get_native_id()}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches"))
    except (OSError, StopIteration):  # not Linux
        return 0


def _thread_cpu(proc: psutil.Process) -> dict[int, float]:
    """CPU seconds so far of each of the process's threads, by native thread id."""
    return {t.id: t.user_time + t.system_time for t in proc.threads()}


def _cpu_by_thread(before: dict[int, float], after: dict[int, float]) -> dict[str, float]:
    """CPU seconds between two `_thread_cpu` readings: the event loop's thread, the Python threads by name (the
    storage's writer), and the threads Python did not start (RocksDB's flushes and compactions) together."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    names[threading.main_thread().native_id] = "event loop"
    split: Counter[str] = Counter()
    for tid, seconds in after.items():
        name = names.get(tid, "native threads (RocksDB)")
        split[name.split("_")[0] if name.startswith("ThreadPoolExecutor") else name] += seconds - before.get(tid, 0.0)
    return dict(split.most_common())


SAMPLE_RATE = 200  # py-spy samples per second


def _sampler(path: str, window: float) -> subprocess.Popen:
    """py-spy sampling the thread that holds the GIL for `window` seconds, without pausing it. Only that one: with
    the loop and the writer threads taking turns, sampling every running thread put the time one spent waiting
    for the GIL on whatever line it waited at (msgpack's packb showed 17 µs a frame; it costs about 1)."""
    spy = Path(sys.executable).with_name("py-spy")
    cmd = [str(spy), "record", "--pid", str(os.getpid()), "--rate", str(SAMPLE_RATE), "--format", "raw", "--gil"]
    cmd += ["--duration", str(int(window)), "--nonblocking", "--output", path]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _print_profile(path: str, frames: int) -> None:
    """The functions with the most samples, own and inclusive, in CPU µs per received frame."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for row in Path(path).read_text(errors="replace").splitlines():
        stack, _, count = row.rpartition(" ")
        names = [_short(f) for f in stack.split(";")[1:]]  # the first is the thread
        if not names or not count.isdigit():  # py-spy once wrote a line of its own memory: skip what is not a stack
            continue
        total += int(count)
        own[names[-1]] += int(count)
        for name in set(names):
            inclusive[name] += int(count)
    per = 1e6 / SAMPLE_RATE / frames  # µs per received frame for one sample
    print(f"  py-spy, {total:,} samples, {frames:,} frames: {total * per:.1f} µs of CPU per frame in all")
    for title, counts in (("own", own), ("inclusive", inclusive)):
        print(f"  top {title}, µs per frame:")
        for name, count in counts.most_common(22):
            print(f"  {count * per:8.2f}  {name}")


def _short(frame: str) -> str:
    """`apply (/work/main/core/market/orderbook.py:125)` -> `core/market/orderbook.py:apply`."""
    func, _, where = frame.partition(" (")
    file = where.rpartition(":")[0]
    for marker in ("site-packages/", "python3.11/", "/work/main/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{file}:{func}"


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    # End-to-end CPU per event at 50 symbols too (issue 9): a minute of 50, of which only those figures are kept.
    kept = ("CPU per received frame", "event-loop wake-ups")  # the figure, and what this machine takes of it
    per_event = [f for f in run_headless(_main(50, 60.0, None)) if f.name.startswith(kept)]
    n = symbols_possible(300 if quick else WHOLE_MARKET)
    return per_event + run_headless(_main(n, 60.0 if quick else 600.0, None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.whole_market", description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=WHOLE_MARKET, help="symbols to simulate and record")
    parser.add_argument("--window", type=float, default=600.0, help="seconds measured once all are live")
    parser.add_argument(
        "--profile", metavar="PATH", help="sample the window with py-spy into PATH and print the top"
    )
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep Python's collector settings (not `depthbook record`'s)",
    )
    parser.add_argument(
        "--asyncio-loop",
        action="store_true",
        help="run on asyncio's event loop, not the one `depthbook record` runs on (uvloop's where installed)",
    )
    parser.add_argument(
        "--publish-latency",
        action="store_true",
        help="also measure exchange publish -> book (a BookUpdated per event, which the recorder does not need)",
    )
    parser.add_argument(
        "--log", metavar="PATH", help="write the recorder's log (INFO and above) to PATH, as `depthbook record` does"
    )
    args = parser.parse_args(argv)
    if args.symbols < 1 or not args.window > 0:
        parser.error("--symbols must be at least 1 and --window above 0")
    if args.log:  # what a rare `unverified` second was waiting for: the refreshes, the budget, the books
        logging.basicConfig(filename=args.log, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    n = symbols_possible(args.symbols)
    main = _main(n, args.window, args.profile, not args.default_gc, args.publish_latency)
    asyncio.run(main) if args.asyncio_loop else run_headless(main)
    return 0


if __name__ == "__main__":
    sys.exit(main())
