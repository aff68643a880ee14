"""The exchange simulator over real loopback sockets: streams, control messages, REST, faults, CLI."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import httpx
import orjson
import pytest
import pytest_asyncio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from core.feed.budget import depth_weight
from core.simulator import ExchangeSimulator
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[3]
ZERO = "0.00000000"


@pytest_asyncio.fixture
async def sim() -> AsyncIterator[ExchangeSimulator]:
    async with ExchangeSimulator(symbols=["BTCUSDT", "ETHUSDT"], seed=5, interval_ms=10) as simulator:
        yield simulator


@pytest_asyncio.fixture
async def http(sim: ExchangeSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.rest_url, timeout=5.0) as client:
        yield client


async def recv_json(ws: ClientConnection, timeout: float = 2.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def recv_until(ws: ClientConnection, predicate: Callable[[dict], bool], timeout: float = 3.0) -> dict:
    """The first message matching `predicate`; frames before it (events, mostly) are skipped."""
    async with asyncio.timeout(timeout):
        while True:
            message = orjson.loads(await ws.recv())
            if predicate(message):
                return message


async def closed_with(ws: ClientConnection, timeout: float = 3.0) -> ConnectionClosed:
    """Read until the server closes the connection; return how it closed."""
    async with asyncio.timeout(timeout):
        try:
            while True:
                await ws.recv()
        except ConnectionClosed as closed:
            return closed


async def depth_events(ws: ClientConnection, count: int) -> list[dict]:
    """The next `count` diff events, unwrapped."""
    events = []
    while len(events) < count:
        message = await recv_json(ws)
        data = message.get("data", message)
        if data.get("e") == "depthUpdate":
            events.append(data)
    return events


def is_reply(request_id: object) -> Callable[[dict], bool]:
    return lambda message: (
        message.get("id", "-") == request_id and ("result" in message or "error" in message)
    )


# ---- streams ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_combined_stream_sends_wrapped_contiguous_events(sim):
    async with connect(f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms") as ws:
        frames = [await recv_json(ws) for _ in range(5)]
    assert all(list(f) == ["stream", "data"] and f["stream"] == "btcusdt@depth@100ms" for f in frames)
    events = [f["data"] for f in frames]
    assert all(list(e) == ["e", "E", "s", "U", "u", "b", "a"] and e["s"] == "BTCUSDT" for e in events)
    assert all(b["U"] == a["u"] + 1 for a, b in itertools.pairwise(events))


@pytest.mark.asyncio
async def test_raw_ws_subscribe_list_and_unsubscribe(sim):
    async with connect(f"{sim.ws_url}/ws") as ws:
        await ws.send('{"method":"SUBSCRIBE","params":["ethusdt@depth@100ms"],"id":1}')
        assert await recv_json(ws) == {"result": None, "id": 1}
        event = await recv_json(ws)
        assert event["e"] == "depthUpdate" and event["s"] == "ETHUSDT"  # raw, not wrapped
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":2}')
        assert await recv_until(ws, is_reply(2)) == {"result": ["ethusdt@depth@100ms"], "id": 2}
        await ws.send('{"method":"UNSUBSCRIBE","params":["ethusdt@depth@100ms"],"id":"x-3"}')
        assert await recv_until(ws, is_reply("x-3")) == {"result": None, "id": "x-3"}
        await ws.send('{"method":"LIST_SUBSCRIPTIONS","id":null}')
        assert await recv_until(ws, is_reply(None)) == {"result": [], "id": None}


@pytest.mark.asyncio
async def test_every_subscriber_gets_the_same_events(sim):
    async with (
        connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as first,
        connect(f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms") as second,
    ):
        a = await depth_events(first, 15)
        b = await depth_events(second, 15)
    common = {e["u"] for e in a} & {e["u"] for e in b}
    assert len(common) >= 5
    assert [e for e in a if e["u"] in common] == [e for e in b if e["u"] in common]


@pytest.mark.asyncio
async def test_partial_depth_stream(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth5@100ms") as ws:
        first, second = await recv_json(ws), await recv_json(ws)
    for partial in (first, second):
        assert list(partial) == ["lastUpdateId", "bids", "asks"]
        assert len(partial["bids"]) == len(partial["asks"]) == 5
        assert Decimal(partial["bids"][0][0]) < Decimal(partial["asks"][0][0])
    assert second["lastUpdateId"] > first["lastUpdateId"]


@pytest.mark.asyncio
async def test_1000ms_depth_stream_merges_the_100ms_events(sim):
    async with connect(f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms/btcusdt@depth") as ws:
        fast: list[dict] = []
        while True:
            frame = await recv_json(ws)
            if frame["stream"] == "btcusdt@depth":
                slow = frame["data"]
                break
            fast.append(frame["data"])
    covered = [e for e in fast if slow["U"] <= e["U"] and e["u"] <= slow["u"]]
    assert covered and covered[-1]["u"] == slow["u"]
    if covered[0]["U"] == slow["U"]:  # the whole period was seen on the 100 ms stream
        bids: dict[str, str] = {}
        for event in covered:
            bids.update(event["b"])
        assert dict(slow["b"]) == bids


@pytest.mark.asyncio
async def test_combined_property(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        await ws.send('{"method":"GET_PROPERTY","params":["combined"],"id":1}')
        assert await recv_until(ws, is_reply(1)) == {"result": False, "id": 1}
        await ws.send('{"method":"SET_PROPERTY","params":["combined",true],"id":2}')
        assert await recv_until(ws, is_reply(2)) == {"result": None, "id": 2}
        frame = await recv_json(ws)
        assert frame["stream"] == "btcusdt@depth@100ms" and frame["data"]["e"] == "depthUpdate"
        await ws.send('{"method":"SET_PROPERTY","params":["combined","yes"],"id":3}')
        reply = await recv_until(ws, is_reply(3))
        assert reply == {"error": {"code": 1, "msg": "Invalid value type: expected Boolean"}, "id": 3}
        await ws.send('{"method":"GET_PROPERTY","params":["colour"],"id":4}')
        assert (await recv_until(ws, is_reply(4)))["error"] == {"code": 0, "msg": "Unknown property"}


@pytest.mark.asyncio
async def test_unknown_stream_is_acked_then_silent(sim):
    async with connect(f"{sim.ws_url}/ws") as ws:
        await ws.send(
            '{"method":"SUBSCRIBE","params":["nopeusdt@depth@100ms","BTCUSDT@depth","btcusdt@trade"],"id":9}'
        )
        assert await recv_json(ws) == {"result": None, "id": 9}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.3)  # 30 intervals without a frame


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (
            '{"method":"SUBSCRIBE","params":["@@@lixo###"],"id":7}',
            {"error": {"code": 2, "msg": "Invalid request: invalid stream"}, "id": 7},
        ),
        ('{"method":', {"code": 3, "id": None}),
        ("not json", {"code": 3, "id": None}),
        ('{"method":"PUBLISH","id":5}', {"code": 2, "id": 5}),
        ('{"params":[],"id":5}', {"code": 2, "id": None}),
        ('{"method":"LIST_SUBSCRIPTIONS","id":1.5}', {"code": 2, "id": None}),
    ],
)
async def test_control_errors(sim, message, expected):
    async with connect(f"{sim.ws_url}/ws") as ws:
        await ws.send(message)
        reply = await recv_json(ws)
    if "error" in expected:
        assert reply == expected
    else:
        assert reply["error"]["code"] == expected["code"] and reply["id"] == expected["id"]
        assert reply["error"]["msg"].startswith(("Invalid request", "Invalid JSON"))


@pytest.mark.asyncio
async def test_more_than_5_messages_a_second_closes_1008(sim):
    async with connect(f"{sim.ws_url}/ws") as ws:
        for i in range(6):
            await ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
        closed = await closed_with(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1008


@pytest.mark.asyncio
async def test_five_messages_a_second_are_fine(sim):
    async with connect(f"{sim.ws_url}/ws") as ws:
        for i in range(5):
            await ws.send(f'{{"method":"LIST_SUBSCRIPTIONS","id":{i}}}')
        for i in range(5):
            assert await recv_json(ws) == {"result": [], "id": i}


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/", b"Invalid request path"),
        ("/depth", b"Invalid request path"),
        ("/ws/@@bad", b"Invalid request: invalid stream"),
    ],
)
async def test_bad_websocket_paths_get_http_400(sim, path, body):
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{sim.ws_url}{path}"):
            pass
    assert refused.value.response.status_code == 400
    assert refused.value.response.body == body


@pytest.mark.asyncio
async def test_permessage_deflate_offered_and_optional(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        assert (await recv_json(ws))["e"] == "depthUpdate"
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms", compression=None) as ws:
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert (await recv_json(ws))["e"] == "depthUpdate"


@pytest.mark.asyncio
async def test_server_pings_and_drops_a_client_that_never_answers():
    async with ExchangeSimulator(
        symbols=["BTCUSDT"], interval_ms=50, ping_interval=0.1, ping_timeout=0.2
    ) as sim:
        reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
        received = await asyncio.wait_for(reader.read(), 3.0)  # until the server closes the TCP connection
        writer.close()
    opcodes = []
    while received:  # unmasked server frames with short payloads
        length = received[1] & 0x7F
        opcodes.append(received[0] & 0x0F)
        received = received[2 + length :]
    assert opcodes[0] == 0x9  # ping
    assert opcodes[-1] == 0x8  # close, since no pong came back


@pytest.mark.asyncio
async def test_max_connection_age_closes_with_1001():
    async with (
        ExchangeSimulator(symbols=["BTCUSDT"], interval_ms=10, max_connection_age=0.2) as sim,
        connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws,
    ):
        closed = await closed_with(ws)
    assert closed.rcvd is not None and closed.rcvd.code == 1001


# ---- REST ----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_rest_depth_snapshot_and_weight_headers(sim, http):
    reply = await http.get("/api/v3/depth", params={"symbol": "BTCUSDT"})
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["x-mbx-used-weight"] == reply.headers["x-mbx-used-weight-1m"] == "5"
    snapshot = reply.json()
    assert list(snapshot) == ["lastUpdateId", "bids", "asks"]
    assert len(snapshot["bids"]) == len(snapshot["asks"]) == 100
    bids = [Decimal(p) for p, _ in snapshot["bids"]]
    asks = [Decimal(p) for p, _ in snapshot["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
    assert all(q != ZERO for _, q in snapshot["bids"] + snapshot["asks"])

    big = await http.get("/api/v3/depth", params={"symbol": "ETHUSDT", "limit": 9999})
    assert big.headers["x-mbx-used-weight-1m"] == "255"  # capped at 5000: weight 250
    assert 1000 < len(big.json()["bids"]) <= 5000
    three = (await http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 3})).json()
    assert len(three["bids"]) == 3
    assert sim.stats.rest_requests["/api/v3/depth"] == 3 and sim.stats.used_weight == 260


@pytest.mark.parametrize(
    ("limit", "weight"), [(1, 5), (100, 5), (101, 25), (500, 25), (501, 50), (1000, 50), (1001, 250)]
)
def test_depth_weights(limit, weight):
    assert depth_weight(limit) == weight


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "params", "code", "msg"),
    [
        ("/api/v3/depth", {"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
        ("/api/v3/depth", {"symbol": "BTC_USDT"}, -1121, "Invalid symbol."),
        (
            "/api/v3/depth",
            {"symbol": "btcusdt"},
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
        ),
        (
            "/api/v3/depth",
            {},
            -1102,
            "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
        ),
        (
            "/api/v3/depth",
            {"symbol": "BTCUSDT", "limit": "abc"},
            -1100,
            "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'.",
        ),
        ("/api/v3/depth", {"symbol": "BTCUSDT", "limit": "-5"}, -1100, None),
        ("/api/v3/exchangeInfo", {"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
        ("/api/v3/exchangeInfo", {"symbols": '["BTCUSDT","NOPEUSDT"]'}, -1121, "Invalid symbol."),
        ("/api/v3/exchangeInfo", {"symbols": "BTCUSDT"}, -1100, None),
    ],
)
async def test_rest_errors_have_binance_bodies(http, path, params, code, msg):
    reply = await http.get(path, params=params)
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("application/json")
    assert "x-mbx-used-weight-1m" in reply.headers
    assert reply.json()["code"] == code
    if msg is not None:
        assert reply.json() == {"code": code, "msg": msg}


@pytest.mark.asyncio
async def test_rest_unknown_path_is_an_empty_404(http):
    reply = await http.get("/api/v3/trades", params={"symbol": "BTCUSDT"})
    assert reply.status_code == 404 and reply.content == b""
    assert "x-mbx-used-weight-1m" in reply.headers


@pytest.mark.asyncio
async def test_exchange_info(sim, http):
    sim.add_symbol("SOLUSDT")
    everything = (await http.get("/api/v3/exchangeInfo")).json()
    assert [s["symbol"] for s in everything["symbols"]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert everything["timezone"] == "UTC" and isinstance(everything["serverTime"], int)
    assert {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000} in (
        everything["rateLimits"]
    )
    reply = await http.get("/api/v3/exchangeInfo", params={"symbols": '["ETHUSDT","BTCUSDT"]'})
    assert reply.headers["x-mbx-used-weight-1m"] == "40"
    eth, btc = reply.json()["symbols"]
    assert (btc["symbol"], btc["status"], btc["baseAsset"], btc["quoteAsset"]) == (
        "BTCUSDT",
        "TRADING",
        "BTC",
        "USDT",
    )
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert {f["filterType"]: f for f in eth["filters"]}["LOT_SIZE"]["stepSize"] == "0.00010000"
    single = (await http.get("/api/v3/exchangeInfo", params={"symbol": "SOLUSDT"})).json()
    assert [s["symbol"] for s in single["symbols"]] == ["SOLUSDT"]


@pytest.mark.asyncio
async def test_added_symbol_streams_and_snapshots(sim, http):
    sim.add_symbol("ADAUSDT")
    async with connect(f"{sim.ws_url}/ws/adausdt@depth@100ms") as ws:
        assert (await recv_json(ws))["s"] == "ADAUSDT"
    assert (await http.get("/api/v3/depth", params={"symbol": "ADAUSDT"})).status_code == 200


@pytest.mark.asyncio
async def test_rate_limit_fault_then_recovery(sim, http):
    sim.faults.rate_limit(status=429, retry_after=2, count=2)
    for _ in range(2):
        reply = await http.get("/api/v3/depth", params={"symbol": "BTCUSDT"})
        assert reply.status_code == 429
        assert reply.headers["retry-after"] == "2"
        assert reply.json()["code"] == -1003
        assert reply.json()["msg"].startswith("Too much request weight used; current limit is 6000")
    assert (await http.get("/api/v3/depth", params={"symbol": "BTCUSDT"})).status_code == 200
    sim.faults.rate_limit(status=418, retry_after=120)
    banned = await http.get("/api/v3/exchangeInfo")
    assert banned.status_code == 418 and banned.headers["retry-after"] == "120"
    assert banned.json()["msg"].startswith("Way too much request weight used; IP banned until ")
    assert sim.stats.rest_rejected == 3


@pytest.mark.asyncio
async def test_weight_limit_gives_429_with_retry_after():
    async with (
        ExchangeSimulator(symbols=["BTCUSDT"], interval_ms=50, weight_limit=60) as sim,
        httpx.AsyncClient(base_url=sim.rest_url) as http,
    ):
        statuses = []
        for _ in range(30):  # 12 fit in a minute window; more, should the minute roll over meanwhile
            reply = await http.get("/api/v3/depth", params={"symbol": "BTCUSDT"})
            statuses.append(reply.status_code)
            if reply.status_code == 429:
                break
    assert statuses[:12] == [200] * 12 and statuses[-1] == 429
    assert 1 <= int(reply.headers["retry-after"]) <= 60
    assert reply.json()["code"] == -1003


# ---- stream faults ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_drop_events_fault_makes_a_gap(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        previous = (await depth_events(ws, 1))[0]
        sim.faults.drop_events("BTCUSDT", n=3)
        async with asyncio.timeout(3):
            while True:
                event = (await depth_events(ws, 1))[0]
                if event["U"] != previous["u"] + 1:
                    break
                previous = event
    assert event["U"] > previous["u"] + 1
    assert sim.stats.events_dropped["BTCUSDT"] == 3


@pytest.mark.asyncio
async def test_duplicate_events_fault_resends_stale_events(sim):
    async with connect(f"{sim.ws_url}/stream?streams=ethusdt@depth@100ms") as ws:
        newest = (await depth_events(ws, 1))[0]["u"]
        sim.faults.duplicate_events("ETHUSDT", n=2)
        stale = []
        async with asyncio.timeout(3):
            while len(stale) < 2:
                event = (await depth_events(ws, 1))[0]
                if event["u"] <= newest:
                    stale.append(event)
                newest = max(newest, event["u"])


@pytest.mark.asyncio
async def test_silence_fault_stops_events_while_ids_advance(sim):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        before = (await depth_events(ws, 1))[0]
        sim.faults.silence("BTCUSDT", seconds=0.3)
        last_arrival = time.monotonic()
        async with asyncio.timeout(3):
            while True:
                after = (await depth_events(ws, 1))[0]
                arrival = time.monotonic()
                if after["U"] != before["u"] + 1:
                    break
                before, last_arrival = after, arrival
    assert arrival - last_arrival >= 0.2
    assert after["U"] > before["u"] + 20  # the market moved on meanwhile
    assert sim.stats.events_silenced["BTCUSDT"] >= 20


@pytest.mark.asyncio
async def test_malformed_frames_fault(sim):
    async with connect(f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms") as ws:
        await recv_json(ws)
        sim.faults.malformed_frames(n=3)
        broken, wrong_types = 0, 0
        async with asyncio.timeout(3):
            while broken < 2 or wrong_types < 1:
                frame = await ws.recv()
                try:
                    message = orjson.loads(frame)
                except orjson.JSONDecodeError:
                    broken += 1
                    continue
                wrong_types += not isinstance(message["data"].get("u"), int)
        assert (await recv_json(ws))["data"]["e"] == "depthUpdate"  # and the stream goes on


@pytest.mark.asyncio
async def test_server_shutdown_event_then_close(sim):
    async with (
        connect(f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms") as combined,
        connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as raw,
    ):
        await recv_json(combined)
        await recv_json(raw)
        sim.faults.server_shutdown()
        wrapped = await recv_until(combined, lambda m: m.get("stream") == "!serverShutdown")
        assert list(wrapped["data"]) == ["e", "E"] and wrapped["data"]["e"] == "serverShutdown"
        assert (await recv_until(raw, lambda m: m.get("e") == "serverShutdown"))["E"] > 0
        for ws in (combined, raw):
            closed = await closed_with(ws)
            assert closed.rcvd is not None and closed.rcvd.code == 1001
    # The exchange itself is still up: clients reconnect.
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as again:
        assert (await recv_json(again))["e"] == "depthUpdate"


@pytest.mark.asyncio
@pytest.mark.parametrize("code", [1006, 1011])
async def test_disconnect_all(sim, code):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        await recv_json(ws)
        sim.faults.disconnect_all(code=code)
        closed = await closed_with(ws)
    if code == 1006:
        assert closed.rcvd is None  # no close frame: the TCP connection just went away
    else:
        assert closed.rcvd is not None and closed.rcvd.code == code
    await wait_until(lambda: sim.stats.connections_open == 0, 2.0, "every connection closed")


# ---- snapshots against the stream -----------------------------------------------------------------


async def sync_book(
    ws: ClientConnection, http: httpx.AsyncClient, symbol: str
) -> tuple[dict, dict, int, int]:
    """Binance's "manage a local order book" procedure; returns (bids, asks, id, snapshots fetched)."""
    buffered = await depth_events(ws, 1)
    fetched = 0
    while True:
        snapshot = (await http.get("/api/v3/depth", params={"symbol": symbol, "limit": 5000})).json()
        fetched += 1
        if snapshot["lastUpdateId"] >= buffered[0]["U"]:
            break
        buffered += await depth_events(ws, 1)  # step 4: the snapshot is older than the stream; again
    book_id = snapshot["lastUpdateId"]
    bids = {p: q for p, q in snapshot["bids"]}
    asks = {p: q for p, q in snapshot["asks"]}
    pending = list(buffered)
    while True:
        for event in pending:
            if event["u"] <= book_id:
                continue
            assert event["U"] <= book_id + 1, "gap"
            for book, levels in ((bids, event["b"]), (asks, event["a"])):
                for price, qty in levels:
                    if qty == ZERO:
                        book.pop(price, None)
                    else:
                        book[price] = qty
            book_id = event["u"]
        if book_id > snapshot["lastUpdateId"] + 200:
            return bids, asks, book_id, fetched
        pending = await depth_events(ws, 10)


