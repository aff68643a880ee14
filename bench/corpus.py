"""A synthetic corpus of BTCUSDT-shaped combined-stream depth frames, plus the REST snapshot they follow.

Shaped like binance-protocol.md §10 (real BTCUSDT `@depth@100ms`, 2024-09-03): levels per frame heavy-tailed
(median ~11, mean ~19, max in the hundreds), ~37 % of the entries zero-quantity deletions (a few of them for
prices the book does not hold, as Binance sends), most changes near the touch and some far from it,
8-decimal strings, `b` descending and `a` ascending, contiguous update ids (`U` = previous `u` + 1, several
ids per event), wrapped as `{"stream": "btcusdt@depth@100ms", "data": {...}}`.

The true book is kept at about `levels` per side, so a REST snapshot with `limit=levels` is the whole book
and a client that applies it and the frames holds exactly `model.book()` at the end.

Deterministic: one seeded `random.Random`; the same arguments give the same bytes.
"""

from __future__ import annotations

import bisect
import math
import random
import statistics
from dataclasses import dataclass

import orjson

_UNITS = 100_000_000  # 1e-8, Binance spot strings carry 8 decimals
_TICK = 1_000_000  # 0.01 USDT in 1e-8 units
_STEP = 1_000  # 0.00001 BTC in 1e-8 units
_ZERO = "0.00000000"


def _fmt8(units: int) -> str:
    return f"{units // _UNITS}.{units % _UNITS:08d}"


class _Side:
    __slots__ = ("is_bid", "prices", "qty")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[int] = []  # ascending ticks
        self.qty: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.prices)

    def set(self, price: int, qty: int) -> None:
        if qty:
            if price not in self.qty:
                bisect.insort(self.prices, price)
            self.qty[price] = qty
        elif price in self.qty:
            del self.qty[price]
            del self.prices[bisect.bisect_left(self.prices, price)]

    def at_rank(self, rank: int) -> int:
        return self.prices[-1 - rank] if self.is_bid else self.prices[rank]

    def beyond(self, bound: int) -> list[int]:
        """Prices on the wrong side of `bound` (bids above it, asks below it)."""
        if self.is_bid:
            return self.prices[bisect.bisect_right(self.prices, bound) :]
        return self.prices[: bisect.bisect_left(self.prices, bound)]


@dataclass(frozen=True)
class Corpus:
    levels: int  # target levels per side of the true book
    snapshot: str  # REST /api/v3/depth body (JSON text) the frames follow
    frames: list[str]  # combined-stream text frames, as a WebSocket client receives them
    final_book: tuple[dict[str, str], dict[str, str]]  # true book after the last frame (price -> qty)

    def stats(self) -> dict[str, float]:
        per_frame = []
        deletes = entries = 0
        for frame in self.frames:
            data = orjson.loads(frame)["data"]
            n = len(data["b"]) + len(data["a"])
            per_frame.append(n)
            entries += n
            deletes += sum(1 for _, q in data["b"] if q == _ZERO) + sum(1 for _, q in data["a"] if q == _ZERO)
        per_frame.sort()
        return {
            "frames": len(self.frames),
            "levels_mean": statistics.fmean(per_frame),
            "levels_median": statistics.median(per_frame),
            "levels_p99": per_frame[int(0.99 * (len(per_frame) - 1))],
            "levels_max": per_frame[-1],
            "level_updates": entries,
            "delete_share": deletes / entries,
            "frame_bytes_mean": statistics.fmean(len(f) for f in self.frames),
        }


