"""Per-second derived series on small hand-built snapshots, and the bulk parse of decimal strings."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.analysis.decimals import parse_decimal_strings
from core.analysis.series import SERIES_FIELDS, SeriesRow, restamp_row, series_from_snapshot, series_to_arrays
from core.storage.keys import MAX_TIMESTAMP

T0 = 1_737_158_400


@dataclass(frozen=True)
class Snap:
    timestamp: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    update_id: int = 0


BOOK = Snap(
    T0,
    bids=(("100.00000000", "2.00000000"), ("99.00000000", "3.00000000")),
    asks=(("101.00000000", "1.00000000"), ("102.00000000", "14.00000000")),
    update_id=77,
)


def test_row_from_hand_book():
    row = series_from_snapshot(BOOK)
    assert (row.timestamp, row.update_id) == (T0, 77)
    assert (row.best_bid, row.best_ask, row.mid, row.spread) == (100.0, 101.0, 100.5, 1.0)
    assert row.spread_bps == pytest.approx(1 / 100.5 * 10_000)  # against the mid
    assert row.microprice == pytest.approx((100 * 1 + 101 * 2) / 3)  # top-of-book sizes, not top-20 sums
    assert (row.bid_volume, row.ask_volume) == (5.0, 15.0)
    assert row.imbalance == 0.25


def test_only_top_20_levels_count():
    bids = tuple((f"{100 - i}", "1") for i in range(30))
    row = series_from_snapshot(Snap(T0, bids, (("101", "1"),)))
    assert row.bid_volume == 20.0


@pytest.mark.parametrize(
    ("bids", "asks", "imbalance"),
    [
        (BOOK.bids, (), 1.0),
        ((), BOOK.asks, 0.0),
        ((), (), 0.5),
    ],
)
def test_one_sided_or_empty_gives_nan(bids, asks, imbalance):
    row = series_from_snapshot(Snap(T0, bids, asks))
    for name in ("mid", "spread", "spread_bps", "microprice"):
        assert math.isnan(getattr(row, name)), name
    assert math.isnan(row.best_bid) == (not bids)
    assert math.isnan(row.best_ask) == (not asks)
    assert row.imbalance == imbalance
    assert row.bid_volume == (5.0 if bids else 0.0)


@pytest.mark.parametrize("snap", [BOOK, Snap(T0, BOOK.bids, ()), Snap(T0, (), ())])
def test_bytes_round_trip(snap):
    row = series_from_snapshot(snap)
    data = row.to_bytes()
    assert len(data) <= 96
    back = SeriesRow.from_bytes(data)
    assert back.to_bytes() == data  # byte equality also holds for the NaN fields
    for name in SERIES_FIELDS:
        a, b = getattr(row, name), getattr(back, name)
        assert a == b or (math.isnan(a) and math.isnan(b)), name


@pytest.mark.parametrize("snap", [BOOK, Snap(T0, BOOK.bids, ())])
@given(second=st.integers(min_value=0, max_value=MAX_TIMESTAMP))
def test_a_restamped_row_is_the_row_at_that_second(snap, second):
    row = series_from_snapshot(snap)
    assert restamp_row(row.to_bytes(), second) == row.at(second).to_bytes()
    assert SeriesRow.from_bytes(restamp_row(row.to_bytes(), second)).timestamp == second


def test_from_bytes_refuses_wrong_length_or_version():
    data = series_from_snapshot(BOOK).to_bytes()
    with pytest.raises(ValueError, match="bytes"):
        SeriesRow.from_bytes(data[:-1])
    with pytest.raises(ValueError, match="version"):
        SeriesRow.from_bytes(b"\x09" + data[1:])


def test_series_to_arrays():
    rows = [series_from_snapshot(BOOK), series_from_snapshot(Snap(T0 + 1, BOOK.bids, (), 78))]
    arrays = series_to_arrays(rows)
    assert set(arrays) == set(SERIES_FIELDS)
    assert arrays["timestamp"].dtype == np.int64 and arrays["timestamp"].tolist() == [T0, T0 + 1]
    assert arrays["update_id"].tolist() == [77, 78]
    assert arrays["mid"][0] == 100.5 and np.isnan(arrays["mid"][1])
    assert series_to_arrays([])["mid"].shape == (0,)


# -------------------------------------------------------------------------------------------- string parsing


@st.composite
def decimal_strings(draw) -> str:
    """Plain decimals as an exchange writes them; up to 18 digits, so the float() fallback runs too."""
    whole = draw(st.integers(0, 10**9))
    places = draw(st.integers(0, 8))
    if places == 0:
        return str(whole)
    return f"{whole}.{draw(st.integers(0, 10**places - 1)):0{places}d}"


@given(st.lists(decimal_strings() | st.sampled_from(["1e5", "-2.5", "0.5", "7", "1234567890.12345678"])))
def test_parse_decimal_strings_equals_float(strings):
    assert parse_decimal_strings(strings).tolist() == [float(s) for s in strings]


def test_parse_exchange_formatting():
    strings = ["67650.01000000", "0.00012000", "12.50000000", "100", ".5"]
    assert parse_decimal_strings(strings).tolist() == [67650.01, 0.00012, 12.5, 100.0, 0.5]
