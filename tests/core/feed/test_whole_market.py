"""The whole market, scaled down: 120 symbols (DEPTHBOOK_MARKET_SYMBOLS=300 for more) against the exchange
simulator, spread over several combined-stream connections of a small size (the simulator refuses more streams
per connection, as Binance refuses more than 1024), a lost connection that leaves the other connections' books
live, and listing changes (a halt, a return to trading, a delisting, a new listing) picked up from exchangeInfo.

The simulator shares this process's event loop and spends about 2 ms of CPU per event it makes; 120 symbols at
one event a second keep the file within seconds on a busy 2-core machine. The books go live at the pace the
snapshots come (two requests in flight), so 300 symbols take about half a minute here.
"""

from __future__ import annotations

import logging
import os
import time

import pytest
import pytest_asyncio

from core.feed.events import ListingChanged, SymbolStateChanged
from core.feed.horizon import FULL_PASS_EVERY
from core.feed.listing import DELISTED, MarketSelection
from core.feed.manager import ManagerConfig, OrderBookManager
from core.market.book_sync import SyncState
from core.market.wire import decimal_ticks
from core.simulator.server import ExchangeSimulator
from tests.waiting import wait_until

QUOTES = ("USDT", "USDT", "BTC", "EUR")
COUNT = int(os.environ.get("DEPTHBOOK_MARKET_SYMBOLS", "120"))
SYMBOLS = [f"S{i:03d}{QUOTES[i % 4]}" for i in range(COUNT)]
PER_CONNECTION = COUNT // 4 + 2  # four connections, the last one not full
SIZES = [PER_CONNECTION] * 3 + [COUNT - 3 * PER_CONNECTION]

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def sim():
    # One event a second per symbol on average, as the median Binance symbol (books of ~480 levels a side, cheap
    # to build). The simulator shares this process's loop: more would starve the REST requests on a busy machine.
    simulator = ExchangeSimulator(
        symbols=SYMBOLS, seed=11, interval_ms=100, history=300, activity={s: 1.0 for s in SYMBOLS}
    )
    simulator.max_streams = PER_CONNECTION
    await simulator.start()
    yield simulator
    await simulator.stop()


def config(sim: ExchangeSimulator, **overrides) -> ManagerConfig:
    options = dict(
        ws_url=sim.ws_url,
        rest_url=sim.rest_url,
        max_symbols=3000,
        snapshot_limit=100,  # weight 5: even 300 books cost only 1,500 of the simulator's 6,000 a minute
        shallow_sync_limit=None,
        streams_per_connection=PER_CONNECTION,
        connection_silence=5.0,
        symbol_silence=30.0,  # one event a second on average: quiet stretches of several seconds are normal
        watchdog_interval=0.1,
        reconnect_initial=0.05,
        reconnect_max=0.5,
        snapshot_retry_delay=0.05,
        max_control_per_sec=4.0,  # Binance's pace, under the simulator's 5 a second
        listing_interval=None,  # the tests refresh the listing themselves, except where said
    )
    options.update(overrides)
    return ManagerConfig(**options)


def assert_matches_truth(
    manager: OrderBookManager, sim: ExchangeSimulator, symbol: str, top: int = 20
) -> None:
    """Every level held has the true quantity, and the top `top` (inside a 100-level snapshot's horizon) is the
    truth at the book's update id."""
    book = manager.book(symbol)
    assert book is not None and manager.is_live(symbol) and book.verified(top), manager.status(symbol)
    true_bids, true_asks = sim.market(symbol).book_at(book.last_update_id)
    for ours, truth in zip(book.as_dicts(), (true_bids, true_asks), strict=True):
        assert all(truth.get(p) == q for p, q in ours.items()), (
            f"{symbol} holds a level the exchange does not"
        )
    assert [p for p, _ in book.top_bids(top)] == sorted(true_bids, key=decimal_ticks, reverse=True)[:top]
    assert [p for p, _ in book.top_asks(top)] == sorted(true_asks, key=decimal_ticks)[:top]


async def all_live(
    manager: OrderBookManager, symbols: list[str], timeout: float = max(60.0, COUNT / 2)
) -> None:
    await wait_until(lambda: all(manager.is_live(s) for s in symbols), timeout, f"{len(symbols)} books live")


