"""DeliveringConnection and StreamConnection.read: every message handed over whole, in order, exactly once, by the
socket's own callback, against a real WebSocket server on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosedError

from core.feed.stream import StreamConnection
from tests.waiting import wait_until

Script = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def connected(script: Script) -> AsyncIterator[StreamConnection]:
    """A StreamConnection to a server that runs `script` on the connection, then keeps it open until closed."""

    async def handle(ws: ServerConnection) -> None:
        await script(ws)
        await ws.wait_closed()

    async with serve(handle, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        conn = await StreamConnection.open(f"ws://127.0.0.1:{port}", ["btcusdt@depth@100ms"])
        try:
            yield conn
        finally:
            await conn.close("test over")


async def until_received(ws: ServerConnection) -> None:
    """Return once the client has read everything sent so far: it answers a ping only after the frames before it."""
    await (await ws.ping())


@pytest.mark.asyncio
async def test_messages_that_came_before_the_reader_are_delivered_first_and_in_order():
    go = asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        for text in ("m1", "m2", "m3"):
            await ws.send(text)
        await until_received(ws)
        await go.wait()
        await ws.send("m4")

    async with connected(script) as conn:
        await wait_until(lambda: len(conn.ws._early) == 3, what="three frames before anyone reads")
        got: list[bytes] = []
        reader = asyncio.create_task(conn.read(lambda message, _at: got.append(message)))
        await wait_until(lambda: len(got) == 3, what="the early frames")
        go.set()
        await wait_until(lambda: len(got) == 4, what="the later frame")
        assert got == [b"m1", b"m2", b"m3", b"m4"]
    await reader  # closed by us, cleanly: read returns


@pytest.mark.asyncio
async def test_a_fragmented_message_is_delivered_whole_and_not_utf8_text_does_not_end_the_connection():
    async def script(ws: ServerConnection) -> None:
        await ws.send(["ab", "cd", "ef"])  # one message in three frames
        await ws.send(b"\xff\xfe", text=True)  # a text frame that is not UTF-8: the parser's to refuse
        await ws.send("after")

    async with connected(script) as conn:
        got: list[bytes] = []
        reader = asyncio.create_task(conn.read(lambda message, _at: got.append(message)))
        await wait_until(lambda: len(got) == 3, what="three messages")
        assert got == [b"abcdef", b"\xff\xfe", b"after"]
        assert not reader.done()  # still open
    await reader


@pytest.mark.asyncio
async def test_a_reader_that_fails_drops_the_connection_and_is_given_no_later_frame():
    class Bug(RuntimeError):
        pass

    async def script(ws: ServerConnection) -> None:
        await ws.send("first")
        await ws.send("second")
        await ws.send("third")

    calls: list[bytes] = []

    def failing(message: bytes, _received_at: float) -> None:
        calls.append(message)
        raise Bug("handler bug")

    async with connected(script) as conn:
        with pytest.raises(Bug, match="handler bug"):
            await asyncio.wait_for(conn.read(failing), 10)
        assert calls == [b"first"]
        assert conn.close_reason == "the stream reader failed"


@pytest.mark.asyncio
async def test_a_cancelled_reader_is_given_no_later_frame():
    sent_after_cancel = asyncio.Event()
    cancelled = asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        await ws.send("before")
        await cancelled.wait()
        await ws.send("after")
        await until_received(ws)
        sent_after_cancel.set()

    async with connected(script) as conn:
        got: list[bytes] = []
        reader = asyncio.create_task(conn.read(lambda message, _at: got.append(message)))
        await wait_until(lambda: got, what="the first frame")
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        cancelled.set()
        await asyncio.wait_for(sent_after_cancel.wait(), 10)
        assert got == [b"before"]


@pytest.mark.asyncio
async def test_a_lost_connection_raises_and_a_closed_one_returns():
    async def dropped(ws: ServerConnection) -> None:
        await ws.send("last words")
        ws.transport.abort()  # no closing handshake: the connection is lost

    async with connected(dropped) as conn:
        got: list[bytes] = []
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(conn.read(lambda message, _at: got.append(message)), 10)
        assert got == [b"last words"]

    async def closed(ws: ServerConnection) -> None:
        await ws.send("goodbye")
        await ws.close(1000, "done")

    async with connected(closed) as conn:
        got = []
        await asyncio.wait_for(conn.read(lambda message, _at: got.append(message)), 10)  # returns: a clean close
        assert got == [b"goodbye"]
        assert conn.close_reason == "closed by the exchange (code 1000, done)"


@pytest.mark.asyncio
async def test_each_message_comes_with_the_time_its_read_came_in_which_is_the_connections_last_frame_time():
    go = asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        await ws.send("early")
        await asyncio.wait_for(go.wait(), 10)  # bounded: a failed assertion must not leave the server waiting
        await ws.send("later")

    async with connected(script) as conn:
        await wait_until(lambda: conn.ws._early, what="a frame before anyone reads")
        early_at = conn.ws.received_at
        assert conn.last_frame_at == max(early_at, conn.opened_at)  # it may come in while the connection opens
        got: list[tuple[bytes, float]] = []
        reader = asyncio.create_task(conn.read(lambda message, at: got.append((message, at))))
        await wait_until(lambda: got, what="the early frame")
        assert got == [(b"early", early_at)]  # kept with its own time, not the time it was handed over
        before = time.monotonic()
        go.set()
        await wait_until(lambda: len(got) == 2, what="the later frame")
        assert got[1][0] == b"later"
        assert before <= got[1][1] <= time.monotonic()
        assert conn.last_frame_at == got[1][1]
    await reader


@pytest.mark.asyncio
async def test_a_ping_alone_does_not_count_as_a_frame_for_the_watchdog():
    data_seen, pinged, go = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def script(ws: ServerConnection) -> None:
        # Each wait is bounded: a failed assertion must not leave the server waiting.
        await ws.send("data")
        await asyncio.wait_for(data_seen.wait(), 10)  # the ping then comes in a read of its own
        await until_received(ws)  # its pong came back: the client has read the ping
        pinged.set()
        await asyncio.wait_for(go.wait(), 10)
        await ws.send("more data")

    async with connected(script) as conn:
        got: list[tuple[bytes, float]] = []
        reader = asyncio.create_task(conn.read(lambda message, at: got.append((message, at))))
        await wait_until(lambda: got, what="the first frame")
        data_at = got[0][1]
        data_seen.set()
        await asyncio.wait_for(pinged.wait(), 10)
        go.set()
        assert conn.ws.received_at > data_at  # the ping's read came in after the data's
        assert conn.last_frame_at == max(data_at, conn.opened_at)  # ... and the watchdog did not count it
        await wait_until(lambda: len(got) == 2, what="the later frame")
        assert conn.last_frame_at == got[1][1]
    await reader
