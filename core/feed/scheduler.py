"""SnapshotScheduler: the only path that fetches depth snapshots.

It queues symbols, keeps at most a few requests in flight, and survives rate limits, outages and unknown
symbols without ever raising. A failure it did not foresee (a bug) is logged with its traceback and handed
to `on_failure` (core.tasks.FailureHandler), and the workers carry on: a fetch that failed is tried again
later; a snapshot that `deliver` failed to take is not (the receiver must recover, as the manager does).

Order: requests for high-priority symbols (the recorded ones) go first, then the others; within each, a sync (a
book that is not live) before a refresh (a live book that wants a fresher horizon, docs/SNAPSHOT_HORIZON.md),
except that a recorded book whose refresh is urgent (URGENT_ROOM; LOSING_ROOM for a calm one) is rescued before
the syncs: a sync's book is lost to its recording already, a rescue keeps one for the weight of a sync
(refresh_budget's rules);
refreshes the most urgent first (the fewest known levels left beyond the kept top before the horizon: a book whose top
already left it, `room` < 0, before one that merely nears it; the manager updates a queued refresh's room while it
waits, `update_room`, so a book that moves goes before one that sits still), then first come, first served.

How a request may spend each minute's REST weight, and at what depth, is core.feed.refresh_budget's. The queue
(core.feed.request_queue) keeps the requests grouped by what those rules decide on, so that a look at the queue
works the budget out once per group, and goes over the requests of only those groups that may go now.

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
from collections.abc import Callable, Iterable, Iterator, Mapping

from core.feed.backoff import backoff
from core.feed.budget import depth_weight
from core.feed.errors import ExchangeError, ExchangeUnavailableError, InvalidSymbolError, RateLimitedError
from core.feed.refresh_budget import LATE_RESCUE_SHARE, LOSING_ROOM, RESCUED_AGAIN_S, BudgetRules, Request
from core.feed.request_queue import RequestQueue
from core.feed.rest import RestClient
from core.market.markets import SPOT
from core.market.wire import DepthSnapshot
from core.tasks import FailureHandler, cancel_and_wait, error_text, spawn

log = logging.getLogger(__name__)

RETRY_INITIAL = 0.5  # seconds before a failed snapshot is tried again, doubling …
RETRY_MAX = 30.0  # … up to this


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
        late_rescue_share: float = LATE_RESCUE_SHARE,
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
        self._queued = RequestQueue(BudgetRules.kind)  # grouped by kind, in no order: _pick chooses by Request.key
        self._budget = BudgetRules(
            rest, self._queued, shallow_limit, tight_refresh_limit, syncs_to_come, late_rescue_share
        )
        self._order = itertools.count(1)
        self._in_flight: set[str] = set()
        self._dropped: set[str] = set()  # cancelled while in flight: do not deliver
        self._not_before: dict[str, float] = {}
        self._retry_delays: dict[str, Iterator[float]] = {}  # symbol -> its retry delays
        self._rescued_at: dict[str, float] = {}  # symbol -> when its last rescue was fetched (RESCUED_AGAIN_S)
        # Idle workers, each waiting for a change that may let a request go, the longest-waiting first. A change
        # wakes one; a worker that takes a request wakes the next (`_wake_one`): every wake-up looks at the queue.
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
        refreshes = [(symbol, req) for symbol, req in self._queued.items() if req.refresh]
        return [symbol for symbol, _ in sorted(refreshes, key=lambda item: item[1].key())]

    def waiting_refreshes(self) -> list[str]:
        return [symbol for symbol, req in self._queued.items() if req.refresh]  # in no order: see queued_refreshes

    def is_waiting_refresh(self, symbol: str) -> bool:
        return self._queued.is_refresh(symbol)

    def take_new_refreshes(self) -> set[str]:
        """Symbols whose refresh entered the queue since the last call (RequestQueue.take_new_refreshes)."""
        return self._queued.take_new_refreshes()

    def update_room(self, symbol: str, room: int) -> None:
        """A queued refresh's current room before the horizon: its place in the queue follows its book."""
        self.update_rooms(((symbol.upper(), room),))

    def update_rooms(self, rooms: Iterable[tuple[str, int]]) -> None:
        """`update_room` of many (symbol, room), symbols upper case: a horizon pass gives hundreds at once."""
        get, refile = self._queued.get, self._queued.refile
        wake = False
        for symbol, room in rooms:
            queued = get(symbol)
            if queued is not None and queued.refresh:
                if queued.quiet:
                    room = min(room, 0)
                if room == queued.room:  # its events left the room as it was: nothing to refile
                    continue
                urgent_room = queued.urgent_room()
                was_urgent, was_kept = queued.room < urgent_room, queued.room >= LOSING_ROOM
                queued.room = room
                refile(symbol)
                # It may spend more of the budget now: wake the workers (they may sleep until the next minute).
                # Only then: every wake-up looks at the queue.
                if (room < urgent_room and not was_urgent) or (room < LOSING_ROOM and was_kept):
                    log.info("queued refresh now urgent symbol=%s room=%d", symbol, room)
                    wake = True
        if wake:
            self._wake_one()

    @property
    def pending(self) -> set[str]:
        """Symbols queued or in flight."""
        return (self._queued.symbols() | self._in_flight) - self._dropped

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
        calm: bool = False,
    ) -> None:
        """Queue a snapshot for `symbol` of `limit` levels (default: the scheduler's); a no-op while one is in
        flight. A symbol already queued keeps its place; a sync request turns a queued refresh into a sync
        (with this limit), and `high` raises its priority.

        `retry=True` (the previous snapshot was older than the stream) waits `retry_delay` first, so the
        next snapshot has a chance to cover the buffered events. `refresh=True`: the book is live, see the
        module docstring. `high=True`: a recorded symbol, served before the others. `room`: a refresh's
        levels left before its horizon, the fewest served first. `calm`: a refresh of a calm book (CALM_RATE), urgent
        only once it is losing its top.
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
            before = queued.standing()
            if queued.refresh and not refresh:
                queued.refresh, queued.limit = False, limit
            queued.high = queued.high or high
            queued.room = min(queued.room, room)
            queued.quiet = queued.refresh and (queued.quiet or quiet)
            queued.calm = queued.refresh and queued.calm and calm
            self._queued.refile(symbol)
            # Only a change that may let it go sooner wakes a worker: every wake-up looks at the queue.
            if queued.standing() != before:
                self._wake_one()
            return
        if retry:
            self._not_before[symbol] = self._clock() + self._retry_delay
        req = Request(
            limit, refresh, high, next(self._order), room=room if refresh else 0, quiet=quiet and refresh,
            calm=calm and refresh,
        )  # fmt: skip
        if refresh and room < req.urgent_room():  # its book may record `unverified` seconds soon: say when asked
            log.info("urgent refresh asked symbol=%s room=%d", symbol, room)
        self._queued.add(symbol, req)
        self._wake_one()

    def set_priority(self, symbol: str, high: bool) -> None:
        """Change the priority of a queued request (a symbol switched to recorded, or back)."""
        symbol = symbol.upper()
        queued = self._queued.get(symbol)
        if queued is not None:
            queued.high = high
            self._queued.refile(symbol)
            self._wake_one()

    def cancel(self, symbol: str) -> None:
        """Forget `symbol` (e.g. unsubscribed); an answer already on its way is not delivered."""
        symbol = symbol.upper()
        self._queued.discard(symbol)
        if symbol in self._in_flight:
            self._dropped.add(symbol)
        self._not_before.pop(symbol, None)
        self._retry_delays.pop(symbol, None)
        self._rescued_at.pop(symbol, None)

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

    async def _next_symbol(self) -> tuple[str, Request]:
        """The first queued symbol allowed to go now (in the module docstring's order), waiting for rate
        limits, per-symbol delays and, for refreshes, room in this minute's budget."""
        while True:
            now = self._clock()
            self._woken = False  # this look sees every change so far
            best, wake_at = self._pick(now)
            if best is not None:
                self._not_before.pop(best, None)
                req = self._queued.pop(best)
                if not req.refresh and self._budget.sync_goes_shallow(req, now):
                    req.limit, req.shallow = self._shallow_limit, True  # type: ignore[assignment]
                elif req.refresh:
                    rescued = self._rescued_at.get(best)
                    req.fast = rescued is not None and now - rescued < RESCUED_AGAIN_S
                    # Some depth fits: refresh_wait let it through on the cheapest one.
                    depth = self._budget.refresh_depth(req, now) or req.limit
                    req.limit, req.shallow = depth, depth < req.limit
                    if req.room < req.urgent_room():
                        log.info("urgent refresh sent symbol=%s room=%d limit=%d", best, req.room, depth)
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

        The queue holds a thousand refreshes while a whole market deepens, in a handful of kinds (RequestQueue): the
        wait is worked out once per group, and a group that must wait is skipped whole. Its wake-up time is then
        now + its wait even if each of its requests has a later delay of its own (`_not_before`, a retry): that look
        finds nothing yet and works the times out again, later by the wait (> 0), so it cannot loop. Only the
        groups that may go are gone over request by request, for the least `Request.key()` ready now."""
        if now < self.rate_limited_until:
            return None, self.rate_limited_until
        groups: list[tuple[Mapping[str, Request], float]] = []
        if syncs := self._queued.syncs:
            groups.append((syncs, self._budget.sync_wait(now)))
        if self._refreshes_in_flight < self._refresh_slots:  # else every refresh waits for one in flight
            for _, group in self._queued.refresh_groups():
                groups.append((group, self._budget.refresh_wait(next(iter(group.values())), now)))
        best: str | None = None
        best_key: tuple[bool, bool, int, int] | None = None
        wake_at: float | None = None
        not_before = self._not_before
        for group, wait in groups:
            if wait > 0.0:
                ready_at = now + wait
                wake_at = ready_at if wake_at is None else min(wake_at, ready_at)
                continue
            for symbol, req in group.items():
                ready_at = not_before.get(symbol, 0.0) if not_before else 0.0
                if ready_at > now:
                    wake_at = ready_at if wake_at is None else min(wake_at, ready_at)
                    continue
                key = req.key()
                if best_key is None or key < best_key:
                    best, best_key = symbol, key
        return best, wake_at

    async def _fetch(self, symbol: str, req: Request) -> DepthSnapshot | None:
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
            if req.shallow and req.refresh and req.limit == self._shallow_limit:
                self.rescues += 1
                self._rescued_at[symbol] = self._clock()  # urgent again soon: a fast book (RESCUED_AGAIN_S)
            return snapshot
        return None

    def _requeue(self, symbol: str, req: Request, *, front: bool, delay: float) -> None:
        if symbol in self._dropped:
            return  # cancelled meanwhile
        queued = self._queued.get(symbol)
        if queued is not None:  # re-requested meanwhile: keep the more urgent of the two
            queued.high = queued.high or req.high
            if queued.refresh and not req.refresh:
                queued.refresh, queued.limit = False, req.limit
            self._queued.refile(symbol)
            return
        if delay > 0:
            self._not_before[symbol] = self._clock() + delay
        req.order = -next(self._order) if front else next(self._order)
        self._queued.add(symbol, req)
        self._wake_one()

    def _retry_later(self, symbol: str, req: Request) -> float:
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
