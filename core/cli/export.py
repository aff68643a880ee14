"""`depthbook export`: recorded snapshots as wide rows, CSV or Parquet. Read-only, safe while recording."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from core.cli.common import EXIT_OK, UserError, add_db, add_log_level, open_read_only, time_arg
from core.storage.snapshot import SNAPSHOT_DEPTH, OrderBookSnapshot, SnapshotDecodeError


def add_parser(sub) -> None:
    parser = sub.add_parser("export", help="export snapshots as wide rows (CSV or Parquet)")
    add_db(parser)
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--start", required=True, help="ISO 8601 or Unix seconds")
    parser.add_argument("--end", required=True, help="ISO 8601 or Unix seconds")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--out", type=Path, required=True)
    add_log_level(parser, "WARNING")


def export_columns(depth: int = SNAPSHOT_DEPTH) -> list[str]:
    """Wide columns in the style of Tardis' book_snapshot_20: asks then bids per level, level 0 the best."""
    cols = ["exchange", "symbol", "timestamp", "local_timestamp", "update_id"]
    for i in range(depth):
        cols += [f"asks[{i}].price", f"asks[{i}].amount", f"bids[{i}].price", f"bids[{i}].amount"]
    return cols


def export_row(snap: OrderBookSnapshot, depth: int = SNAPSHOT_DEPTH) -> list:
    micros = snap.timestamp * 1_000_000  # Tardis uses microseconds; ours are whole capture seconds
    row: list = ["binance", snap.symbol, micros, micros, snap.update_id]
    for i in range(depth):
        ask = snap.asks[i] if i < len(snap.asks) else ("", "")
        bid = snap.bids[i] if i < len(snap.bids) else ("", "")
        row += [ask[0], ask[1], bid[0], bid[1]]
    return row


def run(args) -> int:
    symbol = args.symbol.strip().upper()
    start, end = time_arg(args.start), time_arg(args.end)
    if end < start:
        raise UserError("--end is before --start")
    with open_read_only(args.db) as storage:
        expected = storage.count(symbol)
        if not expected:
            raise UserError(f"no snapshots of {symbol} in {storage.path}")
        rows = (
            export_row(OrderBookSnapshot.from_bytes(symbol, v)) for _, v in storage.range(symbol, start, end)
        )
        if args.format == "parquet":
            written = _write_parquet(rows, args.out)
        else:
            written = _write_csv(rows, args.out)
    print(f"exported {written} snapshots of {symbol} to {args.out}", file=sys.stderr)
    return EXIT_OK


def _progress(n: int) -> None:
    if n % 10_000 == 0:
        print(f"... {n} rows", file=sys.stderr, flush=True)


def _write_csv(rows, out: Path) -> int:
    n = 0
    try:
        with out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(export_columns())
            for row in rows:
                writer.writerow(row)
                n += 1
                _progress(n)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}") from None
    except SnapshotDecodeError as exc:
        raise UserError(str(exc)) from None
    return n


def _write_parquet(rows, out: Path) -> int:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("Parquet export needs pyarrow: pip install 'depthbook[parquet]'") from None
    columns = export_columns()
    data: list[list] = [[] for _ in columns]
    n = 0
    for row in rows:
        for i, value in enumerate(row):
            data[i].append(value)
        n += 1
        _progress(n)
    table = pa.table({name: data[i] for i, name in enumerate(columns)})
    try:
        pq.write_table(table, out, compression="zstd")
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc}") from None
    return n
