"""OrderBookManager keeps books verified in the simulator's fast market: make-before-break refreshes through the
scheduler, within the weight budget, recorded symbols first (docs/SNAPSHOT_HORIZON.md)."""

from __future__ import annotations

import asyncio
import time

import pytest

from core.feed.events import SymbolStateChanged
from core.feed.manager import ManagerConfig, OrderBookManager
from core.market.book_sync import RequestSnapshot, SyncState
from core.recording.recorder import SnapshotRecorder
from core.simulator.server import ExchangeSimulator
from tests.core.feed.relays import RestRelay
from tests.core.feed.sim_helpers import horizon_config, top_matches_truth
from tests.waiting import wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


@pytest.mark.asyncio
async def test_books_stay_live_and_verified_through_refreshes_within_the_budget():
    async with ExchangeSimulator(symbols=SYMBOLS, seed=5, interval_ms=5, fast_market=True) as sim:
        manager = OrderBookManager(horizon_config(sim))
        states: list[SymbolStateChanged] = []
        manager.add_listener(lambda e: states.append(e) if type(e) is SymbolStateChanged else None)
        await manager.start()
        try:
            await manager.subscribe_many(SYMBOLS)
            await wait_until(lambda: all(manager.is_live(s) for s in SYMBOLS), 10, "live books")
            live_at = len(states)
            samples = unverified = 0
            started = time.monotonic()
            while time.monotonic() - started < 4 or min(manager.status(s).refreshes for s in SYMBOLS) < 3:
                assert time.monotonic() - started < 30, [manager.status(s) for s in SYMBOLS]
                await asyncio.sleep(0.013)
                for symbol in SYMBOLS:
                    samples += 1
                    if not manager.book(symbol).verified(20):
                        unverified += 1
                    else:
                        assert top_matches_truth(manager, sim, symbol, 20)
            assert states[live_at:] == []  # no refresh ever took a book out of LIVE
            assert all(manager.status(s).state is SyncState.LIVE for s in SYMBOLS)
            assert unverified <= 0.05 * samples
            assert all(manager.status(s).refresh_mismatches == 0 for s in SYMBOLS)
            # Within the budget: no 429, and the client spent what the exchange charged.
            assert sim.stats.rest_rejected == 0
            assert manager.scheduler.weight_spent == 50 * manager.scheduler.fetched
            assert all(d is None or d >= 0 for d in manager.book("BTCUSDT").horizon_distance(20))
        finally:
            await manager.stop()


@pytest.mark.asyncio
async def test_a_sync_short_of_budget_goes_live_on_100_levels_and_asks_to_deepen_once_it_moves():
    """Cheap start, deep when it moves: with less than a full snapshot's weight left this minute, the book goes live
    on a 100-level snapshot (weight 5) at once instead of waiting for the next minute, and asks for a deeper one
    once its top has used half the room (a fast market's book: within a second)."""
    if time.time() % 60 > 50:  # the budget counts per calendar minute: start well inside one
        await asyncio.sleep(60.5 - time.time() % 60)
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=2, interval_ms=20, fast_symbols=["BTCUSDT"]) as sim:
        manager = OrderBookManager(horizon_config(sim, validate_symbols=False))
        budget = manager.rest.budget
        budget.reserve(budget.allowed - 30, time.time())  # others spent all but 30 of this minute's weight
        await manager.start()
        try:
            await manager.subscribe("BTCUSDT")
            await wait_until(lambda: manager.is_live("BTCUSDT"), 5, "a live book without waiting a minute")
            status = manager.status("BTCUSDT")
            assert status.snapshot_limit == 100 and manager.scheduler.shallow_syncs == 1
            assert manager.book("BTCUSDT").verified(20) and top_matches_truth(manager, sim, "BTCUSDT", 20)
            await wait_until(lambda: manager.status("BTCUSDT").refreshing, 5, "a refresh asked for")
            assert sim.stats.rest_rejected == 0 and budget.used(time.time()) <= budget.allowed
        finally:
            await manager.stop()


@pytest.mark.asyncio
async def test_recorded_symbols_are_high_priority_and_their_depth_is_kept_verified():
    manager = OrderBookManager(ManagerConfig(ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9"))
    asked = []
    manager.scheduler.request = lambda symbol, **kw: asked.append((symbol, kw))  # type: ignore[method-assign]
    recorder = SnapshotRecorder(None, manager, ["ETHUSDT"], depth=50)  # type: ignore[arg-type]
    assert manager.horizon.is_high("ETHUSDT") and not manager.horizon.is_high("BTCUSDT")
    assert manager.horizon.depth_of("ETHUSDT") == 50 and manager.horizon.depth_of("BTCUSDT") == 20
    manager._handle([
        RequestSnapshot("ETHUSDT", retry=False),
        RequestSnapshot("BTCUSDT", False, refresh=True, room=7),
        RequestSnapshot("BNBUSDT", False, refresh=True, quiet=True),
    ])  # fmt: skip
    plain = {"retry": False, "quiet": False, "limit": None, "calm": False}
    assert asked == [
        ("ETHUSDT", {**plain, "refresh": False, "high": True, "room": 0}),
        ("BTCUSDT", {**plain, "refresh": True, "high": False, "room": 7}),  # its urgency goes along
        # A silent book's check (BookSync.check_silence): the cheapest depth answers whether the book is right.
        ("BNBUSDT", {**plain, "refresh": True, "high": False, "room": 0, "quiet": True, "limit": 100}),
    ]
    recorder.stop_recording("ETHUSDT")
    assert not manager.horizon.is_high("ETHUSDT")
    await manager.rest.aclose()


@pytest.mark.asyncio
async def test_a_refresh_keeps_the_events_from_when_its_request_goes_out():
    """Each depth answer comes back 0.2 s after the exchange made it while the fast market runs on: the snapshot
    is older than the book when it arrives, and usable only with the events applied since the request went out."""
    async with (
        ExchangeSimulator(symbols=SYMBOLS, seed=5, interval_ms=5, fast_market=True) as sim,
        RestRelay(sim.rest_url, depth_delay=0.2) as relay,
    ):
        manager = OrderBookManager(horizon_config(sim, rest_url=relay.url))
        await manager.start()
        try:
            await manager.subscribe_many(SYMBOLS)
            await wait_until(lambda: min(manager.status(s).refreshes for s in SYMBOLS) >= 2, 30, "two refreshes each")
            for symbol in SYMBOLS:
                status = manager.status(symbol)
                assert status.snapshots_too_old == 0 and status.refresh_mismatches == 0
                assert top_matches_truth(manager, sim, symbol, 20) or not manager.book(symbol).verified(20)
        finally:
            await manager.stop()