@pytest.mark.asyncio
async def test_client_following_binance_rules_has_the_true_book(sim, http):
    async with connect(f"{sim.ws_url}/stream?streams=btcusdt@depth@100ms") as ws:
        bids, asks, book_id, fetched = await sync_book(ws, http, "BTCUSDT")
    assert fetched == 1
    assert (bids, asks) == sim.market("BTCUSDT").book_at(book_id)


@pytest.mark.asyncio
async def test_stale_snapshot_fault_forces_the_step_4_retry(sim, http):
    async with connect(f"{sim.ws_url}/ws/ethusdt@depth@100ms") as ws:
        first = (await depth_events(ws, 1))[0]
        sim.faults.stale_snapshot("ETHUSDT")
        stale = (await http.get("/api/v3/depth", params={"symbol": "ETHUSDT", "limit": 20})).json()
        assert stale["lastUpdateId"] < first["U"] - 1  # older than the stream, by more than one event
        bids, _ = sim.market("ETHUSDT").book_at(stale["lastUpdateId"])
        assert stale["bids"][0] == list(max(bids.items(), key=lambda kv: Decimal(kv[0])))
        sim.faults.stale_snapshot("ETHUSDT")
        bids, asks, book_id, fetched = await sync_book(ws, http, "ETHUSDT")
    assert fetched == 2
    assert (bids, asks) == sim.market("ETHUSDT").book_at(book_id)


