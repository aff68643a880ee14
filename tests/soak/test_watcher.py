"""The soak's write-latency reader: a real secondary handle beside a real writer, across the writer's restart."""

from __future__ import annotations

import time

import pytest

from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from soak.watcher import WriteWatcher
from tests.waiting import wait_until


def _put(storage: SnapshotStorage, ts: int) -> None:
    snap = OrderBookSnapshot("A", (("100.0", "1.0"),), (("101.0", "2.0"),), ts, ts)
    storage.put_encoded([("A", ts, snap.to_bytes())])


@pytest.mark.asyncio
async def test_each_second_is_seen_once_with_its_delay_and_the_watcher_follows_a_new_writer(tmp_path):
    db = str(tmp_path / "db")
    writer = SnapshotStorage.open(db)
    watcher = WriteWatcher(db, ["A", "B"])
    watcher.start()
    try:
        now = int(time.time())
        _put(writer, now - 5)  # written 5 s after its second: a backlog written late
        await wait_until(lambda: now - 5 in watcher.seen, what="the first second to be seen")
        writer.close()  # the writer goes (a kill), and another opens the same database
        writer = SnapshotStorage.open(db)
        current = int(time.time())
        _put(writer, current)
        await wait_until(lambda: current in watcher.seen, timeout=15, what="the new writer's second")
    finally:
        watcher.stop()
        writer.close()
    assert sorted(watcher.seen) == [now - 5, current]
    late, on_time = watcher.latencies()
    assert 5 <= late < 15  # the seconds since the second's boundary, not since the write
    assert 0 <= on_time < 10
    assert watcher.latencies(exclude=[(now - 6, now - 4)]) == [on_time]
