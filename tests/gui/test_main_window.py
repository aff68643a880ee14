"""The main window and dialogs, without services: what they show and what they ask for."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

from gui.config import SavedSettings
from gui.dialogs import READ_ONLY_OFFER, AboutDialog, SettingsDialog, collect_versions, read_only_offer
from gui.main_window import MainWindow, find_button
from gui.models.ladder import LadderModel
from gui.models.symbols import SymbolTableModel
from gui.theme import RESOURCES, colors, style_sheet
from gui.values import ConnectionView, StorageView


def make_window(qtbot, dark, demo=False) -> MainWindow:
    window = MainWindow(SymbolTableModel(), LadderModel(), dark, demo=demo)
    qtbot.addWidget(window)
    return window


def test_demo_mode_says_the_market_is_simulated(qtbot, dark):
    window = make_window(qtbot, dark, demo=True)
    window.show()
    assert "SIMULATED" in window.windowTitle()
    assert window.demo_banner.isVisible()
    assert "simulator" in window.demo_banner.text()
    plain = make_window(qtbot, dark)
    plain.show()
    assert not plain.demo_banner.isVisible()
    assert plain.windowTitle() == "Depthbook"


def test_close_asks_the_app_first(qtbot, dark):
    window = make_window(qtbot, dark)
    window.show()
    with qtbot.waitSignal(window.close_requested):
        window.close()
    assert window.isVisible()  # still up: the app shuts down, then calls finish_close()
    window.finish_close()
    assert not window.isVisible()


def test_status_bar_shows_connection_database_and_write_errors(qtbot, dark):
    window = make_window(qtbot, dark)
    window.set_connection(ConnectionView(True, "simulator", "ws://127.0.0.1:1234"))
    assert (
        "Connected" in window.connection_label.text()
        and "ws://127.0.0.1:1234" in window.connection_label.text()
    )
    window.set_connection(ConnectionView(False, "binance", "wss://x"))
    assert "Idle" in window.connection_label.text() and "no symbol" in window.connection_label.text()
    window.set_connection(ConnectionView(False, "binance", "wss://x", streams=2))
    assert "Connecting" in window.connection_label.text()
    window.set_connection(ConnectionView(False, "binance", "wss://x", "Cannot reach wss://x."))
    assert "Cannot reach" in window.connection_label.text()
    window.set_storage(StorageView("/data/db", "writer", 3 * 1024 * 1024, 2, "disk full"))
    assert "/data/db" in window.storage_label.text() and "3.0 MB" in window.storage_label.text()
    assert "Write errors: 2" in window.errors_label.text()
    assert window.record_action.isEnabled()
    window.set_storage(StorageView("/data/db", "read_only", 1024))
    assert "read-only" in window.storage_label.text()
    assert not window.record_action.isEnabled()
    window.set_storage(StorageView("/data/db", "none", problem="The database at /data/db is in use."))
    assert "in use" in window.storage_label.text()


def test_long_status_texts_end_in_an_ellipsis_and_never_widen_the_window(qtbot, dark):
    window = make_window(qtbot, dark)
    window.resize(1200, 700)
    window.show()
    qtbot.waitExposed(window)
    narrowest = window.minimumSizeHint().width()
    error = "Cannot reach wss://stream.binance.com:9443: " + "the name did not resolve, " * 12 + "end."
    deep = "/srv/" + "/".join(f"folder{i:02d}" for i in range(40)) + "/depthbook.db"
    window.set_connection(ConnectionView(False, "binance", "wss://x", error))
    window.set_storage(StorageView(deep, "writer", 3 * 1024 * 1024))
    window.statusBar().layout().activate()  # the status bar lays its widgets out anew now, not at the next event
    assert window.minimumSizeHint().width() == narrowest and window.width() == 1200
    shown, path_shown = window.connection_label.shown_text(), window.storage_label.shown_text()
    assert shown.startswith("Disconnected · binance · Cannot reach") and shown.endswith("…")
    assert "…" in path_shown and path_shown.endswith("3.0 MB") and path_shown.startswith("DB: /srv/folder00")
    assert error in window.connection_label.toolTip() and window.storage_label.toolTip() == deep
    window.set_storage(StorageView("/data/db", "writer", 1024))
    window.statusBar().layout().activate()
    assert window.storage_label.shown_text() == window.storage_label.text()  # a short text stays whole


def test_errors_and_offers_are_banners(qtbot, dark):
    window = make_window(qtbot, dark)
    window.show()
    window.show_error("Something went wrong: boom.")
    assert window.error_banner.isVisible()
    window.error_banner.button.click()
    assert not window.error_banner.isVisible()
    window.show_read_only_offer("The database at /x is in use by another Depthbook process.")
    with qtbot.waitSignal(window.read_only_requested):
        window.offer_banner.button.click()


def test_layout_round_trip(qtbot, dark):
    window = make_window(qtbot, dark)
    window.show()
    window.splitter.setSizes([400, 900])
    saved = window.layout_state()
    other = make_window(qtbot, dark)
    other.show()
    other.restore_layout(saved)
    assert abs(other.splitter.sizes()[0] - window.splitter.sizes()[0]) <= 16  # frame margins may differ


def test_theme_switch_updates_checked_action(qtbot, dark):
    window = make_window(qtbot, dark)
    with qtbot.waitSignal(window.theme_requested) as blocker:
        window.theme_actions["light"].trigger()
    assert blocker.args == ["light"]
    window.set_colors(colors("light"))
    assert window.theme_actions["light"].isChecked()


def test_themes_and_icons_exist():
    for name in ("dark", "light"):
        sheet = style_sheet(name)
        assert "QTableView" in sheet and "demoBanner" in sheet
    for icon in ("depthbook", "add", "remove", "record", "open", "settings", "theme", "about", "quit"):
        assert (RESOURCES / "icons" / f"{icon}.svg").exists()


def test_settings_dialog_saves_and_rejects_bad_urls(qtbot):
    dialog = SettingsDialog(SavedSettings(symbols=("BTCUSDT",)))
    qtbot.addWidget(dialog)
    dialog.preset.setCurrentIndex(dialog.preset.findData("custom"))
    assert dialog.ws_url.isEnabled()
    dialog.ws_url.setText("http://not-a-websocket")
    dialog.rest_url.setText("http://127.0.0.1:8765")
    with qtbot.assertNotEmitted(dialog.saved):
        dialog._on_save()
    assert "WebSocket URL" in dialog.error.text()
    dialog.ws_url.setText("ws://127.0.0.1:8765")
    dialog.interval.setValue(5)
    dialog.snapshot_limit.setCurrentIndex(dialog.snapshot_limit.findData(500))
    with qtbot.waitSignal(dialog.saved) as blocker:
        dialog._on_save()
    saved = blocker.args[0]
    assert (saved.preset, saved.ws_url, saved.snapshot_interval, saved.snapshot_limit) == (
        "custom", "ws://127.0.0.1:8765", 5, 500,
    )  # fmt: skip
    assert saved.symbols == ("BTCUSDT",)  # the dialog does not touch the symbol list
    dialog.preset.setCurrentIndex(dialog.preset.findData("binance-us"))
    assert not dialog.ws_url.isEnabled() and "binance.us" in dialog.ws_url.text()


def test_about_lists_versions(qtbot):
    versions = collect_versions()
    for name in ("Depthbook", "Python", "Qt", "PySide6", "pyqtgraph", "RocksDB binding (rocksdict)"):
        assert versions[name]
    dialog = AboutDialog()
    qtbot.addWidget(dialog)
    assert dialog.versions == versions


def test_read_only_offer_is_findable_and_non_blocking(qtbot, dark):
    window = make_window(qtbot, dark)
    window.show()
    box = read_only_offer(window, "The database at /x is in use by another Depthbook process.")
    box.open()  # returns at once
    found = window.findChild(QMessageBox, READ_ONLY_OFFER)
    assert found is box and box.isVisible()
    button = find_button(box, "Open read-only")
    assert box.buttonRole(button) == QMessageBox.ButtonRole.AcceptRole
    button.click()
    assert not box.isVisible()
