"""The local order book: pure, exact, fast.

Each side keeps
- `levels`: integer price (1e-8 ticks) -> (price string, quantity string), the exchange's exact strings;
- `keys`: price string -> integer price, so modifies and deletes of a known level never re-parse;
- `ladder`: a sorted list of keys with the best price at the END (bids by price, asks by negated
  price). Inserts and deletes near the touch, where most changes happen, then move few list items,
  and the top N is a slice, with no sort per read.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from core.wire import Level, decimal_ticks


class _Side:
    __slots__ = ("keys", "ladder", "levels", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids (higher is better), -1 asks (lower is better)
        self.levels: dict[int, Level] = {}
        self.keys: dict[str, int] = {}
        self.ladder: list[int] = []

    def clear(self) -> None:
        self.levels.clear()
        self.keys.clear()
        self.ladder.clear()

    def apply(self, levels: Iterable[Level]) -> None:
        keys, book, ladder, sign = self.keys, self.levels, self.ladder, self.sign
        for price, qty in levels:
            key = keys.get(price)
            if key is None:
                key = decimal_ticks(price)
            if decimal_ticks(qty) == 0:
                old = book.pop(key, None)
                if old is not None:  # deleting a level we never held is normal on Binance
                    keys.pop(old[0], None)
                    keys.pop(price, None)
                    rank = key * sign
                    del ladder[bisect_left(ladder, rank)]
                continue
            old = book.get(key)
            if old is None:
                insort(ladder, key * sign)
                keys[price] = key
            elif old[0] != price:  # same price written differently ("1.0" vs "1.00")
                keys[price] = key
            book[key] = (price, qty)

    def top(self, n: int) -> list[Level]:
        levels, sign, ladder = self.levels, self.sign, self.ladder
        start = max(len(ladder) - n, 0)
        return [levels[rank * sign] for rank in reversed(ladder[start:])]

    def best_key(self) -> int | None:
        return self.ladder[-1] * self.sign if self.ladder else None


class OrderBook:
    """One symbol's book. Pure: no clock, no I/O."""

    __slots__ = ("_asks", "_bids", "last_update_id", "symbol")

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.last_update_id = 0
        self._bids = _Side(+1)
        self._asks = _Side(-1)

    def load_snapshot(self, bids: Iterable[Level], asks: Iterable[Level], last_update_id: int) -> None:
        """Replace the whole book (a REST snapshot)."""
        self.clear()
        self._bids.apply(bids)
        self._asks.apply(asks)
        self.last_update_id = last_update_id

    def apply(self, bids: Iterable[Level], asks: Iterable[Level], final_update_id: int) -> None:
        """Apply one diff event's absolute quantities; zero removes the level."""
        self._bids.apply(bids)
        self._asks.apply(asks)
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
        key = self._bids.best_key()
        return None if key is None else self._bids.levels[key]

    def best_ask(self) -> Level | None:
        key = self._asks.best_key()
        return None if key is None else self._asks.levels[key]

    def is_crossed(self) -> bool:
        bid, ask = self._bids.best_key(), self._asks.best_key()
        return bid is not None and ask is not None and bid >= ask

    def is_empty(self) -> bool:
        return not self._bids.levels and not self._asks.levels

    @property
    def bid_count(self) -> int:
        return len(self._bids.levels)

    @property
    def ask_count(self) -> int:
        return len(self._asks.levels)

    def as_dicts(self) -> tuple[dict[str, str], dict[str, str]]:
        """Every level as price string -> quantity string (tests compare books with this)."""
        return (
            {p: q for p, q in self._bids.levels.values()},
            {p: q for p, q in self._asks.levels.values()},
        )
