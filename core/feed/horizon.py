"""Which books the manager keeps verified, and how deep: the recorded symbols first (docs/SNAPSHOT_HORIZON.md).

A recorded symbol (`set(symbol, high=True, depth)`, from the recorder through `OrderBookManager.set_priority`) has
its snapshots served first and its top `depth` levels (the recorder's) kept inside the snapshot horizon; any other
book its top `default_depth`. `check` asks books whether their top nears the horizon (`BookSync.check_horizon`) and
returns the refresh requests; `rooms` counts the queued refreshes' rooms again, for the scheduler's order.

The manager's horizon watch asks, each pass, only the books that may have changed since the last one (`changed`,
which it marks), and every book every `FULL_PASS_EVERY`-th pass, in the order they were followed (`to_ask`); an
unchanged book would answer as it did.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

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

    def follow(self, symbol: str) -> None:
        """`symbol` is followed from now on (subscribed): a pass asks the books in the order they were followed."""
        self._order[symbol] = next(self._follows)

    def start_pass(self) -> set[str] | None:
        """A pass begins: the symbols marked since the last one (`changed` starts afresh), or None every
        `FULL_PASS_EVERY`-th pass: every book is to be asked."""
        self.passes += 1
        changed, self.changed = self.changed, set()
        return None if self.passes % FULL_PASS_EVERY == 0 else changed

    def to_ask(self, followed: dict[str, T], changed: set[str] | None) -> list[tuple[str, T]]:
        """The `followed` books a pass asks, the `changed` ones (all: None), in the order they were followed, as in a
        pass over every book: refreshes asked in one pass with the same room keep their first-come order."""
        if changed is None:
            return list(followed.items())
        order = self._order
        return sorted(((s, followed[s]) for s in changed if s in followed), key=lambda book: order.get(book[0], -1))

    def check(self, books: Iterable[tuple[str, BookSync]]) -> list[Action]:
        """One pass over the books: the refreshes to ask for."""
        actions: list[Action] = []
        for symbol, sync in books:
            actions += sync.check_horizon(self.depth_of(symbol), self.margin, self.refresh_limit)
        return actions

    def rooms(
        self, waiting: list[str], book: Callable[[str], OrderBook | None], changed: set[str] | None = None
    ) -> Iterator[tuple[str, int]]:
        """(symbol, room) of each book whose refresh waits in the queue (`waiting`), for the scheduler's order: while
        the budget is short (the whole market deepening its cheap starts) the books that move go before those that
        sit still. Only books changed since the last pass (or new to the queue) are counted again; the others' rooms
        stand. `changed`: the only books that may have changed (None: any may have); the others are not looked at."""
        ranked = self._ranked
        queued = set(waiting)
        for symbol in ranked.keys() - queued:
            del ranked[symbol]  # it left the queue: if it comes back, it is new to it
        if changed is not None:  # the changed and the new ones, in the queue's order (set operations: a whole
            todo = (queued & changed) | (queued - ranked.keys())  # market deepening queues some 1,400)
            waiting = [symbol for symbol in waiting if symbol in todo]
        for symbol in waiting:
            sync_book = book(symbol)
            if sync_book is None:
                continue
            depth = self.depth_of(symbol)
            key = (sync_book.last_update_id, depth)
            if ranked.get(symbol) != key:
                ranked[symbol] = key
                yield symbol, sync_book.horizon_room(depth, self.margin)