async def test_the_whole_market_starts_cheap_within_the_weight_budget_and_leaves_still_books_shallow(sim):
    """Binance's budget at the whole market's scale, with the depths the recorder uses: every book goes live on a
    cheap snapshot within the minute while the books still to come would not all fit at full depth, no request
    goes over the budget (no 429), and a book asks to be deepened only once it has used half the room its
    100 levels gave (before, every one of them asked at the first look: 120 deepenings for books that sit still,
    most of these at one event a second). First in the file: the simulator counts every test's weight against its
    6,000 a minute."""
    rejected = sim.stats.rest_rejected
    manager = OrderBookManager(config(sim, snapshot_limit=1000, shallow_sync_limit=100, tight_refresh_limit=500))
    await manager.start()
    try:
        await manager.subscribe_many(SYMBOLS)
        await all_live(manager, SYMBOLS, timeout=60)
        sched, budget = manager.scheduler, manager.rest.budget
        assert sched.shallow_syncs > 0  # 120 x 50 at full depth would not fit: the first syncs went at 100
        passes = manager.horizon.passes
        await wait_until(lambda: manager.horizon.passes > passes + FULL_PASS_EVERY, 10, "a look at every book")
        asked = [s for s in SYMBOLS if manager.status(s).refreshes_requested]
        assert len(asked) < COUNT / 2, f"{len(asked)} of {COUNT} books asked to be deepened"
        assert all(manager.is_live(s) for s in SYMBOLS)  # a deepening never takes a book out of LIVE
        assert budget.used(time.time()) <= budget.allowed and sim.stats.rest_rejected == rejected
        assert sched.weight_spent <= 2 * budget.allowed  # at most two minutes' worth, in two calendar minutes
        for symbol in SYMBOLS[::17]:
            assert_matches_truth(manager, sim, symbol)
    finally:
        await manager.stop()


async def test_symbols_spread_over_connections_and_one_lost_connection_stays_local(sim):
    attempts_before = sim.stats.connection_attempts
    manager = OrderBookManager(config(sim))
    left_live: list[str] = []
    manager.add_listener(
        lambda e: (
            left_live.append(e.symbol)
            if type(e) is SymbolStateChanged and e.state is not SyncState.LIVE
            else None
        )
    )
    await manager.start()
    try:
        await manager.subscribe_many(SYMBOLS)
        await all_live(manager, SYMBOLS)
        assert [len(slot.streams) for slot in manager.slots] == SIZES  # filled in turn
        status = manager.connection_status()
        assert status.connected and status.connections == 4 and status.streams == COUNT
        assert sim.stats.connection_attempts - attempts_before == status.connection_attempts == 4
        for symbol in SYMBOLS[::17]:
            assert_matches_truth(manager, sim, symbol)

        # The exchange drops the third connection: only its books go stale, and come back on a new connection.
        lost = manager.slots[2]
        lost_symbols = set(lost.streams)
        left_live.clear()
        assert sim.drop_connections_of(next(iter(lost_symbols))) == 1
        await wait_until(lambda: lost.reconnects == 1, what="the lost connection reconnected")
        await all_live(manager, SYMBOLS)
        assert set(left_live) == lost_symbols  # every book of that connection resynced, no other book
        assert manager.connection_status().reconnects == 1
        for symbol in sorted(lost_symbols)[::9]:
            assert_matches_truth(manager, sim, symbol)

        # New symbols fill the room an unsubscribed one left before a new connection opens.
        for symbol in SYMBOLS[:3]:
            await manager.unsubscribe(symbol)
        assert len(manager.slots[0].streams) == PER_CONNECTION - 3
        await manager.subscribe_many(SYMBOLS[:3])
        assert [len(slot.streams) for slot in manager.slots] == SIZES
        await all_live(manager, SYMBOLS[:3])
        assert manager.connection_status().connections == 4
    finally:
        await manager.stop()


@pytest.mark.parametrize("limit, per_connection", [(20, 36), (60, 80)], ids=["url", "subscribe"])
async def test_the_exchange_refuses_a_connection_over_its_stream_limit_and_it_shows(
    sim, limit, per_connection
):
    """The simulator refuses a URL (HTTP 400) or a SUBSCRIBE above its limit, as Binance does above 1024: that is
    why the manager never puts more than `streams_per_connection` on one; set above the exchange's limit, the
    refusal shows in the status, never silently."""
    manager = OrderBookManager(config(sim, streams_per_connection=per_connection))
    sim.max_streams = limit
    await manager.start()
    try:
        await manager.subscribe_many(SYMBOLS[:per_connection])
        if per_connection <= 50:  # all in the URL
            await wait_until(lambda: manager.connection_status().last_error, what="the refused connection")
            assert "refused the stream connection (HTTP 400)" in manager.connection_status().last_error
        else:  # 50 in the URL, the rest subscribed
            await wait_until(lambda: manager.failure is not None, what="the refused subscription reported")
            assert "too many streams" in manager.failure
        assert not all(manager.is_live(s) for s in SYMBOLS[:per_connection])
    finally:
        sim.max_streams = PER_CONNECTION
        await manager.stop()


