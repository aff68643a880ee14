"""ExchangeSimulator: a Binance-compatible spot exchange on loopback, WebSocket streams and REST on one port.

One `websockets` server answers both: upgrade requests become stream connections, plain HTTP requests
are answered in `process_request` by the REST API. One clock task moves every symbol's market on its
`interval_ms` grid (core.simulator.schedule) and fans each event, encoded once, out to every connection
subscribed to that symbol; each connection has its own send queue and writer task, so a slow reader never
delays the others.

Markets move from `start()` to `stop()` whether or not anyone is subscribed, so update ids are
contiguous per symbol and the true book is always `market(symbol).book_at(id)`.

Every task is started through core.tasks.spawn (a shared helper, not the client side): a market whose event
fails is logged with its traceback (its symbol stops moving); a writer that fails is logged and its
connection dropped, so the client reconnects instead of waiting on a silent socket.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import Counter, deque
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from core.simulator.faults import Faults
from core.simulator.futures import FuturesRestApi, futures_market_for
from core.simulator.market import (
    SyntheticMarket,
    depth_for_rate,
    long_tailed_activity,
    market_for,
)
from core.simulator.rest import RestApi, RestReply
from core.simulator.schedule import EventSchedule
from core.simulator.streams import MAX_STREAMS, InvalidPath, Session, Stream, parse_ws_path
from core.tasks import cancel_and_wait, spawn

log = logging.getLogger(__name__)

MAX_MESSAGES_PER_SECOND = 5  # incoming, per connection; Binance disconnects above it
SEND_QUEUE_FRAMES = 10_000  # a connection this far behind is too slow and gets closed
BATCH_EVENTS = 50  # events generated between two turns of the loop (some 5 ms of CPU)
_ABORT_CODES = (1005, 1006, 1015)  # never sent in a close frame: drop the TCP connection instead


@dataclass
class SimulatorStats:
    """Counters for tests and the demo; `used_weight` is refreshed whenever `sim.stats` is read."""

    connections_opened: int = 0
    connection_attempts: int = 0  # WebSocket upgrade requests, refused ones included (Binance: 300 per 5 min)
    connections_open: int = 0
    ws_messages_sent: int = 0
    ws_messages_received: int = 0
    events_generated: Counter[str] = field(default_factory=Counter)  # by symbol
    events_dropped: Counter[str] = field(default_factory=Counter)  # by the drop_events fault
    events_silenced: Counter[str] = field(default_factory=Counter)  # by the silence fault
    rest_requests: Counter[str] = field(default_factory=Counter)  # by path
    rest_rejected: int = 0  # 429 and 418 replies
    used_weight: int = 0  # REST weight used in the current minute


@dataclass(frozen=True, slots=True)
class _Close:
    code: int
    reason: str


class _Client:
    """One WebSocket connection: its subscriptions, its send queue and its incoming-message window."""

    def __init__(self, ws: ServerConnection, session: Session) -> None:
        self.ws = ws
        self.session = session
        self.queue: asyncio.Queue[bytes | _Close] = asyncio.Queue(SEND_QUEUE_FRAMES)
        self.received: deque[float] = deque()
        self.first_u: dict[str, int] = {}  # symbol -> U of the first diff event sent here
        self.closing = False

    def over_rate(self, now: float) -> bool:
        self.received.append(now)
        while now - self.received[0] >= 1.0:
            self.received.popleft()
        return len(self.received) > MAX_MESSAGES_PER_SECOND

    def streams_of(self, symbol: str) -> tuple[Stream, ...]:
        return self.session.streams_of(symbol)

    def frame(self, stream_name: str, raw: bytes) -> bytes:
        if not self.session.combined:
            return raw
        return b'{"stream":"' + stream_name.encode() + b'","data":' + raw + b"}"


class _Merged:
    """Consecutive diff events merged into one, for the 1000 ms `<symbol>@depth` stream."""

    def __init__(self, event: dict) -> None:
        self.first = event["U"]
        self.pu = event.get("pu")  # futures: the merged event follows the first one's predecessor
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.add(event)

    def add(self, event: dict) -> None:
        self.last, self.time, self.symbol = event["u"], event["E"], event["s"]
        self.bids.update(event["b"])  # quantities are absolute: the latest one wins
        self.asks.update(event["a"])

    def payload(self) -> dict:
        def key(price: str) -> int:  # 8 fixed decimals: dropping the point gives an exact integer
            return int(price.replace(".", ""))

        payload = {
            "e": "depthUpdate",
            "E": self.time,
            "s": self.symbol,
            "U": self.first,
            "u": self.last,
            "b": [[p, self.bids[p]] for p in sorted(self.bids, key=key, reverse=True)],
            "a": [[p, self.asks[p]] for p in sorted(self.asks, key=key)],
        }
        if self.pu is not None:
            payload["pu"] = self.pu
        return payload


class ExchangeSimulator:
    """A Binance spot exchange on `host:port` (0 = any free port; read `ws_url`/`rest_url` after start).

    `interval_ms` is the event grid per symbol (Binance: 100); `max_connection_age` is the 24 h limit
    scaled down (seconds, None = never); `weight_limit` the REST weight allowed per minute (None: the market's,
    6,000 on spot, 2,400 on futures). `usdm`: a USDⓈ-M futures exchange (core.simulator.futures). `fast_market`: every
    symbol's market is a FastMarket (core.simulator.market): a book deeper than any snapshot whose resting
    levels the stream never mentions until the touch reaches them, and a mid that runs thousands of ticks a
    minute, both ways. `fast_symbols`: only these symbols' markets are FastMarkets (their trend can be switched
    at run time with `faults.set_trend` and `faults.fast_market`). `activity`: events per second by symbol (at
    most one per interval; e.g. `long_tailed_activity`, a whole market's spread), each symbol's book as deep and
    its events as large as its rate makes them (`depth_for_rate`); symbols not in it have an event every interval.
    `max_streams`: streams one connection may carry, in its URL or subscribed (Binance: 1024); set it lower to
    check a client spreads its symbols. `set_status`, `delist` and `add_symbol` change the listing at run time.
    """

    max_streams = MAX_STREAMS

    def __init__(
        self,
        symbols: Iterable[str] = ("BTCUSDT", "ETHUSDT"),
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 1,
        interval_ms: int = 100,
        ping_interval: float | None = 20.0,
        ping_timeout: float | None = 60.0,
        max_connection_age: float | None = None,
        *,
        history: int = 2000,
        weight_limit: int | None = None,
        fast_market: bool = False,
        usdm: bool = False,
        fast_symbols: Iterable[str] = (),
        activity: Mapping[str, float] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.seed = seed
        self.interval_ms = interval_ms
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.max_connection_age = max_connection_age
        self._history = history
        self.fast_market = fast_market
        self._fast_symbols = {s.upper() for s in fast_symbols}
        # Events per second by symbol (market.long_tailed_activity); a symbol not in it has one every interval.
        self._activity = {s.upper(): rate for s, rate in (activity or {}).items()}
        self._markets: dict[str, SyntheticMarket] = {}
        self.faults = Faults(self)
        self._stats = SimulatorStats()
        # USDⓈ-M futures mode (core.simulator.futures): `pu`-chained events with shared ids, /fapi/v1, 2,400 a minute.
        self.usdm = usdm
        limits = {} if weight_limit is None else {"weight_limit": weight_limit}
        self._rest = (FuturesRestApi if usdm else RestApi)(
            self._markets, snapshot=self._depth_snapshot, take_rate_limit=self.faults.take_rate_limit, **limits
        )
        self._clients: set[_Client] = set()
        self._server: Server | None = None
        self._schedule = EventSchedule(interval_ms / 1000, seed)  # when each symbol's next event is due
        self._clock: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._ticks: Counter[str] = Counter()
        self._merged: dict[str, _Merged] = {}
        self._last_sent: dict[tuple[str, bool], bytes] = {}  # (symbol, fast) -> last diff payload sent
        self._duplicate_slow: set[str] = set()
        # The 1000 ms streams (`@depth`, `@depth20`) fire every this many intervals.
        self._slow_every = max(1, round(1000 / interval_ms))
        for symbol in symbols:
            self.add_symbol(symbol)

    # ---- lifecycle --------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("simulator already started")
        self._server = await serve(
            self._handle,
            self.host,
            self.port,
            process_request=self._process_request,
            ping_interval=self.ping_interval,
            ping_timeout=self.ping_timeout,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        for symbol in self._markets:
            self._schedule_market(symbol)
        self._clock = spawn(self._run_clock(), "sim-clock", tasks=self._background)
        log.info("simulator started ws_url=%s symbols=%s", self.ws_url, ",".join(self._markets))

    async def stop(self) -> None:
        await cancel_and_wait(set(self._background))
        self._clock = None
        for symbol in self._markets:
            self._schedule.remove(symbol)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            log.info("simulator stopped port=%d", self.port)

    async def __aenter__(self) -> ExchangeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---- public facts -----------------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        # USDⓈ-M: depth streams live under `/public` since Binance split its futures hosts (2026).
        return f"ws://{self._bound_host()}:{self.port}" + ("/public" if self.usdm else "")

    @property
    def rest_url(self) -> str:
        return f"http://{self._bound_host()}:{self.port}"

    @property
    def symbols(self) -> list[str]:
        return list(self._markets)

    @property
    def stats(self) -> SimulatorStats:
        self._stats.used_weight = self._rest.used_weight(time.time())
        return self._stats

    def market(self, symbol: str) -> SyntheticMarket:
        return self._markets[symbol]

    def add_symbol(self, symbol: str) -> None:
        """List a new symbol (REST knows it, its streams carry data); its market starts moving now."""
        symbol = symbol.upper()
        if symbol in self._markets:
            return
        self._markets[symbol] = (futures_market_for if self.usdm else market_for)(
            symbol,
            seed=self.seed,
            history=self._history,
            fast=self.fast_market or symbol in self._fast_symbols,
            depth=depth_for_rate(self._activity[symbol]) if symbol in self._activity else None,
        )
        if self._server is not None:
            self._schedule_market(symbol)

    def set_status(self, symbol: str, status: str) -> None:
        """exchangeInfo says `status` (TRADING, HALT, BREAK, END_OF_DAY, CANCEL_ONLY); a symbol that is not
        TRADING sends no events, its market standing still, and moves on from where it stood when it trades."""
        symbol = symbol.upper()
        if status == "TRADING":
            self._rest.statuses.pop(symbol, None)
        else:
            self._rest.statuses[symbol] = status
        log.info("symbol status symbol=%s status=%s", symbol, status)

    def delist(self, symbol: str) -> None:
        """Remove a symbol: exchangeInfo no longer lists it, REST says -1121, its streams carry nothing."""
        symbol = symbol.upper()
        self._markets.pop(symbol, None)
        self._rest.statuses.pop(symbol, None)
        self._schedule.remove(symbol)
        log.info("symbol delisted symbol=%s", symbol)

    def _bound_host(self) -> str:
        if self.port == 0:
            raise RuntimeError("simulator not started: its port is not known yet")
        return self.host

    # ---- market generation and fan-out ------------------------------------------------------------

    def _schedule_market(self, symbol: str) -> None:
        self._schedule.add(symbol, self._activity.get(symbol), asyncio.get_running_loop().time())

    async def _run_clock(self) -> None:
        """Every symbol's events on its grid (core.simulator.schedule), those due within a tenth of an interval
        taken together, at most BATCH_EVENTS before the loop serves the sockets again: a simulator short of CPU
        falls behind with its events, not with its REST answers. A symbol whose event fails is logged with its
        traceback and stops moving."""
        loop = asyncio.get_running_loop()
        interval = self._schedule.interval
        batch = interval / 10
        while True:
            due = self._schedule.next_due()
            wait = interval if due is None else due - loop.time()
            await asyncio.sleep(min(interval, max(0.0, wait)))  # woken at least once an interval, for new symbols
            now = loop.time()
            for symbol, slots in self._schedule.take_due(now + batch, now, BATCH_EVENTS):
                try:
                    self._tick(symbol, slots)
                except Exception:
                    log.exception("simulator market failed symbol=%s; it stops moving", symbol)
                    self._schedule.remove(symbol)

    def _tick(self, symbol: str, slots: int = 1) -> None:
        """The market's next event, `slots` grid intervals after its last one."""
        if symbol in self._rest.statuses or self.faults.held(symbol):  # not TRADING, or held: no change, no event
            return
        market = self._markets[symbol]
        event = market.next_event(int(time.time() * 1000))
        self._stats.events_generated[symbol] += 1
        before = self._ticks[symbol]
        self._ticks[symbol] += slots
        slow_due = before // self._slow_every != self._ticks[symbol] // self._slow_every  # a 1000 ms boundary
        if self.faults.silenced(symbol):
            self._merged.pop(symbol, None)  # the 1000 ms stream must show the gap too
            self._stats.events_silenced[symbol] += 1
            return
        if self.faults.take_drop(symbol):
            self._merged.pop(symbol, None)
            self._stats.events_dropped[symbol] += 1
        else:
            duplicate = self.faults.take_duplicate(symbol)
            if duplicate:
                self._duplicate_slow.add(symbol)
            self._publish_diff(symbol, event, fast=True, duplicate=duplicate)
            if symbol in self._merged:
                self._merged[symbol].add(event)
            elif self._carries_slow_diff(symbol):  # nobody on the 1000 ms stream: nothing to merge
                self._merged[symbol] = _Merged(event)
        self._publish_partials(symbol, market, fast=True)
        if slow_due:
            merged = self._merged.pop(symbol, None)
            if merged is not None:
                duplicate = symbol in self._duplicate_slow
                self._duplicate_slow.discard(symbol)
                self._publish_diff(symbol, merged.payload(), fast=False, duplicate=duplicate)
            self._publish_partials(symbol, market, fast=False)

    def _publish_diff(self, symbol: str, payload: dict, *, fast: bool, duplicate: bool) -> None:
        raw = orjson.dumps(payload)
        previous = self._last_sent.get((symbol, fast), raw)
        self._last_sent[symbol, fast] = raw
        for client in list(self._clients):
            for stream in client.streams_of(symbol):
                if stream.levels is not None or stream.fast != fast:
                    continue
                client.first_u.setdefault(symbol, payload["U"])
                self._push(client, client.frame(stream.name, raw))
                if duplicate:
                    self._push(client, client.frame(stream.name, previous))

    def _carries_slow_diff(self, symbol: str) -> bool:
        return any(s.levels is None and not s.fast for c in self._clients for s in c.streams_of(symbol))

    def _publish_partials(self, symbol: str, market: SyntheticMarket, *, fast: bool) -> None:
        payloads: dict[int, bytes] = {}
        for client in list(self._clients):
            for stream in client.streams_of(symbol):
                if stream.levels is None or stream.fast != fast:
                    continue
                if stream.levels not in payloads:
                    payloads[stream.levels] = orjson.dumps(market.partial(stream.levels))
                self._push(client, client.frame(stream.name, payloads[stream.levels]))

    def _push(self, client: _Client, item: bytes | _Close) -> None:
        if client.closing:
            return
        try:
            client.queue.put_nowait(item)
        except asyncio.QueueFull:
            log.warning(
                "ws closing peer=%s reason=too_slow queued=%d", client.ws.remote_address, SEND_QUEUE_FRAMES
            )
            client.closing = True
            self._spawn(client.ws.close(1008, "Client too slow"))

    # ---- REST -----------------------------------------------------------------------------------

    def _depth_snapshot(self, symbol: str, limit: int) -> dict:
        market = self._markets[symbol]
        update_id = None
        if self.faults.take_stale(symbol):
            # Older, by 3 events, than the first event any connected subscriber got.
            firsts = [c.first_u[symbol] for c in self._clients if symbol in c.first_u]
            anchor = min(firsts, default=market.last_update_id + 1) - 1
            update_id = market.earlier_update_id(anchor, events=2)
        elif self.faults.take_straddle(symbol):
            update_id = market.straddle_update_id()
        return market.snapshot(limit, update_id)

    def _ws_path(self, path: str) -> str:
        """The stream path without USDⓈ-M's `/public` prefix (the pre-2026 paths without it work too)."""
        if self.usdm and (path == "/public" or path.startswith(("/public/", "/public?"))):
            return path[len("/public") :] or "/"
        return path

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            self._stats.connection_attempts += 1
            try:
                route = parse_ws_path(self._ws_path(request.path))
            except InvalidPath as exc:
                return connection.respond(HTTPStatus.BAD_REQUEST, exc.reason)
            if len({s.name for s in route.streams}) > self.max_streams:
                return connection.respond(HTTPStatus.BAD_REQUEST, "Invalid request: too many streams")
            return None  # go on with the WebSocket handshake
        self._stats.rest_requests[urlsplit(request.path).path] += 1
        reply = self._rest.handle(request.path, time.time())
        if reply.status in (418, 429):
            self._stats.rest_rejected += 1
        log.debug("rest path=%s status=%d", request.path, reply.status)
        return _http_response(reply)

    # ---- WebSocket connections ------------------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        client = _Client(ws, Session(parse_ws_path(self._ws_path(ws.request.path))))
        client.session.max_streams = self.max_streams
        self._clients.add(client)
        self._stats.connections_opened += 1
        self._stats.connections_open += 1
        loop = asyncio.get_running_loop()
        writer = spawn(
            self._write(client), "sim-writer", on_failure=lambda _s, _e: client.ws.transport.abort()
        )
        expiry = None
        if self.max_connection_age is not None:
            expiry = loop.call_later(self.max_connection_age, self._expire, client)
        log.debug("ws connected peer=%s path=%s", ws.remote_address, ws.request.path)
        try:
            async for message in ws:
                self._stats.ws_messages_received += 1
                if client.over_rate(loop.time()):
                    log.info("ws closing peer=%s reason=too_many_messages", ws.remote_address)
                    client.closing = True
                    await ws.close(1008, "Too many messages")
                    break
                self._push(client, client.session.handle(message))
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            self._stats.connections_open -= 1
            if expiry is not None:
                expiry.cancel()
            await cancel_and_wait([writer])
            log.debug("ws closed peer=%s code=%s", ws.remote_address, ws.close_code)

    async def _write(self, client: _Client) -> None:
        try:
            while True:
                item = await client.queue.get()
                if isinstance(item, _Close):
                    await client.ws.close(item.code, item.reason)
                    return
                await client.ws.send(item, text=True)
                self._stats.ws_messages_sent += 1
        except ConnectionClosed:
            return

    def _expire(self, client: _Client) -> None:
        log.info("ws closing peer=%s reason=max_connection_age", client.ws.remote_address)
        client.closing = True
        self._spawn(client.ws.close(1001, "Connection lifetime expired"))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        spawn(coro, "sim-close", tasks=self._background)

    # ---- connection faults (called by Faults) ---------------------------------------------------

    def _disconnect_all(self, code: int, reason: str) -> None:
        for client in list(self._clients):
            client.closing = True
            if code in _ABORT_CODES:
                client.ws.transport.abort()
            else:
                self._spawn(client.ws.close(code, reason))

    def drop_connections_of(self, symbol: str) -> int:
        """Drop, as a network failure would (no close frame), every connection that streams `symbol`; the other
        connections go on. Returns how many were dropped."""
        dropped = [c for c in list(self._clients) if c.streams_of(symbol.upper())]
        for client in dropped:
            client.closing = True
            client.ws.transport.abort()
        log.info("fault=drop_connections symbol=%s connections=%d", symbol, len(dropped))
        return len(dropped)

    def _server_shutdown(self) -> None:
        raw = orjson.dumps({"e": "serverShutdown", "E": int(time.time() * 1000)})
        for client in list(self._clients):
            self._push(client, client.frame("!serverShutdown", raw))
            self._push(client, _Close(1001, "Server shutdown"))
            client.closing = True

    def _send_garbage(self, n: int, symbol: str | None) -> None:
        for client in list(self._clients):
            streams = client.streams_of(symbol) if symbol else list(client.session.streams.values())
            if symbol and not streams:
                continue
            name = streams[0].name if streams else "btcusdt@depth@100ms"
            for i in range(n):
                self._push(client, _garbage(i, name, client))


def _garbage(index: int, stream_name: str, client: _Client) -> bytes:
    """Broken frames in turn: truncated JSON, not JSON at all, a depthUpdate of the wrong types, and a control
    error whose code is not a number."""
    kind = index % 4
    if kind == 0:
        whole = client.frame(
            stream_name, b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":[],"a":[]}'
        )
        return whole[: len(whole) // 2]
    if kind == 1:
        return b"this is not JSON"
    if kind == 2:
        wrong = b'{"e":"depthUpdate","E":"soon","s":"BTCUSDT","U":"one","u":null,"b":"oops","a":[["1"]]}'
        return client.frame(stream_name, wrong)
    return b'{"code":"not a number","msg":"Invalid request","id":null}'  # control answers are never wrapped


def _http_response(reply: RestReply) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Length", str(len(reply.body))),
            *reply.headers,
        ]
    )
    return Response(reply.status, HTTPStatus(reply.status).phrase, headers, reply.body)


async def serve_forever(
    symbols: Iterable[str],
    host: str = "127.0.0.1",
    port: int = 8765,
    interval_ms: int = 100,
    seed: int = 1,
    usdm: bool = False,
    fast_market: bool = False,
    long_tail: bool = False,
) -> None:
    """Run a simulator until cancelled, printing its WebSocket and REST base URLs on stdout."""
    names = list(symbols)
    activity = long_tailed_activity(names) if long_tail else None
    async with ExchangeSimulator(
        symbols=names, host=host, port=port, seed=seed, interval_ms=interval_ms, usdm=usdm,
        fast_market=fast_market, activity=activity,
    ) as sim:
        print(f"ws   {sim.ws_url}", flush=True)
        print(f"rest {sim.rest_url}", flush=True)
        await asyncio.Event().wait()
