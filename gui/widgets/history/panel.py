"""The History tab: the library on top; under it the range controls, then the charts beside the cursor's recorded
ladder and analytics; replay and the heatmap's colour controls at the bottom.

The panel keeps the view's state (symbol, visible range, cursor, replay) and asks for data with signals; the app
answers with set_library / set_span / set_view / set_cursor. Answers to older requests are dropped.
"""

from __future__ import annotations

import math
import time
from datetime import datetime

import numpy as np
from PySide6.QtCore import QDateTime, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateTimeEdit,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.timeparse import parse_time
from gui.app_markets import display_name
from gui.formatting import fmt_percent, fmt_span
from gui.history_values import CursorView, LibraryRow, SymbolSpan, ViewData
from gui.values import ThemeColors
from gui.widgets.history.charts import HistoryCharts
from gui.widgets.history.cursor_pane import CursorPane
from gui.widgets.history.heat_colors import ColourBar
from gui.widgets.history.library import LibraryTable

PRESETS = (("15 min", 900), ("1 h", 3600), ("6 h", 6 * 3600), ("24 h", 86_400), ("7 days", 7 * 86_400),
           ("30 days", 30 * 86_400), ("All", None))  # fmt: skip
SPEEDS = (("1x", 1), ("5x", 5), ("10x", 10), ("30x", 30), ("60x", 60), ("max", 0))
REPLAY_HZ = 10  # replay steps a second at 1x–60x; "max" steps once a frame, as soon as the ladder is drawn
VIEW_DEBOUNCE_MS = 30  # a wheel or drag burst asks for one view, not one per event
MAX_COLUMNS = 2000


