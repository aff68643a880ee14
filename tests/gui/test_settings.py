"""AppConfig from flags over saved settings, and the QSettings round trip (a temp INI file)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.paths import default_db_path
from gui.app import parse_args
from gui.config import ConfigError, SavedSettings, build_config, demo_db_path


def test_defaults_are_binance_and_the_default_db():
    config = build_config(parse_args([]), SavedSettings())
    assert config.endpoint_name == "binance"
    assert config.ws_url == "wss://stream.binance.com:9443"
    assert config.db_path == default_db_path()
    assert not config.demo


def test_flags_override_saved_settings():
    saved = SavedSettings(preset="binance-us", db_path="/data/saved.rocksdb", symbols=("BTCUSDT",))
    args = parse_args(["--ws-url", "ws://127.0.0.1:8765", "--rest-url", "http://127.0.0.1:8765",
                       "--db", "/tmp/x", "--record", "ethusdt"])  # fmt: skip
    config = build_config(args, saved)
    assert (config.endpoint_name, config.ws_url) == ("custom", "ws://127.0.0.1:8765")
    assert config.db_path == Path("/tmp/x")
    assert config.symbols == ("BTCUSDT", "ETHUSDT")
    assert config.recording == frozenset({"ETHUSDT"})
    assert build_config(parse_args([]), saved).endpoint_name == "binance-us"
    assert build_config(parse_args([]), saved).db_path == Path("/data/saved.rocksdb")


def test_demo_uses_its_own_db_and_symbol_list():
    saved = SavedSettings(symbols=("BTCUSDT",), recording=frozenset({"BTCUSDT"}), demo_symbols=("SOLUSDT",))
    config = build_config(parse_args(["--demo"]), saved)
    assert config.demo and config.endpoint_name == "simulator"
    assert config.db_path == demo_db_path()
    assert config.symbols == ("SOLUSDT",)
    assert config.recording == frozenset()
    assert "SOLUSDT" in config.sim_symbols
    # The simulator preset saved in the settings dialog means demo mode too.
    assert build_config(parse_args([]), SavedSettings(preset="simulator")).demo


@pytest.mark.parametrize(
    "argv",
    [
        ["--ws-url", "http://wrong"],
        ["--preset", "kraken"],
        ["--record", "BTC/USDT"],
        ["--demo", "--ws-url", "ws://127.0.0.1:1"],
    ],
)
def test_bad_flags_are_one_sentence(argv):
    with pytest.raises(ConfigError) as info:
        build_config(parse_args(argv), SavedSettings())
    message = str(info.value)
    assert message.endswith(".") and "\n" not in message


def test_settings_round_trip(settings_store):
    settings_store.save_preferences(
        SavedSettings(preset="custom", ws_url="ws://h:1", rest_url="http://h:1", db_path="/tmp/db",
                      snapshot_depth=10, snapshot_interval=5, snapshot_limit=500)
    )  # fmt: skip
    settings_store.save_symbols(["BTCUSDT", "ETHUSDT"], {"ETHUSDT"}, demo=False)
    settings_store.save_symbols(["SOLUSDT"], set(), demo=True)
    settings_store.save_theme("light")
    loaded = settings_store.load()
    assert (loaded.preset, loaded.ws_url, loaded.rest_url) == ("custom", "ws://h:1", "http://h:1")
    assert (loaded.snapshot_depth, loaded.snapshot_interval, loaded.snapshot_limit) == (10, 5, 500)
    assert loaded.symbols == ("BTCUSDT", "ETHUSDT")
    assert loaded.recording == frozenset({"ETHUSDT"})
    assert loaded.demo_symbols == ("SOLUSDT",)
    assert loaded.theme == "light"
    config = build_config(parse_args([]), loaded)
    assert (config.endpoint_name, config.ws_url) == ("custom", "ws://h:1")
    assert config.snapshot_interval == 5


def test_garbage_in_settings_falls_back_to_defaults(settings_store):
    settings_store.q.setValue("recording/depth", "lots")
    settings_store.q.setValue("symbols/live", "BTCUSDT,not a symbol!,ethusdt")
    loaded = settings_store.load()
    assert loaded.snapshot_depth == 20
    assert loaded.symbols == ("BTCUSDT", "ETHUSDT")


def test_an_unknown_log_level_is_a_usage_error_not_a_traceback(capsys):
    with pytest.raises(SystemExit) as info:
        parse_args(["--log-level", "LOUD"])
    assert info.value.code == 2
    assert "invalid choice: 'LOUD'" in capsys.readouterr().err
    assert parse_args(["--log-level", "debug"]).log_level == "DEBUG"


def test_retention_settings_round_trip_and_read_as_a_policy(settings_store):
    from gui.config import retention_policy

    settings_store.save_preferences(SavedSettings(retention_days=30, retention_per_symbol="BTCUSDT=90, ETHUSDT=keep"))
    loaded = settings_store.load()
    assert (loaded.retention_days, loaded.retention_per_symbol) == (30, "BTCUSDT=90, ETHUSDT=keep")
    policy = retention_policy(loaded.retention_days, loaded.retention_per_symbol)
    assert policy.days == 30 and dict(policy.per_symbol) == {"BTCUSDT": 90, "ETHUSDT": None}
    assert not retention_policy(0, "").enabled  # 0 days: keep everything
    with pytest.raises(ConfigError, match="Per-symbol retention takes SYMBOL=DAYS pairs"):
        retention_policy(0, "BTCUSDT=soon")


def test_futures_overrides_are_kept_by_their_stored_names():
    from gui.config import retention_policy

    policy = retention_policy(7, "BTCUSDT=90, usdm/ETHUSDT=keep, USDM/solusdt=3")
    assert dict(policy.per_symbol) == {"BTCUSDT": 90, "usdm/ETHUSDT": None, "usdm/SOLUSDT": 3}
    assert policy.days_for("usdm/ETHUSDT") is None and policy.days_for("ETHUSDT") == 7  # spot's ETHUSDT: the default
    with pytest.raises(ConfigError, match="unknown market in 'coinm/BTCUSD=3'"):
        retention_policy(0, "coinm/BTCUSD=3")


def settings_dialog(qtbot, saved: SavedSettings, **kw):
    from gui.dialogs import SettingsDialog

    dialog = SettingsDialog(saved, **kw)
    qtbot.addWidget(dialog)
    return dialog


def saved_values(qtbot, dialog) -> SavedSettings:
    with qtbot.waitSignal(dialog.saved) as saved:
        dialog._on_save()
    return saved.args[0]


def test_old_saved_text_loads_into_the_retention_table_and_saves_unchanged(qtbot):
    dialog = settings_dialog(qtbot, SavedSettings(retention_days=7, retention_per_symbol=" DOGEUSDT=2 ,ETHUSDT=keep"))
    editor = dialog.retention
    rows = [(editor.table.item(r, 0).text(), editor.keep_box_of(editor.stored_name(r) if r else None).text())
            for r in range(editor.table.rowCount())]  # fmt: skip
    assert rows == [("All other symbols", "7 days"), ("DOGEUSDT", "2 days"), ("ETHUSDT", "for ever")]
    assert editor.table.isColumnHidden(1)  # spot only: no market column
    values = saved_values(qtbot, dialog)
    assert (values.retention_days, values.retention_per_symbol) == (7, "DOGEUSDT=2, ETHUSDT=keep")


def test_a_saved_pair_that_does_not_read_is_said_and_the_rest_loads(qtbot):
    dialog = settings_dialog(qtbot, SavedSettings(retention_per_symbol="DOGEUSDT=soon, ETHUSDT=3"))
    assert "'DOGEUSDT=soon' does not read" in dialog.error.text() and dialog.error.isVisibleTo(dialog)
    assert dialog.retention.overrides() == {"ETHUSDT": 3}


def test_symbols_are_added_removed_and_checked_as_they_are_typed(qtbot):
    from core.market.markets import USDM

    dialog = settings_dialog(qtbot, SavedSettings(), market=USDM)
    editor = dialog.retention
    editor.new_symbol.setEditText("BTC/USDT")
    editor.add_button.click()
    assert dialog.error.text().startswith("'BTC/USDT' is not a symbol") and dialog.error.isVisibleTo(dialog)
    assert editor.overrides() == {}
    editor.new_symbol.setEditText("btcusdt")  # the app's market: futures
    editor.add_button.click()
    assert not dialog.error.isVisibleTo(dialog)
    assert editor.overrides() == {"usdm/BTCUSDT": 30}  # a new row: 30 days while the others are kept for ever
    assert not editor.table.isColumnHidden(1) and editor.table.item(1, 1).text() == "USD-M futures"
    editor.new_symbol.setEditText("usdm/BTCUSDT")
    editor.add_button.click()
    assert dialog.error.text() == "BTCUSDT already has a row: change its days there."
    editor.new_symbol.setEditText("ETHUSDT")
    editor.new_symbol.lineEdit().returnPressed.emit()  # Enter adds too
    editor.keep_box_of("usdm/ETHUSDT").setValue(0)
    editor.table.selectRow(1)
    editor.remove_button.click()
    editor.table.selectRow(0)
    assert not editor.remove_button.isEnabled()  # the row of every other symbol stays
    assert saved_values(qtbot, dialog).retention_per_symbol == "usdm/ETHUSDT=keep"


def test_disk_use_shows_per_row_and_the_stored_symbols_are_offered(qtbot, tmp_path):
    from core.storage.store import SnapshotStorage
    from core.storage.usage import bytes_per_symbol

    storage = SnapshotStorage(tmp_path / "db")
    try:
        for ts in range(1_700_000_000, 1_700_000_050):
            storage.put("BTCUSDT", ts, b"b" * 300)
            storage.put("ETHUSDT", ts, b"e" * 100)
        usage = bytes_per_symbol(storage)
    finally:
        storage.close()
    dialog = settings_dialog(qtbot, SavedSettings(retention_per_symbol="BTCUSDT=3,SOLUSDT=keep"))
    editor = dialog.retention
    assert editor.table.item(1, 2).text() == "…"  # not read yet
    dialog.show_usage(usage)
    from gui.formatting import fmt_bytes

    assert editor.table.item(1, 2).text() == fmt_bytes(usage["BTCUSDT"])
    assert editor.table.item(2, 2).text() == "nothing stored"
    assert editor.table.item(0, 2).text() == f"{fmt_bytes(usage['ETHUSDT'])} (1)"
    assert [editor.new_symbol.itemData(i) for i in range(editor.new_symbol.count())] == ["ETHUSDT"]
    editor.new_symbol.setCurrentIndex(0)
    editor.add_button.click()
    assert editor.overrides() == {"BTCUSDT": 3, "SOLUSDT": None, "ETHUSDT": 30}
    assert editor.table.item(0, 2).text() == "—" and editor.new_symbol.count() == 0
