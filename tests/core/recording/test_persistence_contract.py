"""The persistence contract's integration tests: the simulator on loopback, a real OrderBookManager, RocksDB.

Everything runs for real except the recorder's seconds, which are virtual (a ManualClock): each step
waits until every book has applied a new event since the last step, then moves the recorder one second
on and waits for that second's tick to be written. So the contract's 65 s and 120 s scenarios and its
10 s of full disk take a few seconds of real time, and every stored snapshot differs from the previous.

One real-time run of the 65 s scenario on the wall clock is marked `realtime`: it is deselected by
default and runs with `make test-realtime`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
import pytest_asyncio

from core.analysis.history import History
from core.analysis.order_flow import FlowDirection
from core.feed.manager import ManagerConfig, OrderBookManager
from core.recording.clock import ManualClock
from core.recording.recorder import SnapshotRecorder, spawn_snapshot_persistence_task
from core.simulator.server import ExchangeSimulator
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from core.timeparse import iso_utc
from tests.waiting import wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT"]
START = 1_795_000_000.5  # the virtual time at which recording starts, half-way through a second


def config_for(sim: ExchangeSimulator) -> ManagerConfig:
    return ManagerConfig(
        ws_url=sim.ws_url, rest_url=sim.rest_url, reconnect_initial=0.05, snapshot_retry_delay=0.05
    )


def stored_seconds(storage: SnapshotStorage, symbol: str) -> list[int]:
    return [ts for ts, _ in storage.range(symbol, 0, 9_999_999_999)]


async def one_second(
    manager: OrderBookManager, clock: ManualClock, symbols: Sequence[str], *, settle: bool = True
) -> None:
    """Once every book has applied an event since the last step, move the recorder one second on; returns
    when that second's tick is written (`settle=False`: as soon as the recorder is woken)."""
    before = {s: manager.book(s).last_update_id for s in symbols}
    await wait_until(
        lambda: all(manager.book(s).last_update_id != before[s] for s in symbols),
        10,
        f"new events in {symbols}",
    )
    await clock.advance(1, settle=settle)


async def seconds_until(
    condition: Callable[[], bool], manager: OrderBookManager, clock: ManualClock, symbols: Sequence[str],
    at_most: int, what: str,
) -> int:  # fmt: skip
    """Step one virtual second at a time until `condition()` holds; fail after `at_most` seconds."""
    for seconds in range(at_most + 1):
        if condition():
            return seconds
        if seconds < at_most:
            await one_second(manager, clock, symbols)
    pytest.fail(f"{what}: not after {at_most} virtual seconds")


def assert_one_snapshot_a_second(storage: SnapshotStorage, symbol: str, at_least: int) -> list[int]:
    seconds = stored_seconds(storage, symbol)
    assert len(seconds) >= at_least, f"{symbol}: {len(seconds)} snapshots"
    assert len(set(seconds)) == len(seconds)
    # one per second: the books were live before the first tick, so no second is missing
    assert seconds == list(range(seconds[0], seconds[-1] + 1)), f"{symbol} has holes"
    assert storage.count(symbol) == len(seconds)  # the counter counts each second once
    snap = OrderBookSnapshot.from_bytes(symbol, storage.get(symbol, seconds[-1]))
    assert snap.timestamp == seconds[-1] and len(snap.bids) == len(snap.asks) == 20
    assert snap.bids[0][0] > snap.bids[1][0] and snap.asks[0][0] < snap.asks[1][0]
    return seconds


class Recording:
    def __init__(self, sim, manager, storage, recorder, task, clock):
        self.sim, self.manager, self.storage = sim, manager, storage
        self.recorder, self.task, self.clock = recorder, task, clock

    async def until(self, seconds_since_start: int) -> None:
        """Record up to `seconds_since_start` virtual seconds after the start, a second at a time."""
        while self.clock.now() - START < seconds_since_start:
            await one_second(self.manager, self.clock, SYMBOLS)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recording(tmp_path_factory):
    """Two symbols recorded for the whole module: the contract's tests 1 and 3 look at it at 65 s and 120 s."""
    sim = ExchangeSimulator(symbols=SYMBOLS, seed=3, interval_ms=10)
    await sim.start()
    manager = OrderBookManager(config_for(sim))
    await manager.start()
    await manager.subscribe_many(SYMBOLS)
    await wait_until(lambda: all(manager.is_live(s) for s in SYMBOLS), 10, "live books")
    storage = SnapshotStorage.open(tmp_path_factory.mktemp("rec") / "db", mode="writer")
    shutdown = asyncio.Event()
    clock = ManualClock(START)
    task, recorder = spawn_snapshot_persistence_task(storage, manager, SYMBOLS, shutdown, clock=clock)
    await clock.until_sleeping()
    yield Recording(sim, manager, storage, recorder, task, clock)
    shutdown.set()
    await task
    await manager.stop()
    await sim.stop()
    storage.close()


