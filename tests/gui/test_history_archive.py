"""File → Open archive…: the History tab on an archive shows what it shows on the database it came from
(library, span, charts and heatmap of a view, the recorded ladder at a second), and a URL that is not an
archive is one sentence."""

from __future__ import annotations

from dataclasses import astuple, fields

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from core.archive.archiver import ArchiveOptions, Archiver
from core.archive.location import open_location
from core.storage.store import SnapshotStorage
from gui.archive_open import ArchiveDialog
from gui.widgets.history.time_axis import local_and_utc
from tests.core.analysis.recordings import START
from tests.gui.app_helpers import SPAN, open_history, recorded, running
from tests.gui.app_helpers import history_config as config
from tests.waiting import wait_until


def archived(db, target) -> str:
    with SnapshotStorage.open(db, mode="read_only") as storage:
        Archiver(storage, open_location(str(target)), ArchiveOptions(now=lambda: START + 30 * 86_400)).run()
    return str(target)


async def what_it_shows(app, second: int) -> dict:
    """The History tab's library, span, a zoomed view and the recorded ladder at `second`, as plain values."""
    panel = await open_history(app)
    panel.charts.set_x_range(START + 500, START + 1699)
    panel.request_view_now()
    await wait_until(lambda: panel.data.start == START + 500, what="the zoomed view")
    panel.select_second(second)
    pane = panel.cursor_pane
    await wait_until(lambda: local_and_utc(second) in pane.title.text(), what="the ladder at that second")
    await wait_until(lambda: panel.ladder_model.rowCount() == 40, what="the ladder")
    model = panel.ladder_model
    ladder = [
        [model.index(r, c).data(Qt.ItemDataRole.DisplayRole) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]
    data = panel.data
    arrays = {f.name: getattr(data, f.name) for f in fields(data) if isinstance(getattr(data, f.name), np.ndarray)}
    plain = {f.name: getattr(data, f.name) for f in fields(data) if f.name not in arrays and f.name not in ("query_ms", "request")}
    span = {f.name: getattr(panel.span, f.name) for f in fields(panel.span)}
    return {
        "library": [astuple(row)[:6] for row in panel.library.rows],  # symbol … completeness (not bytes, live)
        "span": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in span.items()},
        "view": plain,
        "arrays": arrays,
        "cursor": (pane.title.text(), pane.metrics.text(), pane.flow.text(), ladder),
    }


@pytest.mark.asyncio
async def test_the_history_tab_shows_the_same_on_the_archive_as_on_the_database(tmp_path, settings_store):
    db = recorded(tmp_path / "db")
    url = archived(db, tmp_path / "archive")
    second = START + 1500
    async with running(config(tmp_path, db), settings_store) as app:
        on_db = await what_it_shows(app, second)
        assert await app.archive.open(url)
        assert app.window.history_panel.symbol is None  # started again from the archive's library
        on_archive = await what_it_shows(app, second)
    assert [row[0] for row in on_db["library"]] == ["BTCUSDT", "SOLUSDT"]
    assert on_archive["library"] == on_db["library"]
    assert on_archive["span"] == on_db["span"] and on_db["span"]["stored"] == SPAN - 90
    assert on_archive["view"] == on_db["view"]
    assert on_archive["arrays"].keys() == on_db["arrays"].keys()
    for name, values in on_db["arrays"].items():
        np.testing.assert_allclose(on_archive["arrays"][name], values, rtol=1e-12, err_msg=name)
    assert on_archive["cursor"] == on_db["cursor"] and "update id" in on_db["cursor"][0]


@pytest.mark.asyncio
async def test_an_archive_that_cannot_be_opened_is_one_sentence(tmp_path, settings_store):
    db = recorded(tmp_path / "db")
    (tmp_path / "empty").mkdir()
    async with running(config(tmp_path, db), settings_store) as app:
        assert not await app.archive.open(str(tmp_path / "empty"))
        assert app.window.error_banner.isVisibleTo(app.window)
        assert app.archive.source is None
        assert not await app.archive.open("ftp://example.com/x")
        assert app.archive.source is None


@pytest.mark.asyncio
async def test_file_open_archive_asks_for_the_url_then_browses_it(tmp_path, settings_store):
    db = recorded(tmp_path / "db")
    url = archived(db, tmp_path / "archive")
    async with running(config(tmp_path, db), settings_store) as app:
        window = app.window
        assert window.open_archive_action in window.menuBar().actions()[0].menu().actions()  # the File menu
        window.open_archive_action.trigger()
        dialog = next(d for d in window.findChildren(ArchiveDialog) if d.isVisible())
        dialog.url_edit.setText(f"file://{url}")
        dialog.buttons.button(QDialogButtonBox.StandardButton.Open).click()
        await wait_until(lambda: app.archive.source is not None, what="the archive opened")
        panel = window.history_panel
        await wait_until(lambda: [r.symbol for r in panel.library.rows] == ["BTCUSDT", "SOLUSDT"], what="library")
        assert window.tabs.currentWidget() is panel and app.archive.source.path == f"file://{url}"
        await app.open_read_only(db)  # another database: the archive is put away
        assert app.archive.source is None
