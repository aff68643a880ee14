"""A book unchanged since its last snapshot reuses that snapshot's work, and what is stored stays the very bytes
of encoding from scratch: a recorder with the reuse is compared with one without it, on the same books at the
same moments (real simulator, real manager, real RocksDB)."""

import contextlib
from collections.abc import AsyncIterator

import pytest

from core.feed.manager import ManagerConfig, OrderBookManager
from core.recording.recorder import SnapshotRecorder
from core.simulator.server import ExchangeSimulator
from core.storage.snapshot import OrderBookSnapshot, stamped
from core.storage.store import HEAT_CF, SnapshotStorage
from tests.waiting import wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
T0 = 1_795_000_000 // 60 * 60 + 60  # a minute's first second: the minute of 60 ticks gets its rollup rows


@contextlib.asynccontextmanager
async def live_books() -> AsyncIterator[tuple[ExchangeSimulator, OrderBookManager]]:
    async with ExchangeSimulator(symbols=SYMBOLS, seed=5, interval_ms=20) as sim:
        manager = OrderBookManager(ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url))
        await manager.start()
        try:
            await manager.subscribe_many(SYMBOLS)
            await wait_until(lambda: all(manager.is_live(s) for s in SYMBOLS), what="books live")
            yield sim, manager
        finally:
            await manager.stop()


async def halt(sim: ExchangeSimulator, manager: OrderBookManager, symbol: str) -> None:
    """Stop `symbol`'s market and wait until its book holds the market's last event: from then on it stands still."""
    sim.set_status(symbol, "HALT")
    last = sim.market(symbol).last_update_id
    await wait_until(lambda: manager.book(symbol).last_update_id == last, what=f"{symbol} caught up")


class Twins:
    """Two recorders on one manager, into two databases: `reusing` as recorded, `scratch` with the reuse off.
    Both capture at the same moment (nothing runs on the loop between the two captures)."""

    def __init__(self, manager: OrderBookManager, root) -> None:
        self.stores = [SnapshotStorage.open(root / "reusing"), SnapshotStorage.open(root / "scratch")]
        self.reusing, self.scratch = (SnapshotRecorder(s, manager, SYMBOLS) for s in self.stores)
        self.scratch.reuse = False

    async def tick(self, ts: int) -> dict[str, OrderBookSnapshot]:
        ticks = [self.reusing.capture(ts), self.scratch.capture(ts)]
        for recorder, tick in zip((self.reusing, self.scratch), ticks, strict=True):
            assert await recorder.write(tick)
        return {snap.symbol: snap for snap in ticks[0].snapshots}

    def contents(self, store: SnapshotStorage) -> dict:
        end = T0 + 3600
        found = {}
        for symbol in SYMBOLS:
            found[symbol, "snapshots"] = list(store.range(symbol, T0, end))
            found[symbol, "series"] = list(store.series(symbol, T0, end))
            found[symbol, "rollups"] = list(store.rollups(symbol, T0, end))
        found["heat"] = dict(store._views[HEAT_CF].items())
        return found

    def close(self) -> None:
        for store in self.stores:
            store.close()


