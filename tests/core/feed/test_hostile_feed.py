"""Hostile input through the whole feed: the simulator on loopback, a relay in the middle that corrupts what
the exchange sends (tests/core/feed/relays.py), the real OrderBookManager. Issue 11: malformed levels,
crossed snapshots, oversized frames.
"""

from __future__ import annotations

import logging

import orjson
import pytest
import pytest_asyncio

from core.feed.events import SymbolStateChanged
from core.feed.manager import OrderBookManager
from core.feed.stream import MAX_FRAME_BYTES
from core.market.book_sync import SyncReason, SyncState
from core.simulator.server import ExchangeSimulator
from tests.core.feed.relays import RestRelay, WsRelay
from tests.core.feed.sim_helpers import all_live, assert_matches_truth, fast_config
from tests.waiting import wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]


@pytest_asyncio.fixture
async def sim():
    async with ExchangeSimulator(symbols=SYMBOLS, seed=23, interval_ms=20) as simulator:
        yield simulator


@pytest_asyncio.fixture
async def relay(sim):
    async with WsRelay(sim.ws_url) as ws_relay:
        yield ws_relay


@pytest_asyncio.fixture
async def manager(sim, relay):
    mgr = OrderBookManager(fast_config(sim, ws_url=relay.url))
    await mgr.start()
    yield mgr
    await mgr.stop()


class CorruptOneEvent:
    """Rewrite: the next diff event of `symbol` gets `bad` as its first level's quantity; with `hold`, that
    symbol's later frames are dropped until `release()`, as if it went quiet (an illiquid symbol)."""

    def __init__(self, symbol: str, bad: str, hold: bool = False) -> None:
        self.symbol, self.bad, self.hold = symbol, bad, hold
        self.done = False
        self.holding = False

    def release(self) -> None:
        self.holding = False

    def __call__(self, frame: str) -> str | None:
        msg = orjson.loads(frame)
        data = msg.get("data") if isinstance(msg, dict) else None
        if not isinstance(data, dict) or data.get("s") != self.symbol:
            return frame
        if self.holding:
            return None
        if self.done or not (data["b"] or data["a"]):
            return frame
        side = data["b"] or data["a"]
        side[0][1] = self.bad
        self.done = True
        self.holding = self.hold
        return orjson.dumps(msg).decode()


def manager_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "core.feed.manager" and r.levelno == logging.WARNING
    ]


@pytest.mark.asyncio
async def test_a_malformed_level_resyncs_that_symbol_alone_with_one_warning(sim, relay, manager, caplog):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    before = {s: manager.status(s) for s in SYMBOLS}
    bad_frames = manager.connection_status().bad_frames
    corrupt = CorruptOneEvent("ETHUSDT", "1e5")
    with caplog.at_level(logging.WARNING, logger="core.feed.manager"):
        relay.rewrite = corrupt
        await wait_until(lambda: manager.connection_status().bad_frames > bad_frames, what="the bad frame")
        # The event is dropped whole; ETHUSDT's book has missed it, so it resyncs at once (not live meanwhile).
        await wait_until(lambda: manager.status("ETHUSDT").resyncs > before["ETHUSDT"].resyncs, what="resync")
        await all_live(manager)
    assert corrupt.done
    assert manager.status("ETHUSDT").bad_levels > before["ETHUSDT"].bad_levels
    named = [m for m in manager_warnings(caplog) if "malformed frame" in m]
    assert len(named) == 1 and "ETHUSDT" in named[0] and "'1e5'" in named[0], named
    for symbol in ("BTCUSDT", "BNBUSDT"):
        assert manager.status(symbol).resyncs == before[symbol].resyncs, f"{symbol} was disturbed"
    for symbol in SYMBOLS:
        assert_matches_truth(manager, sim, symbol)


