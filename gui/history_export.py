"""File → Export…: the snapshots of a symbol and range written as `depthbook export` writes them (the same
columns and rows: core.cli.export's `export_columns` and `export_row`), with progress and cancel.

Blocking: the app runs `export_range` in an executor; `progress(done, total)` is called from that thread (the
app hands it to the loop with `call_soon_threadsafe`), and setting `cancel` stops it between chunks, removing
the partial file.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Callable
from pathlib import Path

from core.cli.export import export_columns, export_row
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
    try:
        if fmt == "parquet":
            written = _parquet(rows, out, total, progress, cancel)
        elif fmt == "csv":
            written = _csv(rows, out, total, progress, cancel)
        else:
            raise ExportError(f"Unknown export format {fmt!r}: choose CSV or Parquet.")
    except ExportCancelled:
        out.unlink(missing_ok=True)
        raise
    except OSError as exc:
        out.unlink(missing_ok=True)
        raise ExportError(f"Could not write {out}: {exc.strerror or exc}.") from None
    except SnapshotDecodeError as exc:
        out.unlink(missing_ok=True)
        raise ExportError(f"The export stopped at a damaged snapshot: {exc}.") from None
    return written


def _tick(n: int, total: int, progress, cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise ExportCancelled()
    if progress is not None:
        progress(n, total)


def _csv(rows, out: Path, total: int, progress, cancel) -> int:
    n = 0
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(export_columns())
        for row in rows:
            writer.writerow(row)
            n += 1
            if n % CHUNK == 0:
                _tick(n, total, progress, cancel)
    _tick(n, total, progress, None)
    return n


def _parquet(rows, out: Path, total: int, progress, cancel) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("Parquet export needs pyarrow: pip install 'depthbook[parquet]'.") from None
    columns = export_columns()
    n = 0
    writer = None
    try:
        data: list[list] = [[] for _ in columns]
        for row in rows:
            for i, value in enumerate(row):
                data[i].append(value)
            n += 1
            if n % CHUNK == 0:
                writer = _write_group(pa, pq, writer, columns, data, out)
                data = [[] for _ in columns]
                _tick(n, total, progress, cancel)
        if data[0] or writer is None:
            writer = _write_group(pa, pq, writer, columns, data, out)
    finally:
        if writer is not None:
            writer.close()
    _tick(n, total, progress, None)
    return n


def _write_group(pa, pq, writer, columns, data, out: Path):
    table = pa.table({name: data[i] for i, name in enumerate(columns)})
    if writer is None:
        writer = pq.ParquetWriter(out, table.schema, compression="zstd")
    else:
        table = table.cast(writer.schema)
    writer.write_table(table)
    return writer
