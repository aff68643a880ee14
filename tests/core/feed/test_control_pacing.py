"""Control messages leave a connection at most 4 a second, under Binance's 5 (more closes the connection): a
whole market's subscriptions, 50 streams a message, against the simulator, which closes a connection that sends
more than 5 in a second as Binance does."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.feed.stream import STREAMS_PER_CONTROL_MESSAGE, StreamConnection, depth_stream
from core.market.wire import ControlResult, parse_stream_message
from core.simulator.server import ExchangeSimulator


@pytest.mark.asyncio
async def test_a_whole_markets_subscriptions_leave_under_five_control_messages_a_second():
    symbols = [f"S{i:03d}USDT" for i in range(301)]
    streams = [depth_stream(s, "100ms") for s in symbols]
    async with ExchangeSimulator(symbols=symbols, seed=1, interval_ms=1000) as sim:
        conn = await StreamConnection.open(sim.ws_url, streams[:1])

        def on_message(raw: bytes, _received_at: float) -> None:  # the answers to control messages; depth events are not wanted here
            message = parse_stream_message(raw)
            if type(message) is ControlResult:
                conn.resolve(message.id, message.result)

        reader = asyncio.ensure_future(conn.read(on_message))
        started = time.monotonic()
        await conn.subscribe(streams[1:])  # 300 streams: 6 SUBSCRIBE messages
        listed = await conn.control("LIST_SUBSCRIPTIONS")  # the 7th message: the connection is still open
        elapsed = time.monotonic() - started
        await conn.close("test over")
        await reader
    assert sorted(listed) == sorted(streams)
    messages = 300 // STREAMS_PER_CONTROL_MESSAGE + 1
    assert elapsed >= (messages - 1) / 4  # paced: a quarter of a second between two messages at least
