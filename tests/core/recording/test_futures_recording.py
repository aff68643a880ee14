"""Recording USDⓈ-M futures: stored as `usdm/SYMBOL`, beside the spot symbol of the same name, which stays untouched.

Real simulators (one spot, one in its USDⓈ-M mode) on loopback, one real RocksDB; virtual seconds (ManualClock).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rocksdict import AccessType, Options, Rdict

from core.market.markets import SPOT, USDM
from core.recording.clock import ManualClock
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from core.simulator.server import ExchangeSimulator
from core.storage.keys import parse_storage_symbol, storage_symbol
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from tests.waiting import wait_until

T0 = 1_737_158_400.0


async def record(sim: ExchangeSimulator, db: Path, clock: ManualClock, seconds: int, **config) -> None:
    session = RecordingSession(
        RecordingConfig(db_path=db, ws_url=sim.ws_url, rest_url=sim.rest_url, **config),
        recorder_options={"clock": clock},
    )
    await session.start()
    try:
        await session.follow(["BTCUSDT"])
        await wait_until(lambda: session.manager.is_live("BTCUSDT"), 10, "BTCUSDT live")
        session.set_recording("BTCUSDT", True)
        await clock.until_sleeping()
        await clock.advance(seconds)
        assert session.recording_status("BTCUSDT").stored == seconds
    finally:
        await session.stop()


def everything(storage: SnapshotStorage, name: str) -> list[tuple[int, bytes]]:
    return list(storage.range(name, 0, 9_999_999_999))


@pytest.mark.asyncio
async def test_futures_are_stored_apart_and_the_spot_symbol_of_the_same_name_is_untouched(tmp_path):
    db = tmp_path / "db"
    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=4, interval_ms=20) as spot_sim:
        await record(spot_sim, db, ManualClock(T0), 3)
    with SnapshotStorage.open(db, mode="read_only") as storage:
        spot_before = everything(storage, "BTCUSDT")
    assert len(spot_before) == 3

    async with ExchangeSimulator(symbols=["BTCUSDT"], seed=4, interval_ms=20, usdm=True) as futures_sim:
        # The same seconds as the spot recording: only the name keeps the two apart.
        await record(futures_sim, db, ManualClock(T0), 4, market=USDM)
        truth = futures_sim.market("BTCUSDT")
        with SnapshotStorage.open(db, mode="read_only") as storage:
            assert storage.symbols() == ["BTCUSDT", "usdm/BTCUSDT"]  # futures sort after every spot name
            assert everything(storage, "BTCUSDT") == spot_before
            stored = everything(storage, "usdm/BTCUSDT")
            assert [ts for ts, _ in stored] == [int(T0) + i for i in range(1, 5)]
            for ts, value in stored:
                snap = OrderBookSnapshot.from_bytes("usdm/BTCUSDT", value)
                assert snap.timestamp == ts
                true_bids, true_asks = truth.top_at(snap.update_id, 20)
                assert (list(snap.bids), list(snap.asks)) == (true_bids, true_asks)
            # Contract precision (tick 0.1) and never spot's 8 decimals: these are futures levels.
            assert all(len(level[0].partition(".")[2]) == 1 for level in snap.bids)
            assert [r.symbols for r in storage.sessions()] == [("BTCUSDT",), ("usdm/BTCUSDT",)]
    # The raw default column family, as any reader of the contract sees it: the spot keys are exactly the
    # contract's, and the futures keys carry the market.
    raw = Rdict(str(db), Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        keys = list(raw.keys())
    finally:
        raw.close()
    assert keys == [f"BTCUSDT:{int(T0) + i}".encode() for i in range(1, 4)] + [
        f"usdm/BTCUSDT:{int(T0) + i}".encode() for i in range(1, 5)
    ]


def test_a_reader_tells_the_market_from_the_stored_name():
    assert storage_symbol(SPOT, "BTCUSDT") == "BTCUSDT"
    assert storage_symbol(USDM, "BTCUSDT") == "usdm/BTCUSDT"
    assert parse_storage_symbol("usdm/BTCUSDT") == (USDM, "BTCUSDT")
    assert parse_storage_symbol("BTCUSDT") == (SPOT, "BTCUSDT")
    # Names no market claims stay spot's, whole: nothing is guessed.
    assert parse_storage_symbol("coinm/BTCUSD") == (SPOT, "coinm/BTCUSD")
    assert parse_storage_symbol("usdm/") == (SPOT, "usdm/")


def test_a_futures_recording_refuses_a_snapshot_limit_futures_do_not_serve(tmp_path):
    with pytest.raises(ValueError, match="between 1 and 1000 on USD-M futures"):
        RecordingConfig(db_path=tmp_path, ws_url="ws://127.0.0.1:1", rest_url="http://127.0.0.1:1",
                        snapshot_limit=5000, market=USDM)  # fmt: skip
