"""Dialogs: settings (recording and retention apply at once), About with versions, the keyboard shortcuts, the read-only
offer and the confirmation before a recording symbol is removed.

None of them blocks the event loop: each is shown with `open()` and reports through signals, so the
asyncio tasks keep running and tests can find and answer them.
"""

from __future__ import annotations

import platform
import tomllib
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

import pyqtgraph as pg
import PySide6
from PySide6.QtCore import Qt, Signal, qVersion
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.market.endpoints import PRESETS, normalize_rest_url, normalize_ws_url
from core.market.markets import SPOT, Market
from core.paths import default_db_path
from gui.config import CUSTOM, ENDPOINT_CHOICES, SIMULATOR, SNAPSHOT_LIMITS, SavedSettings, retention_policy
from gui.retention_editor import RetentionEditor

READ_ONLY_OFFER = "readOnlyOffer"
CONFIRM_REMOVE = "confirmRemove"
CONFIRM_RECORD_ALL = "confirmRecordAll"
# Bytes a symbol recorded every second stores in a day, compacted (docs/PERFORMANCE.md, the archive section).
BYTES_PER_SYMBOL_DAY = 18.5e6
# What the keyboard does, as the Help menu lists it (the menus show their own shortcuts too).
SHORTCUTS = (
    ("Enter (in the symbol box)", "follow the typed symbol"),
    ("Ctrl+N", "type a symbol to add"),
    ("Del (in the table)", "remove the selected symbol"),
    ("Ctrl+R", "switch recording of the selected symbol on or off"),
    ("Ctrl+Shift+M", "follow the whole market (optionally one quote asset), and record it"),
    ("Ctrl+O", "open a database read-only"),
    ("Ctrl+,", "preferences"),
    ("F1", "this list"),
    ("Ctrl+Q", "quit (the tick in flight is written first)"),
)


def depthbook_version() -> str:
    try:
        return metadata.version("depthbook")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"] + " (source)"
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect_versions() -> dict[str, str]:
    return {
        "Depthbook": depthbook_version(),
        "Python": f"{platform.python_version()} ({platform.python_implementation()})",
        "Qt": qVersion(),
        "PySide6": PySide6.__version__,
        "pyqtgraph": pg.__version__,
        "qasync": _dist_version("qasync"),
        "RocksDB binding (rocksdict)": _dist_version("rocksdict"),
        "websockets": _dist_version("websockets"),
        "numpy": _dist_version("numpy"),
    }


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Depthbook")
        layout = QVBoxLayout(self)
        title = QLabel("Depthbook")
        title.setObjectName("symbolTitle")
        layout.addWidget(title)
        blurb = QLabel(
            "Watch and record Binance order books: live depth ladders, one top-20 snapshot per second "
            "in RocksDB, and a history browser."
        )
        blurb.setWordWrap(True)
        layout.addWidget(blurb)
        form = QFormLayout()
        self.versions = collect_versions()
        for name, version in self.versions.items():
            value = QLabel(version)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(f"{name}:", value)
        layout.addLayout(form)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


