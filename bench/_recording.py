"""The record loop the in-process benchmarks share (fast_market, futures): follow symbols with the real
`OrderBookManager`, wait until every book is live, record them with the real `SnapshotRecorder.run` on the wall
clock into a fresh database for a while, then hand the caller the still-open database to check.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from core.feed.manager import ManagerConfig, OrderBookManager
from core.recording.recorder import SnapshotRecorder
from core.storage.store import SnapshotStorage

LIVE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Recording:
    manager: OrderBookManager  # still running
    storage: SnapshotStorage  # still open
    recorder: SnapshotRecorder
    live_after: float  # seconds from subscribing until every book was live
    elapsed: float  # seconds recorded
    weight: int  # REST weight the manager spent while recording
    refreshes: int  # snapshot refreshes while recording, all symbols


@asynccontextmanager
async def recorded(
    config: ManagerConfig,
    symbols: list[str],
    duration: float,
    *,
    each_second: Callable[[OrderBookManager], None] | None = None,
) -> AsyncIterator[Recording]:
    """Record `symbols` for `duration` seconds once live; `each_second` samples the run once a second."""
    manager = OrderBookManager(config)
    await manager.start()
    try:
        t0 = time.monotonic()
        await manager.subscribe_many(symbols)
        while not all(manager.is_live(s) for s in symbols):
            if time.monotonic() - t0 > LIVE_TIMEOUT_S:
                raise RuntimeError(f"the books did not all go live within {LIVE_TIMEOUT_S:.0f} s")
            await asyncio.sleep(0.05)
        live_after = time.monotonic() - t0
        print(f"  all {len(symbols)} books live after {live_after:.1f} s; recording", flush=True)
        weight_at_start = manager.scheduler.weight_spent
        refreshes_at_start = sum(manager.status(s).refreshes for s in symbols)
        with tempfile.TemporaryDirectory(prefix="depthbook-bench-record-") as tmp:
            storage = SnapshotStorage.open(Path(tmp) / "db")
            try:
                recorder = SnapshotRecorder(storage, manager, symbols)
                shutdown = asyncio.Event()
                task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
                started = time.monotonic()
                while time.monotonic() - started < duration:
                    await asyncio.sleep(1.0)
                    if each_second is not None:
                        each_second(manager)
                shutdown.set()
                await task
                yield Recording(
                    manager,
                    storage,
                    recorder,
                    live_after,
                    time.monotonic() - started,
                    manager.scheduler.weight_spent - weight_at_start,
                    sum(manager.status(s).refreshes for s in symbols) - refreshes_at_start,
                )
            finally:
                storage.close()
    finally:
        await manager.stop()