@pytest.mark.asyncio(loop_scope="module")
async def test_65_seconds_store_at_least_60_snapshots_per_symbol_none_doubled(recording):
    await recording.until(65)
    for symbol in SYMBOLS:
        seconds = assert_one_snapshot_a_second(recording.storage, symbol, at_least=60)
        assert seconds[-1] == int(recording.clock.now())  # the last second is on disk when the step returns
        # each step waited for new events, so every snapshot is of a newer book than the one before
        stored = recording.storage.range(symbol, seconds[0], seconds[-1])
        update_ids = [OrderBookSnapshot.from_bytes(symbol, value).update_id for _, value in stored]
        assert all(a < b for a, b in itertools.pairwise(update_ids))
    assert recording.recorder.write_errors == 0


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


@pytest.mark.asyncio
async def test_full_disk_for_10_seconds_keeps_the_task_alive_and_loses_nothing(small_disk, caplog):
    caplog.set_level(logging.ERROR, logger="core.recording.recorder")
    symbols = ["BTCUSDT"]
    clock = ManualClock(START)
    async with ExchangeSimulator(symbols=symbols, seed=5, interval_ms=10) as sim:
        manager = OrderBookManager(config_for(sim))
        await manager.start()
        storage = SnapshotStorage.open(small_disk.path / "db", mode="writer")
        shutdown = asyncio.Event()
        recorder = SnapshotRecorder(storage, manager, symbols, clock=clock)
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        try:
            await manager.subscribe("BTCUSDT")
            await wait_until(lambda: manager.is_live("BTCUSDT"), 10, "a live book")
            await clock.until_sleeping()
            for _ in range(3):
                await one_second(manager, clock, symbols)
            assert storage.count("BTCUSDT") == 3
            small_disk.fill()
            # RocksDB may still write into space it had set aside; the disk fills up within seconds
            await seconds_until(
                lambda: recorder.write_errors >= 1, manager, clock, symbols, 30, "a failed write"
            )
            for _ in range(10):  # 10 s of failures
                await one_second(manager, clock, symbols)
            assert not task.done()
            assert recorder.write_errors >= 9  # every tick of those 10 s failed
            assert recorder.backlog >= 10  # and each is kept for when the disk has room again
            assert "full" in recorder.last_error
            assert "failed to persist snapshots" in caplog.text
            errors_when_freed = recorder.write_errors
            small_disk.free()
            await seconds_until(
                lambda: recorder.backlog == 0 and recorder.last_error is None,
                manager,
                clock,
                symbols,
                10,
                "recovery",
            )
            assert recorder.write_errors <= errors_when_freed + 1
            count = storage.count("BTCUSDT")
            for _ in range(2):
                await one_second(manager, clock, symbols)
            assert storage.count("BTCUSDT") == count + 2  # recording again
        finally:
            shutdown.set()
            await task
            await manager.stop()
        # the seconds that failed were kept and written once the disk had room: no hole in the record
        seconds = stored_seconds(storage, "BTCUSDT")
        assert seconds == list(range(seconds[0], seconds[-1] + 1))
        assert len(seconds) >= 15
        assert seconds[-1] == int(clock.now())
        sessions = storage.sessions()
        assert sessions[-1].end_reason == "stopped"
        storage.close()


@pytest.mark.asyncio
async def test_a_disk_full_when_recording_starts_keeps_the_recorder_alive_and_the_session_is_written_later(small_disk):
    """Found by the soak: the session record was written before the first tick with no retry, so a full disk at
    that moment ended the recorder for good."""
    symbols = ["BTCUSDT"]
    clock = ManualClock(START)
    async with ExchangeSimulator(symbols=symbols, seed=6, interval_ms=10) as sim:
        manager = OrderBookManager(config_for(sim))
        await manager.start()
        storage = SnapshotStorage.open(small_disk.path / "db", mode="writer")
        await manager.subscribe("BTCUSDT")
        await wait_until(lambda: manager.is_live("BTCUSDT"), 10, "a live book")
        small_disk.fill()
        # RocksDB writes into space it had set aside until that is gone: probe until a write really fails.
        probes = 0
        while True:
            try:
                storage.start_session(["PROBE"], START - 100 - probes)
                storage.end_session(START - 100 - probes, "probe")
            except Exception:
                break
            probes += 1
            assert probes < 10_000, "the full disk never refused a write"
        shutdown = asyncio.Event()
        recorder = SnapshotRecorder(storage, manager, symbols, clock=clock)
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        try:
            await clock.until_sleeping()
            assert not task.done() and recorder.write_errors == 1  # the session's start could not be written
            for _ in range(3):
                await one_second(manager, clock, symbols)
            assert not task.done() and recorder.backlog == 3
            small_disk.free()
            await seconds_until(lambda: recorder.backlog == 0, manager, clock, symbols, 10, "recovery")
        finally:
            shutdown.set()
            await task
            await manager.stop()
        seconds = stored_seconds(storage, "BTCUSDT")
        assert seconds == list(range(int(START) + 1, seconds[-1] + 1))  # every second since the start, none lost
        session = storage.sessions()[-1]
        assert (session.start, session.symbols, session.end_reason) == (int(START), ("BTCUSDT",), "stopped")
        storage.close()


