"""OrderBookManager against the exchange simulator on loopback: real sockets, real HTTP, injected faults.

After every fault the books must equal the simulator's true book at the same update id. Timings are
scaled down (events every 20 ms, watchdogs of about a second) so the whole file runs in seconds.
"""

from __future__ import annotations

import pytest
import pytest_asyncio

from core.feed.errors import InvalidSymbolError
from core.feed.events import BookUpdated, SymbolStateChanged
from core.feed.manager import ManagerConfig, OrderBookManager, SubscriptionLimitError
from core.market.book_sync import SyncState
from core.simulator.server import ExchangeSimulator
from tests.core.feed.sim_helpers import (
    SYMBOLS,
    all_live,
    assert_matches_truth,
    assert_only_it_resynced,
    fast_config,
)
from tests.waiting import wait_until


@pytest_asyncio.fixture
async def sim():
    simulator = ExchangeSimulator(symbols=SYMBOLS, seed=7, interval_ms=20)
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest_asyncio.fixture
async def manager(sim):
    mgr = OrderBookManager(fast_config(sim))
    await mgr.start()
    yield mgr
    await mgr.stop()


@pytest.mark.asyncio
async def test_books_go_live_and_equal_the_true_book(sim, manager):
    events = []
    manager.add_listener(events.append)
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    # let a few hundred events flow through, then compare at the exact update id
    start = {s: manager.status(s).events_applied for s in SYMBOLS}
    await wait_until(lambda: all(manager.status(s).events_applied > start[s] + 20 for s in SYMBOLS))
    for symbol in SYMBOLS:
        assert_matches_truth(manager, sim, symbol)
        assert manager.status(symbol).gaps == 0
    assert any(isinstance(e, BookUpdated) for e in events)
    assert any(isinstance(e, SymbolStateChanged) and e.state is SyncState.LIVE for e in events)
    assert manager.connection_status().connected


@pytest.mark.asyncio
async def test_a_listener_that_wants_no_book_updates_gets_every_other_event(sim, manager):
    everything, no_books = [], []
    manager.add_listener(everything.append)
    manager.add_listener(no_books.append, book_updates=False)  # as the recorder: it reads the books on its tick
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    await wait_until(lambda: sum(type(e) is BookUpdated for e in everything) >= 20, 10, "book updates")
    assert not any(type(e) is BookUpdated for e in no_books)
    others = [e for e in everything if type(e) is not BookUpdated]
    assert no_books[: len(others)] == others and any(type(e) is SymbolStateChanged for e in no_books)
    manager.remove_listener(everything.append)  # the last one that wants them: none is built any more
    assert manager._book_listeners == []


@pytest.mark.asyncio
async def test_get_orderbook_subscribes_lazily_and_is_idempotent(sim, manager):
    book = await manager.get_orderbook("btcusdt", timeout=10)
    assert book.symbol == "BTCUSDT" and not book.is_empty()
    await manager.subscribe("BTCUSDT")
    assert manager.symbols == ["BTCUSDT"]


