"""File → Export…: the snapshots of a symbol and range written as `depthbook export` writes them (the same
columns, rows and writers: core.cli.export_files), with progress and cancel.

Blocking: the app runs `export_range` in an executor; `progress(done, total)` is called from that thread (the
app hands it to the loop with `call_soon_threadsafe`), and setting `cancel` stops it between chunks, removing
the partial file.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from core.cli.export_files import ParquetUnavailable, export_row, write_csv, write_parquet
from core.storage.snapshot import OrderBookSnapshot, SnapshotDecodeError
from core.storage.store import SnapshotStorage

CHUNK = 5_000  # rows between progress reports (and Parquet row groups)


class ExportCancelled(Exception):
    pass


class ExportError(Exception):
    """A sentence for the user."""


def export_range(
    storage: SnapshotStorage,
    symbol: str,
    start: int,
    end: int,
    fmt: str,
    out: Path,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> int:
    """Write every snapshot of [start, end]; returns the rows written."""
    total = sum(1 for _ in storage.seconds(symbol, start, end))
    if not total:
        raise ExportError(f"No snapshot of {symbol} is stored in that range.")
    rows = (export_row(OrderBookSnapshot.from_bytes(symbol, v)) for _, v in storage.range(symbol, start, end))
    writers = {"csv": write_csv, "parquet": write_parquet}
    if fmt not in writers:
        raise ExportError(f"Unknown export format {fmt!r}: choose CSV or Parquet.")
    try:
        written = writers[fmt](rows, out, lambda n: _tick(n, total, progress, cancel), CHUNK)
    except ParquetUnavailable as exc:
        raise ExportError(str(exc)) from None
    except ExportCancelled:
        out.unlink(missing_ok=True)
        raise
    except OSError as exc:
        out.unlink(missing_ok=True)
        raise ExportError(f"Could not write {out}: {exc.strerror or exc}.") from None
    except SnapshotDecodeError as exc:
        out.unlink(missing_ok=True)
        raise ExportError(f"The export stopped at a damaged snapshot: {exc}.") from None
    _tick(written, total, progress, None)
    return written


def _tick(n: int, total: int, progress, cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelled()
    if progress is not None:
        progress(n, total)
