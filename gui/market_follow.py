"""Symbols → Follow the whole market…: the app's `depthbook record --all [--quote Q]`.

A small dialog asks for an optional quote-asset filter and whether to record every symbol it takes; the app
then follows them through the services (`RecordingSession.follow_market`), and the listing refresh adds new
listings and stops and resumes the symbols the exchange stops. Bad input is one sentence in the dialog; an
exchange that cannot answer is one sentence in the status bar, and nothing is followed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from core.cli.common import quote_assets
from core.feed.errors import ExchangeError
from core.feed.listing import MarketSelection
from core.feed.manager import SubscriptionLimitError
from core.market.markets import SPOT, Market
from gui.dialogs import BYTES_PER_SYMBOL_DAY
from gui.services import RecordingUnavailableError, Services

FOLLOW_MARKET_DIALOG = "followMarketDialog"
WHOLE_SPOT_MARKET = 1500  # Binance spot's TRADING symbols, about: the size estimate's example


def parse_quotes(text: str) -> frozenset[str] | None:
    """The quote filter typed: None (empty: every TRADING symbol) or the assets; ValueError, one sentence, else."""
    if not text.strip():
        return None
    try:
        return quote_assets(text)
    except argparse.ArgumentTypeError as exc:
        message = str(exc)
        raise ValueError(message[0].upper() + message[1:] + ".") from None


class FollowMarketDialog(QDialog):
    """Asks which part of the market to follow; `accepted_selection` carries (MarketSelection, record)."""

    accepted_selection = Signal(object, bool, object)  # (MarketSelection, record, Market)

    def __init__(
        self, interval: int, can_record: bool, parent: QWidget | None = None, markets: list[Market] | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName(FOLLOW_MARKET_DIALOG)
        self.setWindowTitle("Follow the whole market")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        intro = QLabel(
            "Follow every symbol the exchange lists as TRADING; new listings join by themselves, and symbols the "
            "exchange halts or delists stay in the table with their status until they trade again."
        )
        intro.setWordWrap(True)
        layout.addWidget(intro)
        form = QFormLayout()
        # Each market is listed, refreshed, paced and weighed on its own (its own connections and weight budget):
        # one market per follow; following the other is a second follow.
        self.markets = markets or [SPOT]
        self.market = QComboBox()
        self.market.setObjectName("followMarketChoice")
        for market in self.markets:
            self.market.addItem(f"Binance {market.label}", market.name)
        form.addRow("Market:", self.market)
        self.quotes = QLineEdit()
        self.quotes.setObjectName("quoteFilter")
        self.quotes.setPlaceholderText("every quote asset; or e.g. USDT or USDT,FDUSD")
        self.quotes.textEdited.connect(lambda _text: self.error.hide())
        form.addRow("Quoted in:", self.quotes)
        self.record = QCheckBox("Record them all, new listings included")
        self.record.setObjectName("recordAll")
        self.record.setEnabled(can_record)
        if not can_record:
            self.record.setToolTip("Recording is off: the database is not open for writing.")
        form.addRow("", self.record)
        layout.addLayout(form)
        per_symbol = BYTES_PER_SYMBOL_DAY / max(1, interval)
        self.estimate = QLabel(
            f"Recording stores one snapshot per symbol every {interval} s: about {per_symbol / 1e6:,.1f} MB a day "
            f"per symbol, {per_symbol * WHOLE_SPOT_MARKET / 1e9:,.0f} GB a day for the whole spot market "
            f"(about {WHOLE_SPOT_MARKET:,} symbols). A retention in Settings limits the days kept."
        )
        self.estimate.setObjectName("hint")
        self.estimate.setWordWrap(True)
        layout.addWidget(self.estimate)
        self.error = QLabel("")
        self.error.setObjectName("inlineMessage")
        self.error.setProperty("kind", "error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.follow_button = buttons.addButton("Follow", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._on_follow)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _on_follow(self) -> None:
        try:
            quotes = parse_quotes(self.quotes.text())
        except ValueError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        market = self.markets[max(0, self.market.currentIndex())]
        self.accepted_selection.emit(MarketSelection(quotes), self.record.isChecked(), market)
        self.accept()


class MarketFollowing:
    """Opens the dialog and follows what it asks, reporting in the status bar (owned by the app)."""

    def __init__(
        self,
        window: Any,  # gui.main_window.MainWindow
        services: Services,
        refresh: Callable[[], None],  # the bridge's refresh_now
        save_symbols: Callable[[], None],
        spawn: Callable[[Coroutine[Any, Any, Any]], Any],
    ) -> None:
        self.window, self.services = window, services
        self._refresh, self._save_symbols, self._spawn = refresh, save_symbols, spawn
        self.dialog: FollowMarketDialog | None = None
        window.follow_market_requested.connect(self.ask)

    def ask(self) -> None:
        services = self.services
        dialog = FollowMarketDialog(
            services.config.snapshot_interval, services.can_record, self.window, services.offered_markets()
        )
        dialog.accepted_selection.connect(
            lambda selection, record, market: self._spawn(self.follow(selection, record, market))
        )
        self.dialog = dialog
        dialog.open()

    async def follow(self, selection: MarketSelection, record: bool, market: Market | None = None) -> list[str] | None:
        """Follow (and with `record`, record) every TRADING symbol of `market` (the run's own if None) that
        `selection` takes; their keys, or None if nothing changed."""
        window, services = self.window, self.services
        market = market or services.config.market
        which = "every TRADING symbol" if selection.quotes is None else f"the {_quotes(selection)} symbols"
        which += f" of {market.label}"
        window.show_status(f"Asking the exchange for {which}…", 0)
        try:
            symbols = await services.follow_market(selection, record, market)
        except (ExchangeError, SubscriptionLimitError, RecordingUnavailableError) as exc:
            window.show_status(f"Could not follow the market: {_sentence(exc)}", 15000)
            return None
        if not symbols:
            window.show_status(f"No symbol is TRADING with quote {_quotes(selection)}: nothing was followed.", 15000)
            return None
        recorded = " and recording them" if record else ""
        window.show_status(
            f"Following {len(symbols):,} symbols{recorded} ({which}); new listings join by themselves.", 15000
        )
        self._save_symbols()
        self._refresh()
        return symbols


def _quotes(selection: MarketSelection) -> str:
    return ", ".join(sorted(selection.quotes or ()))


def _sentence(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if text.endswith(".") else text + "."
