"""The local order book: pure, exact, fast.

Each side keeps
- `qtys`: the exchange's price string -> its quantity string, for every level. A modify of a known level
  (a third of all level updates) is one dict lookup and one store: no parsing, no allocation;
- `prices`: rank -> price string, the rank being the exact integer price in 1e-8 ticks, negated for asks, so
  that a higher rank is always a better price. A deletion parses its price to find the rank (a fraction of a
  microsecond) rather than look it up in a third dict: with many books that lookup was a cache miss, and the
  dict cost a quarter of the memory per level;
- `ladder`: the sorted ranks of the best levels only, best at the END, and `names`, their price strings in
  the same order (a top-N read is a slice of `names` plus one `qtys` lookup a level: the recorder reads 20
  cold books every second, and each pointer it does not follow is a cache miss saved). The ladder holds
  every level whose rank is at least `floor`, between a few dozen and 2 x `ladder_depth` of them; deeper
  levels live in the dicts alone, so changes far from the touch never move list items. When deletions thin
  the ladder out, or a reader asks for more levels than it holds, it is rebuilt from `prices` (rare).

The snapshot horizon (docs/SNAPSHOT_HORIZON.md). A REST snapshot holds only the best `limit` levels of a side,
and Binance never mentions a level that does not change: a level worse than the snapshot's last one is known
only if an event carried it. So each side keeps `horizon`, the rank of its snapshot's last (worst) level: every
level at that price or better is known for as long as the book stays in sync (the snapshot had it, or an event
changed it since); beyond it the book may lack levels the exchange has. A snapshot that returned fewer levels
than its limit held the whole side: the horizon is then unbounded. The top n of a side is *verified* while its
n levels all lie inside the horizon: `verified(n)`, `horizon_distance(n)` and `horizon_room(n, cap)` answer it
without touching `apply`, whose speed is unchanged.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from core.market.wire import Level, decimal_ticks, ticks_to_decimal

LADDER_DEPTH = 256  # levels kept in sorted order per side; a refill sorts the rest (reference/platform-notes.md)
# Levels a side keeps when some lie beyond its snapshot horizon: those are dropped, worst first, down to this
# (never one inside the horizon, so a side holds at least its snapshot's levels). docs/SNAPSHOT_HORIZON.md.
LEVEL_CAP = 1000
_ALL = -(1 << 63)  # a floor below every rank: the ladder holds the whole side
_UNBOUNDED = _ALL  # a horizon below every rank: the snapshot held the whole side, every level is known
_NOTHING = 1 << 63  # a horizon above every rank: no level is known (no snapshot yet, or the book was cleared)


def _price_ticks(price: str) -> int:
    """Integer price in 1e-8 ticks; Binance spot's 8-decimal strings take the fast path."""
    if len(price) - price.find(".") == 9:
        digits = price.replace(".", "", 1)
        if digits.isdigit():
            return int(digits)
    return decimal_ticks(price)


def _no_more_than(cap: int | None, held: int) -> int:
    """The size at which a side holding `held` levels next drops levels beyond its horizon: a quarter above
    the larger of `cap` and `held` (at least 16 more), so that each drop is paid for by many inserts."""
    if cap is None:
        return _NOTHING
    size = max(cap, held)
    return size + max(size >> 2, 16)


def _check_zero(qty: str) -> None:
    """`qty` strips to nothing: make sure it was a zero ("0.00000000", "0"), not "" or "0.0.0"."""
    if not qty or qty.count(".") > 1:
        raise ValueError(f"not a decimal number: {qty!r}")


