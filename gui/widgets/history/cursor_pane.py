"""The cursor's second: the recorded ladder (LadderView), its L1 metrics and the order flow of the window that
ends there."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from gui.app_markets import display_name
from gui.formatting import fmt_float, fmt_qty, fmt_sig
from gui.history_values import CursorView
from gui.models.ladder import LadderModel
from gui.values import ThemeColors
from gui.widgets.history.time_axis import local_and_utc
from gui.widgets.ladder import LadderView


class CursorPane(QWidget):
    flow_window_changed = Signal(int)

    def __init__(self, colors: ThemeColors, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("historyCursor")
        self.ladder_model = LadderModel()
        self.ladder = LadderView(self.ladder_model, colors)
        self.ladder.empty_text = ""  # a recorded second, not a live book: the title says what is shown, or why not
        self.title = QLabel("Recorded ladder: click a chart")
        self.title.setObjectName("historyLadderTitle")
        self.title.setWordWrap(True)
        self.metrics = QLabel("")
        self.metrics.setObjectName("historyL1")
        self.metrics.setWordWrap(True)
        self.flow_window = QSpinBox()
        self.flow_window.setObjectName("historyFlowWindow")
        self.flow_window.setRange(10, 300)
        self.flow_window.setValue(60)
        self.flow_window.setSuffix(" s")
        self.flow_window.setToolTip("Order flow over this many seconds ending at the cursor (10–300 s)")
        self.flow = QLabel("")
        self.flow.setObjectName("historyFlow")
        self.flow.setWordWrap(True)
        flow_row = QHBoxLayout()
        flow_row.addWidget(QLabel("Order flow over"))
        flow_row.addWidget(self.flow_window)
        flow_row.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.ladder, 1)
        layout.addWidget(self.metrics)
        layout.addLayout(flow_row)
        layout.addWidget(self.flow)
        self.flow_window.valueChanged.connect(self.flow_window_changed)

    def set_colors(self, colors: ThemeColors) -> None:
        self.ladder.set_colors(colors)

    def clear(self, text: str) -> None:
        self.title.setText(text)
        self.ladder_model.clear()
        self.metrics.setText("")
        self.flow.setText("")

    def set_cursor(self, view: CursorView) -> None:
        when = local_and_utc(view.timestamp)
        if view.bids is None or view.asks is None:
            why = f"gap record: {view.gap_reason}" if view.gap_reason else "nothing was recording"
            self.title.setText(f"{display_name(view.symbol)} · {when}\nNothing stored at this second ({why}).")
            self.ladder_model.clear()
            self.metrics.setText("")
        else:
            self.title.setText(f"{display_name(view.symbol)} · {when} · update id {view.update_id:,}")
            self.ladder_model.set_levels(view.symbol, view.bids, view.asks)
            m = view.metrics
            if m is not None:
                buy = m.slippage_estimates.get("buy_10k_usd")
                sell = m.slippage_estimates.get("sell_10k_usd")
                self.metrics.setText(
                    f"Mid {fmt_float(m.mid_price, 4)} · spread {fmt_sig(m.spread_bps)} bps · "
                    f"microprice {fmt_float(m.microprice, 4)}\n"
                    f"Top 20: bids {fmt_qty(m.bid_volume)} / asks {fmt_qty(m.ask_volume)} "
                    f"(ratio {fmt_sig(m.imbalance_ratio)}) · walls {len(m.bid_walls)} bid, {len(m.ask_walls)} ask\n"
                    f"10k USD slippage: buy {fmt_sig(buy.slippage_bps if buy else None)} bps, "
                    f"sell {fmt_sig(sell.slippage_bps if sell else None)} bps"
                )
        if view.flow is not None:
            f = view.flow
            self.flow.setText(
                f"{f.flow_direction.value.replace('_', ' ').lower()} · bid {f.bid_flow_rate:.2f}/s, "
                f"ask {f.ask_flow_rate:.2f}/s, net {f.net_flow:+.2f}/s · "
                f"{f.snapshot_count} snapshots over {f.covered_secs} s"
            )
        else:
            self.flow.setText(view.flow_problem or "")
