"""The child process `record --archive` runs its archive passes in, so encoding an hour never holds the
recorder's GIL (a thread did, for 100-200 ms at a time: the recorder's one-second tick ran that late).

- One worker process ("spawn": a fresh interpreter, nothing of the recorder's state copied), started by the
  first pass and kept for the next ones, at the lowest CPU priority. It opens the database itself as a RocksDB
  secondary instance, catching up with the recorder (the writer) before each pass.
- The archive location goes to it once, pickled through its pipe (S3 credentials included, never logged);
  the follower's state goes with each pass and comes back in the result (core/archive/follow_pass.py).
- It ignores SIGINT: a Ctrl-C in the terminal reaches the whole process group, and the recorder decides when
  the worker stops (after the hour in flight; or it is terminated, which leaves at most a staging object).
- A worker that died (killed, out of memory) fails the pass in flight with WorkerDied; the next pass starts a
  new one and logs it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from core.archive.follow_pass import FollowOptions, FollowState, PassResult, archive_pass
from core.archive.location import ArchiveLocation
from core.storage.store import SnapshotStorage, StorageError

log = logging.getLogger(__name__)


class WorkerDied(Exception):
    """The worker process ended during a pass (the pass's hours wait for the next one)."""


class PassWorker:
    """Runs `archive_pass` over the database at a path in one child process (parent side)."""

    def __init__(self, location: ArchiveLocation) -> None:
        self._location = location
        self._context = multiprocessing.get_context("spawn")
        self._stopping = self._context.RawValue("b", 0)  # shared memory: set by stop_soon, read between hours
        self._pid = self._context.RawValue("q", 0)  # the worker's pid, written by the worker as it starts
        self._pool: ProcessPoolExecutor | None = None
        self._scratch: str | None = None  # the worker's temporary directory (its secondary instance's files)
        self._dead: int | None = None  # the pid of a worker that died, until a new one is started

    @property
    def pid(self) -> int | None:
        """The running worker's pid (None before the first pass, or while it starts)."""
        return (self._pid.value or None) if self._pool is not None else None

    async def run(
        self, path: str, options: FollowOptions, state: FollowState, clock_offset: float
    ) -> PassResult:
        """One pass in the worker (started first when there is none). WorkerDied when it died during the pass;
        a `fatal` StorageError in the result when the database cannot be opened."""
        loop = asyncio.get_running_loop()
        args = (_pass_in_worker, path, options, state, clock_offset)
        try:
            future = loop.run_in_executor(self._started(), *args)
        except BrokenProcessPool:  # it died while idle: noticed now, replaced at once
            self._discard()
            future = loop.run_in_executor(self._started(), *args)
        try:
            return await future
        except BrokenProcessPool:
            pid = self._pid.value
            self._discard()
            raise WorkerDied(f"The archive worker process (pid {pid}) ended during a pass.") from None
        except asyncio.CancelledError:
            self.terminate()
            raise

    def stop_soon(self) -> None:
        """Make the pass in flight end after its current hour."""
        self._stopping.value = 1

    async def close(self) -> None:
        """Close the worker's database and let it exit (after the pass in flight)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        with contextlib.suppress(BrokenProcessPool, RuntimeError):
            await asyncio.wrap_future(pool.submit(_close_in_worker))
        await asyncio.to_thread(pool.shutdown, True)
        self._remove_scratch()

    def terminate(self) -> None:
        """End the worker now: an upload in flight leaves at most a staging object, never a partial hour file
        (the archiver publishes by an atomic move, and the next run removes stale staging)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if self._pid.value:
            with contextlib.suppress(OSError):
                os.kill(self._pid.value, signal.SIGTERM)
        pool.shutdown(wait=False, cancel_futures=True)
        self._remove_scratch()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            if self._dead is not None:
                log.warning("archive worker pid=%d died; starting a new one", self._dead)
                self._dead = None
            self._pid.value = 0
            self._scratch = tempfile.mkdtemp(prefix="depthbook-archive-worker-")
            self._pool = ProcessPoolExecutor(
                1,
                mp_context=self._context,
                initializer=_start_worker,
                initargs=(
                    self._location,
                    self._stopping,
                    self._pid,
                    logging.getLogger().getEffectiveLevel(),
                    self._scratch,
                ),
            )
        return self._pool

    def _discard(self) -> None:
        self._dead = self._pid.value or -1
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        self._remove_scratch()

    def _remove_scratch(self) -> None:
        """What a worker that did not close its database left (it did, when it exited cleanly)."""
        scratch, self._scratch = self._scratch, None
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


# ---- in the worker process ----

_worker: dict = {}  # location, stopping, storage (opened by the first pass)


def _start_worker(location: ArchiveLocation, stopping, pid, log_level: int, scratch: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the recorder stops the worker, not the terminal
    tempfile.tempdir = (
        scratch  # the secondary instance's directory goes here: the recorder removes it if we die
    )
    with contextlib.suppress(AttributeError, OSError):  # not allowed: the default priority
        os.nice(19)  # on busy cores the recorder gets the CPU first
    from core.logsetup import setup_logging

    setup_logging(log_level)
    _worker.update(location=location, stopping=stopping, storage=None)
    pid.value = os.getpid()


def _pass_in_worker(path: str, options: FollowOptions, state: FollowState, clock_offset: float) -> PassResult:
    storage = _worker["storage"]
    if storage is None:
        try:
            storage = _worker["storage"] = SnapshotStorage.open(path, mode="secondary")
        except StorageError as exc:
            return PassResult(state, error=exc, fatal=True)
    stopping = _worker["stopping"]
    return archive_pass(
        storage,
        _worker["location"],
        options,
        state,
        lambda: time.time() + clock_offset,
        lambda: bool(stopping.value),
    )


def _close_in_worker() -> None:
    storage, _worker["storage"] = _worker.get("storage"), None
    if storage is not None:
        storage.close()  # removes the secondary instance's directory
