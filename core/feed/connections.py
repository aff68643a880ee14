"""ConnectionSlot: one of the manager's combined-stream connections and the symbols it carries.

The manager spreads its symbols over slots of at most `streams_per_connection` streams each (ManagerConfig says
why that number). Each slot keeps its own StreamConnection open on its own: it connects, reads, reconnects with
backoff, and rotates before Binance's 24 h limit make-before-break (the new connection streams before the old one
closes; BookSync drops the duplicate events, so no book sees a gap). A slot that loses its connection makes only
its own symbols stale; the other slots' books stay live.

Every attempt to dial asks the manager's ConnectPacer first (300 attempts per 5 minutes per IP); control messages
are paced by StreamConnection. What a frame means, and what a lost connection does to a book, is the manager's
business: the slot calls back its `SlotOwner`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from typing import Protocol

from websockets.exceptions import ConnectionClosed, WebSocketException

from core.feed.backoff import backoff
from core.feed.config import ManagerConfig
from core.feed.pacing import ConnectPacer
from core.feed.stream import StreamConnection, describe_connect_error, is_retryable
from core.feed.supervisor import TaskSupervisor

log = logging.getLogger(__name__)


class SlotOwner(Protocol):
    """What a slot needs from the manager."""

    def on_frame(self, conn: StreamConnection, raw: str | bytes, now: float) -> None: ...

    def on_connection_lost(self, slot: ConnectionSlot, conn: StreamConnection) -> None: ...

    def on_connection_changed(self) -> None: ...

    def is_live(self, symbol: str) -> bool: ...


class ConnectionSlot:
    def __init__(
        self,
        index: int,
        config: ManagerConfig,
        owner: SlotOwner,
        tasks: TaskSupervisor,
        pacer: ConnectPacer,
    ) -> None:
        self.index = index
        self.config = config
        self.owner = owner
        self.tasks = tasks
        self.pacer = pacer
        self.streams: dict[str, str] = {}  # symbol -> its stream name, in subscription order
        self.conn: StreamConnection | None = None  # the one streaming now
        self.connections: set[StreamConnection] = set()  # open ones: two during a rotation
        self.reconnects = 0
        self.rotations = 0
        self.last_error: str | None = None
        self.stopping = False  # the manager stops, or the slot has no symbols left
        self._wake = asyncio.Event()

    # --- symbols ---------------------------------------------------------------------------------------

    @property
    def free(self) -> int:
        return self.config.streams_per_connection - len(self.streams)

    def add(self, streams: dict[str, str]) -> None:
        """Carry more symbols ({symbol: stream}); an open connection subscribes them now."""
        self.streams.update(streams)
        conn = self.conn
        if conn is not None:
            conn.start_background(conn.subscribe(list(streams.values())), what="subscription request")
        self._wake.set()

    def remove(self, symbol: str) -> None:
        stream = self.streams.pop(symbol, None)
        conn = self.conn
        if stream is not None and conn is not None:
            conn.start_background(conn.unsubscribe([stream]), what="unsubscription request")

    def retire(self) -> None:
        """No symbols left: close the connection and end `run`."""
        self.stopping = True
        self._wake.set()
        for conn in list(self.connections):
            conn.start_background(conn.close("no symbols left on this connection"), what="connection close")

    def check_silence(self, now: float) -> None:
        """The watchdog: a connection with no frame at all for `connection_silence` is dead; drop it."""
        conn = self.conn
        if conn is not None and now - conn.last_frame_at > self.config.connection_silence:
            log.warning(
                "connection silent connection=%d seconds=%.1f: reconnecting",
                self.index,
                now - conn.last_frame_at,
            )
            conn.abort(f"silent for {self.config.connection_silence:g} s")

    # --- the loop ----------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep one connection streaming every symbol of this slot; reconnect and rotate as needed."""
        try:
            await self._keep_connected()
        finally:
            if not self.stopping:  # failed (or halted): no connection may stream without its loop
                for conn in list(self.connections):
                    conn.abort("the depth stream restarted")

    async def _keep_connected(self) -> None:
        cfg = self.config
        delays = backoff(cfg.reconnect_initial, cfg.reconnect_max)
        while not self.stopping:
            if not self.streams:
                self._wake.clear()
                await self._wake.wait()
                continue
            conn = await self._connect()
            if conn is None:
                if self.tasks.halted:
                    return
                await self._pause(next(delays))
                continue
            reader = self.tasks.spawn(self._read(conn), "stream-reader", "stream reader")
            while True:
                rotate_in = cfg.max_connection_age - conn.age
                done, _ = await asyncio.wait({reader}, timeout=max(rotate_in, 0))
                if done or self.stopping:
                    break
                new = await self._rotate(conn)
                if new is None:  # could not open the replacement: keep the old one a little longer
                    await self._pause(min(cfg.reconnect_max, 5.0))
                    continue
                reader, conn = new
            if self.stopping:
                break
            if conn.age >= cfg.healthy_after:
                delays = backoff(cfg.reconnect_initial, cfg.reconnect_max)
            self.reconnects += 1
            if conn.close_reason != "serverShutdown":
                await self._pause(next(delays))

    async def _connect(self) -> StreamConnection | None:
        """Open a connection for every symbol of this slot; None if that failed (`halted` if for good)."""
        url = self.config.ws_url
        while (wait := self.pacer.take(time.monotonic())) > 0:
            log.warning("connection attempts paced connection=%d wait_s=%.1f", self.index, wait)
            await self._pause(wait)
            if self.stopping:
                return None
        streams = list(self.streams.values())
        try:
            conn = await StreamConnection.open(
                url,
                streams,
                max_control_per_sec=self.config.max_control_per_sec,
                on_failure=self.tasks.report,
            )
        except Exception as exc:
            self.last_error = describe_connect_error(url, exc)
            retry = is_retryable(exc)
            # Neither a network nor a handshake error: a bug or something unforeseen, retried but loudly.
            odd = retry and not isinstance(exc, OSError | TimeoutError | WebSocketException)
            level = logging.ERROR if odd or not retry else logging.WARNING
            log.log(
                level, "connect failed url=%s error=%s retry=%s", url, self.last_error, retry, exc_info=odd
            )
            self.owner.on_connection_changed()
            if odd or not retry:  # not retrying stops the feed
                self.tasks.report(self.last_error, exc, fatal=not retry)
            return None
        if self.stopping:  # retired (or the feed stopped) while connecting: nothing to stream any more
            await conn.close("no symbols left on this connection")
            return None
        self.connections.add(conn)
        # Symbols added while connecting are not in the URL: subscribe them now; those removed meanwhile, unsubscribe.
        asked = set(streams)  # in the URL, or being subscribed by `open`
        missing = [s for s in self.streams.values() if s not in asked]
        if missing:
            conn.start_background(conn.subscribe(missing), what="subscription request")
        gone = list(asked - set(self.streams.values()))
        if gone:
            conn.start_background(conn.unsubscribe(gone), what="unsubscription request")
        self.conn = conn
        self.last_error = None
        log.info("connected url=%s connection=%d streams=%d", url, self.index, len(streams))
        self.owner.on_connection_changed()
        return conn

    async def _rotate(self, old: StreamConnection) -> tuple[asyncio.Task, StreamConnection] | None:
        """Make-before-break: the new connection streams before the old one closes."""
        seen: set[str] = set()
        new = await self._connect()
        if new is None:
            self.conn = old
            return None
        new.seen_symbols = seen
        reader = self.tasks.spawn(self._read(new), "stream-reader", "stream reader")
        deadline = time.monotonic() + self.config.rotation_overlap
        while time.monotonic() < deadline and not self.stopping:
            live = {s for s in self.streams if self.owner.is_live(s)}
            if live <= seen:
                break
            await asyncio.sleep(0.05)
        self.rotations += 1
        log.info("rotated connection=%d age=%.0fs symbols_covered=%d", self.index, old.age, len(seen))
        await old.close("rotated")
        self.connections.discard(old)
        return reader, new

    async def _read(self, conn: StreamConnection) -> None:
        """Hand `conn`'s frames to the owner until it closes. A failure other than a lost connection is a bug in
        `on_frame`: `read` has dropped the connection, spawn logs and reports it, and the slot's loop reconnects."""
        try:
            await conn.read(functools.partial(self.owner.on_frame, conn))  # a call in C: no frame of its own
        except (ConnectionClosed, OSError) as exc:  # the connection is lost: reconnecting is the answer
            conn.close_reason = conn.close_reason or f"connection lost ({exc.__class__.__name__})"
        finally:
            conn.cancel_background()
            self.connections.discard(conn)
            if self.conn is conn:
                self.conn = None
                self.owner.on_connection_lost(self, conn)

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short when the slot stops."""
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._until_stopping(), seconds)

    async def _until_stopping(self) -> None:
        while not self.stopping:
            await self._wake.wait()
            self._wake.clear()
