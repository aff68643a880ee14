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


def test_the_settings_dialog_edits_retention_and_refuses_overrides_that_do_not_read(qtbot):
    from gui.dialogs import SettingsDialog

    dialog = SettingsDialog(SavedSettings(retention_days=7))
    qtbot.addWidget(dialog)
    assert dialog.retention_days.value() == 7 and dialog.retention_days.specialValueText() == "forever"
    dialog.retention_per_symbol.setText("DOGEUSDT=two")
    with qtbot.assertNotEmitted(dialog.saved):
        dialog._on_save()
    assert "Per-symbol retention" in dialog.error.text()
    dialog.retention_per_symbol.setText(" DOGEUSDT=2 ,ETHUSDT=keep")
    with qtbot.waitSignal(dialog.saved) as saved:
        dialog._on_save()
    assert (saved.args[0].retention_days, saved.args[0].retention_per_symbol) == (7, "DOGEUSDT=2, ETHUSDT=keep")
