"""What one received WebSocket frame costs the receiving process, per client library (issue 9 part 3).

`python -m bench.ws_clients [--bursts 50,500] [--arrivals phased,burst] [--seconds 10] [--rounds 3]
[--clients ABCD (any of ABCDEF)]`

A loopback server process sends the real combined-stream frames of tests/fixtures/binance/02_* (129 frames of
2024-09-03, 166-2,659 B, 492 B on average) at 10 bursts a second: `--bursts 50,500` is 500 and 5,000 frames a
second. How the frames of one 100 ms arrive (`--arrivals`): `phased`, each at its own fixed offset within the
100 ms, as real symbols tick (the fixture's six at 6, 14, 15, 17, 73 and 95 ms); `burst`, all at the 100 ms
boundary, one socket write each; `one-write`, all at the boundary in one write. The server pings every 2 s and
closes a connection that has not answered within 5 s, so a client must answer pings to finish its run.

Each client runs in its own process, one after the other, in turn (A B C D A+parse B+parse ... per round). It
measures its own CPU (`time.process_time`, and the kernel's share from getrusage) and the wake-ups of its
event loop over `--seconds` of frames after one second of warm-up, then closes with a close handshake (the
line says whether it was clean). The clients:

  A  websockets' asyncio client, as core/feed/stream.py opens it: `async for raw in ws` (a task switch and a
     UTF-8 decode per message; compression off, max_queue 4096);
  B  websockets' sans-I/O `ClientProtocol` driven from a plain `asyncio.Protocol`: all frames of one socket
     read handled in the one `data_received` call, no per-message await; the message is the frame's bytes
     (orjson checks the UTF-8 when it parses them);
  C  aiohttp's client WebSocket (`async for msg in ws`; its frame reader is compiled);
  D  picows (Cython; `on_ws_frame` with the payload as a memoryview);
  E  B reading into one reused buffer (`asyncio.BufferedProtocol`: `recv_into`, no 256 KiB object per read);
  F  A with asyncio's read size lowered to 64 KiB (`ws.transport.max_size`).

"+ parse" adds `orjson.loads` of every message, comparable with the "+ parse" layer of `python -m
bench.recorder --per-event` (docs/PERFORMANCE.md, "Cost per event"). C and D need aiohttp and picows, which
are not Depthbook dependencies: without them the run says "not installed, skipped" for those clients. To run
all four, make a scratch venv (python3 -m venv /tmp/wsbench-venv; pip install
websockets==<the project's version> aiohttp picows orjson psutil) and run this module with its python from
the repository root.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import websockets

FIXTURE = (
    Path(__file__).resolve().parent.parent
    / "tests/fixtures/binance/02_spot_btcusdt_ethusdt_ws_2024-09-03/ws_combined_depth100ms_6symbols.jsonl"
)
MAX_FRAME_BYTES = 4 * 2**20  # as core/feed/stream.py
CLIENTS = {
    "A": "websockets asyncio (async for)",
    "B": "websockets sans-I/O in data_received",
    "C": "aiohttp",
    "D": "picows",
    "E": "B reading into a reused buffer",
    "F": "A with 64 KiB socket reads",
}
# asyncio's socket transport passes 256 KiB to recv(): a new bytes object of that size per read, which glibc
# serves with mmap (and munmap) as it is over its 128 KiB threshold; 64 KiB stays in the heap.
SMALL_READ = 64 * 1024
NEEDS = {"C": "aiohttp", "D": "picows"}
ARRIVALS = {
    "phased": "each frame at its own fixed phase within the 100 ms (like real symbols), one write per frame",
    "burst": "all frames at the 100 ms boundary, one write per frame",
    "one-write": "all frames at the 100 ms boundary in one write",
}


def load_frames() -> list[bytes]:
    return [line.rstrip(b"\n") for line in FIXTURE.read_bytes().splitlines() if line.strip()]


# ---- The server (its own process) --------------------------------------------------------------------------


def phases(burst: int) -> list[float]:
    """Each frame's fixed offset (s) within the 100 ms, seeded: real symbols tick at their own phase (the
    fixture's six at 6, 14, 15, 17, 73 and 95 ms past each 100 ms), so frames arrive spread, in clusters."""
    rng = random.Random(burst)
    return sorted(rng.random() * 0.1 for _ in range(burst))


