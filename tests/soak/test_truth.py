"""The soak's truth: a digest per event boundary agrees with the market's own undo history (`top_at`)."""

from __future__ import annotations

from core.simulator.market import market_for
from soak.truth import DEPTH, TruthLog


def test_every_boundary_digest_matches_the_true_book_and_a_changed_level_does_not():
    market = market_for("BTCUSDT", seed=5, history=400)
    truth = TruthLog()
    truth.follow(market)
    boundaries = [market.last_update_id]
    for i in range(120):
        boundaries.append(market.next_event(i)["u"])
    assert set(truth.digests["BTCUSDT"]) == set(boundaries)
    for update_id in boundaries:
        bids, asks = market.top_at(update_id, DEPTH)
        assert truth.check("BTCUSDT", update_id, bids, asks) is True
        wrong_qty = [(bids[0][0], "0.00000001" if bids[0][1] != "0.00000001" else "0.00000002"), *bids[1:]]
        assert truth.check("BTCUSDT", update_id, wrong_qty, asks) is False
        assert truth.check("BTCUSDT", update_id, bids[:-1], asks) is False  # a level missing
    # A boundary's truth is not its neighbour's: the book moves with every event.
    first, second = boundaries[10], boundaries[11]
    assert truth.check("BTCUSDT", second, *market.top_at(first, DEPTH)) is False


def test_an_id_inside_an_event_is_checked_from_history_and_one_beyond_it_is_unknown():
    market = market_for("ETHUSDT", seed=2, history=50)
    truth = TruthLog()
    truth.follow(market)
    events = [market.next_event(i) for i in range(200)]
    inner = next(e for e in events[-20:] if e["u"] > e["U"])["U"]  # not a boundary, still in the history
    assert inner not in truth.digests["ETHUSDT"]
    assert truth.check("ETHUSDT", inner, *market.top_at(inner, DEPTH)) is True
    old_inner = next(e for e in events[:20] if e["u"] > e["U"])["U"]  # long gone from the history
    assert truth.check("ETHUSDT", old_inner, [], []) is None
    assert truth.check("NOPEUSDT", events[-1]["u"], [], []) is None
