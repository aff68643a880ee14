"""Order flow (reference §2.1) and L1 metrics (reference §3.1) on small hand-built books."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.analysis.l1 import compute_l1_metrics, estimate_slippage
from core.analysis.order_flow import FlowDirection, InsufficientDataError, classify_flow, compute_order_flow

END = 1_737_158_400  # 2025-01-18T00:00:00Z


@dataclass(frozen=True)
class Snap:
    timestamp: int
    bids: tuple[tuple[str, str], ...]
    asks: tuple[tuple[str, str], ...]
    update_id: int = 0


def px(x: float) -> str:
    return f"{x:.8f}"


def side(prices, qtys) -> tuple[tuple[str, str], ...]:
    return tuple((px(p), px(q)) for p, q in zip(prices, qtys, strict=True))


BID_PRICES = [100.0 - i for i in range(20)]
ASK_PRICES = [101.0 + i for i in range(20)]


def grown(n_increases: int, base: float = 1.0) -> list[float]:
    """Twenty quantities where the first n are one unit above the base: n increases against `base`."""
    return [base + (1.0 if i < n_increases else 0.0) for i in range(20)]


def pair(bid_increases: int, ask_increases: int, t0: int = END - 1) -> list[Snap]:
    flat = side(BID_PRICES, grown(0)), side(ASK_PRICES, grown(0))
    return [
        Snap(t0, *flat),
        Snap(t0 + 1, side(BID_PRICES, grown(bid_increases)), side(ASK_PRICES, grown(ask_increases))),
    ]


# ---------------------------------------------------------------------------------------------- order flow


def test_reference_worked_example_is_moderate_buy():
    """W=60, 120 bid and 60 ask increases: rates 2.0 and 1.0, ratio exactly 2.0, and >2.0 is strict."""
    snaps = []
    for i in range(61):  # t = END−60 … END: 60 pairs, each with 2 bid and 1 ask increase
        bid_qtys = [1.0 + i, 1.0 + i] + [1.0] * 18
        ask_qtys = [1.0 + i] + [1.0] * 19
        snaps.append(Snap(END - 60 + i, side(BID_PRICES, bid_qtys), side(ASK_PRICES, ask_qtys)))

    flow = compute_order_flow("btcusdt", snaps, 60, END)

    assert (flow.bid_flow_rate, flow.ask_flow_rate, flow.net_flow) == (2.0, 1.0, 1.0)
    assert flow.flow_direction is FlowDirection.MODERATE_BUY
    assert (flow.snapshot_count, flow.covered_secs, flow.window_duration_secs) == (61, 60, 60)
    assert flow.symbol == "BTCUSDT"


@pytest.mark.parametrize(
    ("bid_increases", "ask_increases", "expected"),
    [
        (13, 6, FlowDirection.STRONG_BUY),  # 2.17 > 2.0
        (12, 6, FlowDirection.MODERATE_BUY),  # exactly 2.0: the > 2.0 test is strict
        (6, 5, FlowDirection.MODERATE_BUY),  # exactly 1.2
        (11, 10, FlowDirection.NEUTRAL),  # 1.1
        (4, 5, FlowDirection.NEUTRAL),  # exactly 0.8
        (15, 20, FlowDirection.MODERATE_SELL),  # 0.75
        (5, 10, FlowDirection.MODERATE_SELL),  # exactly 0.5
        (9, 20, FlowDirection.STRONG_SELL),  # 0.45
        (0, 0, FlowDirection.NEUTRAL),  # no activity (the reference said STRONG_BUY)
        (3, 0, FlowDirection.STRONG_BUY),  # ask zero
        (0, 3, FlowDirection.STRONG_SELL),  # bid zero
    ],
)
def test_direction_thresholds(bid_increases, ask_increases, expected):
    # W=30 makes the rate ratio inexact in floating point (6/30 ÷ 5/30); the boundaries must still hold.
    flow = compute_order_flow("BTCUSDT", pair(bid_increases, ask_increases), 30, END)
    assert flow.bid_flow_rate == bid_increases / 30
    assert flow.ask_flow_rate == ask_increases / 30
    assert flow.flow_direction is expected


def test_only_new_or_grown_levels_count():
    prev = Snap(END - 1, (("100.0", "1.0"), ("99.0", "5.0"), ("98.0", "2.0")), (("101.0", "1.0"),))
    curr = Snap(
        END,
        # 100 grew (+1), 99 shrank (0), 98 unchanged (0), 97 is new (+1)
        (("100.0", "1.5"), ("99.0", "4.0"), ("98.0", "2.0"), ("97.0", "0.1")),
        # 101 cancelled (0), 102 appeared (+1)
        (("102.0", "3.0"),),
    )
    flow = compute_order_flow("BTCUSDT", [prev, curr], 10, END)
    assert (flow.bid_flow_rate, flow.ask_flow_rate) == (0.2, 0.1)


def test_cumulative_delta_is_bid_churn_minus_ask_churn():
    # Bid totals 10 → 12 → 9 (|+2| + |−3| = 5); ask totals 5 → 5 → 6 (0 + 1 = 1): delta 4.
    snaps = [
        Snap(END - 2, (("100", "6"), ("99", "4")), (("101", "5"),)),
        Snap(END - 1, (("100", "8"), ("99", "4")), (("101", "2"), ("102", "3"))),
        Snap(END, (("100", "5"), ("99", "4")), (("101", "6"),)),
    ]
    flow = compute_order_flow("BTCUSDT", snaps, 10, END)
    assert flow.cumulative_delta == pytest.approx(4.0)


@pytest.mark.parametrize("window", [9, 301, 0, -60, 60.0, True])
def test_window_outside_range_is_refused(window):
    with pytest.raises(ValueError, match=rf"^window must be between 10 and 300 seconds, got {window}$"):
        compute_order_flow("BTCUSDT", pair(1, 1), window, END)


@pytest.mark.parametrize("window", [10, 300])
def test_window_limits_are_accepted(window):
    assert compute_order_flow("BTCUSDT", pair(1, 1), window, END).window_duration_secs == window


@pytest.mark.parametrize(
    ("timestamps", "got"),
    [
        ([], 0),
        ([END], 1),
        ([END - 61, END - 70, END], 1),  # the others are before the window
        ([END + 1, END - 30], 1),  # after `end` does not count either
    ],
)
def test_insufficient_data_message(timestamps, got):
    snaps = [Snap(t, side(BID_PRICES, grown(0)), side(ASK_PRICES, grown(0))) for t in timestamps]
    with pytest.raises(InsufficientDataError) as info:
        compute_order_flow("BTCUSDT", snaps, 60, END)
    assert str(info.value) == (
        f"Insufficient historical data: need at least 2 snapshots in the 60 s window, got {got}"
    )


def test_window_is_inclusive_at_both_ends_and_sorted():
    first, second = pair(2, 1, t0=END - 60)
    second = Snap(END, second.bids, second.asks)
    outside = Snap(END - 61, side(BID_PRICES, grown(20, base=50)), side(ASK_PRICES, grown(20, base=50)))
    flow = compute_order_flow("BTCUSDT", [second, outside, first], 60, END)
    assert flow.snapshot_count == 2
    assert flow.covered_secs == 60
    assert (flow.bid_flow_rate, flow.ask_flow_rate) == (2 / 60, 1 / 60)


def test_gappy_window_keeps_nominal_divisor_and_reports_coverage():
    flow = compute_order_flow("BTCUSDT", pair(6, 3, t0=END - 10), 60, END)
    assert flow.covered_secs == 1
    assert flow.bid_flow_rate == 6 / 60  # divided by W, not by the second actually covered


def test_iso_window_strings_and_dict():
    flow = compute_order_flow("BTCUSDT", pair(3, 1), 60, END)
    assert (flow.time_window_start, flow.time_window_end) == ("2025-01-17T23:59:00Z", "2025-01-18T00:00:00Z")
    d = flow.to_dict()
    assert d["flow_direction"] == "STRONG_BUY" and type(d["flow_direction"]) is str
    assert list(d) == [
        "symbol",
        "time_window_start",
        "time_window_end",
        "window_duration_secs",
        "bid_flow_rate",
        "ask_flow_rate",
        "net_flow",
        "flow_direction",
        "cumulative_delta",
        "snapshot_count",
        "covered_secs",
    ]


def test_end_in_milliseconds_is_refused():
    with pytest.raises(ValueError, match="Unix seconds"):
        compute_order_flow("BTCUSDT", pair(1, 1), 60, END * 1000)


@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 5), min_size=20, max_size=20),
            st.lists(st.integers(0, 5), min_size=20, max_size=20),
        ),
        min_size=2,
        max_size=8,
    )
)
def test_swapping_sides_mirrors_the_result(quantities):
    """Bids and asks play symmetric roles: swap them and the rates swap, the delta flips sign.

    (The direction does not simply mirror: the reference's thresholds are not symmetric, 1.2 vs 1/0.8.)
    """
    snaps = [
        Snap(END - i, side(BID_PRICES, bq), side(ASK_PRICES, aq)) for i, (bq, aq) in enumerate(quantities)
    ]
    swapped = [Snap(s.timestamp, s.asks, s.bids) for s in snaps]
    flow = compute_order_flow("BTCUSDT", snaps, 10, END)
    mirror = compute_order_flow("BTCUSDT", swapped, 10, END)
    assert (mirror.bid_flow_rate, mirror.ask_flow_rate) == (flow.ask_flow_rate, flow.bid_flow_rate)
    assert mirror.cumulative_delta == pytest.approx(-flow.cumulative_delta)
    counts = round(flow.bid_flow_rate * 10), round(flow.ask_flow_rate * 10)
    assert flow.flow_direction is classify_flow(*counts)
    # At most 20 increases per side per pair.
    assert flow.bid_flow_rate * 10 <= 20 * (len(snaps) - 1)


# ---------------------------------------------------------------------------------------------- L1 metrics

BIDS = [("100.00", "2"), ("99.00", "3")]
ASKS = [("101.00", "1"), ("102.00", "4")]


def test_l1_hand_numbers():
    m = compute_l1_metrics("BTCUSDT", BIDS, ASKS, 1_737_158_400_123, 42)
    assert (m.best_bid, m.best_ask, m.best_bid_size, m.best_ask_size) == ("100.00", "101.00", 2.0, 1.0)
    assert m.mid_price == 100.5
    assert m.spread == 1.0
    assert m.spread_bps == pytest.approx(100.0)  # 1 / best_bid 100 × 10 000, the reference's base
    # Top-of-book sizes: (100·1 + 101·2) / 3. The reference's top-20 sums would give 100.5 here.
    assert m.microprice == pytest.approx(302 / 3)
    assert (m.bid_volume, m.ask_volume, m.imbalance_ratio) == (5.0, 5.0, 1.0)
    assert (m.timestamp_ms, m.last_update_id) == (1_737_158_400_123, 42)
    assert m.bid_walls == () and m.ask_walls == ()  # median 2.5: no level above 5


def test_walls_are_above_twice_the_combined_median():
    bids = [("100", "1"), ("99", "1"), ("98", "9"), ("97", "2")]
    asks = [("101", "1"), ("102", "2"), ("103", "4"), ("104", "4.5")]
    m = compute_l1_metrics("BTCUSDT", bids, asks, 0, 0)
    # Combined quantities 1 1 9 2 1 2 4 4.5: median 2, threshold 4 (strict).
    assert [(w.price, w.qty, w.side) for w in m.bid_walls] == [("98", 9.0, "Bid")]
    assert [(w.price, w.qty, w.side) for w in m.ask_walls] == [("104", 4.5, "Ask")]
    assert m.to_dict()["walls"] == {
        "bids": [{"price": "98", "qty": 9.0, "side": "Bid"}],
        "asks": [{"price": "104", "qty": 4.5, "side": "Ask"}],
    }


def test_walls_and_volumes_use_only_the_top_20():
    bids = [(px(100 - i), "1") for i in range(25)] + [("50", "1000")]
    m = compute_l1_metrics("BTCUSDT", bids, [("101", "1")], 0, 0)
    assert m.bid_volume == 20.0
    assert m.bid_walls == ()


@pytest.mark.parametrize(
    ("target", "avg", "qty", "usd", "complete"),
    [
        (50, 100.0, 0.5, 50, True),  # inside the best level: no slippage
        (150, 150 / (1 + 50 / 110), 1 + 50 / 110, 150, True),  # VWAP across two levels
        (1000, 105.0, 2.0, 210, False),  # the book runs out: partial fill
    ],
)
def test_slippage_walk(target, avg, qty, usd, complete):
    est = estimate_slippage([("100", "1"), ("110", "1")], target)
    assert est.avg_price == pytest.approx(avg)
    assert est.slippage_bps == pytest.approx(abs(avg - 100) / 100 * 10_000)
    assert (est.filled_qty, est.filled_usd) == (pytest.approx(qty), pytest.approx(usd))
    assert est.complete is complete


def test_slippage_estimates_walk_the_right_side():
    asks = [("101", "100"), ("102", "400")]
    bids = [("100", "150"), ("99", "1000")]
    m = compute_l1_metrics("BTCUSDT", bids, asks, 0, 0)
    assert sorted(m.slippage_estimates) == [
        "buy_10k_usd",
        "buy_25k_usd",
        "buy_50k_usd",
        "sell_10k_usd",
        "sell_25k_usd",
        "sell_50k_usd",
    ]
    assert m.slippage_estimates["buy_10k_usd"].slippage_bps == pytest.approx(0.0)  # 10 100 USD at 101
    buy = m.slippage_estimates["buy_25k_usd"]  # 10 100 at 101, then 14 900 at 102
    assert buy.avg_price == pytest.approx(25_000 / (100 + 14_900 / 102))
    sell = m.slippage_estimates["sell_50k_usd"]  # 15 000 at 100, then 35 000 at 99
    assert sell.avg_price == pytest.approx(50_000 / (150 + 35_000 / 99))
    assert sell.complete


@pytest.mark.parametrize("empty", ["bids", "asks", "both"])
def test_empty_side_gives_nan_not_exceptions(empty):
    bids = [] if empty in ("bids", "both") else BIDS
    asks = [] if empty in ("asks", "both") else ASKS
    m = compute_l1_metrics("BTCUSDT", bids, asks, 0, 0)
    for value in (m.mid_price, m.spread, m.spread_bps, m.microprice):
        assert math.isnan(value)
    assert (m.best_bid is None) == (not bids) and (m.best_ask is None) == (not asks)
    assert m.imbalance_ratio == (5.0 / 5.0 if bids and asks else 0.0)  # ask_volume 0 → 0
    empty_side = "buy" if not asks else "sell"
    est = m.slippage_estimates[f"{empty_side}_10k_usd"]
    assert math.isnan(est.avg_price) and math.isnan(est.slippage_bps)
    assert (est.filled_qty, est.filled_usd, est.complete) == (0.0, 0.0, False)


def test_a_fill_within_the_best_level_has_exactly_no_slippage():
    # 10,000 / (10,000 / 60000.10) is not 60000.10 in floats: the quotient used to give 1.2e-11 bps.
    est = estimate_slippage([("60000.10", "1"), ("60000.20", "1")], 10_000)
    assert est.avg_price == 60000.10 and est.slippage_bps == 0.0
    assert est.filled_qty == pytest.approx(10_000 / 60000.10) and est.complete
