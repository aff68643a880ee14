"""One recorded second of one order book, and its storage encoding.

The encoding is the storage contract shared with the reference service (Rust, rmp_serde compact form):
- value: a MessagePack array `[bids, asks, update_id, timestamp]`, each side an array of `[price, quantity]`
  string pairs exactly as the exchange sent them, bids highest price first, asks lowest first;
- key: ASCII `SYMBOL:SECONDS` with SECONDS the 10-digit Unix capture second (`BTCUSDT:1737158400`).
  The symbol lives in the key only, so decoding a value needs the symbol from the caller.

Pure: no clock, no I/O. The capture second comes in as an argument.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import msgpack

from core.market.orderbook import TopNumbers
from core.market.wire import Level
from core.storage.keys import snapshot_key

SNAPSHOT_DEPTH = 20


class SnapshotDecodeError(ValueError):
    """Stored bytes are not a snapshot in the contract's layout."""


class BookView(Protocol):
    """What a snapshot needs from an order book (core.orderbook.OrderBook has it)."""

    symbol: str
    last_update_id: int

    def top_bids(self, n: int) -> list[Level]: ...
    def top_asks(self, n: int) -> list[Level]: ...


class OrderBookSnapshot:
    """One recorded second of one book: its levels, update id and capture second.

    The levels are tuples of (price, quantity) strings, or, for a snapshot the recorder captured from a live book
    (`captured`), the packed bytes of both sides until someone reads `bids` or `asks`: the recorder stores the
    bytes as they are, and 1,500 books a second of level tuples cost more to make and free than all the rest of
    the capture (docs/PERFORMANCE.md). Equal snapshots have equal symbol, levels, update id and second."""

    __slots__ = ("_asks", "_bids", "numbers", "sides", "symbol", "timestamp", "update_id")

    def __init__(
        self,
        symbol: str,
        bids: tuple[Level, ...] | None,  # highest price first; None: decoded from `sides` when read
        asks: tuple[Level, ...] | None,  # lowest price first
        update_id: int,
        timestamp: int,  # Unix capture second, equal to the key's
        sides: bytes | None = None,  # msgpack.packb(bids) + msgpack.packb(asks), when the book packed them
        numbers: TopNumbers | None = None,  # the levels as numbers, when the book read them as it packed them
    ) -> None:
        self.symbol = symbol
        self._bids = bids
        self._asks = asks
        self.update_id = update_id
        self.timestamp = timestamp
        self.sides = sides
        self.numbers = numbers

    @classmethod
    def captured(
        cls, symbol: str, sides: bytes, update_id: int, timestamp: int, numbers: TopNumbers | None = None
    ) -> OrderBookSnapshot:
        """A snapshot whose levels are the packed `sides` (OrderBook.capture), decoded only when read."""
        return cls(symbol, None, None, update_id, timestamp, sides, numbers)

    @classmethod
    def from_orderbook(cls, book: BookView, timestamp: int, depth: int = SNAPSHOT_DEPTH) -> OrderBookSnapshot:
        capture = getattr(book, "capture", None)  # the real book's; a stand-in may have top_bids/asks alone
        if capture is not None:
            sides, numbers = capture(depth)
            return cls.captured(book.symbol, sides, book.last_update_id, timestamp, numbers)
        return cls(book.symbol, tuple(book.top_bids(depth)), tuple(book.top_asks(depth)), book.last_update_id,
                   timestamp)  # fmt: skip

    @property
    def bids(self) -> tuple[Level, ...]:
        if self._bids is None:
            self._decode_sides()
        return self._bids  # type: ignore[return-value]

    @property
    def asks(self) -> tuple[Level, ...]:
        if self._asks is None:
            self._decode_sides()
        return self._asks  # type: ignore[return-value]

    @bids.setter
    def bids(self, levels: tuple[Level, ...]) -> None:
        self._set_levels(levels, self.asks)

    @asks.setter
    def asks(self, levels: tuple[Level, ...]) -> None:
        self._set_levels(self.bids, levels)

    def _set_levels(self, bids: tuple[Level, ...], asks: tuple[Level, ...]) -> None:
        # The captured bytes and numbers were those of the old levels: encoded anew from the tuples.
        self._bids, self._asks, self.sides, self.numbers = bids, asks, None, None

    def _decode_sides(self) -> None:
        unpacker = msgpack.Unpacker(use_list=False)
        unpacker.feed(self.sides or b"")
        self._bids, self._asks = next(unpacker), next(unpacker)

    def __eq__(self, other: object) -> bool:
        if type(other) is not OrderBookSnapshot:
            return NotImplemented
        return (self.symbol, self.update_id, self.timestamp, self.bids, self.asks) == (
            other.symbol, other.update_id, other.timestamp, other.bids, other.asks,
        )  # fmt: skip

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        return (
            f"OrderBookSnapshot(symbol={self.symbol!r}, bids={self.bids!r}, asks={self.asks!r}, "
            f"update_id={self.update_id!r}, timestamp={self.timestamp!r})"
        )

    def at(self, timestamp: int) -> OrderBookSnapshot:
        """The same levels at another second (a book unchanged since), sharing this one's tuples or bytes."""
        return OrderBookSnapshot(
            self.symbol, self._bids, self._asks, self.update_id, timestamp, self.sides, self.numbers
        )

    def shares_levels(self, other: OrderBookSnapshot) -> bool:
        """The very same levels objects as `other` (one made from the other by `at`), not merely equal ones."""
        if self.sides is not None:
            return self.sides is other.sides
        return self._bids is other._bids and self._asks is other._asks

    @property
    def is_empty(self) -> bool:
        """No bids and no asks: the reference service never stores such a snapshot."""
        return not self.bids and not self.asks

    @property
    def key(self) -> bytes:
        return snapshot_key(self.symbol, self.timestamp)

    def to_bytes(self) -> bytes:
        # Tuples pack as msgpack arrays, the same bytes rmp_serde writes for Vec<(String, String)>.
        if self.sides is not None:
            return stamped(self.untimed_bytes(), self.timestamp)
        return msgpack.packb((self.bids, self.asks, self.update_id, self.timestamp))

    def untimed_bytes(self) -> bytes:
        """The encoding without its last element, the timestamp: `stamped(untimed, ts)` gives the very bytes
        `to_bytes` gives at second `ts`, so an unchanged book is not encoded again each second (the recorder)."""
        sides = self.sides if self.sides is not None else msgpack.packb(self.bids) + msgpack.packb(self.asks)
        return _ARRAY_OF_4 + sides + msgpack.packb(self.update_id)

    @classmethod
    def from_bytes(cls, symbol: str, data: bytes, check_levels: bool = True) -> OrderBookSnapshot:
        """Decode a stored value. `check_levels=False` checks the shape but not every level's types: for
        bulk reads, where those checks are half the decode time."""
        try:
            # use_list=False yields tuples directly: no conversion, and about 4x faster under GC pressure.
            value = msgpack.unpackb(data, use_list=False)
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise SnapshotDecodeError(
                f"{symbol} snapshot is not valid MessagePack ({str(exc) or type(exc).__name__})"
            ) from exc
        if type(value) is not tuple or len(value) != 4:
            raise SnapshotDecodeError(
                f"{symbol} snapshot must be a 4-element array [bids, asks, update_id, timestamp], "
                f"got {_describe(value)}"
            )
        bids, asks, update_id, timestamp = value
        if check_levels:
            _check_side(symbol, "bids", bids)
            _check_side(symbol, "asks", asks)
        elif type(bids) is not tuple or type(asks) is not tuple:
            raise SnapshotDecodeError(f"{symbol} snapshot bids and asks must be arrays of levels")
        if type(update_id) is not int or update_id < 0:
            raise SnapshotDecodeError(
                f"{symbol} snapshot update_id must be a non-negative integer, got {update_id!r}"
            )
        if type(timestamp) is not int:
            raise SnapshotDecodeError(f"{symbol} snapshot timestamp must be an integer, got {timestamp!r}")
        return cls(symbol, bids, asks, update_id, timestamp)


