"""Exact at any speed: recording a fast market whose resting levels the stream never mentions until the touch
reaches them (docs/SNAPSHOT_HORIZON.md).

The simulator's fast-market mode on loopback, a real OrderBookManager and RocksDB, the recorder on a virtual clock
(a ManualClock, as in test_persistence_contract.py). After every virtual second the snapshots just stored are
compared, price and quantity, with the simulator's true book at their update id.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from core.cli.stats import symbol_stats
from core.feed.events import SymbolStateChanged
from core.feed.manager import OrderBookManager
from core.market.book_sync import SyncState
from core.recording.clock import ManualClock
from core.recording.recorder import SnapshotRecorder
from core.simulator.server import ExchangeSimulator
from core.storage.gaps import GapReason
from core.storage.horizons import last_horizon
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from tests.core.feed.sim_helpers import horizon_config
from tests.waiting import wait_until

START = 1_795_000_000.5
EVENTS_PER_SECOND = 4  # simulated events between two virtual seconds: the market runs ~30 ticks a second


@dataclass
class Run:
    sim: ExchangeSimulator
    manager: OrderBookManager
    storage: SnapshotStorage
    recorder: SnapshotRecorder
    clock: ManualClock
    symbols: list[str]
    states: list[SymbolStateChanged] = field(default_factory=list)
    checked: int = 0  # stored snapshots compared with the truth
    wrong: list[str] = field(default_factory=list)

    async def second(self) -> None:
        """Let every book apply a few events, move the recorder one second on, and check what it stored."""
        before = {s: self.manager.status(s).events_applied for s in self.symbols}
        await wait_until(
            lambda: all(self.manager.status(s).events_applied >= before[s] + EVENTS_PER_SECOND for s in self.symbols),
            10,
            "new events",
        )
        await self.clock.advance(1)
        second = int(self.clock.now())
        for symbol in self.symbols:
            value = self.storage.get(symbol, second)
            if value is None:
                continue
            snap = OrderBookSnapshot.from_bytes(symbol, value)
            true_bids, true_asks = self.sim.market(symbol).top_at(snap.update_id, 20)
            self.checked += 1
            if list(snap.bids) != true_bids or list(snap.asks) != true_asks:
                self.wrong.append(f"{symbol}@{second} update_id={snap.update_id}")

    def gaps(self, symbol: str) -> list[GapReason]:
        return [g.reason for g in self.storage.gaps(symbol, 0, 9_999_999_999)]


@contextlib.asynccontextmanager
async def recording(tmp_path, symbols: list[str], **config) -> AsyncIterator[Run]:
    async with ExchangeSimulator(symbols=symbols, seed=11, interval_ms=10, fast_market=True) as sim:
        manager = OrderBookManager(horizon_config(sim, **config))
        run_states: list[SymbolStateChanged] = []
        manager.add_listener(lambda e: run_states.append(e) if type(e) is SymbolStateChanged else None)
        await manager.start()
        storage = SnapshotStorage.open(tmp_path / "db", mode="writer")
        clock = ManualClock(START)
        recorder = SnapshotRecorder(storage, manager, symbols, clock=clock)
        shutdown = asyncio.Event()
        task = asyncio.get_running_loop().create_task(recorder.run(shutdown))
        try:
            await manager.subscribe_many(symbols)
            await wait_until(lambda: all(manager.is_live(s) for s in symbols), 10, "live books")
            await clock.until_sleeping()
            run = Run(sim, manager, storage, recorder, clock, symbols)
            run.states = run_states
            yield run
        finally:
            shutdown.set()
            await task
            await manager.stop()
            storage.close()


@pytest.mark.asyncio
async def test_every_snapshot_stored_in_a_fast_market_is_the_true_top_20(tmp_path):
    symbols = ["BTCUSDT", "ETHUSDT"]
    async with recording(tmp_path, symbols) as run:
        live_at = len(run.states)
        manager, sim = run.manager, run.sim
        seconds = 0
        # At least 150 seconds, and until the market ran far enough past what one 1000-level snapshot covers (some
        # 2,000 ticks a side) for every book to have been refreshed twice; how far it runs in a second varies.
        while seconds < 150 or min(manager.status(s).refreshes for s in symbols) < 2:
            assert seconds < 600, [manager.status(s) for s in symbols]
            await run.second()
            seconds += 1
        statuses = {s: manager.status(s) for s in symbols}
        # The books were refreshed, make-before-break, and never left LIVE doing it.
        assert all(st.refresh_mismatches == 0 and st.resyncs == 0 for st in statuses.values())
        assert run.states[live_at:] == [], "a refresh took a book out of LIVE"
        assert all(st.state is SyncState.LIVE for st in statuses.values())
        # Never a wrong snapshot; and nearly every second stored.
        assert run.wrong == []
        assert run.checked >= 0.95 * seconds * len(symbols)
        for symbol in symbols:
            stored = run.storage.count(symbol)
            gaps = run.gaps(symbol)
            assert set(gaps) <= {GapReason.UNVERIFIED}
            assert stored / (stored + len(gaps)) >= 0.95, (symbol, stored, gaps)
            assert run.recorder.status(symbol).unverified == len(gaps)
        # Each book's horizon distance per side is stored once a minute, its second spread by its place among the
        # recorded symbols, and `depthbook stats` shows the latest.
        for i, symbol in enumerate(symbols):
            horizon = last_horizon(run.storage, symbol)
            assert horizon is not None and horizon.timestamp % 60 == i and horizon.timestamp > START
            assert type(horizon.bids) is int and type(horizon.asks) is int  # a fast market's sides are never whole
            row = symbol_stats(run.storage, symbol, 0)
            assert (row["horizon_at"], row["horizon_bids"], row["horizon_asks"]) == (horizon.timestamp, horizon.bids, horizon.asks)
        # Within the weight budget: no 429 from the exchange, the client's count below its allowance.
        assert sim.stats.rest_rejected == 0
        budget = manager.rest.budget
        assert budget.used(time.time()) <= budget.allowed
        assert manager.scheduler.refreshes_fetched >= 4


@pytest.mark.asyncio
async def test_a_short_recording_stores_each_books_horizon_from_its_first_live_second(tmp_path):
    # The once-a-minute rows come at each symbol's own second of the minute (here 0 and 1, and the run starts at
    # second 40): a run of a few seconds has its books' horizons anyway, for `stats`.
    symbols = ["BTCUSDT", "ETHUSDT"]
    async with recording(tmp_path, symbols) as run:
        for _ in range(3):
            await run.second()
        for symbol in symbols:
            horizon = last_horizon(run.storage, symbol)
            assert horizon is not None and START < horizon.timestamp <= run.clock.now(), symbol
            assert symbol_stats(run.storage, symbol, 0)["horizon_at"] == horizon.timestamp


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["budget", "429"])
async def test_no_budget_left_for_a_refresh_gives_unverified_gaps_never_a_wrong_snapshot(tmp_path, how):
    """The top runs past a shallow snapshot's horizon while no refresh can be fetched: its seconds are gap
    records "unverified"; whatever is stored is still the truth."""
    symbol = "BTCUSDT"
    async with recording(tmp_path, [symbol], snapshot_limit=200, horizon_margin=60) as run:
        if how == "budget":  # the IP's weight is spent for the next ten minutes
            run.manager.rest.budget.block_until(time.time() + 600)
        else:  # the exchange answers the next request (the refresh) with a 429 and a long Retry-After
            run.sim.faults.rate_limit(429, retry_after=600)
        live_at = len(run.states)
        for _ in range(400):
            await run.second()
            if run.recorder.status(symbol).unverified >= 5:
                break
        status = run.recorder.status(symbol)
        assert status.unverified >= 5, "the top never left the horizon"
        assert run.wrong == []
        assert set(run.gaps(symbol)) == {GapReason.UNVERIFIED}
        assert status.last_gap_reason is GapReason.UNVERIFIED
        assert run.manager.status(symbol).refreshes == 0 and run.manager.status(symbol).refreshing
        assert run.states[live_at:] == []  # still live: the book is exact, only not deep enough
        assert run.manager.is_live(symbol)
        expected_429 = 1 if how == "429" else 0
        assert run.sim.stats.rest_rejected == expected_429
        # `depthbook stats` counts them
        row = symbol_stats(run.storage, symbol, run.storage.count(symbol), 0)
        assert row["unverified"] == status.unverified == row["gaps"]
