"""One side of an order book in pure Python: the specification of core/market/_book_side.c.

OrderBook (core.market.orderbook) uses the compiled side, `core.market._book_side.Side`, built from C by
`pip install` (`make test` / `make run` do it): same methods, same results (tests/core/market/test_book_sides.py
feeds both the same streams and compares them), in flat memory. This one serves where the extension is not
built, and as the readable account of what a side does.

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

The snapshot horizon (core.market.orderbook, docs/SNAPSHOT_HORIZON.md): `horizon` is the rank of the last (worst)
level of the side's REST snapshot; unbounded when the snapshot held the whole side.
"""

from __future__ import annotations

import struct
from bisect import bisect_left
from collections.abc import Iterable

import msgpack

from core.market.wire import Level, decimal_ticks, ticks_to_decimal

_ALL = -(1 << 63)  # a floor below every rank: the ladder holds the whole side
_UNBOUNDED = _ALL  # a horizon below every rank: the snapshot held the whole side, every level is known
_NOTHING = 1 << 63  # a horizon above every rank: no level is known (no snapshot yet, or the book was cleared)
# A level in a capture's `numbers`: its price in 1e-8 ticks and its quantity, in the machine's byte order (they
# never leave the process).
LEVEL_NUMBERS = struct.Struct("=qd")


def _same_quantity(a: str, b: str) -> bool:
    """Equal strings, or equal decimals ("1.0" and "1.00000000"); two strings that are not both plain decimals
    and differ are different (a snapshot's quantities are not parsed, so such a one can be held)."""
    if a == b:
        return True
    try:
        return decimal_ticks(a) == decimal_ticks(b)
    except ValueError:
        return False


def level_numbers(levels: Iterable[Level]) -> bytes | None:
    """The levels as `LEVEL_NUMBERS` records, best first, as `capture` gives them; None when a price does not fit
    in 64 bits of ticks. ValueError for a level that is not a pair of decimal strings."""
    try:
        return b"".join(LEVEL_NUMBERS.pack(decimal_ticks(price), float(qty)) for price, qty in levels)
    except struct.error:
        return None


def _price_ticks(price: str) -> int:
    """Integer price in 1e-8 ticks; Binance spot's 8-decimal strings take the fast path."""
    if price[-9:-8] == ".":  # a dot before 8 decimals (a test of its position by find() took "12345678" for one)
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


class Side:
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
        side. None (not known): the horizon is the snapshot's last level whatever the count. A malformed level
        leaves the side empty."""
        try:
            self._load(levels, limit)
        except Exception:
            self.clear()
            raise

    def _load(self, levels: Iterable[Level], limit: int | None) -> None:
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
                if price[-9:-8] == "." and (digits := price.replace(".", "", 1)).isdigit():
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
                if price[-9:-8] == "." and (digits := price.replace(".", "", 1)).isdigit():
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

    def capture(self, n: int) -> tuple[bytes, bytes | None]:
        """The best n levels as the recorder keeps them: `msgpack.packb` of them (the bytes a stored snapshot
        holds) and their `LEVEL_NUMBERS` records (`level_numbers`). ValueError for a quantity that is not a
        number."""
        levels = tuple(self.top(n))
        for _, qty in levels:
            float(qty)  # as the compiled side reads them: a quantity that is no number fails the capture
        return msgpack.packb(levels), level_numbers(levels)

    def best(self) -> Level | None:
        if not self.names:
            return None
        price = self.names[-1]
        return (price, self.qtys[price])

    def best_rank(self) -> int | None:
        return self.ladder[-1] if self.ladder else None

    def __len__(self) -> int:
        return len(self.qtys)

    @property
    def complete(self) -> bool:
        """The snapshot held the whole side: the horizon is unbounded."""
        return self.horizon == _UNBOUNDED

    def as_dict(self) -> dict[str, str]:
        """Every level as price string -> quantity string."""
        return dict(self.qtys)

    def agrees_with(self, other: Side) -> bool:
        """Both sides hold the same quantity at every price inside both horizons (and neither holds a level
        there that the other lacks)."""
        bound = max(self.horizon, other.horizon)
        a = {r: self.qtys[p] for r, p in self.prices.items() if r >= bound}
        b = {r: other.qtys[p] for r, p in other.prices.items() if r >= bound}
        if a.keys() != b.keys():
            return False
        return all(_same_quantity(qty, b[rank]) for rank, qty in a.items())

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


