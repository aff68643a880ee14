"""Which books the manager keeps verified, and how deep: the recorded symbols first (docs/SNAPSHOT_HORIZON.md).

A recorded symbol (`set(symbol, high=True, depth)`, from the recorder through `OrderBookManager.set_priority`) has
its snapshots served first and its top `depth` levels (the recorder's) kept inside the snapshot horizon; any other
book its top `default_depth`. `check` asks every book whether its top nears the horizon (`BookSync.check_horizon`)
and returns the refresh requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from core.market.book_sync import Action, BookSync
from core.market.orderbook import OrderBook


class HorizonKeeper:
    def __init__(self, default_depth: int, margin: int, refresh_limit: int) -> None:
        self.default_depth = default_depth
        self.margin = margin  # known levels behind the top below which a book is refreshed
        self.refresh_limit = refresh_limit  # depth of a refresh's snapshot
        self._recorded: dict[str, int] = {}  # high-priority symbol -> the top depth kept verified
        self._ranked: dict[str, tuple[int, int]] = {}  # `rooms`: each book's update id and depth at the last pass

    def set(self, symbol: str, high: bool, depth: int | None = None) -> None:
        if high:
            self._recorded[symbol] = max(depth or self.default_depth, 1)
        else:
            self._recorded.pop(symbol, None)

    def is_high(self, symbol: str) -> bool:
        return symbol in self._recorded

    def depth_of(self, symbol: str) -> int:
        return self._recorded.get(symbol, self.default_depth)

    def check(self, books: Iterable[tuple[str, BookSync]]) -> list[Action]:
        """One pass over the books: the refreshes to ask for."""
        actions: list[Action] = []
        for symbol, sync in books:
            actions += sync.check_horizon(self.depth_of(symbol), self.margin, self.refresh_limit)
        return actions

    def rooms(self, books: dict[str, OrderBook]) -> Iterator[tuple[str, int]]:
        """(symbol, room) of each book whose refresh waits in the queue, for the scheduler's order: while the budget
        is short (the whole market deepening its cheap starts) the books that move go before those that sit still.
        Only books changed since the last pass (or new to the queue) are counted again; the others' rooms stand."""
        seen, self._ranked = self._ranked, {}
        for symbol, book in books.items():
            depth = self.depth_of(symbol)
            key = self._ranked[symbol] = (book.last_update_id, depth)
            if seen.get(symbol) != key:
                yield symbol, book.horizon_room(depth, self.margin)
