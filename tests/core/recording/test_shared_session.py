"""Two recorders of one database (the app's spot and futures) share its session record: the first opens it, the
other's symbols join it, the last to stop ends it; a start that never reached the disk ends nothing."""

from __future__ import annotations

from core.recording.shared_session import SessionLedger
from core.storage.store import SnapshotStorage


def test_the_first_opens_the_record_the_other_joins_and_the_last_ends_it(tmp_path):
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as storage:
        ledger = SessionLedger(storage)
        spot, futures = ledger.handle(), ledger.handle()
        assert spot.mode == "writer" and spot.path == storage.path  # otherwise the storage itself
        spot.start_session(["BTCUSDT"], 100)
        futures.start_session(["usdm/BTCUSDT"], 102)
        assert spot.end_session(110, "stopped") is None  # futures still records into it
        assert [(s.start, s.symbols, s.end) for s in storage.sessions()] == [(100, ("BTCUSDT", "usdm/BTCUSDT"), None)]
        ended = futures.end_session(120, "stopped")
        assert ended is not None and (ended.end, ended.end_reason) == (120, "stopped")
        assert ledger.holders == 0
        # A handle whose start never happened (its first write failed) ends nothing, and a new start opens anew.
        assert spot.end_session(130, "stopped") is None
        futures.start_session(["usdm/ETHUSDT"], 140)
        assert [s.start for s in storage.sessions()] == [100, 140]
        assert storage.sessions()[-1].end is None
