"""The live view's header: symbol, state, and the top-of-book metrics of the selected book."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QFrame, QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from core.storage.snapshot import SNAPSHOT_DEPTH
from gui.app_markets import display_name
from gui.formatting import decimals_of, fmt_float, fmt_sig
from gui.values import DisplayState, LiveFrame, ThemeColors

METRICS = ("Best bid", "Best ask", "Spread", "Mid", "Microprice", "Imbalance")


class _Metric(QWidget):
    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        self.name = QLabel(name)
        self.name.setObjectName("metricName")
        self.value = QLabel("—")
        self.value.setObjectName("metricValue")
        self.detail = QLabel("")
        self.detail.setObjectName("hint")
        for label in (self.name, self.value, self.detail):
            layout.addWidget(label)
        self._color: str | None = None

    def set(self, value: str, detail: str = "", color: str | None = None) -> None:
        # Ten times a second: touch only what changed. A style sheet change re-polishes the label, and a
        # text change re-lays the header, both far dearer than the comparison.
        if value != self.value.text():
            self.value.setText(value)
        if detail != self.detail.text():
            self.detail.setText(detail)
        if color != self._color:
            self._color = color
            self.value.setStyleSheet(f"color: {color};" if color else "")


class BookHeader(QFrame):
    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("card")
        self.colors = colors
        outer = QVBoxLayout(self)
        outer.setContentsMargins(14, 10, 14, 10)
        outer.setSpacing(8)
        top = QHBoxLayout()
        self.title = QLabel("No symbol selected")
        self.title.setObjectName("symbolTitle")
        self.badge = QLabel("")
        self.badge.setObjectName("stateBadge")
        self.update_id = QLabel("")
        self.update_id.setObjectName("hint")
        top.addWidget(self.title)
        top.addSpacing(8)
        top.addWidget(self.badge)
        top.addStretch(1)
        top.addWidget(self.update_id)
        outer.addLayout(top)
        grid = QGridLayout()
        grid.setHorizontalSpacing(28)
        grid.setVerticalSpacing(0)
        self.metrics = {name: _Metric(name) for name in METRICS}
        for i, name in enumerate(METRICS):
            grid.addWidget(self.metrics[name], 0, i)
            grid.setColumnStretch(i, 1)
        outer.addLayout(grid)
        self._state: DisplayState | None = None

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        if self._state is not None:
            self._set_badge(self._state)

    def show_symbol(self, symbol: str | None) -> None:
        """Reset for a newly selected symbol until its first frame arrives."""
        self.title.setText(display_name(symbol) if symbol else "No symbol selected")
        self.update_id.setText("")
        self.badge.setText("")
        self.badge.setStyleSheet("")
        self._state = None
        for metric in self.metrics.values():
            metric.set("—")

    def set_frame(self, frame: LiveFrame) -> None:
        self.title.setText(display_name(frame.symbol))
        self._set_badge(frame.state)
        self.update_id.setText(f"update id {frame.last_update_id:,}" if frame.last_update_id else "")
        m = frame.metrics
        if m is None:
            for metric in self.metrics.values():
                metric.set("—")
            return
        dp = max(decimals_of(m.best_bid or ""), decimals_of(m.best_ask or ""), 2)
        c = self.colors
        self.metrics["Best bid"].set(
            fmt_float(float(m.best_bid or "nan"), dp), f"size {m.best_bid_size:g}", c.bid
        )
        self.metrics["Best ask"].set(
            fmt_float(float(m.best_ask or "nan"), dp), f"size {m.best_ask_size:g}", c.ask
        )
        self.metrics["Spread"].set(fmt_float(m.spread, dp), f"{fmt_sig(m.spread_bps)} bps")
        self.metrics["Mid"].set(fmt_float(m.mid_price, dp + 1))
        skew = m.microprice - m.mid_price if math.isfinite(m.microprice) else math.nan
        self.metrics["Microprice"].set(
            fmt_float(m.microprice, dp + 1), f"{'+' if skew >= 0 else ''}{fmt_float(skew, dp + 1)} vs mid"
        )
        ratio = m.imbalance_ratio
        share = m.bid_volume / (m.bid_volume + m.ask_volume) if m.bid_volume + m.ask_volume > 0 else math.nan
        color = c.bid if ratio > 1 else c.ask if ratio < 1 else None
        self.metrics["Imbalance"].set(
            f"{ratio:.2f}", f"bid/ask top {SNAPSHOT_DEPTH} · {fmt_float(share * 100, 0)} % bid", color
        )

    def _set_badge(self, state: DisplayState) -> None:
        color = self.colors.state_colors.get(str(state), self.colors.muted)
        style = f"color: {color}; border: 1px solid {color};"
        if state == self._state and style == self.badge.styleSheet():
            return  # called on every frame: re-polishing an unchanged badge is not free
        self._state = state
        self.badge.setText(str(state))
        self.badge.setStyleSheet(style)
