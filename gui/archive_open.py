"""File → Open archive…: a dialog taking an archive URL (s3://bucket/prefix) or a directory, and the opening of
that archive as a read-only source the history browser reads like a database (core.archive.source).

pyarrow is optional (the `archive` extra): it is imported only when an archive is opened, and its absence is
one sentence like every other problem.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from core.storage.opening import StorageError


class ArchiveOpenError(Exception):
    """An archive that cannot be opened, in one sentence."""


class ArchiveDialog(QDialog):
    """Asks for the archive: a URL typed in, or a directory picked."""

    url_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None, last_url: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("Open archive")
        self.url_edit = QLineEdit(last_url)
        self.url_edit.setPlaceholderText("s3://bucket/prefix or /path/to/archive")
        self.browse_button = QPushButton("Directory…")
        self.browse_button.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.url_edit, 1)
        row.addWidget(self.browse_button)
        note = QLabel(
            "Read-only. S3 settings come from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or a profile."
        )
        note.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Archive:"))
        layout.addLayout(row)
        layout.addWidget(note)
        layout.addWidget(self.buttons)

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Archive directory", self.url_edit.text())
        if path:
            self.url_edit.setText(path)

    def _accept(self) -> None:
        url = self.url_edit.text().strip()
        if url:
            self.accept()
            self.url_chosen.emit(url)


async def open_archive_source(url: str):
    """The archive at `url` as a read-only source (core.archive.source.ArchiveSource), its listing read in an
    executor; ArchiveOpenError (one sentence) when it cannot be."""
    try:
        from core.archive.location import ArchiveError, open_location
        from core.archive.reader import ArchiveReader
        from core.archive.source import ArchiveSource
    except ImportError:
        raise ArchiveOpenError(
            "Opening an archive needs pyarrow: pip install pyarrow (in a checkout: pip install -e '.[archive]')."
        ) from None
    try:
        location = open_location(url)
    except ArchiveError as exc:
        raise ArchiveOpenError(str(exc)) from None
    source = ArchiveSource(ArchiveReader(location))
    try:
        symbols = await asyncio.get_running_loop().run_in_executor(None, source.symbols)
    except StorageError as exc:  # the store does not answer, or refuses
        raise ArchiveOpenError(str(exc)) from None
    if not symbols:
        raise ArchiveOpenError(f"There is no archived hour at {location.url}.")
    return source


class ArchiveBrowsing:
    """The app's side of File → Open archive…: the archive the History tab reads instead of the database (None:
    the database), until another database is opened."""

    def __init__(
        self,
        window,
        spawn: Callable[[Coroutine[Any, Any, Any]], object],
        open_history: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        self.window = window  # gui.main_window.MainWindow
        self.source = None  # core.archive.source.ArchiveSource while an archive is open
        self._spawn = spawn
        self._open_history = open_history

    def ask(self) -> None:
        dialog = ArchiveDialog(self.window, self.source.path if self.source is not None else "")
        dialog.url_chosen.connect(lambda url: self._spawn(self.open(url)))
        dialog.open()

    async def open(self, url: str) -> bool:
        """Browse the archive at `url` in the History tab, read-only; False (the reason shown) if it cannot be."""
        try:
            source = await open_archive_source(url)
        except ArchiveOpenError as exc:
            self.window.show_error(str(exc))
            return False
        self.source = source
        self.window.show_status(f"Opened the archive {source.path} read-only: its symbols are in the History tab.")
        panel = self.window.history_panel
        panel.follow_box.setChecked(False)
        panel.reset()
        self.window.tabs.setCurrentWidget(panel)
        self._spawn(self._open_history())
        return True
