"""The pure parts of following the whole market: connection-attempt pacing, the market selection (quote filter and
shards) and what a fresh exchangeInfo changes."""

from __future__ import annotations

import bisect
import random

import pytest

from core.feed.listing import DELISTED, MarketSelection, listing_changes, shard_of
from core.feed.pacing import ConnectPacer
from core.market.wire import SymbolInfo


def info(symbol: str, status: str = "TRADING", quote: str = "USDT") -> SymbolInfo:
    return SymbolInfo(symbol, status, symbol.removesuffix(quote), quote, "0.01", "0.001")


# --- pacing ------------------------------------------------------------------------------------------------


def test_pacer_allows_the_limit_in_any_window_then_says_how_long_to_wait():
    pacer = ConnectPacer(limit=3, window=300.0)
    assert [pacer.take(t) for t in (0.0, 1.0, 2.0)] == [0.0, 0.0, 0.0]
    assert pacer.take(10.0) == pytest.approx(290.0)  # the oldest attempt leaves the window at 300 s
    assert pacer.take(299.9) == pytest.approx(0.1)
    assert pacer.take(300.0) == 0.0  # the first left: one more
    assert pacer.take(300.5) == pytest.approx(0.5)  # the second leaves at 301
    assert pacer.attempts == 4  # refusals are not attempts


def test_pacer_never_allows_more_than_its_limit_in_any_window():
    pacer = ConnectPacer(limit=300, window=300.0)
    rng = random.Random(5)
    now, taken = 0.0, []
    for _ in range(5000):  # a storm of reconnects, each asking again after the wait it was told (or sooner)
        wait = pacer.take(now)
        if wait == 0:
            taken.append(now)
        now += rng.choice((0.0, 0.01, 0.5, wait * rng.random()))
    assert len(taken) > 300  # it did let attempts through as the window moved
    for i, start in enumerate(taken):  # every window that starts at an attempt (the busiest ones)
        assert bisect.bisect_left(taken, start + 300.0) - i <= 300


def test_pacer_refuses_a_nonsense_limit():
    with pytest.raises(ValueError):
        ConnectPacer(limit=0)


# --- the market selection -------------------------------------------------------------------------------------


def market(n: int) -> dict[str, SymbolInfo]:
    quotes = ("USDT", "FDUSD", "BTC", "EUR")
    infos = {}
    for i in range(n):
        quote = quotes[i % len(quotes)]
        infos[f"C{i:04d}{quote}"] = info(f"C{i:04d}{quote}", "HALT" if i % 17 == 0 else "TRADING", quote)
    return infos


@pytest.mark.parametrize("shards", [1, 2, 3, 7, 16])
def test_shards_partition_the_market_with_no_overlap_and_no_hole(shards):
    infos = market(1500)
    everything = MarketSelection().pick(infos)
    parts = [MarketSelection(shard=(k, shards)).pick(infos) for k in range(1, shards + 1)]
    assert sorted(s for part in parts for s in part) == everything  # no hole, no overlap
    if shards > 1:  # a hash spreads them: no shard is empty or holds nearly everything
        assert all(len(everything) / shards / 2 < len(part) < len(everything) / shards * 2 for part in parts)


def test_a_symbol_keeps_its_shard_across_runs():
    # crc32 of the name: the same on every machine and Python (str hash() is salted per process). Pinned: a change
    # of the hash would move symbols between the shards of recorders already running.
    assert [shard_of(s, 4) for s in ("BTCUSDT", "ETHUSDT", "BNBUSDT")] == [4, 1, 3]


def test_quote_filter_and_trading_status():
    infos = market(40)
    picked = MarketSelection(quotes=frozenset({"USDT", "EUR"})).pick(infos)
    assert picked and all(s.endswith(("USDT", "EUR")) for s in picked)
    assert all(infos[s].trading for s in picked)
    assert "C0000USDT" not in picked  # HALT
    expected = sorted(s for s, i in infos.items() if i.trading and i.quote_asset in ("USDT", "EUR"))
    assert picked == expected


def test_a_shard_outside_one_to_n_is_refused():
    with pytest.raises(ValueError):
        MarketSelection(shard=(5, 4))


# --- what a fresh exchangeInfo changes ---------------------------------------------------------------------------


def test_listing_changes_stop_resume_and_add():
    infos = {
        "BTCUSDT": info("BTCUSDT"),
        "ETHUSDT": info("ETHUSDT", "HALT"),
        "BNBUSDT": info("BNBUSDT", "BREAK"),
        "XRPUSDT": info("XRPUSDT"),  # stopped before, trades again
        "NEWUSDT": info("NEWUSDT"),  # a new listing
        "NEWBTC": info("NEWBTC", quote="BTC"),
        "SOONUSDT": info("SOONUSDT", "BREAK"),  # listed, not trading yet: not added
    }
    followed = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "GONEUSDT"]
    changes = listing_changes(followed, ["XRPUSDT"], infos, MarketSelection(quotes=frozenset({"USDT"})))
    assert changes.stopped == {"BNBUSDT": "BREAK", "ETHUSDT": "HALT", "GONEUSDT": DELISTED}
    assert changes.resumed == ["XRPUSDT"]
    assert changes.added == ["NEWUSDT"]
    # A named list (no selection) adds nothing; nothing changed is nothing to do.
    assert listing_changes(followed, ["XRPUSDT"], infos, None).added == []
    assert not listing_changes(["BTCUSDT"], [], infos, None)
