"""The core services of one app run: simulator (demo), order-book manager, storage and recorder.

Services is built by the composition root after the asyncio loop runs. It owns every core object and
is the only place that starts, reconfigures and stops them; the bridge reads from it and widgets never
see it. Blocking storage calls go through the executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from core.feed.errors import ExchangeError, ExchangeUnavailableError, InvalidSymbolError, RateLimitedError
from core.feed.manager import ManagerConfig, OrderBookManager, SubscriptionLimitError
from core.recording.recorder import SnapshotRecorder
from core.simulator import ExchangeSimulator
from core.storage.store import SnapshotStorage, StorageError, StorageLockedError
from gui.settings import SIMULATOR, AppConfig

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 5.0
RETRY_SECONDS = 10.0


class RecordingUnavailableError(Exception):
    """Recording was asked for while the database is read-only or missing."""


class Services:
    def __init__(self, config: AppConfig, on_error: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.on_error = on_error or (lambda message: None)
        self.simulator: ExchangeSimulator | None = None
        self.manager: OrderBookManager | None = None
        self.storage: SnapshotStorage | None = None
        self.recorder: SnapshotRecorder | None = None
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
        self._recorder_task: asyncio.Task | None = None
        self._recorder_stop: asyncio.Event | None = None
        self._tasks: set[asyncio.Task] = set()
        self.started = False
        self.stopped = False

    # --- life cycle ------------------------------------------------------------------------------------

    async def start(self) -> None:
        cfg = self.config
        if cfg.demo:
            self.simulator = ExchangeSimulator(
                symbols=cfg.sim_symbols, port=0, seed=int(time.time()) % 100_000 or 1,
                interval_ms=cfg.sim_interval_ms,
            )  # fmt: skip
            await self.simulator.start()
            self.endpoint_name, self.ws_url, self.rest_url = (
                SIMULATOR, self.simulator.ws_url, self.simulator.rest_url,
            )  # fmt: skip
        self.manager = OrderBookManager(
            ManagerConfig(
                ws_url=self.ws_url,
                rest_url=self.rest_url,
                max_symbols=cfg.max_symbols,
                snapshot_limit=cfg.snapshot_limit,
            )
        )
        await self.manager.start()
        await self.open_storage(self.db_path, "writer")
        self.started = True
        self._spawn(self._subscribe_initial(), "subscribe-initial")
        self._spawn(self._housekeeping(), "housekeeping")

    async def stop(self) -> None:
        """Flush the tick in flight, end the session, stop the manager, close the database."""
        if self.stopped:
            return
        self.stopped = True
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self._close_storage()
        if self.manager is not None:
            await self.manager.stop()
        if self.simulator is not None:
            await self.simulator.stop()
        log.info("services stopped")

    # --- the database --------------------------------------------------------------------------------

    async def open_storage(self, path: Path, mode: str) -> bool:
        """Open (or switch to) the database at `path`; False, with `storage_problem` set, if it fails."""
        await self._close_storage()
        self.db_path = Path(path)
        loop = asyncio.get_running_loop()
        try:
            if mode == "writer":
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            storage = await loop.run_in_executor(None, SnapshotStorage.open, self.db_path, mode)
        except StorageLockedError as exc:
            self.storage_locked, self.storage_problem = True, str(exc)
            log.warning("database locked path=%s", self.db_path)
            return False
        except (StorageError, OSError) as exc:
            self.storage_locked, self.storage_problem = False, _sentence(exc)
            log.error("could not open database path=%s error=%s", self.db_path, exc)
            return False
        self.storage, self.storage_locked, self.storage_problem = storage, False, None
        if mode == "writer":
            self.recorder = SnapshotRecorder(
                storage,
                self.manager,
                (),
                interval=self.config.snapshot_interval,
                depth=self.config.snapshot_depth,
            )
            for symbol in self.recording_intent:
                if self.manager is not None and symbol in self.manager.symbols:
                    self._record(symbol)
        else:
            await self.refresh_counts()
        self._spawn(self._update_size(), "db-size")
        return True

    async def open_read_only(self, path: Path | None = None) -> bool:
        return await self.open_storage(path or self.db_path, "read_only")

    async def _close_storage(self) -> None:
        if self._recorder_task is not None and self._recorder_stop is not None:
            self._recorder_stop.set()
            with contextlib.suppress(Exception):
                await self._recorder_task  # the tick in flight is written, the session ended
        self._recorder_task = self._recorder_stop = None
        self.recorder = None
        storage, self.storage = self.storage, None
        self._counts.clear()
        if storage is not None:
            await storage.aclose()

    @property
    def storage_mode(self) -> str:
        return self.storage.mode if self.storage is not None else "none"

    @property
    def can_record(self) -> bool:
        return self.storage is not None and self.storage.mode == "writer"

    def stored_count(self, symbol: str) -> int | None:
        if self.storage is None:
            return None
        if self.storage.mode == "writer":
            return self.storage.count(symbol)  # an in-memory counter: no I/O
        cached = self._counts.get(symbol)
        return cached[0] if cached else None

    def stored_span(self, symbol: str) -> tuple[int, int] | None:
        """First and last stored second of a symbol (None: nothing stored, or no database)."""
        if self.storage is None:
            return None
        if self.storage.mode == "writer":
            return self.storage.first_last(symbol)  # in-memory counters: no I/O
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
            return {symbol: (storage.count(symbol), storage.first_last(symbol)) for symbol in symbols}

        counts = await storage.run_blocking(count_all, list(self.symbols))
        if storage is self.storage:
            self._counts.update(counts)

    # --- symbols ---------------------------------------------------------------------------------------

    async def add_symbol(self, text: str) -> str:
        """Follow a symbol; raises ExchangeError or SubscriptionLimitError with a one-sentence message."""
        symbol = text.strip().upper()
        if not symbol:
            raise InvalidSymbolError("Type a symbol first, like BTCUSDT.")
        assert self.manager is not None
        await self.manager.subscribe(symbol)
        self.errors.pop(symbol, None)
        self._retry.discard(symbol)
        if symbol not in self.symbols:
            self.symbols.append(symbol)
        if self.storage is not None and self.storage.mode != "writer":
            self._spawn(self.refresh_counts(), "counts")
        return symbol

    async def remove_symbol(self, symbol: str) -> None:
        if self.recorder is not None:
            self.recorder.stop_recording(symbol)
        self.recording_intent.discard(symbol)
        if symbol in self.symbols:
            self.symbols.remove(symbol)
        self.errors.pop(symbol, None)
        self._retry.discard(symbol)
        if self.manager is not None:
            await self.manager.unsubscribe(symbol)

    def is_recording(self, symbol: str) -> bool:
        return self.recorder is not None and self.recorder.is_recording(symbol)

    def wants_recording(self, symbol: str) -> bool:
        """Recording, or switched on and waiting for the exchange to let us follow the symbol."""
        return self.is_recording(symbol) or (symbol in self.recording_intent and self.can_record)

    @property
    def exchange_problem(self) -> str | None:
        """Why symbols are waiting for the exchange (unreachable, rate limited), while any are."""
        waiting = [s for s in self.symbols if s in self._retry]
        return self.errors.get(waiting[0]) if waiting else None

    def set_recording(self, symbol: str, on: bool) -> None:
        """Switch recording of one symbol; the recorder applies it at its next tick."""
        if not self.can_record:
            raise RecordingUnavailableError(
                "Recording is off because the database is not open for writing."
                if self.storage is None
                else "Recording is off because the database is open read-only."
            )
        if on:
            self.recording_intent.add(symbol)
            self._record(symbol)
        else:
            self.recording_intent.discard(symbol)
            assert self.recorder is not None
            self.recorder.stop_recording(symbol)

    def _record(self, symbol: str) -> None:
        assert self.recorder is not None
        self.recorder.start_recording(symbol)
        if self._recorder_task is None:
            # The first recorded symbol starts the recorder, so no empty session is ever written.
            self._recorder_stop = asyncio.Event()
            self._recorder_task = asyncio.get_running_loop().create_task(
                self.recorder.run(self._recorder_stop), name="snapshot-persistence"
            )
            self._recorder_task.add_done_callback(self._task_done)

    async def _subscribe_initial(self) -> None:
        pending = [s for s in self.symbols if s not in self.errors]
        if not pending:
            return
        assert self.manager is not None
        try:
            await self.manager.subscribe_many(pending)
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
        assert self.manager is not None
        try:
            await self.manager.subscribe(symbol)
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

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("background task failed task=%s error=%s", task.get_name(), exc, exc_info=exc)
            self.on_error(f"{task.get_name()} stopped unexpectedly: {_sentence(exc)}")


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if text.endswith(".") else text + "."
