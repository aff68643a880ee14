"""One recording session: storage, order-book manager and recorder, started and stopped in the right order.

Both `depthbook record` and the desktop app run their recording through this class, so the order of start and
stop is written once:
- start: the database (writer, so a locked database is refused before any network traffic), then the manager,
  then the recorder once a symbol is recorded;
- stop: the recorder's tick in flight is flushed and its session record closed, then the manager stops, then
  the database closes (unless it is shared: the app records every market into its one database, opened by it
  and handed to each market's session with `use_storage`, core.recording.shared_session).

Qt-free and free of argparse: it takes a frozen `RecordingConfig`. Failures of its background tasks (the recorder,
and the feed's, reported by the manager) are logged with their traceback and handed to `on_failure(sentence,
stopped)` as one sentence: `stopped` is True when recording cannot go on (the recorder died, or the feed halted
for good), False when the feed recovers by itself. The app shows the sentence in its status bar; `record` prints
it and, when recording stopped, stops and exits non-zero. They never pass silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from core.feed.events import ConnectionStatus, FeedFailed, ListingChanged, ManagerEvent, SymbolStatus
from core.feed.listing import MarketSelection
from core.feed.manager import ManagerConfig, OrderBookManager, RetryHandler
from core.feed.rest import SymbolCheck
from core.recording.config import RecordingConfig
from core.recording.recorder import RecordingStatus, SnapshotRecorder
from core.recording.shared_session import RecorderStorage, SessionLedger
from core.storage.store import OpenMode, SnapshotStorage, StorageOptions
from core.tasks import spawn

log = logging.getLogger(__name__)

FailureHandler = Callable[[str, bool], None]  # (one sentence, recording stopped)
SHALLOW_SYNC_LIMIT = ManagerConfig.shallow_sync_limit  # the feed's default "cheap start" depth
TIGHT_REFRESH_LIMIT = ManagerConfig.tight_refresh_limit  # the feed's default depth of a refresh on a short budget


def manager_config(config: RecordingConfig, **overrides) -> ManagerConfig:
    """The feed a recording needs: its symbols' top `depth` levels kept verified (docs/SNAPSHOT_HORIZON.md), books
    started shallow only when the shallow snapshot is cheaper than the configured one and still holds the top, and
    deepened at TIGHT_REFRESH_LIMIT when the budget is short only if that still holds the top and the margin."""
    shallow = SHALLOW_SYNC_LIMIT if config.depth < SHALLOW_SYNC_LIMIT < config.snapshot_limit else None
    margin = ManagerConfig.horizon_margin
    tight = TIGHT_REFRESH_LIMIT if config.depth + margin < TIGHT_REFRESH_LIMIT < config.snapshot_limit else None
    options = dict(
        ws_url=config.ws_url,
        rest_url=config.rest_url,
        max_symbols=config.max_symbols,
        snapshot_limit=config.snapshot_limit,
        market=config.market,
        horizon_depth=config.depth,
        shallow_sync_limit=shallow,
        tight_refresh_limit=tight,
    )
    options.update(overrides)
    return ManagerConfig(**options)


class RecordingSession:
    def __init__(
        self,
        config: RecordingConfig,
        *,
        on_failure: FailureHandler | None = None,
        manager: OrderBookManager | None = None,
        recorder_options: dict | None = None,
        manager_options: dict | None = None,  # ManagerConfig fields over the recording's
    ) -> None:
        self.config = config
        self.on_failure = on_failure or (lambda sentence, stopped: None)
        self.manager = manager or OrderBookManager(manager_config(config, **(manager_options or {})))
        self.storage: SnapshotStorage | None = None
        self._owns_storage = False  # opened here (open_storage), not shared by another owner (use_storage)
        self.recorder: SnapshotRecorder | None = None
        self.failure: str | None = None  # the first failure that stopped recording, as told to on_failure
        self.manager.add_listener(self._on_manager_event, book_updates=False)  # it reads the books on its tick
        self._recorder_options = recorder_options or {}  # e.g. a test's clock
        self._recorder_task: asyncio.Task | None = None
        self._recorder_stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        self._stopped = False
        self._paused: set[str] = set()  # recorded, stopped by the exchange: recorded again when it trades
        self.record_new = False  # new listings of the followed market are recorded too (`follow_market`)

    # --- life cycle ------------------------------------------------------------------------------------

    async def start(self, *, open_storage: bool = True) -> None:
        """Open the configured database as the writer (StorageError if it cannot), then start the manager."""
        if open_storage:
            await self.open_storage(self.config.db_path, "writer")
        await self.manager.start()

    async def stop(self) -> None:
        """Flush the tick in flight and close the session record, stop the manager, close the database."""
        if self._stopped:
            return
        self._stopped = True
        await self._stop_recorder()
        await self.manager.stop()
        await self.close_storage()
        log.info("recording session stopped")

    async def __aenter__(self) -> RecordingSession:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # --- the database ----------------------------------------------------------------------------------

    async def open_storage(self, path: Path, mode: OpenMode = "writer") -> SnapshotStorage:
        """Open (or switch to) a database; recording goes on there for the symbols recorded before.

        Raises StorageError (StorageLockedError when another process holds it); then there is no database."""
        recorded = self.recorded_symbols
        await self.close_storage()
        path = Path(path)  # a writer creates the directory (and its parents) itself; errors are StorageError
        options = StorageOptions(retention=self.config.retention)
        loop = asyncio.get_running_loop()
        storage = await loop.run_in_executor(None, SnapshotStorage.open, path, mode, options)
        self._attach(storage, storage, recorded)
        self._owns_storage = True
        return storage

    async def use_storage(self, storage: SnapshotStorage, ledger: SessionLedger | None = None) -> None:
        """Record into a database another owner holds open (the app's one database, shared by its markets): it
        is never closed here, and with `ledger` the recorders sharing it share its session record."""
        recorded = self.recorded_symbols
        await self.close_storage()
        self._attach(storage, ledger.handle() if ledger is not None else storage, recorded)

    def _attach(
        self, storage: SnapshotStorage, recorder_storage: SnapshotStorage | RecorderStorage, recorded: list[str]
    ) -> None:
        self.storage = storage
        self._owns_storage = False
        if storage.mode == "writer":
            self.recorder = SnapshotRecorder(
                recorder_storage,
                self.manager,
                (),
                interval=self.config.interval,
                depth=self.config.depth,
                **self._recorder_options,
            )
            for symbol in recorded:
                self.set_recording(symbol, True)

    async def close_storage(self) -> None:
        """Stop recording (the tick in flight is written, the session record closed) and close the database, or
        let go of it when it is shared (`use_storage`)."""
        await self._stop_recorder()
        self.recorder = None
        storage, self.storage = self.storage, None
        if storage is not None and self._owns_storage:
            await storage.aclose()
        self._owns_storage = False

    @property
    def can_record(self) -> bool:
        return self.storage is not None and self.storage.mode == "writer" and self.recorder is not None

    # --- symbols and recording -------------------------------------------------------------------------

    async def follow(self, symbols: Iterable[str]) -> None:
        """Subscribe symbols (one validation request); raises ExchangeError or SubscriptionLimitError."""
        await self.manager.subscribe_many(list(symbols))

    async def follow_valid(
        self, symbols: Iterable[str], *, retry_for: float = 0.0, on_retry: RetryHandler | None = None
    ) -> SymbolCheck:
        """Follow every symbol exchangeInfo says trades and return its verdict on each, so the caller can name the
        others; an exchange that does not answer is asked again with backoff for `retry_for` seconds (math.inf:
        forever, a recorder on a server), `on_retry(sentence, delay)` told before each wait."""
        return await self.manager.follow_checked(list(symbols), retry_for=retry_for, on_retry=on_retry)

    async def follow_market(
        self,
        selection: MarketSelection,
        *,
        record: bool = False,
        retry_for: float = 0.0,
        on_retry: RetryHandler | None = None,
    ) -> list[str]:
        """Follow every TRADING symbol `selection` takes (and the new listings it takes later); with `record`, record
        them all, new listings included. Returns the symbols followed now."""
        symbols = await self.manager.follow_market(selection, retry_for=retry_for, on_retry=on_retry)
        self.record_new = record
        if record:
            for symbol in symbols:
                self.set_recording(symbol, True)
        return symbols

    async def unfollow(self, symbol: str) -> None:
        self.set_recording(symbol, False)
        await self.manager.unsubscribe(symbol)

    def set_recording(self, symbol: str, on: bool) -> None:
        """Switch recording of one symbol; it takes effect at the recorder's next tick."""
        if self.recorder is None:
            if on:
                raise RuntimeError("recording needs a database open for writing")
            return
        if not on:
            self.recorder.stop_recording(symbol)
            return
        self.recorder.start_recording(symbol)
        if self._recorder_task is None:
            # The first recorded symbol starts the recorder, so no empty session record is ever written.
            self._recorder_stop = asyncio.Event()
            self._recorder_task = spawn(
                self.recorder.run(self._recorder_stop),
                "snapshot-persistence",
                what="recorder",
                tasks=self._tasks,
                on_failure=self._failed,
            )

    def is_recording(self, symbol: str) -> bool:
        return self.recorder is not None and self.recorder.is_recording(symbol)

    @property
    def recorded_symbols(self) -> list[str]:
        return self.recorder.recorded_symbols if self.recorder is not None else []

    # --- a narrow read API for status lines and panels ---------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        return self.manager.symbols

    def symbol_status(self, symbol: str) -> SymbolStatus | None:
        return self.manager.status(symbol) if symbol in self.manager.symbols else None

    def recording_status(self, symbol: str) -> RecordingStatus | None:
        return self.recorder.status(symbol) if self.recorder is not None else None

    def connection_status(self) -> ConnectionStatus:
        return self.manager.connection_status()

    @property
    def write_errors(self) -> int:
        return self.recorder.write_errors if self.recorder is not None else 0

    @property
    def last_write_error(self) -> str | None:
        return self.recorder.last_error if self.recorder is not None else None

    @property
    def ticks_lost(self) -> int:
        """Ticks dropped after ten minutes of failed writes (their seconds are lost)."""
        return self.recorder.ticks_lost if self.recorder is not None else 0

    @property
    def recorder_running(self) -> bool:
        return self._recorder_task is not None and not self._recorder_task.done()

    # --- internals -----------------------------------------------------------------------------------------

    async def _stop_recorder(self) -> None:
        task, stop = self._recorder_task, self._recorder_stop
        self._recorder_task = self._recorder_stop = None
        if task is None or stop is None:
            return
        stop.set()
        # The tick in flight is written and the session record closed; a failure was reported when it happened.
        await asyncio.wait({task})

    def _failed(self, sentence: str, exc: BaseException) -> None:
        self._report(sentence, stopped=True)

    def _on_manager_event(self, event: ManagerEvent) -> None:
        kind = type(event)
        if kind is FeedFailed:
            self._report(event.message, stopped=event.fatal)
        elif kind is ListingChanged:
            self._on_listing(event)

    def _on_listing(self, event: ListingChanged) -> None:
        """A symbol that stops trading stops being recorded until it trades again (no gap records for seconds
        the exchange had no book); a new listing of the followed market is recorded if the market is."""
        symbol = event.symbol
        if event.change == "stopped":
            if self.is_recording(symbol):
                self._paused.add(symbol)
                self.set_recording(symbol, False)
        elif symbol in self._paused or (event.change == "added" and self.record_new):
            self._paused.discard(symbol)
            if self.can_record:
                self.set_recording(symbol, True)

    def _report(self, sentence: str, *, stopped: bool) -> None:
        if stopped and self.failure is None:
            self.failure = sentence
        self.on_failure(sentence, stopped)
