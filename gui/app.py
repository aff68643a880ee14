"""The desktop app's composition root: flags and settings → AppConfig → services, bridge, models, window.

One asyncio loop runs on the Qt thread (qasync). The window is shown first; the core services are
built and started once the loop runs. Closing the window (or Ctrl+C) shuts down in order: the
recorder's tick in flight is written and its session ended, the manager stops, the database closes,
and only then does the window go away.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading
import traceback
from collections.abc import Coroutine
from dataclasses import replace
from pathlib import Path
from typing import Any

import platformdirs
import pyqtgraph as pg
import qasync
from pyqtgraph.util.garbage_collector import GarbageCollector
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from core.cli.main import build_parser
from core.feed.errors import ExchangeError
from core.feed.manager import SubscriptionLimitError
from core.logsetup import setup_logging
from core.looplag import LoopLagMonitor
from core.market.markets import MARKETS, market_named
from core.storage.store import SnapshotStorage, StorageError
from core.storage.usage import bytes_per_symbol
from core.tasks import cancel_and_wait, spawn
from gui.app_markets import display_name
from gui.archive_open import ArchiveBrowsing
from gui.bridge import CoreBridge
from gui.config import AppConfig, ConfigError, SavedSettings, build_config
from gui.dialogs import (
    AboutDialog,
    SettingsDialog,
    ShortcutsDialog,
    confirm_remove,
    documentation_path,
    read_only_offer,
)
from gui.history_browse import HistoryQueries
from gui.history_export import ExportCancelled, ExportError, export_range
from gui.history_values import ExportRequest
from gui.main_window import MainWindow
from gui.market_follow import MarketFollowing
from gui.models.ladder import LadderModel
from gui.models.symbols import SymbolTableModel
from gui.recording_switches import RecordingSwitches
from gui.screenshots import take_screenshots
from gui.services import Services
from gui.settings import SettingsStore
from gui.startup_time import process_age
from gui.theme import apply_theme, colors, icon
from gui.widgets.history.export_dialog import ExportDialog

log = logging.getLogger(__name__)

LAYOUT_KEYS = ("geometry", "window", "main_splitter", "live_splitter", "chart_splitter", "symbols_splitter")


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The app's flags, parsed by the one `depthbook` parser (core.cli)."""
    return build_parser().parse_args(["app", *argv])