async def _serve() -> None:
    from websockets.asyncio.server import serve
    from websockets.frames import Frame, Opcode
    from websockets.protocol import State

    frames = load_frames()
    wire = [Frame(Opcode.TEXT, f).serialize(mask=False) for f in frames]  # server frames are never masked
    n = len(frames)

    async def handler(ws) -> None:
        query = parse_qs(urlsplit(ws.request.path).query)
        burst, arrival = int(query["burst"][0]), query["arrival"][0]
        # (offset in the 100 ms, frames sent then): phased frames due within 1 ms of each other go together
        groups: list[tuple[float, int]] = []
        for phase in phases(burst) if arrival == "phased" else [0.0] * burst:
            if groups and phase - groups[-1][0] < 0.001:
                groups[-1] = (groups[-1][0], groups[-1][1] + 1)
            else:
                groups.append((phase, 1))
        loop = asyncio.get_running_loop()
        base, i = float(int(loop.time() * 10) + 1) / 10, 0
        with contextlib.suppress(websockets.ConnectionClosed):
            while True:
                for offset, count in groups:
                    await asyncio.sleep(max(0.0, base + offset - loop.time()))
                    if arrival == "one-write":
                        if ws.protocol.state is not State.OPEN:
                            return
                        # Whole frames, between two of websockets' own writes: the stream stays valid.
                        ws.transport.write(b"".join(wire[(i + k) % n] for k in range(count)))
                        i += count
                        continue
                    for _ in range(count):
                        await ws.send(frames[i % n], text=True)
                        i += 1
                base += 0.1

    async with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=2, ping_timeout=5) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"url": f"ws://127.0.0.1:{port}/stream"}), flush=True)
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        stdin = sys.stdin.fileno()
        loop.add_reader(stdin, lambda: None if os.read(stdin, 1024) or done.done() else done.set_result(None))
        await done  # stdin closed: the parent is done


# ---- What every client measures ----------------------------------------------------------------------------


