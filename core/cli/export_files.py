"""The export's rows and the files they go to: wide columns in the style of Tardis' book_snapshot_20, written as
CSV or Parquet. One writer for `depthbook export` and the app's File → Export…, so both write the same file.

The writers take any iterable of rows and call `on_chunk(rows so far)` after every `chunk` rows: the command
prints progress there, the app reports it and raises to cancel. Parquet is written a row group per chunk, so an
export of months never holds more than a chunk of rows in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path

from core.storage.keys import parse_storage_symbol
from core.storage.snapshot import SNAPSHOT_DEPTH, OrderBookSnapshot

TARDIS_EXCHANGES = {"spot": "binance", "usdm": "binance-futures"}  # Tardis' exchange ids
CHUNK = 10_000  # rows between two on_chunk calls, and in each Parquet row group


class ParquetUnavailable(Exception):
    """pyarrow is not installed; the message is a sentence for the user."""


def export_columns(depth: int = SNAPSHOT_DEPTH) -> list[str]:
    """Asks then bids per level, level 0 the best."""
    cols = ["exchange", "symbol", "timestamp", "local_timestamp", "update_id"]
    for i in range(depth):
        cols += [f"asks[{i}].price", f"asks[{i}].amount", f"bids[{i}].price", f"bids[{i}].amount"]
    return cols


def export_row(snap: OrderBookSnapshot, depth: int = SNAPSHOT_DEPTH) -> list:
    micros = snap.timestamp * 1_000_000  # Tardis uses microseconds; ours are whole capture seconds
    market, name = parse_storage_symbol(snap.symbol)  # usdm/BTCUSDT: Tardis' binance-futures, BTCUSDT
    row: list = [TARDIS_EXCHANGES[market.name], name, micros, micros, snap.update_id]
    for i in range(depth):
        ask = snap.asks[i] if i < len(snap.asks) else ("", "")
        bid = snap.bids[i] if i < len(snap.bids) else ("", "")
        row += [ask[0], ask[1], bid[0], bid[1]]
    return row


OnChunk = Callable[[int], None] | None


def write_csv(rows: Iterable[list], out: Path, on_chunk: OnChunk = None, chunk: int = CHUNK) -> int:
    """The header and every row; the rows written."""
    n = 0
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(export_columns())
        for row in rows:
            writer.writerow(row)
            n += 1
            if on_chunk is not None and n % chunk == 0:
                on_chunk(n)
    return n


def parquet_modules():
    """(pyarrow, pyarrow.parquet), or ParquetUnavailable: callers ask before reading anything."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ParquetUnavailable(
            "Parquet export needs pyarrow: pip install pyarrow (in a checkout: pip install -e '.[parquet]')."
        ) from None
    return pa, pq


def write_parquet(rows: Iterable[list], out: Path, on_chunk: OnChunk = None, chunk: int = CHUNK) -> int:
    """Every row, zstd-compressed, a row group per `chunk` rows (an empty export still has the columns)."""
    pa, pq = parquet_modules()
    columns = export_columns()
    n = 0
    writer = None
    try:
        data: list[list] = [[] for _ in columns]
        for row in rows:
            for i, value in enumerate(row):
                data[i].append(value)
            n += 1
            if n % chunk == 0:
                writer = _write_group(pa, pq, writer, columns, data, out)
                data = [[] for _ in columns]
                if on_chunk is not None:
                    on_chunk(n)
        if data[0] or writer is None:
            writer = _write_group(pa, pq, writer, columns, data, out)
    finally:
        if writer is not None:
            writer.close()
    return n


def _write_group(pa, pq, writer, columns: list[str], data: list[list], out: Path):
    table = pa.table({name: data[i] for i, name in enumerate(columns)})
    if writer is None:
        writer = pq.ParquetWriter(out, table.schema, compression="zstd")
    else:
        table = table.cast(writer.schema)  # one schema for the file: the first group's
    writer.write_table(table)
    return writer
