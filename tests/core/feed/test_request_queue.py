"""The scheduler's RequestQueue: each queued request filed in the group its kind says, whatever changes it, and a look
at the queue that picks what a look at every request would pick, checking the budget once per group. No workers
run here: the tests call the scheduler's own methods with the time they choose."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.feed.budget import WeightBudget
from core.feed.refresh_budget import (
    LOSING_ROOM,
    SYNC_RESERVE_SHARE,
    URGENT_RESERVE_SHARE,
    URGENT_ROOM,
    BudgetRules,
    Request,
)
from core.feed.request_queue import RequestQueue
from core.feed.scheduler import SnapshotScheduler

MINUTE = 1_800_000_000.0  # a calendar minute's first second (the budget counts per calendar minute)


class Rest:
    """All the scheduler reads of its RestClient while it only looks at its queue: the weight budget."""

    def __init__(self, budget: WeightBudget) -> None:
        self.budget = budget


def scheduler(budget: WeightBudget, clock: list[float], syncs_to_come: int = 0) -> SnapshotScheduler:
    """The whole market's scheduler (1000 levels, 100 when short, 500 for refreshes when short), one refresh slot."""
    return SnapshotScheduler(
        Rest(budget), lambda *_: None, clock=lambda: clock[0], limit=1000, max_concurrent=4,  # type: ignore[arg-type]
        shallow_limit=100, tight_refresh_limit=500, syncs_to_come=lambda: syncs_to_come,
    )  # fmt: skip


def spent(weight: int, now: float) -> WeightBudget:
    budget = WeightBudget(limit_per_minute=1000, fraction=1.0)
    budget.reserve(weight, now)
    return budget


def take(sched: SnapshotScheduler) -> tuple[str, Request]:
    """A worker's look that finds a request to go: it returns without waiting, so it needs no event loop."""
    look = sched._next_symbol()
    try:
        look.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the look waited")


def group_of(queue: RequestQueue, symbol: str) -> object:
    if symbol in queue.syncs:
        return "sync"
    return next(kind for kind, group in queue.refresh_groups() if symbol in group)


def assert_filed(queue: RequestQueue) -> None:
    """Every queued request in the one group its kind says; no group empty."""
    requests = dict(queue.items())
    assert dict(queue.syncs) == {s: r for s, r in requests.items() if not r.refresh}
    refreshes: dict[str, Request] = {}
    for kind, group in queue.refresh_groups():
        assert group, f"empty group {kind}"
        assert all(r.refresh and BudgetRules.kind(r) == kind and requests[s] is r for s, r in group.items())
        refreshes.update(group)
    assert refreshes == {s: r for s, r in requests.items() if r.refresh}
    assert len(queue.syncs) + sum(len(group) for _, group in queue.refresh_groups()) == len(queue)


def test_a_queued_request_moves_to_its_new_group_when_its_kind_changes_and_leaves_no_empty_group():
    clock = [MINUTE + 10]
    sched = scheduler(spent(0, clock[0]), clock)
    queue = sched._queued
    sched.request("AUSDT", refresh=True, room=100)
    assert group_of(queue, "AUSDT") == (False, False, False, 1000)
    sched.update_room("AUSDT", URGENT_ROOM - 1)
    assert group_of(queue, "AUSDT") == (False, False, True, 1000)
    sched.update_room("AUSDT", LOSING_ROOM - 1)
    assert group_of(queue, "AUSDT") == (False, True, True, 1000)
    sched.set_priority("AUSDT", True)
    assert group_of(queue, "AUSDT") == (True, True, True, 1000)
    sched.request("AUSDT", refresh=True, high=True, room=100)  # asked again with more room: keeps the least
    sched.update_room("AUSDT", 100)  # the manager's re-ranking: the book moved away from its horizon
    assert group_of(queue, "AUSDT") == (True, False, False, 1000)
    assert len(list(queue.refresh_groups())) == 1  # the groups it left are gone
    sched.request("BUSDT", refresh=True, high=True, room=100)
    sched.request("AUSDT", limit=100)  # its book gapped: now a sync
    assert group_of(queue, "AUSDT") == "sync" and group_of(queue, "BUSDT") == (True, False, False, 1000)
    sched._requeue("BUSDT", Request(100, refresh=False, high=True, order=0), front=True, delay=0.0)  # a sync failed
    assert group_of(queue, "BUSDT") == "sync" and list(queue.refresh_groups()) == []
    assert_filed(queue)
    sched.request("CUSDT", refresh=True, room=10)
    sched.cancel("AUSDT")
    assert take(sched)[0] == "BUSDT" and take(sched)[0] == "CUSDT"
    assert len(queue) == 0 and not queue.syncs and list(queue.refresh_groups()) == []
    assert_filed(queue)


def test_a_look_over_a_thousand_deepenings_that_must_wait_checks_the_budget_once_per_kind():
    clock = [MINUTE + 10]
    now = clock[0]
    budget = spent(round(1000 * (1 - SYNC_RESERVE_SHARE - URGENT_RESERVE_SHARE)), now)  # the deepenings' share
    sched = scheduler(budget, clock)
    for i in range(1000):
        sched.request(f"D{i:04d}USDT", refresh=True, high=True, room=200)  # deepenings: the next minute
    for i in range(3):
        sched.request(f"U{i}USDT", refresh=True, high=True, room=URGENT_ROOM - 10 - i)  # urgent: go now
    for i in range(10):
        sched.request(f"S{i}USDT", high=True)
    checks = 0
    refresh_wait = sched._budget.refresh_wait

    def counting(req: Request, now: float) -> float:
        nonlocal checks
        checks += 1
        return refresh_wait(req, now)

    sched._budget.refresh_wait = counting  # type: ignore[method-assign]
    picks = []
    for _ in range(14):
        checks = 0
        best, wake_at = sched._pick(now)
        assert checks <= 2, checks  # one per kind queued (deepenings and urgent ones), not one per refresh
        if best is None:
            assert wake_at is not None and wake_at > now
            break
        picks.append(best)
        sched._queued.pop(best)
    # Urgent refreshes of recorded books first, the fewest levels first (Request.key), then the syncs.
    assert picks == ["U2USDT", "U1USDT", "U0USDT"] + [f"S{i}USDT" for i in range(10)]
    assert len(sched.queued_refreshes) == 1000


