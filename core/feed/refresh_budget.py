"""How a queued snapshot request may spend each minute's REST weight, and at what depth (the SnapshotScheduler's
rules; core.feed.scheduler keeps the queue, the workers and the order).

A crowd of syncs (more than FEW_SYNCS: a whole market's start, a reconnect) leaves the rescues still to come this
minute LATE_RESCUE_SHARE of it below the urgent refreshes' cap, a share that shrinks with the time left: the first
books live, the busiest, outrun their shallow tops while the others sync, and ask at any second of the minute. A
storm (more syncs than the rest of the minute holds even shallow) also keeps its last RESCUE_RESERVE_SHARE: half for
books whose refresh is urgent, half for those losing their top. A recorded book whose refresh is urgent goes before
the syncs, and while syncs wait it goes as a rescue (5 weight; at 500 levels if it was rescued a moment ago, `fast`).
A calm book (CALM_RATE) is urgent only once it is losing its top: its sweeps are rare, the busy books' are not.

A sync (a book that gapped, or a reconnect) must never wait for deepenings; three rules see to it:
- A refresh never waits inside the RestClient's weight budget, where it would hold a worker that a sync may need:
  it is only taken when it fits into this minute's budget right now, a high-priority one into all but
  `SYNC_RESERVE_SHARE` of the allowance, another one into `LOW_PRIORITY_REFRESH_SHARE` of it.
- That reserve is for syncs at their cheapest: a sync goes at full depth only if it leaves the reserve whole, so a
  burst of refreshes, or of full-depth syncs trickling in one by one (a reconnect), cannot spend the minute and
  leave the next lone gap waiting up to a minute for the budget to reset. Nor the urgent refreshes' reserve (below):
  a start-up's last syncs, fetched at full depth once the rest of the minute held them, spent 1,150 weight of it
  at the minute's turn while a busy book's rescue waited six seconds and recorded an "unverified" second; at their
  cheapest they go live as soon, and deepen later from the deepenings' share.
- At most `refresh_slots` refreshes (the scheduler's) are in flight (a quarter of the workers), so a sync finds a free worker and
  an exchange busy with at most that many deepenings (the RestClient has a connection for each worker).
Every request still goes through the RestClient and its WeightBudget, so none exceeds the budget.

Cheap start, deep when it moves (`shallow_limit`): when the syncs waiting, and those to come (`syncs_to_come`:
books subscribed with no event yet), could not all be fetched at their depth within what is left of this minute's
budget (a reconnect of many symbols at once, a whole market's start), a sync is fetched at `shallow_limit`
levels instead (100: weight 5 instead of 50), so every book goes live within the minute; its horizon is then
shallow, and the book asks for a deeper refresh once its top has used half that room (BookSync.check_horizon).
Otherwise syncs cost nothing extra.
Likewise a refresh goes at `tight_refresh_limit` (500: weight 25 instead of 50) when it does not fit into this
minute's budget at its depth but does at that one, or when the refreshes waiting would not all fit at their depth
(the whole market deepening its cheap starts): twice as many books deepened a minute, each still well inside.
A refresh is urgent when its book has fewer than URGENT_ROOM levels left before its horizon; only urgent ones may
spend the last URGENT_RESERVE_SHARE of the allowance before the sync reserve, so a book whose top moves mid-minute
is not kept waiting for the next minute by the deepening of books that sit still. They spend it as rescues: an
urgent refresh that does not fit into the deepenings' share at 500 goes at `shallow_limit` (80 levels of room for
weight 5, five books kept verified for the weight of one deepening), deepened later like a cheap start; a book
rescued and urgent again within RESCUED_AGAIN_S moves fast, and its rescue goes at 500 if that fits. And the
refreshes that are not urgent spend their share at a pace through the minute (PACE_LEAD), so what a book that
becomes urgent mid-minute finds is not only the reserve. A silent book's check (`quiet`) is urgent whatever its room.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.feed.rest import RestClient

if TYPE_CHECKING:
    from core.feed.request_queue import RequestQueue

LOW_PRIORITY_REFRESH_SHARE = 0.5  # a refresh of a symbol that is not recorded uses at most this share of a minute
# Of each minute's allowance, kept for syncs: refreshes and full-depth syncs leave it alone. 10 % of 4,800 is 96
# shallow syncs (weight 5), or 9 full ones, within the minute whatever the deepenings did.
SYNC_RESERVE_SHARE = 0.1
# A refresh is urgent when its book has fewer than this many known levels left beyond the recorded top before
# its horizon (a 100-level start has 80, a 500-level refresh 480): its top moves, and will be unverified soon.
URGENT_ROOM = 40
# A recorded book that has had fewer than CALM_RATE events a second since it was followed (over CALM_AFTER_S at
# least) is calm: its refresh is urgent only once it is losing its top (LOSING_ROOM), not at URGENT_ROOM. A sweep
# comes with an event, and a calm book sees few: waiting 30 s at 40 levels of room, a simulated book at 10 events/s
# lost them all 29-32 % of the time, at 5.5/s 12 %, at 1.4/s 1 % (`python -m bench room_drops` books, 6 markets).
# The start-up's second minute spent a quarter to two fifths of its rescues on the long tail while the busiest
# waited for the next minute (docs/SNAPSHOT_HORIZON.md).
CALM_RATE = 2.0
CALM_AFTER_S = 20.0
# Of each minute's allowance, kept from refreshes that are not urgent: the start-up deepening of a whole market
# spends every minute's budget in its first seconds, and a book that becomes urgent later in the minute would
# otherwise wait for the next one, recording "unverified" seconds meanwhile (docs/SNAPSHOT_HORIZON.md).
URGENT_RESERVE_SHARE = 0.2
# A recorded book with fewer known levels than this left before its horizon is lost to its recording, or may be
# within one sweep: its rescue (weight 5) may spend the sync reserve. One sweep: the busiest simulated books lose at
# most 18 levels of room in 0.5 s (a look and an answer) 99 % of the time, up to 61 (`python -m bench room_drops`);
# at 5 a single jump took books from above it to "unverified" between two looks. (Every urgent recorded book goes
# before the syncs, Request.key.)
LOSING_ROOM = 20
# A book rescued at `shallow_limit` less than this long ago whose refresh is urgent again moves fast (a long-tailed
# market's busiest, on its cheap start while the others deepen): its rescue goes at `tight_refresh_limit` when the
# urgent share holds it, 480 levels of room for 25 weight instead of 80 for 5. A sweep of 40-60 levels (`python -m
# bench room_drops`' worst in a quarter second) took a twice-rescued book from 40 levels of room to "unverified".
RESCUED_AGAIN_S = 60.0
# Of each minute's allowance, kept from a storm of syncs for the rescues of urgent recorded books: 48 of 4,800.
RESCUE_RESERVE_SHARE = 0.05
# Kept from syncs for the rescues still to come this minute, in proportion to the time left in it: at its start this
# share of the minute, at its end nothing. A whole market's start asks 1,110-1,485 weight of rescues a minute, its
# busiest books outrunning their 100-level starts within 20-40 s; syncs that spent a minute in its first seconds
# (the storm's first, and the next one's leftover 3,200-3,600 at its turn) left the books that became urgent later
# waiting for the next minute, some losing their top meanwhile. The syncs lose only time: what the rescues leave is
# theirs by the minute's end. Only a crowd of syncs keeps it from itself (more than FEW_SYNCS): a few (a gap or two)
# cannot crowd the rescues out, and go at once. Counted with those still to come, not against the share: a crowd's
# last 150 syncs (750 weight) at a minute's turn left the rescues 320 weight for the rest of it.
LATE_RESCUE_SHARE = 0.25
FEW_SYNCS = 10
# Refreshes that are not urgent (the deepenings) spend their share of a minute at a pace, not in its first seconds:
# by `s` seconds into the minute, at most the share times (s + PACE_LEAD) / 60. What they leave is there for books
# that become urgent mid-minute; by the minute's last seconds the deepenings have had their whole share.
PACE_LEAD = 6.0


Kind = tuple[bool, bool, bool, int]  # BudgetRules.kind: (high, losing its top, urgent, limit)


def is_calm(events: int, seconds: float) -> bool:
    """A book that had `events` events in the `seconds` since it was followed is calm (CALM_RATE)."""
    return seconds >= CALM_AFTER_S and events < CALM_RATE * seconds


def until_next_minute(now: float) -> float:
    return (int(now // 60) + 1) * 60 - now + 0.001  # the budget counts per calendar minute


@dataclass(slots=True)
class Request:
    """One queued snapshot request (the scheduler's queue holds one per symbol)."""

    limit: int  # the depth to fetch
    refresh: bool  # the book is live: nothing is missing until the horizon is reached
    high: bool  # a recorded symbol
    order: int  # first come, first served (negative: put back in front after a rate limit)
    shallow: bool = False  # a sync made shallow, or a refresh made less deep, because the budget was short
    room: int = 0  # a refresh's levels left before the horizon (BookSync.check_horizon): the fewer, the sooner
    quiet: bool = False  # a refresh that checks a silent book (BookSync.check_silence): urgent whatever its room
    fast: bool = False  # its book was rescued less than RESCUED_AGAIN_S ago (the scheduler's, as it is taken)
    calm: bool = False  # a refresh of a calm book (CALM_RATE): urgent only once it is losing its top

    def urgent_room(self) -> int:
        """Below this room a refresh is urgent (for a recorded book, `urgent`)."""
        return LOSING_ROOM if self.calm else URGENT_ROOM

    def standing(self) -> tuple[bool, bool, bool, bool, bool]:
        """What decides how soon it may go, but for its place among its kind: a sync or a refresh, priority, a
        quiet check, urgency, losing its top. A request asked again that leaves this as it was changes nothing."""
        return (self.refresh, self.high, self.quiet, self.room < self.urgent_room(), self.room < LOSING_ROOM)

    def urgent(self) -> bool:
        """A recorded book with fewer than `urgent_room` levels left before its horizon (a refresh's)."""
        return self.high and self.room < self.urgent_room()

    def key(self) -> tuple[bool, bool, int, int]:
        # A recorded book whose refresh is urgent ranks with the syncs, before them, the fewest levels first: a
        # sync's book is lost already, a rescue keeps one recording (and takes one request of 5 weight; while syncs
        # wait it goes at that, BudgetRules.refresh_depth). Behind a start-up's hundreds of syncs, books asking with
        # 37 levels of room lost them in one sweep before their turn came.
        urgent = self.refresh and self.urgent()
        return (not self.high, self.refresh and not urgent, self.room - URGENT_ROOM if urgent else self.room, self.order)


class BudgetRules:
    """The budget rules over the scheduler's queue (`queued`, the very RequestQueue it keeps). `rest.budget` is the
    RestClient's WeightBudget (None: no budget, every request fits)."""

    def __init__(
        self,
        rest: RestClient,
        queued: RequestQueue,
        shallow_limit: int | None,
        tight_refresh_limit: int | None,
        syncs_to_come: Callable[[], int] | None,
        late_rescue_share: float = LATE_RESCUE_SHARE,
    ) -> None:
        self._rest = rest
        self._late_rescue_share = late_rescue_share
        self._queued = queued
        self._shallow_limit = shallow_limit
        self._tight_refresh_limit = tight_refresh_limit
        self._syncs_to_come = syncs_to_come

    @staticmethod
    def kind(req: Request) -> Kind:
        """What `refresh_wait` depends on: two refreshes of one kind fit the budget alike (see `share`). The
        RequestQueue groups the queued refreshes by it."""
        return (req.high, req.room < LOSING_ROOM, req.room < req.urgent_room(), req.limit)

    def sync_goes_shallow(self, req: Request, now: float) -> bool:
        """True if `req` (a sync) should go shallow: the syncs waiting, it included, and those to come, would not
        all fit at their depth into what is left of this minute's budget outside both reserves (the syncs' and the
        urgent refreshes')."""
        shallow = self._shallow_limit
        budget = getattr(self._rest, "budget", None)
        if shallow is None or budget is None or req.limit <= shallow:
            return False
        syncs = self._queued.syncs.values()
        waiting = budget.depth_weight(req.limit) + sum(budget.depth_weight(r.limit) for r in syncs)
        if self._syncs_to_come is not None:
            waiting += self._syncs_to_come() * budget.depth_weight(req.limit)
        return waiting > budget.allowed * (1.0 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE) - budget.used(now)

    def sync_wait(self, now: float) -> float:
        """Seconds until a sync may go (0: now). A crowd of syncs (more than FEW_SYNCS waiting and to come: a whole
        market's start, a reconnect) leaves the rescues still to come this minute a share below the urgent ones' cap
        (LATE_RESCUE_SHARE, shrinking with the time left). A few syncs may spend the minute, but in a storm (the
        syncs would spend the rest of it even shallow) not its last RESCUE_RESERVE_SHARE."""
        budget = getattr(self._rest, "budget", None)
        shallow = self._shallow_limit
        if budget is None or shallow is None:
            return 0.0
        weight = budget.depth_weight(shallow)
        share = (budget.used(now) + weight) / budget.allowed  # with the next one
        left = until_next_minute(now)
        late_share = self._late_rescue_share
        late = late_share * min(1.0, left / 60)
        if share <= 1.0 - SYNC_RESERVE_SHARE - late:
            return 0.0
        # A crowd of syncs (the queue alone tells, mostly: those to come cost a pass over every book).
        if late_share and (len(self._queued.syncs) > FEW_SYNCS or self.syncs_waiting() > FEW_SYNCS):
            free = (1.0 - SYNC_RESERVE_SHARE - share) / late_share * 60  # seconds before the minute's end it fits
            return max(0.001, left - free) if free > 0 else left
        if share <= 1.0 - RESCUE_RESERVE_SHARE:
            return 0.0
        return left if self.storm(now) else 0.0

    def syncs_waiting(self) -> int:
        """Syncs queued, and to come (books subscribed with no event yet: a pass over every book)."""
        return len(self._queued.syncs) + (self._syncs_to_come() if self._syncs_to_come is not None else 0)

    def storm(self, now: float) -> bool:
        """More syncs waiting, and to come, than the rest of this minute's budget holds even at their cheapest
        (`shallow_limit`): a whole market's start, a reconnect of many symbols."""
        budget = getattr(self._rest, "budget", None)
        if budget is None or self._shallow_limit is None:
            return False
        return self.syncs_waiting() * budget.depth_weight(self._shallow_limit) > budget.allowed - budget.used(now)

    def refresh_wait(self, req: Request, now: float) -> float:
        """Seconds until a refresh fits into the budget without waiting inside the RestClient (0: now)."""
        budget = getattr(self._rest, "budget", None)
        if budget is None:
            return 0.0
        if now < budget.blocked_until:
            return budget.blocked_until - now
        cheapest = self.cheapest_refresh(req)
        if self.refresh_fits(req, cheapest, now):  # not refresh_depth: this runs for every kind queued at every
            return 0.0  # look, and that one sums the queue
        next_minute = until_next_minute(now)
        if self.urgent(req):
            return next_minute
        # A deepening that fits this minute's share, only not yet its pace: when the pace lets it.
        share = budget.allowed * self.share(req, cheapest)
        paced_at = 60 * (budget.used(now) + budget.depth_weight(cheapest)) / share - PACE_LEAD
        return min(next_minute, max(0.001, paced_at - now % 60))

    def refresh_depth(self, req: Request, now: float) -> int | None:
        """The depth a refresh goes at now, or None if none fits into this minute's budget:
        - its own depth, unless the refreshes waiting would not all fit at theirs (the whole market deepening);
        - else `tight_refresh_limit` (500: half the weight);
        - else, for an urgent one (its top nearly or already beyond the horizon), `shallow_limit` (100: weight 5, 80
          levels of room at once; a deepening follows when the budget allows)."""
        depths = [req.limit]
        tight, shallow = self._tight_refresh_limit, self._shallow_limit
        if tight is not None and tight < req.limit:
            if self.refreshes_short(req, now):
                depths = [tight]
            else:
                depths.append(tight)
        if self.urgent(req) and shallow is not None and shallow < depths[-1]:
            # Ahead of syncs waiting (Request.key), a rescue at a sync's cost, no more: they are books not live yet.
            # But a book rescued less than RESCUED_AGAIN_S ago (`fast`) at 500 if the urgent share holds it: the
            # busiest burnt 40 levels of a 100-level rescue in 7-10 s, five rescues in 31 s (25 weight, 480 levels).
            if self._queued.syncs:
                depths = [tight, shallow] if req.fast and tight is not None else [shallow]
            else:
                depths = [*depths, shallow]
        return next((depth for depth in depths if self.refresh_fits(req, depth, now)), None)

    def cheapest_refresh(self, req: Request) -> int:
        """The least depth `refresh_depth` may choose for `req`."""
        depths = [req.limit, self._tight_refresh_limit, self._shallow_limit if self.urgent(req) else None]
        return min(d for d in depths if d is not None)

    def urgent(self, req: Request) -> bool:
        return req.urgent()

    def refreshes_short(self, req: Request, now: float) -> bool:
        """True if the refreshes waiting, `req` included, would not all fit at their depth into what is left of
        the share of this minute's budget that `req` may spend."""
        budget = getattr(self._rest, "budget", None)
        if budget is None:
            return False
        waiting = budget.depth_weight(req.limit) + sum(  # a kind's last field is its depth
            len(group) * budget.depth_weight(limit) for (*_, limit), group in self._queued.refresh_groups()
        )
        return waiting > budget.allowed * self.share(req, req.limit) - budget.used(now)

    def refresh_fits(self, req: Request, limit: int, now: float) -> bool:
        """A refresh of `limit` levels fits into its share of this minute's budget now."""
        budget = getattr(self._rest, "budget", None)
        if budget is None:
            return True
        used = budget.used(now)
        share = self.share(req, limit)
        if not self.urgent(req):
            share *= min(1.0, (now % 60 + PACE_LEAD) / 60)  # a deepening's pace (PACE_LEAD)
        if used == 0 or used + budget.depth_weight(limit) <= budget.allowed * share:  # an empty minute takes any
            return True
        # In a storm of syncs, half the rescue reserve is for urgent books not yet losing their top (one sweep took a
        # busy book from 35 levels of room to -5 while it waited behind a start-up's syncs); the other half stays
        # for those losing it (share 1.0), which a rescued book soon is again if it is one of the busiest.
        rescue = self.urgent(req) and limit == self._shallow_limit
        half = budget.allowed * (1.0 - RESCUE_RESERVE_SHARE / 2)
        return rescue and used + budget.depth_weight(limit) <= half and self.storm(now)

    def share(self, req: Request, limit: int) -> float:
        """How much of a minute's allowance a refresh like `req` at `limit` levels may spend: all but the sync
        reserve if urgent, all but both reserves otherwise; at most LOW_PRIORITY_REFRESH_SHARE for a symbol not
        recorded. A rescue of a recorded book losing its top (fewer than LOSING_ROOM levels left: unverified, or
        within an event or two of it) may spend the sync reserve too: that book is lost to its recording like one
        that gapped, and is rescued at the cost of a sync at its cheapest.

        An urgent refresh spends the urgent reserve only as a rescue, at `shallow_limit` (when there is one): the
        reserve is there to keep books verified until the next minute, and at 5 weight a book it keeps five times
        as many as at 500 levels (25 weight), which the deepening does later from its own share. A book that was
        rescued and is urgent again within RESCUED_AGAIN_S (`fast`) may spend it at `tight_refresh_limit` too."""
        shallow, tight = self._shallow_limit, self._tight_refresh_limit
        if req.high and req.room < LOSING_ROOM and limit == shallow:
            return 1.0
        if not req.high:
            return min(LOW_PRIORITY_REFRESH_SHARE, 1.0 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)
        rescue = shallow is None or limit <= shallow or (req.fast and tight is not None and limit <= tight)
        if self.urgent(req) and rescue:
            return 1.0 - SYNC_RESERVE_SHARE
        return 1.0 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE
