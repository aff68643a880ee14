"""Archive while recording: each symbol-hour once it is complete, beside the recorder, without disturbing it.

`depthbook record --archive URL` runs one `ArchiveFollower` next to the recording session:
- every pass runs in a child process (core/archive/pass_worker.py: never on the event loop, never holding the
  recorder's GIL), which reads a secondary view of the database that catches up with the writer first;
- a pass uploads at most `max_hours` hours, oldest first, each verified as `depthbook archive` does
  (`Archiver.archive_hour`, core/archive/follow_pass.py); when work is left, the next pass waits three times as
  long as this one took, so catching up after a long outage uses at most about a quarter of one core;
- a pass that fails (the store is down, a network outage, the worker process was killed) is retried with
  capped, jittered exponential backoff; the recorder goes on recording meanwhile and the hours simply wait;
- `keep_from(symbol)` is the first second local retention must keep: everything before it is archived and
  verified, or has nothing to archive. The recorder's RetentionPolicy takes it, so retention deletes only
  verified hours: the worker reports them with each pass, and only then does `keep_from` move.
The first pass lists each symbol's archived hours once; after that the follower keeps count itself (its state
goes to the worker with each pass and comes back), so an idle pass costs a catch-up, a few counter reads and
no request to the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.archive.archiver import backoff
from core.archive.follow_pass import FollowOptions, FollowState, PassResult, archive_pass
from core.archive.location import ArchiveLocation
from core.archive.pass_worker import PassWorker, WorkerDied
from core.storage.store import SnapshotStorage

__all__ = ["ArchiveFollower", "FollowOptions", "FollowerStatus"]

log = logging.getLogger(__name__)


@dataclass
class FollowerStatus:
    archived: int = 0  # hours uploaded and verified by this run
    upgraded: int = 0  # version-1 day files rewritten as version 2 by this run
    bytes: int = 0
    pending: int = 0  # completed hours not archived yet
    failures: int = 0  # consecutive failed passes
    last_error: str | None = None
    passes: int = 0
    busy_seconds: float = 0.0  # wall time spent in passes

    def line(self, url: str) -> str:
        text = f"archive      {url} archived={self.archived} pending={self.pending}"
        if self.last_error:
            text += f" failing={self.failures} last_error={self.last_error}"
        return text


class ArchiveFollower:
    def __init__(
        self,
        location: ArchiveLocation,
        options: FollowOptions | None = None,
        now: Callable[[], float] = time.time,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.location = location
        self.options = options or FollowOptions()
        self.status = FollowerStatus()
        self.worker_pid: int | None = None  # the process the last pass ran in
        self._now = now
        self._on_error = on_error or (lambda sentence: None)
        self._state = FollowState()
        self._stopping = threading.Event()
        self._worker: PassWorker | None = None
        self._task: asyncio.Task | None = None
        self._wake: asyncio.Event | None = None  # set on stop: ends the pause between passes

    # ---- what retention may delete ----

    def keep_from(self, symbol: str) -> int:
        """The first second of `symbol` local retention must keep: before it, every hour is verified in the
        archive or holds nothing. 0 (keep everything) until a pass has looked at the symbol."""
        progress = self._state.symbols.get(symbol)
        return progress.done_before if progress is not None else 0

    # ---- one pass in this process (blocking) ----

    def run_pass(self, storage: SnapshotStorage) -> int:
        """Archive up to `max_hours` completed hours of an open database, oldest first, in the calling thread;
        returns how many completed hours still wait. ArchiveError when the archive cannot be reached or refuses
        an upload (nothing is lost: the hours wait)."""
        result = archive_pass(
            storage, self.location, self.options, self._state, self._now, self._stopping.is_set
        )
        self._apply(result)
        if result.error is not None:
            raise result.error
        return result.pending

    def _apply(self, result: PassResult) -> None:
        """Take what a pass did: from here on `keep_from` lets retention delete the hours it verified."""
        self._state = result.state
        self.worker_pid = result.worker_pid
        self.status.passes += 1
        self.status.busy_seconds += result.seconds
        self.status.archived += result.uploaded
        self.status.upgraded += result.upgraded
        self.status.bytes += result.bytes
        self.status.pending = result.pending

    # ---- running beside the recorder ----

    def start(self, storage_path: str) -> None:
        """Start following the database at `storage_path` (the recorder has it open as the writer)."""
        self._wake = asyncio.Event()
        self._worker = PassWorker(self.location)
        self._task = asyncio.get_running_loop().create_task(self._run(storage_path))

    async def stop(self, grace: float = 60.0) -> None:
        """Stop after the hour in flight (its upload is finished and verified, or left in staging); after
        `grace` seconds, terminate the worker (what it was uploading stays in staging, never published)."""
        self._stopping.set()
        if self._worker is not None:
            self._worker.stop_soon()
        if self._wake is not None:
            self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            log.warning("archive worker did not stop within %.0f s; terminating it", grace)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, storage_path: str) -> None:
        assert self._worker is not None
        try:
            await self._loop(storage_path)
        except BaseException:  # cancelled, or a bug: the worker must not outlive the follower
            self._worker.terminate()
            raise
        await self._worker.close()

    async def _loop(self, storage_path: str) -> None:
        delays: Iterator[float] | None = None
        while not self._stopping.is_set():
            try:
                result = await self._worker.run(
                    storage_path, self.options, self._state, self._now() - time.time()
                )
            except WorkerDied as exc:
                error: Exception | None = exc
            else:
                self._apply(result)
                error = result.error
                if result.fatal:
                    self._report(f"archiving stopped: {error}")
                    return
            if error is not None and self._stopping.is_set():
                return  # stopped meanwhile (a terminated worker, the pass cut short): nothing to retry
            if error is not None:
                self.status.failures += 1
                self.status.last_error = str(error)
                if delays is None:
                    delays = backoff(self.options.backoff_initial, self.options.backoff_max)
                    self._report(f"{error} The hours wait; retrying with backoff while recording goes on.")
                pause = next(delays)
                log.warning(
                    "archive pass failed failures=%d retry_in=%.1f error=%s",
                    self.status.failures,
                    pause,
                    error,
                )
            else:
                if delays is not None:
                    self._report(f"archiving to {self.location.url} works again.")
                delays = None
                self.status.failures, self.status.last_error = 0, None
                took = result.seconds  # the pass itself, not the worker's start
                pause = took * (1 / self.options.duty - 1) if result.pending else self.options.every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)

    def _report(self, sentence: str) -> None:
        log.info("archive follower: %s", sentence)
        self._on_error(sentence)
