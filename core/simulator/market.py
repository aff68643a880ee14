"""A synthetic, deterministic Binance spot order book: the simulator's market model.

Pure: no asyncio, no clock, no I/O; time comes in as an argument and all randomness from one seeded
`random.Random`, so the same seed gives the same events. Prices and quantities are integer ticks and
steps inside and become Binance's 8-decimal strings ("57710.99000000") only on output.

The model:
- a mean-reverting mid (in ticks), so the book never drifts away for good; levels the mid crosses
  are removed, which keeps every bid below every ask;
- per event a heavy-tailed number of level changes (median ~10, sometimes 100+), most near the
  touch, some far from it, about a third of them deletions, a few of them deletions of prices that
  are not in the book at all (Binance sends those; clients must ignore them);
- each event covers several update ids; every changed level is given its own id inside [U, u]
  (u always being one of them), so the true book is known at every update id, not only at event
  boundaries, and a snapshot can be taken strictly inside an event.

History: the last `history` events are kept with each change's previous quantity. `book_at(id)`
copies the current book and undoes the newer changes, so any id from `oldest_update_id` to
`last_update_id` can be answered without storing copies of the book. `history=0` keeps no truth (only the
current book is known; the events then differ from a market with history, as fewer random draws are made).

The book is regulated to stay below 5000 levels per side: a `limit=5000` snapshot is then the whole
book, and a client that applies it and the following events has exactly `book_at(u)`.

`FastMarket` (the simulator's fast-market mode, `ExchangeSimulator(fast_market=True)`) is the opposite case, the
one a snapshot's horizon matters for (docs/SNAPSHOT_HORIZON.md): a book much deeper than any snapshot (more than
5000 levels a side, over thousands of ticks) whose resting levels never change, so the diff stream never mentions
them, until the touch reaches them; and a mid that trends, thousands of ticks a minute, turning now and then.
A client that keeps the book from one snapshot misses levels once the touch runs past what that snapshot held.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections import deque
from dataclasses import dataclass
from decimal import Decimal

_UNITS = 100_000_000  # Binance spot strings carry 8 decimals
_MAX_LEVELS = 4500  # hard cap per side, below the 5000-level snapshot limit
_MAX_QTY_UNITS = 9_000 * _UNITS  # LOT_SIZE maxQty of BTCUSDT


def to_units(text: str) -> int:
    """A positive decimal string as an integer count of 1e-8 ("0.01" -> 1_000_000)."""
    value = Decimal(text) * _UNITS
    if value <= 0 or value != value.to_integral_value():
        raise ValueError(f"not a positive multiple of 1e-8: {text!r}")
    return int(value)


def fmt8(units: int) -> str:
    """An integer count of 1e-8 as Binance's 8-decimal string (0 -> "0.00000000")."""
    return f"{units // _UNITS}.{units % _UNITS:08d}"


class _Side:
    """One side of the true book: quantity (in steps) by price (in ticks), prices kept sorted ascending."""

    __slots__ = ("is_bid", "prices", "qty")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.qty: dict[int, int] = {}
        self.prices: list[int] = []

    def __len__(self) -> int:
        return len(self.prices)

    def set(self, price: int, qty: int) -> None:
        """Set the level's quantity; 0 removes it."""
        exists = price in self.qty
        if qty:
            if not exists:
                bisect.insort(self.prices, price)
            self.qty[price] = qty
        elif exists:
            del self.qty[price]
            del self.prices[bisect.bisect_left(self.prices, price)]

    def at_rank(self, rank: int) -> int:
        """The price `rank` levels away from the touch (0 = best)."""
        return self.prices[-1 - rank] if self.is_bid else self.prices[rank]

    def deepest(self) -> int:
        return self.prices[0] if self.is_bid else self.prices[-1]

    def top(self, n: int) -> list[int]:
        """The best `n` prices, best first."""
        if self.is_bid:
            return self.prices[: -n - 1 : -1] if n < len(self.prices) else self.prices[::-1]
        return self.prices[:n]

    def beyond(self, bound: int) -> list[int]:
        """Prices on the wrong side of `bound` (bids above it, asks below it)."""
        prices = self.prices
        if not prices or (prices[-1] <= bound if self.is_bid else prices[0] >= bound):
            return []  # the usual case, made cheap: asked twice an event
        if self.is_bid:
            return self.prices[bisect.bisect_right(self.prices, bound) :]
        return self.prices[: bisect.bisect_left(self.prices, bound)]


