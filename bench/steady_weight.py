"""REST snapshot weight per symbol-hour in the steady state (docs/SNAPSHOT_HORIZON.md, "Weight per symbol-hour").

The whole-market benchmark's market (bench/_market_run.py: long-tailed activity, simulator in a child process,
Binance's 6,000 a minute) recorded by a RecordingSession; once every book is live, the snapshot scheduler's
`weight_spent` is read every `--step` seconds for `--minutes`. An interval is steady when, at its start, no refresh
waits: the deepening of the books that moved in the start-up is over (a book that sits still stays on its cheap
start's 100 levels: "shallow" counts them). Prints each interval, then the start-up's weight and the steady
state's weight per symbol-hour.

`python -m bench.steady_weight --symbols 300 --minutes 5`
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from bench._market_run import (
    BINANCE_WEIGHT_LIMIT,
    follow_all,
    market_symbols,
    symbols_possible,
    wait_all_live,
)
from bench._simproc import SimProcess
from core.recording.session import RecordingConfig, RecordingSession

DEEP = 500  # levels: a book this deep or deeper has been deepened (or synced at full depth)


async def measure(n: int, minutes: float, step: float) -> None:
    symbols = market_symbols(n)
    with tempfile.TemporaryDirectory(prefix="depthbook-bench-steady-") as tmp:
        sim = SimProcess(
            symbols, long_tail=True, history=100, weight_limit=BINANCE_WEIGHT_LIMIT,
            record_sends=str(Path(tmp) / "sends"), record_stats=str(Path(tmp) / "stats.json"),
        )  # fmt: skip
        async with sim:
            config = RecordingConfig(
                db_path=Path(tmp) / "db", ws_url=sim.ws_url, rest_url=sim.rest_url, max_symbols=n
            )
            session = RecordingSession(config)
            await session.start()
            try:
                await follow_all(session, symbols)
                for symbol in symbols:
                    session.set_recording(symbol, True)
                live_after = await wait_all_live(session, symbols)
                sched = session.manager.scheduler
                print(
                    f"{n:,} symbols live after {live_after:.1f} s, {sched.weight_spent:,} weight spent",
                    flush=True,
                )
                steady_weight = steady_seconds = 0.0
                end = time.monotonic() + minutes * 60
                while (start := time.monotonic()) < end:
                    shallow = sum(1 for s in session.manager.statuses() if (s.snapshot_limit or 0) < DEEP)
                    waiting = len(sched.queued_refreshes)
                    weight0, refreshes0 = sched.weight_spent, sched.refreshes_fetched
                    await asyncio.sleep(min(step, end - start))
                    weight, seconds = sched.weight_spent - weight0, time.monotonic() - start
                    steady = waiting == 0
                    if steady:
                        steady_weight, steady_seconds = steady_weight + weight, steady_seconds + seconds
                    print(
                        f"  {start - end + minutes * 60:5.0f} s: {shallow:4d} shallow, {waiting:4d} waiting, "
                        f"{weight:5d} weight, {sched.refreshes_fetched - refreshes0:3d} refreshes: "
                        f"{weight / n * 3600 / seconds:7.1f} per symbol-hour"
                        + (" (steady)" if steady else ""),
                        flush=True,
                    )
                statuses = session.manager.statuses()
                print(
                    f"resyncs {sum(s.resyncs for s in statuses)}, 429/418 {sim.stats().get('rest_rejected')}"
                )
                if steady_seconds:
                    rate = steady_weight / n * 3600 / steady_seconds
                    print(f"steady state: {rate:.1f} weight per symbol-hour over {steady_seconds:.0f} s")
                else:
                    print("no steady interval: the deepening was still under way (a longer --minutes)")
            finally:
                await session.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.steady_weight", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--symbols", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=5.0, help="measured once every book is live")
    parser.add_argument("--step", type=float, default=30.0, help="seconds per interval")
    args = parser.parse_args(argv)
    if args.symbols < 1 or not args.minutes > 0 or not args.step > 0:
        parser.error("--symbols must be at least 1, --minutes and --step above 0")
    asyncio.run(measure(symbols_possible(args.symbols), args.minutes, args.step))
    return 0


if __name__ == "__main__":
    sys.exit(main())
