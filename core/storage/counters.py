"""Per-symbol snapshot counters: how many seconds are stored, and the first and last of them.

Stored in the `meta` column family as `counter:SYMBOL` -> MessagePack `[count, first_ts, last_ts]`, written in
the same WriteBatch as the snapshots they count, so they are exact after any crash. At open, a counter whose
first/last no longer match the snapshots (or that is missing, as in a database written by the reference
service) is recounted by a scan. So is a counter whose bytes do not decode to a plausible `[count, first, last]`
(damaged): readers recount it in memory, a writer also stores the recount.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import msgpack
from rocksdict import Rdict

from core.storage import keys

COUNTER_PREFIX = b"counter:"


class Counter(NamedTuple):  # a tuple: the recorder makes 1,500 a second, and it packs as the stored array
    count: int
    first: int
    last: int


@functools.lru_cache(maxsize=8192)  # the recorder writes 1,500 symbols' counters a second
def counter_key(symbol: str) -> bytes:
    return COUNTER_PREFIX + symbol.encode("ascii")


def pack(counter: Counter) -> bytes:
    return msgpack.packb(counter)


OnDamaged = Callable[[bytes, str], None]  # (key, reason)


def unpack(value: bytes) -> Counter:
    """A stored counter; ValueError (one sentence) if the bytes are not a plausible [count, first, last]."""
    try:
        fields = msgpack.unpackb(value, use_list=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"counter is not valid MessagePack ({str(exc) or type(exc).__name__})") from None
    if type(fields) is not tuple or len(fields) != 3 or any(type(f) is not int for f in fields):
        raise ValueError(f"counter is not an array [count, first, last] of integers: {fields!r:.80}")
    count, first, last = fields
    if not (0 <= first <= last <= keys.MAX_TIMESTAMP and 1 <= count <= last - first + 1):
        raise ValueError(f"counter [{count}, {first}, {last}] cannot count the seconds from first to last")
    return Counter(count, first, last)


def read_one(view: Rdict, symbol: str, on_damaged: OnDamaged | None = None) -> Counter | None:
    """The stored counter of `symbol`; None if there is none or it is damaged (then `on_damaged` is told)."""
    key = counter_key(symbol)
    value = view.get(key)
    if value is None:
        return None
    try:
        return unpack(value)
    except ValueError as exc:
        if on_damaged is not None:
            on_damaged(key, str(exc))
        return None


def read_all(view: Rdict, on_damaged: OnDamaged | None = None) -> dict[str, Counter]:
    """Every stored counter that decodes; the damaged ones are left out and `on_damaged` is told."""
    found = {}
    for key, value in view.items(from_key=COUNTER_PREFIX):
        if not key.startswith(COUNTER_PREFIX):
            break
        name = key[len(COUNTER_PREFIX) :]
        try:
            if not name.isascii() or not name:
                raise ValueError("counter key does not name an ASCII symbol")
            found[name.decode("ascii")] = unpack(value)
        except ValueError as exc:
            if on_damaged is not None:
                on_damaged(key, str(exc))
    return found


def checked(db: Rdict, symbol: str, stored: Counter | None) -> Counter:
    """The stored counter if it still matches the data's first and last second, else a fresh count."""
    edges = keys.edges(db, symbol)
    if edges is None:
        return Counter(0, 0, 0)
    if stored is not None and (stored.first, stored.last) == edges:
        return stored
    prefix = symbol.encode("ascii") + b":"
    count = sum(1 for _ in keys.scan_keys(db, prefix, prefix, prefix[:-1] + b";"))
    return Counter(count, *edges)


def plus_one(counter: Counter | None, ts: int) -> Counter:
    """The counter after one more stored second at `ts`."""
    if counter is None:
        return Counter(1, ts, ts)
    if ts > counter.last:  # recording moves forward: nearly always
        return Counter(counter.count + 1, counter.first, ts)
    return Counter(counter.count + 1, min(counter.first, ts), counter.last)
