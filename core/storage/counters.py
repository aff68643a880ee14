"""Per-symbol snapshot counters: how many seconds are stored, and the first and last of them.

Stored in the `meta` column family as `counter:SYMBOL` -> MessagePack `[count, first_ts, last_ts]`, written in
the same WriteBatch as the snapshots they count, so they are exact after any crash. At open, a counter whose
first/last no longer match the snapshots (or that is missing, as in a database written by the reference
service) is recounted by a scan.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack
from rocksdict import Rdict

from core.storage import keys

COUNTER_PREFIX = b"counter:"


@dataclass(frozen=True, slots=True)
class Counter:
    count: int
    first: int
    last: int


def counter_key(symbol: str) -> bytes:
    return COUNTER_PREFIX + symbol.encode("ascii")


def pack(counter: Counter) -> bytes:
    return msgpack.packb((counter.count, counter.first, counter.last))


def read_one(view: Rdict, symbol: str) -> Counter | None:
    value = view.get(counter_key(symbol))
    return Counter(*msgpack.unpackb(value)) if value is not None else None


def read_all(view: Rdict) -> dict[str, Counter]:
    found = {}
    for key, value in view.items(from_key=COUNTER_PREFIX):
        if not key.startswith(COUNTER_PREFIX):
            break
        found[key[len(COUNTER_PREFIX) :].decode("ascii")] = Counter(*msgpack.unpackb(value))
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
    return Counter(counter.count + 1, min(counter.first, ts), max(counter.last, ts))