class DepthbookApp(QObject):
    """Builds and wires everything for one run; `run()` returns when the app has shut down."""

    def __init__(self, config: AppConfig, settings: SettingsStore) -> None:
        super().__init__()
        self.config = config
        self.settings = settings
        self.services = Services(config, on_error=self.show_error, retention=settings.load())
        self.bridge = CoreBridge(self.services, self)
        self.symbol_model = SymbolTableModel(self)
        self.ladder_model = LadderModel(parent=self)
        self.theme = config.theme
        theme_colors = colors(self.theme)
        self.symbol_model.set_state_colors(theme_colors.state_colors)
        self.window = MainWindow(self.symbol_model, self.ladder_model, theme_colors, demo=config.demo)
        self.window.set_colors(theme_colors)
        self.offer: QMessageBox | None = None
        self.loop_lag = LoopLagMonitor()  # logs the loop's lag each minute: the app's responsiveness
        self._tasks: set[asyncio.Task] = set()
        self._quit: asyncio.Event | None = None
        self._shutdown_done = False
        # The history browser: rollups cached per database in the user's cache directory.
        self.history_queries = HistoryQueries(
            Path(platformdirs.user_cache_dir("depthbook", appauthor=False)) / "rollups"
        )
        self._follower: SnapshotStorage | None = None  # a secondary handle while following another writer
        self.archive = ArchiveBrowsing(self.window, self._spawn, self._open_history)  # File → Open archive…
        self.market = MarketFollowing(  # Symbols → Follow the whole market…
            self.window, self.services, self.bridge.refresh_now, self._save_symbols, self._spawn
        )
        self.switches = RecordingSwitches(self.window, self.services, self.bridge.refresh_now, self._save_symbols)
        self._follow_timer = QTimer(self)
        self._follow_timer.setInterval(1000)
        self._follow_timer.timeout.connect(lambda: self._spawn(self._follow_tick()))
        self._export_cancel: threading.Event | None = None
        self.export_dialog: ExportDialog | None = None
        self._wire()

    # --- wiring --------------------------------------------------------------------------------------

    def _wire(self) -> None:
        w, b = self.window, self.bridge
        b.rows_changed.connect(self.symbol_model.set_rows)
        b.frame_ready.connect(w.live_view.set_frame)
        b.depth_ready.connect(w.live_view.set_depth)
        b.series_changed.connect(w.live_view.set_series)
        b.connection_changed.connect(w.set_connection)
        b.storage_changed.connect(w.set_storage)
        b.detail_changed.connect(w.symbols_panel.details.set_detail)
        panel = w.symbols_panel
        panel.add_requested.connect(self._on_add_requested)
        panel.remove_requested.connect(self._on_remove_requested)
        panel.record_all_requested.connect(self.switches.ask_record_all)
        panel.selection_changed.connect(self._on_selection_changed)
        self.symbol_model.recording_toggled.connect(self.switches.toggle)
        w.close_requested.connect(self.request_quit)
        w.open_database_requested.connect(self._on_open_database)
        w.open_archive_requested.connect(self.archive.ask)
        w.read_only_requested.connect(self._on_read_only_accepted)
        w.settings_requested.connect(self._on_settings)
        w.about_requested.connect(self._on_about)
        w.shortcuts_requested.connect(self._on_shortcuts)
        w.theme_requested.connect(self.set_theme)
        history = w.history_panel
        w.tabs.currentChanged.connect(self._on_tab_changed)
        history.symbol_requested.connect(lambda symbol: self._spawn(self._open_symbol(symbol)))
        history.view_requested.connect(
            lambda symbol, start, end, columns, request: self._spawn(
                self._load_view(symbol, start, end, columns, request)
            )
        )
        history.cursor_requested.connect(
            lambda symbol, ts, window: self._spawn(self._load_cursor(symbol, ts, window))
        )
        history.follow_changed.connect(self._on_follow_changed)
        w.export_requested.connect(self._on_export_requested)

    # --- life cycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self._quit = asyncio.Event()
        self.window.restore_layout({k: self.settings.layout(k) for k in LAYOUT_KEYS})
        self.window.show()
        self.loop_lag.start()
        age = process_age()
        if age is not None:
            log.info("window shown seconds_since_launch=%.2f", age)
        if self.config.demo:
            self.window.set_demo_detail(f"Recording goes to {self.config.db_path}.")
        try:
            await self.services.start()
        except Exception as exc:  # the window stays up and says why; closing it still shuts down cleanly
            self.handle_exception(type(exc), exc, exc.__traceback__)
        self.bridge.attach()
        if self.services.storage_locked:
            self._offer_read_only(self.services.storage_problem or "The database is in use.")
        elif self.services.storage_problem:
            self.show_error(self.services.storage_problem + " Live books work; recording is off.")
        services = self.services
        offered = services.offered_markets()
        self.window.symbols_panel.set_markets(
            [m.name for m in offered], self.config.market.name, {m.name: services.markets.why_not(m) for m in MARKETS.values()}
        )  # fmt: skip
        if services.symbols:
            self.window.symbols_panel.select(services.symbols[0])
        self._save_symbols()

    async def run(self) -> int:
        await self.start()
        if self.config.screenshot_dir is not None:
            self._spawn(self._screenshot(self.config.screenshot_dir, self.config.screenshot_after))
        assert self._quit is not None
        await self._quit.wait()
        await self.shutdown()
        return 0

    def request_quit(self) -> None:
        if self._quit is not None:
            self._quit.set()

    async def shutdown(self) -> None:
        if self._shutdown_done:
            return
        self._shutdown_done = True
        self._save_symbols()
        for key, state in self.window.layout_state().items():
            self.settings.save_layout(key, state)
        self.settings.sync()
        self.bridge.detach()
        self.loop_lag.stop()
        self.loop_lag.report()
        self._follow_timer.stop()
        await cancel_and_wait(self._tasks)
        await self._close_follower()
        await self.services.stop()
        if self.offer is not None:
            self.offer.close()
        self.window.finish_close()
        log.info("app shut down")

    # --- requests from the window --------------------------------------------------------------------

    def _on_add_requested(self, text: str) -> None:
        self._spawn(self.add_symbol(text, self.window.symbols_panel.chosen_market()))

    async def add_symbol(self, text: str, market: str | None = None) -> str | None:
        """Follow `text` on `market` ("spot", "usdm"; the run's own if None); its key, or None if refused."""
        panel = self.window.symbols_panel
        panel.set_busy(True)
        panel.set_message(f"Checking {text} with the exchange…", "info")
        try:
            symbol = await self.services.add_symbol(text, market_named(market) if market else None)
        except (ExchangeError, SubscriptionLimitError) as exc:
            panel.set_message(str(exc), "error")
            return None
        finally:
            panel.set_busy(False)
        panel.set_message("")
        panel.clear_input()
        self._save_symbols()
        self.bridge.refresh_now()
        panel.select(symbol)
        return symbol

    def _on_remove_requested(self, symbol: str) -> None:
        if not self.services.is_recording(symbol):
            self._spawn(self.remove_symbol(symbol))
            return
        box = confirm_remove(self.window, display_name(symbol))  # a recording symbol: ask first
        box.buttonClicked.connect(
            lambda button: box.buttonRole(button) == QMessageBox.ButtonRole.AcceptRole
            and self._spawn(self.remove_symbol(symbol))
        )
        box.open()

    async def remove_symbol(self, symbol: str) -> None:
        await self.services.remove_symbol(symbol)
        self._save_symbols()
        self.bridge.refresh_now()

    def _on_selection_changed(self, symbol: str | None) -> None:
        self.window.live_view.show_symbol(symbol)
        if symbol is None:
            self.window.symbols_panel.details.set_detail(None)
        self.bridge.set_selected(symbol)

    # --- the history tab: queries in the storage's executor, results drawn by the panel ------------------

    def _on_tab_changed(self, index: int) -> None:
        if self.window.tabs.widget(index) is self.window.history_panel:
            self._spawn(self._open_history())

    def _history_storage(self) -> SnapshotStorage | None:
        return self.archive.source or self._follower or self.services.storage

    async def _open_history(self) -> None:
        """The library of the open database; the symbol selected in the table (or the first) is opened."""
        panel, storage = self.window.history_panel, self._history_storage()
        if storage is None:
            panel.set_error("No database is open.")
            return
        # Keys are the stored names: a futures BTCUSDT is usdm/BTCUSDT in the database (core.storage.keys).
        followed = list(self.services.symbols)
        rows = await storage.run_blocking(self.history_queries.library, storage, followed)
        panel.set_library(rows)
        symbols = [row.symbol for row in rows]
        if panel.symbol in symbols:
            return
        selected = self.bridge.selected
        wanted = selected if selected in symbols else (symbols[0] if symbols else None)
        if wanted is not None:
            panel.choose_symbol(wanted)

    async def _open_symbol(self, symbol: str) -> None:
        storage, panel = self._history_storage(), self.window.history_panel
        if storage is None:
            return
        loop = asyncio.get_running_loop()

        def progress(fraction: float) -> None:  # called in the executor's thread
            loop.call_soon_threadsafe(panel.set_building, symbol, fraction)

        try:
            span = await storage.run_blocking(self.history_queries.open_symbol, storage, symbol, progress)
        except (ValueError, StorageError) as exc:
            panel.set_error(str(exc))
            return
        panel.set_span(span)

    async def _load_view(self, symbol: str, start: int, end: int, columns: int, request: int) -> None:
        storage = self._history_storage()
        if storage is None:
            return
        try:
            data = await storage.run_blocking(
                self.history_queries.view, storage, symbol, start, end, columns, request
            )
        except (ValueError, StorageError) as exc:
            self.window.history_panel.set_error(str(exc))
            return
        self.window.history_panel.set_view(data)

    async def _load_cursor(self, symbol: str, ts: int, window: int) -> None:
        storage = self._history_storage()
        if storage is not None:
            view = await storage.run_blocking(self.history_queries.cursor, storage, symbol, ts, window)
            self.window.history_panel.set_cursor(view)

    # --- follow live: a secondary handle catches up with another process's writes ----------------------

    def _on_follow_changed(self, on: bool) -> None:
        if on:
            self._follow_timer.start()
            self._spawn(self._follow_tick())
        else:
            self._follow_timer.stop()
            self._spawn(self._close_follower())

    async def _follow_tick(self) -> None:
        panel, storage = self.window.history_panel, self.services.storage
        if storage is None or panel.symbol is None or not panel.following:
            return
        if storage.mode == "read_only" and self._follower is None:
            try:
                self._follower = await storage.run_blocking(SnapshotStorage.open, storage.path, "secondary")
            except StorageError as exc:
                panel.set_error(str(exc))
                return
        follow = self._history_storage()
        assert follow is not None
        try:
            span = await follow.run_blocking(self.history_queries.refresh, follow, panel.symbol)
        except (ValueError, StorageError) as exc:
            panel.set_error(str(exc))
            return
        changed = panel.span is None or span.last != panel.span.last
        panel.set_span(span)
        if changed:
            panel.request_view_now()

    async def _close_follower(self) -> None:
        follower, self._follower = self._follower, None
        if follower is not None:
            await follower.aclose()

    # --- File → Export… ----------------------------------------------------------------------------------

    def _on_export_requested(self) -> None:
        panel = self.window.history_panel
        if panel.symbol is None or panel.span is None:
            self.window.show_status("Open a symbol in the History tab first: Export writes the range in view.")
            self.window.tabs.setCurrentWidget(panel)
            return
        start, end = panel.view_range()
        start, end = max(start, panel.span.first), min(end, panel.span.last)
        dialog = ExportDialog(panel.symbol, start, end, Path.home(), self.window)
        dialog.export_requested.connect(lambda request: self._spawn(self.export(request)))
        dialog.cancel_requested.connect(self._on_export_cancel)
        self.export_dialog = dialog
        dialog.open()

    def _on_export_cancel(self) -> None:
        if self._export_cancel is not None:
            self._export_cancel.set()

    async def export(self, request: ExportRequest) -> int | None:
        """Write the request's rows in the executor; progress comes back through the loop."""
        storage, dialog = self._history_storage(), self.export_dialog
        if storage is None:
            return None
        loop = asyncio.get_running_loop()
        cancel = self._export_cancel = threading.Event()

        def progress(done: int, total: int) -> None:  # the executor's thread
            if dialog is not None:
                loop.call_soon_threadsafe(dialog.set_progress, done, total)

        try:
            written = await storage.run_blocking(
                export_range, storage, request.symbol, request.start, request.end, request.format,
                Path(request.path), progress, cancel,
            )  # fmt: skip
        except ExportCancelled:
            if dialog is not None:
                dialog.finish("Cancelled: nothing was written.", ok=False)
            return None
        except (ExportError, StorageError) as exc:
            if dialog is not None:
                dialog.finish(str(exc), ok=False)
            return None
        finally:
            self._export_cancel = None
        done = f"Exported {written:,} snapshots of {display_name(request.symbol)} to {request.path}."
        if dialog is not None:
            dialog.finish(done, ok=True)
        self.window.show_status(done)
        return written

    def _offer_read_only(self, sentence: str) -> None:
        self.window.show_read_only_offer(sentence)
        self.offer = read_only_offer(self.window, sentence)
        self.offer.buttonClicked.connect(self._on_offer_answered)
        self.offer.open()

    def _on_offer_answered(self, button) -> None:
        assert self.offer is not None
        if self.offer.buttonRole(button) == QMessageBox.ButtonRole.AcceptRole:
            self._on_read_only_accepted()

    def _on_read_only_accepted(self) -> None:
        self._spawn(self.open_read_only())

    async def open_read_only(self, path: Path | None = None) -> bool:
        ok = await self.services.open_read_only(path)
        if ok:
            self.window.hide_read_only_offer()
            self.window.show_status(
                f"Opened {self.services.db_path} read-only: browsing works, recording is off."
            )
        else:
            self.show_error(self.services.storage_problem or "The database could not be opened.")
        self.bridge.refresh_now()
        if ok:  # another database: the history tab starts again from its library
            self.archive.source = None
            self.window.history_panel.follow_box.setChecked(False)
            self.window.history_panel.reset()
            if self.window.tabs.currentWidget() is self.window.history_panel:
                self._spawn(self._open_history())
        return ok

    def _on_open_database(self) -> None:
        dialog = QFileDialog(self.window, "Open a database read-only", str(self.services.db_path.parent))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dialog.fileSelected.connect(lambda path: self._spawn(self.open_read_only(Path(path))))
        dialog.open()

    def _on_settings(self) -> None:
        now = self.services.config  # the recording settings as the app runs with them (flags included)
        running = replace(self.settings.load(), snapshot_interval=now.snapshot_interval,
                          snapshot_depth=now.snapshot_depth, db_path=str(self.services.db_path))  # fmt: skip
        dialog = SettingsDialog(running, self.window, market=now.market)
        dialog.saved.connect(lambda values: self._spawn(self.apply_settings(values, shown_db=running.db_path)))
        dialog.open()
        self._spawn(self._show_disk_use(dialog))

    async def _show_disk_use(self, dialog: SettingsDialog) -> None:
        """Each symbol's bytes on disk in the settings' retention table (an estimate: core.storage.usage)."""
        storage = self.services.storage
        usage = None if storage is None else await storage.run_blocking(bytes_per_symbol, storage)
        dialog.show_usage(usage)

    async def apply_settings(self, values: SavedSettings, shown_db: str | None = None) -> None:
        """Save the settings, and apply at once what can be: interval, depth, retention, another database."""
        previous = self.settings.load()
        db_path = values.db_path if values.db_path != shown_db else previous.db_path  # unchanged: keep the saved
        self.settings.save_preferences(replace(values, db_path=db_path))
        said = await self.services.apply_settings(values, previous, db_changed=values.db_path != shown_db)
        self.window.show_status("; ".join(said) + ".", 10000)
        self.bridge.refresh_now()

    def _on_about(self) -> None:
        AboutDialog(self.window).open()

    def _on_shortcuts(self) -> None:
        ShortcutsDialog(documentation_path(), self.window).open()

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        theme_colors = apply_theme(app, name) if app is not None else colors(name)
        self.theme = name
        self.symbol_model.set_state_colors(theme_colors.state_colors)
        self.window.set_colors(theme_colors)
        self.settings.save_theme(name)

    # --- errors ----------------------------------------------------------------------------------------

    def show_error(self, sentence: str) -> None:
        self.window.show_error(sentence)

    def handle_exception(self, exc_type, exc, tb) -> None:
        """sys.excepthook and the loop's handler: log the traceback, show one sentence."""
        log.error("unexpected error: %s", "".join(traceback.format_exception(exc_type, exc, tb)).rstrip())
        text = str(exc).strip() or exc_type.__name__
        self.show_error(f"Something went wrong: {text} (details are in the log). Depthbook keeps running.")

    # --- helpers ---------------------------------------------------------------------------------------

    def _save_symbols(self) -> None:
        self.settings.save_symbols(
            list(self.services.symbols), set(self.services.recording_intent), demo=self.config.demo
        )

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """A request from the window, run in the background; a failure is logged and shown in one sentence."""
        return spawn(coro, coro.__name__, what=f"request ({coro.__name__})", tasks=self._tasks,
                     on_failure=self._task_failed)  # fmt: skip

    def _task_failed(self, sentence: str, exc: BaseException) -> None:
        self.show_error(f"{sentence} Depthbook keeps running; details are in the log.")

    async def _screenshot(self, directory: Path, after: float) -> None:
        await asyncio.sleep(after)
        await take_screenshots(self.window, directory)
        self.request_quit()

