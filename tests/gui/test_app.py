"""The real wiring on the qasync loop, against the in-process exchange simulator.

DepthbookApp is built exactly as run_app builds it (demo mode: the services start the simulator),
with a temporary database and settings file; the test drives the window like a user would.
"""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox

from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from gui.app import parse_args
from gui.config import build_config
from gui.dialogs import CONFIRM_RECORD_ALL, CONFIRM_REMOVE, READ_ONLY_OFFER, SettingsDialog, ShortcutsDialog
from gui.main_window import find_button
from gui.models.symbols import Column
from gui.values import DisplayState
from tests.gui.app_helpers import add_through_the_panel, demo_config, row_of, running
from tests.waiting import wait_until


@pytest.mark.asyncio
async def test_add_record_stop_and_unknown_symbol(qtbot, tmp_path, settings_store):
    async with running(demo_config(tmp_path), settings_store) as app:
        window = app.window
        assert "SIMULATED" in window.windowTitle() and window.demo_banner.isVisible()

        # Add a symbol -> it goes live, in the table and in the live view.
        add_through_the_panel(qtbot, app, "btcusdt")
        await wait_until(lambda: row_of(app, "BTCUSDT") is not None, what="the BTCUSDT row")
        await wait_until(lambda: row_of(app, "BTCUSDT").state is DisplayState.LIVE, what="BTCUSDT live")
        assert window.symbols_panel.selected_symbol() == "BTCUSDT"
        assert not window.symbols_panel.message.isVisible()
        await wait_until(lambda: app.ladder_model.rowCount() == 40, what="a full ladder")
        assert window.live_view.header.title.text() == "BTCUSDT · spot"
        assert window.live_view.header.metrics["Spread"].value.text() != "—"
        await wait_until(lambda: "Connected" in window.connection_label.text(), what="connected")

        # Record on (the switch, as a click would) -> the count grows in the table and in RocksDB.
        assert window.symbols_panel.toggle_recording_of_selected()
        await wait_until(lambda: (row_of(app, "BTCUSDT").stored or 0) >= 2, timeout=8, what="2 snapshots")
        storage = app.services.storage
        assert storage.count("BTCUSDT") >= row_of(app, "BTCUSDT").stored >= 2
        assert row_of(app, "BTCUSDT").last_write is not None
        assert row_of(app, "BTCUSDT").completeness is not None
        # The table counts the seconds missed from the first snapshot on, as History and `stats` do: the book's
        # first sync after the switch is the start of the recording (the details panel says how long it took).
        status = app.services.recorder.status("BTCUSDT")
        row = next(r for r in app.bridge.build_rows(time.monotonic()) if r.symbol == "BTCUSDT")
        assert row.gaps == status.gaps and row.completeness == status.stored / (status.stored + status.gaps)

        # Record off -> it stops growing (the tick already in flight may still land).
        assert window.symbols_panel.toggle_recording_of_selected()
        recorder = app.services.recorder
        ticks = recorder.ticks
        await wait_until(lambda: recorder.ticks >= ticks + 1, timeout=5, what="one more tick")
        stopped_at = storage.count("BTCUSDT")
        await wait_until(lambda: recorder.ticks >= ticks + 3, timeout=8, what="two more ticks")
        assert storage.count("BTCUSDT") == stopped_at
        await wait_until(lambda: row_of(app, "BTCUSDT").stored == stopped_at, what="the table to agree")
        assert not row_of(app, "BTCUSDT").recording

        # The history tab opens on what was just recorded, with the recorded ladder at its last second.
        history = window.history_panel
        window.tabs.setCurrentWidget(history)
        await wait_until(lambda: history.data is not None, what="the recorded range")
        assert history.data.symbol == "BTCUSDT" and history.data.stored == stopped_at
        await wait_until(lambda: history.ladder_model.rowCount() == 40, what="the recorded ladder")
        assert history.second == history.span.last
        window.tabs.setCurrentWidget(window.live_view)

        # An unknown symbol -> one sentence under the input, no new row, nothing else disturbed.
        add_through_the_panel(qtbot, app, "NOPEUSDT")
        panel = window.symbols_panel
        await wait_until(lambda: panel.message.property("kind") == "error", what="the inline error")
        assert "NOPEUSDT" in panel.message.text() and panel.message.isVisible()
        assert window.findChild(QMessageBox) is None
        assert app.symbol_model.symbols == ["BTCUSDT"]
        assert row_of(app, "BTCUSDT").state is DisplayState.LIVE

        # Remove -> the row goes.
        panel.select("BTCUSDT")
        panel.remove_selected()
        await wait_until(lambda: app.symbol_model.rowCount() == 0, what="the row to go")
        assert app.services.manager.symbols == []

        # The symbol list and the record switches are remembered (demo keeps its own list).
        add_through_the_panel(qtbot, app, "ETHUSDT")
        await wait_until(lambda: row_of(app, "ETHUSDT") is not None, what="the ETHUSDT row")
        panel.select("ETHUSDT")
        assert panel.toggle_recording_of_selected()
    assert not window.isVisible()
    restored = build_config(parse_args(["--demo"]), settings_store.load())
    assert restored.symbols == ("ETHUSDT",)
    assert restored.recording == frozenset({"ETHUSDT"})

    # Closed cleanly: the lock is free and what the table said is on disk.
    with SnapshotStorage.open(tmp_path / "db", "read_only") as reader:
        assert reader.count("BTCUSDT") == stopped_at
        sessions = reader.sessions()
        assert sessions and all(s.end is not None for s in sessions)


