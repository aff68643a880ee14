"""The History tab in the running app (qasync loop, queries in the executor): the library of a read-write and of
a read-only database, File → Export… writing the same rows as `depthbook export`, and "follow live" on a
database another process is writing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.core.analysis.recordings import START
from tests.gui.app_helpers import SPAN, history_config, open_history, recorded, running
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.asyncio
async def test_library_of_the_writer_and_export_writes_the_same_rows_as_the_command(tmp_path, settings_store):
    db = recorded(tmp_path / "db")
    async with running(history_config(tmp_path, db), settings_store) as app:
        panel = await open_history(app)
        assert [r.symbol for r in panel.library.rows] == ["BTCUSDT", "SOLUSDT"]  # neither is in the live list
        assert panel.span.stored == SPAN - 90 and panel.span.gap_records == 30

        panel.charts.set_x_range(START + 500, START + 1499)
        panel.request_view_now()
        await wait_until(lambda: panel.data.start == START + 500, what="the zoomed view")
        app._on_export_requested()
        dialog = app.export_dialog
        assert dialog is not None and dialog.isVisible()
        request = dialog.request()
        assert (request.symbol, request.start, request.end) == ("BTCUSDT", START + 500, START + 1499)
        out = tmp_path / "app.csv"
        dialog.path_edit.setText(str(out))
        dialog.export_button.click()
        await wait_until(
            lambda: not dialog.busy and "Exported" in dialog.note.text(), timeout=20, what="export"
        )
        assert "Exported 910 snapshots" in dialog.note.text()  # 1000 s less the hole and the gap
        assert dialog.progress.value() == dialog.progress.maximum()

        # The command, in another process, on the same database while the app holds its writer lock.
        cli_out = tmp_path / "cli.csv"
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "gui.entry", "export", "--db", str(db), "--symbol", "BTCUSDT",
             "--start", str(START + 500), "--end", str(START + 1499), "--out", str(cli_out)],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert out.read_bytes() == cli_out.read_bytes()

        # Parquet: the same rows again.
        pq = pytest.importorskip("pyarrow.parquet")
        dialog.format_box.setCurrentIndex(dialog.format_box.findData("parquet"))
        dialog.path_edit.setText(str(tmp_path / "app.parquet"))
        dialog.export_button.click()
        await wait_until(
            lambda: not dialog.busy and "Exported" in dialog.note.text(), timeout=20, what="parquet"
        )
        table = pq.read_table(tmp_path / "app.parquet")
        import csv

        with cli_out.open() as fh:
            rows = list(csv.reader(fh))
        assert table.column_names == rows[0] and table.num_rows == len(rows) - 1
        first = [str(v) for v in table.slice(0, 1).to_pylist()[0].values()]
        assert first == rows[1]


def drain(fd: int) -> bytes:
    """Everything written to the pipe until its writer closes it."""
    os.set_blocking(fd, True)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.asyncio
async def test_export_cancelled_while_it_runs_stops_and_leaves_no_file(tmp_path, settings_store, monkeypatch):
    import gui.history_export as export_module

    monkeypatch.setattr(export_module, "CHUNK", 10)  # a progress report (and a look at cancel) every 10 rows
    db = recorded(tmp_path / "db")
    async with running(history_config(tmp_path, db), settings_store) as app:
        panel = await open_history(app)
        panel.show_last(None)  # everything: 3,510 rows, 2.7 MB of CSV
        app._on_export_requested()
        dialog = app.export_dialog
        request = dialog.request()
        assert (request.start, request.end) == (panel.span.first, panel.span.last)
        # The file is a pipe the test does not read yet: once its buffer (64 KB) is full the export blocks
        # in a write, so it is still running, however fast the machine, until the test drains the pipe.
        out = tmp_path / "held.csv"
        os.mkfifo(out)
        reader = os.open(out, os.O_RDONLY | os.O_NONBLOCK)  # with a reader, the export's open() does not wait
        try:
            dialog.path_edit.setText(str(out))
            dialog.export_button.click()
            await wait_until(lambda: "Exporting…" in dialog.note.text(), what="a first progress report")
            assert dialog.busy and app._export_cancel is not None
            dialog.cancel_button.click()
            assert dialog.note.text() == "Cancelling…"
            # Drained, the export goes on to its next chunk of 10 rows, sees the cancel there and stops.
            written = await asyncio.to_thread(drain, reader)
        finally:
            os.close(reader)  # on a failure, a broken pipe ends the export
        await wait_until(lambda: not dialog.busy, what="the export to stop")
        assert dialog.note.text() == "Cancelled: nothing was written."
        assert dialog.cancel_button.text() == "Close"
        assert not out.exists()  # the partial file is removed
        assert 10 <= written.count(b"\n") - 1 < 3510  # it stopped part way: a header and some rows


WRITER = textwrap.dedent(
    """
    import sys
    from core.storage.store import SnapshotStorage
    from tests.core.analysis.recordings import START, write_recording
    with SnapshotStorage.open(sys.argv[1], mode="writer") as storage:
        print("ready", flush=True)
        sys.stdin.readline()
        write_recording(storage, "BTCUSDT", START + int(sys.argv[2]), 300)
        print("done", flush=True)
        sys.stdin.readline()
    """
)


@pytest.mark.asyncio
async def test_read_only_library_and_follow_live_on_a_database_another_process_writes(
    tmp_path, settings_store
):
    shared = recorded(tmp_path / "shared")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(shared), str(SPAN)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert (await asyncio.to_thread(writer.stdout.readline)).strip() == "ready"
        async with running(history_config(tmp_path, tmp_path / "own"), settings_store) as app:
            assert await app.open_read_only(shared)
            assert app.services.storage.mode == "read_only"
            panel = await open_history(app)
            assert [r.symbol for r in panel.library.rows] == ["BTCUSDT", "SOLUSDT"]
            assert panel.span.last == START + SPAN - 1

            panel.follow_box.setChecked(True)
            await wait_until(lambda: app._follower is not None, what="the secondary handle")
            writer.stdin.write("go\n")
            writer.stdin.flush()
            assert (await asyncio.to_thread(writer.stdout.readline)).strip() == "done"
            await wait_until(
                lambda: panel.span.last == START + SPAN + 299, timeout=10, what="the new seconds"
            )
            assert panel.span.stored == SPAN - 90 + 300
            await wait_until(lambda: panel.data.end >= START + SPAN + 298, what="the view at the live edge")
            panel.follow_box.setChecked(False)
            await wait_until(lambda: app._follower is None, what="the secondary closed")
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
