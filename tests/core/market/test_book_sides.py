"""The compiled side (core/market/_book_side.c) against the pure-Python one (core.market.book_side): fed the
same snapshots and events, including malformed ones, they answer every question the same way."""

from __future__ import annotations

import random
import sys

import msgpack
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.market import book_side
from core.market.book_side import LEVEL_NUMBERS
from core.market.orderbook import OrderBook

compiled = pytest.importorskip("core.market._book_side")

# Prices on a small grid, so that events hit held levels, delete them and insert between them; spelt in the
# ways an exchange (or a hostile frame) may spell the same number.
TICKS = st.integers(min_value=1, max_value=60)


@st.composite
def prices(draw) -> str:
    ticks = draw(TICKS) * 25_000_000  # 0.25 steps
    whole, frac = divmod(ticks, 10**8)
    spelling = draw(st.sampled_from(["8", "short", "long", "padded", "bare", "bad"]))
    if spelling == "8":
        return f"{whole}.{frac:08d}"
    if spelling == "short":
        return f"{whole}.{frac:08d}".rstrip("0").rstrip(".") if frac else f"{whole}.0"
    if spelling == "long":
        return f"{whole}.{frac:08d}00"
    if spelling == "padded":  # longer than the compiled side keeps in its arrays: kept as the str object
        return f"{whole}.{frac:08d}" + "0" * 16
    if spelling == "bare":
        return str(whole) if not frac else f"{whole}.{frac:08d}"
    return draw(st.sampled_from(["", ".5", "1.2.3", "1e5", "-1.0", "1.000000001", "12345678", "٣.5", "1.0000000000"]))


QTYS = st.sampled_from(["0.00000000", "0", "0.0", "1.00000000", "2.5", "0.00100000", "7", "3.10",
                        "9007199254740993", "0.30000000000000004441", "2.500000000000000000000000"])  # fmt: skip
# (float()'s rounding, too; the last is longer than the compiled side keeps in its arrays)
LEVELS = st.lists(st.tuples(prices(), QTYS), max_size=12)


def both(cap: int | None) -> tuple[book_side.Side, book_side.Side, compiled.Side, compiled.Side]:
    return book_side.Side(+1, 4, cap), book_side.Side(-1, 4, cap), compiled.Side(+1, 4, cap), compiled.Side(-1, 4, cap)


def outcome(call, *args):
    try:
        return ("ok", call(*args))
    except (ValueError, TypeError) as exc:
        return ("error", type(exc) if isinstance(exc, TypeError) else ValueError)


def answers(side) -> tuple:
    rooms = tuple(side.room(n, cap) for n in (0, 1, 3, 20) for cap in (0, 2, sys.maxsize))
    return (
        side.top(0), side.top(3), side.top(100), side.best(), side.best_rank(), len(side), side.as_dict(),
        side.complete, side.horizon_price(), rooms, side.capture(3), side.capture(100),
    )  # fmt: skip


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("load"), LEVELS, st.sampled_from([None, 2, 5, 40])),
        st.tuples(st.just("apply"), LEVELS, st.none()),
        st.tuples(st.just("clear"), st.none(), st.none()),
    ),
    max_size=25,
)


@settings(max_examples=400, deadline=None)
@given(steps=STEPS, cap=st.sampled_from([None, 0, 3, 8]))
def test_the_compiled_side_answers_as_the_python_side_does(steps, cap):
    py_bids, py_asks, c_bids, c_asks = both(cap)
    for action, levels, limit in steps:
        for py, c in ((py_bids, c_bids), (py_asks, c_asks)):
            if action == "load":
                assert outcome(py.load, levels, limit)[0] == outcome(c.load, levels, limit)[0]
            elif action == "apply":
                assert outcome(py.apply, levels) == outcome(c.apply, levels)
            else:
                py.clear()
                c.clear()
            assert answers(c) == answers(py)
    assert c_bids.agrees_with(c_bids) and py_bids.agrees_with(py_bids)


