"""The simulator's fast-market stretch (Faults.fast_market, set_trend): only the `fast_symbols` are fast markets,
calm until a stretch, trending thousands of ticks a minute during it, calm again after."""

from __future__ import annotations

import pytest

from core.simulator.market import FastMarket
from core.simulator.server import ExchangeSimulator
from tests.waiting import wait_until


def _net_move(market: FastMarket, events: int) -> float:
    """Ticks the mid ends up from where it was, over the next `events` events."""
    before = market.mid_offset
    for i in range(events):
        market.next_event(i)
    return abs(market.mid_offset - before)


@pytest.mark.asyncio
async def test_a_stretch_makes_only_the_fast_symbols_run_then_calms_them():
    sim = ExchangeSimulator(symbols=["BTCUSDT", "SOAK009USDT"], seed=3, fast_symbols=["soak009usdt"])
    fast = sim.market("SOAK009USDT")
    assert isinstance(fast, FastMarket)
    assert not isinstance(sim.market("BTCUSDT"), FastMarket)
    sim.faults.set_trend(0.0)
    assert _net_move(fast, 300) < 400  # calm: noise and the odd jump (a random walk of some 80 ticks)
    sim.faults.fast_market(seconds=0.05, speed=8.0)
    assert _net_move(fast, 300) > 1200  # some 8 ticks an event, one way for most of a 300-event leg
    await wait_until(lambda: _net_move(fast, 100) < 400, timeout=5, what="the stretch to end")
    sim.faults.set_trend(8.0, "BTCUSDT")  # a normal market has no trend: nothing to set, nothing fails
    assert _net_move(fast, 300) < 400


def test_a_fast_market_event_always_changes_a_level_even_calm_after_a_stretch():
    """Calm after a stretch, over the levels the run left behind, a FastMarket drew events whose every change was a
    no-op and raised in `_record` (here at event 640: its generator task died and the symbol froze, found by the
    soak); every event now changes at least one level."""
    sim = ExchangeSimulator(symbols=["SOAK009USDT"], seed=3, fast_symbols=["SOAK009USDT"])
    market = sim.market("SOAK009USDT")
    for speed in (0.0, 8.0, 0.0):
        sim.faults.set_trend(speed)
        for i in range(300):
            event = market.next_event(i)
            assert event["b"] or event["a"]
