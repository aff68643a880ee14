"""SeriesBuffer: the last few minutes of mid and spread per symbol, for the sparkline. Numpy, no Qt."""

from __future__ import annotations

import numpy as np

from gui.values import SeriesView

DEFAULT_CAPACITY = 300  # five minutes at the bridge's one sample a second: the sparkline shows all of it


class _Ring:
    __slots__ = ("count", "data", "head")

    def __init__(self, capacity: int) -> None:
        self.data = np.full((capacity, 3), np.nan)  # columns: t, mid, spread_bps
        self.head = 0  # next slot to write
        self.count = 0

    def append(self, t: float, mid: float, spread_bps: float) -> None:
        self.data[self.head] = (t, mid, spread_bps)
        self.head = (self.head + 1) % len(self.data)
        self.count = min(self.count + 1, len(self.data))

    def ordered(self) -> np.ndarray:
        if self.count < len(self.data):
            return self.data[: self.count].copy()
        return np.roll(self.data, -self.head, axis=0)


class SeriesBuffer:
    """A fixed-size ring per symbol; appending is O(1), reading copies (the view keeps its own arrays)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._rings: dict[str, _Ring] = {}

    def append(self, symbol: str, t: float, best_bid: float, best_ask: float) -> None:
        mid = (best_bid + best_ask) / 2
        spread_bps = (best_ask - best_bid) / mid * 10_000 if mid > 0 else np.nan
        ring = self._rings.get(symbol)
        if ring is None:
            ring = self._rings[symbol] = _Ring(self.capacity)
        ring.append(t, mid, spread_bps)

    def view(self, symbol: str) -> SeriesView:
        ring = self._rings.get(symbol)
        if ring is None or ring.count == 0:
            return SeriesView(symbol)
        data = ring.ordered()
        return SeriesView(symbol, data[:, 0], data[:, 1], data[:, 2])

    def __len__(self) -> int:
        return len(self._rings)

    def count(self, symbol: str) -> int:
        ring = self._rings.get(symbol)
        return ring.count if ring else 0

    def drop(self, symbol: str) -> None:
        self._rings.pop(symbol, None)
