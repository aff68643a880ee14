"""How late the event loop runs what it was asked to run: the figure behind "the app feels sluggish".

A task sleeps `interval` seconds over and over and records by how much each wake-up overshoots. Everything
on the loop (frame parsing, the recorder's capture, Qt painting under qasync) shows up as lag here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

log = logging.getLogger(__name__)


class LoopLagMonitor:
    def __init__(self, interval: float = 0.05, window: int = 4800, report_every: float = 60.0) -> None:
        self.interval = interval
        self.report_every = report_every
        self.samples: deque[float] = deque(maxlen=window)  # seconds late, newest last
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def percentile(self, q: float) -> float | None:
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    async def _run(self) -> None:
        last_report = time.monotonic()
        while True:
            before = time.monotonic()
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.samples.append(max(0.0, now - before - self.interval))
            if now - last_report >= self.report_every:
                last_report = now
                self.report()

    def report(self) -> None:
        """One INFO line with the lag since the previous report, then start a new period."""
        if self.samples:
            log.info(
                "event loop lag p50_ms=%.1f p99_ms=%.1f max_ms=%.1f samples=%d",
                1000 * (self.percentile(0.5) or 0), 1000 * (self.percentile(0.99) or 0),
                1000 * max(self.samples), len(self.samples),
            )  # fmt: skip
            self.samples.clear()