@pytest.mark.asyncio
async def test_gap_on_one_symbol_resyncs_it_alone(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    before = {s: manager.status(s) for s in SYMBOLS}
    sim.faults.drop_events("ETHUSDT", n=2)
    await wait_until(lambda: manager.status("ETHUSDT").resyncs > before["ETHUSDT"].resyncs, what="ETH resync")
    await all_live(manager)
    assert_only_it_resynced(manager, sim, "ETHUSDT", before)


@pytest.mark.asyncio
async def test_duplicates_and_outdated_snapshot_are_handled(sim, manager):
    sim.faults.stale_snapshot("BTCUSDT", n=1)
    sim.faults.straddle_snapshot("ETHUSDT", n=1)
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    sim.faults.duplicate_events(None, n=5)
    await wait_until(lambda: manager.status("BTCUSDT").events_applied > 50)
    for symbol in SYMBOLS:
        assert manager.status(symbol).gaps == 0, symbol
        assert_matches_truth(manager, sim, symbol)
    assert manager.book("BTCUSDT") is not None


@pytest.mark.asyncio
async def test_disconnect_reconnects_and_books_recover(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    sim.faults.disconnect_all()
    await wait_until(lambda: manager.connection_status().reconnects >= 1, what="a reconnect")
    await all_live(manager)
    await wait_until(lambda: manager.connection_status().connected)
    for symbol in SYMBOLS:
        assert_matches_truth(manager, sim, symbol)


@pytest.mark.asyncio
async def test_server_shutdown_frame_reconnects_at_once(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    sim.faults.server_shutdown()
    await wait_until(lambda: manager.connection_status().reconnects >= 1, what="a reconnect")
    await all_live(manager)
    for symbol in SYMBOLS:
        assert_matches_truth(manager, sim, symbol)


@pytest.mark.asyncio
async def test_silent_symbol_goes_stale_then_recovers(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    sim.faults.silence("BNBUSDT", seconds=1.6)
    await wait_until(lambda: manager.status("BNBUSDT").state is SyncState.STALE, what="BNB stale")
    assert manager.is_live("BTCUSDT")
    await wait_until(lambda: manager.is_live("BNBUSDT"), what="BNB live again")
    assert_matches_truth(manager, sim, "BNBUSDT")


@pytest.mark.asyncio
async def test_a_quiet_symbol_stays_live_while_the_exchange_confirms_its_book(sim, manager):
    # Binance sends nothing while a book does not change: silence alone is no reason to stop trusting a book.
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    changes: list[SymbolStateChanged] = []
    manager.add_listener(lambda e: changes.append(e) if isinstance(e, SymbolStateChanged) else None, book_updates=False)
    sim.faults.hold("BNBUSDT", seconds=60)  # the market stands still: no event, no new update id
    counters = manager._symbols["BNBUSDT"].sync.counters
    await wait_until(lambda: counters.quiet_checks >= 3, timeout=10, what="three quiet checks")
    assert changes == [] and manager.is_live("BNBUSDT")
    assert_matches_truth(manager, sim, "BNBUSDT")


@pytest.mark.asyncio
async def test_silent_connection_is_replaced(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    # Every symbol: the socket itself looks dead. Long enough for the symbols' resubscription (its answers are
    # frames, at about 1 s) to be followed by a whole `connection_silence` (1.5 s).
    sim.faults.silence(None, seconds=4.0)
    await wait_until(lambda: manager.connection_status().reconnects >= 1, what="a reconnect", timeout=10)
    await all_live(manager, timeout=15)
    for symbol in SYMBOLS:
        assert_matches_truth(manager, sim, symbol)


@pytest.mark.asyncio
async def test_rate_limited_snapshots_wait_and_succeed(sim, manager):
    sim.faults.rate_limit(status=429, retry_after=1, count=1)
    await manager.subscribe("BTCUSDT")  # the symbol check meets the 429, waits and succeeds
    sim.faults.rate_limit(status=429, retry_after=1, count=1)  # and so does the first snapshot
    await wait_until(lambda: manager.is_live("BTCUSDT"), timeout=10)
    assert manager.connection_status().snapshot_errors >= 1
    assert_matches_truth(manager, sim, "BTCUSDT")


@pytest.mark.asyncio
async def test_malformed_frames_are_logged_and_streaming_goes_on(sim, manager, caplog):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    sim.faults.malformed_frames(n=3)
    await wait_until(lambda: manager.connection_status().bad_frames >= 3, what="bad frames counted")
    applied = manager.status("BTCUSDT").events_applied
    await wait_until(lambda: manager.status("BTCUSDT").events_applied > applied + 10)
    assert "malformed frame" in caplog.text
    for symbol in SYMBOLS:
        assert_matches_truth(manager, sim, symbol)


@pytest.mark.asyncio
async def test_rotation_before_the_age_limit_leaves_no_gap():
    # A scaled-down 24 h limit: the exchange drops connections older than 2 s; we rotate at 1 s.
    async with ExchangeSimulator(symbols=SYMBOLS, seed=8, interval_ms=20, max_connection_age=2.0) as sim:
        mgr = OrderBookManager(fast_config(sim, max_connection_age=1.0, rotation_overlap=0.5))
        await mgr.start()
        try:
            await mgr.subscribe_many(SYMBOLS)
            await all_live(mgr)
            await wait_until(lambda: mgr.connection_status().rotations >= 3, what="three rotations", timeout=10)
            assert mgr.connection_status().reconnects == 0  # never dropped by the exchange
            for symbol in SYMBOLS:
                status = mgr.status(symbol)
                assert status.gaps == 0 and status.resyncs == 0, status
                assert_matches_truth(mgr, sim, symbol)
        finally:
            await mgr.stop()


@pytest.mark.asyncio
async def test_full_depth_snapshot_gives_exactly_the_true_book(sim):
    # The simulator's book is under 5000 levels a side, so a limit=5000 snapshot holds all of it.
    mgr = OrderBookManager(fast_config(sim, snapshot_limit=5000))
    await mgr.start()
    try:
        await mgr.subscribe_many(SYMBOLS)
        await all_live(mgr)
        sim.faults.drop_events("BTCUSDT", n=1)
        await wait_until(lambda: mgr.status("BTCUSDT").resyncs >= 1 and mgr.is_live("BTCUSDT"), what="resync")
        for symbol in SYMBOLS:
            book = mgr.book(symbol)
            assert book.as_dicts() == sim.market(symbol).book_at(book.last_update_id)
    finally:
        await mgr.stop()


@pytest.mark.asyncio
async def test_unknown_symbol_is_refused_with_its_name(sim, manager):
    with pytest.raises(InvalidSymbolError, match="NOPEUSDT"):
        await manager.subscribe("NOPEUSDT")
    with pytest.raises(InvalidSymbolError, match="not a valid symbol"):
        await manager.subscribe("btc/usdt")
    assert manager.symbols == []


@pytest.mark.asyncio
async def test_symbol_limit(sim):
    mgr = OrderBookManager(fast_config(sim, max_symbols=2))
    await mgr.start()
    try:
        await mgr.subscribe_many(["BTCUSDT", "ETHUSDT"])
        with pytest.raises(SubscriptionLimitError, match="more than 2"):
            await mgr.subscribe("BNBUSDT")
    finally:
        await mgr.stop()


@pytest.mark.asyncio
async def test_unsubscribe_stops_the_symbol(sim, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    await manager.unsubscribe("ETHUSDT")
    assert "ETHUSDT" not in manager.symbols and manager.book("ETHUSDT") is None
    await manager.subscribe("ETHUSDT")
    await all_live(manager)
    assert_matches_truth(manager, sim, "ETHUSDT")


@pytest.mark.asyncio
async def test_unreachable_exchange_reports_a_sentence_and_keeps_trying():
    config = ManagerConfig(
        ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9", validate_symbols=False,
        reconnect_initial=0.05, reconnect_max=0.1,
    )  # fmt: skip
    mgr = OrderBookManager(config)
    await mgr.start()
    try:
        await mgr.subscribe("BTCUSDT")
        await wait_until(lambda: mgr.connection_status().last_error is not None, what="an error")
        error = mgr.connection_status().last_error
        assert error.startswith("Cannot reach the exchange at ws://127.0.0.1:9")
        assert mgr.status("BTCUSDT").state is SyncState.BUFFERING
    finally:
        await mgr.stop()
