"""Pure helpers of the gui: formatting, state mapping, the sparkline ring buffer (no Qt)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.market.book_sync import SyncState
from gui.formatting import common_decimals, decimals_of, fmt_bytes, fmt_percent, fmt_rate, trim_to
from gui.models.series_buffer import SeriesBuffer
from gui.values import DisplayState, display_state


@pytest.mark.parametrize(
    ("text", "decimals"),
    [("67650.01000000", 2), ("3.00000000", 0), ("0.00012000", 5), ("42", 0), ("1.23456789", 8)],
)
def test_decimals_of_exchange_strings(text, decimals):
    assert decimals_of(text) == decimals


def test_a_column_shares_its_decimals_and_never_rounds():
    prices = ["60000.01000000", "60000.00000000", "59999.50000000"]
    dp = common_decimals(prices)
    assert dp == 2
    assert [trim_to(p, dp) for p in prices] == ["60000.01", "60000.00", "59999.50"]
    assert trim_to("7", 3) == "7.000"
    assert trim_to("7.5", 0) == "7"


@pytest.mark.parametrize(
    ("state", "error", "shown"),
    [
        (SyncState.LIVE, None, DisplayState.LIVE),
        (SyncState.BUFFERING, None, DisplayState.SYNCING),
        (SyncState.SYNCING, None, DisplayState.SYNCING),
        (SyncState.RESYNCING, None, DisplayState.RESYNCING),
        (SyncState.STALE, None, DisplayState.STALE),
        (None, None, DisplayState.SYNCING),
        (SyncState.LIVE, "BTCX is not a symbol on this exchange.", DisplayState.ERROR),
    ],
)
def test_display_state(state, error, shown):
    assert display_state(state, error) is shown


def test_formatting_of_missing_values_is_a_dash():
    assert fmt_percent(None) == "—"
    assert fmt_percent(math.nan) == "—"
    assert fmt_rate(None) == "—"
    assert fmt_percent(0.9876) == "98.8 %"
    assert fmt_bytes(1536) == "1.5 KB"


def test_series_buffer_keeps_the_newest_samples_in_order():
    buffer = SeriesBuffer(capacity=4)
    for i in range(6):
        buffer.append("BTCUSDT", 100.0 + i, 99.0 + i, 101.0 + i)
    view = buffer.view("BTCUSDT")
    assert view.t.tolist() == [102.0, 103.0, 104.0, 105.0]
    assert view.mid.tolist() == [102.0, 103.0, 104.0, 105.0]
    assert np.allclose(view.spread_bps, [2 / m * 10_000 for m in view.mid])
    assert buffer.view("ETHUSDT").t.size == 0
    buffer.drop("BTCUSDT")
    assert buffer.count("BTCUSDT") == 0


def test_series_view_is_a_copy():
    buffer = SeriesBuffer(capacity=3)
    buffer.append("X", 1.0, 9.0, 11.0)
    view = buffer.view("X")
    buffer.append("X", 2.0, 19.0, 21.0)
    assert view.t.tolist() == [1.0]


def test_small_ratios_keep_significant_digits():
    from gui.formatting import fmt_sig

    assert fmt_sig(0.0016667) == "0.00167"
    assert fmt_sig(1.524) == "1.52"
    assert fmt_sig(12.34) == "12.3"
    assert fmt_sig(math.nan) == "—"
    assert fmt_sig(2e-7) == "0.000000200"  # a tiny figure keeps its digits


def test_span_writes_the_date_once_on_the_same_day():
    import time

    from gui.formatting import fmt_span

    first = int(time.mktime((2025, 1, 18, 9, 0, 0, 0, 0, -1)))
    assert fmt_span(first, first + 3600) == "2025-01-18 09:00:00 → 10:00:00"
    assert fmt_span(first, first + 86_400).count("2025-01-") == 2
    assert fmt_span(None, first) == "—"
