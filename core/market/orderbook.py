"""The local order book: pure, exact, fast.

Each side keeps
- `qtys`: the exchange's price string -> its quantity string, for every level. A modify of a known level
  (a third of all level updates) is one dict lookup and one store: no parsing, no allocation;
- `ranks` and `prices`: price string <-> rank, the exact integer price in 1e-8 ticks, negated for asks, so
  that a higher rank is always a better price;
- `ladder`: the sorted ranks of the best levels only, best at the END, and `names`, their price strings in
  the same order (a top-N read is a slice of `names` plus one `qtys` lookup a level: the recorder reads 20
  cold books every second, and each pointer it does not follow is a cache miss saved). The ladder holds
  every level whose rank is at least `floor`, between a few dozen and 2 x `ladder_depth` of them; deeper
  levels live in the dicts alone, so changes far from the touch never move list items. When deletions thin
  the ladder out, or a reader asks for more levels than it holds, it is rebuilt from `prices` (rare).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from core.market.wire import Level, decimal_ticks

LADDER_DEPTH = 256  # levels kept in sorted order per side; a refill sorts the rest (platform-notes.md)
_ALL = -(1 << 63)  # a floor below every rank: the ladder holds the whole side


def _price_ticks(price: str) -> int:
    """Integer price in 1e-8 ticks; Binance spot's 8-decimal strings take the fast path."""
    if len(price) - price.find(".") == 9:
        digits = price.replace(".", "", 1)
        if digits.isdigit():
            return int(digits)
    return decimal_ticks(price)


def _check_zero(qty: str) -> None:
    """`qty` strips to nothing: make sure it was a zero ("0.00000000", "0"), not "" or "0.0.0"."""
    if not qty or qty.count(".") > 1:
        raise ValueError(f"not a decimal number: {qty!r}")


class _Side:
    __slots__ = ("depth", "floor", "high", "ladder", "low", "names", "prices", "qtys", "ranks", "sign")

    def __init__(self, sign: int, depth: int) -> None:
        self.sign = sign  # +1 bids (higher is better), -1 asks (lower is better)
        self.depth = depth
        self.low = max(depth >> 2, 1)  # fewer sorted levels than this (and more exist): refill
        self.high = 2 * depth  # more than this: trim back to `depth`
        self.qtys: dict[str, str] = {}
        self.ranks: dict[str, int] = {}
        self.prices: dict[int, str] = {}
        self.ladder: list[int] = []
        self.names: list[str] = []  # price strings of `ladder`, index for index
        self.floor = _ALL

    def clear(self) -> None:
        self.qtys.clear()
        self.ranks.clear()
        self.prices.clear()
        self.ladder.clear()
        self.names.clear()
        self.floor = _ALL

    def load(self, levels: Iterable[Level]) -> None:
        """Replace the side (a REST snapshot): fill the dicts, then sort once."""
        self.clear()
        qtys, ranks, prices, sign = self.qtys, self.ranks, self.prices, self.sign
        for price, qty in levels:
            if not qty.strip("0."):
                _check_zero(qty)
                continue
            if not qty.replace(".", "", 1).isdigit():
                raise ValueError(f"not a decimal number: {qty!r}")
            rank = _price_ticks(price) * sign
            old = prices.get(rank)
            if old is not None:  # the same price twice: keep the last, as a stream update would
                del qtys[old], ranks[old]
            prices[rank] = price
            ranks[price] = rank
            qtys[price] = qty
        self._refill(self.depth)

    def apply(self, levels: Iterable[Level]) -> None:
        """Absolute quantities; zero removes. The hot path: everything common is inlined, keep it flat."""
        qtys, ranks, prices, ladder, names, sign = (
            self.qtys, self.ranks, self.prices, self.ladder, self.names, self.sign
        )  # fmt: skip
        for price, qty in levels:
            if qty.strip("0."):
                if not qty.replace(".", "", 1).isdigit():
                    raise ValueError(f"not a decimal number: {qty!r}")
                if price in qtys:  # a known level changes size: one store
                    qtys[price] = qty
                    continue
                # a new level: _price_ticks, inlined
                if len(price) - price.find(".") == 9 and (digits := price.replace(".", "", 1)).isdigit():
                    rank = int(digits) * sign
                else:
                    rank = decimal_ticks(price) * sign
                old = prices.get(rank)
                if old is not None:  # the same price written differently ("1.0" vs "1.00"): the latest wins
                    del qtys[old], ranks[old]
                    if rank >= self.floor:
                        names[bisect_left(ladder, rank)] = price
                elif rank >= self.floor:
                    i = bisect_left(ladder, rank)
                    ladder.insert(i, rank)
                    names.insert(i, price)
                    if len(ladder) > self.high:  # keep the sorted part short: the worst half lives in dicts
                        self._trim()
                prices[rank] = price
                ranks[price] = rank
                qtys[price] = qty
            else:  # numeric zero in any spelling
                if not qty or qty.count(".") > 1:
                    raise ValueError(f"not a decimal number: {qty!r}")
                rank = ranks.pop(price, None)
                if rank is None:
                    rank = self._respelled(price)
                    if rank is None:
                        continue  # deleting a level we never held is normal on Binance
                    price = prices[rank]
                    del ranks[price]
                del qtys[price], prices[rank]
                if rank >= self.floor:
                    i = bisect_left(ladder, rank)
                    del ladder[i], names[i]
                    if len(ladder) < self.low and self.floor != _ALL:
                        self._refill(self.depth)

    def _trim(self) -> None:
        ladder = self.ladder
        cut = len(ladder) - self.depth
        self.floor = ladder[cut]
        del ladder[:cut], self.names[:cut]

    def _respelled(self, price: str) -> int | None:
        """The rank of a level we hold under another spelling of `price`, else None (validates `price`)."""
        rank = _price_ticks(price) * self.sign
        return rank if rank in self.prices else None

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


class OrderBook:
    """One symbol's book. Pure: no clock, no I/O."""

    __slots__ = ("_asks", "_bids", "last_update_id", "symbol")

    def __init__(self, symbol: str, ladder_depth: int = LADDER_DEPTH) -> None:
        self.symbol = symbol
        self.last_update_id = 0
        self._bids = _Side(+1, ladder_depth)
        self._asks = _Side(-1, ladder_depth)

    def load_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], last_update_id: int) -> None:
        """Replace the whole book (a REST snapshot)."""
        self.clear()
        try:
            self._bids.load(bids)
            self._asks.load(asks)
        except (TypeError, AttributeError) as exc:  # a level that is not [str, str]
            self.clear()
            raise ValueError(f"malformed level ({exc})") from None
        self.last_update_id = last_update_id

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
