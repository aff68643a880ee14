"""Qt test set-up: async tests run on a qasync loop, so Qt timers and signals fire while they await.

Sync widget tests use pytest-qt's `qtbot` as usual. Async tests (`@pytest.mark.asyncio`) get a fresh
`qasync.QEventLoop` per test through pytest-asyncio's loop-factory hook; inside them, wait with
`await wait_until(...)` from tests/waiting.py (it yields to the loop) rather than
`qtbot.waitUntil` (a nested Qt loop cannot step asyncio tasks while the test's own task runs).
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from gui.settings import SettingsStore
from gui.theme import colors

# The offscreen platform plugin says this whenever a top-level window is shown; it is not our warning.
OFFSCREEN_NOISE = r"This plugin does not support propagateSizeHints\(\)"


def pytest_asyncio_loop_factories(config, item):
    return {"qasync": lambda: qasync.QEventLoop(QApplication.instance() or QApplication([]))}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/gui/" in item.nodeid.replace(os.sep, "/"):
            item.add_marker(pytest.mark.qt_log_ignore(OFFSCREEN_NOISE))


@pytest.fixture(autouse=True)
def app_outlives_its_windows(qapp):
    """As in the app (gui.app.run_app), the test application does not quit when its last window closes. Otherwise
    a window closed while an async test awaits (one an earlier test left, deleted late) makes Qt quit, which ends
    that test's qasync loop: "Event loop stopped before Future completed", the soak test's rare failure in CI."""
    qapp.setQuitOnLastWindowClosed(False)


@pytest.fixture(autouse=True)
def collect_in_the_main_thread():
    """After each test, collect what it left in this thread. Each async test has its own qasync loop, whose timer
    object is garbage once the test ends: freed by an automatic collection in a worker thread (a history read)
    it is deleted off its thread, and its Qt timer fired into freed memory (a segmentation fault in a later test).
    The app itself collects in the main thread only (pyqtgraph's GarbageCollector, gui.app.run_app)."""
    yield
    gc.collect()


@pytest.fixture
def settings_store(tmp_path) -> SettingsStore:
    """QSettings on a throwaway INI file: tests never read or write the user's settings."""
    return SettingsStore(QSettings(str(tmp_path / "depthbook.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def dark():
    return colors("dark")