# One changed level of an event: (update_id, is_bid, price, qty, prev), quantities in steps, qty the one after the
# change (0 = removed), prev the one before the event (0 = absent). A plain tuple: a whole market makes some 40,000
# of them a second, and a dataclass's constructor cost the simulator a tenth of its time.
_Change = tuple[int, bool, int, int, int]


@dataclass(slots=True, frozen=True)
class _Event:
    first: int  # U
    last: int  # u
    changes: tuple[_Change, ...]


class SyntheticMarket:
    """The true full book of one symbol and the diff events that move it."""

    def __init__(
        self,
        symbol: str,
        *,
        seed: int,
        mid: str = "60000.00",
        tick: str = "0.01",
        step: str = "0.00001",
        depth: int = 3000,
        volatility: float = 3.0,
        history: int = 2000,
        first_update_id: int | None = None,
        changes: float = 10.5,
    ) -> None:
        self.symbol = symbol
        self._tick = to_units(tick)
        self._step = to_units(step)
        self._rng = random.Random(f"{symbol}:{seed}")
        self._anchor = to_units(mid) / self._tick  # the mid reverts to this, in ticks
        self._mid = self._anchor
        self._volatility = volatility  # std of the mid's move per event, in ticks
        self._changes = math.log(max(1.0, changes))  # the median number of level changes per event, as a log
        self._depth = max(10, min(depth, _MAX_LEVELS))
        self._reach = 0  # how far (ticks) from the touch far-out levels may appear; set with the book
        self._bids = _Side(is_bid=True)
        self._asks = _Side(is_bid=False)
        self._history: deque[_Event] = deque(maxlen=max(1, history))
        self._truth = history > 0  # 0: no truth behind the current book (a benchmark's market; a tenth cheaper)
        self._last_id = first_update_id if first_update_id is not None else self._rng.randrange(10**9, 10**10)
        self._build_initial_book()

    # ---- public read-only facts ------------------------------------------------------------------

    @property
    def tick_size(self) -> str:
        return fmt8(self._tick)

    @property
    def step_size(self) -> str:
        return fmt8(self._step)

    @property
    def last_update_id(self) -> int:
        """Id of the last change applied to the true book."""
        return self._last_id

    @property
    def oldest_update_id(self) -> int:
        """The earliest id `book_at` can still answer (the book before the oldest retained event)."""
        return self._history[0].first - 1 if self._history else self._last_id

    def best_bid_ask(self) -> tuple[str, str]:
        return self._price_str(self._bids.at_rank(0)), self._price_str(self._asks.at_rank(0))

    def depth_levels(self) -> tuple[int, int]:
        """Number of levels (bids, asks) in the true book now."""
        return len(self._bids), len(self._asks)

    # ---- events ------------------------------------------------------------------------------------

    def next_event(self, event_time_ms: int) -> dict:
        """Move the market one step and return the diff event, in Binance's spot shape and key order."""
        rng = self._rng
        prev_b: dict[int, int] = {}  # price -> quantity before this event
        prev_a: dict[int, int] = {}

        self._move_mid()
        bid_bound, ask_bound = self._bounds()
        # Levels the mid moved through traded away: this is what keeps the book uncrossed.
        for price in self._bids.beyond(bid_bound):
            self._set(self._bids, prev_b, price, 0)
        for price in self._asks.beyond(ask_bound):
            self._set(self._asks, prev_a, price, 0)
        for side, prev, bound in ((self._bids, prev_b, bid_bound), (self._asks, prev_a, ask_bound)):
            if not side:
                self._set(side, prev, bound, self._qty())

        changes = min(600, max(1, int(rng.lognormvariate(self._changes, 0.9))))
        for _ in range(changes):
            if rng.random() < 0.5:
                self._random_change(self._bids, prev_b, bid_bound)
            else:
                self._random_change(self._asks, prev_a, ask_bound)
        while not prev_b and not prev_a:  # a FastMarket's changes can all be no-ops; an event changes a level
            self._random_change(self._bids, prev_b, bid_bound)
        return self._record(event_time_ms, prev_b, prev_a)

    def _random_change(self, side: _Side, prev: dict[int, int], bound: int) -> None:
        rng = self._rng
        # Deletions grow with the side's size, which holds it near `depth` levels.
        if rng.random() < 0.26 * len(side) / self._depth:
            if rng.random() < 0.12:
                self._set(side, prev, self._absent_price(side, bound), 0)
            else:
                rank = min(self._rank(len(side)), len(side) - 1)
                self._set(side, prev, side.at_rank(rank), 0)
            return
        price = self._price_at(bound, self._distance(side, bound), side.is_bid)
        if price not in side.qty and len(side) >= _MAX_LEVELS:
            price = side.at_rank(self._rank(len(side)))  # full: update instead of insert
        self._set(side, prev, price, self._qty())

    def _record(self, event_time_ms: int, prev_b: dict[int, int], prev_a: dict[int, int]) -> dict:
        """Give the event its update ids, remember it for `book_at`, and build the payload."""
        rng = self._rng
        touched = [(True, p, q) for p, q in prev_b.items()] + [(False, p, q) for p, q in prev_a.items()]
        first = self._last_id + 1
        # Changes that were overwritten within the event still consumed ids, so u-U+1 >= levels.
        span = len(touched) + int(rng.expovariate(1.0 / (1.0 + 0.3 * len(touched))))
        last = first + span - 1
        bid_qty, ask_qty = self._bids.qty, self._asks.qty
        if self._truth:
            ids = [*rng.sample(range(first, last), len(touched) - 1), last]
            rng.shuffle(ids)
            changes = tuple(
                (uid, is_bid, price, (bid_qty if is_bid else ask_qty).get(price, 0), before)
                for uid, (is_bid, price, before) in zip(ids, touched, strict=True)
            )
            self._history.append(_Event(first, last, changes))
        self._last_id = last
        price_str, qty_str = self._price_str, self._qty_str
        return {
            "e": "depthUpdate",
            "E": event_time_ms,
            "s": self.symbol,
            "U": first,
            "u": last,
            "b": [[price_str(p), qty_str(bid_qty.get(p, 0))] for p in sorted(prev_b, reverse=True)],
            "a": [[price_str(p), qty_str(ask_qty.get(p, 0))] for p in sorted(prev_a)],
        }

    # ---- snapshots and the true book -----------------------------------------------------------

    def snapshot(self, limit: int = 100, update_id: int | None = None) -> dict:
        """REST depth payload: top `limit` levels per side, now or as of an earlier update id."""
        if update_id is None or update_id == self._last_id:
            bids = [(p, self._bids.qty[p]) for p in self._bids.top(limit)]
            asks = [(p, self._asks.qty[p]) for p in self._asks.top(limit)]
            update_id = self._last_id
        else:
            past_b, past_a = self._books_at(update_id)
            bids = sorted(past_b.items(), reverse=True)[:limit]
            asks = sorted(past_a.items())[:limit]
        return {
            "lastUpdateId": update_id,
            "bids": [[self._price_str(p), self._qty_str(q)] for p, q in bids],
            "asks": [[self._price_str(p), self._qty_str(q)] for p, q in asks],
        }

    def partial(self, levels: int) -> dict:
        """Partial book depth payload (`<symbol>@depth<levels>`): same shape as a snapshot."""
        return self.snapshot(levels)

    def book_at(self, update_id: int) -> tuple[dict[str, str], dict[str, str]]:
        """The true full book (bids, asks) as price -> quantity strings after all changes <= update_id."""
        bids, asks = self._books_at(update_id)
        return (
            {self._price_str(p): self._qty_str(q) for p, q in bids.items()},
            {self._price_str(p): self._qty_str(q) for p, q in asks.items()},
        )

    def top_at(self, update_id: int, n: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """The true best n (bids highest first, asks lowest first) as (price, quantity) strings after all
        changes <= update_id: what a stored snapshot at that id must hold."""
        bids, asks = self._books_at(update_id)
        return (
            [(self._price_str(p), self._qty_str(bids[p])) for p in heapq.nlargest(n, bids)],
            [(self._price_str(p), self._qty_str(asks[p])) for p in heapq.nsmallest(n, asks)],
        )

    def earlier_update_id(self, update_id: int, events: int) -> int:
        """The event boundary `events` events before the one at or below `update_id` (clamped)."""
        bounds = [self.oldest_update_id, *(event.last for event in self._history)]
        index = bisect.bisect_right(bounds, update_id) - 1
        return bounds[max(0, index - events)]

    def straddle_update_id(self) -> int | None:
        """An id strictly inside the latest multi-id event (U <= id < u), for straddling snapshots."""
        for event in reversed(self._history):
            if event.last > event.first:
                inner = [uid for uid, *_ in event.changes if uid < event.last]
                return max(inner) if inner else event.first
        return None

    def _books_at(self, update_id: int) -> tuple[dict[int, int], dict[int, int]]:
        if not self.oldest_update_id <= update_id <= self._last_id:
            raise ValueError(
                f"update id {update_id} outside the known range "
                f"[{self.oldest_update_id}, {self._last_id}] of {self.symbol}"
            )
        bids, asks = dict(self._bids.qty), dict(self._asks.qty)
        for event in reversed(self._history):
            if event.last <= update_id:
                break
            for uid, is_bid, price, _qty, prev in event.changes:
                if uid > update_id:
                    book = bids if is_bid else asks
                    if prev:
                        book[price] = prev
                    else:
                        book.pop(price, None)
        return bids, asks

    # ---- the random model ---------------------------------------------------------------------------

    def _build_initial_book(self) -> None:
        bid_bound, ask_bound = self._bounds()
        for side, bound in ((self._bids, bid_bound), (self._asks, ask_bound)):
            offset = 0
            for i in range(self._depth):
                price = self._price_at(bound, offset, side.is_bid)
                if price < 1:
                    break
                side.set(price, self._qty())
                # Dense at the touch, sparser further out, as on a real book.
                offset += 1 + int(self._rng.expovariate(1.0 / (1.0 + i / 150)))
            # Fixed, not the current deepest level: that would let far inserts widen the book for ever.
            self._reach = max(self._reach, int(offset * 1.1))

    def _move_mid(self) -> None:
        rng = self._rng
        step = rng.gauss(0.0, self._volatility)
        if rng.random() < 0.02:  # occasional jumps sweep many levels at once: the heavy tail
            step += rng.gauss(0.0, 8 * self._volatility)
        self._mid += 0.002 * (self._anchor - self._mid) + step
        self._mid = max(self._mid, 2.0)

    def _bounds(self) -> tuple[int, int]:
        """Best possible bid and ask price now: bids stay below the mid, asks above it."""
        return max(1, math.ceil(self._mid) - 1), math.floor(self._mid) + 1

    def _distance(self, side: _Side, bound: int) -> int:
        """Distance in ticks from the touch: mostly near it, sometimes far out."""
        rng = self._rng
        r = rng.random()
        if r < 0.35:
            return int(rng.expovariate(1 / 2))
        if r < 0.85:
            return int(rng.expovariate(1 / 60))
        if r < 0.97:
            return int(rng.expovariate(1 / 600))
        return rng.randrange(self._reach + 1)

    def _rank(self, size: int) -> int:
        """Which existing level (counted from the touch) a deletion hits."""
        rng = self._rng
        r = rng.random()
        if r < 0.35:
            return int(rng.expovariate(1 / 2))
        if r < 0.85:
            return int(rng.expovariate(1 / 40))
        return rng.randrange(max(1, size))

    def _absent_price(self, side: _Side, bound: int) -> int:
        """A price with no level: just beyond the deepest level, or a hole near the touch."""
        rng = self._rng
        if rng.random() < 0.5:
            for _ in range(8):
                price = self._price_at(bound, int(rng.expovariate(1 / 30)), side.is_bid)
                if price >= 1 and price not in side.qty:
                    return price
        if side.is_bid:
            deepest = side.deepest() if side else bound
            return deepest - 1 - rng.randrange(500) if deepest > 501 else bound
        deepest = side.deepest() if side else bound
        return deepest + 1 + rng.randrange(500)

    @staticmethod
    def _price_at(bound: int, distance: int, is_bid: bool) -> int:
        return max(1, bound - distance) if is_bid else bound + distance

    def _qty(self) -> int:
        steps = int(self._rng.lognormvariate(math.log(2000), 1.6))
        return max(1, min(steps, _MAX_QTY_UNITS // self._step))

    @staticmethod
    def _set(side: _Side, prev: dict[int, int], price: int, qty: int) -> None:
        prev.setdefault(price, side.qty.get(price, 0))
        side.set(price, qty)

    # fmt8 inlined: two of these per level of every event.
    def _price_str(self, ticks: int) -> str:
        units = ticks * self._tick
        return f"{units // _UNITS}.{units % _UNITS:08d}"

    def _qty_str(self, steps: int) -> str:
        units = steps * self._step
        return f"{units // _UNITS}.{units % _UNITS:08d}"


# Price scale and lot size per symbol, close to the real ones (exchangeInfo, 2025-08-07).
SYMBOL_PROFILES: dict[str, dict[str, str]] = {
    "BTCUSDT": {"mid": "60000.00", "tick": "0.01", "step": "0.00001"},
    "ETHUSDT": {"mid": "3000.00", "tick": "0.01", "step": "0.0001"},
    "BNBUSDT": {"mid": "600.00", "tick": "0.01", "step": "0.001"},
}
_DEFAULT_PROFILE = {"mid": "100.0000", "tick": "0.0001", "step": "0.01"}


class FastMarket(SyntheticMarket):
    """A fast market whose deep resting levels stay put until the touch reaches them.

    - The book: `resting_levels` per side (default 9000, beyond Binance's 5000-level snapshots), about one every
      `spacing` ticks (so 9000 levels span some 18,000 ticks), built once. Nothing ever changes a level farther
      than `active` ticks from the touch: the stream mentions a resting level only when the touch comes near it.
    - The mid trends at `speed` ticks per event on average (8: at Binance's 10 events/s, 4,800 ticks a minute),
      in legs of `leg` events on average (the direction turns at random), and always turns back once it is
      `excursion` ticks from where it started, so it runs both ways over the same deep book forever. Noise and
      an occasional jump ride on the trend. Levels the touch runs through are deleted (traded away).
    - Near the touch, the usual activity: new levels, size changes and deletions, a few of them of prices that
      hold no level, all within `active` ticks of the touch.
    - The true book at every update id, snapshots limited to `limit` levels, and the event shape are the
      SyntheticMarket's.
    """

    def __init__(
        self,
        symbol: str,
        *,
        seed: int,
        mid: str = "60000.00",
        tick: str = "0.01",
        step: str = "0.00001",
        speed: float = 8.0,
        leg: int = 300,
        excursion: int = 6000,
        resting_levels: int = 9000,
        spacing: float = 2.0,
        active: int = 300,
        volatility: float = 3.0,
        history: int = 2000,
        first_update_id: int | None = None,
    ) -> None:
        self._speed = speed
        self._leg = max(1, leg)
        self._excursion = excursion
        self._resting = resting_levels
        self._spacing = max(1.0, spacing)
        self._active = max(10, active)
        self._direction = 1
        super().__init__(
            symbol,
            seed=seed,
            mid=mid,
            tick=tick,
            step=step,
            volatility=volatility,
            history=history,
            first_update_id=first_update_id,
        )
        self._direction = 1 if self._rng.random() < 0.5 else -1

    @property
    def mid_offset(self) -> float:
        """How far (ticks) the mid is from where it started; positive above."""
        return self._mid - self._anchor

    def _build_initial_book(self) -> None:
        rng = self._rng
        bid_bound, ask_bound = self._bounds()
        # Gaps of 1 + int(X), X exponential with mean mu: E[int(X)] = 1 / (e^(1/mu) - 1), so this mu makes the
        # gaps `spacing` ticks on average.
        extra = self._spacing - 1.0
        mu = 1.0 / math.log(1.0 + 1.0 / extra) if extra > 0 else 0.0
        for side, bound in ((self._bids, bid_bound), (self._asks, ask_bound)):
            offset = 0
            for _ in range(self._resting):
                price = self._price_at(bound, offset, side.is_bid)
                if price < 1:
                    break
                side.qty[price] = self._qty()
                offset += 1 + (int(rng.expovariate(1.0 / mu)) if mu > 0 else 0)
            side.prices = sorted(side.qty)

    def _move_mid(self) -> None:
        rng = self._rng
        if rng.random() < 1.0 / self._leg:
            self._direction = -self._direction
        offset = self._mid - self._anchor
        if offset > self._excursion:
            self._direction = -1
        elif offset < -self._excursion:
            self._direction = 1
        step = self._direction * self._speed * rng.uniform(0.5, 1.5) + rng.gauss(0.0, self._volatility)
        if rng.random() < 0.02:  # an occasional jump sweeps many levels at once
            step += rng.gauss(0.0, 8 * self._volatility)
        self._mid = max(self._mid + step, 2.0)

    def _random_change(self, side: _Side, prev: dict[int, int], bound: int) -> None:
        rng = self._rng
        if side and rng.random() < 0.35:  # a deletion near the touch
            if rng.random() < 0.1:  # of a price that holds no level: normal on Binance
                price = self._price_at(bound, min(int(rng.expovariate(1 / 30)), self._active), side.is_bid)
                if price >= 1 and price not in side.qty:
                    self._set(side, prev, price, 0)
                return
            rank = min(int(rng.expovariate(1 / 15)), len(side) - 1)
            price = side.at_rank(rank)
            if abs(price - bound) <= self._active:
                self._set(side, prev, price, 0)
            return
        r = rng.random()
        distance = int(rng.expovariate(1 / 3)) if r < 0.5 else int(rng.expovariate(1 / 40))
        price = self._price_at(bound, min(distance, self._active), side.is_bid)
        self._set(side, prev, price, self._qty())


def market_for(
    symbol: str, *, seed: int, history: int = 2000, fast: bool = False, depth: int | None = None
) -> SyntheticMarket:
    """A market with the symbol's usual price scale (a generic one for symbols not in the table); `fast`: a
    FastMarket (deep resting book, trending mid); `depth`: levels per side of a SyntheticMarket (default 3000),
    its events as large as a book that deep has (`changes_for_depth`)."""
    profile = SYMBOL_PROFILES.get(symbol, _DEFAULT_PROFILE)
    if fast:
        return FastMarket(symbol, seed=seed, history=history, **profile)
    if depth is not None:
        shape = {"depth": depth, "changes": changes_for_depth(depth)}
        return SyntheticMarket(symbol, seed=seed, history=history, **shape, **profile)
    return SyntheticMarket(symbol, seed=seed, history=history, **profile)


def long_tailed_activity(
    symbols: list[str], *, busiest: int = 50, top_rate: float = 10.0, median_rate: float = 1.0
) -> dict[str, float]:
    """Events per second for each symbol, long-tailed as on a whole exchange (issue 9), by rank in `symbols`:

    rate(r) = top_rate for the `busiest` first symbols, then top_rate * (r / busiest) ** -a, a power law whose
    exponent `a` puts the median symbol (rank len/2) at `median_rate`. For 1,500 symbols: 50 at 10 events/s,
    a = ln 10 / ln 15 = 0.85, the median at 1/s, the quietest at 0.55/s, about 2,700 events/s in all. Fewer
    than 2 x `busiest` symbols: every one at `top_rate`."""
    middle = len(symbols) / 2
    exponent = math.log(top_rate / median_rate) / math.log(middle / busiest) if middle > busiest else 0.0
    return {s: top_rate * (max(r, busiest) / busiest) ** -exponent for r, s in enumerate(symbols, 1)}


def depth_for_rate(rate: float) -> int:
    """Levels per side for a market of `rate` events/s: busy books are deep (3,000 at 10/s, BTCUSDT-like),
    quiet ones shallow (480 at 1/s), as on Binance, where a quiet symbol's whole book fits a 1000-level
    snapshot."""
    return max(100, min(3000, int(200 + 280 * rate)))


def changes_for_depth(depth: int) -> float:
    """The median number of level changes per event of a book `depth` levels deep: 10.5 at 3,000 (BTCUSDT's
    shape, binance-protocol.md §10), 2 for a shallow, quiet book, whose rare events touch a level or two."""
    return max(2.0, 10.5 * depth / 3000)


def slots_to_next_event(rng: random.Random, chance: float) -> int:
    """How many slots of the event grid until the next event, when each slot has an event with `chance`
    (geometric, at least 1): a symbol of rate r on a grid of interval t gets chance r * t."""
    if chance >= 1.0:
        return 1
    return 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - chance))
