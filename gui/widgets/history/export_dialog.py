"""File → Export…: the symbol and range in view as CSV or Parquet (the columns of `depthbook export`), with a
progress bar and Cancel. The dialog only asks; the app writes in an executor and reports progress back."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDateTime, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.app_markets import display_name, file_stem
from gui.history_values import ExportRequest

FORMATS = (("CSV", "csv"), ("Parquet", "parquet"))


class ExportDialog(QDialog):
    export_requested = Signal(object)  # ExportRequest
    cancel_requested = Signal()

    def __init__(
        self, symbol: str, start: int, end: int, folder: Path, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("exportDialog")
        self.setWindowTitle(f"Export {display_name(symbol)}")
        self.symbol = symbol
        self.folder = folder
        self.busy = False
        self.start_edit = _time_edit(start)
        self.end_edit = _time_edit(end)
        self.format_box = QComboBox()
        for label, value in FORMATS:
            self.format_box.addItem(label, value)
        self.path_edit = QLineEdit()
        self.path_edit.setMinimumWidth(360)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Symbol", QLabel(display_name(symbol)))
        form.addRow("From", self.start_edit)
        form.addRow("To", self.end_edit)
        form.addRow("Format", self.format_box)
        form.addRow("File", path_row)
        self.note = QLabel("The same columns and rows as `depthbook export`: one row per stored second.")
        self.note.setObjectName("exportNote")
        self.note.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.export_button = QPushButton("Export")
        self.export_button.setDefault(True)
        self.cancel_button = QPushButton("Close")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.note)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self.export_button.clicked.connect(self._on_export)
        self.cancel_button.clicked.connect(self._on_cancel)
        self.format_box.currentIndexChanged.connect(self._suggest_path)
        self._suggest_path()

    def request(self) -> ExportRequest:
        return ExportRequest(
            self.symbol,
            self.start_edit.dateTime().toSecsSinceEpoch(),
            self.end_edit.dateTime().toSecsSinceEpoch(),
            str(self.format_box.currentData()),
            self.path_edit.text().strip(),
        )

    def set_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.note.setText(f"Exporting… {done:,} of {total:,} rows")

    def finish(self, text: str, ok: bool) -> None:
        self.busy = False
        self.note.setText(text)
        self.export_button.setEnabled(True)
        self.cancel_button.setText("Close")
        if ok:
            self.progress.setValue(self.progress.maximum())

    def _on_export(self) -> None:
        request = self.request()
        if not request.path:
            self.note.setText("Choose a file to write.")
            return
        if request.end < request.start:
            self.note.setText("The end is before the start.")
            return
        self.busy = True
        self.export_button.setEnabled(False)
        self.cancel_button.setText("Cancel")
        self.progress.setRange(0, 0)  # busy until the first report
        self.note.setText("Counting the rows…")
        self.export_requested.emit(request)

    def _on_cancel(self) -> None:
        if self.busy:
            self.note.setText("Cancelling…")
            self.cancel_requested.emit()
        else:
            self.reject()

    def _suggest_path(self) -> None:
        fmt = str(self.format_box.currentData())
        start = self.start_edit.dateTime().toString("yyyyMMdd-HHmmss")
        self.path_edit.setText(str(self.folder / f"{file_stem(self.symbol)}-{start}.{fmt}"))

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path_edit.text())
        if path:
            self.path_edit.setText(path)


def _time_edit(ts: int) -> QDateTimeEdit:
    edit = QDateTimeEdit(QDateTime.fromSecsSinceEpoch(ts))
    edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
    edit.setCalendarPopup(True)
    return edit
