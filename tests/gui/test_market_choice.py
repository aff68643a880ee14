"""The app's market: `--market`, a futures preset or the saved market pick it; the symbol table shows it per row."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from core.market.markets import SPOT, USDM
from core.storage.store import SnapshotStorage
from gui.app import parse_args
from gui.config import ConfigError, SavedSettings, build_config
from gui.models.symbols import Column, SymbolTableModel
from gui.values import DisplayState, SymbolRow
from tests.gui.app_helpers import demo_config, row_of, running
from tests.waiting import wait_until


def test_spot_stays_the_default():
    config = build_config(parse_args([]), SavedSettings())
    assert (config.market, config.endpoint_name) == (SPOT, "binance")


def test_the_market_flag_picks_the_futures_hosts_over_a_saved_spot_preset():
    config = build_config(parse_args(["--market", "usdm"]), SavedSettings(preset="binance", snapshot_limit=5000))
    assert (config.market, config.endpoint_name) == (USDM, "binance-usdm")
    assert (config.ws_url, config.rest_url) == ("wss://fstream.binance.com/public", "https://fapi.binance.com")
    assert config.snapshot_limit == 1000  # futures serve at most 1000 levels: a saved 5000 is brought down


def test_a_saved_futures_preset_is_a_futures_session():
    config = build_config(parse_args([]), SavedSettings(preset="binance-usdm"))
    assert config.market is USDM


def test_custom_urls_and_the_demo_take_the_market_flag():
    urls = ["--ws-url", "ws://127.0.0.1:9/public", "--rest-url", "http://127.0.0.1:9", "--market", "usdm"]
    config = build_config(parse_args(urls), SavedSettings())
    assert (config.market, config.endpoint_name) == (USDM, "custom")
    assert build_config(parse_args(["--demo", "--market", "usdm"]), SavedSettings()).market is USDM


def test_a_preset_of_the_other_market_is_one_sentence():
    with pytest.raises(ConfigError, match="'binance' is for Spot, not USD-M futures"):
        build_config(parse_args(["--preset", "binance", "--market", "usdm"]), SavedSettings())


def test_the_symbol_table_shows_the_market_beside_a_futures_symbol(qtbot):
    model = SymbolTableModel()
    model.set_rows(
        [SymbolRow("BTCUSDT", DisplayState.LIVE), SymbolRow("ETHUSDT", DisplayState.LIVE, market="usdm")]
    )
    display, tip = Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole
    assert model.data(model.index(0, Column.SYMBOL), display) == "BTCUSDT · spot"  # beside a futures row
    assert model.data(model.index(1, Column.SYMBOL), display) == "ETHUSDT · usdm"
    assert "Binance spot" in model.data(model.index(0, Column.SYMBOL), tip)
    assert "USD-M futures" in model.data(model.index(1, Column.SYMBOL), tip)
    assert model.symbol_at(1) == "ETHUSDT"  # the row is still the exchange's symbol


@pytest.mark.asyncio
async def test_the_app_records_a_futures_symbol_under_its_market(tmp_path, settings_store):
    key = "usdm/ETHUSDT"  # the app names a followed symbol by its stored name (gui.app_markets)
    config = demo_config(tmp_path, symbols=(key,), recording=frozenset({key}), market=USDM)
    async with running(config, settings_store) as app:
        assert app.services.simulator is not None and app.services.simulator.usdm
        await wait_until(lambda: row_of(app, key) is not None, what="the ETHUSDT row")
        await wait_until(lambda: (row_of(app, key).stored or 0) >= 1, timeout=8, what="a snapshot")
        shown = app.symbol_model.data(app.symbol_model.index(0, Column.SYMBOL), Qt.ItemDataRole.DisplayRole)
        assert shown == "ETHUSDT · usdm"
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as storage:
        assert storage.symbols() == ["usdm/ETHUSDT"]
        assert storage.count("usdm/ETHUSDT") >= 1
