"""The local order book: pure, exact, fast.

A book is two sides (core.market.book_side says what a side keeps and why). The sides are compiled from C
(core/market/_book_side.c: sorted flat arrays, a fraction of the Python side's memory and cache misses), and
the pure-Python side of core.market.book_side, which behaves the same, serves where the extension is not built.

The snapshot horizon (docs/SNAPSHOT_HORIZON.md). A REST snapshot holds only the best `limit` levels of a side,
and Binance never mentions a level that does not change: a level worse than the snapshot's last one is known
only if an event carried it. So each side keeps a horizon, the rank of its snapshot's last (worst) level: every
level at that price or better is known for as long as the book stays in sync (the snapshot had it, or an event
changed it since); beyond it the book may lack levels the exchange has. A snapshot that returned fewer levels
than its limit held the whole side: the horizon is then unbounded. The top n of a side is *verified* while its
n levels all lie inside the horizon: `verified(n)`, `horizon_distance(n)` and `horizon_room(n, cap)` answer it
without touching `apply`, whose speed is unchanged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import NamedTuple

from core.market import book_side
from core.market.wire import Level, decimal_ticks, ticks_to_decimal

try:
    from core.market import _book_side
except ImportError:  # not built (a source tree run without `pip install`): the Python side, same results
    _book_side = None

log = logging.getLogger(__name__)

LADDER_DEPTH = 256  # levels the Python side keeps in sorted order; a refill sorts the rest (platform-notes.md)
# Levels a side keeps when some lie beyond its snapshot horizon: those are dropped, worst first, down to this
# (never one inside the horizon, so a side holds at least its snapshot's levels). docs/SNAPSHOT_HORIZON.md.
LEVEL_CAP = 1000


def _apply_python(bids_side, asks_side, bids: Iterable[Level], asks: Iterable[Level]) -> bool:
    """_book_side.apply_event for sides of any kind: both sides' apply, then whether the book is crossed."""
    bids_side.apply(bids)
    asks_side.apply(asks)
    return _crossed(bids_side, asks_side)


def _crossed(bids_side, asks_side) -> bool:
    bid, ask = bids_side.best_rank(), asks_side.best_rank()
    return bid is not None and ask is not None and bid >= -ask


if _book_side is not None:
    _book_side.configure(decimal_ticks, ticks_to_decimal)
    Side = _book_side.Side
else:
    Side = book_side.Side
    log.warning("the compiled order book is not built; using the pure-Python one (slower): run pip install -e .")


class TopNumbers(NamedTuple):
    """A captured top of book as numbers (`OrderBook.capture`): the same values as decimal_ticks() and float() of
    its strings, read by the book as it copied them."""

    bid_levels: bytes | None  # book_side.LEVEL_NUMBERS records, best first; None: a price beyond 64 bits of ticks
    ask_levels: bytes | None

    @property
    def whole(self) -> bool:
        """Both sides have records (else a reader takes the strings)."""
        return self.bid_levels is not None and self.ask_levels is not None


class OrderBook:
    """One symbol's book. Pure: no clock, no I/O."""

    __slots__ = ("_apply_event", "_asks", "_bids", "last_update_id", "level_cap", "snapshot_limit", "symbol")

    def __init__(
        self, symbol: str, ladder_depth: int = LADDER_DEPTH, level_cap: int | None = LEVEL_CAP, side: type = Side
    ) -> None:
        """`level_cap`: the bound on levels kept per side (levels beyond the horizon go first, and only they go;
        see `book_side.Side._drop_beyond_horizon`); None keeps every level."""
        self.symbol = symbol
        self.last_update_id = 0
        self.snapshot_limit: int | None = None  # the `limit` of the snapshot the book was built from
        self.level_cap = level_cap
        self._bids = side(+1, ladder_depth, level_cap)  # `side`: the compiled one, or book_side.Side (tests)
        self._asks = side(-1, ladder_depth, level_cap)
        compiled = _book_side is not None and side is _book_side.Side
        self._apply_event = _book_side.apply_event if compiled else _apply_python  # `adopt` takes it with the sides

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

    def apply(self, bids: Iterable[Level], asks: Iterable[Level], final_update_id: int) -> bool:
        """Apply one diff event's absolute quantities; zero removes the level. Returns `is_crossed()` after it
        (one call for what every event needs).

        Raises ValueError on a malformed level; the book is then partly updated and must be resynced.
        """
        try:
            crossed = self._apply_event(self._bids, self._asks, bids, asks)
        except (TypeError, AttributeError) as exc:  # a level that is not [str, str]
            raise ValueError(f"malformed level ({exc})") from None
        self.last_update_id = final_update_id
        return crossed

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
        self._apply_event = other._apply_event
        self.last_update_id = other.last_update_id
        self.snapshot_limit = other.snapshot_limit
        side = type(other._bids)
        other._bids, other._asks = side(+1, depth, other.level_cap), side(-1, depth, other.level_cap)
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
            None if self._bids.complete else self._bids.room(n, sys.maxsize),
            None if self._asks.complete else self._asks.room(n, sys.maxsize),
        )

    def agrees_with(self, other: OrderBook) -> bool:
        """Both books hold the same quantity at every price inside both horizons (and neither holds a level
        there that the other lacks). Two exact books at the same update id always agree: a refresh checks the
        book it replaces with this."""
        return self._bids.agrees_with(other._bids) and self._asks.agrees_with(other._asks)

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

    def capture(self, n: int) -> tuple[bytes, TopNumbers]:
        """The recorder's copy of the book: the best n bids' and asks' MessagePack bytes, one after the other, as
        a stored snapshot holds them (core.storage.snapshot), and their numbers, read while the strings are in
        the cache, for the series and heatmap rows. No level tuples: whoever wants them decodes the bytes."""
        packed_bids, bid_levels = self._bids.capture(n)
        packed_asks, ask_levels = self._asks.capture(n)
        return packed_bids + packed_asks, TopNumbers(bid_levels, ask_levels)

    def best_bid(self) -> Level | None:
        return self._bids.best()

    def best_ask(self) -> Level | None:
        return self._asks.best()

    def is_crossed(self) -> bool:
        return _crossed(self._bids, self._asks)

    def is_empty(self) -> bool:
        return not len(self._bids) and not len(self._asks)

    @property
    def bid_count(self) -> int:
        return len(self._bids)

    @property
    def ask_count(self) -> int:
        return len(self._asks)

    def as_dicts(self) -> tuple[dict[str, str], dict[str, str]]:
        """Every level as price string -> quantity string (tests compare books with this)."""
        return self._bids.as_dict(), self._asks.as_dict()