_ARRAY_OF_4 = b"\x94"  # msgpack fixarray header of [bids, asks, update_id, timestamp]


def stamped(untimed: bytes, timestamp: int) -> bytes:
    """A stored value from `OrderBookSnapshot.untimed_bytes` and the capture second (an array's elements are
    packed one after another, so appending the last one is the same as packing the whole)."""
    if 0x10000 <= timestamp <= 0xFFFFFFFF:  # every second from 1970-01-01T18:12 to 2106: msgpack's uint32
        return untimed + _UINT32.pack(0xCE, timestamp)
    return untimed + msgpack.packb(timestamp)


_UINT32 = struct.Struct(">BI")  # msgpack's uint32: 0xce, then the value big-endian


def raw_sides(timestamp: int, data: bytes) -> tuple[tuple, tuple] | None:
    """The (bids, asks) of a stored value with its strings left as bytes, no snapshot made (the fast path of
    bulk reads); None when the value is not plainly the contract's: not MessagePack, not its shape, or not the
    key's second. The caller then decodes it the checked way, which names the damage."""
    try:
        snap = msgpack.unpackb(data, use_list=False, raw=True)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if type(snap) is not tuple or len(snap) != 4:
        return None
    bids, asks, update_id, stamp = snap
    if type(bids) is not tuple or type(asks) is not tuple or type(update_id) is not int or update_id < 0:
        return None
    if type(stamp) is not int or stamp != timestamp:
        return None
    return bids, asks