class Meter:
    """CPU and loop wake-ups between the frame that ends the warm-up and the last frame of the window.

    A client counts its frames itself and calls `mark` only when its count reaches `next_mark`, so the cost
    per frame of being measured is one addition and one comparison, the same for every client.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, warmup: int, frames: int) -> None:
        self.next_mark = warmup
        self._end = warmup + frames
        self.frames = frames
        self.done = loop.create_future()
        self.wakeups = 0
        self._cpu = self._wall = self._sys = 0.0
        self._woke = 0
        selector = loop._selector  # type: ignore[attr-defined]
        select = selector.select

        def counted(timeout=None):
            events = select(timeout)
            if events:
                self.wakeups += 1
            return events

        selector.select = counted  # a wake-up of the loop with something to read: about one socket read

    def mark(self, count: int) -> int:
        """Called at the frame numbered `next_mark`; returns the next mark, 0 once the window is measured."""
        if count < self._end:
            self._cpu, self._wall, self._woke = time.process_time(), time.monotonic(), self.wakeups
            self._sys = resource.getrusage(resource.RUSAGE_SELF).ru_stime
            self.next_mark = self._end
            return self._end
        cpu, wall = time.process_time() - self._cpu, time.monotonic() - self._wall
        system = resource.getrusage(resource.RUSAGE_SELF).ru_stime - self._sys  # the kernel's share
        result = {
            "cpu_us": cpu / self.frames * 1e6,
            "rate": self.frames / wall,
            "reads": (self.wakeups - self._woke) / self.frames,
            "sys_us": system / self.frames * 1e6,
        }
        if not self.done.done():
            self.done.set_result(result)
        self.next_mark = 0
        return 0


# ---- A: websockets' asyncio client, as Depthbook uses it ---------------------------------------------------


async def client_a(url: str, meter: Meter, parse: bool, read_size: int = 0) -> bool:
    from websockets.asyncio.client import connect

    loads, mark = orjson.loads, meter.next_mark
    async with connect(
        url, compression=None, ping_interval=None, close_timeout=2, max_size=MAX_FRAME_BYTES, max_queue=4096
    ) as ws:
        if read_size:
            ws.transport.max_size = read_size  # asyncio's recv() size per read (its class attribute: 256 KiB)
        n = 0
        async for raw in ws:
            n += 1
            if parse:
                loads(raw)
            if n == mark:
                mark = meter.mark(n)
                if not mark:
                    break
    return ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 1000


async def client_f(url: str, meter: Meter, parse: bool) -> bool:
    return await client_a(url, meter, parse, read_size=SMALL_READ)


# ---- B: websockets' sans-I/O protocol in a plain asyncio.Protocol ------------------------------------------


class SansIOClient(asyncio.Protocol):
    """A WebSocket client connection on websockets' sans-I/O `ClientProtocol`, without its asyncio layer.

    What websockets' asyncio connection did and this class must do itself: send the handshake and wait for the
    response (failing on a refusal); write whatever the protocol queued after every read (the pong it queues
    on a ping, the close frame it echoes on a close), half-close on its SEND_EOF; reassemble fragmented
    messages; after a close frame is sent, drop the TCP connection if the server has not within
    `close_timeout`; hand the end of the stream to the protocol; and report the closure. Not done here:
    sending pings of its own (Binance pings the client), a cap on buffered messages (none are buffered: each
    is handled in the read).
    """

    def __init__(self, url: str, on_message, close_timeout: float = 2.0) -> None:
        from websockets.client import ClientProtocol
        from websockets.frames import Opcode
        from websockets.uri import parse_uri

        # No extensions offered: no compression.
        self.protocol = ClientProtocol(parse_uri(url), max_size=MAX_FRAME_BYTES)
        self.on_message = on_message
        self.close_timeout = close_timeout
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self._text, self._binary, self._cont = Opcode.TEXT, Opcode.BINARY, Opcode.CONT
        self._parts: list[bytes] = []  # a fragmented message so far
        self._abort: asyncio.TimerHandle | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.protocol.send_request(self.protocol.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        if protocol.writes:  # a pong, a close echo: before handling the messages, as websockets does
            self._flush()
        on_message, text, binary = self.on_message, self._text, self._binary
        for event in events:
            opcode = getattr(event, "opcode", None)
            if opcode is text or opcode is binary:
                if event.fin:
                    on_message(event.data)
                else:
                    self._parts = [event.data]
            elif opcode is self._cont:
                self._parts.append(event.data)
                if event.fin:
                    on_message(b"".join(self._parts))
                    self._parts = []
            elif opcode is None:  # the handshake's response
                self._opened()
            # PING (the pong is already written), PONG, CLOSE (the echo too): nothing more to do.
        if protocol.close_expected():
            self._expect_close()

    def _opened(self) -> None:
        if self.opened.done():
            return
        if self.protocol.handshake_exc is not None:
            self.opened.set_exception(self.protocol.handshake_exc)
        else:
            self.opened.set_result(None)

    def eof_received(self) -> bool:
        self.protocol.receive_eof()
        self.protocol.events_received()
        self._flush()
        return False  # asyncio closes the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent: the protocol's state becomes CLOSED
        if self._abort is not None:
            self._abort.cancel()
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake; `closed` completes when the server has closed the TCP connection."""
        from websockets.protocol import State

        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self._flush()
            self._expect_close()

    def _expect_close(self) -> None:
        if self._abort is None and self.transport is not None:
            self._abort = asyncio.get_running_loop().call_later(self.close_timeout, self.transport.abort)

    def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():  # SEND_EOF
                self.transport.write_eof()


class BufferedSansIOClient(SansIOClient, asyncio.BufferedProtocol):
    """B reading into one reused buffer: asyncio's socket transport then calls `recv_into` instead of
    `recv(256 KiB)`, which allocates (and shrinks) a new 256 KiB bytes object on every read."""

    def __init__(self, url: str, on_message, close_timeout: float = 2.0) -> None:
        super().__init__(url, on_message, close_timeout)
        self._buffer = bytearray(256 * 1024)
        self._view = memoryview(self._buffer)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self._buffer[:nbytes])  # a copy: the protocol keeps what it has not parsed yet