ROOMS = st.sampled_from([-3, 0, LOSING_ROOM - 1, LOSING_ROOM, URGENT_ROOM - 1, URGENT_ROOM, 80, 480])
SYMBOLS = st.sampled_from(["AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT", "FUSDT", "GUSDT"])
OPS = st.one_of(
    st.tuples(
        st.just("request"), SYMBOLS, st.booleans(), st.booleans(), ROOMS,
        st.sampled_from([None, 100, 500, 1000]), st.booleans(), st.booleans(), st.booleans(),
    ),
    st.tuples(st.just("room"), SYMBOLS, ROOMS),
    st.tuples(st.just("priority"), SYMBOLS, st.booleans()),
    st.tuples(st.just("cancel"), SYMBOLS),
    st.tuples(st.just("requeue"), SYMBOLS, st.booleans(), st.booleans(), st.booleans()),
    st.tuples(st.just("take")),
    st.tuples(st.just("slots"), st.integers(0, 1)),
    st.tuples(st.just("later"), st.floats(0.0, 3.0)),
    st.tuples(st.just("rate limited"), st.floats(0.0, 2.0)),
)


def reference(sched: SnapshotScheduler, now: float) -> tuple[str | None, float | None]:
    """What to fetch now, judging each request on its own (the module docstrings' rules), and when one may go."""
    rules = sched._budget
    if now < sched.rate_limited_until:
        return None, sched.rate_limited_until
    slots_full = sched.refreshes_in_flight >= sched._refresh_slots
    ready, later = [], []
    for symbol, req in sched._queued.items():
        if req.refresh and slots_full:
            continue
        wait = rules.refresh_wait(req, now) if req.refresh else rules.sync_wait(now)
        ready_at = max(sched._not_before.get(symbol, 0.0), now + wait)
        (ready if ready_at <= now else later).append((req.key(), symbol, ready_at))
    return min(ready)[1] if ready else None, min((at for *_, at in later), default=None)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 1100), st.floats(0.0, 59.0), st.integers(0, 40), st.lists(OPS, min_size=1, max_size=40)
)  # fmt: skip
def test_the_grouped_look_picks_what_a_look_at_every_request_picks(used, second, to_come, ops):
    clock = [MINUTE + second]
    sched = scheduler(spent(used, clock[0]), clock, to_come)
    for op in ops:
        match op:
            case ("request", symbol, refresh, high, room, limit, quiet, retry, calm):
                sched.request(
                    symbol, retry, limit=limit, refresh=refresh, high=high, room=room, quiet=quiet, calm=calm
                )
            case ("room", symbol, room):
                sched.update_room(symbol, room)
            case ("priority", symbol, high):
                sched.set_priority(symbol, high)
            case ("cancel", symbol):
                sched.cancel(symbol)
            case ("requeue", symbol, refresh, high, front):  # a fetch that failed
                sched._requeue(symbol, Request(500, refresh, high, 0, room=20), front=front, delay=0.3 * front)
            case ("take",):  # a worker takes what may go, if anything
                expected, _ = reference(sched, clock[0])
                if expected is not None:
                    assert take(sched)[0] == expected
            case ("slots", in_flight):
                sched._refreshes_in_flight = in_flight
            case ("later", seconds):
                clock[0] += seconds
            case ("rate limited", seconds):
                sched.rate_limited_until = clock[0] + seconds
        assert_filed(sched._queued)
        now = clock[0]
        best, wake_at = sched._pick(now)
        expected, expected_wake_at = reference(sched, now)
        assert best == expected
        # As soon or sooner (a group that waits wakes a worker at its wait, whatever its requests' own delays),
        # never now or before: no look that finds nothing is followed at once by another.
        assert (wake_at is None) == (expected_wake_at is None)
        assert wake_at is None or now < wake_at <= expected_wake_at  # type: ignore[operator]


def test_the_refreshes_new_to_the_queue_are_told_once_whether_asked_or_put_back():
    # The horizon watch counts again the room of a refresh new to the queue, and of no other it was not told changed:
    # a refresh put back after a failed fetch is new again; a sync is none of its business.
    clock = [MINUTE]
    sched = scheduler(spent(0, MINUTE), clock)
    sched.request("AUSDT", refresh=True, room=50)
    sched.request("BUSDT")
    sched.request("CUSDT", refresh=True, room=5)
    assert sched.take_new_refreshes() == {"AUSDT", "CUSDT"} and sched.take_new_refreshes() == set()
    assert sched.is_waiting_refresh("AUSDT") and not sched.is_waiting_refresh("BUSDT")
    sched.request("AUSDT", refresh=True, room=40)  # asked again while queued: not new
    assert sched.take_new_refreshes() == set()
    symbol, req = "CUSDT", sched._queued.pop("CUSDT")  # taken by a worker
    assert not sched.is_waiting_refresh(symbol)
    sched._requeue(symbol, req, front=False, delay=0)  # a failed fetch's request put back
    assert sched.take_new_refreshes() == {"CUSDT"} and sched.is_waiting_refresh("CUSDT")
