"""Order flow for a cursor that slides: `compute_order_flow`'s numbers, reusing what the previous window read.

Dragging the History cursor moves the window a second or a few at a time, so all but a few of its snapshots
were read, decoded and parsed for the previous position, and so were the pairs of consecutive snapshots whose
level increases the flow counts. `SlidingOrderFlow` keeps those per second and per pair and reads only the
seconds it has not seen; the result is the same OrderFlow, to the last bit, as `History.get_order_flow` (the
pair terms are summed in the same order). A window with a level that does not parse is handed to
`History.get_order_flow`, whose damaged-snapshot handling then applies.

One instance per database and symbol (HistoryQueries holds them); a lock makes it safe from executor threads.
"""

from __future__ import annotations

import threading
from itertools import pairwise

from core.analysis.history import _LEVEL_ERRORS, History
from core.analysis.order_flow import (
    MAX_WINDOW_SECS,
    MIN_FLOW_SNAPSHOTS,
    OrderFlow,
    _check_seconds,
    _count_increases,
    _qty_by_price,
    check_flow_window,
    flow_of,
    insufficient_flow_data,
)
from core.storage.keys import normal_symbol
from core.storage.store import SnapshotStorage

KEEP_SECS = 2 * MAX_WINDOW_SECS  # seconds kept either side of the last window's end

# (bid qty by price, ask qty by price, bid total, ask total) of one snapshot
Sides = tuple[dict[str, float], dict[str, float], float, float]


class SlidingOrderFlow:
    def __init__(self, storage: SnapshotStorage, symbol: str) -> None:
        self.storage = storage
        self.symbol = normal_symbol(symbol)
        self._sides: dict[int, Sides | None] = {}  # None: known to hold no (usable) snapshot
        self._pairs: dict[tuple[int, int], tuple[int, int, float]] = {}
        self._floats: dict[str, float] = {}
        self._lock = threading.Lock()

    def flow(self, window_secs: int, end: int) -> OrderFlow:
        check_flow_window(window_secs)
        _check_seconds(end, "end")
        with self._lock:
            try:
                seconds = self._window(end - window_secs, end)
            except _LEVEL_ERRORS:  # a damaged level: History's careful path decides
                self._sides.clear()
                self._pairs.clear()
                return History(self.storage).get_order_flow(self.symbol, window_secs, end)
            self._evict(end)
            return self._result(seconds, window_secs, end)

    def _window(self, start: int, end: int) -> list[int]:
        """The stored seconds of [start, end], reading and parsing only those not seen before."""
        unknown = [ts for ts in range(start, end + 1) if ts not in self._sides]
        if unknown:
            lo, hi = unknown[0], unknown[-1]
            snaps = History(self.storage).snapshots(self.symbol, lo, hi)
            parsed = {snap.timestamp: self._parse(snap) for snap in snaps}
            # A second after the last one stored may still be written (a recorder at the live edge): only
            # the seconds before it are remembered as empty.
            newest = max(parsed, default=lo - 1)
            for ts in range(lo, hi + 1):
                if ts in parsed:
                    self._sides[ts] = parsed[ts]
                elif ts < newest:
                    self._sides[ts] = None
        return [ts for ts in range(start, end + 1) if self._sides.get(ts) is not None]

    def _parse(self, snap) -> Sides:
        bids, asks = _qty_by_price(snap.bids, self._floats), _qty_by_price(snap.asks, self._floats)
        return bids, asks, sum(bids.values()), sum(asks.values())

    def _pair(self, a: int, b: int) -> tuple[int, int, float]:
        term = self._pairs.get((a, b))
        if term is None:
            prev_bids, prev_asks, prev_bid_total, prev_ask_total = self._sides[a]  # type: ignore[misc]
            bids, asks, bid_total, ask_total = self._sides[b]  # type: ignore[misc]
            term = self._pairs[(a, b)] = (
                _count_increases(prev_bids, bids),
                _count_increases(prev_asks, asks),
                abs(bid_total - prev_bid_total) - abs(ask_total - prev_ask_total),
            )
        return term

    def _result(self, seconds: list[int], window_secs: int, end: int) -> OrderFlow:
        if len(seconds) < MIN_FLOW_SNAPSHOTS:
            raise insufficient_flow_data(window_secs, len(seconds))
        bid_count = ask_count = 0
        cumulative_delta = 0.0
        for a, b in pairwise(seconds):  # summed in compute_order_flow's order
            bids_up, asks_up, term = self._pair(a, b)
            bid_count += bids_up
            ask_count += asks_up
            cumulative_delta += term
        return flow_of(
            self.symbol, end, window_secs, bid_count, ask_count, cumulative_delta,
            len(seconds), seconds[-1] - seconds[0],
        )  # fmt: skip

    def _evict(self, end: int) -> None:
        lo, hi = end - KEEP_SECS, end + KEEP_SECS
        if len(self._sides) > 3 * KEEP_SECS:
            self._sides = {ts: s for ts, s in self._sides.items() if lo <= ts <= hi}
            self._pairs = {k: v for k, v in self._pairs.items() if lo <= k[0] and k[1] <= hi}
        if len(self._floats) > 100_000:
            self._floats.clear()
