"""OrderBookManager: live, exact order books for many symbols, up to the whole market, over combined streams.

It orchestrates; the rules live elsewhere. BookSync decides what every event and snapshot means, the
SnapshotScheduler is the only path to REST snapshots (weight budget, 429/418), StreamConnection paces
control messages. Symbols are spread over ConnectionSlots (core.feed.connections) of at most
`streams_per_connection` streams, new symbols filling the open connections before a new one opens; each slot
reconnects and rotates its connection (make-before-break) on its own, its dials paced by one ConnectPacer, and
a lost connection makes only its own symbols stale. The manager routes frames to the right BookSync, carries out
its actions and watches for silence. The ListingWatcher (core.feed.listing) stops symbols that stop trading and
follows them again, and adds new listings when the whole market is followed (`follow_market`).

Exact at any speed (docs/SNAPSHOT_HORIZON.md): every `horizon_interval` each live book that may have changed is asked
whether its top is about to leave its snapshot's horizon (`BookSync.check_horizon`, core.feed.horizon); if so a fresh
snapshot comes through the scheduler while the book stays live, and BookSync swaps it in. `set_priority(symbol, True,
depth)` (the recorder's, for the recorded symbols) serves their snapshots first and keeps their top `depth` verified.

Nothing in the background fails silently. Tasks run under a TaskSupervisor (core.feed.supervisor): an
unexpected exception is logged once with its traceback, then reported as one sentence in `failure` and as a
`FeedFailed` event to the listeners. What happens next:

- depth stream (one per connection, `ConnectionSlot.run`), watchdog and listing refresh: restarted after a
  backoff delay; the connections a depth stream left behind are dropped first, so its books go stale and resync
  on the new connection. The feed goes on.
- stream reader: only connection errors end it quietly. A frame that cannot be parsed (however the parser
  fails) is counted in `bad_frames`, logged and skipped. A frame whose handling raises is counted, logged
  with its traceback, reported (once per `FRAME_FAILURE_REPORT_S` at most) and its book rebuilt from a new
  snapshot; the connection and the other books go on. If the reader itself fails, the stream reconnects.
- snapshot workers: reported, and the worker goes on; a snapshot whose delivery raised restarts its book.
- control messages: a failed one is reported; a symbol left without events is resubscribed by the watchdog.
- a connect error `is_retryable` calls hopeless (a malformed URL) stops the feed: no retry, `halted`, and
  `failure` says why (a fatal `FeedFailed`). Other connect errors are retried with backoff.

`stop()` raises nothing: failures reported when they happened are not repeated, any other is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.feed.config import MAX_SYMBOLS_CEILING as MAX_SYMBOLS_CEILING  # re-exported: its old home
from core.feed.config import ManagerConfig
from core.feed.connections import ConnectionSlot
from core.feed.errors import InvalidSymbolError, SubscriptionLimitError
from core.feed.events import (
    BookUpdated,
    ConnectionChanged,
    ConnectionStatus,
    FeedFailed,
    Listener,
    ManagerEvent,
    SymbolStateChanged,
    SymbolStatus,
)
from core.feed.horizon import HorizonKeeper
from core.feed.listing import ListingWatcher, MarketSelection, fetch_listing, require_trading
from core.feed.pacing import ConnectPacer
from core.feed.rest import RestClient, SymbolCheck
from core.feed.scheduler import SnapshotScheduler
from core.feed.stream import StreamConnection, depth_stream
from core.feed.supervisor import TaskSupervisor
from core.market.book_sync import (
    Action,
    BookChanged,
    BookRefreshed,
    BookSync,
    GapDetected,
    RequestSnapshot,
    StateChanged,
    SyncState,
)
from core.market.orderbook import OrderBook
from core.market.wire import (
    ControlError,
    ControlResult,
    DepthSnapshot,
    DepthUpdate,
    ServerShutdown,
    WireFormatError,
    is_valid_symbol,
    parse_stream_message,
)
from core.tasks import error_text

log = logging.getLogger(__name__)

RetryHandler = Callable[[str, float], None]  # (why the exchange did not answer, seconds until the next try)
FRAME_FAILURE_REPORT_S = 10.0  # frame-handling failures after a reported one are only counted this long


@dataclass
class _Symbol:
    sync: BookSync
    slot: ConnectionSlot
    live: asyncio.Event = field(default_factory=asyncio.Event)
    resubscribed: bool = False  # once per silence episode


class OrderBookManager:
    def __init__(
        self, config: ManagerConfig, *, rest: RestClient | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        """`clock`: the snapshot scheduler's wall clock, which must be the one `rest` charges its budget by."""
        self.config = config
        restarts = (config.reconnect_initial, config.reconnect_max, config.healthy_after)
        self._tasks = TaskSupervisor(lambda sentence, fatal: self._emit(FeedFailed(sentence, fatal)), *restarts)
        connections = config.snapshot_concurrency + 1  # and exchangeInfo
        self.rest = rest or RestClient(config.rest_url, market=config.market, connections=connections)
        if self.rest.market is not config.market:
            raise ValueError(f"the REST client is for {self.rest.market}, the feed for {config.market}")
        self._owns_rest = rest is None
        self.scheduler = SnapshotScheduler(
            self.rest,
            self._deliver_snapshot,
            limit=config.snapshot_limit,
            retry_delay=config.snapshot_retry_delay,
            on_failure=self._tasks.report,
            pass_limit=True,
            shallow_limit=config.shallow_sync_limit,
            tight_refresh_limit=config.tight_refresh_limit,
            max_concurrent=config.snapshot_concurrency,
            clock=clock,
            on_fetch=self._fetch_starting,
            syncs_to_come=lambda: sum(e.sync.state is SyncState.BUFFERING for e in self._symbols.values()),
        )
        self._symbols: dict[str, _Symbol] = {}
        self.horizon = HorizonKeeper(config.horizon_depth, config.horizon_margin, config.snapshot_limit)
        self._listeners: list[Listener] = []
        self._book_listeners: list[Listener] = []  # those of them that want a BookUpdated for every event
        self.slots: list[ConnectionSlot] = []  # the connections, in the order they were opened
        self._slot_ids = 0
        self.pacer = ConnectPacer(config.connect_attempts, config.connect_window)
        self.listing = ListingWatcher(
            self.rest, followed=lambda: list(self._symbols), stop=self.unsubscribe, follow=self._follow_listed,
            emit=self._emit,
        )  # fmt: skip
        self._started = False
        self._stopping = False
        self._retired_reconnects = 0  # of slots gone since (their symbols all left)
        self._retired_rotations = 0
        self.frames_received = 0  # every frame handed to `on_frame`, malformed ones too
        self._bad_frames = 0
        self._frame_failure_reported_at = -FRAME_FAILURE_REPORT_S
        self._frame_failures_unreported = 0

    # --- life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.scheduler.start()
        self._started = True
        for slot in self.slots:
            self._run_slot(slot)
        self._tasks.keep_running("watchdog", "feed watchdog", self._watchdog)
        self._tasks.keep_running("horizon", "snapshot horizon check", self._horizon_watch)
        interval = self.config.listing_interval
        if interval is not None:
            self._tasks.keep_running("listing", "listing refresh", lambda: self.listing.run(interval))

    async def stop(self) -> None:
        """Stop every task and close the connections. Raises nothing; see the module docstring."""
        self._stopping = True
        # A cancelled reader forgets its connection: note them all first, and close them anyway.
        connections = {conn for slot in self.slots for conn in slot.connections}
        for slot in self.slots:
            slot.stopping = True
        await self._tasks.stop()
        for conn in connections | {conn for slot in self.slots for conn in slot.connections}:
            try:
                await conn.close("shutting down")
            except Exception as exc:  # the socket goes away regardless; say why it did not close cleanly
                log.warning("closing connection failed url=%s error=%s", self.config.ws_url, error_text(exc))
        await self.scheduler.stop()
        if self._owns_rest:
            await self.rest.aclose()

    async def __aenter__(self) -> OrderBookManager:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # --- the contract's API ------------------------------------------------------------------------

    async def subscribe(self, symbol: str) -> None:
        await self.subscribe_many([symbol])

    async def subscribe_many(self, symbols: list[str], *, checked: bool = False) -> None:
        """Subscribe several symbols with one validation request and few control messages. Idempotent.

        `checked`: the caller has just seen them TRADING in exchangeInfo (`check_symbols`, `follow_market`), so no
        validation request is spent again."""
        wanted = []
        for raw in symbols:
            symbol = raw.strip().upper()
            if symbol in self._symbols or symbol in wanted:
                continue
            if not is_valid_symbol(symbol):
                raise InvalidSymbolError(f"{raw.strip()!r} is not a valid symbol name.")
            wanted.append(symbol)
        if not wanted:
            return
        if len(self._symbols) + len(wanted) > self.config.max_symbols:
            raise SubscriptionLimitError(
                f"Cannot follow more than {self.config.max_symbols} symbols at once "
                f"({len(self._symbols)} already followed, {len(wanted)} more asked)."
            )
        if self.config.validate_symbols and not checked:
            await require_trading(self.rest, wanted)
        now = time.monotonic()
        # Another call may have subscribed some meanwhile.
        added = [s for s in wanted if s not in self._symbols]
        for slot, chunk in self._place(added):
            for symbol in chunk:
                entry = _Symbol(BookSync(symbol, self.config.continuity), slot)
                entry.sync.mark_started(now)
                self._symbols[symbol] = entry
                self.horizon.follow(symbol, now)
                self.listing.stopped.pop(symbol, None)
                log.info("subscribed symbol=%s connection=%d", symbol, slot.index)
            slot.add({symbol: self._stream(symbol) for symbol in chunk})

    async def follow_checked(
        self, symbols: list[str], *, retry_for: float = 0.0, on_retry: RetryHandler | None = None
    ) -> SymbolCheck:
        """Follow every symbol of `symbols` exchangeInfo says is trading and return its verdict on each (the
        caller names the others). The exchange not answering is retried for `retry_for` seconds (math.inf:
        forever; RestClient.check_symbols), then its ExchangeError raised."""
        cfg = self.config  # the exchange's REST is retried on the stream's reconnect schedule
        check = await self.rest.check_symbols(
            symbols,
            retry_for=retry_for,
            retry_initial=cfg.reconnect_initial,
            retry_max=cfg.reconnect_max,
            on_retry=on_retry,
        )
        if check.valid:
            await self.subscribe_many(check.valid, checked=True)
        return check

    async def follow_market(
        self, selection: MarketSelection, *, retry_for: float = 0.0, on_retry: RetryHandler | None = None
    ) -> list[str]:
        """Follow every TRADING symbol `selection` takes, and from now on new listings it takes too (the listing
        refresh adds them). Returns the symbols followed. Raises SubscriptionLimitError above `max_symbols`."""
        cfg = self.config
        infos = await fetch_listing(
            self.rest,
            retry_for=retry_for,
            retry_initial=cfg.reconnect_initial,
            retry_max=cfg.reconnect_max,
            on_retry=on_retry,
        )
        symbols = selection.pick(infos)
        await self.subscribe_many(symbols, checked=True)
        self.listing.selection = selection
        return symbols

    async def unsubscribe(self, symbol: str) -> None:
        symbol = symbol.strip().upper()
        entry = self._symbols.pop(symbol, None)
        if entry is None:
            return
        self.scheduler.cancel(symbol)
        slot = entry.slot
        slot.remove(symbol)
        if not slot.streams:
            self._retire(slot)
        log.info("unsubscribed symbol=%s", symbol)

    async def get_orderbook(self, symbol: str, timeout: float = 5.0) -> OrderBook:
        """The live book; subscribes lazily and waits up to `timeout` for it to be live."""
        symbol = symbol.strip().upper()
        if symbol not in self._symbols:
            await self.subscribe(symbol)
        entry = self._symbols[symbol]
        if not entry.sync.is_live:
            try:
                await asyncio.wait_for(entry.live.wait(), timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"The {symbol} order book is not live after {timeout:g} s ({entry.sync.state}: {entry.sync.reason.text})."
                ) from None
        return entry.sync.book

    def book(self, symbol: str) -> OrderBook | None:
        """The book right now, live or not (callers check `is_live`)."""
        entry = self._symbols.get(symbol)
        return entry.sync.book if entry else None

    def is_live(self, symbol: str) -> bool:
        entry = self._symbols.get(symbol)
        return bool(entry and entry.sync.is_live)

    def live_book(self, symbol: str) -> tuple[OrderBook, tuple[int, int]] | None:
        """The book if it is live, with how often it was rebuilt from a snapshot (resyncs, refreshes: its levels
        may change then without its update id moving); else None. What the recorder asks of every recorded book
        each second, in one look: three looks cost 1,500 books a second's scattered lookups."""
        entry = self._symbols.get(symbol)
        if entry is None or entry.sync.state is not SyncState.LIVE:
            return None
        sync = entry.sync
        return sync.book, (sync.counters.resyncs, sync.counters.refreshes)

    def set_priority(self, symbol: str, high: bool, depth: int | None = None) -> None:
        """Serve `symbol`'s snapshots before the others' (`high`: it is recorded) and keep its top `depth` levels
        (default `horizon_depth`) verified. Works before the symbol is subscribed, too."""
        symbol = symbol.strip().upper()
        self.horizon.set(symbol, high, depth)
        self.scheduler.set_priority(symbol, high)

    @property
    def symbols(self) -> list[str]:
        return list(self._symbols)

    def status(self, symbol: str) -> SymbolStatus:
        return SymbolStatus.of(self._symbols[symbol].sync)

    def statuses(self) -> list[SymbolStatus]:
        return [self.status(s) for s in self._symbols]

    @property
    def stopped_symbols(self) -> dict[str, str]:
        """Symbols stopped because they do not trade (symbol -> status, or "DELISTED"): followed again when they do."""
        return dict(self.listing.stopped)

    def connection_status(self) -> ConnectionStatus:
        """Every connection together: `connected` while each connection that carries symbols is open."""
        open_now = [slot.conn for slot in self.slots if slot.conn is not None]
        errors = [slot.last_error for slot in self.slots if slot.last_error]
        return ConnectionStatus(
            connected=bool(open_now) and all(slot.conn is not None for slot in self.slots if slot.streams),
            url=self.config.ws_url,
            streams=sum(len(conn.streams) for conn in open_now),
            reconnects=self._retired_reconnects + sum(slot.reconnects for slot in self.slots),
            rotations=self._retired_rotations + sum(slot.rotations for slot in self.slots),
            bad_frames=self._bad_frames,
            last_error=errors[-1] if errors else None,
            snapshot_errors=self.scheduler.errors,
            snapshot_last_error=self.scheduler.last_error,
            connections=len(open_now),
            connection_attempts=self.pacer.attempts,
        )

    @property
    def failure(self) -> str | None:
        """The last unexpected failure, one sentence for people (kept after a recovery); None if none."""
        return self._tasks.failure

    @property
    def halted(self) -> bool:
        """True once a fatal failure (`failure` says which) stopped the feed: the books will not update again."""
        return self._tasks.halted

    def add_listener(self, listener: Listener, *, book_updates: bool = True) -> None:
        """`listener` gets every event; with `book_updates=False` every one but the per-event BookUpdated (a
        recorder reads the books on its own tick: no event is built for every frame when nobody wants it)."""
        self._listeners.append(listener)
        if book_updates:
            self._book_listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)
        with contextlib.suppress(ValueError):
            self._book_listeners.remove(listener)

    # --- internals: validation ---------------------------------------------------------------------

    def _stream(self, symbol: str) -> str:
        return depth_stream(symbol, self.config.stream_speed)

    # --- internals: connections ----------------------------------------------------------------------

    def _place(self, symbols: list[str]) -> list[tuple[ConnectionSlot, list[str]]]:
        """Which connection carries each new symbol: the open ones' free room first, then new connections."""
        placed: list[tuple[ConnectionSlot, list[str]]] = []
        rest = list(symbols)
        for slot in self.slots:
            if rest and slot.free > 0 and not slot.stopping:
                placed.append((slot, rest[: slot.free]))
                rest = rest[slot.free :]
        per_connection = self.config.streams_per_connection
        while rest:
            slot = ConnectionSlot(self._slot_ids, self.config, self, self._tasks, self.pacer)
            self._slot_ids += 1
            self.slots.append(slot)
            if self._started:
                self._run_slot(slot)
            placed.append((slot, rest[:per_connection]))
            rest = rest[per_connection:]
        return placed

    def _run_slot(self, slot: ConnectionSlot) -> None:
        self._tasks.keep_running(f"depth-stream-{slot.index}", "depth stream", slot.run)

    def _retire(self, slot: ConnectionSlot) -> None:
        """A connection left with no symbol closes; its counters stay in the totals."""
        slot.retire()
        self.slots.remove(slot)
        self._retired_reconnects += slot.reconnects
        self._retired_rotations += slot.rotations
        log.info("connection closed connection=%d: no symbols left on it", slot.index)

    # The slots' owner (core.feed.connections.SlotOwner).

    def on_connection_lost(self, slot: ConnectionSlot, conn: StreamConnection) -> None:
        reason = conn.close_reason or "closed by the exchange"
        if not self._stopping and not slot.stopping:
            log.warning(
                "disconnected url=%s connection=%d symbols=%d reason=%s",
                self.config.ws_url, slot.index, len(slot.streams), reason,
            )  # fmt: skip
        now = time.monotonic()
        for symbol in list(slot.streams):
            entry = self._symbols.get(symbol)
            if entry is not None:
                self._handle(entry.sync.on_connection_lost(now))
        self.on_connection_changed()

    def on_connection_changed(self) -> None:
        self._emit(ConnectionChanged(self.connection_status()))

    def on_frame(self, conn: StreamConnection, raw: str | bytes, now: float) -> None:
        """One frame; whatever goes wrong with it stays with it (see the module docstring)."""
        self.frames_received += 1
        try:
            msg = parse_stream_message(raw)
        except Exception as exc:  # WireFormatError, or a field the parser did not foresee: malformed
            self._bad_frames += 1
            odd = not isinstance(exc, WireFormatError)  # a gap in the parser: show where
            log.warning("malformed frame ignored error=%s bytes=%d", error_text(exc), len(raw), exc_info=odd)
            entry = self._symbols.get(getattr(exc, "symbol", "") or "")
            if entry is not None:  # that symbol's book missed an event: it is not exact any more
                self._handle(entry.sync.on_malformed_event())
            return
        try:
            if type(msg) is DepthUpdate:  # nearly every frame: handled here, a call less than the others
                entry = self._symbols.get(msg.symbol)
                if entry is not None:  # None: an unsubscribed symbol's last events
                    if conn.seen_symbols is not None:
                        conn.seen_symbols.add(msg.symbol)
                    entry.resubscribed = False
                    actions = entry.sync.take_event(msg, now)
                    if actions is None:  # applied, and that is all: `_handle` of its BookChanged, made by none
                        self.horizon.changed.add(msg.symbol)
                        if self._book_listeners:
                            self._emit(BookUpdated(msg.symbol, msg.final_update_id), self._book_listeners)
                    else:
                        self._handle(actions)
            else:
                self._on_other_frame(conn, msg)
        except Exception as exc:  # a bug handling one frame must not disconnect every symbol
            self._bad_frames += 1
            self._frame_failed(msg, exc)

    def _frame_failed(self, msg: object, exc: Exception) -> None:
        entry = self._symbols.get(msg.symbol) if type(msg) is DepthUpdate else None
        if entry is not None:  # the event may be half applied: rebuild that book from a new snapshot
            self._handle(entry.sync.restart())
        now = time.monotonic()
        if now - self._frame_failure_reported_at < FRAME_FAILURE_REPORT_S:
            self._frame_failures_unreported += 1
            return
        self._frame_failure_reported_at = now
        unreported, self._frame_failures_unreported = self._frame_failures_unreported, 0
        kind = type(msg).__name__
        log.error("frame handling failed kind=%s earlier_unreported=%d", kind, unreported, exc_info=exc)
        self._tasks.report(f"A message from the exchange could not be handled: {error_text(exc)}.", exc)

    def _on_other_frame(self, conn: StreamConnection, msg: object) -> None:  # a control answer, a shutdown notice
        if type(msg) is ControlResult:
            conn.resolve(msg.id, msg.result)
        elif type(msg) is ControlError:
            # A request that is waited for fails with this message, and its task reports it.
            level = logging.WARNING if conn.resolve(msg.id, error=msg.message) else logging.ERROR
            log.log(level, "stream request refused code=%s msg=%s", msg.code, msg.message)
        elif type(msg) is ServerShutdown:
            log.warning("serverShutdown received: reconnecting now")
            conn.start_background(conn.close("serverShutdown"), what="connection close")
        elif type(msg) is DepthSnapshot:
            pass  # partial-depth frames: not subscribed by us

    async def _watchdog(self) -> None:
        cfg = self.config
        while not self._stopping:
            await asyncio.sleep(cfg.watchdog_interval)
            now = time.monotonic()
            for slot in self.slots:
                slot.check_silence(now)
            renew: dict[StreamConnection, list[str]] = {}
            for symbol, entry in self._symbols.items():
                actions = entry.sync.check_silence(now, cfg.symbol_silence, cfg.quiet_check_wait)
                if actions:  # a quiet check asked (info), or the book went stale (a warning)
                    stale = entry.sync.state is SyncState.STALE
                    log.log(logging.WARNING if stale else logging.INFO, "symbol silent symbol=%s seconds=%.1f state=%s",
                            symbol, now - entry.sync.counters.last_event_at, entry.sync.state)  # fmt: skip
                    self._handle(actions)
                conn = entry.slot.conn
                if (
                    entry.sync.state in (SyncState.STALE, SyncState.BUFFERING)  # silent, or no event yet
                    and not entry.resubscribed
                    and conn is not None
                    # silent on this connection, not just since before it opened (a reconnect is no silence)
                    and now - max(entry.sync.counters.last_event_at, conn.opened_at) > cfg.symbol_silence
                ):
                    # The subscription may be lost on the server's side: renew it (the book is kept).
                    entry.resubscribed = True
                    renew.setdefault(conn, []).append(self._stream(symbol))
            for conn, streams in renew.items():  # one request per connection, however many symbols
                conn.start_background(_resubscribe(conn, streams), what="resubscription request")

    async def _horizon_watch(self) -> None:
        """Refresh, make-before-break, every live book whose top nears its snapshot horizon."""
        while not self._stopping:
            await asyncio.sleep(self.config.horizon_interval)
            self._horizon_pass()

    def _horizon_pass(self) -> None:
        """Ask the books that may have changed (all, now and then), then count the queued refreshes' rooms again."""
        changed = self.horizon.start_pass()  # None: every book (HorizonKeeper: `start_pass`, `check`, `rooms`)
        books = ((s, e.sync) for s, e in self.horizon.to_ask(self._symbols, changed))
        self._handle(self.horizon.check(books))  # a refresh it asks is new to the queue: its room is counted below
        self.scheduler.update_rooms(self.horizon.rooms(self.scheduler, self.book, changed))

    async def _follow_listed(self, symbols: list[str]) -> list[str]:
        """The listing watcher's way to follow symbols it saw trading; returns those refused (the symbol limit)."""
        try:
            await self.subscribe_many(symbols, checked=True)
        except SubscriptionLimitError as exc:
            log.warning("cannot follow listed symbols=%s: %s", ",".join(symbols), exc)
            return symbols
        return []

    # --- internals: actions ----------------------------------------------------------------------------

    def _fetch_starting(self, symbol: str, refresh: bool) -> None:
        """A snapshot request is about to go out: a refresh keeps the events its snapshot may lack from now."""
        entry = self._symbols.get(symbol)
        if refresh and entry is not None:
            entry.sync.keep_for_refresh()

    def _deliver_snapshot(self, symbol: str, snapshot: DepthSnapshot, limit: int | None = None) -> None:
        entry = self._symbols.get(symbol)
        if entry is None:
            return
        try:
            self._handle(entry.sync.on_snapshot(snapshot, time.monotonic(), limit))
        except Exception:
            # The book may be half loaded: start it over (its next event asks for a new snapshot). The
            # scheduler logs and reports the exception.
            self._handle(entry.sync.restart())
            raise

    def _handle(self, actions: list[Action]) -> None:
        for action in actions:
            self.horizon.changed.add(action.symbol)  # the horizon watch looks at it again (the frame path's one cost)
            kind = type(action)
            if kind is BookChanged:
                if self._book_listeners:
                    self._emit(BookUpdated(action.symbol, action.last_update_id), self._book_listeners)
            elif kind is RequestSnapshot:
                high, entry = self.horizon.is_high(action.symbol), self._symbols.get(action.symbol)
                events = entry.sync.counters.events_applied if entry is not None else 0
                self.scheduler.request(
                    action.symbol, retry=action.retry, refresh=action.refresh, high=high, room=action.room,
                    quiet=action.quiet, limit=self.config.shallow_sync_limit if action.quiet else None,
                    calm=action.refresh and self.horizon.calm(action.symbol, events, time.monotonic()),
                )  # fmt: skip
            elif kind is StateChanged:
                entry = self._symbols.get(action.symbol)
                if entry is not None:
                    if action.new is SyncState.LIVE:
                        entry.live.set()
                    else:
                        entry.live.clear()
                log.info("book state symbol=%s state=%s reason=%s", action.symbol, action.new, action.reason)
                self._emit(SymbolStateChanged(action.symbol, action.new, action.reason))
            elif kind is GapDetected:
                log.warning(
                    "gap symbol=%s expected=%d got=%d: resyncing", action.symbol, action.expected, action.got
                )
            elif kind is BookRefreshed and action.consistent is False:  # two exact books disagreed: a bug
                log.error("refreshed book disagrees with the old one symbol=%s id=%d", action.symbol, action.last_update_id)

    def _emit(self, event: ManagerEvent, listeners: list[Listener] | None = None) -> None:
        for listener in self._listeners if listeners is None else listeners:
            try:
                listener(event)
            except Exception:
                log.exception("listener failed event=%s", type(event).__name__)


async def _resubscribe(conn: StreamConnection, streams: list[str]) -> None:
    await conn.unsubscribe(streams)
    await conn.subscribe(streams)
