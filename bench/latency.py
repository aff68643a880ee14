"""Frame arrival to book updated, 200 symbols at 10 messages/s each (2,000 frames/s), through the real stack.

The exchange simulator runs in a child process (bench/_simproc.py) so that its market generation has its own
core; this process runs the real `OrderBookManager` (`ManagerConfig(ws_url, rest_url, max_symbols=200)`,
`subscribe_many`) over a real loopback WebSocket. Once every book is live, for `--quick` 10 s or 30 s:

- receipt -> BookUpdated (the figure with the target): from the `time.monotonic()` the connection takes when the
  socket read that held the frame came in (the `now` it passes to the manager's `on_frame`; the bench wraps
  `on_frame` to see it) to the moment the manager calls our `BookUpdated` listener for that frame;
- `on_frame` duration per frame (wrapped), every frame including those of books not live;
- exchange publish -> BookUpdated, for information: the simulator records `time.monotonic_ns()` when it
  publishes each event (CLOCK_MONOTONIC is shared by the processes of one machine); this adds the WebSocket
  send, the loopback and the client's frame queue to the figure above.

REST snapshots use limit 1000 (the default) with the weight budget raised on both sides, so that 200 books go
live in seconds rather than the two minutes Binance's 6,000/min would take (the budget is not what is measured).
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import tempfile
import time

from bench._report import Figure, below, heading, info, show
from bench._simproc import SimProcess
from core.feed.budget import WeightBudget
from core.feed.events import BookUpdated
from core.feed.manager import ManagerConfig, OrderBookManager
from core.feed.rest import RestClient

NAME = "latency"
SYMBOLS = 200
TARGET_P99_MS = 1.0


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _main(quick: bool) -> list[Figure]:
    duration = 10.0 if quick else 30.0
    symbols = ["BTCUSDT", "ETHUSDT", "BNBUSDT"] + [f"S{i:03d}USDT" for i in range(SYMBOLS - 3)]
    heading(
        f"latency: {SYMBOLS} symbols x 10 msg/s from the simulator (child process), {duration:.0f} s measured"
    )
    fd, sends_path = tempfile.mkstemp(prefix="depthbook-bench-sends-")
    os.close(fd)
    receipt_to_update: list[float] = []  # seconds
    on_frame_cost: list[float] = []
    updates: list[tuple[str, int, int]] = []  # symbol, u, monotonic ns at the listener
    measuring = False
    current: list[float | None] = [None]  # receipt time of the frame being handled
    gc_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    gc_started = [0.0]

    def on_gc(phase: str, gc_info: dict) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif measuring:
            gc_pauses[gc_info["generation"]].append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)

    try:
        async with SimProcess(symbols, record_sends=sends_path) as sim:
            config = ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=SYMBOLS)
            rest = RestClient(sim.rest_url, budget=WeightBudget(limit_per_minute=1_000_000))
            manager = OrderBookManager(config, rest=rest)

            def listener(event: object) -> None:
                if measuring and type(event) is BookUpdated and current[0] is not None:
                    now = time.monotonic()
                    receipt_to_update.append(now - current[0])
                    updates.append((event.symbol, event.last_update_id, time.monotonic_ns()))

            manager.add_listener(listener)
            on_frame = manager.on_frame

            def timed_on_frame(conn: object, raw: str | bytes, now: float) -> None:
                current[0] = now
                start = time.perf_counter()
                on_frame(conn, raw, now)
                if measuring:
                    on_frame_cost.append(time.perf_counter() - start)
                current[0] = None

            manager.on_frame = timed_on_frame  # type: ignore[method-assign]
            await manager.start()
            try:
                t0 = time.monotonic()
                await manager.subscribe_many(symbols)
                while sum(manager.is_live(s) for s in symbols) < len(symbols):
                    if time.monotonic() - t0 > 120:
                        live = sum(manager.is_live(s) for s in symbols)
                        raise RuntimeError(f"only {live} of {len(symbols)} books live after 120 s")
                    await asyncio.sleep(0.1)
                sync_s = time.monotonic() - t0
                print(f"  all {len(symbols)} books live after {sync_s:.1f} s; measuring", flush=True)
                await asyncio.sleep(2.0)  # let the snapshot bursts settle
                gc.collect()
                cpu0, wall0 = time.process_time(), time.monotonic()
                measuring = True
                await asyncio.sleep(duration)
                measuring = False
                cpu = (time.process_time() - cpu0) / (time.monotonic() - wall0)
                statuses = manager.statuses()
                resyncs = sum(s.resyncs for s in statuses)
                gaps = sum(s.gaps for s in statuses)
            finally:
                await manager.stop()
                await rest.aclose()
        sends = sim.sends()
    finally:
        os.unlink(sends_path)
        gc.callbacks.remove(on_gc)

    n = len(receipt_to_update)
    if not n:
        raise RuntimeError("no BookUpdated event was measured")
    rate = n / duration
    e2e = [(t - sends[s, u]) / 1e9 for s, u, t in updates if (s, u) in sends]
    ms = 1000.0
    figs = [
        show(
            info(NAME, "book updates measured", n, "", note=f"{rate:,.0f}/s; gaps {gaps}, resyncs {resyncs}")
        ),
        show(info(NAME, "receipt -> BookUpdated p50", statistics.median(receipt_to_update) * ms, "ms")),
        show(
            below(
                NAME,
                "receipt -> BookUpdated p99",
                _pct(receipt_to_update, 0.99) * ms,
                TARGET_P99_MS,
                "ms",
                note="from the manager's receipt timestamp (the `now` of on_frame) to the listener",
            )
        ),
        show(info(NAME, "receipt -> BookUpdated p99.9", _pct(receipt_to_update, 0.999) * ms, "ms")),
        show(info(NAME, "receipt -> BookUpdated max", max(receipt_to_update) * ms, "ms")),
        show(info(NAME, "on_frame duration p50 (wrapped)", statistics.median(on_frame_cost) * ms, "ms")),
        show(info(NAME, "on_frame duration p99 (wrapped)", _pct(on_frame_cost, 0.99) * ms, "ms")),
    ]
    if e2e:
        figs += [
            show(info(NAME, "exchange publish -> BookUpdated p50", statistics.median(e2e) * ms, "ms")),
            show(
                info(
                    NAME,
                    "exchange publish -> BookUpdated p99",
                    _pct(e2e, 0.99) * ms,
                    "ms",
                    note="simulator process -> loopback WebSocket -> manager",
                )
            ),
        ]
    figs.append(show(info(NAME, "client process CPU while streaming", cpu * 100, "% of a core")))
    for generation in (0, 1, 2):
        pauses = gc_pauses[generation]
        if pauses:
            figs.append(
                show(
                    info(
                        NAME,
                        f"garbage collector gen{generation} pause max",
                        max(pauses) * ms,
                        "ms",
                        note=f"{len(pauses)} collections in {duration:.0f} s, "
                        f"{sum(pauses) * ms:.0f} ms in all (a frame arriving meanwhile waits)",
                    )
                )
            )
    return figs


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    return asyncio.run(_main(quick))