class _Side:
    __slots__ = (
        "bound", "cap", "depth", "floor", "high", "horizon", "ladder", "low", "names", "prices", "qtys", "sign",
    )  # fmt: skip

    def __init__(self, sign: int, depth: int, cap: int | None) -> None:
        self.sign = sign  # +1 bids (higher is better), -1 asks (lower is better)
        self.depth = depth
        self.cap = cap  # levels kept when some lie beyond the horizon (see `_drop_beyond_horizon`); None: all
        self.bound = _no_more_than(cap, 0)  # more levels than this: drop some beyond the horizon
        self.low = max(depth >> 2, 1)  # fewer sorted levels than this (and more exist): refill
        self.high = 2 * depth  # more than this: trim back to `depth`
        self.qtys: dict[str, str] = {}
        self.prices: dict[int, str] = {}
        self.ladder: list[int] = []
        self.names: list[str] = []  # price strings of `ladder`, index for index
        self.floor = _ALL
        self.horizon = _NOTHING  # the worst rank the last snapshot covered (see the module docstring)

    def clear(self) -> None:
        self.qtys.clear()
        self.prices.clear()
        self.ladder.clear()
        self.names.clear()
        self.floor = _ALL
        self.horizon = _NOTHING
        self.bound = _no_more_than(self.cap, 0)

    def load(self, levels: Iterable[Level], limit: int | None) -> None:
        """Replace the side (a REST snapshot): fill the dicts, then sort once; set the horizon.

        `limit`: the most levels the snapshot could hold on this side; fewer than that means it held the whole
        side. None (not known): the horizon is the snapshot's last level whatever the count."""
        self.clear()
        qtys, prices, sign = self.qtys, self.prices, self.sign
        count = 0
        worst = _NOTHING
        for price, qty in levels:
            count += 1
            if not qty.strip("0."):
                _check_zero(qty)
                continue
            if not qty.replace(".", "", 1).isdigit():
                raise ValueError(f"not a decimal number: {qty!r}")
            rank = _price_ticks(price) * sign
            old = prices.get(rank)
            if old is not None:  # the same price twice: keep the last, as a stream update would
                del qtys[old]
            prices[rank] = price
            qtys[price] = qty
            if rank < worst:
                worst = rank
        self._refill(self.depth)
        self.horizon = _UNBOUNDED if limit is not None and count < limit else worst
        self.bound = _no_more_than(self.cap, len(prices))

    def apply(self, levels: Iterable[Level]) -> None:
        """Absolute quantities; zero removes. The hot path: everything common is inlined, keep it flat.

        The levels come from the wire, which checked every one (core.market.wire, LEVEL RULES): a quantity is
        not checked again here; a price is parsed when it is new, which still refuses one that is no number."""
        qtys, prices, ladder, names, sign = self.qtys, self.prices, self.ladder, self.names, self.sign
        floor = self.floor  # read again after a trim or refill, which move it
        for price, qty in levels:
            if qty.strip("0."):
                if price in qtys:  # a known level changes size: one store
                    qtys[price] = qty
                    continue
                # a new level: _price_ticks, inlined
                if len(price) - price.find(".") == 9 and (digits := price.replace(".", "", 1)).isdigit():
                    rank = int(digits) * sign
                else:
                    rank = decimal_ticks(price) * sign
                qtys[price] = qty
                old = prices.setdefault(rank, price)
                if old is not price:  # the same price written differently ("1.0" vs "1.00"): the latest wins
                    del qtys[old]
                    prices[rank] = price
                    if rank >= floor:
                        names[bisect_left(ladder, rank)] = price
                elif rank >= floor:
                    i = bisect_left(ladder, rank)
                    ladder.insert(i, rank)
                    names.insert(i, price)
                    if len(ladder) > self.high:  # keep the sorted part short: the worst half lives in dicts
                        self._trim()
                        floor = self.floor
            else:  # numeric zero in any spelling: _price_ticks, inlined
                if len(price) - price.find(".") == 9 and (digits := price.replace(".", "", 1)).isdigit():
                    rank = int(digits) * sign
                else:
                    rank = decimal_ticks(price) * sign
                held = prices.pop(rank, None)  # the price as we hold it (it may be spelt otherwise)
                if held is None:
                    continue  # deleting a level we never held is normal on Binance
                del qtys[held]
                if rank >= floor:
                    i = bisect_left(ladder, rank)
                    del ladder[i], names[i]
                    if len(ladder) < self.low and floor != _ALL:
                        self._refill(self.depth)
                        floor = self.floor
        if len(qtys) > self.bound:
            self._drop_beyond_horizon()

    def _drop_beyond_horizon(self) -> None:
        """Keep the side's best `cap` levels, dropping only levels beyond the horizon, worst first.

        Why that never changes a verified top n (docs/SNAPSHOT_HORIZON.md, "The bound on levels"): the top n is
        verified only while n levels lie inside the horizon, and every level beyond it is worse than all of
        those, so none of the dropped ones is in a verified top n; whether it is verified counts the levels
        inside, and none of those is dropped. The horizon never moves. A dropped level that changes again comes
        back with its new quantity (quantities are absolute)."""
        prices, qtys = self.prices, self.qtys
        excess = len(prices) - (self.cap or 0)
        beyond = sorted(rank for rank in prices if rank < self.horizon)[:excess]  # the worst first
        for rank in beyond:
            del qtys[prices.pop(rank)]
        if beyond and beyond[-1] >= self.floor:  # some were in the sorted ladder
            self._refill(self.depth)
        # Try again only once the side has grown again: a side with little beyond its horizon is not re-sorted
        # for every new level.
        self.bound = _no_more_than(self.cap, len(prices))

    def _trim(self) -> None:
        ladder = self.ladder
        cut = len(ladder) - self.depth
        self.floor = ladder[cut]
        del ladder[:cut], self.names[:cut]

    def _refill(self, n: int) -> None:
        """Rebuild the ladder from every level: the best max(n, depth) of them, in order."""
        ranks = sorted(self.prices)
        keep = max(n, self.depth)
        if len(ranks) > keep:
            del ranks[:-keep]
            self.floor = ranks[0]
        else:
            self.floor = _ALL
        self.ladder[:] = ranks  # in place: apply() holds references to both lists
        self.names[:] = map(self.prices.__getitem__, ranks)

    def top(self, n: int) -> list[Level]:
        ladder = self.ladder
        if n > len(ladder) and self.floor != _ALL:
            self._refill(n)
            ladder = self.ladder
        best_first = self.names[: len(ladder) - n - 1 : -1] if n < len(ladder) else self.names[::-1]
        return list(zip(best_first, map(self.qtys.__getitem__, best_first), strict=True))

    def best(self) -> Level | None:
        if not self.names:
            return None
        price = self.names[-1]
        return (price, self.qtys[price])

    def room(self, n: int, cap: int) -> int:
        """Levels held inside the horizon beyond the best n, at most `cap` (also for an unbounded horizon).

        Negative when fewer than n levels lie inside: the top n is not verified. Cheap while the horizon lies
        inside the sorted ladder (a bisection) or the ladder alone holds n + cap levels; otherwise the deeper
        levels are counted in the dicts until n + cap are found (exact, then, when the result is below cap)."""
        h = self.horizon
        if h == _UNBOUNDED:
            return cap
        ladder, floor = self.ladder, self.floor
        if h >= floor:  # the horizon lies among the sorted levels (or the ladder holds the whole side)
            inside = len(ladder) - bisect_left(ladder, h)
        else:  # every sorted level is inside; count the deeper ones, which live in the dicts alone
            inside = len(ladder)
            need = n + cap
            if inside < need:
                for rank in self.prices:
                    if h <= rank < floor:
                        inside += 1
                        if inside >= need:
                            break
        return min(inside - n, cap)

    def horizon_price(self) -> str | None:
        """The price of the horizon level as the snapshot spelt it; None when unbounded or nothing is known."""
        h = self.horizon
        if h in (_UNBOUNDED, _NOTHING):
            return None
        price = self.prices.get(h)  # the snapshot's last level, unless an event removed it since
        return price if price is not None else ticks_to_decimal(h * self.sign)


