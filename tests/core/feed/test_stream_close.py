"""StreamConnection.close_reason: why a connection ended, for the manager's "disconnected" log line."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from core.feed.stream import MAX_FRAME_BYTES, PLAIN_READ_BYTES, StreamConnection
from core.simulator.server import ExchangeSimulator
from tests.core.feed.relays import WsRelay
from tests.waiting import wait_until


@pytest.mark.asyncio
async def test_the_exchanges_close_is_described_and_our_own_reason_wins():
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=3, interval_ms=20) as sim:
        conn = await StreamConnection.open(sim.ws_url, ["btcusdt@depth@100ms"])
        assert conn.close_reason == ""  # open
        sim.faults.disconnect_all(code=1001, reason="Server shutdown")
        await wait_until(lambda: conn.ws.protocol.close_rcvd is not None, what="the close frame")
        assert conn.close_reason == "closed by the exchange (code 1001, Server shutdown)"
        # The manager closes after a serverShutdown frame; that reason must survive the handshake that came
        # first, because it decides an immediate reconnect.
        await conn.close("serverShutdown")
        assert conn.close_reason == "serverShutdown"


@contextlib.asynccontextmanager
async def relayed_connection():
    """A StreamConnection to the simulator through a relay that can inject frames, once the relay holds it."""
    async with (
        ExchangeSimulator(symbols=["BTCUSDT"], seed=3, interval_ms=20) as sim,
        WsRelay(sim.ws_url) as relay,
    ):
        conn = await StreamConnection.open(relay.url, ["btcusdt@depth@100ms"])
        await wait_until(lambda: relay.clients, what="the relayed connection")
        yield conn, relay


@pytest.mark.asyncio
async def test_an_oversized_frame_is_named_as_such():
    async with relayed_connection() as (conn, relay):
        await relay.inject("x" * (MAX_FRAME_BYTES + 1))
        await wait_until(lambda: conn.ws.protocol.close_sent is not None, what="our close frame")
        reason = conn.close_reason
        assert reason.startswith("a frame over the 4 MiB size limit arrived (") and reason.endswith(
            "code 1009"
        )
        await conn.close("done")


@pytest.mark.asyncio
async def test_a_plain_connection_reads_in_small_pieces_and_still_takes_a_large_frame_whole():
    async with relayed_connection() as (conn, relay):
        assert conn.ws.transport.max_size == PLAIN_READ_BYTES  # asyncio's own would be 256 KiB
        big = '{"stream":"x","data":"' + "y" * (16 * PLAIN_READ_BYTES) + '"}'  # 16 reads' worth
        messages: list[bytes] = []
        reader = asyncio.create_task(conn.read(lambda message, _at: messages.append(message)))
        await relay.inject(big)
        await wait_until(lambda: big.encode() in messages, what="the large frame")
        assert all(len(m) < PLAIN_READ_BYTES for m in messages if m != big.encode())  # the simulator's own
        await conn.close("done")
        await reader
