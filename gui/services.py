"""The core services of one app run: the database, and a recording session per market (gui.market_sessions).

Services is built by the composition root after the asyncio loop runs. It holds the one database of the run open
and hands it to each market's Qt-free `RecordingSession` (manager and recorder, started and stopped in the right
order, shared with `depthbook record`), and adds what only the app needs: the list of followed symbols and their
recording switches as the user left them, retries while the exchange is unreachable, counts of a read-only
database, the database size. The bridge reads from it and widgets never see it.

Every followed symbol is named by its key (gui.app_markets): `BTCUSDT` on spot, `usdm/BTCUSDT` on USDⓈ-M
futures, which is also the name it is stored under.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from core.feed.errors import ExchangeError, ExchangeUnavailableError, InvalidSymbolError, RateLimitedError
from core.feed.events import ListingChanged, ManagerEvent
from core.feed.listing import MarketSelection
from core.feed.manager import OrderBookManager, SubscriptionLimitError
from core.market.markets import USDM, Market
from core.recording.recorder import SnapshotRecorder
from core.recording.session import RecordingSession
from core.recording.shared_session import SessionLedger
from core.simulator import ExchangeSimulator
from core.storage.retention import RetentionPolicy
from core.storage.store import SnapshotStorage, StorageError, StorageLockedError, StorageOptions
from core.tasks import cancel_and_wait, spawn
from gui.app_markets import split_key, symbol_key
from gui.config import SIMULATOR, AppConfig, SavedSettings, retention_policy
from gui.market_sessions import ListenerFactory, MarketSessions, MarketUnavailableError

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 5.0
RETRY_SECONDS = 10.0


class RecordingUnavailableError(Exception):
    """Recording was asked for while the database is read-only or missing."""


class Services:
    def __init__(
        self, config: AppConfig, on_error: Callable[[str], None] | None = None, retention: SavedSettings | None = None
    ) -> None:
        self.config = config
        self.saved_retention = retention  # the settings' retention, applied once the database is open
        self.on_error = on_error or (lambda message: None)
        self.markets = MarketSessions(config, lambda sentence, stopped: self.on_error(sentence), self._start_simulator)
        self.markets.on_started = self._on_session_started
        self.markets.add_listener(self._listing_listener, book_updates=False)
        self.db_path = Path(config.db_path)
        self.storage_problem: str | None = None  # why there is no writable database
        self.storage_locked = False
        self.db_size: int | None = None
        self.symbols: list[str] = list(config.symbols)  # followed keys, in the order they were added
        self.errors: dict[str, str] = {}  # key -> why it is not followed
        self.recording_intent: set[str] = set(config.recording)  # keys, remembered across runs
        self._storage: SnapshotStorage | None = None  # the run's one database, shared by the markets' sessions
        self._ledger: SessionLedger | None = None  # its session record, shared by their recorders
        self._retention = RetentionPolicy()
        self._retry: set[str] = set()
        self._counts: dict[str, tuple[int, tuple[int, int] | None]] = {}  # read-only: count, (first, last)
        self._tasks: set[asyncio.Task] = set()
        self.started = False
        self.stopped = False

    # --- what the bridge reads -------------------------------------------------------------------------

    @property
    def session(self) -> RecordingSession | None:
        """The session of the run's own market (the preset's, or --market's)."""
        return self.markets.get(self.config.market)

    @session.setter
    def session(self, session: RecordingSession) -> None:
        self.markets.set(session)

    @property
    def sessions(self) -> dict[Market, RecordingSession]:
        return self.markets.sessions

    @property
    def manager(self) -> OrderBookManager | None:
        return self.session.manager if self.session is not None else None

    @property
    def recorder(self) -> SnapshotRecorder | None:
        return self.session.recorder if self.session is not None else None

    @property
    def simulator(self) -> ExchangeSimulator | None:
        return self.markets.simulators.get(self.config.market)

    @property
    def storage(self) -> SnapshotStorage | None:
        if self._storage is not None:
            return self._storage
        return next((s.storage for s in self.sessions.values() if s.storage is not None), None)

    @property
    def endpoint_name(self) -> str:
        return SIMULATOR if self.config.demo else self.config.endpoint_name

    def offered_markets(self) -> list[Market]:
        return self.markets.offered()

    def route(self, key: str) -> tuple[RecordingSession | None, str]:
        """The session of a key's market (None while that market has none) and the exchange's symbol."""
        market, symbol = split_key(key)
        return self.markets.get(market), symbol

    def recorder_of(self, key: str) -> tuple[SnapshotRecorder | None, str]:
        session, symbol = self.route(key)
        return (session.recorder if session is not None else None), symbol

    def add_listener(self, factory: ListenerFactory, *, book_updates: bool = True) -> None:
        """`factory(market)` is the listener of that market's manager, now and for markets started later."""
        self.markets.add_listener(factory, book_updates=book_updates)

    # --- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        """The database first (a locked one is known before any network traffic), then the sessions of the
        markets the saved symbols need (the run's own market always)."""
        await self.open_storage(self.db_path, "writer")
        if self.saved_retention is not None:
            saved = self.saved_retention
            try:
                policy = retention_policy(saved.retention_days, saved.retention_per_symbol)
            except ValueError as exc:  # edited by hand: say so, keep everything
                self.on_error(f"The saved retention was not applied: {exc}")
            else:
                self.apply_recording_settings(self.config.snapshot_interval, self.config.snapshot_depth, policy)
        await self.markets.ensure(self.config.market)
        self.started = True
        spawn(self._subscribe_initial(), "subscribe-initial", what="subscription of the saved symbols", tasks=self._tasks, on_failure=self._failed_task)
        spawn(self._housekeeping(), "housekeeping", what="housekeeping (database size, retries)", tasks=self._tasks, on_failure=self._failed_task)

    async def stop(self) -> None:
        """Each session flushes its tick in flight and stops its manager (the last recorder ends the session
        record), then the database closes, then the simulators stop."""
        if self.stopped:
            return
        self.stopped = True
        await cancel_and_wait(self._tasks)
        self._counts.clear()
        for session in list(self.sessions.values()):
            await session.stop()
        storage, self._storage, self._ledger = self._storage, None, None
        if storage is not None:
            await storage.aclose()
        await self.markets.stop()
        log.info("services stopped")

    async def _start_simulator(self, market: Market) -> ExchangeSimulator:
        """The demo's exchange of `market` on loopback: spot, or USDⓈ-M futures (`pu`, /fapi/v1/depth)."""
        cfg = self.config
        simulator = ExchangeSimulator(
            symbols=cfg.sim_symbols, port=0, seed=int(time.time()) % 100_000 or 1,
            interval_ms=cfg.sim_interval_ms, usdm=market is USDM,
        )  # fmt: skip
        await simulator.start()
        return simulator

    async def _on_session_started(self, session: RecordingSession) -> None:
        """A market's new session records into the open database, with the user's switches of that market."""
        session.config = replace(session.config, retention=self._retention)
        if self._storage is not None:
            await session.use_storage(self._storage, self._ledger)

    # --- the database --------------------------------------------------------------------------------

    async def open_storage(self, path: Path, mode: str) -> bool:
        """Open (or switch to) the database at `path` for every market; False, with `storage_problem` set, if it
        fails (then there is no database)."""
        self.db_path = Path(path)
        self._counts.clear()
        for session in self.sessions.values():
            await session.close_storage()  # its recorder's tick in flight is written first
        old, self._storage, self._ledger = self._storage, None, None
        if old is not None:
            await old.aclose()
        options = StorageOptions(retention=self._retention)
        try:
            storage = await asyncio.get_running_loop().run_in_executor(
                None, SnapshotStorage.open, self.db_path, mode, options
            )
        except StorageLockedError as exc:
            self.storage_locked, self.storage_problem = True, str(exc)
            log.warning("database locked path=%s", self.db_path)
            return False
        except (StorageError, OSError) as exc:
            self.storage_locked, self.storage_problem = False, _sentence(exc)
            log.error("could not open database path=%s error=%s", self.db_path, exc)
            return False
        self.storage_locked, self.storage_problem = False, None
        self._storage = storage
        self._ledger = SessionLedger(storage) if mode == "writer" else None
        for session in self.sessions.values():
            await session.use_storage(storage, self._ledger)
        if mode == "writer":
            for key in self.recording_intent:
                session, symbol = self.route(key)
                if session is not None and symbol in session.symbols:
                    session.set_recording(symbol, True)
        else:
            await self.refresh_counts()
        spawn(self._update_size(), "db-size", what="database size check", tasks=self._tasks, on_failure=self._failed_task)
        return True

    def apply_recording_settings(self, interval: int, depth: int, retention: RetentionPolicy) -> None:
        """The settings that apply while running: the recorders' interval and depth from their next tick, the
        database's retention (enforced by `enforce_retention`), and all three for a database opened later."""
        self.config = replace(self.config, snapshot_interval=interval, snapshot_depth=depth)
        self.markets.config = self.config
        self._retention = retention
        for session in self.sessions.values():
            session.config = replace(session.config, interval=interval, depth=depth, retention=retention)
            recorder = session.recorder
            if recorder is not None:
                if recorder.interval != interval:
                    recorder.set_interval(interval)
                if recorder.depth != depth:
                    recorder.set_depth(depth)
        storage = self.storage
        if storage is not None and storage.mode == "writer":
            storage.options = replace(storage.options, retention=retention)

    async def apply_settings(self, values: SavedSettings, previous: SavedSettings, db_changed: bool) -> list[str]:
        """Apply the settings dialog's values while running; what was done, as parts of one sentence."""
        policy = retention_policy(values.retention_days, values.retention_per_symbol)
        self.apply_recording_settings(values.snapshot_interval, values.snapshot_depth, policy)
        said = ["Settings saved: recording settings apply now"]
        if db_changed and values.db_path and Path(values.db_path) != self.db_path:
            opened = await self.open_storage(Path(values.db_path), "writer")
            self.apply_recording_settings(values.snapshot_interval, values.snapshot_depth, policy)
            said.append(f"recording goes to {values.db_path}" if opened else str(self.storage_problem))
        if any(getattr(values, k) != getattr(previous, k) for k in ("preset", "ws_url", "rest_url", "snapshot_limit")):
            said.append("exchange changes apply at the next start")
        deleted = await self.enforce_retention()
        if deleted:
            said.append(f"retention deleted {deleted:,} old snapshots")
        return said

    async def enforce_retention(self) -> int:
        """Apply the database's retention now rather than at the recorder's next hourly pass; snapshots deleted."""
        storage = self.storage
        if storage is None or storage.mode != "writer" or not storage.options.retention.enabled:
            return 0
        return await storage.run_blocking(storage.apply_retention, int(time.time()))

    async def open_read_only(self, path: Path | None = None) -> bool:
        return await self.open_storage(path or self.db_path, "read_only")

    @property
    def storage_mode(self) -> str:
        return self.storage.mode if self.storage is not None else "none"

    @property
    def can_record(self) -> bool:
        return self.storage is not None and self.storage.mode == "writer"

    def stored_name(self, key: str) -> str:
        """The name a followed symbol is stored under: its key (`BTCUSDT`, `usdm/BTCUSDT`)."""
        return key

    def stored_count(self, key: str) -> int | None:
        if self.storage is None:
            return None
        if self.storage.mode == "writer":
            return self.storage.count(key)  # an in-memory counter: no I/O
        cached = self._counts.get(key)
        return cached[0] if cached else None

    def stored_span(self, key: str) -> tuple[int, int] | None:
        """First and last stored second of a symbol (None: nothing stored, or no database)."""
        if self.storage is None:
            return None
        if self.storage.mode == "writer":
            return self.storage.first_last(key)  # in-memory counters: no I/O
        cached = self._counts.get(key)
        return cached[1] if cached else None

    def last_write(self, key: str) -> int | None:
        span = self.stored_span(key)
        return span[1] if span else None

    async def refresh_counts(self) -> None:
        """Read-only databases count by scanning: do it in the executor, for the followed symbols."""
        storage = self.storage
        if storage is None or storage.mode == "writer":
            return

        def count_all(keys: list[str]) -> dict[str, tuple[int, tuple[int, int] | None]]:
            return {key: (storage.count(key), storage.first_last(key)) for key in keys}

        counts = await storage.run_blocking(count_all, list(self.symbols))
        if storage is self.storage:
            self._counts.update(counts)

    # --- symbols ---------------------------------------------------------------------------------------

    async def add_symbol(self, text: str, market: Market | None = None) -> str:
        """Follow a symbol of `market` (the run's own by default) and return its key; raises ExchangeError
        (MarketUnavailableError when the exchange has no such market) or SubscriptionLimitError, one sentence."""
        symbol = text.strip().upper()
        if not symbol:
            raise InvalidSymbolError("Type a symbol first, like BTCUSDT.")
        market = market or self.config.market
        session = await self.markets.ensure(market)
        await session.follow([symbol])
        key = symbol_key(market, symbol)
        self.errors.pop(key, None)
        self._retry.discard(key)
        if key not in self.symbols:
            self.symbols.append(key)
        if self.storage is not None and self.storage.mode != "writer":
            spawn(self.refresh_counts(), "counts", what="count of stored snapshots", tasks=self._tasks, on_failure=self._failed_task)
        return key

    async def remove_symbol(self, key: str) -> None:
        self.recording_intent.discard(key)
        if key in self.symbols:
            self.symbols.remove(key)
        self.errors.pop(key, None)
        self._retry.discard(key)
        session, symbol = self.route(key)
        if session is not None:
            await session.unfollow(symbol)

    async def follow_market(self, selection: MarketSelection, record: bool, market: Market | None = None) -> list[str]:
        """Follow every TRADING symbol of `market` that `selection` takes, new listings included, and with `record`
        record them all (as `depthbook record --all`). Returns their keys. Raises ExchangeError,
        SubscriptionLimitError or RecordingUnavailableError with one sentence, having followed nothing new."""
        if record:
            self._require_recording()
        market = market or self.config.market
        session = await self.markets.ensure(market)
        symbols = await session.follow_market(selection, record=record)
        keys = [symbol_key(market, s) for s in symbols]
        for key in keys:
            self._adopt(key, record)
        return keys

    @property
    def stopped_symbols(self) -> dict[str, str]:
        """Keys of symbols the exchange stopped (-> its status, or DELISTED): followed again when they trade."""
        stopped: dict[str, str] = {}
        for market, session in self.sessions.items():
            for symbol, status in session.manager.stopped_symbols.items():
                stopped[symbol_key(market, symbol)] = status
        return stopped

    def _adopt(self, key: str, record: bool) -> None:
        self.errors.pop(key, None)
        self._retry.discard(key)
        if key not in self.symbols:
            self.symbols.append(key)
        if record:
            self.recording_intent.add(key)

    def _listing_listener(self, market: Market) -> Callable[[ManagerEvent], None]:
        return lambda event: self._on_listing(market, event)

    def _on_listing(self, market: Market, event: ManagerEvent) -> None:
        """New listings join the table (recorded if the market is); a symbol the user records that trades again
        is recorded again, even if it was switched on while it was stopped."""
        session = self.markets.get(market)
        if type(event) is not ListingChanged or session is None:
            return
        key = symbol_key(market, event.symbol)
        if event.change == "added":
            self._adopt(key, session.record_new and self.can_record)
        elif event.change == "resumed":
            self._adopt(key, False)  # removed while stopped: followed again, so shown again
            if key in self.recording_intent and self.can_record:
                session.set_recording(event.symbol, True)

    def is_recording(self, key: str) -> bool:
        session, symbol = self.route(key)
        return session is not None and session.is_recording(symbol)

    def wants_recording(self, key: str) -> bool:
        """Recording, or switched on and waiting for the exchange to let us follow the symbol."""
        return self.is_recording(key) or (key in self.recording_intent and self.can_record)

    @property
    def exchange_problem(self) -> str | None:
        """Why symbols are waiting for the exchange (unreachable, rate limited), while any are."""
        waiting = [s for s in self.symbols if s in self._retry]
        return self.errors.get(waiting[0]) if waiting else None

    def set_recording(self, key: str, on: bool) -> None:
        """Switch recording of one symbol; the recorder applies it at its next tick. A symbol the exchange stopped,
        or of a market not started yet, is only marked: it is recorded when it is followed (`_on_listing`)."""
        self._require_recording()
        if on:
            self.recording_intent.add(key)
        else:
            self.recording_intent.discard(key)
        session, symbol = self.route(key)
        if session is not None and not (on and key in self.stopped_symbols):
            session.set_recording(symbol, on)

    def _require_recording(self) -> None:
        if not self.can_record:
            raise RecordingUnavailableError(
                "Recording is off because the database is not open for writing."
                if self.storage is None
                else "Recording is off because the database is open read-only."
            )

    def _record(self, key: str) -> None:
        session, symbol = self.route(key)
        if session is not None:
            session.set_recording(symbol, True)

    async def _subscribe_initial(self) -> None:
        """Follow the saved symbols, market by market (starting each market's session)."""
        by_market: dict[Market, list[str]] = {}
        for key in self.symbols:
            if key not in self.errors:
                market, symbol = split_key(key)
                by_market.setdefault(market, []).append(symbol)
        for market, pending in by_market.items():
            try:
                session = await self.markets.ensure(market)
            except (MarketUnavailableError, ExchangeError, StorageError, OSError) as exc:
                for symbol in pending:
                    self.errors[symbol_key(market, symbol)] = _sentence(exc)
                continue
            try:
                await session.follow(pending)
                subscribed = pending
            except (InvalidSymbolError, SubscriptionLimitError):
                subscribed = [s for s in pending if await self._subscribe_one(symbol_key(market, s))]
            except ExchangeError as exc:
                for symbol in pending:
                    self._failed(symbol_key(market, symbol), exc)
                continue
            for symbol in subscribed:
                key = symbol_key(market, symbol)
                if key in self.recording_intent and self.can_record:
                    session.set_recording(symbol, True)

    async def _subscribe_one(self, key: str) -> bool:
        session, symbol = self.route(key)
        if session is None:
            return False
        try:
            await session.follow([symbol])
        except (ExchangeError, SubscriptionLimitError) as exc:
            self._failed(key, exc)
            return False
        self.errors.pop(key, None)
        self._retry.discard(key)
        return True

    def _failed(self, key: str, exc: Exception) -> None:
        self.errors[key] = str(exc)
        if isinstance(exc, ExchangeUnavailableError | RateLimitedError):
            self._retry.add(key)  # the exchange may come back: try again later
        log.warning("could not follow symbol=%s error=%s", key, exc)

    # --- background ------------------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        last_retry = time.monotonic()
        while True:
            await asyncio.sleep(HOUSEKEEPING_SECONDS)
            await self._update_size()
            if self._retry and time.monotonic() - last_retry >= RETRY_SECONDS:
                last_retry = time.monotonic()
                for symbol in [s for s in self.symbols if s in self._retry]:
                    if (
                        await self._subscribe_one(symbol)
                        and symbol in self.recording_intent
                        and self.can_record
                    ):
                        self._record(symbol)

    async def _update_size(self) -> None:
        storage = self.storage
        if storage is not None:
            with contextlib.suppress(OSError):
                self.db_size = await asyncio.get_running_loop().run_in_executor(None, storage.size_on_disk)

    def _failed_task(self, sentence: str, exc: BaseException) -> None:
        self.on_error(sentence)


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if text.endswith(".") else text + "."
