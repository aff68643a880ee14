"""The desktop app with 20 symbols live and recording from the simulator (10 messages/s each).

The real `depthbook` runs as its own process (offscreen Qt platform, a throwaway home and database) against
the simulator in another child process. Measured from outside, as a user's system monitor would:
- first window shown: the app's own log line `window shown seconds_since_launch=…` (process age at show);
- app CPU and RSS: psutil on the app process, over the steady window after every book is live;
- event-loop lag p99: the app's LoopLagMonitor line `event loop lag p50_ms=… p99_ms=…`, which covers the
  minute before it; the bench uses the second one (the first minute includes start-up), or the first
  with --quick.
Targets (issue 4): lag p99 < 30 ms, CPU < 25 % of one core, RSS < 300 MB, first window < 2 s.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench._report import Figure, below, heading, info, show
from bench._simproc import SimProcess

NAME = "app"
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"] + [f"S{i:02d}USDT" for i in range(17)]
ROOT = Path(__file__).resolve().parents[1]

WINDOW_RE = re.compile(r"window shown seconds_since_launch=([\d.]+)")
LIVE_RE = re.compile(r"book state symbol=(\w+) state=live")
LAG_RE = re.compile(r"event loop lag p50_ms=([\d.]+) p99_ms=([\d.]+) max_ms=([\d.]+)")


class AppLog:
    """Reads the app's stderr as it comes and keeps what the bench looks for."""

    def __init__(self) -> None:
        self.window_age: float | None = None
        self.live: set[str] = set()
        self.lag: list[tuple[float, float, float]] = []
        self.tail: list[str] = []

    async def follow(self, stream: asyncio.StreamReader) -> None:
        while line := (await stream.readline()).decode(errors="replace"):
            self.tail = [*self.tail[-30:], line]
            if m := WINDOW_RE.search(line):
                self.window_age = float(m.group(1))
            if m := LIVE_RE.search(line):
                self.live.add(m.group(1))
            if m := LAG_RE.search(line):
                self.lag.append((float(m.group(1)), float(m.group(2)), float(m.group(3))))


async def _wait(condition, timeout: float, what: str, log: AppLog) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}; app log tail:\n{''.join(log.tail)}")
        await asyncio.sleep(0.1)


async def _main(quick: bool) -> list[Figure]:
    reports_needed = 1 if quick else 2
    heading(f"app: the desktop app, {len(SYMBOLS)} symbols live and recording, simulator in a child process")
    with tempfile.TemporaryDirectory(prefix="depthbook-bench-app-") as tmp:
        env = dict(
            os.environ, HOME=tmp, XDG_CONFIG_HOME=f"{tmp}/.config", XDG_DATA_HOME=f"{tmp}/.local/share"
        )
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
        async with SimProcess(SYMBOLS) as sim:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "gui.entry", "--ws-url", sim.ws_url, "--rest-url", sim.rest_url,
                "--record", ",".join(SYMBOLS), "--db", f"{tmp}/db", "--log-level", "INFO",
                cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            log = AppLog()
            assert proc.stderr is not None
            reader = asyncio.get_running_loop().create_task(log.follow(proc.stderr))
            app = psutil.Process(proc.pid)
            try:
                await _wait(lambda: log.window_age is not None, 30, "the window", log)
                await _wait(lambda: log.live >= set(SYMBOLS), 90, "every book live", log)
                print(f"  all {len(SYMBOLS)} books live; measuring", flush=True)
                app.cpu_percent(None)
                rss_peak = 0
                start = time.monotonic()
                while len(log.lag) < reports_needed:
                    rss_peak = max(rss_peak, app.memory_info().rss)
                    await asyncio.sleep(0.5)
                    if time.monotonic() - start > 200:
                        raise RuntimeError("no event-loop lag report from the app")
                cpu = app.cpu_percent(None)
                measured = time.monotonic() - start
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    await asyncio.wait_for(proc.wait(), 30)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()
                await reader
    p50, p99, worst = log.lag[reports_needed - 1]
    return [
        show(below(NAME, "first window shown after launch", log.window_age or 0.0, 2.0, "s")),
        show(
            below(
                NAME,
                "event-loop lag p99 (one minute, steady)",
                p99,
                30.0,
                "ms",
                note=f"p50 {p50} ms, max {worst} ms",
            )
        ),
        show(
            below(
                NAME,
                "app CPU, 20 symbols live and recording",
                cpu,
                25.0,
                "% core",
                note=f"over {measured:.0f} s",
            )
        ),
        show(below(NAME, "app RSS, peak", rss_peak / 2**20, 300.0, "MB")),
        show(info(NAME, "app exit status after SIGINT", float(proc.returncode or 0), "")),
    ]


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    return asyncio.run(_main(quick))
