"""Recording sessions as stored: when recording started and ended, which symbols, and why it ended.

Stored in the `sessions` column family under `TS:NNN` (TS the start second, NNN a 3-digit sequence within
that second) as MessagePack `[start_ts, [symbols], end_ts | nil, end_reason | nil]`.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack


@dataclass(frozen=True, slots=True)
class SessionRecord:
    start: int
    symbols: tuple[str, ...]
    end: int | None = None  # None while recording
    end_reason: str | None = None


def session_key(ts: int, seq: int) -> bytes:
    return f"{ts:010d}:{seq:03d}".encode("ascii")


def pack_session(session: SessionRecord) -> bytes:
    return msgpack.packb((session.start, session.symbols, session.end, session.end_reason))


def unpack_session(value: bytes) -> SessionRecord:
    start, symbols, end, reason = msgpack.unpackb(value, use_list=False)
    return SessionRecord(start, tuple(symbols), end, reason)
