"""Recorded snapshots in RocksDB (rocksdict, raw mode, zstd): the storage contract, plus Depthbook's records.

Column families and key layouts. All keys are ASCII; `TS` is the Unix second as exactly 10 digits, so the keys
of one symbol sort by time, and a range of one symbol is bounded by `SYMBOL:` and `SYMBOL;` (`;` follows `:`,
so `BTCUSD` never matches `BTCUSDT`).

    default   SYMBOL:TS         -> snapshot, MessagePack [bids, asks, update_id, timestamp]: the contract.
                                   Nothing else is ever written here: a contract reader sees only snapshots.
    meta      counter:SYMBOL    -> MessagePack [count, first_ts, last_ts] of that symbol's snapshots
    gaps      SYMBOL:TS         -> UTF-8 reason a second was not recorded: a GapReason value ("syncing", ...)
    sessions  TS:NNN            -> MessagePack [start_ts, [symbols], end_ts | nil, end_reason | nil];
                                   TS is the start second, NNN a 3-digit sequence within that second
    series    SYMBOL:TS         -> one per-second derived row, opaque bytes owned by the caller
    rollups   SYMBOL:TS         -> one row per minute the recorder watched whole (TS: the minute's start),
                                   opaque bytes owned by the caller (core.analysis.minute_rows)
    heat      SYMBOL:TS         -> the heatmap rollup row of a minute watched whole (TS: its start); `heat_hours`
                                   the same per hour; opaque bytes owned by the caller (core.analysis.heat_rollups)
    horizons  SYMBOL:TS         -> MessagePack [bids, asks]: the book's snapshot-horizon distance per side at that
                                   second, once a minute while recorded (core.storage.horizons)

The counters are written in the same WriteBatch as the snapshots they count, so they are exact after any
crash. A writer keeps them in memory; at open it checks each symbol's stored first/last against the default
column family and recounts by a scan when they differ or are missing (a database written by the reference
service has none).

Opening modes: "writer" holds RocksDB's lock (one per database); "read_only" is a view frozen at open;
"secondary" follows the writer after `catch_up()`; the last two also work where nothing can be written (a
read-only filesystem: core.storage.opening). Damaged records never fail a read: they are skipped, counted and
named in `self.damage` (core.storage.damage); a damaged counter is recounted (and rewritten by a writer).
Every method blocks the calling thread; from asyncio use `await storage.run_blocking(storage.method, ...)` or
the `a`-prefixed wrappers of the hot paths.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Literal, TypeVar

from rocksdict import ColumnFamily, Rdict, WriteBatch, WriteOptions

from core.storage import counters, keys
from core.storage.calls import CallsInFlight
from core.storage.counters import Counter
from core.storage.damage import DamageLog
from core.storage.gaps import GapReason, GapRecord
from core.storage.keys import MAX_TIMESTAMP, snapshot_key
from core.storage.opening import (  # noqa: F401  (StorageLockedError: imported from here by others)
    OpenedDatabase,
    StorageError,
    StorageLockedError,
    link_directory,
    open_database,
    remove_temporary,
)
from core.storage.options import StorageOptions
from core.storage.retention import plan_retention
from core.storage.sessions import SessionDecodeError, SessionRecord, pack_session, session_key, unpack_session
from core.storage.snapshot import OrderBookSnapshot, checked_snapshots, decode_range

log = logging.getLogger(__name__)

T = TypeVar("T")
OpenMode = Literal["writer", "read_only", "secondary"]

META_CF = "meta"
GAPS_CF = "gaps"
SESSIONS_CF = "sessions"
SERIES_CF = "series"
ROLLUPS_CF, HEAT_CF, HEAT_HOURS_CF, HORIZONS_CF = "rollups", "heat", "heat_hours", "horizons"
OWN_CFS = (META_CF, GAPS_CF, SESSIONS_CF, SERIES_CF, ROLLUPS_CF, HEAT_CF, HEAT_HOURS_CF, HORIZONS_CF)
# Keyed SYMBOL:TS beside the snapshots: retention deletes them too.
DERIVED_CFS = (GAPS_CF, SERIES_CF, ROLLUPS_CF, HEAT_CF, HEAT_HOURS_CF, HORIZONS_CF)

class SnapshotStorage:
    """The one handle on a Depthbook database. Writes are serialised by a lock; reads may run concurrently."""

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], mode: OpenMode = "writer", options: StorageOptions | None = None
    ) -> SnapshotStorage:
        return cls(path, mode, options)

    def __init__(
        self, path: str | os.PathLike[str], mode: OpenMode = "writer", options: StorageOptions | None = None
    ) -> None:
        if mode not in ("writer", "read_only", "secondary"):
            raise ValueError(f"unknown storage mode {mode!r}")
        self.path = str(path)
        self.mode = mode
        self.options = options or StorageOptions()
        self._write_lock = threading.Lock()
        self._counters: dict[str, Counter] = {}  # writer only: the authoritative counters
        self._stored_counters: dict[str, Counter] = {}  # writer only: those on disk (core.storage.counters)
        self._open_session: SessionRecord | None = None
        self._open_session_key: bytes | None = None
        self._opened: OpenedDatabase | None = None
        self.damage = DamageLog(self.path)
        self._closed = False
        self._write_options = WriteOptions()
        self._write_options.sync = self.options.sync_writes
        self._existing_cfs: set[str] = set()
        self._needs_reopen = False
        self._user_closed = False
        self._views: dict[str, Rdict] = {}  # column family -> Rdict bound to it (reads, single writes)
        self._handles: dict[str, ColumnFamily] = {}  # column family -> handle, for WriteBatch
        self._calls = CallsInFlight(f"The database at {self.path}")
        self._attach()
        if mode == "writer":
            try:
                self._close_interrupted_sessions()
            except BaseException:
                self.close()
                raise
        log.info("opened database path=%s mode=%s", self.path, mode)

    def _attach(self) -> None:
        """Open RocksDB and bind the column families and counters."""
        self._db = self._open_db()
        self._closed = False
        try:
            for name in OWN_CFS:
                if name in self._existing_cfs:
                    self._views[name] = self._db.get_column_family(name)
                    self._handles[name] = self._db.get_column_family_handle(name)
            if self.mode == "writer":
                self._load_counters()
        except BaseException:
            self.close()  # never leave the lock held by a half-opened handle
            raise

    def _reopen(self) -> None:
        """After a failed write RocksDB refuses every later write ("Writer has previous error"), even once
        the disk has room again. Closing and reopening clears that; what was committed is on disk."""
        self._release()
        self._attach()
        self._needs_reopen = False
        log.info("reopened database after a write error path=%s", self.path)

    # ---- opening and closing ----

    def _open_db(self) -> Rdict:
        self._opened = open_database(self.path, self.mode, self.options.rocksdb, OWN_CFS)
        self._existing_cfs = self._opened.families
        return self._opened.db

    def close(self) -> None:
        """Close the database; call it after pending calls finish. Safe to call twice."""
        if self._user_closed:
            return
        if self.mode == "writer" and not self._closed and not self._needs_reopen:
            self._store_counters()
        self._user_closed = True
        if not self._closed:
            self._release()
        self._remove_secondary_dir()
        self.damage.flush()
        log.info("closed database path=%s mode=%s", self.path, self.mode)

    def _release(self) -> None:
        """Close every handle, even when RocksDB reports an earlier error on close, so the LOCK goes."""
        self._closed = True
        # rocksdict keeps the lock while any column family view is open: close those first.
        for handle in [*self._views.values(), self._db]:
            try:
                handle.close()
            except Exception as exc:  # e.g. "Writer has previous error" after a full disk
                log.warning("error while closing database path=%s error=%s", self.path, exc)
        self._views.clear()
        self._handles.clear()

    def _remove_secondary_dir(self) -> None:
        if self._opened is not None:
            remove_temporary(self._opened)

    def __enter__(self) -> SnapshotStorage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def catch_up(self) -> None:
        """Secondary: see the writer's latest writes (about 1 ms). Writer: always current, nothing to do."""
        if self.mode == "read_only":
            raise StorageError(f"The database at {self.path} was opened read-only; open it as secondary to follow.")
        if self.mode == "secondary":
            try:
                if self._opened is not None and self._opened.link_dir is not None:
                    link_directory(self.path, self._opened.link_dir)  # the files the writer created since
                self._db.try_catch_up_with_primary()
            except Exception as exc:
                raise StorageError(f"Could not follow the database at {self.path}: {exc}.") from exc

    # ---- snapshots ----

    def put(self, symbol: str, ts: int, value: bytes) -> None:
        """Store one encoded snapshot (and its counter) atomically."""
        self.put_encoded([(symbol, ts, value)])

    def put_tick(
        self,
        snapshots: Sequence[OrderBookSnapshot],
        gaps: Sequence[GapRecord] = (),
        series_rows: Sequence[tuple[str, int, bytes]] | None = None,
    ) -> None:
        """One tick as one atomic WriteBatch: snapshots, gaps, (symbol, ts, bytes) series rows, counters."""
        rows = [(snap.symbol, snap.timestamp, snap.to_bytes()) for snap in snapshots]
        self.put_encoded(rows, gaps, series_rows or ())

    def get(self, symbol: str, ts: int) -> bytes | None:
        return self._db.get(snapshot_key(symbol, ts))

    def range(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(ts, value) of one symbol with start <= ts <= end, in time order."""
        return keys.scan(self._db, symbol, start, end)

    def snapshots(self, symbol: str, start: int, end: int, *, check_levels: bool = False) -> list[OrderBookSnapshot]:
        """The decoded snapshots of one symbol in [start, end], in time order. A damaged one is skipped,
        counted and named in `self.damage`, never failing the range. `check_levels=False` (the fast bulk read)
        checks each value's shape, not every level's types."""
        return decode_range(symbol, self.range(symbol, start, end), self.damage.snapshot, check_levels=check_levels)

    def iter_snapshots(self, symbol: str, start: int, end: int) -> Iterator[OrderBookSnapshot]:
        """Like `snapshots`, one at a time (for exports of any length), each checked level by level: a level
        that is not a pair of decimal strings makes its snapshot damaged too."""
        return checked_snapshots(symbol, self.range(symbol, start, end), self.damage.snapshot)

    def check_snapshots(self, symbol: str) -> int:
        """Read every snapshot of `symbol` and check it fully; returns how many are damaged (`self.damage`
        names them). Reads the whole symbol: `depthbook stats --check`."""
        collections.deque(self.iter_snapshots(symbol, 0, MAX_TIMESTAMP), maxlen=0)
        return self.damage.count(symbol)

    def seconds(self, symbol: str, start: int, end: int) -> Iterator[int]:
        """The recorded seconds of one symbol in [start, end], in order, without reading the values."""
        start, end = max(start, 0), min(end, MAX_TIMESTAMP)
        if start > end:
            return
        prefix = symbol.encode("ascii") + b":"
        upper = snapshot_key(symbol, end + 1) if end < MAX_TIMESTAMP else prefix[:-1] + b";"
        for key in keys.scan_keys(self._db, prefix, snapshot_key(symbol, start), upper):
            yield int(key[len(prefix) :])

    def count(self, symbol: str) -> int:
        if self.mode == "writer":
            counter = self._counters.get(symbol)
            return counter.count if counter else 0
        return self._checked_counter(symbol, self._stored_counter(symbol)).count

    def first_last(self, symbol: str) -> tuple[int, int] | None:
        """The first and last recorded second of a symbol, or None if it has no snapshot."""
        if self.mode != "writer":
            return keys.edges(self._db, symbol)
        counter = self._counters.get(symbol)
        return (counter.first, counter.last) if counter else None

    def symbols(self) -> list[str]:
        """Symbols with at least one snapshot, sorted."""
        return keys.symbols_in(self._db)

    def size_on_disk(self) -> int:
        """Bytes of every file in the database directory."""
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                with contextlib.suppress(FileNotFoundError):  # RocksDB may delete an obsolete file
                    total += os.stat(os.path.join(root, name)).st_size
        return total

    # ---- gaps and series ----

    def gaps(self, symbol: str, start: int, end: int) -> list[GapRecord]:
        view = self._views.get(GAPS_CF)
        if view is None:
            return []
        found = []
        for ts, stored in keys.scan(view, symbol, start, end):
            reason = GapReason.from_stored(stored)
            if reason is GapReason.UNKNOWN and not _is_utf8(stored):  # damaged, not a newer version's reason
                self.damage.record(GAPS_CF, symbol, snapshot_key(symbol, ts), f"gap reason is not UTF-8: {stored!r:.40}", ts)
            found.append(GapRecord(symbol, ts, reason))
        return found

    def series(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        view = self._views.get(SERIES_CF)
        return keys.scan(view, symbol, start, end) if view is not None else iter(())

    def rollups(self, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
        """(minute start, row) of the recorder's minute rollups in [start, end]; none in older databases."""
        view = self._views.get(ROLLUPS_CF)
        return keys.scan(view, symbol, start, end) if view is not None else iter(())

    # ---- recording sessions ----

    def start_session(self, symbols: Iterable[str], ts: int) -> SessionRecord:
        """Record that recording started; a session still open is ended first (reason "restarted")."""
        self._require_writer()
        with self._write_lock:
            if self._open_session is not None:
                self._end_session_locked(ts, "restarted")
            self._reopen_if_failed()  # after a failed write the views are gone until the database reopens
            view = self._views[SESSIONS_CF]  # a sequence number keeps two sessions of one second apart:
            key = next(k for k in (session_key(ts, seq) for seq in range(1000)) if view.get(k) is None)
            session = SessionRecord(ts, tuple(symbols))
            self._commit_single(SESSIONS_CF, key, pack_session(session))
            self._open_session, self._open_session_key = session, key
        log.info("recording session started timestamp=%s symbols=%s", ts, ",".join(session.symbols))
        return session

    def add_session_symbols(self, symbols: Iterable[str]) -> None:
        """Symbols switched on during the open session join its symbol list."""
        self._require_writer()
        with self._write_lock:
            session = self._open_session
            if session is None:
                return
            added = tuple(s for s in symbols if s not in session.symbols)
            if not added:
                return
            session = SessionRecord(session.start, session.symbols + added)
            self._commit_single(SESSIONS_CF, self._open_session_key, pack_session(session))
            self._open_session = session

    def end_session(self, ts: int, reason: str) -> SessionRecord | None:
        """End the session this handle started; None if there is none."""
        self._require_writer()
        with self._write_lock:
            return self._end_session_locked(ts, reason)

    def sessions(self) -> list[SessionRecord]:
        """Every recording session, oldest first."""
        return [session for _key, session in self._session_entries()]

    def _session_entries(self) -> list[tuple[bytes, SessionRecord]]:
        """(key, session) of every session record that decodes, oldest first; damaged ones are skipped."""
        view = self._views.get(SESSIONS_CF)
        entries = []
        for key, value in view.items() if view is not None else ():
            try:
                entries.append((key, unpack_session(value)))
            except SessionDecodeError as exc:
                self.damage.record(SESSIONS_CF, "-", key, str(exc))
        return entries

    def _end_session_locked(self, ts: int, reason: str) -> SessionRecord | None:
        if self._open_session is None:
            return None
        session = SessionRecord(self._open_session.start, self._open_session.symbols, ts, reason)
        self._commit_single(SESSIONS_CF, self._open_session_key, pack_session(session))
        self._open_session = self._open_session_key = None
        log.info("recording session ended timestamp=%s reason=%s", ts, reason)
        return session

    def _close_interrupted_sessions(self) -> None:
        """Sessions still open at writer open belong to a process that died: end them at their last data."""
        entries = self._session_entries()  # a damaged record is skipped (and left as it is)
        for index, (key, session) in enumerate(entries):
            if session.end is not None:
                continue
            following = entries[index + 1][1].start if index + 1 < len(entries) else MAX_TIMESTAMP
            lasts = [self._counters[symbol].last for symbol in session.symbols if symbol in self._counters]
            end = max(session.start, min(max(lasts), following)) if lasts else session.start
            record = SessionRecord(session.start, session.symbols, end, "interrupted")
            self._commit_single(SESSIONS_CF, key, pack_session(record))
            log.warning("recording session was interrupted start=%s end=%s", session.start, end)

    # ---- retention ----

    def delete_before(self, symbol: str, ts: int) -> int:
        """Delete a symbol's snapshots, gaps and series rows older than ts; returns the snapshots deleted."""
        self._require_writer()
        if ts <= 0:
            return 0
        prefix = symbol.encode("ascii") + b":"
        end_key = snapshot_key(symbol, ts) if ts <= MAX_TIMESTAMP else prefix[:-1] + b";"
        with self._write_lock:
            self._reopen_if_failed()
            deleted = sum(1 for _ in keys.scan_keys(self._db, prefix, prefix, end_key))
            batch = WriteBatch(raw_mode=True)
            batch.delete_range(prefix, end_key)
            for name in DERIVED_CFS:  # a writer has every one of them (created at open)
                batch.delete_range(prefix, end_key, self._handles[name])
            counter = self._counters.get(symbol)
            if counter is not None and deleted:
                remaining = keys.edges(self._db, symbol, from_key=end_key)
                counter = Counter(counter.count - deleted, remaining[0], counter.last) if remaining else None
                self._put_counter(batch, symbol, counter)
            self._commit(batch)
            if counter is None:
                self._counters.pop(symbol, None)
                self._stored_counters.pop(symbol, None)
            elif deleted:
                self._counters[symbol] = self._stored_counters[symbol] = counter
        if deleted:
            log.info("deleted old snapshots symbol=%s before=%s count=%s", symbol, ts, deleted)
        return deleted

    def apply_retention(self, now_ts: int, recording: Collection[str] = ()) -> int:
        """Apply the options' RetentionPolicy (off by default); returns the snapshots deleted. Only the
        symbols it covers (with `recording`, the stored names the recorder records now, when the policy says
        `recorded`); never more than it asks (core.storage.retention.plan_retention)."""
        self._require_writer()
        policy = self.options.retention.with_recording(recording)
        if not policy.enabled:
            return 0
        symbols = set(self.symbols())
        for name in DERIVED_CFS:
            symbols.update(keys.symbols_in(self._views[name]))
        edges = {symbol: (c.count, c.first, c.last) for symbol, c in self._counters.items()}
        deleted = 0
        for symbol, cutoff in plan_retention(policy, now_ts, sorted(symbols), edges, self.path).items():
            deleted += self.delete_before(symbol, cutoff)
            # Reclaim the space now rather than at RocksDB's next natural compaction.
            end = snapshot_key(symbol, min(max(cutoff, 0), MAX_TIMESTAMP))
            self._db.compact_range(symbol.encode("ascii") + b":", end)
        return deleted

    def memtable_bytes(self) -> dict[str, int]:
        """Bytes in RocksDB's memtables (written, not yet flushed) by column family ("default": the snapshots)."""
        size = "rocksdb.cur-size-all-mem-tables"
        return {name: v.property_int_value(size) or 0 for name, v in {"default": self._db, **self._views}.items()}

    # ---- asyncio: blocking calls run in the default executor, never on the loop ----

    async def run_blocking(self, fn: Callable[..., T], /, *args: object, **kwargs: object) -> T:
        call = functools.partial(self._calls.run, functools.partial(fn, *args, **kwargs))  # aclose waits for it
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def aput(self, symbol: str, ts: int, value: bytes) -> None:
        await self.run_blocking(self.put, symbol, ts, value)

    async def aput_tick(self, snapshots: Sequence[OrderBookSnapshot], gaps: Sequence[GapRecord] = ()) -> None:
        await self.run_blocking(self.put_tick, snapshots, gaps)

    async def aget(self, symbol: str, ts: int) -> bytes | None:
        return await self.run_blocking(self.get, symbol, ts)

    async def arange(self, symbol: str, start: int, end: int) -> list[tuple[int, bytes]]:
        """range() as a list: an iterator must not be consumed across threads."""
        return await self.run_blocking(lambda: list(self.range(symbol, start, end)))

    async def aclose(self) -> None:
        """Close once the calls in flight have ended (core.storage.calls); a call queued after fails."""
        await asyncio.get_running_loop().run_in_executor(None, self._calls.close_after_them, self.close)

    # ---- writing ----

    def put_encoded(
        self,
        rows: Sequence[tuple[str, int, bytes]],
        gaps: Sequence[GapRecord] = (),
        series_rows: Sequence[tuple[str, int, bytes]] = (),
        rollup_rows: Sequence[tuple[str, int, bytes] | tuple[str, str, int, bytes]] = (),
    ) -> None:
        """put_tick with the snapshots already encoded as (symbol, second, value): one atomic WriteBatch, with
        (symbol, minute start, bytes) minute rollup rows, or (family, symbol, start, bytes) rows of another."""
        self._require_writer()
        with self._write_lock:
            self._reopen_if_failed()
            batch = WriteBatch(raw_mode=True)
            # No local may hold a column family handle: a failed write's traceback keeps this frame, and a handle
            # keeps its database open, which the reopen after a full disk then finds locked.
            put, known, stored = batch.put, self._counters, self._stored_counters
            changed: dict[str, Counter] = {}
            at_once: set[str] = set()  # a second at or before the stored counter's last: not an append after it
            written: dict[tuple[str, int], bytes] = {}  # (symbol, second) -> its key: the series rows share them
            seconds: dict[int, bytes] = {}  # second -> its part of the keys (a tick's rows share one)
            for symbol, ts, value in rows:
                key = keys.key_prefix(symbol) + (seconds.get(ts) or seconds.setdefault(ts, keys.key_second(ts)))
                put(key, value)
                counter = changed.get(symbol) or known.get(symbol)
                if counter is not None and ts > counter.last:  # recording moves forward: nearly every row
                    changed[symbol] = Counter(counter.count + 1, counter.first, ts)  # after any stored checkpoint
                elif (counter is None or ts < counter.first  # a second before the first is new without a lookup
                        or ((symbol, ts) not in written and self._db.get(key) is None)):  # fmt: skip
                    changed[symbol] = counters.plus_one(counter, ts)
                    if symbol in stored and ts <= stored[symbol].last:
                        at_once.add(symbol)
                written[symbol, ts] = key
            checkpoints = {s: c for s, c in changed.items() if s in at_once or counters.must_store(stored.get(s), c)}
            for symbol, counter in checkpoints.items():
                self._put_counter(batch, symbol, counter)
            for gap in gaps:
                put(snapshot_key(gap.symbol, gap.timestamp), gap.reason.encode(), self._handles[GAPS_CF])
            for symbol, ts, value in series_rows:
                put(written.get((symbol, ts)) or snapshot_key(symbol, ts), value, self._handles[SERIES_CF])
            for *family, symbol, ts, value in rollup_rows:  # family: HEAT_CF or HEAT_HOURS_CF (heat_rollups)
                batch.put(snapshot_key(symbol, ts), value, self._handles[family[0] if family else ROLLUPS_CF])
            self._commit(batch)
            self._counters.update(changed)  # only once the batch is on disk
            stored.update(checkpoints)

    def _put_counter(self, batch: WriteBatch, symbol: str, counter: Counter | None) -> None:
        key = counters.counter_key(symbol)
        if counter is None:
            batch.delete(key, self._handles[META_CF])
        else:
            batch.put(key, counters.pack(counter), self._handles[META_CF])

    def _store_counters(self) -> None:
        """Store the counters whose checkpoint lags (a clean close): the next open then recounts nothing."""
        with self._write_lock:  # after a write still running (a close too early)
            behind = {s: c for s, c in self._counters.items() if self._stored_counters.get(s) != c}
            if not behind:
                return
            batch = WriteBatch(raw_mode=True)
            for symbol, counter in behind.items():
                self._put_counter(batch, symbol, counter)
            try:
                self._commit(batch)
            except StorageError as exc:  # readers count what the checkpoints lack: nothing is lost
                log.warning("could not store the counters at close path=%s error=%s", self.path, exc)
                return
            self._stored_counters.update(behind)

    def _reopen_if_failed(self) -> None:
        if self._user_closed:
            raise StorageError(f"The database at {self.path} is closed.")
        if self._needs_reopen:
            self._reopen()  # raises StorageError while the disk is still unusable; tried again next write

    def _commit_single(self, family: str, key: bytes, value: bytes) -> None:
        self._reopen_if_failed()
        batch = WriteBatch(raw_mode=True)
        batch.put(key, value, self._handles[family])
        self._commit(batch)

    def _commit(self, batch: WriteBatch) -> None:
        try:
            self._db.write(batch, self._write_options)
        except Exception as exc:  # rocksdict raises plain Exception for every RocksDB status
            self._needs_reopen = True
            if "No space left" in str(exc):
                raise StorageError(f"The disk holding {self.path} is full; free some space to keep recording.") from exc
            raise StorageError(f"Could not write to the database at {self.path}: {exc}.") from exc

    def _require_writer(self) -> None:
        if self.mode != "writer":
            raise StorageError(
                f"The database at {self.path} was opened {self.mode.replace('_', '-')}; it cannot be changed."
            )

    # ---- counters ----

    def _stored_counter(self, symbol: str) -> Counter | None:
        view = self._views.get(META_CF)
        return counters.read_one(view, symbol, self._counter_damaged) if view is not None else None

    def _counter_damaged(self, key: bytes, reason: str) -> None:
        name = key[len(counters.COUNTER_PREFIX) :]
        symbol = name.decode("ascii") if name.isascii() else "-"
        if self.damage.record(META_CF, symbol, key, reason) and symbol != "-":
            log.warning("recounting snapshots: the stored counter is damaged symbol=%s path=%s", symbol, self.path)

    def _checked_counter(self, symbol: str, stored: Counter | None) -> Counter:
        return counters.checked(self._db, symbol, stored)

    def _load_counters(self) -> None:
        view = self._views.get(META_CF)
        damaged: list[bytes] = []

        def on_damaged(key: bytes, reason: str) -> None:
            damaged.append(key)
            self._counter_damaged(key, reason)

        stored = counters.read_all(view, on_damaged) if view is not None else {}
        batch = WriteBatch(raw_mode=True)
        symbols = self.symbols()
        for symbol in symbols:
            counter = counters.checked(self._db, symbol, stored.get(symbol))
            if counter != stored.get(symbol):
                log.info("counted snapshots symbol=%s count=%s", symbol, counter.count)
                self._put_counter(batch, symbol, counter)
            self._counters[symbol] = self._stored_counters[symbol] = counter
        for symbol in stored.keys() - set(symbols):  # its snapshots were deleted by someone else
            self._put_counter(batch, symbol, None)
        rewritten = {counters.counter_key(symbol) for symbol in symbols}
        for key in damaged:  # a counter is derived data: the recount replaced it, or there is nothing to count
            if key not in rewritten:
                batch.delete(key, self._handles[META_CF])
        if damaged:
            log.warning("rebuilt damaged counters from the snapshots count=%d path=%s", len(damaged), self.path)
        if not batch.is_empty():
            self._commit(batch)


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

