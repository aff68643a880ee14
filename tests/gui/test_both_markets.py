"""One app session follows and records both markets: BTCUSDT spot and BTCUSDT USDⓈ-M futures side by side.

Against the real simulators (the demo runs one per market), the real RocksDB and real widgets offscreen: two
rows, two ladders, two switches; each market stored under its own keys, the spot keys exactly the contract's; one
session record for the database; saved settings remember the market of each symbol, and old files still load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from rocksdict import AccessType, Options, Rdict

from core.feed.listing import MarketSelection
from core.market.markets import SPOT, USDM
from core.storage.keys import parse_snapshot_key
from core.storage.store import SnapshotStorage
from gui.app import parse_args
from gui.config import DEMO_KEYS, AppConfig, SavedSettings, build_config
from gui.market_follow import FollowMarketDialog
from gui.market_sessions import MarketUnavailableError
from gui.models.symbols import Column
from gui.services import Services
from gui.settings import SettingsStore
from gui.values import DisplayState
from gui.widgets.history.export_dialog import ExportDialog
from tests.gui.app_helpers import add_through_the_panel, demo_config, row_of, running
from tests.waiting import wait_until

FUTURES = "usdm/BTCUSDT"  # the key of BTCUSDT on USDⓈ-M futures: its stored name


def shown_names(app) -> list[str]:
    model = app.symbol_model
    return [model.data(model.index(r, Column.SYMBOL), Qt.ItemDataRole.DisplayRole) for r in range(model.rowCount())]


def stored(app, key: str) -> int:
    row = row_of(app, key)
    return (row.stored or 0) if row is not None else 0


@pytest.mark.asyncio
async def test_one_session_records_spot_and_futures_of_one_name(tmp_path, settings_store):
    both = ("BTCUSDT", FUTURES)
    config = demo_config(tmp_path, symbols=both, recording=frozenset(both))
    async with running(config, settings_store) as app:
        services = app.services
        await wait_until(lambda: stored(app, "BTCUSDT") >= 2 and stored(app, FUTURES) >= 2, timeout=15,
                         what="both markets recorded")  # fmt: skip
        assert set(services.sessions) == {SPOT, USDM}
        simulators = services.markets.simulators
        assert not simulators[SPOT].usdm and simulators[USDM].usdm  # a futures exchange serves the futures
        assert shown_names(app) == ["BTCUSDT · spot", "BTCUSDT · usdm"]  # beside futures, spot names its market
        assert [row_of(app, k).market for k in both] == ["spot", "usdm"]
        assert services.storage is services.sessions[USDM].storage  # one database, opened once

        # Two ladders: each row's book is its own market's.
        panel = app.window.symbols_panel
        frames = {}
        for key in both:
            panel.select(key)
            await wait_until(lambda key=key: app.window.live_view.symbol == key and app.ladder_model.rowCount() == 40,
                             what=f"the ladder of {key}")  # fmt: skip
            frames[key] = app.bridge.build_frame(key)
        spot_book = services.sessions[SPOT].manager.book("BTCUSDT")
        futures_book = services.sessions[USDM].manager.book("BTCUSDT")
        assert spot_book is not futures_book
        assert frames["BTCUSDT"].symbol == "BTCUSDT" and frames[FUTURES].symbol == FUTURES
        # The details card's title names the market as the rows do, both markets being followed.
        card = panel.details
        for key, title in (("BTCUSDT", "BTCUSDT · spot details"), (FUTURES, "BTCUSDT · usdm details")):
            panel.select(key)
            await wait_until(lambda title=title: card.title.text() == title, what=f"the details of {key}")

        # Removing the futures row leaves spot following and recording.
        await app.remove_symbol(FUTURES)
        assert [r.symbol for r in app.bridge.build_rows(0.0)] == ["BTCUSDT"]
        await wait_until(lambda: shown_names(app) == ["BTCUSDT · spot"], what="the spot row alone, naming its market")
        assert not services.is_recording(FUTURES) and services.is_recording("BTCUSDT")
        futures_stored = services.storage.count(FUTURES)
        spot_before = stored(app, "BTCUSDT")
        await wait_until(lambda: stored(app, "BTCUSDT") >= spot_before + 2, timeout=10, what="spot recording on")
        assert services.storage.count(FUTURES) == futures_stored
        assert "BTCUSDT" not in services.sessions[USDM].symbols

    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as storage:
        assert storage.symbols() == ["BTCUSDT", FUTURES]
        assert storage.count(FUTURES) == futures_stored
        # One recording of the database: the first recorder opened the record, the futures joined it, and the
        # last to stop ended it (never "restarted" by the second market's start).
        sessions = storage.sessions()
        assert len(sessions) == 1
        assert set(sessions[0].symbols) == {"BTCUSDT", FUTURES}
        assert sessions[0].end is not None and sessions[0].end_reason == "stopped"
    raw = Rdict(str(tmp_path / "db"), Options(raw_mode=True), access_type=AccessType.read_only())
    try:
        keys = list(raw.keys())
    finally:
        raw.close()
    spot_keys = [k for k in keys if not k.startswith(b"usdm/")]
    assert spot_keys and all(
        parse_snapshot_key(k)[0] == "BTCUSDT" and len(k) == len(b"BTCUSDT:") + 10 for k in spot_keys
    )  # the contract's `SYMBOL:TS`, byte for byte
    assert all(k.startswith(b"usdm/BTCUSDT:") for k in keys[len(spot_keys):])  # futures sort after spot


@pytest.mark.asyncio
async def test_the_add_box_follows_a_symbol_on_the_chosen_market(qtbot, tmp_path, settings_store):
    async with running(demo_config(tmp_path, symbols=("BTCUSDT",)), settings_store) as app:
        services, panel = app.services, app.window.symbols_panel
        await wait_until(lambda: row_of(app, "BTCUSDT") is not None, what="the spot row")
        assert USDM not in services.sessions  # no futures connection until a futures symbol is wanted
        assert panel.chosen_market() == "spot"
        panel.set_market("usdm")
        add_through_the_panel(qtbot, app, "btcusdt")
        await wait_until(lambda: row_of(app, FUTURES) is not None, timeout=10, what="the futures row")
        await wait_until(lambda: row_of(app, FUTURES).state is DisplayState.LIVE, timeout=10, what="futures live")
        assert panel.selected_symbol() == FUTURES
        assert shown_names(app) == ["BTCUSDT · spot", "BTCUSDT · usdm"]  # beside futures, spot names its market
        # Its own switch: recording the futures row records nothing of spot.
        assert panel.toggle_recording_of_selected()
        await wait_until(lambda: stored(app, FUTURES) >= 1, timeout=10, what="a futures snapshot")
        assert not services.is_recording("BTCUSDT") and services.storage.count("BTCUSDT") == 0
        # The status bar speaks for both connections.
        await wait_until(lambda: app.bridge.connection_view().connected, what="both connected")
        view = app.bridge.connection_view()
        assert "spot ws://127.0.0.1" in view.url and "usdm ws://127.0.0.1" in view.url and view.streams == 2
        # The History tab lists both stored names with their market, and opens the futures one.
        app.window.tabs.setCurrentWidget(app.window.history_panel)
        history = app.window.history_panel
        await wait_until(lambda: history.symbol == FUTURES and history.span is not None, timeout=10,
                         what="the futures symbol opened in the History tab")  # fmt: skip
        assert history.span.symbol == FUTURES and history.span.stored >= 1  # read under its own key
    saved = settings_store.load()
    assert saved.demo_symbols == ("BTCUSDT", FUTURES) and saved.demo_recording == frozenset({FUTURES})


def test_exporting_a_futures_symbol_names_its_market_and_suggests_a_file_in_the_chosen_folder(qtbot, tmp_path):
    dialog = ExportDialog(FUTURES, 1_700_000_000, 1_700_000_060, tmp_path)
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "Export BTCUSDT · usdm"
    suggested = Path(dialog.path_edit.text())  # not tmp_path/usdm/..., a folder that does not exist
    assert suggested.parent == tmp_path and suggested.name.startswith("usdm-BTCUSDT-")


def test_saved_symbols_remember_their_market(settings_store):
    settings_store.save_symbols(["BTCUSDT", FUTURES, "ETHUSDT"], {FUTURES, "ETHUSDT"}, demo=False)
    settings_store.sync()
    config = build_config(parse_args([]), settings_store.load())
    assert config.symbols == ("BTCUSDT", FUTURES, "ETHUSDT")
    assert config.recording == frozenset({FUTURES, "ETHUSDT"})
    # A run whose own market is futures reads the same file the same way: the names carry their market.
    assert build_config(parse_args(["--market", "usdm"]), settings_store.load()).symbols == config.symbols


def old_settings(tmp_path: Path, **values: str) -> SettingsStore:
    """A settings file as the app wrote it when it followed one market per run: bare names, no markers."""
    q = QSettings(str(tmp_path / "old.ini"), QSettings.Format.IniFormat)
    for key, value in values.items():
        q.setValue(key.replace("__", "/"), value)
    q.sync()
    return SettingsStore(q)


def test_an_old_settings_file_still_loads(tmp_path):
    spot = old_settings(tmp_path, symbols__live="BTCUSDT,ETHUSDT", symbols__live_recording="ETHUSDT")
    config = build_config(parse_args([]), spot.load())
    assert (config.symbols, config.recording) == (("BTCUSDT", "ETHUSDT"), frozenset({"ETHUSDT"}))
    (tmp_path / "old.ini").unlink()
    futures = old_settings(tmp_path, exchange__preset="binance-usdm", symbols__live="ETHUSDT,bad name,SOLUSDT",
                           symbols__live_recording="SOLUSDT")  # fmt: skip
    config = build_config(parse_args([]), futures.load())  # its bare names were of its one market: futures
    assert config.symbols == ("usdm/ETHUSDT", "usdm/SOLUSDT") and config.recording == frozenset({"usdm/SOLUSDT"})


def test_the_first_demo_shows_both_markets():
    config = build_config(parse_args(["--demo"]), SavedSettings())
    assert config.symbols == DEMO_KEYS and FUTURES in config.symbols


@pytest.mark.asyncio
async def test_an_exchange_without_futures_says_so_in_one_sentence(tmp_path):
    config = AppConfig(db_path=tmp_path / "db", endpoint_name="binance-us", ws_url="wss://stream.binance.us:9443",
                       rest_url="https://api.binance.us")  # fmt: skip
    services = Services(config)
    assert services.offered_markets() == [SPOT]
    with pytest.raises(MarketUnavailableError, match=r"^binance-us does not offer USD-M futures: choose"):
        await services.add_symbol("BTCUSDT", USDM)  # refused before any connection is made
    assert services.symbols == [] and not services.sessions
    binance = AppConfig(db_path=tmp_path / "db", endpoint_name="binance", ws_url="wss://stream.binance.com:9443",
                        rest_url="https://api.binance.com")  # fmt: skip
    assert Services(binance).offered_markets() == [SPOT, USDM]


@pytest.mark.asyncio
async def test_following_the_whole_futures_market_adds_its_symbols_beside_spot(qtbot, tmp_path, settings_store):
    async with running(demo_config(tmp_path, symbols=("BTCUSDT",)), settings_store) as app:
        dialog = FollowMarketDialog(1, True, app.window, app.services.offered_markets())
        qtbot.addWidget(dialog)
        dialog.market.setCurrentIndex(1)
        with qtbot.waitSignal(dialog.accepted_selection) as chosen:
            dialog.follow_button.click()
        selection, record, market = chosen.args
        assert market is USDM and selection.quotes is None and not record
        keys = await app.market.follow(MarketSelection(None), False, USDM)
        assert keys is not None and sorted(keys) == [FUTURES, "usdm/ETHUSDT"]  # the futures simulator's symbols
        assert app.services.symbols == ["BTCUSDT", *keys]
        assert app.services.sessions[SPOT].symbols == ["BTCUSDT"]  # spot's connection is untouched
        assert "of USD-M futures" in app.window.statusBar().currentMessage()