class ShortcutsDialog(QDialog):
    def __init__(self, docs: Path | None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        for keys, what in SHORTCUTS:
            form.addRow(f"<b>{keys}</b>", QLabel(what))
        layout.addLayout(form)
        where = (
            f'Documentation: <a style="color:#3d8bfd" href="{docs.as_uri()}">{docs}</a>'
            if docs is not None
            else "Documentation: README.md and docs/ in Depthbook's source."
        )
        link = QLabel(where)
        link.setObjectName("docsLink")
        link.setOpenExternalLinks(True)
        link.setWordWrap(True)
        layout.addWidget(link)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def documentation_path() -> Path | None:
    """README.md of the source tree Depthbook runs from, if there is one (an editable install has it)."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    return readme if readme.exists() else None


class SettingsDialog(QDialog):
    """Edits the saved settings; `saved` is emitted with the new values when the user presses Save."""

    saved = Signal(object)  # SavedSettings

    def __init__(self, current: SavedSettings, parent: QWidget | None = None, market: Market = SPOT) -> None:
        super().__init__(parent)
        self.setObjectName("settingsDialog")
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.current = current
        layout = QVBoxLayout(self)

        exchange = QGroupBox("Exchange")
        form = QFormLayout(exchange)
        self.preset = QComboBox()
        for key, label in ENDPOINT_CHOICES.items():
            self.preset.addItem(label, key)
        self.ws_url = QLineEdit(current.ws_url)
        self.rest_url = QLineEdit(current.rest_url)
        self.ws_url.setPlaceholderText("wss://stream.binance.com:9443")
        self.rest_url.setPlaceholderText("https://api.binance.com")
        self.snapshot_limit = QComboBox()
        for limit in SNAPSHOT_LIMITS:
            self.snapshot_limit.addItem(f"{limit} levels", limit)
        form.addRow("Endpoint:", self.preset)
        form.addRow("WebSocket URL:", self.ws_url)
        form.addRow("REST URL:", self.rest_url)
        form.addRow("REST snapshot depth:", self.snapshot_limit)
        exchange_note = QLabel("Exchange changes apply the next time Depthbook starts: the live books would "
                               "have to be rebuilt from another exchange.")  # fmt: skip
        exchange_note.setObjectName("hint")
        exchange_note.setWordWrap(True)
        form.addRow(exchange_note)
        layout.addWidget(exchange)

        recording = QGroupBox("Recording")
        form = QFormLayout(recording)
        row = QHBoxLayout()
        self.db_path = QLineEdit(current.db_path)
        self.db_path.setPlaceholderText(str(default_db_path()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._on_browse)
        row.addWidget(self.db_path, 1)
        row.addWidget(browse)
        form.addRow("Database:", row)
        self.depth = QSpinBox()
        self.depth.setRange(1, 100)
        self.depth.setSuffix(" levels per side")
        self.depth.setValue(current.snapshot_depth)
        self.interval = QSpinBox()
        self.interval.setRange(1, 3600)
        self.interval.setSuffix(" s")
        self.interval.setValue(current.snapshot_interval)
        form.addRow("Snapshot depth:", self.depth)
        form.addRow("Snapshot interval:", self.interval)
        self.retention = RetentionEditor(current.retention_days, current.retention_per_symbol, market)
        form.addRow(QLabel("Keep recorded data:"))
        form.addRow(self.retention)
        recording_note = QLabel("These apply now, without a restart; retention deletes older data at once.")
        recording_note.setObjectName("hint")
        recording_note.setWordWrap(True)
        form.addRow(recording_note)
        layout.addWidget(recording)
        self.error = QLabel("")
        self.error.setObjectName("inlineMessage")
        self.error.setProperty("kind", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        self.retention.problem.connect(self._show_problem)
        self._show_problem(self.retention.problem_text)  # a saved pair that did not read

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self._on_save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

        self.preset.currentIndexChanged.connect(self._on_preset_changed)
        index = self.preset.findData(current.preset)
        self.preset.setCurrentIndex(max(index, 0))
        limit_index = self.snapshot_limit.findData(current.snapshot_limit)
        self.snapshot_limit.setCurrentIndex(limit_index if limit_index >= 0 else 2)
        self._on_preset_changed()

    def _on_preset_changed(self, *_args) -> None:
        key = self.preset.currentData()
        custom = key == CUSTOM
        self.ws_url.setEnabled(custom)
        self.rest_url.setEnabled(custom)
        if key in PRESETS:
            self.ws_url.setText(PRESETS[key].ws_url)
            self.rest_url.setText(PRESETS[key].rest_url)
        elif key == SIMULATOR:
            self.ws_url.setText("")
            self.rest_url.setText("")
            self.ws_url.setPlaceholderText("started on a free local port")
            self.rest_url.setPlaceholderText("started on a free local port")
        elif custom:
            self.ws_url.setText(self.current.ws_url)
            self.rest_url.setText(self.current.rest_url)

    def _on_browse(self) -> None:
        dialog = QFileDialog(self, "Database directory", self.db_path.text() or str(default_db_path().parent))
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.fileSelected.connect(self.db_path.setText)
        dialog.open()

    def values(self) -> SavedSettings:
        """The edited settings; ValueError (one sentence) for unusable custom URLs or retention overrides."""
        key = self.preset.currentData()
        ws = rest = ""
        if key == CUSTOM:
            ws = normalize_ws_url(self.ws_url.text())
            rest = normalize_rest_url(self.rest_url.text())
        per_symbol = self.retention.per_symbol_text()
        retention_policy(self.retention.default_days(), per_symbol)  # ConfigError (a ValueError) if it does not read
        return SavedSettings(
            theme=self.current.theme,
            preset=key,
            ws_url=ws,
            rest_url=rest,
            db_path=self.db_path.text().strip(),
            snapshot_depth=self.depth.value(),
            snapshot_interval=self.interval.value(),
            snapshot_limit=int(self.snapshot_limit.currentData()),
            symbols=self.current.symbols,
            recording=self.current.recording,
            demo_symbols=self.current.demo_symbols,
            demo_recording=self.current.demo_recording,
            market=self.current.market,  # not edited here: --market sets it for the demo and custom URLs
            retention_days=self.retention.default_days(),
            retention_per_symbol=per_symbol,
        )

    def show_usage(self, usage: Mapping[str, int] | None) -> None:
        """Bytes on disk per stored symbol, once the app has read them (None: no database is open)."""
        self.retention.set_usage(usage)

    def _on_save(self) -> None:
        try:
            values = self.values()
        except ValueError as exc:
            self._show_problem(str(exc))
            return
        self.saved.emit(values)
        self.accept()

    def _show_problem(self, sentence: str) -> None:
        self.error.setText(sentence)
        self.error.setVisible(bool(sentence))


def read_only_offer(parent: QWidget, sentence: str) -> QMessageBox:
    """The offer shown when another process holds the database; shown with open(), never exec()."""
    box = QMessageBox(parent)
    box.setObjectName(READ_ONLY_OFFER)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Database in use")
    box.setText(sentence)
    box.setInformativeText(
        "Read-only lets you browse what is stored; recording stays off. Live books work either way."
    )
    box.addButton("Open read-only", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Continue without database", QMessageBox.ButtonRole.RejectRole)
    return box


def confirm_remove(parent: QWidget, symbol: str) -> QMessageBox:
    """Asked before a symbol that is being recorded is removed; shown with open(), never exec()."""
    box = QMessageBox(parent)
    box.setObjectName(CONFIRM_REMOVE)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Remove a recorded symbol?")
    box.setText(f"{symbol} is being recorded. Remove it and stop recording it?")
    box.setInformativeText("What is already stored stays in the database.")
    box.addButton("Remove", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Keep", QMessageBox.ButtonRole.RejectRole)
    return box


def confirm_record_all(parent: QWidget, symbols: list[str], interval: int) -> QMessageBox:
    """Asked before "Record all shown" switches many symbols on: it says how much they will store a day."""
    box = QMessageBox(parent)
    box.setObjectName(CONFIRM_RECORD_ALL)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setIcon(QMessageBox.Icon.Question)
    n = len(symbols)
    box.setWindowTitle("Record all shown symbols?")
    named = ", ".join(symbols[:3]) + (f" and {n - 3:,} more" if n > 3 else "")
    box.setText(f"Record {n:,} symbol{'s' if n != 1 else ''} ({named})?")
    per_day = BYTES_PER_SYMBOL_DAY * n / max(1, interval) / 1e9
    box.setInformativeText(
        f"One snapshot each every {interval} s: about {per_day:,.1f} GB a day on disk. "
        "Recording can be switched off again per symbol; a retention in Settings limits the days kept."
    )
    box.addButton(f"Record {n:,}", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
    return box
