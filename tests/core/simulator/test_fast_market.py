"""The simulator's fast market: deeper than any snapshot, resting levels the stream never mentions until the touch
reaches them, a mid that runs thousands of ticks a minute both ways, and the true book at every update id."""

from __future__ import annotations

import itertools

import pytest

from core.market.orderbook import OrderBook
from core.simulator.market import FastMarket, market_for
from core.simulator.server import ExchangeSimulator

EVENTS_PER_MINUTE = 600  # Binance's 100 ms grid


def apply(book: dict[str, str], levels: list[list[str]]) -> None:
    for price, qty in levels:
        if qty == "0.00000000":
            book.pop(price, None)
        else:
            book[price] = qty


@pytest.fixture(scope="module")
def run() -> tuple[FastMarket, list[dict], list[float]]:
    market = market_for("BTCUSDT", seed=4, fast=True, history=3000)
    assert isinstance(market, FastMarket)
    events, offsets = [], []
    for i in range(2400):
        events.append(market.next_event(1_700_000_000_000 + 100 * i))
        offsets.append(market.mid_offset)
    return market, events, offsets


def test_the_book_is_deeper_than_any_snapshot_and_snapshots_hold_limit_levels():
    market = market_for("ETHUSDT", seed=1, fast=True)
    bids, asks = market.depth_levels()
    assert bids > 5000 and asks > 5000
    for limit in (100, 1000, 5000):
        snap = market.snapshot(limit)
        assert len(snap["bids"]) == len(snap["asks"]) == limit


def test_the_mid_runs_thousands_of_ticks_a_minute_both_ways(run):
    _, _, offsets = run
    minutes = [offsets[i : i + EVENTS_PER_MINUTE] for i in range(0, len(offsets), EVENTS_PER_MINUTE)]
    travelled = [sum(abs(b - a) for a, b in itertools.pairwise(m)) for m in minutes]
    assert min(travelled) > 2000  # ticks of travel in every minute
    assert max(offsets) - min(offsets) > 3000
    ups = sum(b > a for a, b in itertools.pairwise(offsets))
    assert 0.3 < ups / len(offsets) < 0.7  # both directions


def test_events_keep_the_true_book_at_every_update_id(run):
    market, events, _ = run
    start = events[1000]["U"] - 1
    bids, asks = market.book_at(start)
    for event in events[1000:]:
        apply(bids, event["b"])
        apply(asks, event["a"])
    assert (bids, asks) == market.book_at(market.last_update_id)
    middle = events[1500]
    inside = middle["U"]  # a snapshot strictly inside an event is answerable too
    top_bids, top_asks = market.top_at(inside, 20)
    full_bids, full_asks = market.book_at(inside)
    assert dict(top_bids).items() <= full_bids.items() and dict(top_asks).items() <= full_asks.items()


def test_a_book_kept_from_one_snapshot_goes_wrong_and_its_horizon_says_so():
    """The scenario of the issue: a client that applies every event to one limit=1000 snapshot stores wrong
    top-20s once the touch runs past the snapshot; `verified(20)` is False every time it would have been wrong."""
    market = market_for("BTCUSDT", seed=2, fast=True, history=100)
    snap = market.snapshot(1000)
    book = OrderBook("BTCUSDT")
    book.load_snapshot(snap["bids"], snap["asks"], snap["lastUpdateId"], limit=1000)
    wrong = verified_but_wrong = 0
    for i in range(2000):
        event = market.next_event(i)
        book.apply(event["b"], event["a"], event["u"])
        bids, asks = market.top_at(event["u"], 20)
        ok = book.top_bids(20) == bids and book.top_asks(20) == asks
        wrong += not ok
        verified_but_wrong += book.verified(20) and not ok
    assert wrong > 0.1 * 2000  # the problem is real in this market
    assert verified_but_wrong == 0


@pytest.mark.asyncio
async def test_the_simulator_serves_a_fast_market_on_request():
    async with ExchangeSimulator(symbols=["BTCUSDT"], fast_market=True, interval_ms=10) as sim:
        assert isinstance(sim.market("BTCUSDT"), FastMarket)
        sim.add_symbol("ETHUSDT")
        assert isinstance(sim.market("ETHUSDT"), FastMarket)
    async with ExchangeSimulator(symbols=["BTCUSDT"]) as sim:
        assert not isinstance(sim.market("BTCUSDT"), FastMarket)
