"""`depthbook stats`, `export` and `order-flow`: read-only views of a database, safe while it records."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import orjson

from core.analytics import InsufficientDataError
from core.cli import EXIT_OK, UserError
from core.history import History
from core.paths import default_db_path
from core.snapshot import MAX_TIMESTAMP, OrderBookSnapshot, SnapshotDecodeError
from core.storage import SnapshotStorage, StorageError
from core.timeparse import iso_utc, parse_time

EXPORT_DEPTH = 20


def open_read_only(db: Path | None) -> SnapshotStorage:
    path = db or default_db_path()
    if not path.exists():
        raise UserError(f"there is no database at {path} (record something first, or pass --db)")
    try:
        return SnapshotStorage.open(path, mode="read_only")
    except StorageError as exc:
        raise UserError(str(exc)) from None


def _time(text: str) -> int:
    try:
        return parse_time(text)
    except ValueError as exc:
        raise UserError(str(exc)) from None


# --- stats ---------------------------------------------------------------------------------------------


def symbol_stats(storage: SnapshotStorage, symbol: str, total_count: int, total_bytes: int) -> dict:
    count = storage.count(symbol)
    edges = storage.first_last(symbol)
    first, last = edges if edges else (None, None)
    # Gap records from the first snapshot on, including any after the last one (a symbol that stopped
    # streaming); the ones before the first snapshot are the first sync of its first recording.
    gaps = len(storage.gaps(symbol, first, MAX_TIMESTAMP)) if edges else 0
    looked_at = count + gaps  # every second the recorder looked at this symbol is stored or a gap
    return {
        "symbol": symbol,
        "count": count,
        "first": first,
        "last": last,
        "completeness_pct": round(100.0 * count / looked_at, 3) if looked_at else 0.0,
        "gaps": gaps,
        # RocksDB has no per-key-range size; share the total by snapshot count (an estimate).
        "bytes": round(total_bytes * count / total_count) if total_count else 0,
    }


def run_stats(args) -> int:
    with open_read_only(args.db) as storage:
        symbols = storage.symbols()
        if args.symbol:
            wanted = args.symbol.strip().upper()
            if wanted not in symbols:
                raise UserError(f"no snapshots of {wanted} in {storage.path}")
            symbols = [wanted]
        total_bytes = storage.size_on_disk()
        total_count = sum(storage.count(s) for s in storage.symbols())
        rows = [symbol_stats(storage, s, total_count, total_bytes) for s in symbols]
    if args.json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    if not rows:
        print(f"no snapshots in {storage.path}")
        return EXIT_OK
    print(
        f"{'symbol':<12} {'count':>9} {'first (UTC)':<21} {'last (UTC)':<21} {'complete':>9} {'gaps':>7} {'bytes':>11}"
    )
    for r in rows:
        print(
            f"{r['symbol']:<12} {r['count']:>9} {iso_utc(r['first']):<21} {iso_utc(r['last']):<21} "
            f"{r['completeness_pct']:>8.2f}% {r['gaps']:>7} {r['bytes']:>11}"
        )
    return EXIT_OK


# --- export --------------------------------------------------------------------------------------------


def export_columns(depth: int = EXPORT_DEPTH) -> list[str]:
    """Wide columns in the style of Tardis' book_snapshot_20: asks then bids per level, level 0 the best."""
    cols = ["exchange", "symbol", "timestamp", "local_timestamp", "update_id"]
    for i in range(depth):
        cols += [f"asks[{i}].price", f"asks[{i}].amount", f"bids[{i}].price", f"bids[{i}].amount"]
    return cols


def export_row(snap: OrderBookSnapshot, depth: int = EXPORT_DEPTH) -> list:
    micros = snap.timestamp * 1_000_000  # Tardis uses microseconds; ours are whole capture seconds
    row: list = ["binance", snap.symbol, micros, micros, snap.update_id]
    for i in range(depth):
        ask = snap.asks[i] if i < len(snap.asks) else ("", "")
        bid = snap.bids[i] if i < len(snap.bids) else ("", "")
        row += [ask[0], ask[1], bid[0], bid[1]]
    return row


def run_export(args) -> int:
    symbol = args.symbol.strip().upper()
    start, end = _time(args.start), _time(args.end)
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


# --- order flow ----------------------------------------------------------------------------------------


def run_order_flow(args) -> int:
    symbol = args.symbol.strip().upper()
    with open_read_only(args.db) as storage:
        if storage.first_last(symbol) is None:
            raise UserError(f"no snapshots of {symbol} in {storage.path}")
        try:
            flow = History(storage).get_order_flow(symbol, args.window, _time(args.end) if args.end else None)
        except (ValueError, InsufficientDataError) as exc:
            raise UserError(str(exc)) from None
    if args.json:
        sys.stdout.write(orjson.dumps(flow.to_dict()).decode() + "\n")
        return EXIT_OK
    print(
        f"{symbol} order flow {flow.time_window_start} → {flow.time_window_end} ({flow.window_duration_secs} s)"
    )
    print(f"  bid flow rate     {flow.bid_flow_rate:.3f} level increases/s")
    print(f"  ask flow rate     {flow.ask_flow_rate:.3f} level increases/s")
    print(f"  net flow          {flow.net_flow:+.3f}")
    print(f"  direction         {flow.flow_direction.value}")
    print(f"  cumulative delta  {flow.cumulative_delta:+.6f}")
    print(f"  snapshots         {flow.snapshot_count} covering {flow.covered_secs} s")
    return EXIT_OK
