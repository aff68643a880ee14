"""What differs between spot and USDⓈ-M futures: weights, limits, paths, continuity and endpoint presets."""

from __future__ import annotations

import pytest

from core.feed.budget import WeightBudget, depth_weight
from core.market.book_sync import Continuity
from core.market.endpoints import BINANCE, BINANCE_USDM, resolve_endpoints
from core.market.markets import SPOT, USDM, market_named


@pytest.mark.parametrize(
    ("limit", "spot", "usdm"),
    [(5, 5, 2), (50, 5, 2), (51, 5, 5), (100, 5, 5), (101, 25, 10), (500, 25, 10), (501, 50, 20),
     (1000, 50, 20), (1001, 250, 20), (5000, 250, 20)],
)  # fmt: skip
def test_depth_weights_by_market(limit, spot, usdm):
    assert depth_weight(limit) == SPOT.depth_weight(limit) == spot
    assert depth_weight(limit, USDM) == usdm


@pytest.mark.parametrize(
    ("wanted", "sent"), [(1, 5), (5, 5), (7, 10), (20, 20), (21, 50), (100, 100), (101, 500), (999, 1000), (5000, 1000)]
)
def test_futures_round_a_wanted_depth_up_to_a_limit_they_accept(wanted, sent):
    assert USDM.request_limit(wanted) == sent
    assert SPOT.request_limit(wanted) == min(wanted, 5000)  # spot takes any limit


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        USDM.depth_weight(0)


def test_the_weight_budget_counts_against_the_market_limit():
    spot, usdm = WeightBudget(), WeightBudget(market=USDM)
    assert (spot.limit_per_minute, spot.allowed) == (6000, 4800)
    assert (usdm.limit_per_minute, usdm.allowed) == (2400, 1920)
    # 96 full futures snapshots (weight 20) fit in one minute's 80 %; the 97th waits for the next minute.
    now = 120.0
    assert all(usdm.reserve(usdm.depth_weight(1000), now) == 0.0 for _ in range(96))
    assert usdm.reserve(usdm.depth_weight(1000), now) == pytest.approx(60.0)


def test_markets_differ_where_binance_differs():
    assert (SPOT.depth_path, USDM.depth_path) == ("/api/v3/depth", "/fapi/v1/depth")
    assert (SPOT.exchange_info_path, USDM.exchange_info_path) == ("/api/v3/exchangeInfo", "/fapi/v1/exchangeInfo")
    assert (SPOT.continuity, USDM.continuity) == (Continuity.SPOT, Continuity.FUTURES)
    assert USDM.depth_limits == (5, 10, 20, 50, 100, 500, 1000)


def test_market_names_are_checked_in_one_sentence():
    assert market_named(" USDM ") is USDM and market_named("spot") is SPOT
    with pytest.raises(ValueError, match=r"^Unknown market 'coinm'; choose one of spot, usdm\.$"):
        market_named("coinm")


def test_the_futures_preset_uses_the_split_hosts_and_belongs_to_usdm():
    assert BINANCE_USDM.ws_url == "wss://fstream.binance.com/public"
    assert BINANCE_USDM.rest_url == "https://fapi.binance.com"
    assert resolve_endpoints(market="usdm") is BINANCE_USDM
    assert resolve_endpoints("binance-usdm").market is USDM
    assert resolve_endpoints() is BINANCE and BINANCE.market is SPOT
    custom = resolve_endpoints(None, "ws://127.0.0.1:9/public", "http://127.0.0.1:9", USDM)
    assert (custom.name, custom.market) == ("custom", USDM)


def test_a_preset_of_the_other_market_is_refused():
    with pytest.raises(ValueError, match="'binance' is for Spot, not USD-M futures"):
        resolve_endpoints("binance", market=USDM)
    with pytest.raises(ValueError, match="'binance-usdm' is for USD-M futures, not Spot"):
        resolve_endpoints("binance-usdm", market="spot")

