"""The local order book: pure, exact, fast.

Each side keeps
- `qtys` and `prices`: integer price (1e-8 ticks) -> the exchange's exact quantity and price strings
  (an update replaces one dict value: no allocation per level);
- `keys`: price string -> integer price, so modifies and deletes of a known level never re-parse;
- `ladder`: a sorted list of keys with the best price at the END (bids by price, asks by negated
  price). Inserts and deletes near the touch, where most changes happen, then move few list items,
  and the top N is a slice, with no sort per read.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable

from core.wire import Level, decimal_ticks


def _price_key(price: str) -> int:
    """Integer price in 1e-8 ticks; Binance spot's 8-decimal strings take the fast path."""
    if len(price) - price.find(".") == 9 and price.replace(".", "", 1).isdigit():
        return int(price.replace(".", "", 1))
    return decimal_ticks(price)


def _check_zero(qty: str) -> None:
    """`qty` strips to nothing: make sure it was a zero ("0.00000000", "0"), not "" or "0.0.0"."""
    if not qty or qty.count(".") > 1:
        raise ValueError(f"not a decimal number: {qty!r}")


class _Side:
    __slots__ = ("keys", "ladder", "prices", "qtys", "sign")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # +1 bids (higher is better), -1 asks (lower is better)
        self.qtys: dict[int, str] = {}  # key -> quantity string; updated in place, no allocation
        self.prices: dict[int, str] = {}  # key -> price string as the exchange wrote it
        self.keys: dict[str, int] = {}
        self.ladder: list[int] = []

    def clear(self) -> None:
        self.qtys.clear()
        self.prices.clear()
        self.keys.clear()
        self.ladder.clear()

    def apply(self, levels: Iterable[Level]) -> None:
        keys, qtys, ladder, sign = self.keys, self.qtys, self.ladder, self.sign
        for price, qty in levels:
            key = keys.get(price)
            if key is None:
                key = _price_key(price)
            if not qty.strip("0."):  # numeric zero in any spelling (inlined: this loop is the hot path)
                _check_zero(qty)
                if qtys.pop(key, None) is not None:  # deleting a level we never held is normal on Binance
                    keys.pop(self.prices.pop(key), None)
                    keys.pop(price, None)
                    del ladder[bisect_left(ladder, key * sign)]
                continue
            if not qty.replace(".", "", 1).isdigit():
                raise ValueError(f"not a decimal number: {qty!r}")
            if key not in qtys:
                insort(ladder, key * sign)
                self.prices[key] = price
                keys[price] = key
            elif price not in keys:  # the same price written differently ("1.0" vs "1.00"): latest wins
                keys[price] = key
                self.prices[key] = price
            qtys[key] = qty

    def top(self, n: int) -> list[Level]:
        qtys, prices, sign, ladder = self.qtys, self.prices, self.sign, self.ladder
        start = max(len(ladder) - n, 0)
        return [(prices[k], qtys[k]) for k in (rank * sign for rank in reversed(ladder[start:]))]

    def best_key(self) -> int | None:
        return self.ladder[-1] * self.sign if self.ladder else None

    def level(self, key: int) -> Level:
        return (self.prices[key], self.qtys[key])


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
        return None if key is None else self._bids.level(key)

    def best_ask(self) -> Level | None:
        key = self._asks.best_key()
        return None if key is None else self._asks.level(key)

    def is_crossed(self) -> bool:
        bid, ask = self._bids.best_key(), self._asks.best_key()
        return bid is not None and ask is not None and bid >= ask

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
        return (
            {self._bids.prices[k]: q for k, q in self._bids.qtys.items()},
            {self._asks.prices[k]: q for k, q in self._asks.qtys.items()},
        )
