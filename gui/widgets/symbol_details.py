"""The details card under the symbols table: the selected book's health and its recording."""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from gui.formatting import fmt_count, fmt_percent, fmt_span
from gui.values import SymbolDetail, ThemeColors

FIELDS = (
    ("Book", "state", "Sync state and why"),
    ("", "levels", "Price levels held on each side"),
    ("", "update_id", "Last applied update id"),
    ("", "events", "Diff events applied since subscribing"),
    ("", "sequence", "Update-id gaps detected; each one re-synced from a fresh snapshot"),
    ("Recording", "recording", "Whether this symbol is recorded now"),
    ("", "session", "Snapshots stored and seconds missed since the app started"),
    ("", "database", "Snapshots of this symbol in the database"),
    ("", "span", "First and last stored second"),
)
NAMES = {
    "state": "State",
    "levels": "Levels",
    "update_id": "Update id",
    "events": "Events",
    "sequence": "Gaps / resyncs",
    "recording": "Recording",
    "session": "This session",
    "database": "Database",
    "span": "Stored span",
}


class SymbolDetails(QFrame):
    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.colors = colors
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(6)
        self.title = QLabel("Details")
        self.title.setObjectName("panelTitle")
        layout.addWidget(self.title)
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(3)
        self.values: dict[str, QLabel] = {}
        for row, (section, key, tip) in enumerate(FIELDS):
            if section:
                head = QLabel(section)
                head.setObjectName("metricName")
                grid.addWidget(head, row, 0)
            name = QLabel(NAMES[key])
            name.setObjectName("hint")
            value = QLabel("—")
            value.setToolTip(tip)
            value.setWordWrap(True)
            grid.addWidget(name, row, 1)
            grid.addWidget(value, row, 2)
            self.values[key] = value
        grid.setColumnStretch(2, 1)
        layout.addLayout(grid)
        layout.addStretch(1)

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors

    def set_detail(self, d: SymbolDetail | None) -> None:
        if d is None:
            self.title.setText("Details")
            for label in self.values.values():
                label.setText("—")
            return
        self.title.setText(f"{d.symbol} details")
        color = self.colors.state_colors.get(str(d.state), self.colors.muted)
        reason = f" · {d.reason}" if d.reason else ""
        self.values["state"].setText(f'<span style="color:{color}">● {d.state}</span>{reason}')
        self.values["levels"].setText(f"{d.bid_levels:,} bids · {d.ask_levels:,} asks")
        self.values["update_id"].setText(f"{d.last_update_id:,}" if d.last_update_id else "—")
        self.values["events"].setText(f"{d.events_applied:,}")
        self.values["sequence"].setText(f"{d.sequence_gaps:,} / {d.resyncs:,}")
        if not d.can_record:
            recording = "off (the database is not open for writing)"
        else:
            recording = f'<span style="color:{self.colors.ask}">● on</span>' if d.recording else "off"
        self.values["recording"].setText(recording)
        if d.session_stored is None:
            self.values["session"].setText("—")
        else:
            total = d.session_stored + (d.session_gaps or 0)
            share = fmt_percent(d.session_stored / total) if total else "—"
            gap = f" (last: {d.last_gap_reason})" if d.session_gaps and d.last_gap_reason else ""
            waited = f" · started after {d.session_waiting:,} s of syncing" if d.session_waiting else ""
            self.values["session"].setText(
                f"{d.session_stored:,} stored · {d.session_gaps or 0:,} missed{gap} · {share}{waited}"
            )
        self.values["database"].setText(f"{fmt_count(d.stored_total)} snapshots")
        self.values["span"].setText(fmt_span(d.first_stored, d.last_stored))
