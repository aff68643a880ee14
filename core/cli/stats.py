"""`depthbook stats`: what is stored, per symbol. Read-only, safe while another process records."""

from __future__ import annotations

import sys

import orjson

from core.analysis.completeness import recorded_counts
from core.cli.archive import add_source, open_source
from core.cli.common import EXIT_OK, add_log_level, no_snapshots, symbol
from core.storage.horizons import last_horizon
from core.storage.keys import parse_storage_symbol
from core.storage.store import SnapshotStorage
from core.storage.usage import bytes_per_symbol
from core.timeparse import iso_utc


def add_parser(sub) -> None:
    parser = sub.add_parser("stats", help="what is stored, per symbol")
    add_source(parser)  # --db PATH or --archive URL
    parser.add_argument("--symbol", type=symbol, default=None, help="one symbol only")
    parser.add_argument("--json", action="store_true", help="JSON instead of a table")
    parser.add_argument(
        "--check",
        action="store_true",
        help="read and check every snapshot, and report the damaged ones (slow: it reads the whole database)",
    )
    add_log_level(parser, "WARNING")


def symbol_stats(storage: SnapshotStorage, symbol: str, size: int, check: bool = False) -> dict:
    """One row of `stats`. `damaged`: snapshots that do not decode or are not the contract's shape, found
    by reading every snapshot (`check`), else None (not checked). `size`: its bytes on disk
    (core.storage.usage's estimate)."""
    # Completeness is core.analysis.completeness's, counted as the History library counts it.
    counts = recorded_counts(storage, symbol)
    edges = storage.first_last(symbol)
    first, last = edges if edges else (None, None)
    share = counts.completeness
    horizon = last_horizon(storage, symbol)
    return {
        "symbol": symbol,
        "market": parse_storage_symbol(symbol)[0].name,  # usdm/BTCUSDT is USDⓈ-M futures; BTCUSDT spot
        "count": counts.stored,
        "first": first,
        "last": last,
        "completeness_pct": round(100.0 * share, 3) if share is not None else 0.0,
        "gaps": counts.gap_records,
        "unverified": counts.unverified,
        # The book's latest horizon distance per side as the recorder stored it (once a minute): known levels
        # beyond the top before the snapshot horizon; negative: not verified; None: the whole side, or unknown.
        "horizon_at": horizon.timestamp if horizon else None,
        "horizon_bids": horizon.bids if horizon else None,
        "horizon_asks": horizon.asks if horizon else None,
        "bytes": size,
        "damaged": storage.check_snapshots(symbol) if check else None,
    }


def run(args) -> int:
    with open_source(args) as storage:
        symbols = storage.symbols()
        if args.symbol:
            wanted = args.symbol
            if wanted not in symbols:
                raise no_snapshots(wanted, storage)
            symbols = [wanted]
        usage = bytes_per_symbol(storage)  # an estimate: count x mean record size, scaled to the size on disk
        rows = [symbol_stats(storage, s, usage.get(s, 0), args.check) for s in symbols]
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
        f"{'symbol':<12} {'count':>9} {'first (UTC)':<21} {'last (UTC)':<21} {'complete':>9} {'gaps':>7} {'unverified':>10}"
        f" {'horizon b / a':>15} {'bytes':>11} {'damaged':>8}"
    )
    for r in rows:
        damaged = "-" if r["damaged"] is None else r["damaged"]
        print(
            f"{r['symbol']:<12} {r['count']:>9} {iso_utc(r['first']):<21} {iso_utc(r['last']):<21} "
            f"{r['completeness_pct']:>8.2f}% {r['gaps']:>7} {r['unverified']:>10} {_horizon_text(r):>15} {r['bytes']:>11}"
            f" {damaged:>8}"
        )
    if not args.check:
        print("(damaged: not checked; `depthbook stats --check` reads every snapshot)")
    if any(r["horizon_at"] is not None for r in rows):
        print("(horizon b / a: levels known beyond the top before each side's snapshot horizon, as last stored;"
              " below 0: not verified)")
    return EXIT_OK


def _horizon_text(row: dict) -> str:
    """"812 / whole" (the ask side's snapshot held it all), or "-" when the recorder stored none."""
    if row["horizon_at"] is None:
        return "-"
    return " / ".join("whole" if n is None else f"{n:,}" for n in (row["horizon_bids"], row["horizon_asks"]))
