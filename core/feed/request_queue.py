"""RequestQueue: the SnapshotScheduler's queued requests (one per symbol), filed by what decides whether they may go.

The syncs are one group (they wait alike, BudgetRules.sync_wait); the refreshes are grouped by their kind
(BudgetRules.kind: priority, losing its top, urgency, depth), two refreshes of one kind fitting the budget alike. A
look at the queue then works the budget out once per group and skips a group that may not go yet whole: while a
whole market deepens, some 1,350 queued refreshes fall into a handful of kinds, and a look that went over each of
them cost 740 us (5 % of the recorder's CPU); over such a queue whose deepenings must wait, a scratch timing gave
560-710 us a look before, 13-15 us with the groups.

A queued request's fields that its group depends on (refresh, high, room, calm, limit) may change only when
`refile` follows at once: that is what moves it into its new group.
"""

from __future__ import annotations

from collections.abc import Callable, ItemsView, KeysView, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.feed.refresh_budget import Kind, Request


class RequestQueue:
    """The queued requests by symbol, kept grouped: `syncs`, and the refreshes by `kind(request)`. No group is
    empty; the groups together hold every request once."""

    def __init__(self, kind: Callable[[Request], Kind]) -> None:
        self._kind = kind
        self._requests: dict[str, Request] = {}  # every queued request, in the order queued
        self._syncs: dict[str, Request] = {}
        self._refreshes: dict[Kind, dict[str, Request]] = {}
        self._filed: dict[str, Kind | None] = {}  # the group each request is in: its kind, None for a sync
        self._new_refreshes: set[str] = set()  # refreshes queued since `take_new_refreshes` last took them

    def __len__(self) -> int:
        return len(self._requests)

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._requests

    def get(self, symbol: str) -> Request | None:
        """The queued request (to read; to change a field its group depends on, see `refile`)."""
        return self._requests.get(symbol)

    def items(self) -> ItemsView[str, Request]:
        return self._requests.items()

    def symbols(self) -> KeysView[str]:
        return self._requests.keys()

    @property
    def syncs(self) -> Mapping[str, Request]:
        return self._syncs

    def refresh_groups(self) -> ItemsView[Kind, Mapping[str, Request]]:
        """The refreshes by kind: (kind, its requests by symbol), none of them empty."""
        return self._refreshes.items()

    def add(self, symbol: str, req: Request) -> None:
        """Queue `req` for `symbol` (one not queued)."""
        if symbol in self._requests:
            raise ValueError(f"{symbol} is queued already")
        self._requests[symbol] = req
        self._file(symbol, req)
        if req.refresh:
            self._new_refreshes.add(symbol)

    def take_new_refreshes(self) -> set[str]:
        """The symbols whose refresh entered the queue since the last call (asked, or put back after a failed
        fetch), whether or not it is still queued; the next call starts afresh."""
        new, self._new_refreshes = self._new_refreshes, set()
        return new

    def is_refresh(self, symbol: str) -> bool:
        """A refresh of `symbol` is queued."""
        req = self._requests.get(symbol)
        return req is not None and req.refresh

    def pop(self, symbol: str) -> Request:
        """Take `symbol`'s request out of the queue (KeyError if none is queued)."""
        req = self._requests.pop(symbol)
        self._unfile(symbol)
        return req

    def discard(self, symbol: str) -> None:
        """Forget `symbol`'s request, if one is queued."""
        if symbol in self._requests:
            self.pop(symbol)

    def refile(self, symbol: str) -> None:
        """Call after changing a field of `symbol`'s queued request that its group depends on (refresh, high, room,
        calm, limit): moves it into the group it now belongs to. Cheap when it stays (the manager re-ranks every queued
        refresh's room four times a second)."""
        req = self._requests[symbol]
        kind = self._kind(req) if req.refresh else None
        if kind != self._filed[symbol]:
            self._unfile(symbol)
            self._file(symbol, req)

    def _file(self, symbol: str, req: Request) -> None:
        kind = self._kind(req) if req.refresh else None
        self._filed[symbol] = kind
        group = self._syncs if kind is None else self._refreshes.setdefault(kind, {})
        group[symbol] = req

    def _unfile(self, symbol: str) -> None:
        kind = self._filed.pop(symbol)
        if kind is None:
            del self._syncs[symbol]
            return
        group = self._refreshes[kind]
        del group[symbol]
        if not group:
            del self._refreshes[kind]