@pytest.mark.asyncio
async def test_a_malformed_level_takes_the_book_out_of_live_at_once(sim, relay, manager):
    await manager.subscribe_many(SYMBOLS)
    await all_live(manager)
    changes: list[SymbolStateChanged] = []
    manager.add_listener(lambda e: type(e) is SymbolStateChanged and e.symbol == "ETHUSDT" and changes.append(e))
    bad_frames = manager.connection_status().bad_frames
    corrupt = CorruptOneEvent("ETHUSDT", "-1.00000000", hold=True)
    relay.rewrite = corrupt
    await wait_until(lambda: manager.connection_status().bad_frames > bad_frames, what="the bad frame")
    # No later ETHUSDT event can reveal the gap: the book left LIVE at that frame, not at a later event's check
    # (it may be live again already, on a fresh snapshot that is exact by itself).
    assert changes and changes[0].state is not SyncState.LIVE and changes[0].reason is SyncReason.MALFORMED_LEVEL
    await wait_until(lambda: manager.is_live("ETHUSDT"), what="ETHUSDT live again on a new snapshot")
    assert_matches_truth(manager, sim, "ETHUSDT")


def crossed(body: dict) -> dict:
    """The snapshot with an ask at the best bid's price: best bid >= best ask, still sorted."""
    body["asks"].insert(0, [body["bids"][0][0], "1.00000000"])
    return body


@pytest.mark.asyncio
async def test_a_crossed_snapshot_is_refetched_and_the_book_goes_live_only_on_a_good_one(sim, caplog):
    async with RestRelay(sim.rest_url) as rest:
        rest.depth_rewrites["BTCUSDT"] = [crossed]
        mgr = OrderBookManager(fast_config(sim, rest_url=rest.url))
        live_moments = []  # (depth answers served so far, book crossed?) at each LIVE transition

        def on_event(event) -> None:
            if (
                type(event) is SymbolStateChanged
                and event.symbol == "BTCUSDT"
                and event.state is SyncState.LIVE
            ):
                live_moments.append((len(rest.depth_served("BTCUSDT")), mgr.book("BTCUSDT").is_crossed()))

        mgr.add_listener(on_event)
        await mgr.start()
        try:
            with caplog.at_level(logging.WARNING, logger="core.feed.scheduler"):
                await mgr.subscribe("BTCUSDT")
                await wait_until(lambda: mgr.is_live("BTCUSDT"), what="BTCUSDT live")
            assert live_moments[0] == (2, False), live_moments  # the second snapshot, not crossed
            assert mgr.status("BTCUSDT").crossed_books == 0  # the crossed one never reached the book
            assert "crossed" in (mgr.connection_status().snapshot_last_error or "")
            warned = [r.getMessage() for r in caplog.records if "snapshot failed" in r.getMessage()]
            assert len(warned) == 1 and "symbol=BTCUSDT" in warned[0] and "crossed" in warned[0]
            assert_matches_truth(mgr, sim, "BTCUSDT")
        finally:
            await mgr.stop()


def frame_of(size: int) -> str:
    """A text frame of exactly `size` bytes that parses as JSON but is no message the feed knows."""
    head = '{"e":"padding","pad":"'
    return head + "x" * (size - len(head) - 2) + '"}'


@pytest.mark.asyncio
async def test_a_frame_over_the_size_limit_closes_only_its_connection_and_says_why(
    sim, relay, manager, caplog
):
    other = OrderBookManager(fast_config(sim))  # a second feed, straight to the exchange
    await other.start()
    try:
        await manager.subscribe_many(SYMBOLS)
        await other.subscribe_many(SYMBOLS)
        await all_live(manager)
        await all_live(other)
        # Just under the limit: one more bad frame, the connection stays.
        bad_frames = manager.connection_status().bad_frames
        await relay.inject(frame_of(MAX_FRAME_BYTES - 1024))
        await wait_until(lambda: manager.connection_status().bad_frames > bad_frames, what="big frame read")
        assert manager.connection_status().reconnects == 0
        # Over it: websockets closes that connection (1009); the manager says why and reconnects.
        with caplog.at_level(logging.WARNING, logger="core.feed.manager"):
            await relay.inject(frame_of(MAX_FRAME_BYTES + 1024))
            await wait_until(lambda: manager.connection_status().reconnects >= 1, what="a reconnect")
            await all_live(manager)
        said = [m for m in manager_warnings(caplog) if m.startswith("disconnected")]
        assert len(said) == 1 and "4 MiB size limit" in said[0] and "1009" in said[0], said
        assert manager.failure is None and not manager.halted  # a hostile frame is no bug of ours
        assert other.connection_status().reconnects == 0 and all(other.is_live(s) for s in SYMBOLS)
        for symbol in SYMBOLS:
            assert_matches_truth(manager, sim, symbol)
    finally:
        await other.stop()
