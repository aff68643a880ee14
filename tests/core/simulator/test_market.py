"""The simulator's synthetic market: Binance's event shape, its invariants, and the true book."""

from __future__ import annotations

import re
import statistics
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.simulator.market import SyntheticMarket, fmt8, market_for, to_units

EIGHT_DECIMALS = re.compile(r"^[0-9]+\.[0-9]{8}$")
ZERO = "0.00000000"


def apply(book: dict[str, str], levels: list[list[str]]) -> None:
    """Binance's update procedure for one side: absolute quantities, zero removes."""
    for price, qty in levels:
        if qty == ZERO:
            book.pop(price, None)
        else:
            book[price] = qty


def sync_from_snapshot(snapshot: dict, events: list[dict]) -> tuple[dict[str, str], dict[str, str], int]:
    """A client that starts from `snapshot` and applies `events` by Binance's rules."""
    bids = {p: q for p, q in snapshot["bids"]}
    asks = {p: q for p, q in snapshot["asks"]}
    book_id = snapshot["lastUpdateId"]
    for event in events:
        if event["u"] <= book_id:
            continue
        assert event["U"] <= book_id + 1, "gap"
        apply(bids, event["b"])
        apply(asks, event["a"])
        book_id = event["u"]
    return bids, asks, book_id


@pytest.fixture(scope="module")
def long_run() -> tuple[SyntheticMarket, dict, list[dict]]:
    """A BTCUSDT market's full snapshot and the 4000 events after it."""
    market = market_for("BTCUSDT", seed=7, history=5000)
    snapshot = market.snapshot(5000)
    events = [market.next_event(1_700_000_000_000 + 100 * i) for i in range(4000)]
    return market, snapshot, events


def test_events_have_binance_shape_and_order(long_run):
    _, snapshot, events = long_run
    previous_u = snapshot["lastUpdateId"]
    for event in events:
        assert list(event) == ["e", "E", "s", "U", "u", "b", "a"]
        assert event["e"] == "depthUpdate" and event["s"] == "BTCUSDT"
        assert event["U"] == previous_u + 1
        assert event["u"] - event["U"] + 1 >= len(event["b"]) + len(event["a"])
        assert event["b"] or event["a"]
        for side, descending in ((event["b"], True), (event["a"], False)):
            prices = [Decimal(p) for p, _ in side]
            assert prices == sorted(prices, reverse=descending)
            assert len(set(prices)) == len(prices)
            assert all(EIGHT_DECIMALS.match(p) and EIGHT_DECIMALS.match(q) for p, q in side)
        previous_u = event["u"]


def test_events_look_like_a_real_book(long_run):
    _, snapshot, events = long_run
    levels = [len(e["b"]) + len(e["a"]) for e in events]
    entries = [level for e in events for level in e["b"] + e["a"]]
    zero_share = sum(q == ZERO for _, q in entries) / len(entries)
    assert 0.28 <= zero_share <= 0.45
    assert 7 <= statistics.median(levels) <= 15
    assert max(levels) >= 100  # heavy tail
    assert statistics.median(e["u"] - e["U"] + 1 for e in events) >= statistics.median(levels)

    # Deletions of levels the client never had, levels far from the touch, and never a crossed book.
    # Prices as integers of 1e-8 (exact for 8-decimal strings) keep this loop fast.
    def cents(price: str) -> int:
        return int(price.replace(".", ""))

    bids = {cents(p): q for p, q in snapshot["bids"]}
    asks = {cents(p): q for p, q in snapshot["asks"]}
    phantom = far = 0
    for event in events:
        best_bid = max(bids)
        for side, book in ((event["b"], bids), (event["a"], asks)):
            for price, qty in side:
                key = cents(price)
                if qty == ZERO:
                    phantom += key not in book
                    book.pop(key, None)
                else:
                    book[key] = qty
        far += sum(best_bid - cents(p) > 50 * 10**8 for p, _ in event["b"])
        assert max(bids) < min(asks), "crossed book"
    assert phantom > 50
    assert far > 50
    assert 1000 < len(bids) < 5000 and 1000 < len(asks) < 5000


