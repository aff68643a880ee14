"""`depthbook app --screenshot DIR`: the window's three views saved as PNG files (`make screenshots`, the docs)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gui.main_window import MainWindow

log = logging.getLogger(__name__)


async def take_screenshots(window: MainWindow, directory: Path) -> None:
    """live-view.png, symbols-panel.png and history.png (a recorded range, 30 s before its end selected)."""
    directory.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(directory / "live-view.png"))
    window.symbols_panel.grab().save(str(directory / "symbols-panel.png"))
    history = window.history_panel
    window.tabs.setCurrentWidget(history)
    for _ in range(100):  # the recorded range and its ladder load in the executor
        if history.data is not None and history.ladder_model.rowCount():
            break
        await asyncio.sleep(0.1)
    if history.data is not None:
        history.select_second(history.data.end - 30)
        await asyncio.sleep(0.5)
    window.grab().save(str(directory / "history.png"))
    window.tabs.setCurrentWidget(window.live_view)
    log.info("screenshots saved dir=%s", directory)
