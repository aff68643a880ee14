"""The bound on levels per side (issue 11): a book drops only levels beyond its snapshot horizon, so its verified
top n, and whether it is verified, are the same as an unbounded book's after any sequence of events."""

from hypothesis import given, settings
from hypothesis import strategies as st

from core.market.orderbook import OrderBook
from core.market.wire import ticks_to_decimal


def _bid(tick: int) -> str:
    return ticks_to_decimal(tick * 10**6)


def _ask(tick: int) -> str:
    return ticks_to_decimal((10_000 + tick) * 10**6)  # asks far above bids: this test is not about crossing


def _qty(q: int) -> str:
    return ticks_to_decimal(q * 10**7)


changes = st.lists(st.tuples(st.integers(1, 400), st.integers(0, 3)), max_size=25)  # (tick, qty; 0 deletes)


@settings(max_examples=150, deadline=None)
@given(
    snapshot_levels=st.integers(1, 60),
    complete=st.booleans(),
    cap=st.integers(0, 40),
    ladder_depth=st.sampled_from([2, 8, 256]),
    events=st.lists(st.tuples(changes, changes), max_size=60),
)
def test_the_verified_top_is_the_same_with_and_without_the_bound(
    snapshot_levels, complete, cap, ladder_depth, events
):
    # Bids from tick 400 down every 3 ticks, asks from 0 up: events land inside, beyond and between them.
    bids = [[_bid(400 - 3 * i), _qty(1)] for i in range(snapshot_levels) if 400 - 3 * i >= 1]
    asks = [[_ask(3 * i), _qty(1)] for i in range(snapshot_levels)]
    limit = snapshot_levels + 1 if complete else snapshot_levels  # fewer levels than the limit: complete
    bounded = OrderBook("X", ladder_depth=ladder_depth, level_cap=cap)
    unbounded = OrderBook("X", ladder_depth=ladder_depth, level_cap=None)
    for book in (bounded, unbounded):
        book.load_snapshot(bids, asks, 1, limit)
    for uid, (bid_changes, ask_changes) in enumerate(events, start=2):
        wire_b = [[_bid(t), _qty(q)] for t, q in dict(bid_changes).items()]
        wire_a = [[_ask(400 - t), _qty(q)] for t, q in dict(ask_changes).items()]
        for book in (bounded, unbounded):
            book.apply(wire_b, wire_a, uid)
        for n in (1, 2, 5, 20, 80):
            assert bounded.verified(n) == unbounded.verified(n), n
            assert bounded.horizon_distance(n) == unbounded.horizon_distance(n), n
            assert bounded.horizon_room(n, 7) == unbounded.horizon_room(n, 7), n
            if unbounded.verified(n):
                assert bounded.top_bids(n) == unbounded.top_bids(n), n
                assert bounded.top_asks(n) == unbounded.top_asks(n), n
    assert bounded.bid_horizon == unbounded.bid_horizon and bounded.ask_horizon == unbounded.ask_horizon


def test_levels_beyond_the_horizon_are_bounded_and_the_best_of_them_kept():
    book = OrderBook("X", ladder_depth=8, level_cap=50)
    snapshot = [[_bid(10_000 - i), _qty(1)] for i in range(40)]  # the horizon is tick 9,961
    book.load_snapshot(snapshot, [], 1, limit=40)
    for i in range(2_000):  # a level a tick deeper each time, all beyond the horizon
        book.apply([[_bid(9_900 - i), _qty(2)]], [], 2 + i)
        assert book.bid_count <= 50 + 16
    kept = book.top_bids(1_000)
    assert kept[:40] == [tuple(level) for level in snapshot]  # every level inside the horizon stays
    prices = [p for p, _ in kept[40:]]
    # The ones beyond it that stay are the best (nearest the horizon) of what is left after each drop.
    assert prices == sorted(prices, key=lambda p: -float(p)) and prices[0] == _bid(9_900)
    assert book.verified(40) and not book.verified(41)


def test_levels_inside_the_horizon_are_never_dropped_even_above_the_cap():
    book = OrderBook("X", level_cap=10)
    snapshot = [[_bid(10_000 - i), _qty(1)] for i in range(100)]
    book.load_snapshot(snapshot, [], 1, limit=100)
    book.apply([[_bid(5_000 - i), _qty(1)] for i in range(200)], [], 2)  # 200 beyond: all dropped
    assert book.bid_count == 100
    assert book.horizon_distance(20) == (80, None)  # the empty ask side came complete


def test_a_complete_side_is_never_cut():
    book = OrderBook("X", level_cap=10)
    book.load_snapshot([[_bid(10_000), _qty(1)]], [], 1, limit=1000)  # fewer than the limit: the whole side
    book.apply([[_bid(9_000 - i), _qty(1)] for i in range(300)], [], 2)
    assert book.bid_count == 301 and book.verified(301)