@pytest.mark.asyncio
async def test_record_flag_records_from_launch(tmp_path, settings_store):
    config = demo_config(tmp_path, symbols=("ETHUSDT",), recording=frozenset({"ETHUSDT"}))
    async with running(config, settings_store) as app:
        await wait_until(lambda: row_of(app, "ETHUSDT") is not None, what="the ETHUSDT row")
        await wait_until(lambda: (row_of(app, "ETHUSDT").stored or 0) >= 1, timeout=8, what="a snapshot")
        assert row_of(app, "ETHUSDT").recording
        index = app.symbol_model.index(0, Column.RECORD)
        assert index.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked


@pytest.mark.asyncio
async def test_removing_a_recording_symbol_asks_first(tmp_path, settings_store):
    config = demo_config(tmp_path, symbols=("ETHUSDT",), recording=frozenset({"ETHUSDT"}))
    async with running(config, settings_store) as app:
        await wait_until(lambda: app.services.is_recording("ETHUSDT"), what="ETHUSDT recording")
        panel = app.window.symbols_panel
        panel.select("ETHUSDT")

        def answer(choice: str) -> None:
            [box] = [b for b in app.window.findChildren(QMessageBox, CONFIRM_REMOVE) if b.isVisible()]
            assert "ETHUSDT · spot is being recorded" in box.text()
            next(b for b in box.buttons() if b.text() == choice).click()

        panel.remove_selected()
        answer("Keep")
        assert app.services.is_recording("ETHUSDT") and "ETHUSDT" in app.services.symbols
        panel.remove_selected()
        answer("Remove")
        await wait_until(lambda: app.symbol_model.rowCount() == 0, what="the row to go")
        assert not app.services.is_recording("ETHUSDT")


@pytest.mark.asyncio
async def test_record_all_shown_asks_then_records_only_what_the_filter_shows(qtbot, tmp_path, settings_store):
    config = demo_config(tmp_path, symbols=("BTCUSDT", "ETHUSDT"))
    async with running(config, settings_store) as app:
        await wait_until(lambda: app.symbol_model.rowCount() == 2, what="both rows")
        panel = app.window.symbols_panel
        qtbot.keyClicks(panel.filter, "eth")

        def answer(choice: str) -> None:
            [box] = [b for b in app.window.findChildren(QMessageBox, CONFIRM_RECORD_ALL) if b.isVisible()]
            assert "Record 1 symbol (ETHUSDT · spot)?" in box.text() and "GB a day" in box.informativeText()
            next(b for b in box.buttons() if b.text() == choice).click()

        panel.record_all_button.click()
        answer("Cancel")
        assert not app.services.wants_recording("ETHUSDT")
        panel.record_all_button.click()
        answer("Record 1")
        assert app.services.wants_recording("ETHUSDT") and not app.services.wants_recording("BTCUSDT")
        await wait_until(lambda: app.services.storage.count("ETHUSDT") >= 1, timeout=8, what="ETHUSDT stored")
        await wait_until(lambda: row_of(app, "ETHUSDT").recording, what="the switch on")
        assert app.services.storage.count("BTCUSDT") == 0


