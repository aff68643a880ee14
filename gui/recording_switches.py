"""The record switches: one symbol's (a click, Ctrl+R) and "Record all shown" (asked first), as the app applies
them: through the services, saved at once, one sentence in the status bar or the panel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMessageBox

from gui.app_markets import display_name
from gui.dialogs import confirm_record_all
from gui.services import RecordingUnavailableError, Services


class RecordingSwitches:
    def __init__(
        self,
        window: Any,  # gui.main_window.MainWindow
        services: Services,
        refresh: Callable[[], None],  # the bridge's refresh_now
        save_symbols: Callable[[], None],
    ) -> None:
        self.window, self.services = window, services
        self._refresh, self._save_symbols = refresh, save_symbols

    def ask_record_all(self, symbols: list[str]) -> None:
        box = confirm_record_all(self.window, [display_name(s) for s in symbols], self.services.config.snapshot_interval)
        box.buttonClicked.connect(lambda b: box.buttonRole(b) == QMessageBox.ButtonRole.AcceptRole and self.record_all(symbols))
        box.open()

    def record_all(self, symbols: list[str]) -> None:
        """Switch recording on for every one of `symbols` (what "Record all shown" does once confirmed)."""
        try:
            for symbol in symbols:
                self.services.set_recording(symbol, True)
            self.window.show_status(f"Recording {len(symbols):,} more symbols from the next tick.")
        except RecordingUnavailableError as exc:
            self.window.symbols_panel.set_message(str(exc), "error")
        self._done()

    def toggle(self, symbol: str, on: bool) -> None:
        try:
            self.services.set_recording(symbol, on)
        except RecordingUnavailableError as exc:
            self.window.symbols_panel.set_message(str(exc), "error")
        else:
            when = f"from the next tick ({self.services.config.snapshot_interval} s)"
            self.window.show_status(f"Recording {display_name(symbol)}: {'on' if on else 'off'} {when}.")
        self._done()

    def _done(self) -> None:
        self._save_symbols()
        self._refresh()
