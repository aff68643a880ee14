"""The snapshot horizon of OrderBook: which top levels the book can vouch for (docs/SNAPSHOT_HORIZON.md)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.market.orderbook import OrderBook
from core.market.wire import decimal_ticks, ticks_to_decimal

QTY = "1.00000000"
ZERO = "0.00000000"


def px(value: float | int) -> str:
    return ticks_to_decimal(round(value * 100) * 1_000_000)  # prices on a 0.01 grid


def bids_from(top: float, count: int, step: float = 1.0) -> list[tuple[str, str]]:
    return [(px(top - i * step), QTY) for i in range(count)]


def asks_from(top: float, count: int, step: float = 1.0) -> list[tuple[str, str]]:
    return [(px(top + i * step), QTY) for i in range(count)]


def book_with(bids: int, asks: int, limit: int | None, ladder_depth: int = 256, step: float = 1.0) -> OrderBook:
    book = OrderBook("BTCUSDT", ladder_depth=ladder_depth)
    book.load_snapshot(bids_from(1000, bids, step), asks_from(1001, asks, step), 10, limit)
    return book


@pytest.mark.parametrize(
    ("bids", "asks", "limit", "distance", "verified"),
    [
        (50, 50, 50, (30, 30), True),  # full snapshot: the horizon is each side's last level
        (50, 30, 50, (30, None), True),  # 30 asks for a limit of 50: the ask side is complete
        (20, 20, 20, (0, 0), True),  # the 20th level is the horizon itself: still inside (inclusive)
        (19, 50, 50, (None, 30), True),  # 19 bids for a limit of 50: complete, though fewer than 20
        (19, 19, 19, (-1, -1), False),  # 19 of 19 asked: the exchange may hold more beyond the 19th
        (10, 10, None, (-10, -10), False),  # limit not known: a short side is not taken as complete
        (50, 50, None, (30, 30), True),
        (0, 5, 100, (None, None), True),  # an empty side of a shallow snapshot is complete (empty)
        (0, 5, 5, (None, -15), False),  # no bid at all is a complete (empty) side; 5 of 5 asks is not
    ],
)
def test_horizon_after_a_snapshot(bids, asks, limit, distance, verified):
    book = book_with(bids, asks, limit)
    assert book.horizon_distance(20) == distance
    assert book.verified(20) is verified
    expected_room = min(d if d is not None else 5 for d in distance)
    assert book.horizon_room(20, 5) == min(expected_room, 5)


def test_the_horizon_is_the_snapshots_last_level_and_does_not_move():
    book = book_with(50, 50, 50)
    assert (book.bid_horizon, book.ask_horizon) == (px(951), px(1050))
    assert book.snapshot_limit == 50
    # The touch sweeps down through 25 bids: 30 - 25 levels of room remain behind the 20th.
    book.apply([(px(1000 - i), ZERO) for i in range(25)], [], 11)
    assert book.horizon_distance(20) == (5, 30) and book.verified(20)
    # Five more: the 20th bid is the horizon itself.
    book.apply([(px(975 - i), ZERO) for i in range(5)], [], 12)
    assert book.horizon_distance(20) == (0, 30) and book.verified(20)
    # One more: the 20th bid would lie beyond the horizon, where the exchange may hold levels never sent.
    book.apply([(px(970), ZERO)], [], 13)
    assert book.horizon_distance(20) == (-1, 30) and not book.verified(20)
    assert book.verified(19)
    assert book.bid_horizon == px(951)  # the horizon is a price: it stays where the snapshot ended


def test_levels_an_event_brings_beyond_the_horizon_do_not_verify_the_top():
    book = book_with(30, 30, 30)
    book.apply([(px(1000 - i), ZERO) for i in range(15)], [], 11)  # 15 bids left inside
    # An event mentions bids beyond the horizon (971): they are exact, but levels between them may be missing.
    book.apply([(px(960 - i), QTY) for i in range(10)], [], 12)
    assert book.bid_count == 25
    assert book.horizon_distance(20) == (-5, 10) and not book.verified(20)
    # A new level inside the horizon (here above the touch) does count.
    book.apply([(px(990.5), QTY)], [], 13)
    assert book.horizon_distance(20)[0] == -4


def test_a_level_moving_inside_the_horizon_counts_and_an_ask_horizon_mirrors_it():
    book = book_with(30, 30, 30)
    book.apply([], [(px(1001 + i), ZERO) for i in range(12)], 11)  # asks swept up: 18 left inside
    assert book.horizon_distance(20) == (10, -2)
    book.apply([], [(px(1013.5), QTY), (px(1014.5), QTY)], 12)  # two new asks inside the horizon
    assert book.horizon_distance(20) == (10, 0) and book.verified(20)


def test_clear_knows_nothing_and_adopt_moves_levels_and_horizons():
    book = book_with(50, 50, 50)
    fresh = book_with(100, 80, 100)
    holder = book  # whoever holds the book keeps seeing it
    book.adopt(fresh)
    assert holder.bid_count == 100 and holder.horizon_distance(20) == (80, None)
    assert holder.snapshot_limit == 100 and holder.last_update_id == 10
    assert fresh.is_empty() and not fresh.verified(1)
    book.clear()
    assert not book.verified(1) and book.horizon_distance(20) == (-20, -20)
    assert (book.bid_horizon, book.ask_horizon) == (None, None)


def test_agrees_with_compares_only_inside_both_horizons():
    shallow = book_with(30, 30, 30)
    deep = book_with(60, 60, 60)
    assert shallow.agrees_with(deep) and deep.agrees_with(shallow)
    deep.apply([(px(950), "2.00000000")], [], 11)  # beyond the shallow book's horizon (971): not compared
    assert shallow.agrees_with(deep)
    deep.apply([(px(980), "2.0")], [], 12)  # inside both: a different quantity
    assert not shallow.agrees_with(deep)
    shallow.apply([(px(980), "2.00000000")], [], 12)  # the same quantity, spelt differently
    assert shallow.agrees_with(deep)
    shallow.apply([(px(999.5), QTY)], [], 13)  # a level only one of them holds
    assert not shallow.agrees_with(deep)


def test_deep_horizon_below_a_short_ladder_is_counted_exactly():
    # A ladder of 8 sorted levels: the horizon (the 3000th bid) lies far below it, in the dicts only.
    book = book_with(3000, 3000, 3000, ladder_depth=8, step=0.1)
    assert book.horizon_distance(20) == (2980, 2980)
    assert book.horizon_room(20, 200) == 200
    book.apply([(px(1000 - i / 10), ZERO) for i in range(2975)], [], 11)
    assert book.horizon_distance(20) == (5, 2980)
    assert book.horizon_room(20, 200) == 5 and book.verified(20)


# --- against a brute-force model ------------------------------------------------------------------------

prices = st.integers(min_value=1, max_value=120)
ops = st.lists(st.tuples(st.booleans(), prices, st.booleans()), max_size=120)


@settings(max_examples=300, deadline=None)
@given(
    bids=st.sets(st.integers(1, 60), max_size=60),
    asks=st.sets(st.integers(61, 120), max_size=60),
    limit=st.one_of(st.none(), st.integers(1, 70)),
    ops=ops,
    n=st.integers(1, 25),
    ladder_depth=st.sampled_from([2, 4, 256]),
)
def test_horizon_queries_match_a_brute_force_count(bids, asks, limit, ops, n, ladder_depth):
    """Whatever the events, `horizon_distance`, `horizon_room` and `verified` equal a naive count of the levels
    held inside the horizon (the snapshot's worst level, or everything if it was shorter than its limit)."""
    snap_bids = sorted(bids, reverse=True)[: limit or None]
    snap_asks = sorted(asks)[: limit or None]
    book = OrderBook("X", ladder_depth=ladder_depth)
    book.load_snapshot([(px(p), QTY) for p in snap_bids], [(px(p), QTY) for p in snap_asks], 1, limit)
    held_b, held_a = set(snap_bids), set(snap_asks)

    def horizon(levels, best_first_key):
        if limit is not None and len(levels) < limit:
            return None  # complete
        return min(levels, key=best_first_key) if levels else "nothing"

    h_bid = horizon(snap_bids, lambda p: p)
    h_ask = horizon(snap_asks, lambda p: -p)
    for uid, (is_bid, price, delete) in enumerate(ops, start=2):
        side, held = (held_b, held_a) if is_bid else (held_a, held_b)
        if not delete and price in held:
            continue  # keep the book uncrossed: a price is a bid or an ask, never both
        level = [(px(price), ZERO if delete else QTY)]
        book.apply(level if is_bid else [], [] if is_bid else level, uid)
        (side.discard if delete else side.add)(price)

    def expected(held, h, inside):
        if h is None:
            return None
        if h == "nothing":
            return -n
        return sum(1 for p in held if inside(p, h)) - n

    d_bid = expected(held_b, h_bid, lambda p, h: p >= h)
    d_ask = expected(held_a, h_ask, lambda p, h: p <= h)
    assert book.horizon_distance(n) == (d_bid, d_ask)
    assert book.verified(n) == all(d is None or d >= 0 for d in (d_bid, d_ask))
    for cap in (0, 3, 50):
        room = min(cap if d is None else min(d, cap) for d in (d_bid, d_ask))
        assert book.horizon_room(n, cap) == room
    # and the top levels themselves are untouched by all this
    assert [decimal_ticks(p) // 1_000_000 for p, _ in book.top_bids(n)] == [
        p * 100 for p in sorted(held_b, reverse=True)[:n]
    ]
