"""The stream's own cut of whole data frames (core.feed.stream `whole_data_frames`, used by
DeliveringConnection.data_received): checked against frames serialized by websockets, and on a real socket whose
reads cut frames anywhere, with pings and a frame websockets must refuse among them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Frame, Opcode
from websockets.server import ServerProtocol

from core.feed.stream import StreamConnection, _parser_between_frames, cut_whole_frames, whole_data_frames
from tests.waiting import wait_until

MAX = 1000
OP_CONT, OP_TEXT, OP_BINARY = Opcode.CONT, Opcode.TEXT, Opcode.BINARY
OP_CLOSE, OP_PING, OP_PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG


# The specification and the C cut the stream uses (when built): every test of the cut runs on both.
CUTS = [whole_data_frames] + ([cut_whole_frames] if cut_whole_frames is not None else [])
cuts = pytest.mark.parametrize("cut", CUTS, ids=lambda f: "c" if f is cut_whole_frames else "python")


def wire(frame: Frame) -> bytes:
    return frame.serialize(mask=False, extensions=[])


# Payload sizes that take each of the three length encodings: 7 bits, 16 bits (126..65535), 64 bits (>= 65536).
payloads = st.one_of(st.binary(max_size=130), st.integers(126, 1100).map(lambda n: b"x" * n))
data_frames = st.builds(Frame, st.sampled_from([OP_TEXT, OP_BINARY]), payloads)
other_frames = st.one_of(
    st.builds(Frame, st.sampled_from([OP_PING, OP_PONG, OP_CLOSE]), st.binary(max_size=20)),
    st.builds(Frame, st.sampled_from([OP_TEXT, OP_BINARY, OP_CONT]), payloads, st.just(False)),  # fragments
    st.builds(Frame, st.just(OP_CONT), payloads),
)


@cuts
@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(data_frames, data_frames, other_frames), max_size=8), st.data())
def test_the_cut_takes_exactly_the_whole_data_frames_in_front(
    cut, frames: list[Frame], data: st.DataObject
) -> None:
    encoded = [wire(f) for f in frames]
    stream = b"".join(encoded)
    read = data.draw(st.integers(0, len(stream)), label="bytes read so far")
    expected: list[bytes] = []
    used = 0
    for frame, raw in zip(frames, encoded, strict=True):
        whole_data = frame.opcode in (OP_TEXT, OP_BINARY) and frame.fin and len(frame.data) <= MAX
        if not whole_data or used + len(raw) > read:
            break
        expected.append(frame.data)
        used += len(raw)
    assert cut(stream[:read], MAX) == (expected, used)


@cuts
def test_a_masked_frame_and_a_frame_with_an_rsv_bit_are_left_to_websockets(cut) -> None:
    text = wire(Frame(OP_TEXT, b"ok"))
    masked = Frame(OP_TEXT, b"hi").serialize(mask=True, extensions=[])
    rsv1 = bytes([text[0] | 0x40]) + text[1:]
    assert cut(text + masked + text, MAX) == ([b"ok"], len(text))
    assert cut(rsv1 + text, MAX) == ([], 0)


@cuts
def test_a_frame_with_a_64_bit_length_is_cut_whole_or_left(cut) -> None:
    long = wire(Frame(OP_BINARY, b"y" * 70_000))  # past 65,535 bytes: the 8-byte length
    text = wire(Frame(OP_TEXT, b"ok"))
    assert long[1] == 127
    assert cut(text + long + text, 100_000) == ([b"ok", b"y" * 70_000, b"ok"], len(text + long + text))
    assert cut(text + long + text, 69_999) == ([b"ok"], len(text))  # longer than the limit: websockets refuses it
    assert cut(text + long[:-1], 100_000) == ([b"ok"], len(text))  # not all read yet


HEADERS = [b"\x81", b"\x82", b"\x81\x7e", b"\x82\x7f"]  # whole text and binary frames, 16- and 64-bit lengths


@pytest.mark.skipif(cut_whole_frames is None, reason="the C cut is not built (pip install -e .)")
@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.one_of(st.binary(max_size=12), st.sampled_from(HEADERS)), max_size=12),
    st.one_of(st.integers(-3, 300), st.just(2**70), st.just(-(2**70))),  # limits beyond 64 bits either way
)
def test_the_c_cut_answers_as_the_specification_for_any_bytes_and_limit(parts: list[bytes], max_size: int) -> None:
    data = b"".join(parts)  # frame headers and lengths of every kind, cut anywhere, among any bytes
    assert cut_whole_frames(data, max_size) == whole_data_frames(data, max_size)
    assert cut_whole_frames(bytearray(data), max_size) == whole_data_frames(data, max_size)


@contextlib.asynccontextmanager
async def raw_server() -> AsyncIterator[tuple[StreamConnection, asyncio.StreamWriter, list[Frame]]]:
    """A connection to a server that answers the handshake with websockets' sans-I/O protocol and then writes
    exactly the bytes a test gives it; the frames the client sends back are collected."""
    accepted: asyncio.Queue[asyncio.StreamWriter] = asyncio.Queue()
    received: list[Frame] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        protocol = ServerProtocol()
        protocol.receive_data(await reader.readuntil(b"\r\n\r\n"))
        protocol.send_response(protocol.accept(protocol.events_received()[0]))
        writer.write(b"".join(protocol.data_to_send()))
        await accepted.put(writer)
        while chunk := await reader.read(65536):
            protocol.receive_data(chunk)
            received.extend(e for e in protocol.events_received() if isinstance(e, Frame))
            for data in protocol.data_to_send():  # the echo of a close, then b"": the end of the connection
                if data:
                    writer.write(data)
                else:
                    writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = await StreamConnection.open(f"ws://127.0.0.1:{port}", ["btcusdt@depth@100ms"])
    writer = await accepted.get()
    try:
        yield conn, writer, received
    finally:
        await conn.close("test over")
        writer.close()
        server.close()


@pytest.mark.asyncio
async def test_frames_cut_by_the_reads_arrive_whole_and_in_order_around_a_ping_and_a_refused_frame_ends_it():
    # 7-, 16- and 64-bit lengths; m2's payload looks like frames, which only a parser that lost its place would see
    m1, m2, m3, m4, m5 = b"m1", wire(Frame(OP_TEXT, b"no")) * 100, b"3" * 70_000, b"m4", b"m5"
    async with raw_server() as (conn, writer, received):
        assert _parser_between_frames(conn.ws.protocol)  # else every frame would go through websockets
        got: list[bytes] = []
        reader = asyncio.create_task(conn.read(lambda message, _at: got.append(message)))
        second = wire(Frame(OP_BINARY, m2))
        writer.write(
            wire(Frame(OP_TEXT, m1)) + second[:4]
        )  # the second frame cut after its header: websockets
        await wait_until(
            lambda: got == [m1], what="m1"
        )  # has taken the header, and nothing is left in its buffer
        await wait_until(lambda: not _parser_between_frames(conn.ws.protocol), what="websockets in the frame")
        writer.write(second[4:10])
        await wait_until(lambda: len(conn.ws.protocol.reader.buffer) == 6, what="6 bytes of m2's payload")
        writer.write(
            second[10:] + wire(Frame(OP_PING, b"p")) + wire(Frame(OP_TEXT, m3)) + wire(Frame(OP_TEXT, m4))
        )
        await wait_until(lambda: len(got) == 4, what="the frames after the cut")
        await wait_until(lambda: received, what="the pong")
        assert [(f.opcode, f.data) for f in received] == [(OP_PONG, b"p")]
        received.clear()
        writer.write(wire(Frame(OP_TEXT, m5)))  # nothing buffered any more: the stream's own cut again
        await wait_until(lambda: len(got) == 5, what="m5")
        assert got == [m1, m2, m3, m4, m5]
        writer.write(Frame(OP_TEXT, b"masked").serialize(mask=True, extensions=[]))  # no server masks a frame
        with pytest.raises(ConnectionClosedError):
            await asyncio.wait_for(reader, 10)
        assert [(f.opcode, f.data[:2]) for f in received] == [(OP_CLOSE, b"\x03\xea")]  # refused: 1002
        assert got == [m1, m2, m3, m4, m5]