def run_app(args: argparse.Namespace) -> int:
    setup_logging(args.log_level)
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Depthbook")
    app.setOrganizationName("Depthbook")
    app.setWindowIcon(icon("depthbook"))
    app.setQuitOnLastWindowClosed(False)  # the app quits after its shutdown, not when the window hides
    settings = SettingsStore()
    try:
        config = build_config(args, settings.load())
    except ConfigError as exc:
        print(f"depthbook: {exc}", file=sys.stderr)
        return 2
    pg.setConfigOptions(useOpenGL=False, antialias=True)
    apply_theme(app, config.theme)

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    controller = DepthbookApp(config, settings)
    sys.excepthook = controller.handle_exception
    loop.set_exception_handler(lambda _loop, context: _on_loop_error(controller, context))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: loop.call_soon_threadsafe(controller.request_quit))
    # Python runs signal handlers only between bytecodes: wake it up now and then.
    ticker = QTimer()
    ticker.start(250)
    ticker.timeout.connect(lambda: None)
    # The collector runs in whichever thread allocates, often a storage or history thread here; a Qt object it
    # frees there is deleted off its thread, and a timer of it can then fire into freed memory (it crashed the GUI
    # tests). pyqtgraph's collector turns automatic collection off and collects on a timer in this thread.
    collector = GarbageCollector(interval=0.5)
    try:
        with loop:
            return loop.run_until_complete(controller.run())
    except (
        Exception
    ) as exc:  # start-up or shutdown failed outside any handler: one sentence, the log has the rest
        log.exception("the app stopped")
        print(f"depthbook: the app stopped unexpectedly: {exc}", file=sys.stderr)
        return 1
    finally:
        ticker.stop()
        collector.timer.stop()
        sys.excepthook = sys.__excepthook__


def _on_loop_error(controller: DepthbookApp, context: dict) -> None:
    exc = context.get("exception")
    if exc is None:
        log.error("asyncio: %s", context.get("message"))
        return
    with contextlib.suppress(Exception):
        controller.handle_exception(type(exc), exc, exc.__traceback__)
