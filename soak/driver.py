"""The soak itself: the simulator and the recorder in their own processes, the faults on schedule, then the verdict.

1. The simulator starts (soak.simproc) with SYMBOLS symbols, every tenth a fast-market one (calm until a stretch).
2. The process under soak starts: `depthbook record` on a fresh database (or the app under Xvfb, `--app`), with
   a secondary reader beside it measuring write latency (soak.watcher) and psutil sampling it (soak.target).
3. The schedule (soak.schedule) plays on the wall clock: each fault goes to the simulator's control channel, or
   to the process itself (its file size limit for the full disk, SIGKILL and a restart for the kill).
4. The recorder is stopped (SIGTERM: its last tick is flushed), the simulator checks every stored snapshot against
   its truth (soak.truth), and every second of every symbol is accounted for (soak.accounting).
"""

from __future__ import annotations

import asyncio
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from core.storage.store import SnapshotStorage
from soak import report as figures
from soak.accounting import account
from soak.memtables import memtable_mib_per_minute
from soak.schedule import FAULT_KINDS, KILL, RATE_LIMIT_BURST, Fault, build_schedule, describe
from soak.simproc import SimChild
from soak.target import Target
from soak.watcher import WriteWatcher

FAST_EVERY = 10  # one symbol in ten is a fast-market symbol
SOAK_FILES = {"db", "simulator.log", "recorder.log", "app.log"}  # what a soak leaves in its work directory


@dataclass(frozen=True)
class SoakConfig:
    minutes: float = 30.0
    symbols: int = 50
    report: str = "soak-report.json"
    workdir: str = "/tmp/depthbook-soak"
    app: bool = False
    seed: int = 1
    command: str = ""  # how the soak was started, for the report


def soak_symbols(n: int) -> tuple[list[str], list[str]]:
    """n symbol names (the three with real price profiles first) and the fast-market ones among them."""
    names = ["BTCUSDT", "ETHUSDT", "BNBUSDT", *(f"SOAK{i:03d}USDT" for i in range(3, max(n, 3)))][:n]
    return names, names[FAST_EVERY - 1 :: FAST_EVERY]


