"""One database written by several recorders: the app records spot and USDⓈ-M futures at once, one recorder per
market, into the one database it holds open (RocksDB allows one writer per database).

The store keeps one open session record per handle: a second `start_session` would end the first recorder's
record as "restarted", and the first recorder's `end_session` would end the record while the second still writes.
`SessionLedger` makes the record that of the database's recording as a whole: the first recorder to start opens
it, the symbols of every later one join it (`add_session_symbols`, stored names, so `usdm/BTCUSDT` beside
`BTCUSDT`), and the last one to stop ends it with its reason. Each recorder is handed its own `RecorderStorage`,
which is the shared storage except for those two calls, so the recorder needs no change.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from core.storage.sessions import SessionRecord
from core.storage.store import SnapshotStorage


class SessionLedger:
    """Which recorders of one storage have a share of its open session record."""

    def __init__(self, storage: SnapshotStorage) -> None:
        self.storage = storage
        self._holders: set[int] = set()  # id() of the RecorderStorage handles in the open session
        self._lock = threading.Lock()  # the recorders call from the storage's executor threads

    def handle(self) -> RecorderStorage:
        """The storage as one more recorder should see it."""
        return RecorderStorage(self)

    @property
    def holders(self) -> int:
        return len(self._holders)

    def join(self, handle: RecorderStorage, symbols: Iterable[str], ts: int) -> SessionRecord | None:
        symbols = list(symbols)
        with self._lock:
            if not self._holders:
                record = self.storage.start_session(symbols, ts)  # raises (full disk): not joined, retried
            else:
                self.storage.add_session_symbols(symbols)
                record = None
            self._holders.add(id(handle))
        return record

    def leave(self, handle: RecorderStorage, ts: int, reason: str) -> SessionRecord | None:
        with self._lock:
            if id(handle) not in self._holders:
                return None  # its start never reached the disk: nothing of it to end
            self._holders.discard(id(handle))
            if self._holders:
                return None  # another market still records into this session
            return self.storage.end_session(ts, reason)


class RecorderStorage:
    """The shared SnapshotStorage as one recorder sees it: every attribute is the storage's, except that its
    session record is shared through the ledger."""

    def __init__(self, ledger: SessionLedger) -> None:
        self._ledger = ledger
        self._storage = ledger.storage

    def __getattr__(self, name: str) -> Any:  # only called for what this class does not define
        return getattr(self._storage, name)

    def start_session(self, symbols: Iterable[str], ts: int) -> SessionRecord | None:
        return self._ledger.join(self, symbols, ts)

    def end_session(self, ts: int, reason: str) -> SessionRecord | None:
        return self._ledger.leave(self, ts, reason)
