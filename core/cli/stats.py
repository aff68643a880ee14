"""`depthbook stats`: what is stored, per symbol. Read-only, safe while another process records."""

from __future__ import annotations

import sys

import orjson

from core.cli.common import EXIT_OK, UserError, add_db, add_log_level, open_read_only
from core.storage.keys import MAX_TIMESTAMP
from core.storage.store import SnapshotStorage
from core.timeparse import iso_utc


def add_parser(sub) -> None:
    parser = sub.add_parser("stats", help="what is stored, per symbol")
    add_db(parser)
    parser.add_argument("--symbol", default=None, help="one symbol only")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    add_log_level(parser, "WARNING")


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


def run(args) -> int:
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
