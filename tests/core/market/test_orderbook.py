import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.market import book_side
from core.market.orderbook import OrderBook, Side
from core.market.wire import WireFormatError, decimal_ticks, parse_stream_message, ticks_to_decimal


def make_book(side: type = Side) -> OrderBook:
    book = OrderBook("BTCUSDT", side=side)
    book.load_snapshot(
        bids=[["100.00000000", "1.00000000"], ["99.00000000", "2.00000000"], ["98.00000000", "3.00000000"]],
        asks=[["101.00000000", "1.50000000"], ["102.00000000", "2.50000000"]],
        last_update_id=10,
    )
    return book


def test_top_levels_are_ordered_best_first():
    book = make_book()
    assert [tuple(level) for level in book.top_bids(2)] == [
        ("100.00000000", "1.00000000"),
        ("99.00000000", "2.00000000"),
    ]
    assert [p for p, _ in book.top_asks(10)] == ["101.00000000", "102.00000000"]
    assert book.best_bid()[0] == "100.00000000"
    assert book.best_ask()[0] == "101.00000000"
    assert (book.bid_count, book.ask_count, book.last_update_id) == (3, 2, 10)


def test_zero_quantity_removes_and_unknown_delete_is_harmless():
    book = make_book()
    book.apply(
        bids=[["100.00000000", "0.00000000"], ["50.00000000", "0.00000000"]], asks=[], final_update_id=11
    )
    assert [p for p, _ in book.top_bids(5)] == ["99.00000000", "98.00000000"]
    assert book.last_update_id == 11


def test_update_keeps_exchange_strings_and_numeric_identity():
    book = make_book()
    # the same price written with fewer decimals is the same level, not a new one
    book.apply(bids=[["99.0", "7.5"]], asks=[], final_update_id=12)
    assert book.bid_count == 3
    assert book.top_bids(3)[1] == ("99.0", "7.5")


@pytest.mark.parametrize("side", [book_side.Side, Side], ids=["python", "default"])  # default: the compiled one
def test_crossed_book_is_detected_and_apply_says_so(side):
    book = make_book(side)
    assert not book.is_crossed()
    assert book.apply(bids=[["100.50000000", "1.00000000"]], asks=[], final_update_id=11) is False
    assert book.apply(bids=[["101.00000000", "1.00000000"]], asks=[], final_update_id=12) is True
    assert book.is_crossed()
    assert book.apply(bids=[["101.00000000", "0"]], asks=[["100.00000000", "2.0"]], final_update_id=13) is True
    assert book.apply(bids=[], asks=[["100.00000000", "0"], ["99.00000000", "0"]], final_update_id=14) is False
    assert not book.is_crossed() and book.last_update_id == 14


def test_malformed_level_raises_value_error():
    book = make_book()
    try:
        book.apply(bids=[["abc", "1.0"]], asks=[], final_update_id=11)
    except ValueError:
        pass
    else:
        raise AssertionError("a malformed price must not be accepted")


level = st.tuples(st.integers(1, 5000), st.integers(0, 3))  # price tick, quantity (0 deletes)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.lists(level, max_size=30), st.lists(level, max_size=30)), max_size=40),
    st.sampled_from([1, 4, 256]),
)
def test_book_matches_a_plain_dict_model(events, ladder_depth):
    """Whatever the sequence of updates, the book equals a dict model and its tops are sorted.

    A tiny ladder depth makes the sorted part trim and refill all the time.
    """
    book = OrderBook("X", ladder_depth=ladder_depth, level_cap=None)  # no snapshot: every level is beyond
    model_bids: dict[int, str] = {}
    model_asks: dict[int, str] = {}
    for uid, (bids, asks) in enumerate(events, start=1):
        wire_b = [[ticks_to_decimal(p * 10**6), ticks_to_decimal(q * 10**7)] for p, q in dict(bids).items()]
        wire_a = [[ticks_to_decimal(p * 10**6), ticks_to_decimal(q * 10**7)] for p, q in dict(asks).items()]
        book.apply(wire_b, wire_a, uid)
        for model, wire in ((model_bids, wire_b), (model_asks, wire_a)):
            for p, q in wire:
                if decimal_ticks(q) == 0:
                    model.pop(decimal_ticks(p), None)
                else:
                    model[decimal_ticks(p)] = q
    bids, asks = book.as_dicts()
    assert {decimal_ticks(p): q for p, q in bids.items()} == model_bids
    assert {decimal_ticks(p): q for p, q in asks.items()} == model_asks
    assert [decimal_ticks(p) for p, _ in book.top_bids(1000)] == sorted(model_bids, reverse=True)
    assert [decimal_ticks(p) for p, _ in book.top_asks(1000)] == sorted(model_asks)
    assert [decimal_ticks(p) for p, _ in book.top_bids(5)] == sorted(model_bids, reverse=True)[:5]
    best_bid, best_ask = book.best_bid(), book.best_ask()
    assert (best_bid and decimal_ticks(best_bid[0])) == (max(model_bids) if model_bids else None)
    assert (best_ask and decimal_ticks(best_ask[0])) == (min(model_asks) if model_asks else None)


def test_a_book_deeper_than_its_ladder_stays_ordered_as_the_touch_is_eaten():
    """Deleting the best levels one by one walks down into levels that were only in the dicts."""
    book = OrderBook("X", ladder_depth=4)
    bids = [[ticks_to_decimal((1000 - i) * 10**8), "1.00000000"] for i in range(50)]
    book.load_snapshot(bids, [], 1)
    for i in range(49):
        book.apply([[bids[i][0], "0"]], [], 2 + i)
        assert book.best_bid() == (bids[i + 1][0], "1.00000000")
        assert book.top_bids(3) == [tuple(level) for level in bids[i + 1 : i + 4]]
    assert book.bid_count == 1


def test_a_level_that_is_not_a_pair_of_strings_raises_value_error():
    import pytest

    for bad in ([["1.0"]], [[1.0, "1.0"]], [["1.0", None]], [["1.0", "1.0", "x"]]):
        with pytest.raises(ValueError):
            make_book().apply(bids=bad, asks=[], final_update_id=11)


def test_zero_in_any_spelling_deletes():
    for zero in ("0", "0.0", "0.00000000", "00.000"):
        book = make_book()
        book.apply(bids=[["100.00000000", zero]], asks=[], final_update_id=11)
        assert book.bid_count == 2, zero


def test_bad_quantities_never_reach_a_book_the_wire_refuses_them():
    """The book no longer checks quantities (the wire checks every level once); this is where they stop."""
    import pytest

    for bad in ("", "abc", "1.2.3", "-1.0", "1e-3"):
        frame = orjson.dumps(
            {
                "e": "depthUpdate",
                "E": 1,
                "s": "BTCUSDT",
                "U": 11,
                "u": 11,
                "b": [["100.00000000", bad]],
                "a": [],
            }
        )
        with pytest.raises(WireFormatError):
            parse_stream_message(frame)