@pytest.mark.asyncio
async def test_unchanged_and_changed_books_store_the_bytes_of_encoding_from_scratch(tmp_path):
    async with live_books() as (sim, manager):
        twins = Twins(manager, tmp_path)
        try:
            sim.set_status("ETHUSDT", "HALT")  # its book stands still, until it trades again at second 30
            previous: dict[str, OrderBookSnapshot] = {}
            reused = changed = 0
            for ts in range(T0, T0 + 61):
                if ts == T0 + 30:
                    sim.set_status("ETHUSDT", "TRADING")
                    before = manager.book("ETHUSDT").last_update_id
                    await wait_until(lambda b=before: manager.book("ETHUSDT").last_update_id != b, what="ETH moved")
                    sim.set_status("ETHUSDT", "HALT")
                if ts % 3 == 0:  # BTCUSDT moves every 20 ms: make sure some of its seconds did change
                    before = manager.book("BTCUSDT").last_update_id
                    await wait_until(lambda b=before: manager.book("BTCUSDT").last_update_id != b, what="BTC moved")
                ids = {s: manager.book(s).last_update_id for s in SYMBOLS}
                snaps = await twins.tick(ts)
                assert snaps.keys() == set(SYMBOLS)
                for symbol, snap in snaps.items():
                    last = previous.get(symbol)
                    same = last is not None and last.update_id == ids[symbol]
                    # the top levels are shared exactly when the book did not change
                    assert (last is not None and snap.shares_levels(last)) == same
                    reused += same
                    changed += not same
                    previous[symbol] = snap
            assert reused >= 40 and changed >= 20  # both kinds of second were recorded
            reusing, scratch = (twins.contents(store) for store in twins.stores)
            assert len(reusing["ETHUSDT", "snapshots"]) == 61 and len(reusing["heat"]) == 2
            assert len(reusing["ETHUSDT", "rollups"]) == 1 and len(reusing["BTCUSDT", "rollups"]) == 1
            assert reusing == scratch
            for ts, value in reusing["ETHUSDT", "snapshots"]:  # and each carries its own second
                snap = OrderBookSnapshot.from_bytes("ETHUSDT", value)
                assert snap.timestamp == ts and value == snap.to_bytes()
        finally:
            twins.close()


@pytest.mark.asyncio
async def test_a_resync_or_a_stop_and_start_never_reuses_the_old_levels(tmp_path):
    async with live_books() as (sim, manager):
        twins = Twins(manager, tmp_path)
        try:
            await halt(sim, manager, "ETHUSDT")
            first = (await twins.tick(T0))["ETHUSDT"]
            assert (await twins.tick(T0 + 1))["ETHUSDT"].shares_levels(first)  # unchanged: reused

            # Stopped and started again: the levels are taken anew, although the book did not change.
            for recorder in (twins.reusing, twins.scratch):
                recorder.stop_recording("ETHUSDT")
                recorder.start_recording("ETHUSDT")
            again = (await twins.tick(T0 + 2))["ETHUSDT"]
            assert not again.shares_levels(first) and again.update_id == first.update_id

            # Another depth: the levels are taken anew at that depth.
            for recorder in (twins.reusing, twins.scratch):
                recorder.set_depth(10)
            shallow = (await twins.tick(T0 + 3))["ETHUSDT"]
            assert len(shallow.bids) == 10 and not shallow.shares_levels(again)

            # A resync: the levels are taken anew from the rebuilt book.
            sim.set_status("ETHUSDT", "TRADING")
            resyncs = manager.status("ETHUSDT").resyncs
            sim.faults.drop_events("ETHUSDT")
            await wait_until(lambda: manager.status("ETHUSDT").resyncs > resyncs, what="ETH resync")
            await wait_until(lambda: manager.is_live("ETHUSDT"), what="ETH live again")
            await halt(sim, manager, "ETHUSDT")
            after = (await twins.tick(T0 + 4))["ETHUSDT"]
            assert not after.shares_levels(shallow) and after.update_id != shallow.update_id
            assert (await twins.tick(T0 + 5))["ETHUSDT"].shares_levels(after)  # unchanged since: reused again
            reusing, scratch = (twins.contents(store) for store in twins.stores)
            assert len(reusing["ETHUSDT", "snapshots"]) == 6 and reusing == scratch
        finally:
            twins.close()


def test_a_stamped_encoding_is_the_encoding_from_scratch():
    levels = (("67650.01000000", "1.50000000"), ("67650.00000000", "0.00100000"))
    for ts in (0, 5, 200, 65_535, 65_536, 70_000, 1_795_000_000, 2**32 - 1, 2**32, 2**40):  # every width msgpack gives
        snap = OrderBookSnapshot("BTCUSDT", levels, levels[::-1], 123_456_789_012, ts)
        assert stamped(snap.untimed_bytes(), ts) == snap.to_bytes()