async def test_halted_symbols_stop_and_follow_again_and_delisted_ones_stop(sim, caplog):
    halted, breaking, delisted, steady = "S001USDT", "S005USDT", "S009USDT", "S013USDT"
    closed, cancel_only = "S017USDT", "S021USDT"  # END_OF_DAY and CANCEL_ONLY (new in 2026) stop a book too
    symbols = [halted, breaking, delisted, steady, closed, cancel_only]
    manager = OrderBookManager(config(sim))
    changes: list[tuple[str, str, str]] = []
    manager.add_listener(
        lambda e: changes.append((e.symbol, e.change, e.status)) if type(e) is ListingChanged else None
    )
    caplog.set_level(logging.INFO, logger="core.feed.listing")
    await manager.start()
    try:
        await manager.subscribe_many(symbols)
        await all_live(manager, symbols)
        sim.set_status(halted, "HALT")
        sim.set_status(breaking, "BREAK")
        sim.set_status(closed, "END_OF_DAY")
        sim.set_status(cancel_only, "CANCEL_ONLY")
        sim.delist(delisted)
        await manager.listing.refresh()
        assert sorted(changes) == sorted([
            (halted, "stopped", "HALT"),
            (breaking, "stopped", "BREAK"),
            (delisted, "stopped", DELISTED),
            (closed, "stopped", "END_OF_DAY"),
            (cancel_only, "stopped", "CANCEL_ONLY"),
        ])  # fmt: skip
        assert manager.symbols == [steady] and manager.is_live(steady)
        stopped = {halted: "HALT", breaking: "BREAK", delisted: DELISTED, closed: "END_OF_DAY", cancel_only: "CANCEL_ONLY"}
        assert manager.stopped_symbols == stopped
        logged = [r.getMessage() for r in caplog.records if r.name == "core.feed.listing"]
        assert f"symbol stopped symbol={halted} reason=status HALT: unsubscribed until it trades again" in logged
        assert f"symbol stopped symbol={delisted} reason=delisted: unsubscribed until it trades again" in logged

        changes.clear()
        sim.set_status(halted, "TRADING")
        await manager.listing.refresh()
        assert changes == [(halted, "resumed", "TRADING")]
        assert f"symbol resumed symbol={halted}: trades again, following it" in caplog.messages
        await all_live(manager, [halted, steady])
        assert_matches_truth(manager, sim, halted)
        assert manager.stopped_symbols == {k: v for k, v in stopped.items() if k != halted}
        changes.clear()
        await manager.listing.refresh()
        assert changes == []  # nothing changed: nothing done
    finally:
        for symbol in (breaking, closed, cancel_only):
            sim.set_status(symbol, "TRADING")
        await manager.stop()


async def test_following_a_quote_adds_new_listings_and_the_refresh_runs_by_itself(sim):
    eur = [s for s in SYMBOLS if s.endswith("EUR")]
    manager = OrderBookManager(config(sim, listing_interval=1.0))
    added: list[str] = []
    manager.add_listener(
        lambda e: added.append(e.symbol) if type(e) is ListingChanged and e.change == "added" else None
    )
    await manager.start()
    try:
        followed = await manager.follow_market(MarketSelection(quotes=frozenset({"EUR"})))
        assert followed == sorted(eur) and sorted(manager.symbols) == sorted(eur)
        sim.add_symbol("NEWCOINUSDT")  # another quote: not taken
        sim.add_symbol("NEWCOINEUR")
        await wait_until(lambda: added, what="the new listing added by the periodic refresh", timeout=10)
        assert added == ["NEWCOINEUR"] and "NEWCOINUSDT" not in manager.symbols
        await all_live(manager, ["NEWCOINEUR"])
        assert manager.listing.refreshes >= 1 and manager.listing.failures == 0
    finally:
        await manager.stop()


async def test_reconnects_wait_for_the_connection_attempt_pacer(sim, caplog):
    """One attempt per 3 s window: a connection the exchange drops right after it opened is dialled again only
    when the window allows, whatever the reconnect backoff (50 ms) says."""
    manager = OrderBookManager(config(sim, connect_attempts=1, connect_window=3.0))
    await manager.start()
    try:
        await manager.subscribe_many(SYMBOLS[:2])
        await wait_until(lambda: manager.slots[0].conn, what="connected")
        first_dial = manager.slots[0].conn.opened_at
        assert sim.drop_connections_of(SYMBOLS[0]) == 1
        await wait_until(
            lambda: manager.slots[0].reconnects == 1 and manager.slots[0].conn, what="reconnected"
        )
        # The window counts from the first dial, a little before its handshake ended (`opened_at`); the reconnect
        # backoff alone would have dialled again within 0.2 s.
        assert manager.slots[0].conn.opened_at - first_dial >= 2.5
        assert manager.connection_status().connection_attempts == 2
        assert any(r.getMessage().startswith("connection attempts paced") for r in caplog.records)
        await all_live(manager, SYMBOLS[:2])
    finally:
        await manager.stop()
