"""Write latency as another process sees it: a secondary handle on the recorder's database, caught up every 0.1 s.

For each recorded second, the delay from the second's boundary (when the recorder captures it) to the moment a
reader can see its snapshots: the capture's wake-up, the encoding, the WriteBatch and the catch-up, with 0.1 s
resolution. A second written late (after a failed write, from the recorder's backlog) shows its real lateness.

Runs in a thread: RocksDB calls block. The recorder is killed and restarted during a soak; a catch-up that fails
reopens the secondary.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from core.storage.store import SnapshotStorage

log = logging.getLogger(__name__)

POLL_EVERY = 0.1  # seconds


class WriteWatcher:
    def __init__(self, db: str, symbols: list[str]) -> None:
        self.db, self.symbols = db, symbols
        self.seen: dict[int, float] = {}  # recorded second -> epoch time it was first readable
        self.reopens = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="soak-write-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def latencies(self, exclude: list[tuple[float, float]] = ()) -> list[float]:
        """Seconds from each recorded second's boundary to its being readable, leaving out those whose second
        falls in one of the `exclude` windows (epoch seconds)."""
        return [
            seen - ts for ts, seen in sorted(self.seen.items()) if not any(a <= ts <= b for a, b in exclude)
        ]

    def _run(self) -> None:
        last: dict[str, int] = {}
        storage: SnapshotStorage | None = None
        while not self._stop.wait(POLL_EVERY):
            try:
                if storage is None:
                    storage = SnapshotStorage.open(self.db, "secondary")
                    self.reopens += 1
                storage.catch_up()
                now = time.time()
                for symbol in self.symbols:
                    edges = storage.first_last(symbol)
                    if edges is None or edges[1] <= last.get(symbol, 0):
                        continue
                    for ts in storage.seconds(symbol, last.get(symbol, edges[0] - 1) + 1, edges[1]):
                        self.seen.setdefault(ts, now)
                    last[symbol] = edges[1]
            except Exception as exc:  # the database is not there yet, or its writer was killed
                log.debug("secondary catch-up failed, reopening: %s", exc)
                if storage is not None:
                    with contextlib.suppress(Exception):
                        storage.close()
                storage = None
        if storage is not None:
            storage.close()
