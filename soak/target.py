"""The process under soak: the real `depthbook record` (or the desktop app under Xvfb) in its own process.

It can be killed with SIGKILL and restarted on the same database, made unable to write (a full filesystem), and
its memory and CPU are sampled with psutil. Its stdout and stderr are pipes copied into a log file by this
process: a pipe is not a file, so the recorder's own output keeps working while its file size limit is at 0.

A full filesystem: the recorder's RLIMIT_FSIZE is lowered to 1 byte with prlimit, so every write that would grow a
file (RocksDB's write-ahead log, a new table, its LOG) fails with EFBIG, exactly where ENOSPC would fail it; Python
ignores SIGXFSZ, so the process lives on. Restoring the limit is "space freed". This needs no root and no mount,
unlike filling a tmpfs, and touches nothing else on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import signal
import sys
import time
from dataclasses import dataclass, field

import psutil

LAG_LINE = re.compile(rb"event loop lag p50_ms=([\d.]+) p99_ms=([\d.]+) max_ms=([\d.]+) samples=(\d+)")
SAMPLE_EVERY = 2.0  # seconds between psutil samples


@dataclass
class Usage:
    """psutil samples of the process under soak: (seconds from the soak's start, RSS MiB, CPU % of one core)."""

    samples: list[tuple[float, float, float]] = field(default_factory=list)
    loop_lag: list[tuple[float, float, float]] = field(default_factory=list)  # (t, p99 ms, max ms), app mode


class Target:
    """Start, kill -9, restart and stop the recorder (`app=False`) or the desktop app under Xvfb (`app=True`)."""

    def __init__(
        self,
        *,
        db: str,
        symbols: list[str],
        ws_url: str,
        rest_url: str,
        log_path: str,
        started: float,
        app: bool = False,
        cwd: str | None = None,
    ) -> None:
        self.db, self.symbols, self.ws_url, self.rest_url = db, symbols, ws_url, rest_url
        self.log_path, self.started, self.app, self.cwd = log_path, started, app, cwd
        self.proc: asyncio.subprocess.Process | None = None
        self.pid = 0  # the recorder's (or app's) own pid; under xvfb-run the wrapper's child
        self.usage = Usage()
        self.exit_codes: list[int] = []  # of every run that ended (-9 for the kill)
        self.starts: list[float] = []  # epoch seconds of each start
        self._pumps: set[asyncio.Task] = set()
        self._log = open(log_path, "ab", buffering=0)  # noqa: SIM115 - open for the soak's life, closed in stop()
        self._sampler: asyncio.Task | None = None

    def command(self) -> list[str]:
        endpoints = ["--ws-url", self.ws_url, "--rest-url", self.rest_url, "--db", self.db]
        if self.app:
            app = [sys.executable, "-m", "gui.entry", *endpoints, "--record", ",".join(self.symbols)]
            return ["xvfb-run", "-a", "-s", "-screen 0 1440x900x24", *app, "--log-level", "INFO"]
        return [
            sys.executable, "-m", "gui.entry", "record", "--symbols", ",".join(self.symbols), *endpoints,
            "--status-every", "60", "--log-level", "INFO",
        ]  # fmt: skip

    async def start(self) -> None:
        self.starts.append(time.time())
        self._log.write(f"==== start {time.strftime('%H:%M:%S')} {' '.join(self.command())}\n".encode())
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=self.cwd
        )
        self.pid = await self._own_pid(self.proc.pid)
        for stream in (self.proc.stdout, self.proc.stderr):
            self._pumps.add(asyncio.get_running_loop().create_task(self._pump(stream)))
        if self._sampler is None:
            self._sampler = asyncio.get_running_loop().create_task(self._sample())

    async def _own_pid(self, pid: int) -> int:
        """The pid of the Python process: the child itself, or the one xvfb-run starts (its own subshells carry the
        same arguments in their command line, so the match is on the interpreter, not on the arguments)."""
        if not self.app:
            return pid
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        if child.cmdline()[:3] == [sys.executable, "-m", "gui.entry"]:
                            return child.pid
            await asyncio.sleep(0.1)
        raise RuntimeError("the app did not start under xvfb-run within 30 s")

    def _end_wrapper(self) -> None:
        """After the app: its Xvfb and xvfb-run itself, which do not always go by themselves."""
        assert self.proc is not None
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    child.terminate()
        with contextlib.suppress(ProcessLookupError):
            self.proc.terminate()

    async def _pump(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        while line := await stream.readline():
            self._log.write(line)
            if self.app and (match := LAG_LINE.search(line)):
                t = time.time() - self.started
                self.usage.loop_lag.append((round(t, 1), float(match[2]), float(match[3])))

    async def _sample(self) -> None:
        process: psutil.Process | None = None
        while True:
            try:
                if process is None or process.pid != self.pid:
                    process = psutil.Process(self.pid)
                    process.cpu_percent(None)  # the first call only sets the baseline
                else:
                    rss = process.memory_info().rss / 2**20
                    cpu = process.cpu_percent(None)
                    if rss > 0:  # 0 while the process is exiting
                        t = round(time.time() - self.started, 1)
                        self.usage.samples.append((t, round(rss, 1), round(cpu, 1)))
            except psutil.Error:
                process = None  # between a kill and the restart
            await asyncio.sleep(SAMPLE_EVERY)

    async def kill9(self) -> float:
        """SIGKILL the recorder now; returns the epoch second of the kill."""
        assert self.proc is not None
        at = time.time()
        psutil.Process(self.pid).send_signal(signal.SIGKILL)
        if self.app:  # the wrapper and its Xvfb go too
            self._end_wrapper()
        await self._wait()
        self.exit_codes[-1] = -signal.SIGKILL  # the app's own end, not its wrapper's
        return at

    def disk_full(self, full: bool) -> None:
        """Lower the recorder's file size limit to 1 byte (every growing write fails), or restore it."""
        _soft, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (1 if full else hard, hard))

    async def stop(self, timeout: float = 120) -> int:
        """SIGTERM the recorder or the app (it flushes its last tick and closes its session) and wait; SIGKILL it
        after `timeout`, reported as exit code -9. Returns the exit code."""
        if self.proc is not None and self.proc.returncode is None:
            killed = False
            with contextlib.suppress(psutil.Error):
                psutil.Process(self.pid).send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._gone(), timeout)
            except TimeoutError:
                killed = True
                with contextlib.suppress(psutil.Error):
                    psutil.Process(self.pid).kill()
            if self.app:  # xvfb-run exits with the app's code and takes its Xvfb along, or is ended
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self.proc.wait()), 10)
                if self.proc.returncode is None:
                    self._end_wrapper()
            await self._wait()
            if killed:
                self.exit_codes[-1] = -signal.SIGKILL
        if self._sampler is not None:
            self._sampler.cancel()
            self._sampler = None
        self._log.close()
        return self.exit_codes[-1] if self.exit_codes else 0

    async def _gone(self) -> None:
        """Until the recorder (or the app, not its wrapper) has exited."""
        while True:
            try:
                if psutil.Process(self.pid).status() == psutil.STATUS_ZOMBIE:
                    return
            except psutil.NoSuchProcess:
                return
            await asyncio.sleep(0.1)

    async def _wait(self) -> None:
        assert self.proc is not None
        code = await self.proc.wait()
        if self._pumps:
            await asyncio.wait(self._pumps)
            self._pumps.clear()
        self.exit_codes.append(code)
        self._log.write(f"==== exit {code} at {time.strftime('%H:%M:%S')}\n".encode())

    async def reap(self) -> None:
        """Collect a process that ended by itself (its exit code goes to `exit_codes`)."""
        await self._wait()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None
