"""Driving the real DepthbookApp from the GUI tests: start it in demo mode on a temporary database, read its
rows, type into its add box, and open its History tab on a recording of known shape.

A helper module, not a test module: the tests that share these import them from here, never from each other.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from PySide6.QtCore import Qt

from core.storage.gaps import GapReason
from core.storage.store import SnapshotStorage
from gui.app import DepthbookApp
from gui.config import AppConfig
from tests.core.analysis.recordings import START, write_recording
from tests.waiting import wait_until

SIM_SYMBOLS = ("BTCUSDT", "ETHUSDT")
SPAN = 3600  # seconds of BTCUSDT in `recorded`


def demo_config(tmp_path: Path, **kw) -> AppConfig:
    return AppConfig(
        db_path=tmp_path / "db",
        demo=True,
        endpoint_name="simulator",
        sim_symbols=SIM_SYMBOLS,
        sim_interval_ms=20,
        **kw,
    )


@contextlib.asynccontextmanager
async def running(config: AppConfig, settings_store):
    """A started DepthbookApp, shut down (database closed, window gone) however the test ends."""
    app = DepthbookApp(config, settings_store)
    try:
        await app.start()
        yield app
    finally:
        await app.shutdown()
        app.window.deleteLater()


def row_of(app: DepthbookApp, symbol: str):
    return app.symbol_model.row_data(symbol)


def add_through_the_panel(qtbot, app: DepthbookApp, text: str) -> None:
    panel = app.window.symbols_panel
    panel.input.clear()
    qtbot.keyClicks(panel.input, text)
    qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)


# --- The History tab ---------------------------------------------------------------------------------------


def history_config(tmp_path: Path, db: Path | None = None) -> AppConfig:
    """The demo app (its simulator lists BTCUSDT only) on `db`, by default the test's own database."""
    return AppConfig(
        db_path=db or tmp_path / "db",
        demo=True,
        endpoint_name="simulator",
        sim_symbols=("BTCUSDT",),
        sim_interval_ms=20,
    )


def recorded(path: Path) -> Path:
    """A database with an hour of BTCUSDT (a 60 s hole, a 30 s syncing gap) and 10 minutes of SOLUSDT."""
    with SnapshotStorage.open(path, mode="writer") as storage:
        write_recording(
            storage, "BTCUSDT", START, SPAN, holes=[(600, 659)], gaps={(1200, 1229): GapReason.SYNCING}
        )
        write_recording(storage, "SOLUSDT", START + 60, 600)
    return path


async def open_history(app: DepthbookApp, symbol: str = "BTCUSDT"):
    """The History tab on `symbol`, its first view drawn and its recorded ladder full."""
    panel = app.window.history_panel
    app.window.tabs.setCurrentWidget(panel)
    await wait_until(lambda: len(panel.library.rows) > 0, what="the library")
    panel.choose_symbol(symbol)
    await wait_until(lambda: panel.data is not None and panel.data.symbol == symbol, what="the first view")
    await wait_until(lambda: panel.ladder_model.rowCount() == 40, what="the recorded ladder")
    return panel