async def client_b(url: str, meter: Meter, parse: bool, kind: type[SansIOClient] = SansIOClient) -> bool:
    loads = orjson.loads
    count = [0, meter.next_mark]

    def on_message(data: bytes) -> None:
        count[0] += 1
        if parse:
            loads(data)
        if count[0] == count[1]:
            count[1] = meter.mark(count[0])

    split = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_connection(lambda: kind(url, on_message), split.hostname, split.port)
    await asyncio.wait_for(conn.opened, 10)
    await meter.done
    conn.close()
    await asyncio.wait_for(conn.closed, 5)
    close_rcvd = conn.protocol.close_rcvd
    return close_rcvd is not None and close_rcvd.code == 1000


async def client_e(url: str, meter: Meter, parse: bool) -> bool:
    return await client_b(url, meter, parse, BufferedSansIOClient)


# ---- C: aiohttp --------------------------------------------------------------------------------------------


async def client_c(url: str, meter: Meter, parse: bool) -> bool:
    import aiohttp

    loads, mark, text = orjson.loads, meter.next_mark, aiohttp.WSMsgType.TEXT
    session = aiohttp.ClientSession()
    try:
        async with session.ws_connect(url, compress=0, autoping=True, max_msg_size=MAX_FRAME_BYTES) as ws:
            n = 0
            async for msg in ws:
                if msg.type is not text:
                    continue
                n += 1
                if parse:
                    loads(msg.data)
                if n == mark:
                    mark = meter.mark(n)
                    if not mark:
                        break
            await ws.close()
            return ws.close_code == 1000
    finally:
        await session.close()


# ---- D: picows ---------------------------------------------------------------------------------------------


async def client_d(url: str, meter: Meter, parse: bool) -> bool:
    from picows import WSCloseCode, WSListener, WSMsgType, ws_connect

    loads, text, cont, close = orjson.loads, WSMsgType.TEXT, WSMsgType.CONTINUATION, WSMsgType.CLOSE
    state = {"close_code": None}

    class Listener(WSListener):  # pings are answered by picows (enable_auto_pong)
        def __init__(self) -> None:
            self.n, self.mark, self.parts = 0, meter.next_mark, []

        def on_ws_frame(self, transport, frame) -> None:
            kind = frame.msg_type
            if kind == text and frame.fin:
                payload = frame.get_payload_as_memoryview()  # valid during this call only
            elif kind in (text, cont):
                self.parts.append(frame.get_payload_as_bytes())
                if not frame.fin:
                    return
                payload, self.parts = b"".join(self.parts), []
            elif kind == close:
                state["close_code"] = frame.get_close_code()
                if not transport.is_close_frame_sent:
                    transport.send_close(frame.get_close_code())
                transport.disconnect()
                return
            else:
                return
            self.n += 1
            if parse:
                loads(payload)
            if self.n == self.mark:
                self.mark = meter.mark(self.n)

    transport, _ = await ws_connect(Listener, url, max_frame_size=MAX_FRAME_BYTES)
    await meter.done
    transport.send_close(WSCloseCode.OK)
    await asyncio.wait_for(transport.wait_disconnected(), 5)
    return state["close_code"] == WSCloseCode.OK


async def _client(name: str, url: str, warmup: int, frames: int, parse: bool) -> dict:
    meter = Meter(asyncio.get_running_loop(), warmup, frames)
    run = {"A": client_a, "B": client_b, "C": client_c, "D": client_d, "E": client_e, "F": client_f}[name]
    clean = await run(url, meter, parse)
    return {**meter.done.result(), "clean_close": clean}


# ---- The runs, in turn -------------------------------------------------------------------------------------


def available(name: str) -> bool:
    return name not in NEEDS or importlib.util.find_spec(NEEDS[name]) is not None


