"""The compiled series row (core/analysis/_series_row.c) gives the very bytes of the Python one, `series_from_snapshot`
over the captured numbers, on generated books; and it leaves to Python what it cannot do to the last bit."""

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.analysis.series import SeriesRow, series_from_snapshot, series_row_bytes
from core.market.book_side import LEVEL_NUMBERS
from core.market.orderbook import OrderBook, TopNumbers
from core.storage.snapshot import SNAPSHOT_DEPTH, OrderBookSnapshot

_series_row = pytest.importorskip("core.analysis._series_row", reason="the extension is not built")
captured_row = _series_row.captured_row

TS = 1_795_000_000

# Quantities as a book holds them: positive, finite, some with many digits (their sums round), some huge or tiny.
quantities = st.one_of(
    st.floats(min_value=1e-8, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, 0.2, 0.30000000000000004, 1e-8, 9007199254740993.0, 1e300, 5e-324, 123.456789]),
)
prices = st.integers(min_value=1, max_value=2**53)  # ticks of 1e-8


def records(levels: list[tuple[int, float]]) -> bytes:
    return b"".join(LEVEL_NUMBERS.pack(ticks, qty) for ticks, qty in levels)


def python_row(bids: bytes, asks: bytes, timestamp: int, update_id: int) -> bytes:
    snap = OrderBookSnapshot.captured("X", b"", update_id, timestamp, TopNumbers(bids, asks))
    return series_from_snapshot(snap).to_bytes()


@settings(max_examples=400, deadline=None)
@given(
    bids=st.lists(st.tuples(prices, quantities), max_size=SNAPSHOT_DEPTH + 5),
    asks=st.lists(st.tuples(prices, quantities), max_size=SNAPSHOT_DEPTH + 5),
    update_id=st.integers(min_value=0, max_value=2**64 - 1),
)
def test_the_compiled_row_is_the_python_row(bids, asks, update_id):
    b, a = records(bids), records(asks)
    row = captured_row(b, a, TS, update_id, SNAPSHOT_DEPTH)
    assert row is not None
    assert row == python_row(b, a, TS, update_id)


@settings(max_examples=200, deadline=None)
@given(qtys=st.lists(quantities, min_size=1, max_size=SNAPSHOT_DEPTH))
def test_volumes_are_summed_exactly_as_math_fsum_sums_them(qtys):
    row = SeriesRow.from_bytes(captured_row(records([(100, q) for q in qtys]), b"", TS, 1, SNAPSHOT_DEPTH))
    assert row.bid_volume == math.fsum(qtys)


def test_a_real_capture_takes_the_compiled_path_and_matches_the_stored_strings():
    book = OrderBook("BTCUSDT")
    book.load_snapshot([("100.00", "0.1"), ("99.99", "0.2")], [("100.01", "0.30000000000000004441")], 1, limit=1000)
    snap = OrderBookSnapshot.from_orderbook(book, TS)
    assert snap.numbers is not None and snap.numbers.whole
    stored = OrderBookSnapshot.from_bytes(snap.symbol, snap.to_bytes())  # strings only: the Python path
    compiled = captured_row(snap.numbers.bid_levels, snap.numbers.ask_levels, TS, snap.update_id, SNAPSHOT_DEPTH)
    assert compiled == series_row_bytes(snap) == series_from_snapshot(stored).to_bytes()
    assert SeriesRow.from_bytes(compiled).bid_volume == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("bids", "asks", "timestamp", "update_id"),
    [
        ([(2**53 + 1, 1.0)], [(2**54, 1.0)], TS, 1),  # Python divides such ticks exactly; a double would round twice
        ([(100, math.inf)], [(101, 1.0)], TS, 1),  # math.fsum's special values
        ([(100, math.nan)], [(101, 1.0)], TS, 1),
        ([(100, 1e308), (99, 1e308)], [(101, 1.0)], TS, 1),  # an overflow math.fsum raises
        ([(100, 1.0)], [(101, 1.0)], TS, -1),  # not a uint64 id: struct's error
        ([(100, 1.0)], [(101, 1.0)], 2**63, 1),  # not an int64 second
    ],
)
def test_what_it_cannot_do_to_the_bit_it_leaves_to_python(bids, asks, timestamp, update_id):
    assert captured_row(records(bids), records(asks), timestamp, update_id, SNAPSHOT_DEPTH) is None


def test_series_row_bytes_takes_the_python_path_where_the_compiled_row_declines():
    bids, asks = records([(100, math.inf)]), records([(101, 1.0)])
    snap = OrderBookSnapshot.captured("X", b"", 7, TS, TopNumbers(bids, asks))
    row = SeriesRow.from_bytes(series_row_bytes(snap))
    assert row.bid_volume == math.inf and row.update_id == 7
    overflow = OrderBookSnapshot.captured("X", b"", 7, TS, TopNumbers(records([(1, 1e308), (2, 1e308)]), asks))
    with pytest.raises(OverflowError):  # as before: the recorder turns it into a SERIALIZE_ERROR gap
        series_row_bytes(overflow)
    with pytest.raises(struct.error):
        series_row_bytes(OrderBookSnapshot.captured("X", b"", -1, TS, TopNumbers(asks, asks)))
