"""SnapshotRecorder tick by tick (timestamps passed in), against real storage and a real manager."""

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator

import pytest

from core.feed.manager import ManagerConfig, OrderBookManager
from core.market.book_sync import SyncReason, SyncState
from core.recording.clock import ManualClock
from core.recording.recorder import (
    RETENTION_EVERY,
    SnapshotRecorder,
    _encode_and_write,
    gap_reason,
    spawn_snapshot_persistence_task,
)
from core.simulator.server import ExchangeSimulator
from core.storage.gaps import GapReason
from core.storage.retention import RetentionPolicy
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage, StorageOptions
from tests.waiting import wait_until

TS = 1_795_000_000


@contextlib.asynccontextmanager
async def simulated_manager() -> AsyncIterator[OrderBookManager]:
    """A started manager on a BTCUSDT simulator, nothing subscribed yet; stopped afterwards."""
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=9, interval_ms=20) as sim:
        manager = OrderBookManager(ManagerConfig(ws_url=sim.ws_url, rest_url=sim.rest_url))
        await manager.start()
        try:
            yield manager
        finally:
            await manager.stop()


def idle_manager() -> OrderBookManager:
    """A manager that was never started: nothing is subscribed, nothing is live."""
    return OrderBookManager(ManagerConfig(ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9"))


@pytest.mark.asyncio
async def test_live_books_are_stored_and_others_get_gap_records(tmp_path):
    async with simulated_manager() as manager:
        await manager.subscribe("BTCUSDT")
        await wait_until(lambda: manager.is_live("BTCUSDT"))
        with SnapshotStorage.open(tmp_path / "db") as storage:
            recorder = SnapshotRecorder(storage, manager, ["BTCUSDT", "ETHUSDT"])
            update_id = manager.book("BTCUSDT").last_update_id
            await recorder.tick(TS)
            snap = OrderBookSnapshot.from_bytes("BTCUSDT", storage.get("BTCUSDT", TS))
            assert snap.timestamp == TS and snap.update_id >= update_id
            assert len(snap.bids) == 20 and len(snap.asks) == 20
            assert [ts for ts, _ in storage.series("BTCUSDT", TS, TS)] == [TS]
            assert storage.get("ETHUSDT", TS) is None
            assert [(g.timestamp, g.reason) for g in storage.gaps("ETHUSDT", TS, TS)] == [
                (TS, GapReason.NOT_SUBSCRIBED)
            ]
            # ETHUSDT never had a live book: its second is on disk as a gap, and in the status it
            # counts as waiting for the first live book, not as data missed.
            eth = recorder.status("ETHUSDT")
            assert recorder.status("BTCUSDT").stored == 1 and (eth.gaps, eth.waiting) == (0, 1)


@pytest.mark.asyncio
async def test_seconds_missed_after_the_first_snapshot_count_as_gaps(tmp_path):
    async with simulated_manager() as manager:
        with SnapshotStorage.open(tmp_path / "db") as storage:
            recorder = SnapshotRecorder(storage, manager, ["BTCUSDT"])
            await recorder.tick(TS)  # not subscribed yet: waiting
            await manager.subscribe("BTCUSDT")
            await wait_until(lambda: manager.is_live("BTCUSDT"))
            await recorder.tick(TS + 1)  # stored: recording is under way
            await manager.unsubscribe("BTCUSDT")
            await recorder.tick(TS + 2)  # missed
            status = recorder.status("BTCUSDT")
            assert (status.waiting, status.stored, status.gaps) == (1, 1, 1)
            assert status.last_gap_reason is GapReason.NOT_SUBSCRIBED
            assert [g.timestamp for g in storage.gaps("BTCUSDT", TS, TS + 2)] == [TS, TS + 2]
            recorder.stop_recording("BTCUSDT")
            recorder.start_recording("BTCUSDT")  # switched on again: waits for a snapshot anew
            await recorder.tick(TS + 3)
            assert (status.waiting, status.gaps) == (2, 1)


@pytest.mark.asyncio
async def test_a_second_before_the_first_snapshot_is_waiting_also_when_one_batch_writes_both(tmp_path):
    # At a busy start the first tick's write may still run when the next second is captured: both then go out in
    # one batch, the snapshot counted first. The earlier gap is still the wait for the first live book (the app's
    # table showed it as data missed, 98.7 % complete).
    async with simulated_manager() as manager:
        with SnapshotStorage.open(tmp_path / "db") as storage:
            recorder = SnapshotRecorder(storage, manager, ["BTCUSDT"])
            first = recorder.capture(TS)  # not subscribed yet: a gap
            await manager.subscribe("BTCUSDT")
            await wait_until(lambda: manager.is_live("BTCUSDT"))
            recorder._backlog.append(first)  # as the run loop queues a tick captured while a write is in flight
            assert await recorder.write(recorder.capture(TS + 1))
            status = recorder.status("BTCUSDT")
            assert (status.waiting, status.stored, status.gaps) == (1, 1, 0)
            assert [g.timestamp for g in storage.gaps("BTCUSDT", TS, TS + 1)] == [TS]  # on disk all the same


@pytest.mark.asyncio
async def test_switching_recording_takes_effect_at_the_next_tick(tmp_path):
    with SnapshotStorage.open(tmp_path / "db") as storage:
        recorder = SnapshotRecorder(storage, idle_manager(), ["BTCUSDT"])
        await recorder.tick(TS)
        recorder.stop_recording("btcusdt")
        recorder.start_recording("ETHUSDT")
        await recorder.tick(TS + 1)
        assert [g.timestamp for g in storage.gaps("BTCUSDT", TS, TS + 5)] == [TS]
        assert [g.timestamp for g in storage.gaps("ETHUSDT", TS, TS + 5)] == [TS + 1]
        assert recorder.recorded_symbols == ["ETHUSDT"]
        assert not recorder.is_recording("BTCUSDT")


@pytest.mark.asyncio
async def test_run_ticks_on_second_boundaries_and_closes_its_session(tmp_path):
    clock = ManualClock(TS + 0.25)
    with SnapshotStorage.open(tmp_path / "db") as storage:
        recorder = SnapshotRecorder(storage, idle_manager(), ["BTCUSDT"], clock=clock)
        shutdown = asyncio.Event()
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        await clock.until_sleeping()
        await clock.advance(0.5)  # TS + 0.75: no boundary crossed yet
        assert recorder.ticks == 0
        await clock.advance(2)  # TS + 1 and TS + 2
        assert recorder.ticks == 2
        recorder.start_recording("ETHUSDT")  # switched on mid-session
        await clock.advance(1)
        assert recorder.ticks == 3
        shutdown.set()
        await task
        assert [g.timestamp for g in storage.gaps("BTCUSDT", 0, 9_999_999_999)] == [TS + 1, TS + 2, TS + 3]
        assert [g.timestamp for g in storage.gaps("ETHUSDT", 0, 9_999_999_999)] == [TS + 3]
        session = storage.sessions()[-1]
        assert (session.start, session.end) == (TS, TS + 3)
        assert list(session.symbols) == ["BTCUSDT", "ETHUSDT"] and session.end_reason == "stopped"


@pytest.mark.asyncio
async def test_retention_deletes_old_snapshots_when_recording_starts_then_hourly(tmp_path):
    options = StorageOptions(retention=RetentionPolicy(days=1))
    clock = ManualClock(TS)

    def snapshot(update_id: int, timestamp: int) -> OrderBookSnapshot:
        return OrderBookSnapshot("BTCUSDT", (("1.0", "1.0"),), (("2.0", "1.0"),), update_id, timestamp)

    with SnapshotStorage.open(tmp_path / "db", options=options) as storage:
        old, aging, recent = snapshot(1, TS - 3 * 86_400), snapshot(2, TS - 86_400 + 1800), snapshot(3, TS - 3600)
        storage.put_tick([old, aging, recent])
        recorder = SnapshotRecorder(storage, idle_manager(), [], clock=clock)
        shutdown = asyncio.Event()
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        await clock.until_sleeping(2)  # the recorder, and the retention loop after its first pass
        assert [ts for ts, _ in storage.range("BTCUSDT", 0, TS)] == [aging.timestamp, recent.timestamp]
        await clock.advance(RETENTION_EVERY - 1, step=RETENTION_EVERY - 1)
        assert storage.count("BTCUSDT") == 2  # the next pass is an hour after the first
        await clock.advance(1)  # an hour on: `aging` is more than a day old now
        assert [ts for ts, _ in storage.range("BTCUSDT", 0, TS)] == [recent.timestamp]
        shutdown.set()
        await task


@pytest.mark.asyncio
async def test_the_contract_entry_point_subscribes_its_symbols_and_survives_a_bad_one(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="core.recording.recorder")
    clock = ManualClock(TS + 0.5)
    async with simulated_manager() as manager:
        with SnapshotStorage.open(tmp_path / "db") as storage:
            shutdown = asyncio.Event()
            task, recorder = spawn_snapshot_persistence_task(
                storage, manager, ["btcusdt", "NOPEUSDT"], shutdown, clock=clock
            )
            await clock.until_sleeping()  # subscribed (or not) and recording
            await wait_until(lambda: manager.is_live("BTCUSDT"), 10, "the book of the symbol nobody subscribed")
            await clock.advance(2)
            assert storage.count("BTCUSDT") == 2
            assert not task.done()
            shutdown.set()
            await task
            assert "pre-subscribed for snapshot persistence symbol=BTCUSDT" in caplog.text
            assert "failed to subscribe for snapshot persistence symbol=NOPEUSDT" in caplog.text
            assert storage.gaps("NOPEUSDT", 0, 9_999_999_999)  # its seconds are on record as missing
            assert recorder.recorded_symbols == ["BTCUSDT", "NOPEUSDT"]


def test_a_snapshot_that_cannot_be_encoded_becomes_a_gap_and_the_rest_of_the_tick_is_stored(tmp_path, caplog):
    good = OrderBookSnapshot("BTCUSDT", (("1.0", "1.0"),), (("2.0", "1.0"),), 1, TS)
    bad = OrderBookSnapshot("ETHUSDT", ((object(), "1.0"),), (("2.0", "1.0"),), 1, TS)  # msgpack refuses it
    with SnapshotStorage.open(tmp_path / "db") as storage:
        written, gaps = _encode_and_write(storage, [bad, good], [])
        assert written == [good]
        assert [(g.symbol, g.reason) for g in gaps] == [("ETHUSDT", GapReason.SERIALIZE_ERROR)]
        assert storage.get("BTCUSDT", TS) == good.to_bytes()
        assert [g.reason for g in storage.gaps("ETHUSDT", TS, TS)] == [GapReason.SERIALIZE_ERROR]
        assert storage.count("ETHUSDT") == 0
    assert "failed to serialize snapshot symbol=ETHUSDT" in caplog.text


@pytest.mark.parametrize(
    ("state", "reason", "expected"),
    [
        (None, None, GapReason.NOT_SUBSCRIBED),
        (SyncState.BUFFERING, SyncReason.FIRST_EVENT_AWAITED, GapReason.SYNCING),
        (SyncState.BUFFERING, SyncReason.RESTARTED, GapReason.SYNCING),
        (SyncState.SYNCING, SyncReason.SNAPSHOT_REQUESTED, GapReason.SYNCING),
        (SyncState.RESYNCING, SyncReason.GAP, GapReason.SYNCING),
        (SyncState.RESYNCING, SyncReason.CROSSED_BOOK, GapReason.SYNCING),
        (SyncState.RESYNCING, SyncReason.MALFORMED_LEVEL, GapReason.SYNCING),
        (SyncState.STALE, SyncReason.DISCONNECTED, GapReason.DISCONNECTED),
        (SyncState.STALE, SyncReason.SILENT, GapReason.STALE),
    ],
)
def test_gap_reasons_name_why_a_book_was_not_live(state, reason, expected):
    assert gap_reason(state, reason) is expected


@pytest.mark.asyncio
async def test_seconds_spent_writing_the_session_record_are_not_skipped_silently(tmp_path):
    """The session record's write is slow (a busy disk at a restart): the seconds that pass meanwhile are ticked late
    or recorded as late gaps, and none is left without a record (found by `make soak`: a restart after a kill -9)."""
    clock = ManualClock(TS + 0.25)
    with SnapshotStorage.open(tmp_path / "db") as storage:
        writing, release = threading.Event(), threading.Event()
        write_session = storage.start_session

        def slow_start_session(*args, **kwargs):
            writing.set()
            release.wait(10)
            return write_session(*args, **kwargs)

        storage.start_session = slow_start_session  # type: ignore[method-assign]
        recorder = SnapshotRecorder(storage, idle_manager(), ["BTCUSDT"], clock=clock)
        shutdown = asyncio.Event()
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        assert await asyncio.to_thread(writing.wait, 10)
        await clock.advance(2.5, settle=False)  # TS + 2.75 when the record is written
        release.set()
        # Two sleepers: the retention loop, and the recorder once it has ticked TS + 2 (its own sleep to TS + 1
        # returns at once, letting the retention loop sleep first: one sleeper alone proves nothing).
        await clock.until_sleeping(2)
        await clock.advance(1)  # the tick of TS + 3
        await clock.until_sleeping(2)  # ticked, and asleep again until TS + 4
        shutdown.set()
        await task
        gaps = storage.gaps("BTCUSDT", 0, 9_999_999_999)
        assert [g.timestamp for g in gaps] == [TS + 1, TS + 2, TS + 3]  # the idle manager's books are never live
        assert [g.timestamp for g in gaps if g.reason is GapReason.LATE] == [TS + 1]  # TS + 2 ticked at TS + 2.75


@pytest.mark.asyncio
async def test_seconds_the_loop_slept_through_are_recorded_as_late_gaps_never_as_copies(tmp_path):
    """A wall clock that jumps 5 s ahead (a suspended laptop, a stalled loop): the skipped seconds become
    "late" gap records and the schedule resumes at the current second."""
    clock = ManualClock(TS + 0.25)
    with SnapshotStorage.open(tmp_path / "db") as storage:
        recorder = SnapshotRecorder(storage, idle_manager(), ["BTCUSDT"], clock=clock)
        shutdown = asyncio.Event()
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        await clock.until_sleeping()
        await clock.advance(2)  # ticks at TS + 1 and TS + 2
        await clock.advance(5, step=5)  # the loop wakes at TS + 7.25, four whole seconds late
        await clock.advance(1)
        shutdown.set()
        await task
        gaps = storage.gaps("BTCUSDT", 0, 9_999_999_999)
        assert [g.timestamp for g in gaps] == list(range(TS + 1, TS + 9))  # every second once, in order
        assert [g.timestamp for g in gaps if g.reason is GapReason.LATE] == [TS + 3, TS + 4, TS + 5, TS + 6]
        assert recorder.ticks == 4  # the late seconds were recorded, not ticked (never copies)
