"""USDⓈ-M futures end to end: OrderBookManager (market USDM) against the simulator in its USDⓈ-M mode.

The simulator's futures events chain by `pu` with ids shared across symbols (U is never the previous u + 1), so
a client that checked spot continuity would resync on every event; one that follows `pu` holds the true book.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import httpx
import orjson
import pytest
import pytest_asyncio

from core.feed.budget import WeightBudget
from core.feed.errors import InvalidSymbolError
from core.feed.events import SymbolStateChanged
from core.feed.manager import ManagerConfig, OrderBookManager
from core.feed.rest import RestClient
from core.market.book_sync import Continuity
from core.market.markets import USDM
from core.simulator.server import ExchangeSimulator
from tests.core.feed.sim_helpers import (
    all_live,
    assert_matches_truth,
    assert_only_it_resynced,
    fast_config,
    horizon_config,
    top_matches_truth,
)
from tests.waiting import wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]


@pytest_asyncio.fixture
async def sim():
    simulator = ExchangeSimulator(symbols=SYMBOLS, seed=11, interval_ms=20, usdm=True)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest_asyncio.fixture
async def manager(sim):
    mgr = OrderBookManager(fast_config(sim, market=USDM))
    await mgr.start()
    yield mgr
    await mgr.stop()


@pytest.mark.asyncio
async def test_futures_books_follow_the_pu_chain_and_equal_the_true_book(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    await wait_until(lambda: all(manager.status(s).events_applied >= 30 for s in SYMBOLS), what="30 events each")
    for symbol in SYMBOLS:
        status = manager.status(symbol)
        assert status.gaps == 0 and status.resyncs == 0, (symbol, status)
        assert_matches_truth(manager, sim, symbol)
    assert set(sim.stats.rest_requests) <= {"/fapi/v1/depth", "/fapi/v1/exchangeInfo"}
    assert sim.stats.rest_requests["/fapi/v1/depth"] >= len(SYMBOLS)


@pytest.mark.asyncio
async def test_a_broken_pu_resyncs_that_symbol_only(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    before = {s: manager.status(s) for s in SYMBOLS}
    sim.faults.drop_events("ETHUSDT", n=1)  # the next ETHUSDT event's pu names an event never received
    await wait_until(lambda: manager.status("ETHUSDT").resyncs > before["ETHUSDT"].resyncs, what="ETH resync")
    await all_live(manager)
    await wait_until(lambda: manager.status("ETHUSDT").events_applied > before["ETHUSDT"].events_applied + 10)
    assert_only_it_resynced(manager, sim, "ETHUSDT", before)


@pytest.mark.asyncio
async def test_stale_and_straddling_futures_snapshots_still_give_the_true_book(sim, manager):
    sim.faults.stale_snapshot("BTCUSDT", n=1)
    sim.faults.straddle_snapshot("ETHUSDT", n=1)
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    await wait_until(lambda: manager.status("BTCUSDT").events_applied > 20)
    for symbol in SYMBOLS:
        assert manager.status(symbol).gaps == 0, symbol
        assert_matches_truth(manager, sim, symbol)


@pytest.mark.asyncio
async def test_simulated_futures_events_chain_by_pu_with_shared_ids(sim):
    async with httpx.AsyncClient() as client:
        # The plain-HTTP side answers the futures paths only; spot's is unknown there.
        assert (await client.get(f"{sim.rest_url}/api/v3/depth?symbol=BTCUSDT")).status_code == 404
    market = sim.market("BTCUSDT")
    events = [market.next_event(1_000 + i) for i in range(50)]
    assert all(e["pu"] == prev["u"] for prev, e in itertools.pairwise(events))
    assert not any(e["U"] == prev["u"] + 1 for prev, e in itertools.pairwise(events))
    assert all(list(e) == ["e", "E", "T", "s", "U", "u", "pu", "b", "a"] for e in events)
    # Contract precision, not spot's 8 decimals: BTCUSDT futures tick 0.1, lot 0.001.
    price, qty = events[-1]["a"][0]
    assert len(price.partition(".")[2]) == 1 and len(qty.partition(".")[2]) == 3
    # The true book after an event holds what it set, in the same strings, and not what it deleted.
    last = events[-1]
    bids, asks = market.book_at(last["u"])
    for book, levels in ((bids, last["b"]), (asks, last["a"])):
        for price, qty in levels:
            assert book.get(price) == (None if Decimal(qty) == 0 else qty)
    zeros = {qty for e in events for _, qty in e["b"] + e["a"] if Decimal(qty) == 0}
    assert zeros == {"0.000"}  # a deletion is zero at the lot's precision


@pytest.mark.asyncio
async def test_futures_depth_weights_limits_and_errors(sim):
    rest = RestClient(sim.rest_url, market=USDM)
    try:
        before = sim.stats.used_weight
        snapshot = await rest.depth("BTCUSDT", 1000)
        assert len(snapshot.bids) == 1000
        assert sim.stats.used_weight - before == 20  # the simulator's own table agrees with the client's
        await rest.depth("BTCUSDT", 200)  # not a futures limit: asked as 500, weight 10
        assert sim.stats.used_weight - before == 30
        assert rest.budget.limit_per_minute == 2400
    finally:
        await rest.aclose()
    async with httpx.AsyncClient() as client:
        reply = await client.get(f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=7")
        assert reply.status_code == 400 and orjson.loads(reply.content)["code"] == -1130
        reply = await client.get(f"{sim.rest_url}/fapi/v1/depth?symbol=NOPEUSDT")
        assert reply.status_code == 400 and orjson.loads(reply.content)["code"] == -1121
        reply = await client.get(f"{sim.rest_url}/fapi/v1/depth?symbol=ETHUSDT")
        assert len(orjson.loads(reply.content)["bids"]) == 500  # the futures default
        assert list(orjson.loads(reply.content)) == ["lastUpdateId", "E", "T", "bids", "asks"]


@pytest.mark.asyncio
async def test_futures_weight_limit_answers_429_in_futures_words():
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=3, interval_ms=50, usdm=True, weight_limit=45) as sim:
        async with httpx.AsyncClient() as client:
            url = f"{sim.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=1000"
            codes = [(await client.get(url)).status_code for _ in range(3)]
            reply = await client.get(url)
        assert codes[:2] == [200, 200] and codes[2] == 429
        assert reply.status_code == 429 and "requests per minute" in orjson.loads(reply.content)["msg"]
        assert reply.headers["retry-after"].isdigit()


def test_manager_refuses_a_rest_client_of_another_market():
    config = ManagerConfig(ws_url="ws://127.0.0.1:1", rest_url="http://127.0.0.1:1", market=USDM)
    with pytest.raises(ValueError, match="spot"):
        OrderBookManager(config, rest=RestClient("http://127.0.0.1:1", budget=WeightBudget()))


def test_futures_snapshot_limit_is_checked_against_the_market():
    with pytest.raises(ValueError, match="between 1 and 1000"):
        ManagerConfig(ws_url="ws://127.0.0.1:1", rest_url="http://127.0.0.1:1", market=USDM, snapshot_limit=5000)


def test_a_feed_takes_only_its_market_stream_speeds():
    urls = {"ws_url": "ws://127.0.0.1:1", "rest_url": "http://127.0.0.1:1"}
    assert ManagerConfig(**urls, market=USDM, stream_speed="500ms").continuity is Continuity.FUTURES
    with pytest.raises(ValueError, match="stream_speed must be one of '100ms', '' on Spot"):
        ManagerConfig(**urls, stream_speed="500ms")


@pytest.mark.asyncio
async def test_futures_books_refresh_make_before_break_in_a_fast_market():
    """The snapshot horizon on futures: deep resting levels, a running mid, refreshes through /fapi/v1/depth
    chained by `pu`; a book never leaves LIVE, its verified top is always the truth, weight 20 a snapshot."""
    symbols = ["BTCUSDT", "ETHUSDT"]
    async with ExchangeSimulator(symbols=symbols, seed=5, interval_ms=5, fast_market=True, usdm=True) as sim:
        manager = OrderBookManager(horizon_config(sim, market=USDM))
        states: list[SymbolStateChanged] = []
        manager.add_listener(lambda e: states.append(e) if type(e) is SymbolStateChanged else None)
        await manager.start()
        try:
            await manager.subscribe_many(symbols)
            await wait_until(lambda: all(manager.is_live(s) for s in symbols), 10, "live books")
            live_at, checked = len(states), 0

            def refreshed_and_checked() -> bool:
                nonlocal checked
                for symbol in symbols:
                    if manager.book(symbol).verified(20):
                        assert top_matches_truth(manager, sim, symbol, 20)
                        checked += 1
                return min(manager.status(s).refreshes for s in symbols) >= 2

            await wait_until(refreshed_and_checked, 30, "two refreshes of every book")
            assert states[live_at:] == []  # no refresh ever took a book out of LIVE
            assert checked > 0 and all(manager.status(s).refresh_mismatches == 0 for s in symbols)
            assert sim.stats.rest_rejected == 0
            assert manager.scheduler.weight_spent == 20 * manager.scheduler.fetched
        finally:
            await manager.stop()


@pytest.mark.asyncio
async def test_an_unknown_futures_symbol_is_refused_with_its_name(sim, manager):
    # /fapi/v1/exchangeInfo takes no symbol parameter: the client asks for the whole list (weight 1) and looks.
    with pytest.raises(InvalidSymbolError, match="NOPEUSDT"):
        await manager.subscribe("NOPEUSDT")
    check = await manager.rest.check_symbols(["BTCUSDT", "NOPEUSDT"])
    assert (check.valid, check.unknown) == (["BTCUSDT"], ("NOPEUSDT",))
    assert manager.symbols == []