@pytest.mark.asyncio
async def test_settings_show_the_running_values_and_apply_without_a_restart(tmp_path, settings_store):
    config = demo_config(
        tmp_path, symbols=("BTCUSDT",), recording=frozenset({"BTCUSDT"}), snapshot_interval=1
    )
    async with running(config, settings_store) as app:
        storage, recorder = app.services.storage, app.services.recorder
        await wait_until(lambda: storage.count("BTCUSDT") >= 1, timeout=8, what="a first snapshot")
        app._on_settings()
        [dialog] = [d for d in app.window.findChildren(SettingsDialog) if d.isVisible()]
        assert dialog.interval.value() == 1 and dialog.db_path.text() == str(tmp_path / "db")  # as it runs
        dialog.interval.setValue(2)
        dialog.depth.setValue(5)
        # The retention table: BTCUSDT's disk use arrives, a row for it is added and kept for ever, 30 days for the rest.
        table = dialog.retention.table
        await wait_until(
            lambda: "B" in table.item(0, 2).text(), what="the other symbols' disk use"
        )  # "12.3 KB (1)"
        dialog.retention.keep_box_of(None).setValue(30)
        dialog.retention.new_symbol.setEditText("btcusdt")
        dialog.retention.add_button.click()
        dialog.retention.keep_box_of("BTCUSDT").setValue(0)  # "for ever"
        assert table.item(1, 0).text() == "BTCUSDT" and table.item(1, 2).text().endswith("B")
        dialog._on_save()
        status = app.window.statusBar()
        await wait_until(
            lambda: "recording settings apply now" in status.currentMessage(), what="the settings applied"
        )
        assert recorder.interval == 2 and recorder.depth == 5
        assert app.services.recorder is recorder  # the same recorder: no restart
        assert storage.options.retention.days == 30 and storage.options.retention.per_symbol == {
            "BTCUSDT": None
        }
        after = storage.count("BTCUSDT")
        await wait_until(lambda: storage.count("BTCUSDT") >= after + 2, timeout=10, what="two more snapshots")
        last = storage.first_last("BTCUSDT")[1]
        newest = OrderBookSnapshot.from_bytes("BTCUSDT", storage.get("BTCUSDT", last))
        assert last % 2 == 0 and len(newest.bids) <= 5 and len(newest.asks) <= 5  # every 2 s, 5 levels
    loaded = settings_store.load()
    assert (loaded.snapshot_interval, loaded.snapshot_depth, loaded.retention_days) == (2, 5, 30)


@pytest.mark.asyncio
async def test_help_lists_the_shortcuts_and_points_to_the_docs(tmp_path, settings_store):
    async with running(demo_config(tmp_path), settings_store) as app:
        app.window.shortcuts_action.trigger()
        dialog = app.window.findChild(ShortcutsDialog)
        assert dialog is not None and dialog.isVisible()
        texts = [label.text() for label in dialog.findChildren(QLabel)]
        assert any("Ctrl+R" in t for t in texts) and any("recording" in t for t in texts)
        assert "README.md" in dialog.findChild(QLabel, "docsLink").text()
        dialog.close()


@pytest.mark.asyncio
async def test_locked_database_offers_read_only(tmp_path, settings_store):
    holder = SnapshotStorage.open(tmp_path / "db", "writer")  # "another process" holds the lock
    try:
        config = demo_config(tmp_path, symbols=("BTCUSDT",), recording=frozenset({"BTCUSDT"}))
        async with running(config, settings_store) as app:
            window = app.window
            offer = window.findChild(QMessageBox, READ_ONLY_OFFER)
            assert offer is not None and offer.isVisible()
            assert "in use by another Depthbook process" in offer.text()
            assert window.offer_banner.isVisible()
            assert "DB: none" in window.storage_label.text()

            # Live books still work while the offer is up.
            await wait_until(lambda: row_of(app, "BTCUSDT") is not None, what="the BTCUSDT row")
            await wait_until(lambda: row_of(app, "BTCUSDT").state is DisplayState.LIVE, what="BTCUSDT live")

            find_button(offer, "Open read-only").click()
            await wait_until(lambda: app.services.storage_mode == "read_only", what="read-only mode")
            await wait_until(lambda: "read-only" in window.storage_label.text(), what="the status bar")
            await wait_until(lambda: not window.offer_banner.isVisible(), what="the offer withdrawn")
            await wait_until(lambda: row_of(app, "BTCUSDT").can_record is False, what="switches disabled")
            assert row_of(app, "BTCUSDT").stored == 0  # browsing works: counts come from the database
            # Recording stays off: the switch cannot be flipped.
            window.symbols_panel.select("BTCUSDT")
            assert not window.symbols_panel.toggle_recording_of_selected()
            assert app.services.recorder is None
        # The wish to record BTCUSDT survives for the next run, when the database may be free.
        assert settings_store.load().demo_recording == frozenset({"BTCUSDT"})
    finally:
        holder.close()


@pytest.mark.asyncio
async def test_unexpected_errors_are_logged_and_shown_not_fatal(tmp_path, settings_store, caplog):
    async with running(demo_config(tmp_path), settings_store) as app:

        async def broken() -> None:
            raise RuntimeError("boom")

        app._spawn(broken())
        await wait_until(lambda: app.window.error_banner.isVisible(), what="the error banner")
        assert "boom" in app.window.error_banner.text()
        assert "Traceback" not in app.window.error_banner.text()
        assert any(r.exc_info and str(r.exc_info[1]) == "boom" for r in caplog.records)  # with its traceback
        # The app keeps working.
        assert (await app.add_symbol("ETHUSDT")) == "ETHUSDT"