class BookModel:
    """The true book of one BTCUSDT-like symbol and the diff frames that move it."""

    # Levels per frame: lognormal with median 11 and mean ~19 (σ² = 2·ln(19.2/11)), capped like bursts.
    LEVELS_MEDIAN = 11.0
    LEVELS_SIGMA = math.sqrt(2 * math.log(19.2 / 11))
    LEVELS_MAX = 500
    DELETE_SHARE = 0.33  # chosen deletions; with the mid's sweeps ~37 % of entries (binance-protocol.md §10)
    ABSENT_DELETE_SHARE = 0.10  # deletions of prices the book does not hold

    def __init__(self, levels: int, seed: int = 7, symbol: str = "BTCUSDT", mid: float = 60_000.0) -> None:
        self.symbol = symbol
        self.levels = levels
        self._rng = random.Random(f"{symbol}:{levels}:{seed}")
        self._anchor = mid * _UNITS / _TICK  # mid in ticks
        self._mid = self._anchor
        self._bids = _Side(True)
        self._asks = _Side(False)
        self._last_id = 50_000_000_000 + self._rng.randrange(10**9)
        self._time_ms = 1_725_382_961_414
        self._stream = f"{symbol.lower()}@depth@100ms"
        self._reach = 0
        self._build()

    # ---- output --------------------------------------------------------------------------------------------

    def snapshot(self) -> str:
        bids = [[self._price(p), self._qty(self._bids.qty[p])] for p in reversed(self._bids.prices)]
        asks = [[self._price(p), self._qty(self._asks.qty[p])] for p in self._asks.prices]
        return orjson.dumps({"lastUpdateId": self._last_id, "bids": bids, "asks": asks}).decode()

    def book(self) -> tuple[dict[str, str], dict[str, str]]:
        return (
            {self._price(p): self._qty(q) for p, q in self._bids.qty.items()},
            {self._price(p): self._qty(q) for p, q in self._asks.qty.items()},
        )

    def next_frame(self) -> str:
        rng = self._rng
        changed_b: dict[int, int] = {}
        changed_a: dict[int, int] = {}
        self._move_mid()
        bid_bound, ask_bound = self._bounds()
        for price in self._bids.beyond(bid_bound):  # the mid swept through: these levels traded away
            self._set(self._bids, changed_b, price, 0)
        for price in self._asks.beyond(ask_bound):
            self._set(self._asks, changed_a, price, 0)
        n = min(
            self.LEVELS_MAX,
            max(2, round(rng.lognormvariate(math.log(self.LEVELS_MEDIAN), self.LEVELS_SIGMA))),
        )
        while len(changed_b) + len(changed_a) < n:
            if rng.random() < 0.5:
                self._change(self._bids, changed_b, bid_bound)
            else:
                self._change(self._asks, changed_a, ask_bound)
        return self._frame(changed_b, changed_a)

    # ---- the model ------------------------------------------------------------------------------------------

    def _build(self) -> None:
        rng = self._rng
        bid_bound, ask_bound = self._bounds()
        for side, bound in ((self._bids, bid_bound), (self._asks, ask_bound)):
            offset = 0
            for i in range(self.levels):
                side.set(self._at(bound, offset, side.is_bid), self._random_qty())
                # Dense at the touch, sparser further out, as on a real book.
                offset += 1 + int(rng.expovariate(1.0 / (1.0 + i / 400)))
            self._reach = max(self._reach, offset)

    def _change(self, side: _Side, changed: dict[int, int], bound: int) -> None:
        rng = self._rng
        if rng.random() < self.DELETE_SHARE and len(side) > 1:
            if rng.random() < self.ABSENT_DELETE_SHARE:
                price = self._absent(side, bound)
            else:
                price = side.at_rank(min(self._rank(len(side)), len(side) - 1))
            self._set(side, changed, price, 0)
            return
        # Inserts against modifies, regulated so that the side stays near `levels`.
        p_new = min(0.95, max(0.05, 0.55 + 4.0 * (self.levels - len(side)) / self.levels))
        if rng.random() < p_new and len(side) < self.levels:
            price = self._absent(side, bound, near=True)
        else:
            price = side.at_rank(min(self._rank(len(side)), len(side) - 1))
        self._set(side, changed, price, self._random_qty())

    def _absent(self, side: _Side, bound: int, near: bool = False) -> int:
        rng = self._rng
        for _ in range(20):
            price = self._at(bound, self._distance(), side.is_bid)
            if price not in side.qty:
                return price
        # Dense near the touch: go just beyond the deepest level instead.
        deepest = side.prices[0] if side.is_bid else side.prices[-1]
        step = 1 + rng.randrange(50 if near else 500)
        return max(1, deepest - step) if side.is_bid else deepest + step

    def _distance(self) -> int:
        """Ticks from the touch: mostly near it, sometimes far out (the heavy tail)."""
        rng = self._rng
        r = rng.random()
        if r < 0.40:
            return int(rng.expovariate(1 / 3))
        if r < 0.85:
            return int(rng.expovariate(1 / 80))
        if r < 0.97:
            return int(rng.expovariate(1 / 1500))
        return rng.randrange(self._reach + 1)

    def _rank(self, size: int) -> int:
        rng = self._rng
        r = rng.random()
        if r < 0.40:
            return int(rng.expovariate(1 / 3))
        if r < 0.85:
            return int(rng.expovariate(1 / 60))
        return rng.randrange(max(1, size))

    def _move_mid(self) -> None:
        rng = self._rng
        step = rng.gauss(0.0, 2.0)
        if rng.random() < 0.02:  # occasional jumps sweep several levels at once
            step += rng.gauss(0.0, 15.0)
        self._mid += 0.01 * (self._anchor - self._mid) + step

    def _bounds(self) -> tuple[int, int]:
        return math.ceil(self._mid) - 1, math.floor(self._mid) + 1

    @staticmethod
    def _at(bound: int, distance: int, is_bid: bool) -> int:
        return max(1, bound - distance) if is_bid else bound + distance

    def _random_qty(self) -> int:
        return max(1, int(self._rng.lognormvariate(math.log(2000), 1.8)))  # in steps of 0.00001

    @staticmethod
    def _set(side: _Side, changed: dict[int, int], price: int, qty: int) -> None:
        changed[price] = qty
        side.set(price, qty)

    def _frame(self, changed_b: dict[int, int], changed_a: dict[int, int]) -> str:
        rng = self._rng
        entries = len(changed_b) + len(changed_a)
        first = self._last_id + 1
        last = first + entries - 1 + int(rng.expovariate(1 / (1 + 0.3 * entries)))
        self._last_id = last
        self._time_ms += 100
        data = {
            "e": "depthUpdate",
            "E": self._time_ms,
            "s": self.symbol,
            "U": first,
            "u": last,
            "b": [[self._price(p), self._qty(q)] for p, q in sorted(changed_b.items(), reverse=True)],
            "a": [[self._price(p), self._qty(q)] for p, q in sorted(changed_a.items())],
        }
        return orjson.dumps({"stream": self._stream, "data": data}).decode()

    @staticmethod
    def _price(ticks: int) -> str:
        return _fmt8(ticks * _TICK)

    @staticmethod
    def _qty(steps: int) -> str:
        return _fmt8(steps * _STEP) if steps else _ZERO


def build_corpus(levels: int, frames: int, seed: int = 7, warmup: int = 2_000) -> Corpus:
    """`frames` frames following a snapshot of a book of about `levels` levels per side.

    The model runs `warmup` frames first so the book's shape is the steady state, not the initial ramp.
    """
    model = BookModel(levels, seed)
    for _ in range(warmup):
        model.next_frame()
    snapshot = model.snapshot()
    out = [model.next_frame() for _ in range(frames)]
    return Corpus(levels, snapshot, out, model.book())
