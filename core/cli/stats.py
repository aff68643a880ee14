"""`depthbook stats`: what is stored, per symbol. Read-only, safe while another process records."""

from __future__ import annotations

import sys

import orjson

from core.cli.common import EXIT_OK, UserError, add_db, add_log_level, open_read_only, symbol
from core.storage.gaps import GapReason
from core.storage.keys import MAX_TIMESTAMP
from core.storage.store import SnapshotStorage
from core.timeparse import iso_utc


def add_parser(sub) -> None:
    parser = sub.add_parser("stats", help="what is stored, per symbol")
    add_db(parser)
    parser.add_argument("--symbol", type=symbol, default=None, help="one symbol only")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="read and check every snapshot, and report the damaged ones (slow: it reads the whole database)",
    )
    add_log_level(parser, "WARNING")


def symbol_stats(
    storage: SnapshotStorage, symbol: str, total_count: int, total_bytes: int, check: bool = False
) -> dict:
    """One row of `stats`. `damaged`: snapshots that do not decode or are not the contract's shape, found
    by reading every snapshot (`check`), else None (not checked)."""
    count = storage.count(symbol)
    edges = storage.first_last(symbol)
    first, last = edges if edges else (None, None)
    # Gap records from the first snapshot on, including any after the last one (a symbol that stopped
    # streaming); the ones before the first snapshot are the first sync of its first recording.
    gap_records = storage.gaps(symbol, first, MAX_TIMESTAMP) if edges else []
    gaps = len(gap_records)
    # Of those, the seconds whose live book reached beyond its snapshot horizon (docs/SNAPSHOT_HORIZON.md).
    unverified = sum(1 for g in gap_records if g.reason is GapReason.UNVERIFIED)
    looked_at = count + gaps  # every second the recorder looked at this symbol is stored or a gap
    return {
        "symbol": symbol,
        "count": count,
        "first": first,
        "last": last,
        "completeness_pct": round(100.0 * count / looked_at, 3) if looked_at else 0.0,
        "gaps": gaps,
        "unverified": unverified,
        # RocksDB has no per-key-range size; share the total by snapshot count (an estimate).
        "bytes": round(total_bytes * count / total_count) if total_count else 0,
        "damaged": storage.check_snapshots(symbol) if check else None,
    }


def run(args) -> int:
    with open_read_only(args.db) as storage:
        symbols = storage.symbols()
        if args.symbol:
            wanted = args.symbol
            if wanted not in symbols:
                raise UserError(f"no snapshots of {wanted} in {storage.path}")
            symbols = [wanted]
        total_bytes = storage.size_on_disk()
        total_count = sum(storage.count(s) for s in storage.symbols())
        rows = [symbol_stats(storage, s, total_count, total_bytes, args.check) for s in symbols]
        named = {s: storage.damage.seconds(s) for s in symbols if storage.damage.count(s)}
    for name, seconds in named.items():
        shown = ", ".join(iso_utc(ts) for ts in seconds[:3]) + (", …" if len(seconds) > 3 else "")
        count = next(r["damaged"] for r in rows if r["symbol"] == name)
        print(f"depthbook: {count} damaged snapshots of {name} ({shown}); every reader skips them.", file=sys.stderr)
    if args.json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    if not rows:
        print(f"no snapshots in {storage.path}")
        return EXIT_OK
    print(
        f"{'symbol':<12} {'count':>9} {'first (UTC)':<21} {'last (UTC)':<21} {'complete':>9} {'gaps':>7} {'unverified':>10} {'bytes':>11}"
        f" {'damaged':>8}"
    )
    for r in rows:
        damaged = "-" if r["damaged"] is None else r["damaged"]
        print(
            f"{r['symbol']:<12} {r['count']:>9} {iso_utc(r['first']):<21} {iso_utc(r['last']):<21} "
            f"{r['completeness_pct']:>8.2f}% {r['gaps']:>7} {r['unverified']:>10} {r['bytes']:>11} {damaged:>8}"
        )
    if not args.check:
        print("(damaged: not checked; `depthbook stats --check` reads every snapshot)")
    return EXIT_OK
