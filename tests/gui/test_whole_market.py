"""Symbols → Follow the whole market…, driven as a user would, against the real simulator on loopback.

The listing refresh runs every few minutes in the app; the tests call it once (`manager.listing.refresh()`,
the same code the period runs) right after changing the simulator's listing, instead of waiting a period.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

from core.feed.listing import MarketSelection
from gui.config import AppConfig
from gui.exchange_status import stopped_state
from gui.market_follow import FOLLOW_MARKET_DIALOG, FollowMarketDialog, parse_quotes
from gui.models.symbols import Column
from gui.values import DisplayState
from tests.gui.app_helpers import running
from tests.waiting import wait_until

# Mixed quote assets; one USDT symbol is halted before the market is followed.
SIM_SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "ETHBTC", "SOLFDUSD")
HALTED_AT_START = "BNBUSDT"


def demo_config(tmp_path) -> AppConfig:
    return AppConfig(db_path=tmp_path / "db", demo=True, endpoint_name="simulator", sim_symbols=SIM_SYMBOLS,
                     sim_interval_ms=20)  # fmt: skip


def open_dialog(qtbot, app) -> FollowMarketDialog:
    app.window.follow_market_action.trigger()
    dialog = app.window.findChild(QDialog, FOLLOW_MARKET_DIALOG)
    assert dialog is not None and dialog.isVisible()
    return dialog


def state_text(app, symbol: str) -> str:
    model = app.symbol_model
    return model.index(model.row_of(symbol), Column.STATE).data()


async def stored_grows(app, symbol: str) -> None:
    storage = app.services.storage
    before = storage.count(symbol)
    await wait_until(lambda: storage.count(symbol) > before, timeout=8, what=f"{symbol} to be stored")


@pytest.mark.asyncio
async def test_follow_usdt_record_all_halt_resume_and_new_listing(qtbot, tmp_path, settings_store):
    async with running(demo_config(tmp_path), settings_store) as app:
        sim, services = app.services.simulator, app.services
        sim.set_status(HALTED_AT_START, "HALT")
        dialog = open_dialog(qtbot, app)
        qtbot.keyClicks(dialog.quotes, "usdt")
        dialog.record.setChecked(True)
        qtbot.mouseClick(dialog.follow_button, Qt.MouseButton.LeftButton)

        trading_usdt = {s for s in SIM_SYMBOLS if s.endswith("USDT") and s != HALTED_AT_START}
        await wait_until(lambda: set(app.symbol_model.symbols) == trading_usdt, what="the USDT symbols' rows")
        assert set(services.manager.symbols) == trading_usdt
        await wait_until(lambda: all(app.symbol_model.row_data(s).recording for s in trading_usdt),
                         what="every row recording")  # fmt: skip
        for symbol in sorted(trading_usdt):
            await stored_grows(app, symbol)
        assert "Following 3 symbols and recording them" in app.window.statusBar().currentMessage()

        # A halt: the row stays, says so, and recording stops; the details panel says why.
        sim.set_status("ETHUSDT", "HALT")
        changes = await services.manager.listing.refresh()
        assert changes is not None and changes.stopped == {"ETHUSDT": "HALT"}
        assert not services.is_recording("ETHUSDT")
        app.bridge.refresh_now()
        assert state_text(app, "ETHUSDT") == "halted"
        assert app.symbol_model.row_data("ETHUSDT").state is DisplayState.STALE
        assert not app.symbol_model.row_data("ETHUSDT").recording
        app.window.symbols_panel.select("ETHUSDT")
        details = app.window.symbols_panel.details.values["state"].text()
        assert stopped_state("HALT") == "halted (HALT)"
        assert "halted (HALT)" in details and "stopped trading it" in details
        recorder, storage = services.recorder, services.storage
        ticks = recorder.ticks
        await wait_until(lambda: recorder.ticks >= ticks + 1, timeout=5, what="one more tick")
        halted_count = storage.count("ETHUSDT")
        await wait_until(lambda: recorder.ticks >= ticks + 3, timeout=8, what="two more ticks")
        assert storage.count("ETHUSDT") == halted_count

        # Trading again: followed and recorded again, by itself.
        sim.set_status("ETHUSDT", "TRADING")
        changes = await services.manager.listing.refresh()
        assert changes is not None and changes.resumed == ["ETHUSDT"]
        assert services.is_recording("ETHUSDT")
        await wait_until(lambda: app.symbol_model.row_data("ETHUSDT").state is DisplayState.LIVE, what="live again")
        assert state_text(app, "ETHUSDT") == "live" and app.symbol_model.row_data("ETHUSDT").recording
        await stored_grows(app, "ETHUSDT")

        # A new USDT listing (and the halted one trading) join the table and are recorded; other quotes do not.
        sim.add_symbol("XRPUSDT")
        sim.add_symbol("XRPBTC")
        sim.set_status(HALTED_AT_START, "TRADING")
        changes = await services.manager.listing.refresh()
        assert changes is not None and sorted(changes.added) == [HALTED_AT_START, "XRPUSDT"]
        app.bridge.refresh_now()
        assert set(app.symbol_model.symbols) == trading_usdt | {HALTED_AT_START, "XRPUSDT"}
        await stored_grows(app, "XRPUSDT")

        # Delisted: the row says so.
        sim.delist("SOLUSDT")
        await services.manager.listing.refresh()
        app.bridge.refresh_now()
        assert state_text(app, "SOLUSDT") == "delisted"
        assert not services.is_recording("SOLUSDT")


@pytest.mark.asyncio
async def test_follow_everything_without_recording(qtbot, tmp_path, settings_store):
    async with running(demo_config(tmp_path), settings_store) as app:
        dialog = open_dialog(qtbot, app)
        assert not dialog.record.isChecked()  # recording the whole market is asked for, never the default
        qtbot.mouseClick(dialog.follow_button, Qt.MouseButton.LeftButton)
        await wait_until(lambda: set(app.symbol_model.symbols) == set(SIM_SYMBOLS), what="every symbol's row")
        await wait_until(lambda: all(app.symbol_model.row_data(s).state is DisplayState.LIVE for s in SIM_SYMBOLS),
                         what="every book live")  # fmt: skip
        assert not any(app.services.is_recording(s) for s in SIM_SYMBOLS)
        assert app.services.recorder.ticks == 0


@pytest.mark.asyncio
async def test_bad_quote_is_one_sentence_in_the_dialog(qtbot, tmp_path, settings_store):
    async with running(demo_config(tmp_path), settings_store) as app:
        dialog = open_dialog(qtbot, app)
        qtbot.keyClicks(dialog.quotes, "US$T")
        qtbot.mouseClick(dialog.follow_button, Qt.MouseButton.LeftButton)
        assert dialog.isVisible() and dialog.error.isVisible()
        assert "US$T" in dialog.error.text() and dialog.error.text().endswith(".")
        assert app.services.manager.symbols == [] and app.symbol_model.rowCount() == 0


@pytest.mark.asyncio
async def test_unreachable_exchange_is_one_sentence_in_the_status_bar(qtbot, tmp_path, settings_store):
    closed = "127.0.0.1:9"  # the discard port: nothing listens on loopback
    config = AppConfig(db_path=tmp_path / "db", endpoint_name="custom", ws_url=f"ws://{closed}",
                       rest_url=f"http://{closed}")  # fmt: skip
    async with running(config, settings_store) as app:
        result = await app.market.follow(MarketSelection(parse_quotes("USDT")), record=True)
        assert result is None
        message = app.window.statusBar().currentMessage()
        assert message.startswith("Could not follow the market: ") and "Traceback" not in message
        assert app.services.manager.symbols == [] and app.services.symbols == []
        assert app.services.recording_intent == set()


def test_quote_filter_reads_as_record_does():
    assert parse_quotes("") is None and parse_quotes("  ") is None
    assert parse_quotes("usdt, fdusd") == frozenset({"USDT", "FDUSD"})
    with pytest.raises(ValueError, match=r"^Quote assets are ASCII letters and digits like USDT, got 'US\$T'\.$"):
        parse_quotes("US$T")
