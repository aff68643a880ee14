"""REST answers that must not be trusted, and start-up against an exchange that is down or half right
(issue 11), against the Binance-like server of test_rest.py over real HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket

import orjson
import pytest
import pytest_asyncio

from core.feed.errors import ExchangeRejectedError, ExchangeUnavailableError
from core.feed.rest import SYMBOLS_PER_INFO_REQUEST, RestClient, SymbolCheck
from tests.core.feed.test_rest import (
    EXCHANGE_INFO,
    TOO_MUCH,
    Collector,
    FakeBinance,
    Reply,
    one_sentence,
    running,
)
from tests.waiting import wait_until


@pytest_asyncio.fixture
async def fake():
    server = FakeBinance()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def rest(fake):
    async with RestClient(fake.url, timeout=2.0) as client:
        yield client


def depth(bids, asks, last=42) -> bytes:
    return orjson.dumps({"lastUpdateId": last, "bids": bids, "asks": asks})


GOOD = depth([["100.00000000", "1.00000000"]], [["100.01000000", "2.00000000"]])


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (depth([["100.01000000", "1"]], [["100.01000000", "1"]]), "crossed: best bid 100.01000000"),
        (depth([["100", "1"]], [["99.99999999", "1"]]), "crossed"),
        (depth([["99", "1"], ["100", "1"]], []), "bids are not in descending price order at 100"),
        (depth([], [["101", "1"], ["101.0", "1"]]), "asks repeat the price 101.0"),
        (depth([["100", "0.00000000"]], []), "quantity is not a plain decimal above zero: '0.00000000'"),
        (depth([["1e2", "1"]], []), "price is not a plain decimal above zero: '1e2'"),
        (depth([["100", "1", "2"]], []), "is not a [price, quantity] pair"),
    ],
)
async def test_an_unusable_snapshot_is_an_outage_in_one_sentence(fake, rest, body, says):
    fake.scripts["BTCUSDT"] = [Reply(200, body)]
    with pytest.raises(ExchangeUnavailableError) as err:
        await rest.depth("BTCUSDT")
    message = str(err.value)
    assert one_sentence(message), message
    assert message.startswith(
        f"The exchange at {fake.url} sent an unreadable answer to /api/v3/depth (BTCUSDT "
    )
    assert says in message


@pytest.mark.asyncio
async def test_the_scheduler_refetches_a_crossed_snapshot_and_delivers_only_the_good_one(fake, rest, caplog):
    fake.scripts["BTCUSDT"] = [Reply(200, depth([["101", "1"]], [["100", "1"]], last=1)), Reply(200, GOOD)]
    got = Collector()
    with caplog.at_level(logging.WARNING, logger="core.feed.scheduler"):
        async with running(rest, got) as sched:
            sched.request("BTCUSDT")
            await wait_until(lambda: got.got, what="a snapshot delivered")
            assert sched.errors == 1 and "crossed" in (sched.last_error or "")
    assert [snap.last_update_id for _, snap in got.got] == [42]  # only the good one
    assert [s.status for s in fake.depth_requests("BTCUSDT")] == [200, 200]
    warned = [r.getMessage() for r in caplog.records if r.name == "core.feed.scheduler"]
    assert len(warned) == 1 and "symbol=BTCUSDT" in warned[0] and "best bid 101" in warned[0]


# --- which symbols can be followed -------------------------------------------------------------------------


def exchange_info_with(status: dict[str, str]) -> bytes:
    info = orjson.loads(EXCHANGE_INFO.read_bytes())
    for item in info["symbols"]:
        item["status"] = status.get(item["symbol"], item["status"])
    return orjson.dumps(info)


@pytest.mark.asyncio
async def test_check_symbols_keeps_the_good_ones_and_names_each_bad_one(fake, rest):
    check = await rest.check_symbols(["btcusdt", "NOPEUSDT", "BTC/USDT", " BTCUSDT ", "ETHUSDT"])
    assert check.valid == ["BTCUSDT", "ETHUSDT"] and check.unknown == ("NOPEUSDT",)
    assert check.bad_names == ("BTC/USDT",) and check.not_trading == {}
    assert check.invalid == ["BTC/USDT", "NOPEUSDT"]
    assert (
        check.describe()
        == "Cannot follow 'BTC/USDT' (not a symbol name) and NOPEUSDT (not a symbol on this exchange)."
    )
    assert check.problems() == [
        "'BTC/USDT' is not a valid symbol name (use letters and digits, like BTCUSDT).",
        "NOPEUSDT is not a symbol on this exchange.",
    ]
    # One request for the list, refused for NOPEUSDT, then the full list once; nothing for BTC/USDT.
    assert [s.params for s in fake.seen] == [{"symbols": '["BTCUSDT","NOPEUSDT","ETHUSDT"]'}, {}]


@pytest.mark.asyncio
async def test_check_symbols_of_many_names_asks_for_the_whole_list_once(fake, rest):
    # A whole market's names in chunks of a hundred would cost 20 weight each at the start, the minute its syncs
    # and first rescues need every bit of the budget: one unfiltered request costs 20 for them all.
    names = ["ETHUSDT", "NOPEUSDT"] + [f"X{i:03d}USDT" for i in range(SYMBOLS_PER_INFO_REQUEST)] + ["BTCUSDT"]
    check = await rest.check_symbols(names)
    assert check.valid == ["ETHUSDT", "BTCUSDT"] and len(check.unknown) == SYMBOLS_PER_INFO_REQUEST + 1
    assert [s.params for s in fake.seen] == [{}]


@pytest.mark.asyncio
async def test_check_symbols_tells_a_symbol_that_is_not_trading(fake, rest):
    fake.scripts["exchangeInfo"] = [Reply(200, exchange_info_with({"ETHUSDT": "BREAK"}))]
    check = await rest.check_symbols(["BTCUSDT", "ETHUSDT"])
    assert check.valid == ["BTCUSDT"] and list(check.not_trading) == ["ETHUSDT"]
    assert check.describe() == "Cannot follow ETHUSDT (not trading, status BREAK)."
    assert check.problems() == ["ETHUSDT is not trading right now (status BREAK)."]


@pytest.mark.asyncio
async def test_check_symbols_of_one_unknown_symbol(fake, rest):
    assert await rest.check_symbols(["NOPEUSDT"]) == SymbolCheck(unknown=("NOPEUSDT",))
    assert (await rest.check_symbols([])).describe() == ""


@pytest.mark.asyncio
async def test_check_symbols_retries_while_the_exchange_cannot_answer(fake, rest, caplog):
    fake.scripts["exchangeInfo"] = [
        Reply(500, b"oops"),
        Reply(200, b"<html>captive portal</html>"),
        Reply(429, TOO_MUCH, {"Retry-After": "0"}),
        Reply(403, b"<html>blocked</html>"),
    ]
    retries: list[tuple[str, float]] = []
    with caplog.at_level(logging.WARNING, logger="core.feed.rest"):
        check = await rest.check_symbols(
            ["BTCUSDT"], retry_for=30, retry_initial=0.01, on_retry=lambda s, d: retries.append((s, d))
        )
    assert check.valid == ["BTCUSDT"]
    assert [s.status for s in fake.seen] == [500, 200, 429, 403, 200]
    assert len(retries) == 4 and all(one_sentence(s) for s, _ in retries)
    assert "HTTP 500" in retries[0][0] and "unreadable answer" in retries[1][0]
    assert "too many requests" in retries[2][0] and "HTTP 403" in retries[3][0]
    assert len([r for r in caplog.records if "exchangeInfo failed, retrying" in r.getMessage()]) == 4


@pytest.mark.asyncio
async def test_check_symbols_without_retry_raises_the_failure(fake, rest):
    fake.scripts["exchangeInfo"] = [Reply(403, b"<html>blocked</html>")]
    with pytest.raises(ExchangeRejectedError, match="HTTP 403"):
        await rest.check_symbols(["BTCUSDT"])
    fake.scripts["exchangeInfo"] = [Reply(502, b""), Reply(502, b""), Reply(502, b"")]
    with pytest.raises(ExchangeUnavailableError, match="HTTP 502"):  # gives up within retry_for
        await rest.check_symbols(["BTCUSDT"], retry_for=0.05, retry_initial=0.02)


@pytest.mark.asyncio
async def test_check_symbols_waits_for_an_exchange_that_is_not_up_yet():
    with socket.socket() as sock:  # a port nobody listens on, yet
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = FakeBinance()
    retries: list[str] = []
    async with RestClient(f"http://127.0.0.1:{port}", timeout=2.0) as client:
        asking = asyncio.create_task(
            client.check_symbols(
                ["BTCUSDT", "NOPEUSDT"],
                retry_for=math.inf,
                retry_initial=0.05,
                retry_max=0.2,
                on_retry=lambda s, d: retries.append(s),
            )
        )
        await wait_until(lambda: len(retries) >= 2, what="two failed attempts")
        assert "could not connect" in retries[0]
        server._server = await asyncio.start_server(server._connection, "127.0.0.1", port)
        try:
            check = await asyncio.wait_for(asking, 5)
        finally:
            await server.stop()
    assert check.valid == ["BTCUSDT"] and check.unknown == ("NOPEUSDT",)
