"""Which books the manager keeps verified, and how deep: the recorded symbols first (docs/SNAPSHOT_HORIZON.md).

A recorded symbol (`set(symbol, high=True, depth)`, from the recorder through `OrderBookManager.set_priority`) has
its snapshots served first and its top `depth` levels (the recorder's) kept inside the snapshot horizon; any other
book its top `default_depth`. `check` asks books whether their top nears the horizon (`BookSync.check_horizon`) and
returns the refresh requests; `rooms` counts the queued refreshes' rooms again, for the scheduler's order.

The manager's horizon watch asks, each pass, only the books that may have changed since the last one (`changed`,
which it marks), and every book every `FULL_PASS_EVERY`-th pass; an unchanged book would answer as it did.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar

from core.feed.refresh_budget import is_calm
from core.market.book_sync import Action, BookSync
from core.market.orderbook import OrderBook

# Every this many passes (4 s at the default 0.25 s) the watch asks every book, not only those marked changed: a
# safety net for a change some path, now or later, forgets to mark. A book that moves is marked by its events anyway,
# so a miss can only delay a change without events, whose room does not shrink meanwhile: seconds are plenty. The
# books' own caches (BookSync.check_horizon, `rooms`) keep such a pass cheap.
FULL_PASS_EVERY = 16

T = TypeVar("T")


class HorizonKeeper:
    def __init__(self, default_depth: int, margin: int, refresh_limit: int) -> None:
        self.default_depth = default_depth
        self.margin = margin  # known levels behind the top below which a book is refreshed
        self.refresh_limit = refresh_limit  # depth of a refresh's snapshot
        self._recorded: dict[str, int] = {}  # high-priority symbol -> the top depth kept verified
        self._ranked: dict[str, tuple[int, int]] = {}  # `rooms`: each book's update id and depth when last counted
        # Symbols whose horizon, or queued refresh's room, may have changed since the last pass: the manager marks
        # each symbol its BookSync reports anything about (an event applied, a snapshot asked for or applied, a new
        # state); `set` marks a new depth.
        self.changed: set[str] = set()
        self.passes = 0  # so far
        self._order: dict[str, int] = {}  # `follow`: when each symbol was last followed
        self._follows = itertools.count()
        self._followed_at: dict[str, float] = {}  # `follow`: since when (the caller's monotonic clock), for `calm`

    def set(self, symbol: str, high: bool, depth: int | None = None) -> None:
        if high:
            self._recorded[symbol] = max(depth or self.default_depth, 1)
        else:
            self._recorded.pop(symbol, None)
        self.changed.add(symbol)  # its depth may have changed

    def is_high(self, symbol: str) -> bool:
        return symbol in self._recorded

    def depth_of(self, symbol: str) -> int:
        return self._recorded.get(symbol, self.default_depth)

    def follow(self, symbol: str, now: float = 0.0) -> None:
        """`symbol` is followed from `now` on (subscribed): a pass asks the books in the order they were followed."""
        self._order[symbol] = next(self._follows)
        self._followed_at[symbol] = now

    def calm(self, symbol: str, events: int, now: float) -> bool:
        """A book that had `events` events since it was followed is calm by `now` (refresh_budget.is_calm): its
        refresh is urgent only once it is losing its top. Not a book never followed."""
        followed_at = self._followed_at.get(symbol)
        return followed_at is not None and is_calm(events, now - followed_at)

    def start_pass(self) -> set[str] | None:
        """A pass begins: the symbols marked since the last one (`changed` starts afresh), or None every
        `FULL_PASS_EVERY`-th pass: every book is to be asked."""
        self.passes += 1
        changed, self.changed = self.changed, set()
        return None if self.passes % FULL_PASS_EVERY == 0 else changed

    def to_ask(self, followed: dict[str, T], changed: set[str] | None) -> list[tuple[str, T]]:
        """The `followed` books a pass asks: the `changed` ones (all: None), in no particular order (`check` orders
        what they ask)."""
        if changed is None:
            return list(followed.items())
        return [(symbol, followed[symbol]) for symbol in changed if symbol in followed]

    def check(self, books: Iterable[tuple[str, BookSync]]) -> list[Action]:
        """One pass over the books: the refreshes to ask for, in the order their books were followed (as in a pass
        over every book: refreshes asked in one pass with the same room keep their first-come order). Only the
        few asking are sorted, not the books."""
        actions: list[Action] = []
        recorded, default = self._recorded, self.default_depth
        for symbol, sync in books:
            actions += sync.check_horizon(recorded.get(symbol, default), self.margin, self.refresh_limit)
        if len(actions) > 1:
            order = self._order
            actions.sort(key=lambda action: order.get(action.symbol, -1))
        return actions

    def rooms(
        self, queue: RefreshQueue, book: Callable[[str], OrderBook | None], changed: set[str] | None = None
    ) -> Iterator[tuple[str, int]]:
        """(symbol, room) of each book whose refresh waits in the `queue`, for the scheduler's order: while the
        budget is short (the whole market deepening its cheap starts) the books that move go before those that sit
        still. Only books changed since the last pass (`changed`; None: any may have) or new to the queue are
        counted again; the others' rooms stand. A pass looks only at those, not at the whole queue (some 1,400
        refreshes while a whole market deepens), except a full pass (`changed` None), which also forgets the books
        no longer queued."""
        ranked = self._ranked
        new = queue.take_new_refreshes()
        for symbol in new:  # new to the queue (or back in it): its room is counted whatever it was when it left
            ranked.pop(symbol, None)
        if changed is None:
            waiting = queue.waiting_refreshes()
            for symbol in ranked.keys() - set(waiting):
                del ranked[symbol]
        else:
            is_waiting = queue.is_waiting_refresh
            waiting = [symbol for symbol in changed | new if is_waiting(symbol)]
        for symbol in waiting:
            sync_book = book(symbol)
            if sync_book is None:
                continue
            depth = self.depth_of(symbol)
            key = (sync_book.last_update_id, depth)
            if ranked.get(symbol) != key:
                ranked[symbol] = key
                yield symbol, sync_book.horizon_room(depth, self.margin)


class RefreshQueue(Protocol):
    """What `HorizonKeeper.rooms` asks of the snapshot scheduler's queue."""

    def waiting_refreshes(self) -> list[str]: ...

    def is_waiting_refresh(self, symbol: str) -> bool: ...

    def take_new_refreshes(self) -> set[str]: ...
