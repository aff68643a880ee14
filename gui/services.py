"""The core services of one app run: the simulator (demo) and the recording session.

Services is built by the composition root after the asyncio loop runs. It wraps the Qt-free
`RecordingSession` (manager, storage and recorder, started and stopped in the right order, shared with
`depthbook record`) and adds what only the app needs: the list of followed symbols and their recording
switches as the user left them, retries while the exchange is unreachable, counts of a read-only database,
the database size. The bridge reads from it and widgets never see it.
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
from core.market.markets import USDM
from core.recording.config import RecordingConfig
from core.recording.recorder import SnapshotRecorder
from core.recording.session import RecordingSession
from core.simulator import ExchangeSimulator
from core.storage.keys import storage_symbol
from core.storage.retention import RetentionPolicy
from core.storage.store import SnapshotStorage, StorageError, StorageLockedError
from core.tasks import cancel_and_wait, spawn
from gui.config import SIMULATOR, AppConfig, SavedSettings, retention_policy

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
        self.simulator: ExchangeSimulator | None = None
        self.session: RecordingSession | None = None
        self.endpoint_name = config.endpoint_name
        self.ws_url = config.ws_url or ""
        self.rest_url = config.rest_url or ""
        self.db_path = Path(config.db_path)
        self.storage_problem: str | None = None  # why there is no writable database
        self.storage_locked = False
        self.db_size: int | None = None
        self.symbols: list[str] = list(config.symbols)  # followed, in the order they were added
        self.errors: dict[str, str] = {}  # symbol -> why it is not followed
        self.recording_intent: set[str] = set(config.recording)  # remembered across runs
        self._retry: set[str] = set()
        self._counts: dict[str, tuple[int, tuple[int, int] | None]] = {}  # read-only: count, (first, last)
        self._tasks: set[asyncio.Task] = set()
        self.started = False
        self.stopped = False

    # --- what the bridge reads -------------------------------------------------------------------------

    @property
    def manager(self) -> OrderBookManager | None:
        return self.session.manager if self.session is not None else None

    @property
    def storage(self) -> SnapshotStorage | None:
        return self.session.storage if self.session is not None else None

    @property
    def recorder(self) -> SnapshotRecorder | None:
        return self.session.recorder if self.session is not None else None

    # --- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        if cfg.demo:
            self.simulator = ExchangeSimulator(
                symbols=cfg.sim_symbols, port=0, seed=int(time.time()) % 100_000 or 1,
                interval_ms=cfg.sim_interval_ms, usdm=cfg.market is USDM,
            )  # fmt: skip
            await self.simulator.start()
            self.endpoint_name, self.ws_url, self.rest_url = (
                SIMULATOR, self.simulator.ws_url, self.simulator.rest_url,
            )  # fmt: skip
        self.session = RecordingSession(
            RecordingConfig(
                db_path=self.db_path,
                ws_url=self.ws_url,
                rest_url=self.rest_url,
                interval=cfg.snapshot_interval,
                depth=cfg.snapshot_depth,
                snapshot_limit=cfg.snapshot_limit,
                max_symbols=cfg.max_symbols,
                market=cfg.market,
            ),
            on_failure=lambda sentence, stopped: self.on_error(sentence),
        )
        await self.session.start(open_storage=False)
        self.session.manager.add_listener(self._on_listing, book_updates=False)
        await self.open_storage(self.db_path, "writer")
        if self.saved_retention is not None:
            saved = self.saved_retention
            try:
                policy = retention_policy(saved.retention_days, saved.retention_per_symbol)
            except ValueError as exc:  # edited by hand: say so, keep everything
                self.on_error(f"The saved retention was not applied: {exc}")
            else:
                self.apply_recording_settings(cfg.snapshot_interval, cfg.snapshot_depth, policy)
        self.started = True
        spawn(self._subscribe_initial(), "subscribe-initial", what="subscription of the saved symbols", tasks=self._tasks, on_failure=self._failed_task)
        spawn(self._housekeeping(), "housekeeping", what="housekeeping (database size, retries)", tasks=self._tasks, on_failure=self._failed_task)

    async def stop(self) -> None:
        """The session flushes the tick in flight, ends its record, stops the manager, closes the database."""
        if self.stopped:
            return
        self.stopped = True
        await cancel_and_wait(self._tasks)
        self._counts.clear()
        if self.session is not None:
            await self.session.stop()
        if self.simulator is not None:
            await self.simulator.stop()
        log.info("services stopped")

    # --- the database --------------------------------------------------------------------------------

    async def open_storage(self, path: Path, mode: str) -> bool:
        """Open (or switch to) the database at `path`; False, with `storage_problem` set, if it fails."""
        assert self.session is not None
        self.db_path = Path(path)
        self._counts.clear()
        try:
            await self.session.open_storage(self.db_path, mode)
        except StorageLockedError as exc:
            self.storage_locked, self.storage_problem = True, str(exc)
            log.warning("database locked path=%s", self.db_path)
            return False
        except (StorageError, OSError) as exc:
            self.storage_locked, self.storage_problem = False, _sentence(exc)
            log.error("could not open database path=%s error=%s", self.db_path, exc)
            return False
        self.storage_locked, self.storage_problem = False, None
        if mode == "writer":
            for symbol in self.recording_intent:
                if symbol in self.session.symbols:
                    self.session.set_recording(symbol, True)
        else:
            await self.refresh_counts()
        spawn(self._update_size(), "db-size", what="database size check", tasks=self._tasks, on_failure=self._failed_task)
        return True

    def apply_recording_settings(self, interval: int, depth: int, retention: RetentionPolicy) -> None:
        """The settings that apply while running: the recorder's interval and depth from its next tick, the
        database's retention (enforced by `enforce_retention`), and all three for a database opened later."""
        self.config = replace(self.config, snapshot_interval=interval, snapshot_depth=depth)
        if self.session is not None:
            self.session.config = replace(self.session.config, interval=interval, depth=depth, retention=retention)
        recorder = self.recorder
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

    def stored_name(self, symbol: str) -> str:
        """The name a followed symbol is stored under: itself on spot, usdm/SYMBOL on USDⓈ-M futures."""
        return storage_symbol(self.config.market, symbol)

    def stored_count(self, symbol: str) -> int | None:
        if self.storage is None:
            return None
        if self.storage.mode == "writer":
            return self.storage.count(self.stored_name(symbol))  # an in-memory counter: no I/O
        cached = self._counts.get(symbol)
        return cached[0] if cached else None

    def stored_span(self, symbol: str) -> tuple[int, int] | None:
        """First and last stored second of a symbol (None: nothing stored, or no database)."""
        if self.storage is None:
            return None
        if self.storage.mode == "writer":
            return self.storage.first_last(self.stored_name(symbol))  # in-memory counters: no I/O
        cached = self._counts.get(symbol)
        return cached[1] if cached else None

    def last_write(self, symbol: str) -> int | None:
        span = self.stored_span(symbol)
        return span[1] if span else None

    async def refresh_counts(self) -> None:
        """Read-only databases count by scanning: do it in the executor, for the followed symbols."""
        storage = self.storage
        if storage is None or storage.mode == "writer":
            return

        def count_all(symbols: list[str]) -> dict[str, tuple[int, tuple[int, int] | None]]:
            names = {symbol: self.stored_name(symbol) for symbol in symbols}
            return {symbol: (storage.count(name), storage.first_last(name)) for symbol, name in names.items()}

        counts = await storage.run_blocking(count_all, list(self.symbols))
        if storage is self.storage:
            self._counts.update(counts)

    # --- symbols ---------------------------------------------------------------------------------------

    async def add_symbol(self, text: str) -> str:
        """Follow a symbol; raises ExchangeError or SubscriptionLimitError with a one-sentence message."""
        symbol = text.strip().upper()
        if not symbol:
            raise InvalidSymbolError("Type a symbol first, like BTCUSDT.")
        assert self.session is not None
        await self.session.follow([symbol])
        self.errors.pop(symbol, None)
        self._retry.discard(symbol)
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        if self.storage is not None and self.storage.mode != "writer":
            spawn(self.refresh_counts(), "counts", what="count of stored snapshots", tasks=self._tasks, on_failure=self._failed_task)
        return symbol

    async def remove_symbol(self, symbol: str) -> None:
        self.recording_intent.discard(symbol)
        if symbol in self.symbols:
            self.symbols.remove(symbol)
        self.errors.pop(symbol, None)
        self._retry.discard(symbol)
        if self.session is not None:
            await self.session.unfollow(symbol)

    async def follow_market(self, selection: MarketSelection, record: bool) -> list[str]:
        """Follow every TRADING symbol `selection` takes, new listings included, and with `record` record them all
        (as `depthbook record --all`). Raises ExchangeError, SubscriptionLimitError or RecordingUnavailableError
        with one sentence, having followed nothing new."""
        assert self.session is not None
        if record:
            self._require_recording()
        symbols = await self.session.follow_market(selection, record=record)
        for symbol in symbols:
            self._adopt(symbol, record)
        return symbols

    @property
    def stopped_symbols(self) -> dict[str, str]:
        """Symbols the exchange stopped (symbol -> its status, or DELISTED): followed again when they trade."""
        return self.manager.stopped_symbols if self.manager is not None else {}

    def _adopt(self, symbol: str, record: bool) -> None:
        self.errors.pop(symbol, None)
        self._retry.discard(symbol)
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        if record:
            self.recording_intent.add(symbol)

    def _on_listing(self, event: ManagerEvent) -> None:
        """New listings join the table (recorded if the market is); a symbol the user records that trades again
        is recorded again, even if it was switched on while it was stopped."""
        if type(event) is not ListingChanged or self.session is None:
            return
        if event.change == "added":
            self._adopt(event.symbol, self.session.record_new and self.can_record)
        elif event.change == "resumed":
            self._adopt(event.symbol, False)  # removed while stopped: followed again, so shown again
            if event.symbol in self.recording_intent and self.can_record:
                self._record(event.symbol)

    def is_recording(self, symbol: str) -> bool:
        return self.session is not None and self.session.is_recording(symbol)

    def wants_recording(self, symbol: str) -> bool:
        """Recording, or switched on and waiting for the exchange to let us follow the symbol."""
        return self.is_recording(symbol) or (symbol in self.recording_intent and self.can_record)

    @property
    def exchange_problem(self) -> str | None:
        """Why symbols are waiting for the exchange (unreachable, rate limited), while any are."""
        waiting = [s for s in self.symbols if s in self._retry]
        return self.errors.get(waiting[0]) if waiting else None

    def set_recording(self, symbol: str, on: bool) -> None:
        """Switch recording of one symbol; the recorder applies it at its next tick. A symbol the exchange stopped
        is only marked: it is recorded when it trades again (`_on_listing`)."""
        self._require_recording()
        assert self.session is not None
        if on:
            self.recording_intent.add(symbol)
        else:
            self.recording_intent.discard(symbol)
        if not (on and symbol in self.stopped_symbols):
            self.session.set_recording(symbol, on)

    def _require_recording(self) -> None:
        if not self.can_record:
            raise RecordingUnavailableError(
                "Recording is off because the database is not open for writing."
                if self.storage is None
                else "Recording is off because the database is open read-only."
            )

    def _record(self, symbol: str) -> None:
        assert self.session is not None
        self.session.set_recording(symbol, True)

    async def _subscribe_initial(self) -> None:
        pending = [s for s in self.symbols if s not in self.errors]
        if not pending:
            return
        assert self.session is not None
        try:
            await self.session.follow(pending)
            subscribed = pending
        except (InvalidSymbolError, SubscriptionLimitError):
            subscribed = [s for s in pending if await self._subscribe_one(s)]
        except ExchangeError as exc:
            for symbol in pending:
                self._failed(symbol, exc)
            return
        for symbol in subscribed:
            if symbol in self.recording_intent and self.can_record:
                self._record(symbol)

    async def _subscribe_one(self, symbol: str) -> bool:
        assert self.session is not None
        try:
            await self.session.follow([symbol])
        except (ExchangeError, SubscriptionLimitError) as exc:
            self._failed(symbol, exc)
            return False
        self.errors.pop(symbol, None)
        self._retry.discard(symbol)
        return True

    def _failed(self, symbol: str, exc: Exception) -> None:
        self.errors[symbol] = str(exc)
        if isinstance(exc, ExchangeUnavailableError | RateLimitedError):
            self._retry.add(symbol)  # the exchange may come back: try again later
        log.warning("could not follow symbol=%s error=%s", symbol, exc)

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