@pytest.mark.asyncio
async def test_a_slow_write_does_not_cost_the_seconds_due_while_it_runs(tmp_path):
    """Found by the whole-market benchmark: the recorder awaited each write before its next capture, so one slow
    write (a busy executor, a compaction stall) turned the seconds after it into "late" gaps for every symbol.
    Here the executor's only worker is held busy while four seconds come: each is captured on time and all of
    them are written once the worker is free."""
    symbols = ["BTCUSDT"]
    clock = ManualClock(START, settle_timeout=5.0)
    loop = asyncio.get_running_loop()
    executor = ThreadPoolExecutor(max_workers=1)
    loop.set_default_executor(executor)  # writes run in the default executor: one worker, which the test holds
    gate = threading.Event()
    async with ExchangeSimulator(symbols=symbols, seed=8, interval_ms=10) as sim:
        manager = OrderBookManager(config_for(sim))
        await manager.start()
        storage = SnapshotStorage.open(tmp_path / "db", mode="writer")
        shutdown = asyncio.Event()
        recorder = SnapshotRecorder(storage, manager, symbols, clock=clock)
        task = loop.create_task(recorder.run(shutdown))
        try:
            await manager.subscribe("BTCUSDT")
            await wait_until(lambda: manager.is_live("BTCUSDT"), 10, "a live book")
            await clock.until_sleeping(2)  # the recorder and its retention pass
            await one_second(manager, clock, symbols)
            assert storage.count("BTCUSDT") == 1
            held = loop.run_in_executor(None, gate.wait)  # the worker is busy: the next write waits for it
            for second in range(4):
                await one_second(manager, clock, symbols, settle=False)
                await clock.until_sleeping(2)  # captured, and waiting for its write or the next second
                assert recorder.ticks == 2 + second
            assert storage.count("BTCUSDT") == 1  # nothing written yet, nothing missed either
            gate.set()
            await held
            await wait_until(lambda: storage.count("BTCUSDT") == 5 and recorder.backlog == 0, 10, "the queued writes")
        finally:
            gate.set()
            shutdown.set()
            await task
            await manager.stop()
            executor.shutdown()
        seconds = stored_seconds(storage, "BTCUSDT")
        assert seconds == list(range(int(START) + 1, int(START) + 6))
        assert storage.gaps("BTCUSDT", 0, 9_999_999_999) == []  # no second recorded as "late"
        update_ids = [snap.update_id for snap in storage.snapshots("BTCUSDT", seconds[0], seconds[-1])]
        assert all(a < b for a, b in itertools.pairwise(update_ids))  # each second's own book, not a copy
        assert recorder.write_errors == 0
        storage.close()


@pytest.mark.realtime
@pytest.mark.asyncio
async def test_65_real_seconds_on_the_wall_clock_store_at_least_60_snapshots_per_symbol(tmp_path):
    """The contract's first scenario end to end as it runs in production: the wall clock, real waits."""
    async with ExchangeSimulator(symbols=SYMBOLS, seed=3, interval_ms=100) as sim:
        manager = OrderBookManager(config_for(sim))
        await manager.start()
        await manager.subscribe_many(SYMBOLS)
        await wait_until(lambda: all(manager.is_live(s) for s in SYMBOLS), 10, "live books")
        with SnapshotStorage.open(tmp_path / "db", mode="writer") as storage:
            shutdown = asyncio.Event()
            task, recorder = spawn_snapshot_persistence_task(storage, manager, SYMBOLS, shutdown)
            try:
                with pytest.raises(TimeoutError):  # the task records until told to stop
                    await asyncio.wait_for(asyncio.shield(task), 65)
            finally:
                shutdown.set()
                await task
                await manager.stop()
            for symbol in SYMBOLS:
                assert_one_snapshot_a_second(storage, symbol, at_least=60)
            assert recorder.write_errors == 0
            assert storage.sessions()[-1].end_reason == "stopped"
