"""Retention never deletes more than the user asked: no zero or negative days, only the symbols the policy
covers, a warning before a symbol's whole history goes, and nothing at all when the clock is far ahead."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from core.simulator.server import ExchangeSimulator
from core.storage.gaps import GapReason, GapRecord
from core.storage.retention import RetentionPolicy
from core.storage.store import SnapshotStorage, StorageOptions
from tests.core.cli.cli_helpers import depthbook
from tests.core.storage.damage_helpers import T0, book, fingerprint

DAY = 86_400


@pytest.mark.parametrize("days", [0, -1, -365, True, 1.5, 10**9])
def test_a_policy_of_zero_or_fewer_days_cannot_be_built(days):
    with pytest.raises(ValueError, match="whole number of days from 1"):
        RetentionPolicy(days=days)
    with pytest.raises(ValueError, match="retention of BTCUSDT must be a whole number of days"):
        RetentionPolicy(per_symbol={"BTCUSDT": days})


def fill(storage: SnapshotStorage, symbol: str, seconds: list[int]) -> None:
    storage.put_tick(
        [book(symbol, ts) for ts in seconds],
        [GapRecord(symbol, seconds[0] - 1, GapReason.STALE)],
        [(symbol, ts, b"row") for ts in seconds],
    )


def test_retention_touches_only_the_symbols_its_policy_covers(tmp_path):
    now = T0 + 10 * DAY
    policy = RetentionPolicy(days=1, per_symbol={"DOGEUSDT": 2}, symbols=frozenset({"BTCUSDT"}))
    with SnapshotStorage.open(tmp_path / "db", options=StorageOptions(retention=policy)) as storage:
        for symbol in ("BTCUSDT", "ETHUSDT", "DOGEUSDT"):
            fill(storage, symbol, [T0 + d * DAY for d in range(11)])
        storage.apply_retention(now)
        assert storage.first_last("BTCUSDT") == (now - DAY, now)  # recorded: the global days
        assert storage.first_last("DOGEUSDT") == (now - 2 * DAY, now)  # named: its own days
        assert storage.first_last("ETHUSDT") == (T0, now)  # neither: untouched, with its gaps and series rows
        assert storage.count("ETHUSDT") == 11
        assert len(storage.gaps("ETHUSDT", 0, now)) == 1 and len(list(storage.series("ETHUSDT", 0, now))) == 11


def test_deleting_a_symbols_whole_history_is_announced_then_done(tmp_path, caplog):
    now = T0 + 7 * DAY
    options = StorageOptions(retention=RetentionPolicy(days=1))
    with SnapshotStorage.open(tmp_path / "db", options=options) as storage:
        fill(storage, "BTCUSDT", [now - 60, now])  # recent
        fill(storage, "ETHUSDT", [T0, T0 + 1, T0 + 2])  # a week old: all of it goes
        with caplog.at_level(logging.WARNING, logger="core.storage"):
            assert storage.apply_retention(now) == 3
        assert storage.count("ETHUSDT") == 0 and storage.count("BTCUSDT") == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "retention deletes the whole history of symbol=ETHUSDT snapshots=3" in warnings[0]


def test_a_clock_far_ahead_of_the_data_deletes_nothing(tmp_path, caplog):
    options = StorageOptions(retention=RetentionPolicy(days=1))
    path = tmp_path / "db"
    with SnapshotStorage.open(path, options=options) as storage:
        fill(storage, "BTCUSDT", [T0 + i * 3600 for i in range(48)])  # two days, newest T0 + 47 h
        before = fingerprint(path)
    with SnapshotStorage.open(path, options=options) as storage:
        newest = T0 + 47 * 3600
        with caplog.at_level(logging.WARNING, logger="core.storage"):
            assert storage.apply_retention(newest + 400 * DAY) == 0  # the clock is a year ahead
            assert storage.apply_retention(newest + 2 * DAY + 1) == 0  # cutoff a day and a second after newest
        assert storage.count("BTCUSDT") == 48
    assert fingerprint(path) == before
    assert "retention skipped, nothing deleted" in caplog.text and "check the clock" in caplog.text
    with SnapshotStorage.open(path, options=options) as storage:
        assert storage.apply_retention(newest) == 23  # a sane clock: what is over a day old goes (hours 0-22)


def test_record_prunes_what_it_records_and_names_never_other_symbols(tmp_path):
    """`record --retention-days 1` on a shared database: its own symbol is pruned, a symbol named in
    --retention is pruned with a warning when its whole history goes, and another symbol is left alone."""
    db = tmp_path / "db"
    now = int(time.time())
    with SnapshotStorage.open(db) as storage:
        fill(storage, "BTCUSDT", [now - 3 * DAY, now - 2 * DAY, now - 600])
        fill(storage, "ETHUSDT", [now - 30 * DAY, now - 20 * DAY])  # someone's finished capture
        fill(storage, "DOGEUSDT", [now - 5 * DAY, now - 4 * DAY, now - 3 * DAY])

    async def run():
        async with ExchangeSimulator(symbols=["BTCUSDT"], seed=5, interval_ms=50) as sim:
            return await asyncio.to_thread(
                depthbook, "record", "--symbols", "BTCUSDT", "--db", str(db), "--ws-url", sim.ws_url,
                "--rest-url", sim.rest_url, "--duration", "4", "--retention-days", "1", "--retention",
                "DOGEUSDT=2", "--log-level", "WARNING",
            )  # fmt: skip

    result = asyncio.run(run())
    assert result.returncode == 0, result.stderr
    assert "retention deletes the whole history of symbol=DOGEUSDT snapshots=3" in result.stderr
    assert "ETHUSDT" not in result.stderr
    with SnapshotStorage.open(db, "read_only") as storage:
        assert storage.count("ETHUSDT") == 2
        assert storage.count("DOGEUSDT") == 0
        btc = [ts for ts, _ in storage.range("BTCUSDT", 0, now + 60)]
        assert btc[0] == now - 600  # the two old seconds went, the recent one and the new ones stay


def test_record_all_prunes_the_symbols_it_follows_and_no_other(tmp_path):
    """`record --all --retention-days 1`: which symbols it records is known only once it runs; each pass covers
    those (a whole market's disk fills in days otherwise), never another run's symbols in the same database."""
    db = tmp_path / "db"
    now = int(time.time())
    with SnapshotStorage.open(db) as storage:
        fill(storage, "BTCUSDT", [now - 3 * DAY, now - 2 * DAY, now - 600])
        fill(storage, "XRPEUR", [now - 30 * DAY, now - 20 * DAY])  # another shard's symbol, or a finished capture

    async def run():
        async with ExchangeSimulator(symbols=["BTCUSDT", "ETHUSDT"], seed=5, interval_ms=50) as sim:
            return await asyncio.to_thread(
                depthbook, "record", "--all", "--db", str(db), "--ws-url", sim.ws_url, "--rest-url", sim.rest_url,
                "--duration", "8", "--retention-days", "1", "--log-level", "INFO",
            )  # fmt: skip

    result = asyncio.run(run())
    assert result.returncode == 0, result.stderr
    assert "retention deleted snapshots=2" in result.stderr
    with SnapshotStorage.open(db, "read_only") as storage:
        assert storage.count("XRPEUR") == 2
        btc = [ts for ts, _ in storage.range("BTCUSDT", 0, now + 60)]
        assert btc[0] == now - 600  # the two old seconds went; the recent one stays (and any recorded since)
