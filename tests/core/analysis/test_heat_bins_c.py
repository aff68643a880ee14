"""A minute's heatmap bins in C (core/analysis/_heat_bins.c) against its specification, `numbers_rows_numpy`: the
same rows bit for bit on generated minutes, and the minutes it declines left to the specification."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.analysis import heat_rollups
from core.analysis.heat_rollups import HeatRow, numbers_rows, numbers_rows_numpy

minute_bins = heat_rollups.minute_bins
pytestmark = pytest.mark.skipif(minute_bins is None, reason="the C heatmap bins are not built (pip install -e .)")
RECORD = struct.Struct("=qd")


def records(levels: list[tuple[int, float]]) -> bytes:
    return b"".join(RECORD.pack(ticks, qty) for ticks, qty in levels)


def same_bits(a: HeatRow, b: HeatRow) -> bool:
    # An empty side's sums: numpy's come as int64 when a minute has no book at all; nothing is in them either way.
    pairs = [(a.bid_bins, b.bid_bins), (a.bid_sums, b.bid_sums), (a.ask_bins, b.ask_bins), (a.ask_sums, b.ask_sums)]
    return (a.start, a.width, a.seconds, a.exponent) == (b.start, b.width, b.seconds, b.exponent) and all(
        (x.dtype == y.dtype or not len(x)) and x.tobytes() == y.tobytes() for x, y in pairs
    )


# A price's ticks (1e-8): a unit of 10^k ticks times a few hundred, so minutes need 0 to 8 decimals and their bins
# repeat; quantities any finite double, the zero and the tiniest too.
units = st.sampled_from([1, 10, 1_000, 100_000, 1_000_000, 100_000_000])
quantities = st.one_of(st.floats(0, 1e9, allow_nan=False), st.just(5e-324), st.just(0.1))


@st.composite
def minute(draw) -> list[tuple[bytes, bytes]]:
    unit = draw(units)
    base = draw(st.integers(1, 10**6)) * unit
    books = []
    for _ in range(draw(st.integers(0, 8))):
        sides = []
        for sign in (-1, 1):
            offsets = draw(st.lists(st.integers(0, 60), max_size=20))
            sides.append(records([(base + sign * o * unit + draw(st.sampled_from([0, 0, 0, 1])), draw(quantities))
                                  for o in offsets]))  # fmt: skip
        books.append((sides[0], sides[1]))
    return books


@settings(max_examples=300, deadline=None)
@given(st.lists(minute(), min_size=1, max_size=6))
def test_each_minute_is_the_specifications_bit_for_bit(minutes: list[list[tuple[bytes, bytes]]]) -> None:
    given_minutes = [(60 * k, books) for k, books in enumerate(minutes)]
    fast, spec = numbers_rows(given_minutes), numbers_rows_numpy(given_minutes)
    assert len(fast) == len(spec)
    for a, b in zip(fast, spec, strict=True):
        assert same_bits(a, b), (a, b)


def test_a_minute_whose_prices_lie_decades_apart_is_left_to_the_specification() -> None:
    far = [(records([(100_000_000, 1.0), (10**15, 2.0)]), records([(2 * 10**15, 3.0)]))]  # a bid at 1, one at 10^7
    assert minute_bins(far) is None
    near = [(records([(100_000_000, 1.0)]), records([(200_000_000, 3.0)]))]
    assert minute_bins(near) is not None
    rows = numbers_rows([(0, far), (60, near)])
    assert all(same_bits(a, b) for a, b in zip(rows, numbers_rows_numpy([(0, far), (60, near)]), strict=True))


def test_bins_from_one_end_of_64_bits_to_the_other_are_declined() -> None:
    # Their span, 2^64 bins, does not fit 64 bits: it must not wrap to 0 and pass for a small one (review, session 24).
    extremes = [(records([(-(2**63), 1.0), (2**63 - 1, 2.0)]), b"")]
    assert minute_bins(extremes) is None


def test_sums_are_added_in_the_records_order() -> None:
    # 1e16 + 1 + 1 - 1e16 is 0 in order, 2 in any other: the specification's order is the records'.
    books = [(records([(100_000_000, 1e16), (100_000_000, 1.0)]), b""), (records([(100_000_000, 1.0)]), b""),
             (records([(100_000_000, -1e16)]), b"")]  # fmt: skip
    decimals, (bins, sums), _ = minute_bins(books)
    assert struct.unpack("=d", bytes(sums)) == (0.0,)
    assert (decimals, struct.unpack("=q", bytes(bins))) == (0, (1,))


def test_what_is_not_a_minute_of_records_is_refused() -> None:
    with pytest.raises(TypeError):
        minute_bins(((b"", b""),))  # a tuple of books, not a list
    with pytest.raises(TypeError):
        minute_bins([(b"",)])
    with pytest.raises(ValueError):
        minute_bins([(b"x" * 15, b"")])  # not whole records
    with pytest.raises(ValueError):
        minute_bins([(bytearray(16), b"")])  # records are bytes
