"""The simulator's USDⓈ-M markets (pure): shared-id `pu` chains, futures shapes, the true book at every id."""

from __future__ import annotations

import itertools

import pytest

from core.market.book_sync import BookSync, Continuity, SyncState
from core.market.wire import parse_depth_snapshot, parse_depth_update
from core.simulator.futures import FastFuturesMarket, FuturesMarket, futures_market_for
from core.simulator.market import market_for


@pytest.mark.parametrize("fast", [False, True])
def test_a_client_following_pu_holds_the_true_book_at_every_event(fast):
    market = futures_market_for("BTCUSDT", seed=5, fast=fast)
    assert isinstance(market, FastFuturesMarket if fast else FuturesMarket)
    sync = BookSync("BTCUSDT", Continuity.FUTURES)
    first = market.next_event(1)
    sync.on_event(parse_depth_update(first), now=0.0)
    # A snapshot strictly inside the first event's [U, u] (futures keep the event that straddles it).
    inner = market.straddle_update_id() or first["u"]
    sync.on_snapshot(parse_depth_snapshot(market.snapshot(1000, inner), "BTCUSDT"), now=0.0)
    for t in range(2, 200):
        sync.on_event(parse_depth_update(market.next_event(t)), now=0.0)
    assert sync.state is SyncState.LIVE and sync.counters.gaps == 0
    true_bids, true_asks = market.top_at(market.last_update_id, 50)
    assert sync.book.top_bids(50) == true_bids and sync.book.top_asks(50) == true_asks


def test_ids_are_shared_so_only_pu_chains_and_the_book_moves_as_spot_does():
    futures, spot = futures_market_for("ETHUSDT", seed=9), market_for("ETHUSDT", seed=9)
    events = [futures.next_event(t) for t in range(100)]
    spot_events = [spot.next_event(t) for t in range(100)]
    assert all(b["pu"] == a["u"] for a, b in itertools.pairwise(events))
    assert all(b["U"] > a["u"] + 1 for a, b in itertools.pairwise(events))  # other symbols' ids in between
    # Same seed, same moves: the same number of levels changed each event, only ids and strings differ.
    assert [len(e["b"]) + len(e["a"]) for e in events] == [len(e["b"]) + len(e["a"]) for e in spot_events]


def test_futures_shapes_snapshot_partial_and_ascending_bids():
    market = futures_market_for("BTCUSDT", seed=2)
    event = market.next_event(1_700_000_000_123)
    assert [float(p) for p, _ in event["b"]] == sorted(float(p) for p, _ in event["b"])  # ascending, as captured
    snapshot = market.snapshot(5)
    assert list(snapshot) == ["lastUpdateId", "E", "T", "bids", "asks"]
    assert snapshot["E"] == 1_700_000_000_123 and snapshot["lastUpdateId"] == event["u"]
    partial = market.partial(10)
    assert list(partial) == ["e", "E", "T", "s", "U", "u", "pu", "b", "a"]
    assert (partial["u"], partial["pu"], len(partial["b"])) == (event["u"], event["pu"], 10)
