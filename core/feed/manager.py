"""OrderBookManager: live, exact order books for many symbols over one combined stream.

It orchestrates; the rules live elsewhere. BookSync decides what every event and snapshot means, the
SnapshotScheduler is the only path to REST snapshots (weight budget, 429/418), StreamConnection paces
control messages. The manager routes frames to the right BookSync, carries out its actions, reconnects,
watches for silence and rotates the connection before Binance's 24 h limit, make-before-break: the new
connection streams before the old one closes, and BookSync drops the duplicate events, so no book
sees a gap.

Exact at any speed (docs/SNAPSHOT_HORIZON.md): every `horizon_interval` each live book is asked whether its top is
about to leave its snapshot's horizon (`BookSync.check_horizon`); if so a fresh snapshot comes through the scheduler
while the book stays live, and BookSync swaps it in. `set_priority(symbol, True, depth)` (the recorder calls it for
the recorded symbols) serves a symbol's snapshots first and keeps its top `depth` levels verified.

Nothing in the background fails silently. Tasks run under a TaskSupervisor (core.feed.supervisor): an
unexpected exception is logged once with its traceback, then reported as one sentence in `failure` and as a
`FeedFailed` event to the listeners. What happens next:

- depth stream (`_supervise`) and watchdog: restarted after a backoff delay; the connections the depth stream
  left behind are dropped first, so the books go stale and resync on the new connection. The feed goes on.
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
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, WebSocketException

from core.feed.backoff import backoff
from core.feed.config import MAX_SYMBOLS_CEILING as MAX_SYMBOLS_CEILING  # re-exported: its old home
from core.feed.config import ManagerConfig
from core.feed.errors import InvalidSymbolError, RateLimitedError
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
from core.feed.rest import RestClient
from core.feed.scheduler import SnapshotScheduler
from core.feed.stream import StreamConnection, depth_stream, describe_connect_error, is_retryable
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
    SymbolInfo,
    WireFormatError,
    is_valid_symbol,
    parse_stream_message,
)
from core.tasks import error_text

log = logging.getLogger(__name__)

FRAME_FAILURE_REPORT_S = 10.0  # frame-handling failures after a reported one are only counted this long


class SubscriptionLimitError(Exception):
    """More symbols than the manager is configured for."""


@dataclass
class _Symbol:
    sync: BookSync
    live: asyncio.Event = field(default_factory=asyncio.Event)
    resubscribed: bool = False  # once per silence episode


class OrderBookManager:
    def __init__(self, config: ManagerConfig, *, rest: RestClient | None = None) -> None:
        self.config = config
        restarts = (config.reconnect_initial, config.reconnect_max, config.healthy_after)
        self._tasks = TaskSupervisor(
            lambda sentence, fatal: self._emit(FeedFailed(sentence, fatal)), *restarts
        )
        self.rest = rest or RestClient(config.rest_url)
        self._owns_rest = rest is None
        self.scheduler = SnapshotScheduler(
            self.rest,
            self._deliver_snapshot,
            limit=config.snapshot_limit,
            retry_delay=config.snapshot_retry_delay,
            on_failure=self._tasks.report,
            pass_limit=True,
            shallow_limit=config.shallow_sync_limit,
        )
        self._symbols: dict[str, _Symbol] = {}
        self.horizon = HorizonKeeper(config.horizon_depth, config.horizon_margin, config.snapshot_limit)
        self._listeners: list[Listener] = []
        self._conn: StreamConnection | None = None
        self._connections: set[StreamConnection] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._reconnects = 0
        self._rotations = 0
        self._bad_frames = 0
        self._last_error: str | None = None
        self._frame_failure_reported_at = -FRAME_FAILURE_REPORT_S
        self._frame_failures_unreported = 0

    # --- life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.scheduler.start()
        self._tasks.keep_running("depth-stream", "depth stream", self._supervise)
        self._tasks.keep_running("watchdog", "feed watchdog", self._watchdog)
        self._tasks.keep_running("horizon", "snapshot horizon check", self._horizon_watch)

    async def stop(self) -> None:
        """Stop every task and close the connections. Raises nothing; see the module docstring."""
        self._stopping = True
        self._wake.set()
        connections = set(self._connections)  # a cancelled reader forgets its connection: close it anyway
        await self._tasks.stop()
        for conn in connections | self._connections:
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

    async def subscribe_many(self, symbols: list[str]) -> None:
        """Subscribe several symbols with one validation request and few control messages. Idempotent."""
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
        if self.config.validate_symbols:
            await self._validate(wanted)
        now = time.monotonic()
        added = []
        for symbol in wanted:
            if symbol in self._symbols:  # subscribed by a concurrent call meanwhile
                continue
            entry = _Symbol(BookSync(symbol, self.config.continuity))
            entry.sync.mark_started(now)
            self._symbols[symbol] = entry
            added.append(symbol)
            log.info("subscribed symbol=%s", symbol)
        conn = self._conn
        if conn is not None and added:
            conn.start_background(
                conn.subscribe([self._stream(s) for s in added]), what="subscription request"
            )
        self._wake.set()

    async def unsubscribe(self, symbol: str) -> None:
        symbol = symbol.strip().upper()
        entry = self._symbols.pop(symbol, None)
        if entry is None:
            return
        self.scheduler.cancel(symbol)
        conn = self._conn
        if conn is not None:
            conn.start_background(conn.unsubscribe([self._stream(symbol)]), what="unsubscription request")
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
        sync = self._symbols[symbol].sync
        c = sync.counters
        return SymbolStatus(
            symbol, sync.state, sync.reason, c.last_update_id, c.last_event_time, c.events_applied,
            c.gaps, c.resyncs, sync.book.bid_count, sync.book.ask_count,
            c.snapshots_requested, c.snapshots_too_old, c.crossed_books, c.bad_levels,
            c.refreshes_requested, c.refreshes, c.refresh_mismatches, sync.refreshing,
            sync.book.snapshot_limit,
        )  # fmt: skip

    def statuses(self) -> list[SymbolStatus]:
        return [self.status(s) for s in self._symbols]

    def connection_status(self) -> ConnectionStatus:
        conn = self._conn
        return ConnectionStatus(
            connected=conn is not None,
            url=self.config.ws_url,
            streams=len(conn.streams) if conn else 0,
            reconnects=self._reconnects,
            rotations=self._rotations,
            bad_frames=self._bad_frames,
            last_error=self._last_error,
            snapshot_errors=self.scheduler.errors,
            snapshot_last_error=self.scheduler.last_error,
        )

    @property
    def failure(self) -> str | None:
        """The last unexpected failure, one sentence for people (kept after a recovery); None if none."""
        return self._tasks.failure

    @property
    def halted(self) -> bool:
        """True once a fatal failure (`failure` says which) stopped the feed: the books will not update again."""
        return self._tasks.halted

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # --- internals: validation ---------------------------------------------------------------------

    async def _validate(self, symbols: list[str]) -> None:
        for attempt in range(3):
            try:
                infos = await self._symbol_infos(symbols)
                break
            except RateLimitedError as exc:
                # The client now holds every request until Retry-After; a short wait beats failing the user.
                if exc.banned or exc.retry_after > 30 or attempt == 2:
                    raise
        for symbol in symbols:
            info = infos.get(symbol)
            if info is None:
                raise InvalidSymbolError(f"{symbol} is not a symbol on this exchange.")
            if not info.trading:
                raise InvalidSymbolError(f"{symbol} is not trading right now (status {info.status}).")

    async def _symbol_infos(self, symbols: list[str]) -> dict[str, SymbolInfo]:
        if len(symbols) == 1:
            info = await self.rest.validate_symbol(symbols[0])
            return {info.symbol: info}
        infos: dict[str, SymbolInfo] = {}
        for start in range(0, len(symbols), 100):
            infos.update(await self.rest.exchange_info(symbols[start : start + 100]))
        return infos

    def _stream(self, symbol: str) -> str:
        return depth_stream(symbol, self.config.stream_speed)

    # --- internals: connections ----------------------------------------------------------------------

    async def _supervise(self) -> None:
        """Keep one connection streaming every subscribed symbol; reconnect and rotate as needed."""
        try:
            await self._supervise_connections()
        finally:
            if not self._stopping:  # failed (or halted): no connection may stream without a supervisor
                for conn in list(self._connections):
                    conn.abort("the depth stream restarted")

    async def _supervise_connections(self) -> None:
        cfg = self.config
        delays = backoff(cfg.reconnect_initial, cfg.reconnect_max)
        while not self._stopping:
            if not self._symbols:
                self._wake.clear()
                await self._wake.wait()
                continue
            conn = await self._connect()
            if conn is None:
                if self.halted:
                    return
                await self._pause(next(delays))
                continue
            reader = self._tasks.spawn(self._read(conn), "stream-reader", "stream reader")
            while True:
                rotate_in = cfg.max_connection_age - conn.age
                done, _ = await asyncio.wait({reader}, timeout=max(rotate_in, 0))
                if done or self._stopping:
                    break
                new = await self._rotate(conn)
                if new is None:  # could not open the replacement: keep the old one a little longer
                    await self._pause(min(cfg.reconnect_max, 5.0))
                    continue
                reader, conn = new
            if self._stopping:
                break
            if conn.age >= cfg.healthy_after:
                delays = backoff(cfg.reconnect_initial, cfg.reconnect_max)
            self._reconnects += 1
            if conn.close_reason != "serverShutdown":
                await self._pause(next(delays))

    async def _connect(self) -> StreamConnection | None:
        """Open a connection for every subscribed symbol; None if that failed (`halted` if for good)."""
        url = self.config.ws_url
        streams = [self._stream(s) for s in self._symbols]
        try:
            conn = await StreamConnection.open(
                url,
                streams,
                max_control_per_sec=self.config.max_control_per_sec,
                on_failure=self._tasks.report,
            )
        except Exception as exc:
            self._last_error = describe_connect_error(url, exc)
            retry = is_retryable(exc)
            # Neither a network nor a handshake error: a bug or something unforeseen, retried but loudly.
            odd = retry and not isinstance(exc, OSError | TimeoutError | WebSocketException)
            level = logging.ERROR if odd or not retry else logging.WARNING
            log.log(
                level, "connect failed url=%s error=%s retry=%s", url, self._last_error, retry, exc_info=odd
            )
            self._emit(ConnectionChanged(self.connection_status()))
            if odd or not retry:  # not retrying stops the feed
                self._tasks.report(self._last_error, exc, fatal=not retry)
            return None
        self._connections.add(conn)
        # Symbols added while connecting are not in the URL: subscribe them now.
        missing = [s for s in (self._stream(x) for x in self._symbols) if s not in conn.streams]
        if missing:
            conn.start_background(conn.subscribe(missing), what="subscription request")
        self._conn = conn
        self._last_error = None
        log.info("connected url=%s streams=%d", self.config.ws_url, len(streams))
        self._emit(ConnectionChanged(self.connection_status()))
        return conn

    async def _rotate(self, old: StreamConnection) -> tuple[asyncio.Task, StreamConnection] | None:
        """Make-before-break: the new connection streams before the old one closes."""
        seen: set[str] = set()
        new = await self._connect()
        if new is None:
            self._conn = old
            return None
        new.seen_symbols = seen
        reader = self._tasks.spawn(self._read(new), "stream-reader", "stream reader")
        deadline = time.monotonic() + self.config.rotation_overlap
        while time.monotonic() < deadline and not self._stopping:
            live = {s for s, e in self._symbols.items() if e.sync.is_live}
            if live <= seen:
                break
            await asyncio.sleep(0.05)
        self._rotations += 1
        log.info("rotated connection age=%.0fs symbols_covered=%d", old.age, len(seen))
        await old.close("rotated")
        self._connections.discard(old)
        return reader, new

    async def _read(self, conn: StreamConnection) -> None:
        try:
            async for raw in conn.ws:
                now = time.monotonic()
                conn.last_frame_at = now
                self._on_frame(conn, raw, now)
        except (ConnectionClosed, OSError) as exc:  # the connection is lost: reconnecting is the answer
            conn.close_reason = conn.close_reason or f"connection lost ({exc.__class__.__name__})"
        except Exception:
            # A bug: spawn logs and reports it. Drop the connection; the depth stream reconnects.
            conn.abort("the stream reader failed")
            raise
        finally:
            conn.cancel_background()
            self._connections.discard(conn)
            if self._conn is conn:
                self._conn = None
                self._on_connection_lost(conn)

    def _on_connection_lost(self, conn: StreamConnection) -> None:
        reason = conn.close_reason or "closed by the exchange"
        if not self._stopping:
            log.warning("disconnected url=%s reason=%s", self.config.ws_url, reason)
        now = time.monotonic()
        for entry in self._symbols.values():
            self._handle(entry.sync.on_connection_lost(now))
        self._emit(ConnectionChanged(self.connection_status()))

    def _on_frame(self, conn: StreamConnection, raw: str | bytes, now: float) -> None:
        """One frame; whatever goes wrong with it stays with it (see the module docstring)."""
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
            self._dispatch(conn, msg, now)
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

    def _dispatch(self, conn: StreamConnection, msg: object, now: float) -> None:
        if type(msg) is DepthUpdate:
            entry = self._symbols.get(msg.symbol)
            if entry is None:
                return  # an unsubscribed symbol's last events
            if conn.seen_symbols is not None:
                conn.seen_symbols.add(msg.symbol)
            entry.resubscribed = False
            self._handle(entry.sync.on_event(msg, now))
        elif type(msg) is ControlResult:
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
            conn = self._conn
            if conn is not None and now - conn.last_frame_at > cfg.connection_silence:
                log.warning("connection silent seconds=%.1f: reconnecting", now - conn.last_frame_at)
                conn.abort(f"silent for {cfg.connection_silence:g} s")
            for symbol, entry in self._symbols.items():
                actions = entry.sync.check_silence(now, cfg.symbol_silence)
                if actions:
                    log.warning("symbol silent symbol=%s seconds=%.1f", symbol, cfg.symbol_silence)
                    self._handle(actions)
                if (
                    entry.sync.state in (SyncState.STALE, SyncState.BUFFERING)  # silent, or no event yet
                    and not entry.resubscribed
                    and conn is not None
                    # silent on this connection, not just since before it opened (a reconnect is no silence)
                    and now - max(entry.sync.counters.last_event_at, conn.opened_at) > cfg.symbol_silence
                ):
                    # The subscription may be lost on the server's side: renew it (the book is kept).
                    entry.resubscribed = True
                    stream = [self._stream(symbol)]
                    conn.start_background(_resubscribe(conn, stream), what="resubscription request")

    async def _horizon_watch(self) -> None:
        """Refresh, make-before-break, every live book whose top nears its snapshot horizon."""
        while not self._stopping:
            await asyncio.sleep(self.config.horizon_interval)
            self._handle(self.horizon.check([(s, e.sync) for s, e in self._symbols.items()]))

    async def _pause(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping_event(), seconds)

    async def _stopping_event(self) -> None:
        while not self._stopping:
            await self._wake.wait()
            self._wake.clear()

    # --- internals: actions ----------------------------------------------------------------------------

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
            kind = type(action)
            if kind is BookChanged:
                self._emit(BookUpdated(action.symbol, action.last_update_id))
            elif kind is RequestSnapshot:
                high = self.horizon.is_high(action.symbol)
                self.scheduler.request(action.symbol, retry=action.retry, refresh=action.refresh, high=high)
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

    def _emit(self, event: ManagerEvent) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                log.exception("listener failed event=%s", type(event).__name__)


async def _resubscribe(conn: StreamConnection, streams: list[str]) -> None:
    await conn.unsubscribe(streams)
    await conn.subscribe(streams)
