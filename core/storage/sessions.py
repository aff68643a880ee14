"""Recording sessions as stored: when recording started and ended, which symbols, and why it ended.

Stored in the `sessions` column family under `TS:NNN` (TS the start second, NNN a 3-digit sequence within
that second) as MessagePack `[start_ts, [symbols], end_ts | nil, end_reason | nil]`. A value that does not
decode to that shape is damaged: `unpack_session` raises SessionDecodeError and readers skip the record (its
bytes stay as they are).
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


class SessionDecodeError(ValueError):
    """Stored bytes are not a session record."""


def unpack_session(value: bytes) -> SessionRecord:
    try:
        fields = msgpack.unpackb(value, use_list=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise SessionDecodeError(f"session is not valid MessagePack ({str(exc) or type(exc).__name__})") from None
    if type(fields) is not tuple or len(fields) != 4:
        raise SessionDecodeError(f"session is not an array [start, symbols, end, reason]: {fields!r:.80}")
    start, symbols, end, reason = fields
    if (
        type(start) is not int
        or type(symbols) is not tuple
        or any(type(s) is not str for s in symbols)
        or not (end is None or type(end) is int)
        or not (reason is None or type(reason) is str)
    ):
        raise SessionDecodeError(f"session fields have the wrong types: {fields!r:.80}")
    return SessionRecord(start, symbols, end, reason)
