"""`depthbook export`: recorded snapshots as wide rows, CSV or Parquet, from a database or an archive. Read-only,
safe while recording."""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.cli.archive import add_source, open_source
from core.cli.common import (
    EXIT_OK,
    UserError,
    add_log_level,
    out_file,
    symbol,
    unix_time,
)
from core.storage.keys import parse_storage_symbol
from core.storage.snapshot import SNAPSHOT_DEPTH, OrderBookSnapshot
from core.timeparse import iso_utc


def add_parser(sub) -> None:
    parser = sub.add_parser("export", help="export snapshots as wide rows (CSV or Parquet)")
    add_source(parser)
    parser.add_argument("--symbol", required=True, type=symbol)
    parser.add_argument("--start", required=True, type=unix_time, help="ISO 8601 or Unix seconds")
    parser.add_argument("--end", required=True, type=unix_time, help="ISO 8601 or Unix seconds")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--out", type=out_file, required=True, help="file to write (written whole or not at all)"
    )
    add_log_level(parser, "WARNING")


TARDIS_EXCHANGES = {"spot": "binance", "usdm": "binance-futures"}  # Tardis' exchange ids


def export_columns(depth: int = SNAPSHOT_DEPTH) -> list[str]:
    """Wide columns in the style of Tardis' book_snapshot_20: asks then bids per level, level 0 the best."""
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


def run(args) -> int:
    symbol = args.symbol
    start, end = args.start, args.end
    if end < start:
        raise UserError("--end is before --start")
    if args.format == "parquet":
        _pyarrow()  # before any reading: say at once that it is missing
    with open_source(args) as storage:
        expected = storage.count(symbol)
        if not expected:
            raise UserError(f"no snapshots of {symbol} in {storage.path}")
        # Damaged snapshots are skipped, counted and named (storage.damage), never fail the export.
        rows = (export_row(snap) for snap in storage.iter_snapshots(symbol, start, end))
        write = _write_parquet if args.format == "parquet" else _write_csv
        written = _write_atomically(args.out, lambda path: write(rows, path))
        damaged = storage.damage.seconds(symbol)
    print(f"exported {written} snapshots of {symbol} to {args.out}", file=sys.stderr)
    if damaged:
        shown = ", ".join(iso_utc(ts) for ts in damaged[:3]) + (", …" if len(damaged) > 3 else "")
        print(f"depthbook: skipped {len(damaged)} damaged snapshots of {symbol} ({shown}).", file=sys.stderr)
    return EXIT_OK


def _progress(n: int) -> None:
    if n % 10_000 == 0:
        print(f"... {n} rows", file=sys.stderr, flush=True)


def _write_atomically(out: Path, write: Callable[[Path], int]) -> int:
    """write(temporary path) in the directory of `out`, then rename it to `out`: an export that fails or is
    interrupted leaves no partial file (and an earlier file at `out` as it was)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise UserError(f"cannot write in {out.parent}: {exc.strerror or exc}") from None
    tmp = Path(name)
    try:
        n = write(tmp)
        os.chmod(tmp, _file_mode(out))  # mkstemp makes it private; an export gets the usual mode
        os.replace(tmp, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _file_mode(out: Path) -> int:
    """The mode of the file being replaced, or what a plain open() would give under the umask."""
    try:
        return out.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_csv(rows, out: Path) -> int:
    n = 0
    with out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(export_columns())
        for row in rows:
            writer.writerow(row)
            n += 1
            _progress(n)
    return n


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise UserError("Parquet export needs pyarrow: pip install 'depthbook[parquet]'") from None
    return pa, pq


def _write_parquet(rows, out: Path) -> int:
    pa, pq = _pyarrow()
    columns = export_columns()
    data: list[list] = [[] for _ in columns]
    n = 0
    for row in rows:
        for i, value in enumerate(row):
            data[i].append(value)
        n += 1
        _progress(n)
    table = pa.table({name: data[i] for i, name in enumerate(columns)})
    pq.write_table(table, out, compression="zstd")
    return n