@pytest.mark.parametrize("cap", [None, 300])
def test_a_deep_side_changed_at_every_depth_stays_the_python_sides(cap):
    # A side of hundreds of levels, changed near its front (the worst levels), near the touch and between: the
    # compiled side moves whichever part of its arrays is shorter, centres them again and grows them, and must
    # still hold what the Python side holds. The small grids above never make a side this deep. The stream is
    # seeded: the same every run.
    rng = random.Random(22)
    py, c = book_side.Side(-1, 4, cap), compiled.Side(-1, 4, cap)
    snapshot = [[f"{p}.00000000", "1.0"] for p in range(1000, 1400)]
    py.load(snapshot, 400)
    c.load(snapshot, 400)
    for step in range(3000):
        levels = []
        for _ in range(rng.randint(1, 15)):
            where = rng.random()
            price = rng.randint(1000, 1010) if where < 0.5 else rng.randint(1000, 2200)
            if where > 0.9:  # the far end: the worst levels held, and beyond them
                price = rng.randint(1300, 2200)
            qty = "0.00000000" if rng.random() < 0.45 else f"{rng.randint(1, 9)}.5"
            levels.append([f"{price}.00000000", qty])
        py.apply(levels)
        c.apply(levels)
        if step % 50 == 0 or step > 2990:
            assert answers(c) == answers(py)
    assert c.as_dict() == py.as_dict() and len(c) > 300


@settings(max_examples=200, deadline=None)
@given(first=LEVELS, second=LEVELS, events=LEVELS, limit=st.sampled_from([None, 3, 40]))
# Found by hypothesis: a quantity of 20 decimals (a snapshot's are not parsed) made the compiled side raise where the
# Python side, comparing its prices first, said False; both now say such different strings differ.
@example(first=[("0.25000000", "1.00000000"), ("0.75000000", "1.00000000")],
         second=[("0.25000000", "0.30000000000000004441"), ("0.50000000", "1.00000000")], events=[], limit=None)
@example(first=[("0.25000000", "1.00000000")], second=[("0.25000000", "0.30000000000000004441")], events=[], limit=None)
def test_two_sides_agree_alike(first, second, events, limit):
    results = []
    for side in (book_side.Side, compiled.Side):
        a, b = side(+1, 4, None), side(+1, 4, None)
        for s, levels in ((a, first), (b, second)):
            outcome(s.load, levels, limit)  # a malformed snapshot leaves the side empty
        outcome(a.apply, events)
        results.append(outcome(a.agrees_with, b))
    assert results[0] == results[1]


def test_a_price_of_eight_digits_and_no_dot_is_a_whole_number():
    # The Python side's fast path once read "12345678" as 0.12345678 (8 characters after a missing dot).
    for side in (book_side.Side, compiled.Side):
        book = OrderBook("X", side=side)
        book.load_snapshot([["12345678", "1"], ["1.00000000", "1"]], [], 1)
        assert book.best_bid() == ("12345678", "1")
        book.apply([["12345677.5", "2"]], [], 2)
        assert book.top_bids(2) == [("12345678", "1"), ("12345677.5", "2")]


def test_prices_beyond_64_bits_keep_their_order():
    # The wire allows 20 integer digits: 1e28 ticks, more than 64 bits hold.
    levels = [["99999999999999999999.5", "1"], ["99999999999999999999.25", "2"], ["18446744073709551616", "3"]]
    for side in (book_side.Side, compiled.Side):
        bids = side(+1, 4, None)
        bids.load(levels, 10)
        assert bids.top(3) == [tuple(level) for level in levels]
        assert bids.best_rank() == 9_999_999_999_999_999_999_950_000_000


def test_an_oversized_snapshot_out_of_order_keeps_the_last_of_each_price():
    levels = [[f"{p}.00000000", str(q)] for q, p in enumerate([5, 3, 9, 3, 1, 9, 7], start=1)]
    py, c = book_side.Side(-1, 4, None), compiled.Side(-1, 4, None)
    py.load(levels, None)
    c.load(levels, None)
    assert c.top(10) == py.top(10) == [("1.00000000", "5"), ("3.00000000", "4"), ("5.00000000", "1"),
                                        ("7.00000000", "7"), ("9.00000000", "6")]  # fmt: skip


@pytest.mark.parametrize("length", [1, 31, 32, 255, 256, 65535, 65536])
@pytest.mark.parametrize("count", [0, 1, 15, 16, 40])
def test_a_capture_packs_as_msgpack_does_and_reads_its_numbers_as_float_does(length, count):
    levels = [[f"{1000 - i}.00000000", "1" * length] for i in range(count)]
    for side in (book_side.Side, compiled.Side):
        bids = side(+1, 4, None)
        bids.load(levels, None)
        packed, numbers = bids.capture(20)
        top = tuple(tuple(level) for level in levels[:20])
        assert packed == msgpack.packb(top)
        assert numbers == b"".join(LEVEL_NUMBERS.pack((1000 - i) * 10**8, float(q)) for i, (_, q) in enumerate(top))



