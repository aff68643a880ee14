"""The soak's exchange: the simulator in a child process, driven through its stdin, one JSON command a line.

`python -m soak.simproc --symbols A,B,... --fast-symbols C,D --seed N` prints `{"ws_url": ..., "rest_url": ...}`
once listening, then answers each command on stdin with one JSON line on stdout:

    {"cmd": "fault", "name": "drop_events", "args": {"symbol": "X", "n": 1}}   -> {"ok": true, "at": <epoch s>}
    {"cmd": "stats"}                                                          -> {"ok": true, "stats": {...}}
    {"cmd": "verify", "db": PATH}     every stored snapshot against the truth  -> {"ok": true, "verify": {...}}

and stops when stdin closes. The markets' truth is kept by soak.truth.TruthLog. `SimChild` runs it from the driver.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections import Counter

from core.simulator.server import ExchangeSimulator
from core.storage.snapshot import OrderBookSnapshot, SnapshotDecodeError
from core.storage.store import SnapshotStorage
from soak.truth import TruthLog

MAX_TS = 9_999_999_999
FAULTS = {
    "drop_events", "duplicate_events", "silence", "malformed_frames", "rate_limit", "disconnect_all",
    "server_shutdown", "fast_market", "set_trend",
}  # fmt: skip
HISTORY_EVENTS = 3000  # the market's own undo history, for the rare snapshot that is not at an event boundary


def verify(truth: TruthLog, db: str) -> dict:
    """Compare every stored snapshot of the database with the truth; the first few wrong ones are named."""
    checked = wrong = unchecked = damaged = 0
    examples: list[str] = []
    per_symbol: Counter[str] = Counter()
    storage = SnapshotStorage.open(db, "read_only")
    try:
        for symbol in storage.symbols():
            for ts, value in storage.range(symbol, 0, MAX_TS):
                try:
                    snap = OrderBookSnapshot.from_bytes(symbol, value)
                except SnapshotDecodeError as exc:
                    damaged += 1
                    examples.append(f"{symbol}:{ts} does not decode: {exc}")
                    continue
                verdict = truth.check(symbol, snap.update_id, snap.bids, snap.asks)
                if verdict is None:
                    unchecked += 1
                    examples.append(f"{symbol}:{ts} update_id={snap.update_id}: no truth known")
                    continue
                checked += 1
                per_symbol[symbol] += 1
                if not verdict:
                    wrong += 1
                    if len(examples) < 20:
                        examples.append(f"{symbol}:{ts} update_id={snap.update_id} differs from the true top 20")
    finally:
        storage.close()
    return {
        "checked": checked,
        "wrong": wrong,
        "unchecked": unchecked,
        "damaged": damaged,
        "examples": examples[:20],
        "truth_events": sum(len(d) for d in truth.digests.values()),
    }


async def _serve(symbols: list[str], fast_symbols: list[str], seed: int) -> None:
    sim = ExchangeSimulator(
        symbols=symbols, port=0, seed=seed, interval_ms=100, history=HISTORY_EVENTS, fast_symbols=fast_symbols
    )
    truth = TruthLog()
    for symbol in sim.symbols:
        truth.follow(sim.market(symbol))
    sim.faults.set_trend(0.0)  # the fast-market symbols are calm until a stretch
    await sim.start()
    print(json.dumps({"ws_url": sim.ws_url, "rest_url": sim.rest_url}), flush=True)
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[bytes] = asyncio.Queue()
    stdin = sys.stdin.fileno()
    buffer = bytearray()

    def readable() -> None:
        chunk = os.read(stdin, 65536)
        if not chunk:
            lines.put_nowait(b"")
            return
        buffer.extend(chunk)
        while b"\n" in buffer:
            line, _, rest = bytes(buffer).partition(b"\n")
            buffer[:] = rest
            lines.put_nowait(line)

    loop.add_reader(stdin, readable)
    try:
        while line := await lines.get():
            reply = await _answer(sim, truth, json.loads(line), loop)
            print(json.dumps(reply), flush=True)
    finally:
        loop.remove_reader(stdin)
        await sim.stop()


async def _answer(sim: ExchangeSimulator, truth: TruthLog, command: dict, loop: asyncio.AbstractEventLoop) -> dict:
    try:
        match command.get("cmd"):
            case "fault" if command.get("name") in FAULTS:
                getattr(sim.faults, command["name"])(**command.get("args", {}))
                return {"ok": True, "at": time.time()}
            case "stats":
                stats = sim.stats
                return {
                    "ok": True,
                    "stats": {
                        "connections_opened": stats.connections_opened,
                        "events_generated": sum(stats.events_generated.values()),
                        "events_dropped": sum(stats.events_dropped.values()),
                        "events_silenced": sum(stats.events_silenced.values()),
                        "rest_requests": dict(stats.rest_requests),
                        "rest_rejected": stats.rest_rejected,
                    },
                }
            case "verify":
                # Off the loop would race the generators; the soak is over when this is asked, so block.
                return {"ok": True, "verify": verify(truth, command["db"])}
            case _:
                return {"ok": False, "error": f"unknown command {command!r:.200}"}
    except Exception as exc:  # a bad command is answered, never the end of the exchange
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.simproc")
    parser.add_argument("--symbols", required=True)
    parser.add_argument("--fast-symbols", default="")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s sim %(levelname)s %(name)s: %(message)s")
    os.set_blocking(sys.stdin.fileno(), False)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.symbols.split(","), [s for s in args.fast_symbols.split(",") if s], args.seed))
    return 0


class SimChild:
    """The simulator process, from the driver: `await start()`, `await command({...})`, `await stop()`."""

    def __init__(self, symbols: list[str], fast_symbols: list[str], seed: int, log_path: str) -> None:
        self.symbols, self.fast_symbols, self.seed = symbols, fast_symbols, seed
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self.ws_url = self.rest_url = ""
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        cmd = [sys.executable, "-m", "soak.simproc", "--symbols", ",".join(self.symbols)]
        cmd += ["--fast-symbols", ",".join(self.fast_symbols), "--seed", str(self.seed)]
        with open(self.log_path, "ab") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log_file
            )
        urls = json.loads(await self._line(120))
        self.ws_url, self.rest_url = urls["ws_url"], urls["rest_url"]

    async def command(self, command: dict, timeout: float = 600) -> dict:
        assert self.proc is not None and self.proc.stdin is not None
        async with self._lock:  # one command in flight: each reply is the answer to the last line sent
            self.proc.stdin.write(json.dumps(command).encode() + b"\n")
            await self.proc.stdin.drain()
            reply = json.loads(await self._line(timeout))
        if not reply.get("ok"):
            raise RuntimeError(f"the simulator refused {command}: {reply.get('error')}")
        return reply

    async def _line(self, timeout: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"the simulator process exited (see {self.log_path})")
        return line

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 60)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


if __name__ == "__main__":
    sys.exit(main())