def test_snapshot_then_events_reproduce_the_true_book(long_run):
    market, snapshot, events = long_run
    assert list(snapshot) == ["lastUpdateId", "bids", "asks"]
    for end in (1, 17, 500, 3999):
        bids, asks, book_id = sync_from_snapshot(snapshot, events[: end + 1])
        assert book_id == events[end]["u"]
        assert (bids, asks) == market.book_at(book_id)


def test_book_at_snapshot_id_matches_the_snapshot(long_run):
    market, _, events = long_run
    snapshot = market.snapshot(100)
    assert snapshot["lastUpdateId"] == market.last_update_id == events[-1]["u"]
    bids, asks = market.book_at(snapshot["lastUpdateId"])
    top_bids = sorted(bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)[:100]
    top_asks = sorted(asks.items(), key=lambda kv: Decimal(kv[0]))[:100]
    assert [list(level) for level in top_bids] == snapshot["bids"]
    assert [list(level) for level in top_asks] == snapshot["asks"]
    # A past snapshot is the same thing taken from the past book.
    past = market.snapshot(50, update_id=events[-10]["u"])
    bids, _ = market.book_at(events[-10]["u"])
    assert past["lastUpdateId"] == events[-10]["u"]
    assert past["bids"] == [
        list(kv) for kv in sorted(bids.items(), key=lambda kv: Decimal(kv[0]), reverse=True)[:50]
    ]


def test_same_seed_same_market_other_seed_other_market():
    first = SyntheticMarket("ETHUSDT", seed=3, mid="3000.00", step="0.0001")
    second = SyntheticMarket("ETHUSDT", seed=3, mid="3000.00", step="0.0001")
    other = SyntheticMarket("ETHUSDT", seed=4, mid="3000.00", step="0.0001")
    assert first.snapshot(5000) == second.snapshot(5000)
    run = [first.next_event(i) for i in range(300)]
    assert run == [second.next_event(i) for i in range(300)]
    assert run != [other.next_event(i) for i in range(300)]


def test_book_at_range_and_partial_depth():
    market = SyntheticMarket("BTCUSDT", seed=1, depth=300, history=10, first_update_id=1000)
    assert market.book_at(1000) == market.book_at(market.last_update_id)
    events = [market.next_event(i) for i in range(25)]
    assert market.oldest_update_id == events[-11]["u"]  # only the last 10 events can be undone
    market.book_at(market.oldest_update_id)
    with pytest.raises(ValueError):
        market.book_at(market.oldest_update_id - 1)
    with pytest.raises(ValueError):
        market.book_at(market.last_update_id + 1)
    partial = market.partial(5)
    assert list(partial) == ["lastUpdateId", "bids", "asks"]
    assert len(partial["bids"]) == len(partial["asks"]) == 5
    assert market.earlier_update_id(events[-1]["u"], events=2) == events[-3]["u"]
    assert market.earlier_update_id(events[-1]["u"] - 1, events=0) == events[-2]["u"]
    inside = market.straddle_update_id()
    assert inside is not None
    assert any(e["U"] <= inside < e["u"] for e in events)


def test_decimal_strings():
    assert fmt8(0) == ZERO
    assert fmt8(to_units("57710.99")) == "57710.99000000"
    assert fmt8(to_units("0.00001")) == "0.00001000"
    with pytest.raises(ValueError):
        to_units("0.000000001")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), warmup=st.integers(1, 30), after=st.integers(1, 30), data=st.data())
def test_any_update_id_plus_later_events_gives_the_true_book(seed, warmup, after, data):
    """A snapshot at any id (also strictly inside an event), then the events from there, is the true book."""
    market = SyntheticMarket("BNBUSDT", seed=seed, mid="600.00", step="0.001", depth=150)
    events = [market.next_event(i) for i in range(warmup + after)]
    start = data.draw(st.integers(market.oldest_update_id, events[warmup - 1]["u"]), label="snapshot id")
    snapshot = market.snapshot(5000, update_id=start)
    later = [e for e in events if e["u"] > start]
    assert later[0]["U"] <= start + 1 <= later[0]["u"]
    bids, asks, book_id = sync_from_snapshot(snapshot, later)
    assert book_id == market.last_update_id
    assert (bids, asks) == market.book_at(book_id)
