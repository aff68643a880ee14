"""The details card under the symbols table: the selected book's health, the connection and the recording.

The book's snapshot horizon (docs/SNAPSHOT_HORIZON.md) is shown as the known levels left on each side before
the top leaves it, and the seconds recorded as "unverified" gaps in the recording's session line.

Every counter the core keeps for a book, the connection and the recorder is shown here (the rest of the
window shows states, rates and errors, not counts).
"""

from __future__ import annotations

from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from gui.app_markets import display_name
from gui.exchange_status import stopped_state
from gui.formatting import fmt_clock, fmt_count, fmt_percent, fmt_span
from gui.values import SymbolDetail, ThemeColors
from gui.widgets.elided_label import ElidedLabel

FIELDS = (
    ("Book", "state", "Sync state and why"),
    ("", "levels", "Price levels held on each side"),
    ("", "update_id", "Last applied update id"),
    ("", "events", "Diff events applied since subscribing, and the exchange time of the last one"),
    ("", "sequence", "Update-id gaps detected; each one re-synced from a fresh snapshot"),
    ("", "bad_data", "Crossed books (each one re-synced) and malformed price levels, in events or snapshots"),
    ("", "snapshots", "REST snapshots requested, and those too old (older than the stream: fetched again)"),
    (
        "",
        "horizon",
        "Known levels behind the recorded top before each side's snapshot horizon, where levels the exchange "
        "never sent may begin. The book is refreshed, staying live, before they run out; below zero the top "
        "is not verified and its seconds are recorded as gaps (unverified). 'whole side': the snapshot held it all",
    ),
    ("", "refreshes", "Make-before-break refreshes done and asked for, the depth of the last snapshot, and how "
                      "often the book was silent long enough to be checked against the exchange's"),
    ("Connection", "streams", "Streams on the connection, one per followed symbol (every symbol)"),
    ("", "reconnects", "Reconnects after a drop, and planned rotations before the 24 h limit (no gap)"),
    ("", "stream_errors", "Malformed frames ignored, and snapshot requests that failed (every symbol)"),
    ("Recording", "recording", "Whether this symbol is recorded now"),
    ("", "session", "Snapshots stored and seconds missed since the app started (from the first snapshot on), and how "
                    "long the book took to sync before it"),
    ("", "ticks", "Recorder ticks in this run, failed writes (retried), ticks lost to a full backlog"),
    ("", "database", "Snapshots of this symbol in the database"),
    ("", "span", "First and last stored second"),
)
NAMES = {
    "state": "State",
    "levels": "Levels",
    "update_id": "Update id",
    "events": "Events",
    "sequence": "Gaps / resyncs",
    "bad_data": "Bad data",
    "snapshots": "Snapshots",
    "horizon": "Horizon",
    "refreshes": "Refreshes",
    "streams": "Streams",
    "reconnects": "Reconnects",
    "stream_errors": "Errors",
    "recording": "Recording",
    "session": "This session",
    "ticks": "Ticks",
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
            # One line a row: a long value ends in "…" at the panel's edge (its tooltip has it whole) rather than
            # wrapped into the row below, which the grid has no height for in a short panel.
            value = ElidedLabel("—")
            value.setToolTip(tip)
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
        self.title.setText(f"{display_name(d.symbol)} details")  # named as its table row is
        color = self.colors.state_colors.get(str(d.state), self.colors.muted)
        state = stopped_state(d.exchange_status) if d.exchange_status else d.state
        self.values["state"].setText(f'<span style="color:{color}">● {state}</span> · {d.why}')
        self.values["state"].setToolTip(f"{state}: {d.why}")  # the line may be cut at the panel's edge
        self.values["levels"].setText(f"{d.bid_levels:,} bids · {d.ask_levels:,} asks")
        self.values["update_id"].setText(f"{d.last_update_id:,}" if d.last_update_id else "—")
        last = f" · last {fmt_clock(d.last_event_time // 1000)}" if d.last_event_time else ""
        self.values["events"].setText(f"{d.events_applied:,}{last}")
        self.values["sequence"].setText(f"{d.sequence_gaps:,} / {d.resyncs:,}")
        self.values["bad_data"].setText(f"{d.crossed_books:,} crossed · {d.bad_levels:,} malformed")
        self.values["snapshots"].setText(
            f"{d.snapshots_requested:,} requested · {d.snapshots_too_old:,} too old"
        )
        self.values["horizon"].setText(_horizon(d))
        depth = f" · depth {d.snapshot_limit:,}" if d.snapshot_limit else ""
        mismatches = f" · {d.refresh_mismatches:,} disagreed" if d.refresh_mismatches else ""
        quiet = f" · {d.quiet_checks:,} quiet checks" if d.quiet_checks else ""
        self.values["refreshes"].setText(
            f"{d.refreshes:,} done · {d.refreshes_requested:,} asked{depth}{mismatches}{quiet}"
        )
        # Connection-wide (one connection streams every symbol); None before the feed exists.
        self.values["streams"].setText(_count(d.streams))
        self.values["reconnects"].setText(
            "—" if d.reconnects is None else f"{d.reconnects:,} dropped · {d.rotations or 0:,} rotated"
        )
        self.values["stream_errors"].setText(
            "—"
            if d.bad_frames is None
            else f"{_n(d.bad_frames, 'frame')} · {_n(d.snapshot_errors or 0, 'snapshot')}"
        )
        if not d.can_record:
            recording = "off (the database is not open for writing)"
        else:
            recording = f'<span style="color:{self.colors.ask}">● on</span>' if d.recording else "off"
        self.values["recording"].setText(recording)
        if d.session_stored is None:
            self.values["session"].setText("—")
        else:
            share = fmt_percent(d.session_completeness) if d.session_completeness is not None else "—"
            gap = f" (last: {d.last_gap_reason.text})" if d.session_gaps and d.last_gap_reason else ""
            waited = f" · started after {d.session_waiting:,} s of syncing" if d.session_waiting else ""
            unverified = f" · {d.session_unverified:,} unverified" if d.session_unverified else ""
            self.values["session"].setText(
                f"{d.session_stored:,} stored · {d.session_gaps or 0:,} missed{gap}{unverified} · {share}{waited}"
            )
        self.values["ticks"].setText(
            "—"
            if d.ticks is None
            else f"{d.ticks:,} · {d.write_errors or 0:,} failed · {d.ticks_lost or 0:,} lost"
        )
        self.values["database"].setText(f"{fmt_count(d.stored_total)} snapshots")
        self.values["span"].setText(fmt_span(d.first_stored, d.last_stored))
        for (_section, key, tip) in FIELDS:
            label = self.values[key]
            label.setToolTip(f"{label.text()}<br><br>{tip}")


def _horizon(d: SymbolDetail) -> str:
    """`bids 812 · asks whole side (top 20)`: each side's known levels behind the top before its horizon."""
    if not d.horizon_known:
        return "—"

    def side(name: str, room: int | None) -> str:
        if room is None:
            return f"{name} whole side"
        if room < 0:
            return f"{name} {room:,} (not verified)"
        return f"{name} {room:,}"

    return f"{side('bids', d.horizon_bids)} · {side('asks', d.horizon_asks)}"


def _n(count: int, noun: str) -> str:
    """`3 frames`, `1 frame`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"
