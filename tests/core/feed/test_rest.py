"""REST client, weight budget and snapshot scheduler, against a small Binance-like HTTP server on loopback.

The server speaks real HTTP/1.1 (keep-alive) over a real socket; nothing in httpx is mocked. It answers
from per-symbol scripts of canned replies, records every request with server-side timestamps and counts
how many are in flight at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
import pytest
import pytest_asyncio

from core.feed.backoff import backoff
from core.feed.budget import WeightBudget, depth_weight
from core.feed.errors import (
    ExchangeRejectedError,
    ExchangeUnavailableError,
    InvalidSymbolError,
    RateLimitedError,
)
from core.feed.rest import EXCHANGE_INFO_WEIGHT, RestClient
from core.feed.scheduler import RETRY_INITIAL, RETRY_MAX, SnapshotScheduler
from core.market.wire import DepthSnapshot
from tests.conftest import FIXTURES
from tests.waiting import wait_until

EXCHANGE_INFO = FIXTURES / "04_single_messages" / "spot_exchangeInfo_subset_2025-08-07_keys_sorted.json"
INVALID_SYMBOL = b'{"code":-1121,"msg":"Invalid symbol."}'
TOO_MUCH = (
    b'{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE."}'
)
BANNED = b'{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000000000."}'

# --- a Binance-like server ------------------------------------------------------------------------


@dataclass
class Reply:
    status: int = 200
    body: bytes | None = None  # None: the default answer for the path
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    arrived: float  # wall clock, server side
    path: str
    params: dict[str, str]
    status: int = 0
    replied: float = 0.0

    @property
    def symbol(self) -> str:
        return self.params.get("symbol", "")


class FakeBinance:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.scripts: dict[str, list[Reply]] = {}  # by symbol (depth) or "exchangeInfo"
        self.unknown = {"NOPEUSDT"}
        self.depth_delay = 0.0
        self.used_weight = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._info = orjson.loads(EXCHANGE_INFO.read_bytes())
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self.url = ""

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def depth_requests(self, symbol: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.path == "/api/v3/depth" and symbol in (None, s.symbol)]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
                url = urlsplit(target)
                seen = Seen(time.time(), url.path, dict(parse_qsl(url.query)))
                self.seen.append(seen)
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                try:
                    status, body, headers = await self._answer(seen)
                finally:
                    self.in_flight -= 1  # before writing: the client may send its next request at once
                seen.status, seen.replied = status, time.time()
                lines = [
                    f"HTTP/1.1 {status} X",
                    f"Content-Length: {len(body)}",
                    "Content-Type: application/json",
                ]
                lines += [f"{k}: {v}" for k, v in headers.items()]
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, seen: Seen) -> tuple[int, bytes, dict[str, str]]:
        kind = "exchangeInfo" if seen.path == "/api/v3/exchangeInfo" else seen.symbol
        script = self.scripts.get(kind)
        reply = (
            script.pop(0) if script else Reply(delay=self.depth_delay if seen.path.endswith("depth") else 0)
        )
        if reply.delay:
            await asyncio.sleep(reply.delay)
        headers = dict(reply.headers)
        if seen.path == "/api/v3/depth":
            self.used_weight += depth_weight(int(seen.params.get("limit", "100")))
        else:
            self.used_weight += EXCHANGE_INFO_WEIGHT
        headers.setdefault("x-mbx-used-weight-1m", str(self.used_weight))
        if reply.body is not None:
            return reply.status, reply.body, headers
        if seen.path == "/api/v3/depth":
            if seen.symbol in self.unknown:
                return 400, INVALID_SYMBOL, headers
            body = {"lastUpdateId": len(self.seen), "bids": [["1.00000000", "2.00000000"]], "asks": []}
            return 200, orjson.dumps(body), headers
        if seen.path == "/api/v3/exchangeInfo":
            return self._exchange_info(seen.params, headers)
        return 404, b"", headers

    def _exchange_info(self, params: dict[str, str], headers: dict[str, str]):
        known = {s["symbol"]: s for s in self._info["symbols"]}
        if "symbol" in params:
            wanted = [params["symbol"]]
        elif "symbols" in params:
            wanted = orjson.loads(params["symbols"])
        else:
            wanted = list(known)
        if any(s not in known for s in wanted):
            return 400, INVALID_SYMBOL, headers
        return 200, orjson.dumps({**self._info, "symbols": [known[s] for s in wanted]}), headers


@pytest_asyncio.fixture
async def fake():
    server = FakeBinance()
    await server.start()
    yield server
    await server.stop()


@pytest_asyncio.fixture
async def rest(fake):
    client = RestClient(fake.url, timeout=2.0)
    yield client
    await client.aclose()


def one_sentence(message: str) -> bool:
    return "\n" not in message and "Traceback" not in message and message.endswith(".")


# --- WeightBudget (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "weight"),
    [
        (1, 5),
        (5, 5),
        (100, 5),
        (101, 25),
        (500, 25),
        (501, 50),
        (1000, 50),
        (1001, 250),
        (5000, 250),
        (9999, 250),
    ],
)
def test_depth_weight_table(limit, weight):
    assert depth_weight(limit) == weight


def test_depth_weight_rejects_zero():
    with pytest.raises(ValueError):
        depth_weight(0)


T0 = 1_737_158_400.0  # a UTC minute boundary


def test_budget_fills_then_waits_for_the_next_minute():
    budget = WeightBudget()  # 6000 * 0.8 = 4800
    assert budget.allowed == 4800
    for _ in range(96):  # 96 * 50 = 4800
        assert budget.reserve(50, T0 + 10) == 0.0
    assert budget.used(T0 + 10) == 4800
    assert budget.reserve(50, T0 + 10) == pytest.approx(50.0)
    assert budget.reserve(5, T0 + 59.5) == pytest.approx(0.5)
    assert budget.used(T0 + 59.5) == 4800  # a refusal counts nothing
    # The window is the calendar minute, not a sliding one: at :00 everything is free again.
    assert budget.reserve(50, T0 + 60) == 0.0
    assert budget.used(T0 + 60) == 50


def test_budget_fraction_keeps_headroom():
    budget = WeightBudget(limit_per_minute=100, fraction=0.5)
    assert [budget.reserve(5, T0) for _ in range(11)] == [0.0] * 10 + [60.0]


def test_budget_lets_a_heavy_request_into_an_empty_window():
    budget = WeightBudget(limit_per_minute=100, fraction=0.8)
    assert budget.reserve(250, T0 + 1) == 0.0
    assert budget.reserve(5, T0 + 1) == pytest.approx(59.0)


def test_budget_adopts_a_higher_server_figure():
    budget = WeightBudget()
    budget.reserve(50, T0 + 1)
    budget.observe_used(4790, T0 + 2)  # other programs on this IP spent the rest
    assert budget.used(T0 + 2) == 4790
    assert budget.reserve(50, T0 + 2) == pytest.approx(58.0)
    budget.observe_used(10, T0 + 3)  # lower than ours: ignored
    assert budget.used(T0 + 3) == 4790
    budget.observe_used(30, T0 + 61)  # a new minute starts from the server's figure
    assert budget.used(T0 + 61) == 30


def test_budget_block_until_stops_everything():
    budget = WeightBudget()
    budget.block_until(T0 + 30)
    assert budget.reserve(5, T0 + 10) == pytest.approx(20.0)
    budget.block_until(T0 + 20)  # never shortens a block
    assert budget.reserve(5, T0 + 29) == pytest.approx(1.0)
    assert budget.reserve(5, T0 + 30) == 0.0
    assert budget.blocked_until == T0 + 30


def test_snapshot_retries_back_off_doubling_to_thirty_seconds_with_jitter():
    delays = backoff(RETRY_INITIAL, RETRY_MAX, rng=lambda: 1.0)
    assert [next(delays) for _ in range(9)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert next(backoff(RETRY_INITIAL, RETRY_MAX, rng=lambda: 0.0)) == 0.25
    assert all(0.25 <= next(backoff(RETRY_INITIAL, RETRY_MAX)) <= 0.5 for _ in range(50))


# --- RestClient -----------------------------------------------------------------------------------


class RecordingBudget(WeightBudget):
    def __init__(self) -> None:
        super().__init__()
        self.observed: list[int] = []
        self.reserved: list[int] = []

    def reserve(self, weight: int, now: float) -> float:
        wait = super().reserve(weight, now)
        if wait == 0.0:
            self.reserved.append(weight)
        return wait

    def observe_used(self, used_weight_1m: int, now: float) -> None:
        self.observed.append(used_weight_1m)
        super().observe_used(used_weight_1m, now)


@pytest.mark.asyncio
async def test_depth_snapshot_and_weight_header(fake):
    fake.used_weight = 1200  # other programs on this IP
    budget = RecordingBudget()
    async with RestClient(fake.url + "/", budget=budget) as rest:
        snap = await rest.depth("btcusdt", limit=500)
    assert isinstance(snap, DepthSnapshot)
    assert snap.symbol == "BTCUSDT" and snap.bids == [["1.00000000", "2.00000000"]]
    assert fake.seen[0].path == "/api/v3/depth"
    assert fake.seen[0].params == {"symbol": "BTCUSDT", "limit": "500"}
    assert budget.reserved == [25]
    assert budget.observed == [1225]


@pytest.mark.asyncio
async def test_exchange_info_all_one_and_many(fake, rest):
    everything = await rest.exchange_info()
    assert set(everything) == {"BTCUSDT", "ETHUSDT"}
    assert everything["BTCUSDT"].tick_size == "0.01000000"
    one = await rest.exchange_info(["ethusdt"])
    assert list(one) == ["ETHUSDT"] and one["ETHUSDT"].step_size == "0.00010000"
    two = await rest.exchange_info(["BTCUSDT", "ETHUSDT"])
    assert set(two) == {"BTCUSDT", "ETHUSDT"}
    assert [s.params for s in fake.seen] == [
        {},
        {"symbol": "ETHUSDT"},
        {"symbols": '["BTCUSDT","ETHUSDT"]'},  # compact JSON, as Binance documents
    ]
    assert await rest.exchange_info([]) == {}
    assert len(fake.seen) == 3


@pytest.mark.asyncio
async def test_exchange_info_with_an_unknown_symbol_returns_the_known_ones(fake, rest):
    infos = await rest.exchange_info(["BTCUSDT", "NOPEUSDT"])
    assert list(infos) == ["BTCUSDT"]  # the caller can name NOPEUSDT as the missing one
    assert [s.params for s in fake.seen] == [{"symbols": '["BTCUSDT","NOPEUSDT"]'}, {}]


@pytest.mark.asyncio
async def test_validate_symbol(fake, rest):
    info = await rest.validate_symbol(" btcusdt ")
    assert info.symbol == "BTCUSDT" and info.trading
    with pytest.raises(InvalidSymbolError) as err:
        await rest.validate_symbol("nopeusdt")
    assert str(err.value) == "NOPEUSDT is not a symbol on this exchange."
    assert err.value.symbol == "NOPEUSDT"
    before = len(fake.seen)
    with pytest.raises(InvalidSymbolError, match="not a valid symbol name"):
        await rest.validate_symbol("BTC/USDT")
    assert len(fake.seen) == before  # a name that cannot exist costs no request weight


@pytest.mark.asyncio
async def test_depth_of_an_unknown_symbol(rest):
    with pytest.raises(InvalidSymbolError) as err:
        await rest.depth("NOPEUSDT")
    assert str(err.value) == "NOPEUSDT is not a symbol on this exchange."


@pytest.mark.asyncio
@pytest.mark.parametrize(("status", "body", "banned"), [(429, TOO_MUCH, False), (418, BANNED, True)])
async def test_rate_limits_block_the_budget(fake, rest, status, body, banned):
    fake.scripts["BTCUSDT"] = [Reply(status, body, {"Retry-After": "7"})]
    before = time.time()
    with pytest.raises(RateLimitedError) as err:
        await rest.depth("BTCUSDT")
    assert err.value.retry_after == 7.0 and err.value.banned is banned
    assert one_sentence(str(err.value)) and fake.url in str(err.value)
    assert ("banned" in str(err.value)) is banned
    assert before + 7 <= rest.budget.blocked_until <= time.time() + 7


@pytest.mark.asyncio
async def test_rate_limit_without_retry_after_waits_a_minute(fake, rest):
    fake.scripts["BTCUSDT"] = [Reply(429, TOO_MUCH)]
    with pytest.raises(RateLimitedError) as err:
        await rest.depth("BTCUSDT")
    assert err.value.retry_after == 60.0
    assert rest.budget.reserve(5, time.time()) > 55


@pytest.mark.asyncio
@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_mean_unavailable(fake, rest, status):
    fake.scripts["BTCUSDT"] = [Reply(status, b"oops")]
    with pytest.raises(ExchangeUnavailableError) as err:
        await rest.depth("BTCUSDT")
    assert str(err.value) == f"Cannot reach the exchange at {fake.url}: HTTP {status}."


@pytest.mark.asyncio
async def test_other_client_errors_carry_binance_code_and_text(fake, rest):
    msg = "Illegal characters found in parameter 'limit'; legal range is '^[0-9]{1,20}$'."
    fake.scripts["BTCUSDT"] = [
        Reply(400, orjson.dumps({"code": -1100, "msg": msg})),
        Reply(403, b"<html>blocked</html>", {"Content-Type": "text/html"}),
    ]
    with pytest.raises(ExchangeRejectedError) as err:
        await rest.depth("BTCUSDT")
    assert (err.value.status, err.value.code, err.value.exchange_msg) == (400, -1100, msg)
    assert "Illegal characters found in parameter 'limit'" in str(err.value) and "-1100" in str(err.value)
    assert one_sentence(str(err.value))
    with pytest.raises(ExchangeRejectedError) as err:
        await rest.depth("BTCUSDT")
    assert (err.value.status, err.value.code) == (403, None)
    assert str(err.value) == "The exchange rejected /api/v3/depth: HTTP 403."


@pytest.mark.asyncio
async def test_unreadable_answer_means_unavailable(fake, rest):
    fake.scripts["BTCUSDT"] = [Reply(200, b"<html>captive portal</html>"), Reply(200, b'{"bids": []}')]
    for _ in range(2):
        with pytest.raises(ExchangeUnavailableError, match="unreadable answer") as err:
            await rest.depth("BTCUSDT")
        assert one_sentence(str(err.value))


@pytest.mark.asyncio
async def test_timeout_means_unavailable(fake):
    fake.scripts["BTCUSDT"] = [Reply(delay=3.0)]
    async with RestClient(fake.url, timeout=0.2) as rest:
        with pytest.raises(ExchangeUnavailableError) as err:
            await rest.depth("BTCUSDT")
    assert str(err.value) == f"Cannot reach the exchange at {fake.url}: no answer within 0.2 s."


@pytest.mark.asyncio
async def test_connection_refused_names_the_url():
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    async with RestClient(url, timeout=2.0) as rest:
        with pytest.raises(ExchangeUnavailableError) as err:
            await rest.depth("BTCUSDT")
    message = str(err.value)
    assert message.startswith(f"Cannot reach the exchange at {url}: could not connect")
    assert one_sentence(message)


@pytest.mark.asyncio
async def test_requests_wait_for_the_budget(fake):
    budget = WeightBudget()
    until = time.time() + 0.3
    budget.block_until(until)
    async with RestClient(fake.url, budget=budget) as rest:
        await rest.depth("BTCUSDT")
    assert fake.seen[0].arrived >= until


@pytest.mark.asyncio
async def test_a_caller_supplied_httpx_client_stays_open(fake):
    async with httpx.AsyncClient() as client:
        rest = RestClient(fake.url, client=client)
        await rest.depth("BTCUSDT", limit=5)
        await rest.aclose()
        assert not client.is_closed


def test_bad_rest_url_is_refused():
    with pytest.raises(ValueError, match="ws://x"):
        RestClient("ws://x")


# --- SnapshotScheduler ----------------------------------------------------------------------------


class Collector:
    def __init__(self) -> None:
        self.got: list[tuple[str, DepthSnapshot]] = []

    def __call__(self, symbol: str, snapshot: DepthSnapshot) -> None:
        self.got.append((symbol, snapshot))

    @property
    def symbols(self) -> list[str]:
        return [s for s, _ in self.got]


@contextlib.asynccontextmanager
async def running(rest: RestClient, deliver, **kwargs):
    sched = SnapshotScheduler(rest, deliver, **kwargs)
    await sched.start()
    try:
        yield sched
    finally:
        await sched.stop()


SYMBOLS = [f"S{i:02d}USDT" for i in range(10)]


@pytest.mark.asyncio
async def test_delivers_every_symbol_with_at_most_max_concurrent_in_flight(fake, rest):
    fake.depth_delay = 0.03
    got = Collector()
    async with running(rest, got, max_concurrent=2) as sched:
        for s in SYMBOLS:
            sched.request(s)
        await wait_until(lambda: len(got.got) == 10)
        assert sched.pending == set()
    assert sorted(got.symbols) == SYMBOLS
    assert all(snap.symbol == s for s, snap in got.got)
    assert fake.max_in_flight == 2
    assert sorted(s.symbol for s in fake.depth_requests()) == SYMBOLS
    assert [s.params["limit"] for s in fake.seen] == ["1000"] * 10
    assert sched.errors == 0 and sched.last_error is None


@pytest.mark.asyncio
async def test_repeated_requests_are_one_fetch(fake, rest):
    fake.depth_delay = 0.1
    got = Collector()
    sched = SnapshotScheduler(rest, got, max_concurrent=1)
    for _ in range(5):
        for s in ("AUSDT", "BUSDT", "cusdt"):
            sched.request(s)
    assert sched.pending == {"AUSDT", "BUSDT", "CUSDT"}
    await sched.start()
    try:
        await wait_until(lambda: fake.in_flight == 1)
        sched.request("AUSDT")  # in flight now
        sched.request("AUSDT", retry=True)
        sched.request("CUSDT")  # still queued
        await wait_until(lambda: len(got.got) == 3)
    finally:
        await sched.stop()
    assert got.symbols == ["AUSDT", "BUSDT", "CUSDT"]  # FIFO
    assert [s.symbol for s in fake.seen] == ["AUSDT", "BUSDT", "CUSDT"]


@pytest.mark.asyncio
async def test_rate_limit_holds_every_request_until_retry_after(fake, rest):
    fake.scripts["AUSDT"] = [Reply(429, TOO_MUCH, {"Retry-After": "1"})]
    got = Collector()
    async with running(rest, got, max_concurrent=1) as sched:
        for s in ("AUSDT", "BUSDT", "CUSDT"):
            sched.request(s)
        await wait_until(lambda: len(got.got) == 3)
        assert sched.errors == 1 and "too many requests" in (sched.last_error or "")
        assert sched.rate_limited_until > 0
    limited = fake.seen[0]
    assert (limited.symbol, limited.status) == ("AUSDT", 429)
    later = fake.seen[1:]
    # Nothing reached the server before Retry-After, and the limited symbol went first afterwards.
    assert [s.symbol for s in later] == ["AUSDT", "BUSDT", "CUSDT"]
    assert all(s.arrived >= limited.replied + 1.0 for s in later)


@pytest.mark.asyncio
async def test_server_errors_are_retried_with_backoff(fake, rest):
    fake.scripts["AUSDT"] = [Reply(500, b""), Reply(503, b"")]
    got = Collector()
    async with running(rest, got) as sched:
        sched.request("AUSDT")
        sched.request("BUSDT")
        await wait_until(lambda: sorted(got.symbols) == ["AUSDT", "BUSDT"])
        assert sched.errors == 2 and "HTTP 503" in (sched.last_error or "")
        assert sched.pending == set()
    tries = fake.depth_requests("AUSDT")
    assert [t.status for t in tries] == [500, 503, 200]
    assert tries[1].arrived - tries[0].replied >= 0.25  # first backoff: 0.5 s jittered to 50–100 %
    assert tries[2].arrived - tries[1].replied >= 0.5


@pytest.mark.asyncio
async def test_an_unknown_symbol_is_dropped_and_logged(fake, rest, caplog):
    got = Collector()
    with caplog.at_level(logging.ERROR, logger="core.feed.scheduler"):
        async with running(rest, got) as sched:
            for s in ("AUSDT", "NOPEUSDT", "BUSDT"):
                sched.request(s)
            await wait_until(lambda: len(got.got) == 2 and not sched.pending)
            assert sched.errors == 1 and sched.last_error == "NOPEUSDT is not a symbol on this exchange."
    assert sorted(got.symbols) == ["AUSDT", "BUSDT"]
    assert len(fake.depth_requests("NOPEUSDT")) == 1
    assert any("symbol=NOPEUSDT" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.asyncio
async def test_retry_waits_retry_delay(fake, rest):
    got = Collector()
    async with running(rest, got, retry_delay=0.3) as sched:
        asked = time.time()
        sched.request("AUSDT", retry=True)
        sched.request("BUSDT")  # not delayed, so it overtakes
        await wait_until(lambda: len(got.got) == 2)
    assert got.symbols == ["BUSDT", "AUSDT"]
    assert fake.depth_requests("AUSDT")[0].arrived >= asked + 0.3


@pytest.mark.asyncio
async def test_cancel_drops_queued_and_in_flight_symbols(fake, rest):
    fake.scripts["AUSDT"] = [Reply(delay=0.2)]
    got = Collector()
    async with running(rest, got, max_concurrent=1) as sched:
        sched.request("AUSDT")
        sched.request("BUSDT")
        await wait_until(lambda: fake.in_flight == 1)
        sched.cancel("AUSDT")  # in flight: its answer is thrown away
        sched.cancel("busdt")  # queued: never fetched
        assert sched.pending == set()
        sched.request("CUSDT")
        await wait_until(lambda: len(got.got) == 1)
    assert got.symbols == ["CUSDT"]
    assert [s.symbol for s in fake.seen] == ["AUSDT", "CUSDT"]


@pytest.mark.asyncio
async def test_deliver_may_ask_again(fake, rest):
    got = Collector()
    sched: SnapshotScheduler

    def deliver(symbol: str, snapshot: DepthSnapshot) -> None:
        got(symbol, snapshot)
        if len(got.got) == 1:  # "older than the stream": BookSync asks again from inside delivery
            sched.request(symbol, retry=True)

    async with running(rest, deliver, retry_delay=0.05) as sched:
        sched.request("AUSDT")
        await wait_until(lambda: len(got.got) == 2)
    assert got.got[1][1].last_update_id > got.got[0][1].last_update_id


class FlakyRest(RestClient):
    """A RestClient whose first call hits a bug: the scheduler must survive it."""

    calls = 0

    async def depth(self, symbol: str, limit: int = 1000) -> DepthSnapshot:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("boom")
        return await super().depth(symbol, limit)


@pytest.mark.asyncio
async def test_never_dies(fake, caplog):
    fake.scripts["BUSDT"] = [Reply(200, b"not json")]

    def deliver(symbol: str, snapshot: DepthSnapshot) -> None:
        got(symbol, snapshot)
        if symbol == "CUSDT":
            raise ValueError("listener bug")

    got = Collector()
    async with FlakyRest(fake.url) as rest, running(rest, deliver, max_concurrent=1) as sched:
        for s in ("AUSDT", "BUSDT", "CUSDT", "DUSDT"):
            sched.request(s)
        await wait_until(lambda: len(got.got) == 4)
        assert not sched.pending
        assert sched.errors == 2
        assert all(not t.done() for t in sched._workers)
    assert sorted(got.symbols) == ["AUSDT", "BUSDT", "CUSDT", "DUSDT"]
    assert "listener bug" in caplog.text and "boom" in caplog.text


@pytest.mark.asyncio
async def test_stop_then_start_again(fake, rest):
    got = Collector()
    sched = SnapshotScheduler(rest, got)
    await sched.start()
    await sched.stop()
    sched.request("AUSDT")
    await sched.start()
    try:
        await wait_until(lambda: got.symbols == ["AUSDT"])
    finally:
        await sched.stop()
    await sched.stop()  # idempotent


# --- the client's weights against the simulator's own table ------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("limit", [1, 5, 100, 101, 500, 501, 1000, 1001, 5000])
async def test_the_client_charges_each_depth_request_what_the_simulated_exchange_charges(limit):
    """The simulator keeps its own weight table (Binance's documented one), so a wrong weight on either side
    shows up here as a mismatch."""
    from core.simulator.server import ExchangeSimulator

    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=1) as sim, httpx.AsyncClient() as http:

        async def used_after_depth() -> int:
            reply = await http.get(f"{sim.rest_url}/api/v3/depth", params={"symbol": "BTCUSDT", "limit": limit})
            assert reply.status_code == 200
            return int(reply.headers["x-mbx-used-weight-1m"])

        before = await used_after_depth()
        after = await used_after_depth()
        charged = after - before if after > before else after  # a new minute began between the two
        assert charged == depth_weight(limit)


def test_httpcore_finds_sniffio_without_searching_for_it() -> None:
    """httpcore imports sniffio on every lock and event a request sets up (4 a request). Installed, the import is
    served from sys.modules; missing, each one searches sys.path anew (50 µs a call here, docs/PERFORMANCE.md)."""
    from httpcore._synchronization import current_async_library

    searched: list[str] = []

    class Watcher:
        @staticmethod
        def find_spec(name: str, path: object = None, target: object = None) -> None:
            searched.append(name)

    async def twice() -> None:
        current_async_library()
        current_async_library()

    sys.meta_path.insert(0, Watcher)  # type: ignore[arg-type]
    try:
        asyncio.run(twice())
    finally:
        sys.meta_path.remove(Watcher)  # type: ignore[arg-type]
    assert "sniffio" not in searched
