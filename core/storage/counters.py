"""Per-symbol snapshot counters: how many seconds are stored, and the first and last of them.

Stored in the `meta` column family as `counter:SYMBOL` -> MessagePack `[count, first_ts, last_ts]`. A stored
counter is a checkpoint: the exact count of the symbol's snapshots up to its `last` second. The writer stores it in
the same WriteBatch as any change that is not an append after that second (a first snapshot, a second at or before
it, a deletion), and otherwise at least once every `CHECKPOINT_SECONDS` of recording (`must_store`): storing 1,500
counters a second was a third of the whole market's write batches (docs/PERFORMANCE.md, "Session 22"). A reader
adds the snapshots after the checkpoint's last second, a short scan (`checked`), so counts are exact after any
crash. A counter whose first second no longer matches the snapshots, or that lies beyond the last one (or that is
missing, as in a database written by the reference service), is recounted by a scan of the whole symbol. So is a
counter whose bytes do not decode to a plausible `[count, first, last]` (damaged): readers recount it in memory,
a writer also stores the recount.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import msgpack
from rocksdict import Rdict

from core.storage import keys

COUNTER_PREFIX = b"counter:"
CHECKPOINT_SECONDS = 60  # an append-only symbol's stored counter is at most this far behind its last snapshot


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
    """The exact counter of `symbol`'s snapshots: the stored checkpoint and the snapshots after its last second
    when it still starts at the data's first second and ends at or before its last one, else a fresh count."""
    edges = keys.edges(db, symbol)
    if edges is None:
        return Counter(0, 0, 0)
    prefix = symbol.encode("ascii") + b":"
    upper = prefix[:-1] + b";"
    if stored is not None and stored.first == edges[0] and stored.last <= edges[1]:
        if stored.last == edges[1]:
            return stored
        after = sum(1 for _ in keys.scan_keys(db, prefix, keys.snapshot_key(symbol, stored.last + 1), upper))
        return Counter(stored.count + after, stored.first, edges[1])
    count = sum(1 for _ in keys.scan_keys(db, prefix, prefix, upper))
    return Counter(count, *edges)


def must_store(stored: Counter | None, counter: Counter) -> bool:
    """Whether the writer stores `counter` now (the batch's changes being appends after `stored`'s last second):
    a first counter, a new first second, or a checkpoint `CHECKPOINT_SECONDS` old."""
    return stored is None or counter.first != stored.first or counter.last - stored.last >= CHECKPOINT_SECONDS


def plus_one(counter: Counter | None, ts: int) -> Counter:
    """The counter after one more stored second at `ts`."""
    if counter is None:
        return Counter(1, ts, ts)
    if ts > counter.last:  # recording moves forward: nearly always
        return Counter(counter.count + 1, counter.first, ts)
    return Counter(counter.count + 1, min(counter.first, ts), counter.last)
