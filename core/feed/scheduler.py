"""SnapshotScheduler: the only path that fetches depth snapshots.

It queues symbols, keeps at most a few requests in flight, and survives rate limits, outages and unknown
symbols without ever raising. A failure it did not foresee (a bug) is logged with its traceback and handed
to `on_failure` (core.tasks.FailureHandler), and the workers carry on: a fetch that failed is tried again
later; a snapshot that `deliver` failed to take is not (the receiver must recover, as the manager does).

Order: requests for high-priority symbols (the recorded ones) go first, then the others; within each, a sync (a
book that is not live) before a refresh (a live book that wants a fresher horizon, docs/SNAPSHOT_HORIZON.md),
except that a recorded book losing its top (LOSING_ROOM) is rescued before the syncs, being as lost as they are;
refreshes the most urgent first (the fewest known levels left beyond the kept top before the horizon: a book whose top
already left it, `room` < 0, before one that merely nears it; the manager updates a queued refresh's room while it
waits, `update_room`, so a book that moves goes before one that sits still), then first come, first served.

A storm of syncs (more than the rest of the minute holds even shallow: a whole market's start, a reconnect) leaves
its last RESCUE_RESERVE_SHARE to rescues: the first books live, the busiest, outrun their shallow tops meanwhile.

A sync (a book that gapped, or a reconnect) must never wait for deepenings; three rules see to it:
- A refresh never waits inside the RestClient's weight budget, where it would hold a worker that a sync may need:
  it is only taken when it fits into this minute's budget right now, a high-priority one into all but
  `SYNC_RESERVE_SHARE` of the allowance, another one into `LOW_PRIORITY_REFRESH_SHARE` of it.
- That reserve is for syncs at their cheapest: a sync goes at full depth only if it leaves the reserve whole, so a
  burst of refreshes, or of full-depth syncs trickling in one by one (a reconnect), cannot spend the minute and
  leave the next lone gap waiting up to a minute for the budget to reset.
- At most `refresh_slots` refreshes are in flight (a quarter of the workers), so a sync finds a free worker and
  an exchange busy with at most that many deepenings (the RestClient has a connection for each worker).
Every request still goes through the RestClient and its WeightBudget, so none exceeds the budget.

Cheap start, deep later (`shallow_limit`): when the syncs waiting, and those to come (`syncs_to_come`: books
subscribed with no event yet), could not all be fetched at their depth within what is left of this minute's
budget (a reconnect of many symbols at once, a whole market's start), a sync is fetched at `shallow_limit`
levels instead (100: weight 5 instead of 50), so every book goes live within the minute; its horizon is then
shallow and the manager's first refresh deepens it when the budget allows. Otherwise syncs cost nothing extra.
Likewise a refresh goes at `tight_refresh_limit` (500: weight 25 instead of 50) when it does not fit into this
minute's budget at its depth but does at that one, or when the refreshes waiting would not all fit at their depth
(the whole market deepening its cheap starts): twice as many books deepened a minute, each still well inside.
A refresh is urgent when its book has fewer than URGENT_ROOM levels left before its horizon; only urgent ones may
spend the last URGENT_RESERVE_SHARE of the allowance before the sync reserve, so a book whose top moves mid-minute
is not kept waiting for the next minute by the deepening of books that sit still. They spend it as rescues: an
urgent refresh that does not fit into the deepenings' share at 500 goes at `shallow_limit` (80 levels of room for
weight 5, five books kept verified for the weight of one deepening), deepened later like a cheap start. And the
refreshes that are not urgent spend their share at a pace through the minute (PACE_LEAD), so what a book that
becomes urgent mid-minute finds is not only the reserve. A silent book's check (`quiet`) is urgent whatever its room.

The weight budget limits the rate, not `max_concurrent`: 16 shallow snapshots a second fit into 80 % of 6,000 a
minute, each taking a second or two from a busy exchange (ManagerConfig.snapshot_concurrency: 16 workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from core.feed.backoff import backoff
from core.feed.budget import depth_weight
from core.feed.errors import ExchangeError, ExchangeUnavailableError, InvalidSymbolError, RateLimitedError
from core.feed.rest import RestClient
from core.market.markets import SPOT
from core.market.wire import DepthSnapshot
from core.tasks import FailureHandler, cancel_and_wait, error_text, spawn

log = logging.getLogger(__name__)

RETRY_INITIAL = 0.5  # seconds before a failed snapshot is tried again, doubling …
RETRY_MAX = 30.0  # … up to this
LOW_PRIORITY_REFRESH_SHARE = 0.5  # a refresh of a symbol that is not recorded uses at most this share of a minute
# Of each minute's allowance, kept for syncs: refreshes and full-depth syncs leave it alone. 10 % of 4,800 is 96
# shallow syncs (weight 5), or 9 full ones, within the minute whatever the deepenings did.
SYNC_RESERVE_SHARE = 0.1
# A refresh is urgent when its book has fewer than this many known levels left beyond the recorded top before
# its horizon (a 100-level start has 80, a 500-level refresh 480): its top moves, and will be unverified soon.
URGENT_ROOM = 40
# Of each minute's allowance, kept from refreshes that are not urgent: the start-up deepening of a whole market
# spends every minute's budget in its first seconds, and a book that becomes urgent later in the minute would
# otherwise wait for the next one, recording "unverified" seconds meanwhile (docs/SNAPSHOT_HORIZON.md).
URGENT_RESERVE_SHARE = 0.2
# A recorded book with fewer known levels than this left before its horizon is lost to its recording, or about to
# be within the next events: its rescue (weight 5) may spend the sync reserve, and it goes with the syncs, not after
# them (a start-up's last few hundred syncs took seconds while such a book recorded "unverified" ones).
LOSING_ROOM = 5
# Of each minute's allowance, kept from a storm of syncs for rescues (LOSING_ROOM): 48 rescues of 4,800 (see below).
RESCUE_RESERVE_SHARE = 0.05
# Refreshes that are not urgent (the deepenings) spend their share of a minute at a pace, not in its first seconds:
# by `s` seconds into the minute, at most the share times (s + PACE_LEAD) / 60. What they leave is there for books
# that become urgent mid-minute; by the minute's last seconds the deepenings have had their whole share.
PACE_LEAD = 6.0


def _until_next_minute(now: float) -> float:
    return (int(now // 60) + 1) * 60 - now + 0.001  # the budget counts per calendar minute


@dataclass(slots=True)
class _Request:
    limit: int  # the depth to fetch
    refresh: bool  # the book is live: nothing is missing until the horizon is reached
    high: bool  # a recorded symbol
    order: int  # first come, first served (negative: put back in front after a rate limit)
    shallow: bool = False  # a sync made shallow, or a refresh made less deep, because the budget was short
    room: int = 0  # a refresh's levels left before the horizon (BookSync.check_horizon): the fewer, the sooner
    quiet: bool = False  # a refresh that checks a silent book (BookSync.check_silence): urgent whatever its room

    def key(self) -> tuple[bool, bool, int, int]:
        # A recorded book losing its top (LOSING_ROOM) ranks with the syncs: by its room, before them.
        return (not self.high, self.refresh and not (self.high and self.room < LOSING_ROOM), self.room, self.order)


class SnapshotScheduler:
    """Fetches REST depth snapshots for many symbols without a storm.

    FIFO queue, at most `max_concurrent` requests in flight, each inside the RestClient's weight budget.
    Symbol names are uppercased. `deliver(symbol, snapshot)` is called on the loop, synchronously; it may
    call `request` again (the symbol is no longer in flight by then). With `pass_limit`, it is called as
    `deliver(symbol, snapshot, limit)`, the depth that was asked for (a shorter side is the whole side).
    `on_fetch(symbol, refresh)`, if given, is called on the loop just before each request goes out.
    """

    def __init__(
        self,
        rest: RestClient,
        deliver: Callable[[str, DepthSnapshot], None],
        *,
        limit: int = 1000,
        max_concurrent: int = 2,
        retry_delay: float = 0.5,
        clock: Callable[[], float] = time.time,
        on_failure: FailureHandler | None = None,
        pass_limit: bool = False,
        shallow_limit: int | None = None,
        tight_refresh_limit: int | None = None,
        refresh_slots: int | None = None,
        on_fetch: Callable[[str, bool], None] | None = None,
        syncs_to_come: Callable[[], int] | None = None,
    ) -> None:
        self._rest = rest
        self._deliver = deliver
        self._limit = limit
        self._max_concurrent = max(1, max_concurrent)
        self._retry_delay = retry_delay
        self._clock = clock
        self._on_failure = on_failure
        self._pass_limit = pass_limit
        self._shallow_limit = shallow_limit
        self._tight_refresh_limit = tight_refresh_limit
        self._on_fetch = on_fetch  # (symbol, refresh) just before a request is sent: a refresh starts keeping events
        # How many books will ask for a sync soon (subscribed, no event yet): at a whole market's start the syncs
        # are asked one by one as first events arrive, and the queue alone would not show them coming.
        self._syncs_to_come = syncs_to_come
        # Refreshes in flight at most (default: a quarter of the workers). The budget, not this, limits how fast
        # books deepen (96 refreshes a minute at 1000 levels); it keeps workers free for syncs.
        self._refresh_slots = max(1, self._max_concurrent // 4 if refresh_slots is None else refresh_slots)
        self._refreshes_in_flight = 0
        self._queued: dict[str, _Request] = {}  # in no particular order: _next_symbol picks by _Request.key
        self._order = itertools.count(1)
        self._in_flight: set[str] = set()
        self._dropped: set[str] = set()  # cancelled while in flight: do not deliver
        self._not_before: dict[str, float] = {}
        self._retry_delays: dict[str, Iterator[float]] = {}  # symbol -> its retry delays
        # Idle workers, each waiting for a change that may let a request go, the longest-waiting first. A change
        # wakes one; a worker that takes a request wakes the next (`_wake_one`): every wake-up scans the queue.
        self._idle: deque[asyncio.Future[None]] = deque()
        self._timer_at: float | None = None  # when the idle worker that keeps the time looks again (_next_symbol)
        self._woken = False  # a worker was woken and has not looked at the queue yet (_wake_one)
        self._workers: list[asyncio.Task[None]] = []
        self.errors = 0
        self.last_error: str | None = None
        self.rate_limited_until = 0.0
        self.weight_spent = 0  # request weight of the snapshots fetched
        self.fetched = 0  # snapshots fetched
        self.refreshes_fetched = 0  # of which for a refresh
        self.shallow_syncs = 0  # syncs fetched at `shallow_limit` because the budget was short
        self.tight_refreshes = 0  # refreshes fetched at `tight_refresh_limit` because the budget was short
        self.rescues = 0  # urgent refreshes fetched at `shallow_limit` because the budget was short

    @property
    def limit(self) -> int:
        """The depth fetched when a request does not say."""
        return self._limit

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)  # requests being fetched now

    @property
    def refreshes_in_flight(self) -> int:
        return self._refreshes_in_flight

    @property
    def queued_refreshes(self) -> list[str]:
        """Symbols whose refresh waits in the queue (not in flight), in the order they would be served."""
        return sorted((symbol for symbol, req in self._queued.items() if req.refresh), key=lambda s: self._queued[s].key())

    def waiting_refreshes(self) -> list[str]:
        return [symbol for symbol, req in self._queued.items() if req.refresh]  # in no order: see queued_refreshes

    def update_room(self, symbol: str, room: int) -> None:
        """A queued refresh's current room before the horizon: its place in the queue follows its book."""
        queued = self._queued.get(symbol.upper())
        if queued is not None and queued.refresh:
            was_urgent, was_kept = queued.room < URGENT_ROOM, queued.room >= LOSING_ROOM
            queued.room = min(room, 0) if queued.quiet else room
            if (room < URGENT_ROOM and not was_urgent) or (room < LOSING_ROOM and was_kept):
                # It may spend more of the budget now: wake the workers (they may sleep until the next minute).
                # Only then: every wake-up scans the whole queue.
                self._wake_one()

    @property
    def pending(self) -> set[str]:
        """Symbols queued or in flight."""
        return (self._queued.keys() | self._in_flight) - self._dropped

    def request(
        self,
        symbol: str,
        retry: bool = False,
        *,
        limit: int | None = None,
        refresh: bool = False,
        high: bool = False,
        room: int = 0,
        quiet: bool = False,
    ) -> None:
        """Queue a snapshot for `symbol` of `limit` levels (default: the scheduler's); a no-op while one is in
        flight. A symbol already queued keeps its place; a sync request turns a queued refresh into a sync
        (with this limit), and `high` raises its priority.

        `retry=True` (the previous snapshot was older than the stream) waits `retry_delay` first, so the
        next snapshot has a chance to cover the buffered events. `refresh=True`: the book is live, see the
        module docstring. `high=True`: a recorded symbol, served before the others. `room`: a refresh's
        levels left before its horizon, the fewest served first.
        """
        symbol = symbol.upper()
        if symbol in self._in_flight:
            self._dropped.discard(symbol)  # re-requested after a cancel: the answer is wanted again
            return
        limit = self._limit if limit is None else limit
        queued = self._queued.get(symbol)
        if quiet:
            room = min(room, 0)
        if queued is not None:
            before = (queued.refresh, queued.high, queued.quiet, queued.room < URGENT_ROOM, queued.room < LOSING_ROOM)
            if queued.refresh and not refresh:
                queued.refresh, queued.limit = False, limit
            queued.high = queued.high or high
            queued.room = min(queued.room, room)
            queued.quiet = queued.refresh and (queued.quiet or quiet)
            # Only a change that may let it go sooner wakes a worker: every wake-up scans the whole queue.
            if before != (queued.refresh, queued.high, queued.quiet, queued.room < URGENT_ROOM, queued.room < LOSING_ROOM):
                self._wake_one()
            return
        if retry:
            self._not_before[symbol] = self._clock() + self._retry_delay
        self._queued[symbol] = _Request(
            limit, refresh, high, next(self._order), room=room if refresh else 0, quiet=quiet and refresh
        )
        self._wake_one()

    def set_priority(self, symbol: str, high: bool) -> None:
        """Change the priority of a queued request (a symbol switched to recorded, or back)."""
        queued = self._queued.get(symbol.upper())
        if queued is not None:
            queued.high = high
            self._wake_one()

    def cancel(self, symbol: str) -> None:
        """Forget `symbol` (e.g. unsubscribed); an answer already on its way is not delivered."""
        symbol = symbol.upper()
        self._queued.pop(symbol, None)
        if symbol in self._in_flight:
            self._dropped.add(symbol)
        self._not_before.pop(symbol, None)
        self._retry_delays.pop(symbol, None)

    async def start(self) -> None:
        if self._workers:
            return
        self._workers = [
            spawn(self._worker(), f"snapshot-worker-{i}", what="snapshot worker", on_failure=self._on_failure)
            for i in range(self._max_concurrent)
        ]

    async def stop(self) -> None:
        workers, self._workers = self._workers, []
        await cancel_and_wait(workers)

    # --- internals --------------------------------------------------------------------------------

    async def _worker(self) -> None:
        pauses = backoff(RETRY_INITIAL, RETRY_MAX)  # after a failure, so that a persistent bug cannot spin
        while True:
            try:
                symbol, req = await self._next_symbol()
                self._in_flight.add(symbol)
                refresh = req.refresh
                self._refreshes_in_flight += refresh
                if self._on_fetch is not None:
                    self._on_fetch(symbol, refresh)
                try:
                    snapshot = await self._fetch(symbol, req)
                finally:
                    self._in_flight.discard(symbol)
                    dropped = symbol in self._dropped
                    self._dropped.discard(symbol)
                    if refresh:
                        self._refreshes_in_flight -= 1
                        self._wake_one()  # a refresh slot is free
                if snapshot is not None and not dropped:
                    self._deliver_safely(symbol, snapshot, req.limit)
            except Exception as exc:  # a bug must not stop every future snapshot
                pause = next(pauses)
                log.error("snapshot worker failed, continuing in_s=%.2f", pause, exc_info=exc)
                self._report(f"The snapshot worker failed and continues: {error_text(exc)}.", exc)
                await asyncio.sleep(pause)
            else:
                pauses = backoff(RETRY_INITIAL, RETRY_MAX)

    async def _next_symbol(self) -> tuple[str, _Request]:
        """The first queued symbol allowed to go now (in the module docstring's order), waiting for rate
        limits, per-symbol delays and, for refreshes, room in this minute's budget."""
        while True:
            now = self._clock()
            self._woken = False  # this look sees every change so far
            best, wake_at = self._pick(now)
            if best is not None:
                self._not_before.pop(best, None)
                req = self._queued.pop(best)
                if not req.refresh and self._budget_short_for_syncs(req, now):
                    req.limit, req.shallow = self._shallow_limit, True  # type: ignore[assignment]
                elif req.refresh:
                    # Some depth fits: _refresh_wait let it through on the cheapest one.
                    depth = self._refresh_depth(req, now) or req.limit
                    req.limit, req.shallow = depth, depth < req.limit
                if self._queued:
                    self._wake_one()  # another may go too
                return best, req
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            # One idle worker keeps the time to look again (or an earlier one too); the others sleep until woken:
            # when all sixteen kept it, all woke and scanned the whole queue, most of the whole market's CPU.
            timed = wake_at is not None and (self._timer_at is None or wake_at < self._timer_at)
            if timed:
                self._timer_at = wake_at
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, max(0.0, wake_at - now) if timed else None)
            finally:
                if timed and self._timer_at == wake_at:  # awake: it looks again, and keeps a time if one is due
                    self._timer_at = None
                if not waiter.done() or waiter.cancelled():  # timed out or stopped: no longer idle
                    with contextlib.suppress(ValueError):
                        self._idle.remove(waiter)

    def _wake_one(self) -> None:
        """Something changed that may let a request go: wake one idle worker; one that takes a request wakes the
        next. (Waking all made sixteen scans of a thousand-refresh queue at every change.) None while a worker woken
        earlier has yet to look: it will see this change too (a pass over many books changes many requests)."""
        if self._woken:
            return
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._woken = True
                return

    def _pick(self, now: float) -> tuple[str | None, float | None]:
        """The queued symbol to fetch now, if any, and else when to look again (None: when something changes).
        It scans the whole queue (a thousand refreshes while a whole market deepens), so whether a refresh fits
        the budget is worked out once per kind of refresh (`_refresh_kind`: priority, urgency and depth)."""
        if now < self.rate_limited_until:
            return None, self.rate_limited_until
        best: str | None = None
        best_key: tuple[bool, bool, int, int] | None = None
        wake_at: float | None = None
        slots_full = self._refreshes_in_flight >= self._refresh_slots
        not_before = self._not_before
        waits: dict[tuple[bool, bool, bool, int], float] = {}
        sync_wait: float | None = None  # the same for every sync: worked out at the first one
        for symbol, req in self._queued.items():
            ready_at = not_before.get(symbol, 0.0) if not_before else 0.0
            if not req.refresh:
                if sync_wait is None:
                    sync_wait = self._sync_wait(now)
                if sync_wait > 0.0:
                    ready_at = max(ready_at, now + sync_wait)
            else:
                if slots_full:
                    continue  # until a refresh in flight is answered
                kind = self._refresh_kind(req)
                wait = waits.get(kind)
                if wait is None:
                    wait = waits[kind] = self._refresh_wait(req, now)
                if wait > 0.0:
                    ready_at = max(ready_at, now + wait)
            if ready_at > now:
                wake_at = ready_at if wake_at is None else min(wake_at, ready_at)
                continue
            key = req.key()
            if best_key is None or key < best_key:
                best, best_key = symbol, key
        return best, wake_at

    def _refresh_kind(self, req: _Request) -> tuple[bool, bool, bool, int]:
        """What `_refresh_wait` depends on: two refreshes of one kind fit the budget alike (see `_share`)."""
        return (req.high, req.room < LOSING_ROOM, req.room < URGENT_ROOM, req.limit)

    def _budget_short_for_syncs(self, req: _Request, now: float) -> bool:
        """True if `req` (a sync) should go shallow: the syncs waiting, it included, and those to come, would not
        all fit at their depth into what is left of this minute's budget outside the sync reserve."""
        shallow = self._shallow_limit
        budget = getattr(self._rest, "budget", None)
        if shallow is None or budget is None or req.limit <= shallow:
            return False
        waiting = budget.depth_weight(req.limit) + sum(
            budget.depth_weight(r.limit) for r in self._queued.values() if not r.refresh
        )
        if self._syncs_to_come is not None:
            waiting += self._syncs_to_come() * budget.depth_weight(req.limit)
        return waiting > budget.allowed * (1.0 - SYNC_RESERVE_SHARE) - budget.used(now)

    def _sync_wait(self, now: float) -> float:
        """Seconds until a sync may go (0: now). In a storm (the syncs waiting and to come would spend the rest of
        the minute even shallow) syncs leave its last RESCUE_RESERVE_SHARE to rescues; fewer go at once."""
        budget = getattr(self._rest, "budget", None)
        shallow = self._shallow_limit
        if budget is None or shallow is None:
            return 0.0
        weight, used = budget.depth_weight(shallow), budget.used(now)
        if used + weight <= budget.allowed * (1.0 - RESCUE_RESERVE_SHARE):
            return 0.0
        to_come = self._syncs_to_come() if self._syncs_to_come is not None else 0
        syncs = sum(1 for r in self._queued.values() if not r.refresh) + to_come
        return 0.0 if syncs * weight <= budget.allowed - used else _until_next_minute(now)

    def _refresh_wait(self, req: _Request, now: float) -> float:
        """Seconds until a refresh fits into the budget without waiting inside the RestClient (0: now)."""
        budget = getattr(self._rest, "budget", None)
        if budget is None:
            return 0.0
        if now < budget.blocked_until:
            return budget.blocked_until - now
        cheapest = self._cheapest_refresh(req)
        if self._refresh_fits(req, cheapest, now):  # not _refresh_depth: this runs for every queued refresh at
            return 0.0  # every pick, and that one sums the queue
        next_minute = _until_next_minute(now)
        if self._urgent(req):
            return next_minute
        # A deepening that fits this minute's share, only not yet its pace: when the pace lets it.
        share = budget.allowed * self._share(req, cheapest)
        paced_at = 60 * (budget.used(now) + budget.depth_weight(cheapest)) / share - PACE_LEAD
        return min(next_minute, max(0.001, paced_at - now % 60))

    def _refresh_depth(self, req: _Request, now: float) -> int | None:
        """The depth a refresh goes at now, or None if none fits into this minute's budget:
        - its own depth, unless the refreshes waiting would not all fit at theirs (the whole market deepening);
        - else `tight_refresh_limit` (500: half the weight);
        - else, for an urgent one (its top nearly or already beyond the horizon), `shallow_limit` (100: weight 5, 80
          levels of room at once; a deepening follows when the budget allows)."""
        depths = [req.limit]
        tight, shallow = self._tight_refresh_limit, self._shallow_limit
        if tight is not None and tight < req.limit:
            if self._budget_short_for_refreshes(req, now):
                depths = [tight]
            else:
                depths.append(tight)
        if self._urgent(req) and shallow is not None and shallow < depths[-1]:
            depths.append(shallow)
        return next((depth for depth in depths if self._refresh_fits(req, depth, now)), None)

    def _cheapest_refresh(self, req: _Request) -> int:
        """The least depth `_refresh_depth` may choose for `req`."""
        depths = [req.limit, self._tight_refresh_limit, self._shallow_limit if self._urgent(req) else None]
        return min(d for d in depths if d is not None)

    def _urgent(self, req: _Request) -> bool:
        return req.high and req.room < URGENT_ROOM

    def _budget_short_for_refreshes(self, req: _Request, now: float) -> bool:
        """True if the refreshes waiting, `req` included, would not all fit at their depth into what is left of
        the share of this minute's budget that `req` may spend."""
        budget = getattr(self._rest, "budget", None)
        if budget is None:
            return False
        waiting = budget.depth_weight(req.limit) + sum(
            budget.depth_weight(r.limit) for r in self._queued.values() if r.refresh
        )
        return waiting > budget.allowed * self._share(req, req.limit) - budget.used(now)

    def _refresh_fits(self, req: _Request, limit: int, now: float) -> bool:
        """A refresh of `limit` levels fits into its share of this minute's budget now."""
        budget = getattr(self._rest, "budget", None)
        if budget is None:
            return True
        used = budget.used(now)
        share = self._share(req, limit)
        if not self._urgent(req):
            share *= min(1.0, (now % 60 + PACE_LEAD) / 60)  # a deepening's pace (PACE_LEAD)
        return used == 0 or used + budget.depth_weight(limit) <= budget.allowed * share  # an empty minute takes any

    def _share(self, req: _Request, limit: int) -> float:
        """How much of a minute's allowance a refresh like `req` at `limit` levels may spend: all but the sync
        reserve if urgent, all but both reserves otherwise; at most LOW_PRIORITY_REFRESH_SHARE for a symbol not
        recorded. A rescue of a recorded book losing its top (fewer than LOSING_ROOM levels left: unverified, or
        within an event or two of it) may spend the sync reserve too: that book is lost to its recording like one
        that gapped, and is rescued at the cost of a sync at its cheapest.

        An urgent refresh spends the urgent reserve only as a rescue, at `shallow_limit` (when there is one): the
        reserve is there to keep books verified until the next minute, and at 5 weight a book it keeps five times
        as many as at 500 levels (25 weight), which the deepening does later from its own share."""
        if req.high and req.room < LOSING_ROOM and limit == self._shallow_limit:
            return 1.0
        if not req.high:
            return min(LOW_PRIORITY_REFRESH_SHARE, 1.0 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)
        if self._urgent(req) and (self._shallow_limit is None or limit <= self._shallow_limit):
            return 1.0 - SYNC_RESERVE_SHARE
        return 1.0 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE

    async def _fetch(self, symbol: str, req: _Request) -> DepthSnapshot | None:
        weight = depth_weight(req.limit, getattr(self._rest, "market", SPOT))
        try:
            snapshot = await self._rest.depth(symbol, req.limit)
        except RateLimitedError as exc:
            self._note_error(str(exc))
            self.rate_limited_until = max(self.rate_limited_until, self._clock() + exc.retry_after)
            log.warning(
                "snapshot rate limited symbol=%s retry_after_s=%g banned=%s",
                symbol,
                exc.retry_after,
                exc.banned,
            )
            self._requeue(symbol, req, front=True, delay=0.0)
        except InvalidSymbolError as exc:
            self._note_error(str(exc))
            self._retry_delays.pop(symbol, None)
            log.error("snapshot dropped symbol=%s reason=%r", symbol, str(exc))
        except ExchangeError as exc:
            # Unavailable (network, 5xx, garbage) or rejected (403 WAF, odd 4xx): back off, try again.
            self._note_error(str(exc))
            delay = self._retry_later(symbol, req)
            level = logging.WARNING if isinstance(exc, ExchangeUnavailableError) else logging.ERROR
            log.log(level, "snapshot failed symbol=%s retry_in_s=%.2f reason=%r", symbol, delay, str(exc))
        except Exception as exc:  # a bug or something unforeseen: keep the symbol, retry slowly
            message = f"The {symbol} snapshot failed unexpectedly: {error_text(exc)}."
            self._note_error(message)
            delay = self._retry_later(symbol, req)
            log.error("snapshot fetch error symbol=%s retry_in_s=%.2f", symbol, delay, exc_info=exc)
            self._report(message, exc)
        else:
            self._retry_delays.pop(symbol, None)
            self.weight_spent += weight
            self.fetched += 1
            self.refreshes_fetched += req.refresh
            self.shallow_syncs += req.shallow and not req.refresh
            self.tight_refreshes += req.shallow and req.refresh and req.limit != self._shallow_limit
            self.rescues += req.shallow and req.refresh and req.limit == self._shallow_limit
            return snapshot
        return None

    def _requeue(self, symbol: str, req: _Request, *, front: bool, delay: float) -> None:
        if symbol in self._dropped:
            return  # cancelled meanwhile
        queued = self._queued.get(symbol)
        if queued is not None:  # re-requested meanwhile: keep the more urgent of the two
            queued.high = queued.high or req.high
            if queued.refresh and not req.refresh:
                queued.refresh, queued.limit = False, req.limit
            return
        if delay > 0:
            self._not_before[symbol] = self._clock() + delay
        req.order = -next(self._order) if front else next(self._order)
        self._queued[symbol] = req
        self._wake_one()

    def _retry_later(self, symbol: str, req: _Request) -> float:
        """Re-queue after this symbol's next backoff delay; returns the delay."""
        delays = self._retry_delays.get(symbol)
        if delays is None:
            delays = self._retry_delays[symbol] = backoff(RETRY_INITIAL, RETRY_MAX)
        delay = next(delays)
        self._requeue(symbol, req, front=False, delay=delay)
        return delay

    def _note_error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message

    def _deliver_safely(self, symbol: str, snapshot: DepthSnapshot, limit: int) -> None:
        try:
            if self._pass_limit:
                self._deliver(symbol, snapshot, limit)
            else:
                self._deliver(symbol, snapshot)
        except Exception as exc:  # a bug in the receiver, which must recover by itself (the manager does)
            log.error("snapshot delivery failed symbol=%s", symbol, exc_info=exc)
            self._report(f"The {symbol} snapshot could not be applied: {error_text(exc)}.", exc)

    def _report(self, sentence: str, exc: BaseException) -> None:
        if self._on_failure is None:
            return
        try:
            self._on_failure(sentence, exc)
        except Exception:
            log.exception("failure handler failed")
