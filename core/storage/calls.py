"""The database's blocking calls in flight: closing waits for them, and none starts once closing has begun.

The app runs its reads in the executor (`SnapshotStorage.run_blocking`). Cancelling the task that awaits one (the
app shutting down, another database opened, a view superseded) does not stop its thread, which goes on reading.
Closing RocksDB under a read in another thread is a use after free, whose outcome is anyone's guess. So closing
first refuses new calls, then waits for those running to end.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from core.storage.opening import StorageError

T = TypeVar("T")


class ClosedError(StorageError):
    """A call that was queued before the database closed and would have started after."""


class CallsInFlight:
    def __init__(self, what: str) -> None:
        self.what = what  # the sentence's subject: "The database at PATH"
        self._changed = threading.Condition()
        self._running = 0
        self._closing = False

    def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` (in the calling thread), counted; refused once closing has begun."""
        with self._changed:
            if self._closing:
                raise ClosedError(f"{self.what} was closed.")
            self._running += 1
        try:
            return fn()
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def close_after_them(self, close: Callable[[], None]) -> None:
        """Refuse new calls, wait for the running ones to end, then `close()`. Blocks: call it in a thread."""
        with self._changed:
            self._closing = True
            self._changed.wait_for(lambda: self._running == 0)
        close()