def _one(url: str, name: str, burst: int, arrival: str, seconds: float, parse: bool) -> dict:
    per_s = burst * 10
    cmd = [
        sys.executable,
        "-m",
        "bench.ws_clients",
        "--client",
        name,
        "--url",
        f"{url}?burst={burst}&arrival={arrival}",
        "--warmup",
        str(per_s),
        "--frames",
        str(int(per_s * seconds)),
    ] + (["--parse"] if parse else [])
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=seconds + 60, cwd=Path(__file__).parent.parent
    )
    if out.returncode:
        raise RuntimeError(f"client {name} failed:\n{out.stderr}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load": os.getloadavg()[0]}


def run(bursts: list[int], arrivals: list[str], seconds: float, rounds: int, clients: str) -> None:
    names = [c for c in clients if c in CLIENTS]
    for name in names:
        if not available(name):
            print(
                f"{name} {CLIENTS[name]}: {NEEDS[name]} not installed, skipped "
                "(see this module's docstring for the scratch venv)"
            )
    names = [n for n in names if available(n)]
    frames = load_frames()
    print(
        f"websockets {websockets.__version__}, orjson {orjson.__version__}, Python {sys.version.split()[0]}; "
        f"{len(frames)} real frames, {statistics.mean(map(len, frames)):.0f} B on average; "
        f"load {os.getloadavg()[0]:.2f} (2 cores)"
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.ws_clients", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    try:
        url = json.loads(server.stdout.readline())["url"]
        for arrival in arrivals:
            for burst in bursts:
                configs = [(n, p) for p in (False, True) for n in names]
                results: dict[tuple[str, bool], list[dict]] = {c: [] for c in configs}
                print(
                    f"\n{arrival}: {burst} frames per 100 ms ({burst * 10} frames/s), "
                    f"{rounds} x {seconds:g} s"
                )
                for r in range(rounds):
                    for name, parse in configs:
                        res = _one(url, name, burst, arrival, seconds, parse)
                        results[(name, parse)].append(res)
                        label = f"{name}{' + parse' if parse else ''}"
                        print(
                            f"  round {r + 1} {label}: {res['cpu_us']:.1f} µs/frame "
                            f"(kernel {res['sys_us']:.1f}), "
                            f"{res['reads']:.3f} wake-ups/frame, {res['rate']:.0f} frames/s, "
                            f"clean close {res['clean_close']}, load {res['load']:.2f}",
                            flush=True,
                        )
                _table(results, names)
    finally:
        server.stdin.close()
        server.wait(10)


def _table(results: dict[tuple[str, bool], list[dict]], names: list[str]) -> None:
    print("\n| client | µs/frame (runs) | + orjson.loads (runs) | of which kernel | wake-ups/frame | load |")
    print("|---|---|---|---|---|---|")
    for name in names:
        cells = []
        for parse in (False, True):
            runs = [r["cpu_us"] for r in results[(name, parse)]]
            cells.append(f"{statistics.median(runs):.1f} ({', '.join(f'{x:.0f}' for x in runs)})")
        every = [r for p in (False, True) for r in results[(name, p)]]
        system = statistics.median(r["sys_us"] for r in every)
        reads = statistics.median(r["reads"] for r in every)
        loads = [r["load"] for r in every]
        print(
            f"| {name} {CLIENTS[name]} | {cells[0]} | {cells[1]} | {system:.1f} | {reads:.3f} | "
            f"{min(loads):.1f}–{max(loads):.1f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ws_clients", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bursts", default="50,500", help="frames per 100 ms burst, one run set per value")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of frames measured per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default="ABCD")
    parser.add_argument(
        "--arrivals", default="phased,burst", help=f"how frames arrive: {', '.join(ARRIVALS)}"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=500, help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=5000, help=argparse.SUPPRESS)
    parser.add_argument("--parse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve())
    elif args.client:
        print(json.dumps(asyncio.run(_client(args.client, args.url, args.warmup, args.frames, args.parse))))
    else:
        bursts = [int(b) for b in args.bursts.split(",")]
        arrivals = [a for a in args.arrivals.split(",") if a in ARRIVALS]
        run(bursts, arrivals, args.seconds, args.rounds, args.clients.upper())


if __name__ == "__main__":
    main()
