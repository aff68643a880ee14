"""The exchange simulator in a child process, so that its market generation does not share a core or an event
loop with what a benchmark measures.

`python -m bench._simproc --symbols A,B [--weight-limit N] [--sends PATH] [--long-tail] [--history N]
[--stats PATH]` prints one JSON line `{"ws_url": ..., "rest_url": ...}` once listening, serves until its stdin
closes, then (with `--sends`) writes the publish time of every fast diff event as lines `SYMBOL u monotonic_ns`
to PATH, and (with `--stats`) the simulator's counters as JSON (events by symbol, 429/418 replies).
`--long-tail`: the symbols' activity is a whole market's (core.simulator.market.long_tailed_activity, in the
order given: the first are the busiest); `--history`: events each market keeps for its truth (0: none, the
cheapest). CLOCK_MONOTONIC is shared by every process of a Linux machine, so a benchmark can compare those times
with its own `time.monotonic_ns()`.

`SimProcess` starts and stops it from a benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from core.simulator import ExchangeSimulator
from core.simulator.market import long_tailed_activity


async def _serve(args: argparse.Namespace) -> None:
    symbols, sends_path = args.symbols.split(","), args.sends
    sim = ExchangeSimulator(
        symbols=symbols,
        port=0,
        seed=args.seed,
        interval_ms=100,
        weight_limit=args.weight_limit,
        history=args.history,
        activity=long_tailed_activity(symbols) if args.long_tail else None,
    )
    sends: list[tuple[str, int, int]] = []
    if sends_path:
        publish = sim._publish_diff

        def recorded(symbol: str, payload: dict, *, fast: bool, duplicate: bool) -> None:
            if fast:
                sends.append((symbol, payload["u"], time.monotonic_ns()))
            publish(symbol, payload, fast=fast, duplicate=duplicate)

        sim._publish_diff = recorded  # type: ignore[method-assign]
    await sim.start()
    print(json.dumps({"ws_url": sim.ws_url, "rest_url": sim.rest_url}), flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    stdin = sys.stdin.fileno()
    loop.add_reader(stdin, lambda: None if os.read(stdin, 1024) else stop.set())  # EOF: the parent is done
    await stop.wait()
    loop.remove_reader(stdin)
    await sim.stop()
    if sends_path:
        Path(sends_path).write_text("".join(f"{s} {u} {t}\n" for s, u, t in sends))
    if args.stats:
        stats = sim.stats
        counters = {"events_generated": dict(stats.events_generated), "rest_rejected": stats.rest_rejected}
        Path(args.stats).write_text(json.dumps(counters))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._simproc")
    parser.add_argument("--symbols", required=True)
    parser.add_argument("--weight-limit", type=int, default=1_000_000)
    parser.add_argument("--sends")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--long-tail", action="store_true")
    parser.add_argument("--history", type=int, default=2000)
    parser.add_argument("--stats")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.set_blocking(sys.stdin.fileno(), False)
    asyncio.run(_serve(args))
    return 0


class SimProcess:
    """`async with SimProcess(symbols) as sim:` gives `sim.ws_url`, `sim.rest_url`; `sim.sends()` after exit."""

    def __init__(
        self,
        symbols: list[str],
        *,
        record_sends: str | None = None,
        weight_limit: int = 1_000_000,
        long_tail: bool = False,
        history: int = 2000,
        record_stats: str | None = None,
    ) -> None:
        self.symbols = symbols
        self.record_sends = record_sends
        self.weight_limit = weight_limit
        self.long_tail = long_tail
        self.history = history
        self.record_stats = record_stats
        self.proc: asyncio.subprocess.Process | None = None
        self.ws_url = self.rest_url = ""
        self.pid = 0

    async def __aenter__(self) -> SimProcess:
        cmd = [sys.executable, "-m", "bench._simproc", "--symbols", ",".join(self.symbols)]
        cmd += ["--weight-limit", str(self.weight_limit)]
        if self.record_sends:
            cmd += ["--sends", self.record_sends]
        if self.record_stats:
            cmd += ["--stats", self.record_stats]
        cmd += ["--history", str(self.history)] + ["--long-tail"] * self.long_tail
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 300)  # 1,500 markets take a while
        if not line:
            raise RuntimeError("the simulator process exited before listening")
        urls = json.loads(line)
        self.ws_url, self.rest_url = urls["ws_url"], urls["rest_url"]
        return self

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 120)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    def stats(self) -> dict:
        """The simulator's counters, written when it stopped (`record_stats`): events_generated, rest_rejected."""
        if self.record_stats and os.path.exists(self.record_stats):
            return json.loads(Path(self.record_stats).read_text())
        return {}

    def sends(self) -> dict[tuple[str, int], int]:
        """(symbol, u) -> monotonic ns at which the simulator published that event."""
        out: dict[tuple[str, int], int] = {}
        if self.record_sends and os.path.exists(self.record_sends):
            for row in Path(self.record_sends).read_text().splitlines():
                symbol, u, t = row.split()
                out[symbol, int(u)] = int(t)
        return out


if __name__ == "__main__":
    sys.exit(main())