@pytest.mark.asyncio
async def test_straddle_snapshot_fault_lands_inside_an_event(sim, http):
    async with connect(f"{sim.ws_url}/ws/btcusdt@depth@100ms") as ws:
        events = await depth_events(ws, 3)
        sim.faults.straddle_snapshot("BTCUSDT")
        snapshot = (await http.get("/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5000})).json()
        last_id = snapshot["lastUpdateId"]
        # The event it lands in may already have arrived, as it would be buffered on a real client.
        if events[-1]["u"] <= last_id:
            events.append(await recv_until(ws, lambda e: e["u"] > last_id))
    event = next(e for e in events if e["u"] > last_id)
    assert event["U"] <= last_id < event["u"]  # strictly inside: U <= L+1 <= u still holds
    bids = {p: q for p, q in snapshot["bids"]}
    for price, qty in event["b"]:
        if qty == ZERO:
            bids.pop(price, None)
        else:
            bids[price] = qty
    assert bids == sim.market("BTCUSDT").book_at(event["u"])[0]


# ---- command line -------------------------------------------------------------------------------


@pytest.mark.parametrize("modes", [[], ["--fast-market", "--long-tail"]])
def test_cli_prints_urls_serves_and_exits_0_on_ctrl_c(modes):
    process = subprocess.Popen(
        [sys.executable, "-m", "core.cli.main", "sim", "--port", "0", "--symbols", "BTCUSDT", "--interval-ms", "20", *modes],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        ws_line = process.stdout.readline().split()
        rest_line = process.stdout.readline().split()
        assert ws_line[0] == "ws" and ws_line[1].startswith("ws://127.0.0.1:")
        assert rest_line[0] == "rest" and rest_line[1].startswith("http://127.0.0.1:")
        reply = httpx.get(f"{rest_line[1]}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": 5}, timeout=5)
        assert reply.status_code == 200 and len(reply.json()["bids"]) == 5
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in stderr