def decode_many(symbol: str, values: Iterable[bytes]) -> list[OrderBookSnapshot]:
    """Decode a run of stored values (a range read) with the shape checked but not every level's types.
    Strict: the first damaged value raises SnapshotDecodeError (`decode_range` skips and reports instead).

    (Pausing the garbage collector around this loop was measured: it made hour-long reads slower, because
    the collector then scans every decoded tuple at once on the next allocation.)"""
    return [OrderBookSnapshot.from_bytes(symbol, v, check_levels=False) for v in values]


def decode_range(
    symbol: str,
    items: Iterable[tuple[int, bytes]],
    on_damaged: Callable[[str, int, str], None],
    *,
    check_levels: bool = False,
) -> list[OrderBookSnapshot]:
    """Decode (second, stored value) pairs of one symbol, skipping every damaged one: a value that is not
    MessagePack, not the contract's shape, or whose timestamp is not its key's second. Each is handed to
    `on_damaged(symbol, second, reason)` instead of failing the range. `check_levels=False` (bulk reads) checks
    the shape but not every level; `level_problem` finds a bad level when a computation trips over one."""
    snaps = []
    append = snaps.append
    for ts, value in items:
        try:
            snap = OrderBookSnapshot.from_bytes(symbol, value, check_levels)
        except SnapshotDecodeError as exc:
            on_damaged(symbol, ts, str(exc))
            continue
        if snap.timestamp != ts:
            on_damaged(symbol, ts, f"{symbol} snapshot timestamp {snap.timestamp} is not its key's second {ts}")
            continue
        append(snap)
    return snaps


def checked_snapshots(
    symbol: str, items: Iterable[tuple[int, bytes]], on_damaged: Callable[[str, int, str], None]
) -> Iterator[OrderBookSnapshot]:
    """Like `decode_range`, one at a time (exports of any length), each checked level by level: a level that
    is not a pair of decimal strings makes its snapshot damaged too."""
    for ts, value in items:
        for snap in decode_range(symbol, ((ts, value),), on_damaged, check_levels=True):
            problem = level_problem(snap)
            if problem is None:
                yield snap
            else:
                on_damaged(symbol, ts, problem)


# A price or quantity as the exchange writes it: a plain non-negative decimal ("67650.01000000", "0", "5").
_DECIMAL = re.compile(r"[0-9]+(?:\.[0-9]*)?")


def level_problem(snap: OrderBookSnapshot) -> str | None:
    """Why a decoded snapshot cannot be used level by level (a level that is not a pair of decimal strings),
    or None. The full check that bulk reads skip for speed; readers run it when a computation fails."""
    for side, levels in (("bids", snap.bids), ("asks", snap.asks)):
        for level in levels:
            if (
                type(level) is not tuple
                or len(level) != 2
                or type(level[0]) is not str
                or type(level[1]) is not str
                or not _DECIMAL.fullmatch(level[0])
                or not _DECIMAL.fullmatch(level[1])
            ):
                return f"{snap.symbol} snapshot {side} level is not a pair of decimal strings: {level!r}"
    return None


def _check_side(symbol: str, side: str, levels: object) -> None:
    if type(levels) is not tuple:
        raise SnapshotDecodeError(
            f"{symbol} snapshot {side} must be an array of levels, got {_describe(levels)}"
        )
    for level in levels:
        if (
            type(level) is not tuple
            or len(level) != 2
            or type(level[0]) is not str
            or type(level[1]) is not str
        ):
            raise SnapshotDecodeError(
                f"{symbol} snapshot {side} level must be a [price, quantity] pair of strings, got {level!r}"
            )


def _describe(value: object) -> str:
    if type(value) is tuple:
        return f"an array of {len(value)} elements"
    return type(value).__name__
