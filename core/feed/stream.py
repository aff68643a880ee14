"""One combined-stream WebSocket to Binance: connect, read frames, paced control messages.

Binance closes a connection that sends more than 5 messages a second (pings, pongs and JSON control
messages all count), so control messages leave at most `max_control_per_sec` apart, leaving room for
the pong websockets sends when the server pings. Compression is declined: it costs CPU on every frame
and buys nothing on loopback or a fast link.

A frame larger than MAX_FRAME_BYTES makes websockets close that connection with code 1009 (it cannot skip
one frame and go on); `close_reason` then says so in one phrase, the manager logs it in its "disconnected"
line and reconnects like after any other drop (docs/RELIABILITY.md).

Control messages run as background tasks of their connection (`start_background`, through core.tasks.spawn):
one that fails is logged with its traceback and handed to `on_failure`; one cut short because the connection
closed is not a failure (the reconnect subscribes every stream again), and the connection's tasks are
cancelled when it closes or is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)
from websockets.frames import DATA_OPCODES, CloseCode, Frame
from websockets.protocol import Event, Protocol, State
from websockets.streams import StreamReader

from core.tasks import FailureHandler, cancel_and_wait, spawn

try:
    from core.feed._ws_frames import whole_data_frames as cut_whole_frames
except ImportError:  # not built (a source tree run without `pip install`): the specification below does it
    cut_whole_frames = None

log = logging.getLogger(__name__)

STREAMS_PER_CONTROL_MESSAGE = 50  # keeps each SUBSCRIBE frame small
MAX_STREAMS_IN_URL = 50

# The largest frame accepted (websockets' max_size; its default is 1 MiB). A combined-stream diff frame is
# 0.5-3 KB, tens of KB in a burst, ~100 KB for a 1000 ms frame of a frantic market (binance-protocol.md
# §10); a 5000-level REST-sized snapshot, which never comes over the stream, is ~320 KB. 4 MiB leaves a
# factor 40 over the largest real frame, and bounds what one frame may cost: nothing is queued (each message is
# handed over as it is read), and parsing 4 MiB takes ~20 ms of the loop. Anything bigger is not Binance talking.
MAX_FRAME_BYTES = 4 * 2**20

# How much a plain (ws://) socket read asks for. asyncio's default, 256 KiB, is a new bytes object per read,
# which glibc serves with mmap, mremap and munmap: a third of the CPU of receiving a frame that arrives alone
# (docs/PERFORMANCE.md, "Receiving a frame, per WebSocket client library"; python/cpython#85451). 64 KiB is
# served from the heap and still holds a burst of ~100 frames. A wss:// connection reads through asyncio's
# TLS layer into one reused buffer, so it has no such cost and is left as it is; so does uvloop's transport
# (`depthbook record`'s loop), which reads into one reused buffer and copies out what came.
PLAIN_READ_BYTES = 64 * 1024


class ControlTimeout(Exception):
    """The server did not answer a control message in time."""


def _discard(_message: bytes, _received_at: float) -> None:
    pass


class DeliveringConnection(ClientConnection):
    """websockets' client connection that hands each whole message to `on_message(message, received_at)` as the
    socket delivers it (in the transport's `data_received`), instead of queueing it for a reader task's `recv()`:
    a task switch, a queue and a future less per frame (docs/PERFORMANCE.md, "Session 16"). Whole data frames
    between two of websockets' frames are cut by `data_received` itself ("Session 17"); websockets does the rest:
    the handshake, every other frame, the size limit (1009), pongs, protocol errors, the closing handshake.

    `received_at` is the monotonic time the socket's read came in, taken once for all the messages it holds;
    `last_message_at` is that of the last read that held a message (a read of only a ping or a pong does not
    count: the connection's watchdog looks for messages). A reader that raises gets no later message: the
    exception goes to `on_failure` (`deliver_to`), which decides what becomes of the connection.

    Messages are bytes, text frames included: the frame parser reads bytes and refuses what is not UTF-8 JSON, so
    one such frame is one malformed frame, not a lost connection. Messages that arrive before anyone reads wait
    in `_early` until `deliver_to` hands them over, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._early: list[tuple[bytes, float]] = []
        self._parts: list[bytes] = []  # a fragmented message so far (Binance sends none; websockets bounds its size)
        self.received_at = 0.0
        self.last_message_at = 0.0
        self.on_message: Callable[[bytes, float], None] = self._keep_early
        self._on_failure: Callable[[Exception], None] = _ignore

    def _keep_early(self, message: bytes, received_at: float) -> None:
        self._early.append((message, received_at))

    def deliver_to(self, on_message: Callable[[bytes, float], None], on_failure: Callable[[Exception], None]) -> None:
        early, self._early = self._early, []
        self.on_message = on_message
        self._on_failure = on_failure
        for message, received_at in early:
            self._hand_over(message, received_at)

    def stop_delivering(self) -> None:
        """Drop every later message: whoever read them has gone (the connection is closing)."""
        self.on_message = _discard

    def _hand_over(self, message: bytes, received_at: float) -> None:
        try:
            self.on_message(message, received_at)  # read anew each time: a failed reader stops the delivery
        except Exception as exc:
            self.stop_delivering()
            self._on_failure(exc)

    def data_received(self, data: bytes) -> None:
        """Whole unfragmented data frames at the front of `data` are cut out here and delivered (`whole_data_frames`)
        while websockets' parser waits for a frame's first byte; the rest, from the first frame that is
        anything else (a ping, a close, a fragment, a frame cut by the read, one too large or malformed), goes
        through websockets as it came. A frame costs 10 µs less this way (docs/PERFORMANCE.md, "Session 17")."""
        self.received_at = now = time.monotonic()
        protocol = self.protocol
        if protocol.state is State.OPEN and protocol.current_size is None and _parser_between_frames(protocol):
            messages, used = _cut(data, protocol.max_message_size or MAX_FRAME_BYTES)
            if messages:
                self.last_message_at = now
            for message in messages:
                try:
                    self.on_message(message, now)  # `_hand_over` inlined: this is every frame's path
                except Exception as exc:
                    self.stop_delivering()
                    self._on_failure(exc)
            if used == len(data):
                return
            data = data[used:]
        super().data_received(data)

    def process_event(self, event: Event) -> None:
        if not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)  # the handshake's response, pings, pongs, the close frame
            return
        data = event.data if type(event.data) is bytes else bytes(event.data)
        self.last_message_at = self.received_at  # a message, or a part of one
        if event.fin and not self._parts:
            self._hand_over(data, self.received_at)
        elif event.fin:
            message, self._parts = b"".join([*self._parts, data]), []
            self._hand_over(message, self.received_at)
        else:
            self._parts.append(data)


def _ignore(_exc: Exception) -> None:
    pass


# The first byte of an unfragmented text or binary frame: FIN set, no RSV bit (no extension is negotiated).
_WHOLE_TEXT, _WHOLE_BINARY = 0x81, 0x82
# websockets' frame loop, and the reader's wait for more data in which it sits between two frames.
_PARSE_FRAMES = Protocol.parse.__code__
_AWAIT_DATA = StreamReader.at_eof.__code__


def _parser_between_frames(protocol: Protocol) -> bool:
    """Whether websockets' parser waits for the first byte of a frame: its frame loop (`Protocol.parse`) suspended
    where it asks the reader for more data (`at_eof`), not in the middle of a frame whose header it has taken.
    If websockets ever parses another way, this is never true and every byte goes through websockets."""
    outer, inner = None, protocol.parser
    while (deeper := getattr(inner, "gi_yieldfrom", None)) is not None:
        outer, inner = inner, deeper
    return getattr(inner, "gi_code", None) is _AWAIT_DATA and getattr(outer, "gi_code", None) is _PARSE_FRAMES


def whole_data_frames(data: bytes, max_size: int) -> tuple[list[bytes], int]:
    """The payloads of the whole, unfragmented, unmasked text and binary frames at the front of `data` (RFC 6455
    §5.2), and how many bytes they take: up to the first frame that is anything else, is not all in `data`, or
    is longer than `max_size`. What it stops at is websockets' to parse, refuse or answer."""
    messages: list[bytes] = []
    end = len(data)
    at = 0
    while end - at >= 2:
        first, length = data[at], data[at + 1]  # a server's frame is not masked: the length byte is the length
        if (first != _WHOLE_TEXT and first != _WHOLE_BINARY) or length & 0x80:
            break
        start = at + 2
        if length == 126:
            start += 2
            length = int.from_bytes(data[at + 2 : start])
        elif length == 127:
            start += 8
            length = int.from_bytes(data[at + 2 : start])
        stop = start + length
        if stop > end or length > max_size:
            break
        messages.append(data[start:stop])
        at = stop
    return messages, at


# The C cut where it is built: the same answer (tests/core/feed/test_stream_frames.py), without a Python loop.
_cut = cut_whole_frames or whole_data_frames


def _read_at_most(ws: ClientConnection, size: int) -> None:
    """Cap a plain socket transport's read size (`max_size`: an attribute of asyncio's selector transport,
    read at each read; TLS transports have none and are skipped)."""
    transport = ws.transport
    if isinstance(transport, asyncio.Transport) and isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = size  # type: ignore[attr-defined]


def describe_connect_error(url: str, exc: BaseException) -> str:
    """One sentence a user understands for a failed connection attempt."""
    if isinstance(exc, InvalidURI | ValueError):  # ValueError: a port out of range, a broken IPv6 address
        return f"The stream address {url} is not a valid WebSocket URL."
    if isinstance(exc, InvalidStatus):
        return f"The exchange at {url} refused the stream connection (HTTP {exc.response.status_code})."
    if isinstance(exc, InvalidHandshake):
        return f"The exchange at {url} did not complete the WebSocket handshake."
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"Timed out connecting to {url}."
    if isinstance(exc, OSError):
        reason = exc.strerror or exc.__class__.__name__
        return f"Cannot reach the exchange at {url}: {reason}."
    return f"Connection to {url} failed: {exc}."


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed connection attempt is worth retrying: the one place that decides.

    Only a malformed address is hopeless (`InvalidURI`, or the `ValueError` websockets lets through for a port
    out of range or a broken IPv6 address): the same URL fails the same way every time. Everything else may
    recover by itself (network down, server restarting, HTTP 429/5xx at the handshake) and is retried with
    backoff.
    """
    return not isinstance(exc, InvalidURI | ValueError)


def describe_close(ws: ClientConnection) -> str:
    """What the closing handshake of `ws` says, as a phrase for a log line; "" if there was none."""
    protocol = ws.protocol
    sent, received = protocol.close_sent, protocol.close_rcvd
    if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG and not protocol.close_rcvd_then_sent:
        return (
            f"a frame over the {MAX_FRAME_BYTES / 2**20:g} MiB size limit arrived ({sent.reason}), "
            "so this connection was closed with code 1009"
        )
    if received is not None:
        return f"closed by the exchange (code {received.code}{', ' + received.reason if received.reason else ''})"
    if sent is not None and sent.code not in (CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY):
        return f"closed by this client (code {sent.code}{', ' + sent.reason if sent.reason else ''})"
    return ""


def depth_stream(symbol: str, speed: str = "100ms") -> str:
    return f"{symbol.lower()}@depth@{speed}" if speed else f"{symbol.lower()}@depth"


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StreamConnection:
    """An open combined-stream connection. Create with `await StreamConnection.open(...)`."""

    _ids = itertools.count(1)

    def __init__(
        self,
        ws: DeliveringConnection,
        url: str,
        streams: set[str],
        max_control_per_sec: float,
        on_failure: FailureHandler | None = None,
    ) -> None:
        self.ws = ws
        self.url = url
        self.streams = set(streams)
        self.opened_at = time.monotonic()
        self._close_reason = ""
        self.seen_symbols: set[str] | None = None  # filled while a rotation waits for this connection
        self.on_failure = on_failure  # told when a control message fails (see core.tasks.spawn)
        self.background: set[asyncio.Task[None]] = set()  # control messages in flight
        self._min_gap = 1.0 / max_control_per_sec
        self._last_control = 0.0
        self._control_lock = asyncio.Lock()
        self._acks: dict[int, asyncio.Future] = {}

    @classmethod
    async def open(
        cls,
        ws_base: str,
        streams: list[str],
        *,
        open_timeout: float = 10.0,
        max_control_per_sec: float = 4.0,
        on_failure: FailureHandler | None = None,
    ) -> StreamConnection:
        first = streams[:MAX_STREAMS_IN_URL]
        url = f"{ws_base}/stream?streams={'/'.join(first)}"
        ws = await connect(
            url,
            compression=None,
            ping_interval=None,  # the server pings; websockets answers with the same payload
            open_timeout=open_timeout,
            close_timeout=2,
            max_size=MAX_FRAME_BYTES,
            create_connection=DeliveringConnection,
        )
        _read_at_most(ws, PLAIN_READ_BYTES)
        conn = cls(ws, ws_base, set(first), max_control_per_sec, on_failure)
        rest = streams[MAX_STREAMS_IN_URL:]
        if rest:
            conn.start_background(conn.subscribe(rest))
        return conn

    async def read(self, on_message: Callable[[bytes, float], None]) -> None:
        """Hand each message to `on_message(message, received_at)` as it arrives (`received_at`: the monotonic time
        its read came in), until the connection closes; cancelled, stop at once.

        Returns once it closed cleanly; raises websockets' ConnectionClosedError when it was lost, and what
        `on_message` raised, after dropping the connection: a reader that failed once is not given the next frame."""
        failed: list[Exception] = []

        def reader_failed(exc: Exception) -> None:
            failed.append(exc)
            self.abort("the stream reader failed")

        self.ws.deliver_to(on_message, reader_failed)
        try:
            await self.ws.wait_closed()
        finally:
            self.ws.stop_delivering()
        if failed:
            raise failed[0]
        closed = self.ws.protocol.close_exc
        if not isinstance(closed, ConnectionClosedOK):
            raise closed

    def start_background(self, coro: Coroutine[Any, Any, None], what: str = "stream control request") -> None:
        """Run a control message (or a close) in the background; a failure goes to `on_failure`."""
        spawn(
            _unless_closed(coro),
            "stream-control",
            what=what,
            on_failure=self.on_failure,
            tasks=self.background,
        )

    def cancel_background(self) -> None:
        """The connection is gone: its control messages in flight will never be answered."""
        current = asyncio.current_task()
        for task in self.background:
            if task is not current:
                task.cancel()

    @property
    def last_frame_at(self) -> float:
        """When the last message came in (monotonic seconds; pings and pongs are not messages), or when the
        connection opened if none has."""
        return max(self.ws.last_message_at, self.opened_at)

    @property
    def age(self) -> float:
        return time.monotonic() - self.opened_at

    @property
    def close_reason(self) -> str:
        """Why the connection closed, as a phrase: the reason it was closed for (rotation, watchdog,
        serverShutdown), else what the closing handshake says, else "" (still open, or no handshake)."""
        return self._close_reason or describe_close(self.ws)

    @close_reason.setter
    def close_reason(self, reason: str) -> None:
        self._close_reason = reason

    async def subscribe(self, streams: list[str]) -> None:
        for batch in chunks([s for s in streams if s not in self.streams], STREAMS_PER_CONTROL_MESSAGE):
            self.streams.update(batch)
            await self.control("SUBSCRIBE", batch)

    async def unsubscribe(self, streams: list[str]) -> None:
        for batch in chunks([s for s in streams if s in self.streams], STREAMS_PER_CONTROL_MESSAGE):
            self.streams.difference_update(batch)
            await self.control("UNSUBSCRIBE", batch)

    async def control(self, method: str, params: list[Any] | None = None, timeout: float = 10.0) -> Any:
        """Send one control message, paced, and wait for its answer."""
        request_id = next(self._ids)
        message: dict[str, Any] = {"method": method, "id": request_id}
        if params is not None:
            message["params"] = params
        future = asyncio.get_running_loop().create_future()
        self._acks[request_id] = future
        try:
            async with self._control_lock:
                wait = self._last_control + self._min_gap - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._last_control = time.monotonic()
                await self.ws.send(orjson.dumps(message).decode())
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise ControlTimeout(f"no answer to {method} within {timeout:g} s") from None
        finally:
            self._acks.pop(request_id, None)

    def resolve(self, request_id: Any, result: Any = None, error: str | None = None) -> bool:
        """Hand a control answer to its waiting caller. False if nobody asked."""
        future = self._acks.get(request_id) if isinstance(request_id, int) else None
        if future is None or future.done():
            return False
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(RuntimeError(error))
        return True

    async def close(self, reason: str) -> None:
        self._close_reason = self._close_reason or reason  # ours, even if the handshake said something
        await self.ws.close()
        await cancel_and_wait(list(self.background))

    def abort(self, reason: str) -> None:
        """Drop the connection now (watchdog): don't wait for a closing handshake on a dead socket."""
        self._close_reason = self._close_reason or reason  # ours, even if the handshake said something
        self.ws.transport.abort()


async def _unless_closed(coro: Coroutine[Any, Any, None]) -> None:
    """A control message cut short by the connection closing is not a failure: the reconnect resubscribes."""
    try:
        await coro
    except ConnectionClosed as exc:
        log.info("control message dropped: connection closed code=%s", exc.rcvd.code if exc.rcvd else None)
