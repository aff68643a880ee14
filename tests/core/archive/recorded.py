"""A recorded database for the archive tests, written through SnapshotStorage like the recorder writes it.

Realistic shape, made fast: top-20 books of a random walk with Binance spot's 8-decimal strings, one snapshot a
second, gap records where the recorder would write them, and a few odd seconds (a thin book, tiny quantities).

    BTCUSDT  10:20:00 – 13:10:00   a 30-second disconnect at 10:45, 5 s syncing at 11:30, a thin book at 12:00:07
    ETHUSDT  11:00:00 – 12:29:59   a stale stretch at 11:59:50 – 12:00:09 (across the hour)
    SOLUSDT  10:00:00 – 10:29:59 and 12:00:00 – 12:19:59 (not recorded in hour 11)

All on 2025-06-02 (UTC). Deterministic.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path

from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

DAY = 1_748_822_400  # 2025-06-02 00:00:00 UTC: in the past, so "now" never makes an hour incomplete
H = 3600


def at(hour: int, minute: int = 0, second: int = 0) -> int:
    return DAY + hour * H + minute * 60 + second


def fmt8(units: int) -> str:
    return f"{units // 100_000_000}.{units % 100_000_000:08d}"


@dataclass
class Plan:
    symbol: str
    mid: int  # in 1e-8 units
    tick: int
    spans: list[tuple[int, int]]  # recorded [start, end] seconds
    gaps: dict[int, GapReason]


PLANS = [
    Plan(
        "BTCUSDT",
        67_650_01_000000,
        1_000000,
        [(at(10, 20), at(13, 10))],
        {
            **{at(10, 45, s): GapReason.DISCONNECTED for s in range(30)},
            **{at(11, 30, s): GapReason.SYNCING for s in range(5)},
        },
    ),
    Plan(
        "ETHUSDT",
        3_512_34_000000,
        1_000000,
        [(at(11), at(12, 29, 59))],
        {t: GapReason.STALE for t in range(at(11, 59, 50), at(12, 0, 10))},
    ),
    Plan("SOLUSDT", 215_120_00000, 100000, [(at(10), at(10, 29, 59)), (at(12), at(12, 19, 59))], {}),
]


_POOL = random.Random(1)
# Quantities and price-ladder shapes drawn once: a book is then a few lookups (the fixture takes ~0.5 s).
_QTYS = [fmt8(_POOL.randrange(1, 500_000) * 1000) for _ in range(4096 + 20)]
_SHAPES = []
for _ in range(64):
    offsets, offset = [], 1
    for _ in range(20):
        offsets.append(offset)
        offset += _POOL.choice((1, 1, 1, 2, 3, 5))
    _SHAPES.append(offsets)


@functools.cache
def price(units: int) -> str:
    return fmt8(units)


def book(rng: random.Random, symbol: str, mid: int, tick: int, update_id: int, ts: int):
    bq, aq = rng.getrandbits(12), rng.getrandbits(12)
    bids = tuple(zip([price(mid - tick * o) for o in _SHAPES[rng.getrandbits(6)]], _QTYS[bq : bq + 20], strict=True))
    asks = tuple(zip([price(mid + tick * o) for o in _SHAPES[rng.getrandbits(6)]], _QTYS[aq : aq + 20], strict=True))
    return OrderBookSnapshot(symbol, bids, asks, update_id, ts)


def snapshots_and_gaps(plan: Plan, seed: int = 7) -> tuple[list[OrderBookSnapshot], list[GapRecord]]:
    rng = random.Random(f"{seed}-{plan.symbol}")
    snaps, gaps = [], []
    mid, update_id = plan.mid, 40_000_000_000
    for start, end in plan.spans:
        for ts in range(start, end + 1):
            mid += plan.tick * rng.choice((-1, 0, 0, 0, 1))
            update_id += rng.randrange(1, 40)
            if ts in plan.gaps:
                gaps.append(GapRecord(plan.symbol, ts, plan.gaps[ts]))
                continue
            snap = book(rng, plan.symbol, mid, plan.tick, update_id, ts)
            if plan.symbol == "BTCUSDT" and ts == at(12, 0, 7):
                snap.bids = snap.bids[:3]  # a thin book: three bids
                snap.asks = snap.asks[:1]
            if plan.symbol == "SOLUSDT" and ts == at(10, 0, 9):
                snap.bids = (("215.10000000", "0.00000001"), *snap.bids[1:])  # tiny quantity: 1E-8 in Arrow
            snaps.append(snap)
    return snaps, gaps


def write_database(path: Path) -> dict[str, tuple[list[OrderBookSnapshot], list[GapRecord]]]:
    """Write the database; returns what was written, per symbol."""
    written = {plan.symbol: snapshots_and_gaps(plan) for plan in PLANS}
    with SnapshotStorage.open(path) as storage:
        for snaps, gaps in written.values():
            for i in range(0, len(snaps), 2000):
                storage.put_tick(snaps[i : i + 2000])
            storage.put_tick([], gaps)
    return written


def expected_hours(symbol: str, last_completed: int | None = None) -> list[int]:
    """The hour starts that hold a snapshot or gap of `symbol`."""
    plan = next(p for p in PLANS if p.symbol == symbol)
    seconds = [t for start, end in plan.spans for t in range(start, end + 1)]
    hours = sorted({t - t % H for t in seconds})
    return [h for h in hours if last_completed is None or h <= last_completed]