class OrderBook:
    """One symbol's book. Pure: no clock, no I/O."""

    __slots__ = ("_asks", "_bids", "last_update_id", "level_cap", "snapshot_limit", "symbol")

    def __init__(
        self, symbol: str, ladder_depth: int = LADDER_DEPTH, level_cap: int | None = LEVEL_CAP
    ) -> None:
        """`level_cap`: the bound on levels kept per side (levels beyond the horizon go first, and only they go;
        see `_Side._drop_beyond_horizon`); None keeps every level."""
        self.symbol = symbol
        self.last_update_id = 0
        self.snapshot_limit: int | None = None  # the `limit` of the snapshot the book was built from
        self.level_cap = level_cap
        self._bids = _Side(+1, ladder_depth, level_cap)
        self._asks = _Side(-1, ladder_depth, level_cap)

    def load_snapshot(
        self, bids: Iterable[Level], asks: Iterable[Level], last_update_id: int, limit: int | None = None
    ) -> None:
        """Replace the whole book (a REST snapshot).

        `limit`: the most levels per side the snapshot could hold (the request's `limit`, capped as the
        exchange caps it: 5000 on Binance). A side that came with fewer levels is complete: its horizon is
        unbounded. None (not known): each side's horizon is its last level, whatever their number.
        """
        self.clear()
        try:
            self._bids.load(bids, limit)
            self._asks.load(asks, limit)
        except (TypeError, AttributeError) as exc:  # a level that is not [str, str]
            self.clear()
            raise ValueError(f"malformed level ({exc})") from None
        self.last_update_id = last_update_id
        self.snapshot_limit = limit

    def apply(self, bids: Iterable[Level], asks: Iterable[Level], final_update_id: int) -> None:
        """Apply one diff event's absolute quantities; zero removes the level.

        Raises ValueError on a malformed level; the book is then partly updated and must be resynced.
        """
        try:
            self._bids.apply(bids)
            self._asks.apply(asks)
        except (TypeError, AttributeError) as exc:  # a level that is not [str, str]
            raise ValueError(f"malformed level ({exc})") from None
        self.last_update_id = final_update_id

    def clear(self) -> None:
        self._bids.clear()
        self._asks.clear()
        self.last_update_id = 0
        self.snapshot_limit = None

    def adopt(self, other: OrderBook) -> None:
        """Take over `other`'s levels, horizons and update id (a refreshed copy); `other` is left empty.

        The book stays the same object, so whoever holds it sees the new levels at once."""
        depth = other._bids.depth
        self._bids, self._asks = other._bids, other._asks
        self.last_update_id = other.last_update_id
        self.snapshot_limit = other.snapshot_limit
        other._bids, other._asks = _Side(+1, depth, other.level_cap), _Side(-1, depth, other.level_cap)
        other.last_update_id = 0
        other.snapshot_limit = None

    # --- the snapshot horizon --------------------------------------------------------------------------

    def verified(self, n: int) -> bool:
        """True if the best n levels of each side are known to be the exchange's best n: on each side the
        n-th level (the last one, if the side holds fewer) lies inside the horizon, or the side is complete.

        A side holding fewer than n levels inside a bounded horizon is not verified: the exchange may have
        more levels beyond the horizon."""
        return self._bids.room(n, 0) >= 0 and self._asks.room(n, 0) >= 0

    def horizon_room(self, n: int, cap: int) -> int:
        """The fewer, over both sides, of the known levels beyond the n-th before the horizon, at most `cap`
        (a complete side counts as `cap`). Negative: the top n is not verified. Cheap for a small cap."""
        return min(self._bids.room(n, cap), self._asks.room(n, cap))

    def horizon_distance(self, n: int) -> tuple[int | None, int | None]:
        """(bids, asks): how many known levels lie beyond each side's n-th level before its horizon, exactly.

        This is how many levels the touch can sweep before the top n stops being verified. 0: the n-th level
        is the last one inside; negative: the top n is not verified (-k: k of its n levels are missing or
        beyond the horizon); None: the side is complete. Costs a count of the side's levels when the horizon
        lies deeper than the sorted ladder: for status displays, not for every event."""
        return (
            None if self._bids.horizon == _UNBOUNDED else self._bids.room(n, _NOTHING),
            None if self._asks.horizon == _UNBOUNDED else self._asks.room(n, _NOTHING),
        )

    def agrees_with(self, other: OrderBook) -> bool:
        """Both books hold the same quantity at every price inside both horizons (and neither holds a level
        there that the other lacks). Two exact books at the same update id always agree: a refresh checks the
        book it replaces with this."""
        for mine, theirs in ((self._bids, other._bids), (self._asks, other._asks)):
            bound = max(mine.horizon, theirs.horizon)
            a = {r: mine.qtys[p] for r, p in mine.prices.items() if r >= bound}
            b = {r: theirs.qtys[p] for r, p in theirs.prices.items() if r >= bound}
            if a.keys() != b.keys():
                return False
            for rank, qty in a.items():
                other_qty = b[rank]
                if qty != other_qty and decimal_ticks(qty) != decimal_ticks(other_qty):
                    return False
        return True

    @property
    def bid_horizon(self) -> str | None:
        """The worst bid price the last snapshot covered; None when the bid side is complete or unknown."""
        return self._bids.horizon_price()

    @property
    def ask_horizon(self) -> str | None:
        """The worst ask price the last snapshot covered; None when the ask side is complete or unknown."""
        return self._asks.horizon_price()

    def top_bids(self, n: int) -> list[Level]:
        """The best n bids, highest price first."""
        return self._bids.top(n)

    def top_asks(self, n: int) -> list[Level]:
        """The best n asks, lowest price first."""
        return self._asks.top(n)

    def best_bid(self) -> Level | None:
        return self._bids.best()

    def best_ask(self) -> Level | None:
        return self._asks.best()

    def is_crossed(self) -> bool:
        bids, asks = self._bids.ladder, self._asks.ladder
        return bool(bids and asks) and bids[-1] >= -asks[-1]

    def is_empty(self) -> bool:
        return not self._bids.qtys and not self._asks.qtys

    @property
    def bid_count(self) -> int:
        return len(self._bids.qtys)

    @property
    def ask_count(self) -> int:
        return len(self._asks.qtys)

    def as_dicts(self) -> tuple[dict[str, str], dict[str, str]]:
        """Every level as price string -> quantity string (tests compare books with this)."""
        return dict(self._bids.qtys), dict(self._asks.qtys)
