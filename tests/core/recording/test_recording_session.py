"""RecordingSession: storage, manager and recorder started and stopped in order, shared by `record` and the app.

Real simulator on loopback, real RocksDB; the recorder's seconds are virtual (ManualClock) so the test is fast.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from core.recording.clock import ManualClock
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from core.simulator.server import ExchangeSimulator
from core.storage.store import SnapshotStorage, StorageLockedError
from tests.waiting import wait_until

T0 = 1_737_158_400.0  # a whole second


def config_for(sim: ExchangeSimulator, db: Path) -> RecordingConfig:
    return RecordingConfig(db_path=db, ws_url=sim.ws_url, rest_url=sim.rest_url)


async def recording_session(sim, db, clock, **kwargs) -> RecordingSession:
    session = RecordingSession(config_for(sim, db), recorder_options={"clock": clock}, **kwargs)
    await session.start()
    await session.follow(["BTCUSDT"])
    await wait_until(lambda: session.manager.is_live("BTCUSDT"), 10, "BTCUSDT live")
    session.set_recording("BTCUSDT", True)
    await clock.until_sleeping()
    return session


@pytest.mark.asyncio
async def test_a_session_records_then_stops_in_order_and_releases_the_database(tmp_path):
    db = tmp_path / "db"
    clock = ManualClock(T0)
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=4, interval_ms=20) as sim:
        session = await recording_session(sim, db, clock)
        assert session.is_recording("BTCUSDT") and session.recorder_running
        await clock.advance(3)
        assert session.recording_status("BTCUSDT").stored == 3
        await session.stop()
        assert not session.recorder_running
        assert session.storage is None
        assert not session.connection_status().connected
    # The database was closed (its lock released) with three seconds and a session record ended "stopped".
    with SnapshotStorage.open(db, mode="writer") as storage:
        assert [ts for ts, _ in storage.range("BTCUSDT", 0, 2 * int(T0))] == [int(T0) + 1, int(T0) + 2, int(T0) + 3]
        [record] = storage.sessions()
        assert record.symbols == ("BTCUSDT",)
        assert (record.end, record.end_reason) == (int(T0) + 3, "stopped")


@pytest.mark.asyncio
async def test_a_database_held_by_another_session_is_refused_in_one_sentence(tmp_path):
    db = tmp_path / "db"
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=4, interval_ms=20) as sim:
        first = RecordingSession(config_for(sim, db))
        second = RecordingSession(config_for(sim, db))
        await first.start()
        try:
            with pytest.raises(StorageLockedError, match="in use by another Depthbook process"):
                await second.start()
            assert second.storage is None and not second.can_record
        finally:
            await second.stop()
            await first.stop()


@pytest.mark.asyncio
async def test_an_unexpected_recorder_failure_is_reported_never_silent(tmp_path, caplog):
    told: list[str] = []
    clock = ManualClock(T0)
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=4, interval_ms=20) as sim:
        session = await recording_session(
            sim, tmp_path / "db", clock, on_failure=lambda sentence, stopped: told.append((sentence, stopped))
        )
        await clock.advance(1)
        assert session.recording_status("BTCUSDT").stored == 1

        def broken_capture(timestamp: int):
            raise RuntimeError("a bug in capture")

        session.recorder.capture = broken_capture  # the instance's next tick hits a bug
        with caplog.at_level(logging.ERROR):
            await clock.advance(1)
            await wait_until(lambda: told, 5, "the failure to be reported")
        assert not session.recorder_running
        assert told == [(session.failure, True)]
        assert session.failure == "The recorder stopped unexpectedly: a bug in capture."
        assert any(r.exc_info and "a bug in capture" in str(r.exc_info[1]) for r in caplog.records)
        await session.stop()  # stopping after a failure is clean: the manager stops, the database closes
        assert session.storage is None
