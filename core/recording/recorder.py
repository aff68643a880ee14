"""The persistence task: one top-N snapshot per recorded symbol per wall-clock second.

Each tick captures every recorded symbol on the event loop (the books are mutated there, so a capture
is consistent), then writes all of them as ONE WriteBatch in an executor so the loop never blocks.
A symbol whose book is not live gets a gap record with the reason instead of a stale snapshot, and so does a
live book whose top levels are not verified (they reach beyond its REST snapshot's horizon, where the exchange may
have levels the book never heard of: docs/SNAPSHOT_HORIZON.md): "unverified", never a wrong snapshot. The recorder
tells the manager which symbols it records (`set_priority`), so that their snapshots come first and their top
`depth` levels are the ones the manager keeps verified.

Ticks are aligned to whole seconds of the clock (the wall clock, or a test's virtual one: core.recording.clock)
and computed from it each time, so the schedule never drifts; a tick that wakes more than a second late records the seconds it slept through as
gaps ("late"), never as copies. A capture never waits for the previous second's write: while a write is in flight
(a slow disk, a busy executor) the seconds due meanwhile are captured on time and queued, and go out together as
soon as it ends. A failed write keeps its ticks in a bounded backlog that goes out with the next successful
write, so a short I/O failure loses nothing.

A book whose last update id is the one of its previous snapshot (most of a long-tailed market, each second)
reuses that snapshot's work: its top levels, its encoding up to the timestamp, its series row (`_LastCapture`).
A resync, a refresh, a gap or stopping the symbol drops the entry, so nothing stale is ever reused.

Each tick's batch also carries the minute rollup rows of the minutes just over (core.analysis.minute_rows), so
the history browser opens months of recording without reading every second back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import islice

from core.analysis.minute_rows import MINUTE, MinuteRollups
from core.analysis.series import restamp_row, series_row_bytes
from core.feed.manager import OrderBookManager
from core.market.book_sync import SyncReason, SyncState
from core.market.markets import SPOT, Market
from core.recording.clock import SYSTEM_CLOCK, Clock, as_clock
from core.storage.gaps import GapReason, GapRecord
from core.storage.horizons import pack_horizon
from core.storage.keys import storage_symbol
from core.storage.snapshot import SNAPSHOT_DEPTH, OrderBookSnapshot, stamped
from core.storage.store import HORIZONS_CF, SnapshotStorage

log = logging.getLogger(__name__)

RETENTION_EVERY = 3600.0  # seconds between retention passes
BACKLOG_TICKS = 600  # ten minutes of failed ticks kept for retry; older ones are dropped and counted
FIRST_HORIZONS_PER_TICK = 100  # a whole market going live at once gets its first horizon rows over a few seconds


@dataclass(slots=True)
class RecordingStatus:
    """What one recorded symbol did in this process (the store holds the totals)."""

    symbol: str
    recording: bool = True
    stored: int = 0
    gaps: int = 0  # seconds missed once recording was under way
    waiting: int = 0  # seconds before the first snapshot since recording was switched on (book syncing)
    started: bool = False  # a snapshot was stored since recording was last switched on
    started_at: int | None = None  # the capture second of the first of them
    last_stored: int | None = None  # capture second of the last snapshot on disk
    last_gap_reason: GapReason | None = None
    unverified: int = 0  # gap records "unverified": the live book's top reached beyond its snapshot horizon


@dataclass(slots=True)
class _Tick:
    timestamp: int
    snapshots: list[OrderBookSnapshot] = field(default_factory=list)
    gaps: list[GapRecord] = field(default_factory=list)
    horizons: list[tuple[str, str, int, bytes]] = field(default_factory=list)  # (family, symbol, second, row)


@dataclass(slots=True)
class _LastCapture:
    """A symbol's last snapshot taken from its book, for the seconds its book does not change.

    Later seconds' snapshots share its levels (`OrderBookSnapshot.at`): the executor knows them by identity
    (`shares_levels`) and then reuses `untimed` and `row`, which it fills the first time it encodes them."""

    book: object  # the book itself: a symbol subscribed anew has a new one, its counters from zero
    update_id: int
    marks: tuple[int, int]  # the book's resyncs and refreshes: either may change the levels, not the update id
    depth: int
    snap: OrderBookSnapshot
    untimed: bytes | None = None  # OrderBookSnapshot.untimed_bytes
    row: bytes | None = None  # its series row as stored, at the second it was taken (`restamp_row`)


def _live_book(manager, symbol: str) -> tuple[object, tuple[int, int] | None] | None:
    """OrderBookManager.live_book of a stand-in manager that lacks it: its book if live, and the rebuilds if it
    tells them (None: the recorder reuses nothing)."""
    book = manager.book(symbol)
    if book is None or not manager.is_live(symbol):
        return None
    rebuilds = getattr(manager, "rebuilds", None)
    return book, rebuilds(symbol) if rebuilds is not None else None


def gap_reason(state: SyncState | None, reason: SyncReason | None = None) -> GapReason:
    """The gap record's reason for a symbol whose book is not live: its sync state, and why it is in it.

    No book (`state` None): NOT_SUBSCRIBED. A stale book: DISCONNECTED when the connection dropped, STALE when
    its stream went silent. Any other state (buffering, syncing, resyncing): SYNCING."""
    if state is None:
        return GapReason.NOT_SUBSCRIBED
    if state is SyncState.STALE:
        return GapReason.DISCONNECTED if reason is SyncReason.DISCONNECTED else GapReason.STALE
    return GapReason.SYNCING


class SnapshotRecorder:
    """Records the set of symbols given by `start_recording` / `stop_recording`, changeable at runtime."""

    def __init__(
        self,
        storage: SnapshotStorage,
        manager: OrderBookManager,
        symbols: Iterable[str] = (),
        *,
        interval: int = 1,
        depth: int = SNAPSHOT_DEPTH,
        clock: Clock | Callable[[], float] = SYSTEM_CLOCK,
    ) -> None:
        if interval < 1:
            raise ValueError("the snapshot interval is a whole number of seconds, at least 1")
        self.storage = storage
        self.manager = manager
        self.interval = interval
        self.depth = depth
        self.clock = as_clock(clock)  # now() and sleep_until(): the wall clock, or virtual time in tests
        self._recording: dict[str, RecordingStatus] = {}
        self._session_symbols: set[str] = set()  # what the storage's open session lists
        self._session_start: int | None = None  # set while the session record of a started run is not written yet
        self._backlog: deque[_Tick] = deque()
        self.write_errors = 0
        self.ticks_lost = 0
        self.last_error: str | None = None
        self.ticks = 0
        self._minute_stored = 0
        self._minute_started = 0.0
        self.minutes = MinuteRollups(interval)  # the minute each symbol is in, for its rollup row
        self._rollup_rows: list[tuple[str, int, bytes]] = []  # rows of minutes over, until a write succeeds
        self.reuse = True  # reuse an unchanged book's last snapshot (off: everything from scratch, for comparison)
        self._last: dict[str, _LastCapture] = {}
        self._horizon_due: set[str] = set()  # recorded anew: a horizon row at the first live tick (`_horizon_rows`)
        for symbol in symbols:
            self.start_recording(symbol)

    @property
    def market(self) -> Market:
        """The manager's market: its symbols are stored under `storage_symbol(market, symbol)`."""
        return self.manager.config.market

    def _stored(self, symbols: Iterable[str]) -> list[str]:
        return [storage_symbol(self.market, s) for s in symbols]

    # --- the set of recorded symbols (takes effect at the next tick) ----------------------------------

    def start_recording(self, symbol: str) -> None:
        symbol = symbol.strip().upper()
        status = self._recording.get(symbol)
        if status is None:
            self._recording[symbol] = RecordingStatus(symbol)
        elif not status.recording:
            status.recording = True
            status.started, status.started_at = False, None
        self._horizon_due.add(symbol)
        self._set_priority(symbol, True)
        log.info("recording on symbol=%s", symbol)

    def stop_recording(self, symbol: str) -> None:
        symbol = symbol.strip().upper()
        status = self._recording.get(symbol)
        if status is not None and status.recording:
            status.recording = False
            self._last.pop(symbol, None)
            self._horizon_due.discard(symbol)
            self._set_priority(symbol, False)
            log.info("recording off symbol=%s", symbol)

    def _set_priority(self, symbol: str, high: bool) -> None:
        # Stand-ins for the manager (benchmarks, the app's tests) may not have it: nothing to prioritise there.
        set_priority = getattr(self.manager, "set_priority", None)
        if set_priority is not None:
            set_priority(symbol, high, self.depth)

    def set_interval(self, interval: int) -> None:
        """Seconds between snapshots from the next boundary of the new interval on (the app's settings)."""
        if interval < 1:
            raise ValueError("the snapshot interval is a whole number of seconds, at least 1")
        self.interval = interval
        self.minutes.ticks_per_minute = MINUTE // interval if MINUTE % interval == 0 else 0

    def set_depth(self, depth: int) -> None:
        """Levels per side of each snapshot from the next tick on; the manager keeps that many verified."""
        self.depth = depth
        for symbol in self.recorded_symbols:
            self._set_priority(symbol, True)

    def is_recording(self, symbol: str) -> bool:
        status = self._recording.get(symbol)
        return bool(status and status.recording)

    @property
    def recorded_symbols(self) -> list[str]:
        return [s for s, st in self._recording.items() if st.recording]

    def status(self, symbol: str) -> RecordingStatus | None:
        return self._recording.get(symbol)

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    # --- one tick ----------------------------------------------------------------------------------------

    def capture(self, timestamp: int) -> _Tick:
        """Capture every recorded symbol at `timestamp` (runs on the loop: books don't change meanwhile)."""
        tick = _Tick(timestamp)
        # In key order: the batch then inserts each family's keys in order, and RocksDB's memtable (a skip list)
        # finds each place near the last one, still in the cache (`record --all` follows exchangeInfo's order).
        recorded = sorted(self.recorded_symbols)
        # Looked up once a tick, not once a symbol: 1,500 symbols a second at the whole market.
        manager, depth, snapshots, reuse = self.manager, self.depth, tick.snapshots, self.reuse
        # A stand-in manager (benchmarks, the app's tests) may lack `live_book`, and not tell the rebuilds: then
        # nothing is reused.
        live_book = getattr(manager, "live_book", None) or partial(_live_book, manager)
        debug = log.isEnabledFor(logging.DEBUG)
        for symbol in recorded:
            found = live_book(symbol)
            if found is None:
                status = manager.status(symbol) if manager.book(symbol) is not None else None
                reason = gap_reason(status.state, status.reason) if status else gap_reason(None)
                tick.gaps.append(GapRecord(symbol, timestamp, reason))
                self._last.pop(symbol, None)
                continue
            book, marks = found
            if book.is_empty():
                log.warning("skipping snapshot: empty order book symbol=%s timestamp=%d", symbol, timestamp)
                tick.gaps.append(GapRecord(symbol, timestamp, GapReason.EMPTY_BOOK))
                self._last.pop(symbol, None)
                continue
            last = self._unchanged(symbol, book, marks) if reuse else None
            if last is not None:  # verified when it was taken, and the book has not changed since
                snapshots.append(last.snap.at(timestamp))
                continue
            if not book.verified(depth):
                # The exchange may hold levels the book never heard of among the top: store nothing wrong.
                log.info(
                    "skipping snapshot: top %d beyond the snapshot horizon symbol=%s timestamp=%d update_id=%d",
                    depth, symbol, timestamp, book.last_update_id,
                )  # fmt: skip
                tick.gaps.append(GapRecord(symbol, timestamp, GapReason.UNVERIFIED))
                self._last.pop(symbol, None)
                continue
            # Only the copy of the top levels happens on the loop; encoding happens in the executor.
            snap = OrderBookSnapshot.from_orderbook(book, timestamp, depth)
            if marks is not None and reuse:  # remembered for the seconds the book does not change (`_unchanged`)
                self._last[symbol] = _LastCapture(book, book.last_update_id, marks, depth, snap)
            snapshots.append(snap)
            if debug:
                log.debug("captured snapshot symbol=%s timestamp=%d update_id=%d", symbol, timestamp, snap.update_id)
        tick.horizons = self._horizon_rows(timestamp, recorded)
        return tick

    def _horizon_rows(self, timestamp: int, recorded: list[str]) -> list[tuple[str, str, int, bytes]]:
        """The horizon distances of a sixtieth of the recorded live books (each once a minute, for `stats`):
        counting a deep book's levels can take a thousand steps, too many for 1,500 books in one second. A book
        recorded anew gets its first row as soon as it is live, so a short recording shows it too."""
        rows = []
        first = list(islice((s for s in self._horizon_due if self.manager.is_live(s)), FIRST_HORIZONS_PER_TICK))
        for symbol in dict.fromkeys([*first, *recorded[timestamp % 60 :: 60]]):
            book = self.manager.book(symbol)
            if book is not None and self.manager.is_live(symbol):
                bids, asks = book.horizon_distance(self.depth)
                rows.append((HORIZONS_CF, storage_symbol(self.market, symbol), timestamp, pack_horizon(bids, asks)))
                self._horizon_due.discard(symbol)
        return rows

    def _unchanged(self, symbol: str, book, marks: tuple[int, int] | None) -> _LastCapture | None:
        """The symbol's last capture, if its book has not changed since (same book, update id, depth, and resyncs
        and refreshes: `marks`, None when they are not known, and then nothing is reused): its levels and its
        verification still hold."""
        last = self._last.get(symbol) if marks is not None else None
        if last is None or last.book is not book or last.update_id != book.last_update_id or last.depth != self.depth:
            return None
        return last if last.marks == marks else None

    async def write(self, tick: _Tick | None = None) -> bool:
        """Write this tick together with any backlog in one batch (no tick: the backlog alone). False (and kept)
        on failure. Ticks queued while it runs stay in the backlog for the next write."""
        if tick is not None:
            self._backlog.append(tick)
        else:
            tick = self._backlog[-1] if self._backlog else _Tick(int(self.clock.now()))
        while len(self._backlog) > BACKLOG_TICKS:
            dropped = self._backlog.popleft()
            self.ticks_lost += 1
            log.error(
                "dropped unwritten tick timestamp=%d after %d failed ticks", dropped.timestamp, BACKLOG_TICKS
            )
        pending = list(self._backlog)
        snapshots = [s for t in pending for s in t.snapshots]
        gaps = [g for t in pending for g in t.gaps]
        horizons = [h for t in pending for h in t.horizons]
        try:
            if self._session_start is not None:  # its first write failed: the session is recorded before its data
                await self._start_session()
            joined = [s for s in self.recorded_symbols if s not in self._session_symbols]
            if joined:  # switched on since the session started: the session's symbol list says so
                await self.storage.run_blocking(self.storage.add_session_symbols, self._stored(joined))
                self._session_symbols.update(joined)
            snapshots, gaps = await self.storage.run_blocking(
                _encode_and_write, self.storage, snapshots, gaps, self.market,
                timestamp=tick.timestamp, minutes=self.minutes, rollup_rows=self._rollup_rows, last=self._last,
                horizons=horizons,
            )  # fmt: skip
        except Exception as exc:
            self.write_errors += 1
            self.last_error = str(exc)
            log.error(
                "failed to persist snapshots timestamp=%d symbols=%s backlog=%d error=%s",
                tick.timestamp, ",".join(s.symbol for s in tick.snapshots) or "-", len(self._backlog), exc,
            )  # fmt: skip
            return False
        for _ in pending:  # only what this batch held: ticks queued meanwhile wait for the next write
            self._backlog.popleft()
        if self.last_error is not None:
            log.info("writes succeed again; backlog written ticks=%d", len(pending))
        self.last_error = None
        debug = log.isEnabledFor(logging.DEBUG)
        for snap in snapshots:
            if debug:
                log.debug("stored snapshot symbol=%s timestamp=%d", snap.symbol, snap.timestamp)
            status = self._recording.get(snap.symbol)
            if status is not None:
                status.stored += 1
                status.started = True
                status.started_at = min(status.started_at or snap.timestamp, snap.timestamp)
                status.last_stored = max(status.last_stored or 0, snap.timestamp)
        for gap in gaps:
            status = self._recording.get(gap.symbol)
            if status is None:
                continue
            if gap.reason is GapReason.UNVERIFIED:
                status.unverified += 1
            # Every missed second has its gap record on disk. In the status, the seconds before the first
            # snapshot (the book's first sync after switching on) are not counted as missed data, also when a
            # backlog writes them in one batch with that snapshot.
            if status.started_at is not None and gap.timestamp > status.started_at:
                status.gaps += 1
                status.last_gap_reason = gap.reason
            else:
                status.waiting += 1
        self._minute_stored += len(snapshots)
        return True

    async def tick(self, timestamp: int) -> None:
        await self.write(self.capture(timestamp))
        self.ticks += 1
        self._log_minute_summary()

    # --- the loop ------------------------------------------------------------------------------------------

    async def run(self, shutdown: asyncio.Event) -> None:
        """Tick on the boundaries of `self.clock`'s seconds (the wall clock unless another was given) until
        `shutdown` is set; the tick in flight always completes."""
        started = self.clock.now()
        self._session_start = int(started)
        try:
            await self._start_session()
        except Exception as exc:  # a full disk at start: the session record goes out with the first batch that can
            self.write_errors += 1
            self.last_error = str(exc)
            log.error("could not write the recording session's start; retried with each tick error=%s", exc)
        retention = asyncio.get_running_loop().create_task(self._retention_loop(shutdown))
        self._minute_started = self.clock.now()
        # The first tick is the second after the run began, not after the session record was written: seconds a
        # slow write (a busy disk) took are then ticked late or recorded as late gaps, never skipped silently.
        next_ts = self._next_boundary(started)
        writing: asyncio.Task | None = None  # the write in flight; ticks due meanwhile queue in the backlog
        queued = 0
        reason = "stopped"
        try:
            while not shutdown.is_set():
                # Wait for the next boundary. A write in flight is awaited up to it, no longer: the next
                # second is captured on time even when the disk is slow, and written once the write ends.
                if writing is not None and await self._write_ends_before(writing, next_ts, shutdown):
                    writing.result()
                    writing = None
                    if queued:  # seconds captured while it ran: out right away, not a second later
                        writing, queued = asyncio.ensure_future(self.write()), 0
                        continue
                if writing is None and await self.clock.sleep_until(next_ts, shutdown):
                    break
                if shutdown.is_set():
                    break
                now = self.clock.now()
                due = int(now) - (int(now) % self.interval)
                if due < next_ts:  # woke a hair early, or the wall clock stepped back: never redo a second
                    # (the next boundary of the interval, which set_interval may have changed meanwhile)
                    next_ts = max(self._next_boundary(now), self._next_boundary(next_ts - 1))
                    continue
                if due - next_ts >= self.interval:  # the loop slept through whole ticks
                    self._record_missed(next_ts, due)
                tick = self.capture(due)
                self.ticks += 1
                if writing is None:
                    writing = asyncio.ensure_future(self.write(tick))
                else:
                    self._backlog.append(tick)
                    queued += 1
                self._log_minute_summary()
                next_ts = self._next_boundary(due)  # due + interval, aligned anew after set_interval
        except asyncio.CancelledError:
            reason = "cancelled"
            raise
        finally:
            retention.cancel()
            if writing is not None:  # a cancellation waits for the write in flight: its batch still reaches the disk
                await asyncio.wait({writing})
            end = int(self.clock.now())
            try:
                if self._backlog:  # ticks queued behind the last write, or kept by a failed one
                    await self.write()
                # A minute whose last tick was the last one is whole: its row goes out now.
                self._rollup_rows.extend(self.minutes.finish_before(end // 60 * 60 + 60))
                if self._rollup_rows:
                    await self.storage.run_blocking(self.storage.put_encoded, [], [], [], self._rollup_rows)
                await self.storage.run_blocking(self.storage.end_session, end, reason)
            except Exception as exc:
                log.error("could not close the recording session error=%s", exc)
            log.info(
                "snapshot persistence task shutting down ticks=%d write_errors=%d",
                self.ticks,
                self.write_errors,
            )

    async def _write_ends_before(self, writing: asyncio.Task, deadline: float, shutdown: asyncio.Event) -> bool:
        """Wait for `writing` to end, but no later than `deadline` on the clock; True if it ended.

        The recorder itself does not sleep on the clock meanwhile (a helper task does), so a test's virtual clock
        sees it at work until its write ends or the deadline comes."""
        if writing.done():
            return True
        boundary = asyncio.ensure_future(self.clock.sleep_until(deadline, shutdown))
        try:
            await asyncio.wait({writing, boundary}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            boundary.cancel()
        return writing.done()

    async def _start_session(self) -> None:
        """Write the session record of the run that started at `_session_start`."""
        symbols = list(self.recorded_symbols)
        await self.storage.run_blocking(self.storage.start_session, self._stored(symbols), self._session_start)
        self._session_symbols = set(symbols)
        self._session_start = None

    async def _retention_loop(self, shutdown: asyncio.Event) -> None:
        """Delete snapshots older than the storage's retention (off unless configured), hourly; a retention set
        while recording (the app's settings) applies at the next pass. A policy that covers what is recorded
        (`record --all`) waits for the first recorded symbol: until then it would cover nothing for an hour."""
        while not shutdown.is_set() and self.storage.options.retention.recorded and not self.recorded_symbols:
            await self.clock.sleep_until(self.clock.now() + 1, shutdown)
        while not shutdown.is_set():
            try:
                deleted = 0
                if self.storage.options.retention.enabled:
                    deleted = await self.storage.run_blocking(
                        self.storage.apply_retention, int(self.clock.now()), self._stored(self.recorded_symbols)
                    )
                if deleted:
                    log.info(
                        "retention deleted snapshots=%d policy=%s", deleted, self.storage.options.retention
                    )
            except Exception as exc:
                log.error("retention failed error=%s", exc)
            await self.clock.sleep_until(self.clock.now() + RETENTION_EVERY, shutdown)

    def _next_boundary(self, now: float) -> int:
        return (math.floor(now) // self.interval + 1) * self.interval

    def _record_missed(self, first: int, due: int) -> None:
        missed = _Tick(first)
        for ts in range(first, due, self.interval):
            missed.gaps.extend(GapRecord(s, ts, GapReason.LATE) for s in self.recorded_symbols)
        log.warning("tick late: seconds %d..%d recorded as gaps", first, due - self.interval)
        self._backlog.append(missed)

    def _log_minute_summary(self) -> None:
        now = self.clock.now()
        if now - self._minute_started >= 60:
            log.info(
                "stored snapshots last_minute=%d symbols=%d write_errors=%d",
                self._minute_stored, len(self.recorded_symbols), self.write_errors,
            )  # fmt: skip
            self._minute_stored = 0
            self._minute_started = now


def _encode_and_write(
    storage: SnapshotStorage,
    snapshots: list[OrderBookSnapshot],
    gaps: list[GapRecord],
    market: Market = SPOT,
    *,
    timestamp: int | None = None,
    minutes: MinuteRollups | None = None,
    rollup_rows: list[tuple[str, int, bytes]] | None = None,
    last: dict[str, _LastCapture] | None = None,
    horizons: Sequence[tuple[str, str, int, bytes]] = (),
) -> tuple[list[OrderBookSnapshot], list[GapRecord]]:
    """Runs in the executor: encode each snapshot and derive its series row, then write everything as one
    batch, with the rows of the `minutes` over at `timestamp` (core.analysis.minute_rows).

    A snapshot that cannot be encoded becomes a gap (SERIALIZE_ERROR) so the others keep their second.
    `rollup_rows` keeps minute rows until a write takes them (adding a second to `minutes` again is harmless).
    A snapshot sharing its levels with its symbol's entry in `last` (the recorder's) reuses that entry's encoding
    and series row, and fills them the first time. `horizons`: rows of other families, written as they are
    (core.storage.horizons). Returns the snapshots and gaps written."""
    good: list[OrderBookSnapshot] = []
    rows: list[tuple[str, int, bytes]] = []
    series: list[tuple[str, int, bytes]] = []
    gaps = list(gaps)
    for snap in snapshots:
        name = storage_symbol(market, snap.symbol)  # spot: the symbol itself; futures: usdm/SYMBOL
        entry = last.get(snap.symbol) if last else None
        if entry is not None and not entry.snap.shares_levels(snap):
            entry = None  # a backlog's older snapshot, or levels taken anew
        try:
            if entry is None:
                value = snap.to_bytes()
                row = series_row_bytes(snap)
            elif entry.untimed is None or entry.row is None:  # the first second of these levels
                entry.untimed = snap.untimed_bytes()
                entry.row = row = series_row_bytes(snap)
                value = stamped(entry.untimed, snap.timestamp)
            else:
                value = stamped(entry.untimed, snap.timestamp)
                row = restamp_row(entry.row, snap.timestamp)
        except Exception as exc:
            log.error("failed to serialize snapshot symbol=%s timestamp=%d error=%s", snap.symbol, snap.timestamp, exc)
            gaps.append(GapRecord(snap.symbol, snap.timestamp, GapReason.SERIALIZE_ERROR))
            continue
        good.append(snap)
        rows.append((name, snap.timestamp, value))
        series.append((name, snap.timestamp, row))
    stored_gaps = [replace(g, symbol=storage_symbol(market, g.symbol)) for g in gaps]
    if minutes is not None and rollup_rows is not None and timestamp is not None:
        books = [(name, snap) for (name, _, _), snap in zip(series, good, strict=True)]  # for the heatmap rows
        rollup_rows.extend(minutes.add(timestamp, series, ((g.symbol, g.timestamp) for g in stored_gaps), books))
    storage.put_encoded(rows, stored_gaps, series, [*(rollup_rows or ()), *horizons])
    if rollup_rows:
        rollup_rows.clear()
    return good, gaps


def spawn_snapshot_persistence_task(
    storage: SnapshotStorage,
    manager: OrderBookManager,
    symbols: Iterable[str],
    shutdown: asyncio.Event,
    **options,
) -> tuple[asyncio.Task, SnapshotRecorder]:
    """The contract's entry point: subscribe each symbol, then record them until `shutdown` is set.

    Returns the task and its recorder (whose start_recording/stop_recording change the set at runtime). A
    symbol that cannot be subscribed is logged at ERROR and recorded as gaps ("not_subscribed"); the others
    go on."""
    symbols = [s.strip().upper() for s in symbols]
    recorder = SnapshotRecorder(storage, manager, symbols, **options)

    async def subscribe_then_run() -> None:
        for symbol in symbols:
            try:
                await manager.subscribe(symbol)
                log.info("pre-subscribed for snapshot persistence symbol=%s", symbol)
            except Exception as exc:
                log.error("failed to subscribe for snapshot persistence symbol=%s error=%s", symbol, exc)
        await recorder.run(shutdown)

    task = asyncio.get_running_loop().create_task(subscribe_then_run(), name="snapshot-persistence")
    return task, recorder