# Quantities as exchanges write them and beyond: up to 20 whole digits and 25 decimals, with or without a dot.
QUANTITY_TEXTS = st.from_regex(r"[0-9]{1,20}(\.[0-9]{0,25})?|\.[0-9]{1,25}", fullmatch=True).filter(
    lambda q: q.strip("0.") != ""  # a zero removes its level: nothing to capture
)


@given(QUANTITY_TEXTS)
@example("0.30000000000000004441")  # 17 significant digits: past the exact path, float()'s own rounding
@example("9007199254740993")  # 2^53 + 1: one more than a double holds
@example("123456789012345")  # 15 significant digits: the exact path's last
@example("123456789012345.00000000")  # trailing zeros after the dot do not count
@example("1234567890123456.00000000")  # 16 significant digits: float()'s own reading
@example("100.0000000000000000000000001")  # zeros held back, then a digit beyond 22 decimals
@example("0.0000000000000000000001")  # 22 decimals
@example("1.")
@example(".5")
def test_the_compiled_capture_reads_every_quantity_as_float_does(qty):
    side = compiled.Side(+1, 4, None)
    side.load([["1.5", qty]], None)
    _, numbers = side.capture(1)
    assert LEVEL_NUMBERS.unpack(numbers) == (150_000_000, float(qty))


def test_a_string_too_long_to_keep_in_the_arrays_is_held_while_its_level_stands_and_released_after():
    # The compiled side keeps short ASCII strings as characters and any other as its str object: that object must
    # live exactly as long as its level (replaced, removed, dropped by a new snapshot or a clear).
    side = compiled.Side(+1, 4, None)
    price = "1." + "0" * 30  # made at run time: a str no other code holds
    qty, other = "2." + "5" * 30, "3." + "5" * 30
    base = sys.getrefcount(price), sys.getrefcount(qty), sys.getrefcount(other)
    side.load([[price, qty], ["0.5", "1.0"]], 10)
    assert (sys.getrefcount(price), sys.getrefcount(qty)) == (base[0] + 1, base[1] + 1)
    assert side.top(1) == [(price, qty)] and side.horizon_price() is None
    side.apply([["1.0", other]])  # the same price, spelt short: the latest spelling wins, the long ones go
    assert (sys.getrefcount(price), sys.getrefcount(qty), sys.getrefcount(other)) == (base[0], base[1], base[2] + 1)
    assert side.top(1) == [("1.0", other)]
    side.apply([[price, "0"]])  # removed
    assert sys.getrefcount(other) == base[2] and side.top(5) == [("0.5", "1.0")]
    side.apply([[price, qty]])
    side.clear()
    assert (sys.getrefcount(price), sys.getrefcount(qty)) == base[:2]


def test_a_replaced_level_releases_its_old_strings_only_once_both_slots_hold_the_new_ones():
    # Found by a review: releasing a held price before the quantity's slot was rewritten let that release's own
    # Python code (a str subclass's __del__) clear the side, and the quantity was then released a second time.
    side = compiled.Side(+1, 4, None)

    class Price(str):
        def __del__(self):
            side.clear()

    qty = "7" * 30  # held as its object: one reference the side owns, one this test keeps
    price = Price("١٠٠")  # "100" in Arabic-Indic digits: a price kept as its object, owned by the side alone
    side.apply([[price, qty]])
    held = sys.getrefcount(qty)
    del price
    side.apply([["100", "1"]])  # the same level: both old objects go, and the price's __del__ clears the side
    assert sys.getrefcount(qty) == held - 1 and len(side) == 0


def test_a_book_that_adopts_a_book_of_python_sides_applies_events_through_them():
    book, other = OrderBook("BTCUSDT"), OrderBook("BTCUSDT", side=book_side.Side)
    other.load_snapshot([["100.0", "1.0"]], [["101.0", "1.0"]], 10)
    book.adopt(other)
    assert book.apply([["100.5", "2.0"]], [], 11) is False and book.top_bids(1) == [("100.5", "2.0")]
