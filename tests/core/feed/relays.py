"""Men in the middle on loopback, between the feed and the exchange simulator, for hostile-input tests.

`WsRelay` passes every WebSocket frame both ways over real sockets; a test may rewrite or drop the frames
on their way to the client, or send frames of its own to one or every client connection. `RestRelay` passes
REST requests through to the simulator and may rewrite a depth answer. Nothing of Depthbook's own code is
replaced: the feed sees an exchange that misbehaves exactly as a test scripts it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

Rewrite = Callable[[str], str | None]  # a frame on its way to the client -> the frame sent, or None to drop


class WsRelay:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream  # a WebSocket base URL, e.g. the simulator's ws_url
        self.rewrite: Rewrite | None = None
        self.clients: list[ServerConnection] = []  # open client connections, oldest first
        self.frames_down = 0
        self._server: Server | None = None
        self.url = ""

    async def __aenter__(self) -> WsRelay:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, compression=None, max_size=None, ping_interval=None
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def inject(self, frame: str, client: ServerConnection | None = None) -> None:
        """Send `frame` (text) to one client connection, or to every one."""
        for target in [client] if client is not None else list(self.clients):
            with contextlib.suppress(ConnectionClosed):
                await target.send(frame)

    async def _handle(self, client: ServerConnection) -> None:
        assert client.request is not None
        async with connect(
            self.upstream + client.request.path, compression=None, max_size=None, ping_interval=None
        ) as upstream:
            self.clients.append(client)
            pumps = [
                asyncio.create_task(self._down(upstream, client)),
                asyncio.create_task(_up(client, upstream)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                self.clients.remove(client)
                for task in pumps:
                    task.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)

    async def _down(self, upstream, client: ServerConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in upstream:
                out = self.rewrite(frame) if self.rewrite is not None else frame
                if out is not None:
                    self.frames_down += 1
                    await client.send(out)


async def _up(client: ServerConnection, upstream) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for message in client:
            await upstream.send(message)


@dataclass
class Served:
    path: str
    params: dict[str, str]
    status: int
    body: bytes


@dataclass
class RestRelay:
    """Real HTTP/1.1 on loopback, answered by the simulator's REST API unless a depth rewrite is queued."""

    upstream: str  # the simulator's rest_url
    depth_rewrites: dict[str, list[Callable[[dict], dict]]] = field(default_factory=dict)  # by symbol
    # Answers given instead of the simulator's, in turn, by path: (status, body, extra header lines); status 0
    # closes the connection without an answer (an exchange that cannot be reached).
    canned: dict[str, list[tuple[int, bytes, str]]] = field(default_factory=dict)
    served: list[Served] = field(default_factory=list)
    url: str = ""
    # Seconds a depth answer takes to come back after the simulator made it (a busy exchange's network time):
    # the stream goes on meanwhile, so the snapshot is older than the book when it arrives.
    depth_delay: float = 0.0

    async def __aenter__(self) -> RestRelay:
        self._http = httpx.AsyncClient()
        self._tasks: set[asyncio.Task] = set()
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        await self._http.aclose()

    def depth_served(self, symbol: str) -> list[Served]:
        return [s for s in self.served if s.path == "/api/v3/depth" and s.params.get("symbol") == symbol]

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                target = head.split(b"\r\n", 1)[0].split(b" ")[1].decode()
                canned = self.canned.get(urlsplit(target).path)
                if canned:
                    status, body, headers = canned.pop(0)
                    self.served.append(Served(urlsplit(target).path, {}, status, body))
                    if status == 0:
                        return
                    writer.write(
                        f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body
                    )
                    await writer.drain()
                    continue
                reply = await self._http.get(self.upstream + target)
                body = reply.content
                url = urlsplit(target)
                params = dict(parse_qsl(url.query))
                rewrites = self.depth_rewrites.get(params.get("symbol", ""))
                if url.path == "/api/v3/depth" and reply.status_code == 200 and rewrites:
                    body = orjson.dumps(rewrites.pop(0)(orjson.loads(body)))
                if url.path == "/api/v3/depth" and self.depth_delay:
                    await asyncio.sleep(self.depth_delay)
                self.served.append(Served(url.path, params, reply.status_code, body))
                weight = reply.headers.get("x-mbx-used-weight-1m", "0")
                writer.write(
                    f"HTTP/1.1 {reply.status_code} X\r\nContent-Length: {len(body)}\r\n"
                    f"Content-Type: application/json\r\nx-mbx-used-weight-1m: {weight}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
