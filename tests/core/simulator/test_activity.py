"""The simulator's whole-market activity: long-tailed rates, books as deep as their rate, events on the grid."""

import random
import statistics

from core.simulator.market import (
    changes_for_depth,
    depth_for_rate,
    long_tailed_activity,
    market_for,
    slots_to_next_event,
)


def test_the_fifty_busiest_have_ten_events_a_second_and_the_median_one():
    symbols = [f"S{i:04d}" for i in range(1500)]
    rates = long_tailed_activity(symbols)
    ordered = [rates[s] for s in symbols]
    assert ordered[:50] == [10.0] * 50
    assert abs(statistics.median(ordered) - 1.0) < 0.01
    assert ordered == sorted(ordered, reverse=True)  # the order given is the order of activity
    assert 0.4 < ordered[-1] < 0.7
    assert 2_000 < sum(ordered) < 3_500  # events per second for the whole market


def test_a_small_market_is_all_busy():
    assert set(long_tailed_activity([f"S{i}" for i in range(60)]).values()) == {10.0}


def test_busy_books_are_deep_and_quiet_ones_shallow():
    assert depth_for_rate(10.0) == 3000
    assert 400 < depth_for_rate(1.0) < 600
    assert depth_for_rate(0.0) >= 100
    assert changes_for_depth(3000) == 10.5 and changes_for_depth(480) == 2.0


def test_a_quiet_market_changes_fewer_levels_per_event():
    busy = market_for("S0001USDT", seed=1, depth=depth_for_rate(10.0))
    quiet = market_for("S0001USDT", seed=1, depth=depth_for_rate(1.0))

    def median_levels(market):
        events = [market.next_event(0) for _ in range(400)]
        return statistics.median(len(e["b"]) + len(e["a"]) for e in events)

    assert median_levels(quiet) < median_levels(busy) / 2


def test_events_come_at_the_asked_rate_on_the_grid():
    rng = random.Random(5)
    for chance in (1.0, 0.5, 0.1, 0.055):
        gaps = [slots_to_next_event(rng, chance) for _ in range(20_000)]
        assert min(gaps) >= 1
        assert abs(statistics.fmean(gaps) - 1 / chance) < 0.05 / chance  # geometric: mean 1 / chance