class Soak:
    def __init__(self, config: SoakConfig) -> None:
        self.config = config
        self.symbols, self.fast_symbols = soak_symbols(config.symbols)
        self.schedule = build_schedule(config.minutes, self.symbols, self.fast_symbols, config.seed)
        work = Path(config.workdir)
        if work.exists():
            leftovers = {entry.name for entry in work.iterdir()}
            if not leftovers <= SOAK_FILES:  # never empty a directory that is not an earlier soak's
                raise ValueError(f"{work} holds files that are not a soak's ({', '.join(sorted(leftovers - SOAK_FILES)[:3])})")
            shutil.rmtree(work)
        work.mkdir(parents=True)
        self.db = str(work / "db")
        self.sim = SimChild(self.symbols, self.fast_symbols, config.seed, str(work / "simulator.log"))
        self.executed: list[dict] = []
        self.kills: list[float] = []
        self.disk_windows: list[tuple[float, float]] = []
        self.started = 0.0
        self.target: Target | None = None
        self._background: set[asyncio.Task] = set()

    async def run(self) -> dict:
        cfg = self.config
        print(f"soak: {cfg.minutes:g} min, {len(self.symbols)} symbols ({len(self.fast_symbols)} fast), work dir "
              f"{cfg.workdir}\nschedule:\n{describe(self.schedule)}", flush=True)  # fmt: skip
        await self.sim.start()
        self.started = time.time()
        target = self.target = Target(
            db=self.db, symbols=self.symbols, ws_url=self.sim.ws_url, rest_url=self.sim.rest_url,
            log_path=str(Path(cfg.workdir) / ("app.log" if cfg.app else "recorder.log")),
            started=self.started, app=cfg.app, cwd=os.getcwd(),
        )  # fmt: skip
        watcher = WriteWatcher(self.db, self.symbols)
        try:
            await target.start()
            watcher.start()
            await self._recording_began(watcher)
            for fault in self.schedule:
                await self._sleep_until(self.started + fault.at)
                await self._restart_if_dead()
                await self._apply(fault)
            await self._restart_if_dead()
            await self._sleep_until(self.started + cfg.minutes * 60)
            if self._background:
                await asyncio.wait(self._background)
        finally:
            final = await target.stop()
            watcher.stop()
        verdict = (await self.sim.command({"cmd": "verify", "db": self.db}))["verify"]
        stats = (await self.sim.command({"cmd": "stats"}))["stats"]
        await self.sim.stop()
        return self._report(verdict, stats, final, watcher)

    async def _recording_began(self, watcher: WriteWatcher, timeout: float = 300) -> None:
        """The soak's clock starts at the first stored second: the app takes a while to show its window."""
        assert self.target is not None
        deadline = time.monotonic() + timeout
        while not watcher.seen:
            if time.monotonic() > deadline or not self.target.alive:
                raise RuntimeError(f"nothing was recorded within {timeout:g} s; see {self.target.log_path}")
            await asyncio.sleep(0.2)
        self.started = time.time()
        shift = self.started - self.target.started  # samples taken while starting get negative times
        self.target.usage.samples = [(round(t - shift, 1), rss, cpu) for t, rss, cpu in self.target.usage.samples]
        self.target.started = self.started
        print(f"  recording began {self.started - self.target.starts[0]:.1f} s after the start", flush=True)

    async def _restart_if_dead(self) -> None:
        """A recorder that died by itself is a finding (its exit code is reported); the soak goes on with a new one."""
        assert self.target is not None
        if not self.target.alive:
            code = self.target.proc.returncode if self.target.proc else None
            print(f"  the process under soak exited by itself with code {code}; restarting it", flush=True)
            await self.target.reap()
            await self.target.start()

    async def _sleep_until(self, when: float) -> None:
        await asyncio.sleep(max(0.0, when - time.time()))

    async def _fault(self, name: str, **args: object) -> float:
        return (await self.sim.command({"cmd": "fault", "name": name, "args": args}))["at"]

    async def _apply(self, fault: Fault) -> None:
        assert self.target is not None
        t = time.time() - self.started
        print(f"  t={t:7.1f} s  {fault.kind} {','.join(fault.symbols) if len(fault.symbols) <= 5 else ''}", flush=True)
        symbols = list(fault.symbols)
        match fault.kind:
            case "gap":
                at = await self._fault("drop_events", symbol=symbols[0], n=1)
            case "disconnect":
                at = await self._fault("disconnect_all", code=1006)
            case "silence":
                at = await self._fault("silence", seconds=fault.seconds)
            case "rate_limit":
                at = await self._fault("rate_limit", status=429, retry_after=2, count=RATE_LIMIT_BURST)
                for symbol in symbols:  # so that the 429s meet snapshot requests
                    await self._fault("drop_events", symbol=symbol, n=1)
            case "server_shutdown":
                at = await self._fault("server_shutdown")
            case "malformed":
                at = await self._fault("malformed_frames", n=8)
            case "fast_market":
                at = await self._fault("fast_market", seconds=fault.seconds, speed=8.0)
            case "disk_full":
                at = time.time()
                self.target.disk_full(True)
                self._later(fault.seconds, self._disk_restored(at))
            case "kill":
                at = await self.target.kill9()
                self.kills.append(at)
                await asyncio.sleep(fault.seconds)
                until = time.time()
                await self.target.start()
                self.executed.append({"kind": KILL, "at": at, "until": until, "symbols": []})
                return
            case _:
                raise ValueError(f"unknown fault kind {fault.kind!r}")
        self.executed.append({"kind": fault.kind, "at": at, "until": at + fault.seconds, "symbols": symbols})

    async def _disk_restored(self, at: float) -> None:
        assert self.target is not None
        self.target.disk_full(False)
        self.disk_windows.append((at, time.time()))

    def _later(self, delay: float, coro) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await coro

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _report(self, verdict: dict, stats: dict, final: int, watcher: WriteWatcher) -> dict:
        cfg = self.config
        assert self.target is not None
        storage = SnapshotStorage.open(self.db, "read_only")
        try:
            accounting = account(storage, self.symbols, self.kills)
        finally:
            storage.close()
        excluded = [(a - 1, b + 15) for a, b in self.disk_windows] + [(k - 2, k + 2) for k in self.kills]
        disk_recoveries = [
            min((seen for seen in watcher.seen.values() if seen >= b), default=b) - b for _, b in self.disk_windows
        ]
        # Every run but the last ends with the kill (-9); the last with the final stop.
        unexpected = [code for code in self.target.exit_codes[:-1] if code != -9]
        applied = {f["kind"] for f in self.executed}
        report = {
            "soak": {
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.started)),
                "machine": f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}, Python "
                f"{platform.python_version()}",
                "command": cfg.command,
                "mode": "app under Xvfb" if cfg.app else "depthbook record",
                "minutes": cfg.minutes,
                "symbols": self.symbols,
                "fast_symbols": self.fast_symbols,
                "seed": cfg.seed,
                "workdir": cfg.workdir,
                "executed": [
                    {**f, "t_s": round(f["at"] - self.started, 1), "seconds": round(f["until"] - f["at"], 1)}
                    for f in self.executed
                ],
                "kinds_missing": [k for k in FAULT_KINDS if k not in applied],
            },
            "truth": verdict,
            "completeness": accounting.summary(),
            "recovery": figures.recovery(accounting, self.executed, disk_recoveries),
            "write_latency": figures.write_latency(watcher.latencies(), watcher.latencies(excluded)),
            "resources": figures.resources(
                self.target.usage.samples,
                cfg.minutes * 60,
                [0.0, *(s - self.started for s in self.target.starts[1:])],
                memtable_mib_per_minute(self.db, accounting.span[0]),
            ),
            "target": {"exit_codes": self.target.exit_codes, "final_exit_code": final, "unexpected_exits": unexpected},
            "simulator": stats,
        }
        if cfg.app:
            report["loop_lag"] = figures.loop_lag(self.target.usage.loop_lag)
        report["failures"] = figures.hard_failures(report)
        return report

