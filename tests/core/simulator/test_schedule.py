"""The simulator's event grid for every symbol at once (EventSchedule), its subscription index, and a market
without truth: what lets one process carry a whole market."""

import itertools
import statistics

import pytest

from core.simulator.market import market_for
from core.simulator.schedule import EventSchedule
from core.simulator.streams import Route, Session, parse_stream

INTERVAL = 0.1


def run(
    schedule: EventSchedule, seconds: float, step: float = INTERVAL / 10, start: float = 0.0
) -> list[tuple[float, str, int]]:
    """Step a clock from `start` through `seconds`, taking what is due at each step: (time, symbol, slots)."""
    taken = []
    now = start
    while now < start + seconds:
        taken += [(now, symbol, slots) for symbol, slots in schedule.take_due(now, now)]
        now += step
    return taken


def test_each_symbol_gets_its_rate_on_the_grid():
    schedule = EventSchedule(INTERVAL, seed=1)
    schedule.add("BUSY", None, 0.0)
    schedule.add("QUIET", 1.0, 0.0)
    taken = run(schedule, 200.0)
    busy = [t for t, s, _ in taken if s == "BUSY"]
    quiet = [(t, slots) for t, s, slots in taken if s == "QUIET"]
    assert 1990 <= len(busy) <= 2000  # one every interval
    assert all(slots == 1 for _, s, slots in taken if s == "BUSY")
    assert 160 < len(quiet) < 240  # about 1 a second
    # Slots say how far apart the events are on the grid: the time between them, to a step of the clock.
    assert all(abs(b - a - INTERVAL * slots) < INTERVAL / 10 + 1e-9 for (a, _), (b, slots) in itertools.pairwise(quiet))
    assert abs(statistics.fmean(slots for _, slots in quiet) - 10) < 2.5


def test_symbols_are_spread_over_the_interval():
    schedule = EventSchedule(INTERVAL, seed=1)
    for i in range(200):
        schedule.add(f"S{i:04d}", None, 0.0)
    first = {}
    for t, symbol, _ in run(schedule, 0.25, step=0.001):
        first.setdefault(symbol, t)
    assert len(first) == 200
    buckets = {int(t * 100) for t in first.values()}  # tenths of the interval
    assert len(buckets) >= 9


def test_a_removed_symbol_stops_and_a_listed_again_one_starts_afresh():
    schedule = EventSchedule(INTERVAL, seed=1)
    schedule.add("A", None, 0.0)
    schedule.add("B", None, 0.0)
    assert {s for _, s, _ in run(schedule, 1.0)} == {"A", "B"}
    schedule.remove("A")
    assert "A" not in schedule
    assert {s for _, s, _ in run(schedule, 1.0, start=1.0)} == {"B"}
    schedule.add("A", None, 5.0)  # listed again at 5 s: nothing of it is due before
    assert {s for _, s, _ in run(schedule, 3.0, start=2.0)} == {"B"}
    assert {s for _, s, _ in run(schedule, 1.0, start=5.0)} == {"A", "B"}
    schedule.remove("B")
    schedule.remove("A")
    assert schedule.next_due() is None


def test_take_due_takes_at_most_what_it_is_asked_and_leaves_the_rest_due():
    schedule = EventSchedule(INTERVAL, seed=1)
    for i in range(30):
        schedule.add(f"S{i}", None, 0.0)
    first = schedule.take_due(1.0, 1.0, most=10)
    second = schedule.take_due(1.0, 1.0)
    assert len(first) == 10
    assert not {s for s, _ in first} & {s for s, _ in second[:20]}
    assert {s for s, _ in first + second} == {f"S{i}" for i in range(30)}


def test_a_blocked_clock_skips_the_missed_slots_rather_than_burst():
    schedule = EventSchedule(INTERVAL, seed=1)
    schedule.add("A", None, 0.0)
    schedule.take_due(0.1, 0.1)
    assert schedule.take_due(5.0, 5.0) == [("A", 1)]  # 5 s late: one event, not 49
    assert schedule.take_due(5.0, 5.0) == []
    assert 5.0 < schedule.next_due() <= 5.0 + INTERVAL


def test_a_session_knows_its_streams_of_a_symbol_through_subscribe_and_unsubscribe():
    route = Route(True, (parse_stream("btcusdt@depth@100ms"), parse_stream("ethusdt@depth")))
    session = Session(route)
    assert [s.name for s in session.streams_of("BTCUSDT")] == ["btcusdt@depth@100ms"]
    session.handle(b'{"method":"SUBSCRIBE","params":["btcusdt@depth5","btcusdt@depth"],"id":1}')
    assert [s.name for s in session.streams_of("BTCUSDT")] == ["btcusdt@depth@100ms", "btcusdt@depth5", "btcusdt@depth"]
    session.handle(b'{"method":"UNSUBSCRIBE","params":["btcusdt@depth@100ms","ethusdt@depth"],"id":2}')
    assert [s.name for s in session.streams_of("BTCUSDT")] == ["btcusdt@depth5", "btcusdt@depth"]
    assert session.streams_of("ETHUSDT") == ()
    session.handle(b'{"method":"SUBSCRIBE","params":["solusdt@depth@100ms"],"id":3}')  # refused: too many
    session.max_streams = 2
    session.handle(b'{"method":"SUBSCRIBE","params":["xrpusdt@depth@100ms"],"id":4}')
    assert session.streams_of("XRPUSDT") == ()


def test_a_market_without_truth_streams_contiguous_events_and_answers_only_now():
    market = market_for("S0001USDT", seed=3, history=0, depth=500)
    previous = market.last_update_id
    for i in range(300):
        event = market.next_event(i)
        assert event["U"] == previous + 1 and event["u"] >= event["U"]
        assert event["b"] or event["a"]
        assert [p for p, _ in event["b"]] == sorted((p for p, _ in event["b"]), key=float, reverse=True)
        previous = event["u"]
    assert market.oldest_update_id == market.last_update_id == previous
    assert market.snapshot(100)["lastUpdateId"] == previous
    with pytest.raises(ValueError, match="outside the known range"):
        market.book_at(previous - 1)
