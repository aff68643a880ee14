"""The persistence contract's integration tests, for real: simulator on loopback, RocksDB on disk.

These run in real time (the recorder ticks on wall-clock seconds), so they are the slowest tests:
about two minutes for the shared recording, fifteen seconds for the full disk.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import pytest_asyncio

from core.analysis.history import History
from core.analysis.order_flow import FlowDirection
from core.feed.manager import ManagerConfig, OrderBookManager
from core.recording.recorder import SnapshotRecorder, spawn_snapshot_persistence_task
from core.simulator.server import ExchangeSimulator
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from core.timeparse import iso_utc
from tests.core.test_manager_sim import wait_for

SYMBOLS = ["BTCUSDT", "ETHUSDT"]


def config_for(sim: ExchangeSimulator) -> ManagerConfig:
    return ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url, reconnect_initial=0.05, snapshot_retry_delay=0.05)


def stored_seconds(storage: SnapshotStorage, symbol: str) -> list[int]:
    return [ts for ts, _ in storage.range(symbol, 0, 9_999_999_999)]


class Recording:
    def __init__(self, sim, manager, storage, recorder, task, shutdown, started):
        self.sim, self.manager, self.storage = sim, manager, storage
        self.recorder, self.task, self.shutdown, self.started = recorder, task, shutdown, started

    async def until(self, seconds_since_start: float) -> None:
        await wait_for(lambda: time.monotonic() - self.started >= seconds_since_start, seconds_since_start + 5)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recording(tmp_path_factory):
    """Two symbols recorded for the whole module: the contract's tests 1 and 3 look at it at 65 s and 120 s."""
    sim = ExchangeSimulator(symbols=SYMBOLS, seed=3, interval_ms=100)
    await sim.start()
    manager = OrderBookManager(config_for(sim))
    await manager.start()
    await manager.subscribe_many(SYMBOLS)
    await wait_for(lambda: all(manager.is_live(s) for s in SYMBOLS), 10)
    storage = SnapshotStorage.open(tmp_path_factory.mktemp("rec") / "db", mode="writer")
    shutdown = asyncio.Event()
    task, recorder = spawn_snapshot_persistence_task(storage, manager, SYMBOLS, shutdown)
    yield Recording(sim, manager, storage, recorder, task, shutdown, time.monotonic())
    shutdown.set()
    await task
    await manager.stop()
    await sim.stop()
    storage.close()


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_65_seconds_store_at_least_60_snapshots_per_symbol_none_doubled(recording):
    await recording.until(65)
    for symbol in SYMBOLS:
        seconds = stored_seconds(recording.storage, symbol)
        assert len(seconds) >= 60, f"{symbol}: {len(seconds)} snapshots in 65 s"
        assert len(set(seconds)) == len(seconds)
        # one per second: the books were live before the first tick, so no second is missing
        assert seconds == list(range(seconds[0], seconds[-1] + 1)), f"{symbol} has holes"
        assert recording.storage.count(symbol) == len(seconds)  # the counter counts each second once
        snap = OrderBookSnapshot.from_bytes(symbol, recording.storage.get(symbol, seconds[-1]))
        assert snap.timestamp == seconds[-1] and len(snap.bids) == len(snap.asks) == 20
        assert snap.bids[0][0] > snap.bids[1][0] and snap.asks[0][0] < snap.asks[1][0]
    assert recording.recorder.write_errors == 0


@pytest.mark.slow
@pytest.mark.asyncio(loop_scope="module")
async def test_after_120_seconds_order_flow_returns_valid_data(recording):
    await recording.until(121)
    symbol = "BTCUSDT"
    last = recording.storage.first_last(symbol)[1]
    flow = History(recording.storage).get_order_flow(symbol, window_secs=60)  # the contract's call
    assert flow.time_window_end == iso_utc(last)  # `end` defaults to the last recorded second
    assert flow.snapshot_count == 61  # both ends inclusive, nothing missing
    assert flow.bid_flow_rate > 0 and flow.ask_flow_rate > 0  # the simulated market moves
    assert flow.net_flow == pytest.approx(flow.bid_flow_rate - flow.ask_flow_rate)
    assert isinstance(flow.flow_direction, FlowDirection)
    assert flow.time_window_end.endswith("Z")


@pytest.mark.slow
@pytest.mark.asyncio
async def test_full_disk_for_10_seconds_keeps_the_task_alive_and_loses_nothing(small_disk, caplog):
    caplog.set_level(logging.ERROR, logger="core.recording.recorder")
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=5, interval_ms=100) as sim:
        manager = OrderBookManager(config_for(sim))
        await manager.start()
        storage = SnapshotStorage.open(small_disk.path / "db", mode="writer")
        shutdown = asyncio.Event()
        recorder = SnapshotRecorder(storage, manager, ["BTCUSDT"])
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        try:
            await manager.subscribe("BTCUSDT")
            await wait_for(lambda: storage.count("BTCUSDT") >= 3, 15, "first snapshots")
            small_disk.fill()
            await wait_for(lambda: recorder.write_errors >= 1, 10, "a failed write")
            failing_since = time.monotonic()
            await wait_for(lambda: time.monotonic() - failing_since >= 10, 15, "10 s of failures")
            assert not task.done()
            assert recorder.write_errors >= 9  # every tick of those 10 s failed
            assert "full" in recorder.last_error
            assert "failed to persist snapshots" in caplog.text
            errors_when_freed = recorder.write_errors
            small_disk.free()
            await wait_for(lambda: recorder.backlog == 0 and recorder.last_error is None, 10, "recovery")
            assert recorder.write_errors <= errors_when_freed + 1
            count = storage.count("BTCUSDT")
            await wait_for(lambda: storage.count("BTCUSDT") >= count + 2, 10, "recording again")
        finally:
            shutdown.set()
            await task
            await manager.stop()
        # the seconds that failed were kept and written once the disk had room: no hole in the record
        seconds = stored_seconds(storage, "BTCUSDT")
        assert seconds == list(range(seconds[0], seconds[-1] + 1))
        assert len(seconds) >= 15
        sessions = storage.sessions()
        assert sessions[-1].end_reason == "stopped"
        storage.close()