class HistoryPanel(QWidget):
    library_requested = Signal()
    symbol_requested = Signal(str)
    view_requested = Signal(str, int, int, int, int)  # symbol, start, end, columns, request number
    cursor_requested = Signal(str, int, int)  # symbol, second, order-flow window
    follow_changed = Signal(bool)

    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyPanel")
        self.colors = colors
        self.symbol: str | None = None
        self.span: SymbolSpan | None = None
        self.data: ViewData | None = None
        self.second: int | None = None
        self.cursor_view: CursorView | None = None
        self._request = 0
        self._drawn = -1
        self._awaiting_cursor = False
        self.last_jump: tuple[int, int] | None = None  # the last hole replay jumped over

        self.library = LibraryTable()
        self.library.setMinimumHeight(60)
        self.preset_buttons: dict[str, QPushButton] = {}
        presets = QHBoxLayout()
        presets.setSpacing(2)
        for label, seconds in PRESETS:
            button = QPushButton(label)
            button.setObjectName("historyPreset")
            button.setEnabled(False)
            button.clicked.connect(lambda _c=False, s=seconds: self.show_last(s))
            presets.addWidget(button)
            self.preset_buttons[label] = button
        self.start_edit = _time_edit()
        self.end_edit = _time_edit()
        self.show_button = QPushButton("Show")
        self.show_button.setEnabled(False)
        self.show_button.clicked.connect(self._on_show_typed)
        self.follow_box = QCheckBox("Follow live")
        self.follow_box.setObjectName("historyFollow")
        self.follow_box.setToolTip(
            "Keep the view on the newest seconds as they are recorded (by this app or another)"
        )
        self.follow_box.toggled.connect(self.follow_changed)
        presets.addSpacing(8)
        presets.addStretch(1)
        presets.addWidget(self.follow_box)
        # The typed range on a row of its own, so the tab fits beside the symbols panel at the default width.
        typed = QHBoxLayout()
        typed.addWidget(QLabel("From"))
        typed.addWidget(self.start_edit)
        typed.addWidget(QLabel("to"))
        typed.addWidget(self.end_edit)
        typed.addWidget(self.show_button)
        typed.addStretch(1)

        self.summary = QLabel("Pick a recorded symbol in the library.")
        self.summary.setObjectName("historySummary")
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.setWordWrap(True)  # a narrow window shows the view's details on a second line, not cut off
        self.charts = HistoryCharts(colors)
        self.cursor_pane = CursorPane(colors)
        self.ladder_model = self.cursor_pane.ladder_model
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("historySplitter")
        self.splitter.addWidget(self.charts)
        self.splitter.addWidget(self.cursor_pane)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.cursor_pane.setMinimumWidth(370)  # the recorded ladder's four columns, prices unclipped
        self.splitter.setSizes([540, 380])

        self.play_button = QPushButton("Play")
        self.play_button.setObjectName("historyPlay")
        self.play_button.setEnabled(False)
        self.play_button.setToolTip("Replay from the cursor (Space); ←/→ step a second, Shift a minute")
        self.speed_box = QComboBox()
        for label, speed in SPEEDS:
            self.speed_box.addItem(label, speed)
        self.jump_edit = QLineEdit()
        self.jump_edit.setObjectName("historyJump")
        self.jump_edit.setPlaceholderText("Go to: 14:05:00, 2025-01-18 14:05 or Unix s")
        self.jump_edit.setMaximumWidth(260)
        self.jump_edit.returnPressed.connect(self._on_jump)
        self.colour_bar = ColourBar(colors)
        self.contrast = QSlider(Qt.Orientation.Horizontal)
        self.contrast.setObjectName("historyContrast")
        self.contrast.setRange(-20, 20)  # gamma 10^(v/20): 0.1 … 10
        self.contrast.setValue(0)
        self.contrast.setMaximumWidth(120)
        self.contrast.setToolTip("Heatmap contrast: left shows small sizes, right keeps only the largest")
        self.contrast.valueChanged.connect(self._on_contrast)
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.speed_box)
        controls.addWidget(self.jump_edit)
        controls.addStretch(1)
        controls.addWidget(QLabel("Heatmap"))
        controls.addWidget(self.colour_bar)
        controls.addWidget(QLabel("contrast"))
        controls.addWidget(self.contrast)
        self.readout = QLabel("")
        self.readout.setObjectName("historyReadout")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        body_layout.addLayout(presets)
        body_layout.addLayout(typed)
        body_layout.addWidget(self.summary)
        body_layout.addWidget(self.splitter, 1)
        body_layout.addWidget(self.readout)
        body_layout.addLayout(controls)
        self.vsplit = QSplitter(Qt.Orientation.Vertical)
        self.vsplit.addWidget(self.library)
        self.vsplit.addWidget(body)
        self.vsplit.setStretchFactor(1, 1)
        self.vsplit.setSizes([110, 700])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.vsplit)

        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_DEBOUNCE_MS)
        self._view_timer.timeout.connect(self.request_view_now)
        self._replay = QTimer(self)
        self._replay.timeout.connect(self._replay_step)
        self._replay_carry = 0.0
        self._replay_clock = 0.0  # `replay_clock()` at the last replay step
        self.replay_clock = time.monotonic  # what paces replay; tests give it a clock of their own

        self.library.symbol_chosen.connect(self.choose_symbol)
        self.charts.range_changed.connect(self._on_range_changed)
        self.charts.cursor_moved.connect(self.select_second)
        self.charts.hovered.connect(self.readout.setText)
        self.cursor_pane.flow_window_changed.connect(lambda _w: self._ask_cursor())
        self.play_button.clicked.connect(self.toggle_replay)
        for keys, slot in (
            ("Space", self.toggle_replay),
            ("Left", lambda: self.step(-1)),
            ("Right", lambda: self.step(1)),
            ("Shift+Left", lambda: self.step(-60)),
            ("Shift+Right", lambda: self.step(60)),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.set_colors(colors)

    # --- library and symbol ------------------------------------------------------------------------------

    def set_library(self, rows: tuple[LibraryRow, ...]) -> None:
        self.library.set_rows(rows)
        if not rows:
            self.summary.setText("Nothing recorded yet: switch recording on for a symbol in the table.")
        elif self.symbol is None:
            self.summary.setText(f"{len(rows)} recorded symbols: pick one in the library.")

    def reset(self) -> None:
        """Another database: nothing chosen, nothing drawn."""
        self.stop_replay()
        self.symbol = self.span = self.data = self.second = None
        self.library.set_rows(())
        self.cursor_pane.clear("Recorded ladder: click a chart")

    def choose_symbol(self, symbol: str) -> None:
        if symbol == self.symbol and self.span is not None:
            return
        self.stop_replay()
        self.symbol = symbol
        self.span = None
        self.data = None
        self.second = None
        self.summary.setText(f"Opening {symbol}…")
        self.cursor_pane.clear("Recorded ladder: click a chart")
        self.library.choose(symbol)
        self.symbol_requested.emit(symbol)

    def set_building(self, symbol: str, fraction: float) -> None:
        if symbol == self.symbol and self.span is None:
            self.summary.setText(
                f"Building {symbol}'s minute rollups (first visit, then cached)… {fraction:.0%}"
            )

    def set_error(self, text: str) -> None:
        self.summary.setText(text)

    def set_span(self, span: SymbolSpan) -> None:
        """A symbol's whole history arrived (or grew): show it all the first time, follow it if asked."""
        if span.symbol != self.symbol:
            return
        old = self.span
        self.span = span
        self.charts.set_span(span)
        for button in (*self.preset_buttons.values(), self.show_button, self.play_button):
            button.setEnabled(True)
        self._summarise()
        if old is None:
            self.charts.set_x_range(span.first, span.last)
            self.request_view_now()
            self.select_second(span.last)
        elif self.following and span.last > old.last:
            a, b = self.charts.x_range()
            if b >= old.last - 0.02 * (b - a):  # the view was at the live edge: keep it there
                shift = span.last - min(b, old.last)
                self.charts.set_x_range(a + shift, b + shift)
            if self.second == old.last and not self._replay.isActive():
                self.select_second(span.last)

    @property
    def following(self) -> bool:
        return self.follow_box.isChecked()

    # --- the visible range ---------------------------------------------------------------------------------

    def show_last(self, seconds: int | None) -> None:
        """A preset: the last `seconds` recorded (None: everything)."""
        if self.span is None:
            return
        end = self.span.last
        start = self.span.first if seconds is None else end - seconds + 1
        self.charts.set_x_range(start, end)
        if self.second is None or not start <= self.second <= end:
            self.select_second(end)

    def show_range(self, start: int, end: int) -> None:
        if end > start:
            self.charts.set_x_range(start, end)

    def _on_show_typed(self) -> None:
        self.show_range(
            self.start_edit.dateTime().toSecsSinceEpoch(), self.end_edit.dateTime().toSecsSinceEpoch()
        )

    def _on_range_changed(self, start: float, end: float) -> None:
        for edit, ts in ((self.start_edit, start), (self.end_edit, end)):
            edit.blockSignals(True)
            edit.setDateTime(QDateTime.fromSecsSinceEpoch(int(ts)))
            edit.blockSignals(False)
        self._view_timer.start()

    def view_range(self) -> tuple[int, int]:
        a, b = self.charts.x_range()
        return math.floor(a), math.ceil(b)

    def request_view_now(self) -> None:
        self._view_timer.stop()
        if self.symbol is None or self.span is None:
            return
        start, end = self.view_range()
        # A column every 2 pixels: the heatmap stays sharp and a view reads half as many books.
        columns = int(min(MAX_COLUMNS, max(100, self.charts.heat_plot.vb.width() / 2)))
        self._request += 1
        self.view_requested.emit(self.symbol, start, end, columns, self._request)

    def set_view(self, data: ViewData) -> None:
        if data.symbol != self.symbol or data.request < self._drawn:
            return  # an answer to an older request
        self._drawn = data.request
        self.data = data
        self.charts.set_view(data)
        self._summarise()

    def _summarise(self) -> None:
        span, data = self.span, self.data
        if span is None:
            return
        text = (
            f"{display_name(span.symbol)} · {fmt_span(span.first, span.last)} · {span.stored:,} s stored · "
            f"{fmt_percent(span.completeness)} complete"
        )
        if data is not None:
            res = f"{data.width} s" if data.width < 60 else f"{data.width // 60} min"
            text += (
                f"  ·  view: {data.stored:,} s stored, {data.gap_records:,} gap records, "
                f"one point per {res}, heatmap {len(data.heat_t):,} columns × {data.heat_rank.shape[1]} bins "
                f"of {data.bin_size:g}"
            )
            if data.damaged:
                text += (
                    f"  ·  {data.damaged:,} damaged snapshot{'s' if data.damaged != 1 else ''} skipped "
                    "(named in the log)"
                )
        self.summary.setText(text)
        self.summary.setToolTip(text + "\nCompleteness = stored ÷ (stored + gap records): the seconds the "
                                "recorder was asked to record that hold a snapshot.")  # fmt: skip

    # --- the cursor -----------------------------------------------------------------------------------------

    def select_second(self, ts: int) -> None:
        if self.symbol is None or self.span is None:
            return
        ts = min(max(int(ts), self.span.first), self.span.last)
        self.second = ts
        self.charts.set_cursor(ts)
        a, b = self.charts.x_range()
        if not a <= ts <= b and self._replay.isActive():  # replay runs off the view: page forward
            width = b - a
            self.charts.set_x_range(ts - 0.05 * width, ts + 0.95 * width)
        self._ask_cursor()

    def _ask_cursor(self) -> None:
        if self.symbol is not None and self.second is not None:
            self._awaiting_cursor = True
            self.cursor_requested.emit(self.symbol, self.second, self.cursor_pane.flow_window.value())

    def set_cursor(self, view: CursorView) -> None:
        if view.symbol != self.symbol or view.timestamp != self.second:
            return  # an answer to an older request
        self._awaiting_cursor = False
        self.cursor_view = view
        self.cursor_pane.set_cursor(view)

    def step(self, seconds: int) -> None:
        if self.second is not None:
            self.select_second(self.second + seconds)

    def _on_jump(self) -> None:
        try:
            ts = parse_jump(self.jump_edit.text(), self.second)
        except ValueError as exc:
            self.readout.setText(str(exc))
            return
        if self.span is not None and not self.span.first <= ts <= self.span.last:
            self.readout.setText("That time is outside the recording.")
            return
        a, b = self.charts.x_range()
        if not a <= ts <= b:
            half = (b - a) / 2
            self.charts.set_x_range(ts - half, ts + half)
        self.select_second(ts)

    # --- replay ---------------------------------------------------------------------------------------------

    def toggle_replay(self) -> None:
        if self._replay.isActive():
            self.stop_replay()
            return
        if self.span is None or self.second is None:
            return
        if self.second >= self.span.last:
            self.select_second(self.span.first)
        self._replay_carry = 0.0
        self._replay_clock = self.replay_clock()
        speed = int(self.speed_box.currentData())
        self._replay.start(1000 // REPLAY_HZ if speed else 15)
        self.play_button.setText("Pause")

    def stop_replay(self) -> None:
        self._replay.stop()
        self.play_button.setText("Play")

    def _replay_step(self) -> None:
        span = self.span
        if span is None or self.second is None:
            self.stop_replay()
            return
        speed = int(self.speed_box.currentData())
        if speed == 0:  # as fast as the ladder can be drawn: one stored second per frame
            if self._awaiting_cursor:
                return
            step = 1
        else:
            # Paced by the clock, not by the timer's ticks: a tick that comes late (a slow redraw) steps further,
            # so replay keeps its speed whatever one step costs.
            now = self.replay_clock()
            self._replay_carry += speed * (now - self._replay_clock)
            self._replay_clock = now
            step = int(self._replay_carry + 1e-9)  # 5.999… of float time is the 6 s it means
            if step == 0:
                return
            self._replay_carry -= step
        target = self.second + step
        hole = _run_at(span.holes, target)
        if hole is not None:  # skip the hole in one visible jump, never crawl through it
            a, b = (int(v) for v in span.holes[hole][:2])
            self.last_jump = (a, b)
            self.readout.setText(f"Replay jumped over {b - a + 1:,} s with nothing stored")
            target = b + 1
        self.select_second(target)
        if self.second >= span.last:
            self.stop_replay()

    # --- colours ----------------------------------------------------------------------------------------------

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        self.charts.set_colors(colors)
        self.cursor_pane.set_colors(colors)
        self._on_contrast(self.contrast.value())

    def _on_contrast(self, value: int) -> None:
        lut = self.charts.set_contrast(10 ** (value / 20))
        self.colour_bar.set_lut(lut, self.colors)


def _run_at(runs: np.ndarray, ts: int) -> int | None:
    if not len(runs):
        return None
    i = int(np.searchsorted(runs[:, 0], ts, side="right")) - 1
    return i if i >= 0 and runs[i, 1] >= ts else None


def _time_edit() -> QDateTimeEdit:
    edit = QDateTimeEdit(QDateTime.fromSecsSinceEpoch(int(time.time())))  # not 1970 before a symbol is chosen
    edit.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
    edit.setCalendarPopup(True)
    return edit


def parse_jump(text: str, reference: int | None) -> int:
    """A typed time: 'HH:MM[:SS]' (local, on the reference second's day), a local 'YYYY-MM-DD HH:MM[:SS]',
    ISO 8601 with a zone, or Unix seconds."""
    text = text.strip()
    if not text:
        raise ValueError("Type a time to go to.")
    parts = text.split(":")
    if 2 <= len(parts) <= 3 and all(p.isdigit() for p in parts):
        day = time.localtime(reference if reference is not None else time.time())
        h, m, s = (int(p) for p in (*parts, "0")[:3])
        return int(time.mktime((day.tm_year, day.tm_mon, day.tm_mday, h, m, s, 0, 0, -1)))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            return parse_time(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a time: try 14:05:00 or 2025-01-18 14:05") from None
    return int(moment.timestamp())  # naive: local time
