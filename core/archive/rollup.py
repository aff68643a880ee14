"""Per-minute rollups of an archive: one small sidecar file per market, symbol and UTC day, so that drawing weeks
of a symbol reads one object a day instead of 24 hour files of every level.

    _rollups/market=spot/symbol=BTCUSDT/date=2026-12-02.parquet

One row per minute that holds a recorded second: `minute` (timestamp, UTC), `snapshots` and `gaps` (seconds of
each kind), `mid_first`, `mid_last`, `mid_min`, `mid_max`, `best_bid_last`, `best_ask_last`, and the means of
`spread_bps`, `bid_volume`, `ask_volume` (quantities of the top 20 levels) and `imbalance` (bid volume / both),
as core.analysis.series defines them per second. The metadata `depthbook.rollup_hours` lists the hour starts the
file covers: the archiver adds an hour to its day's file right after publishing the hour (read, merge, write to
staging, move), and a reader computes the minutes of any archived hour a day file does not list from the hour
file itself, so a rollup that lags (a crash between the two) never hides an hour. `_rollups` starts with `_`:
engines reading the archive's hive layout skip it. Derived data: it can always be rebuilt from the hour files.

Version 2 adds what the app's history browser needs, so that drawing weeks on an archive reads day files only:
`row`, the minute's core.analysis.minute_rows row (computed like the recorder's, from the hour's decoded
snapshots), and `gap_at` / `gap_reason`, the minute's gap records (second within the minute, stored reason).
The metadata `depthbook.row_hours` lists the hours whose minutes carry them; a reader takes the seconds and gaps
of any other hour from its hour file. A version-1 day file gets rows for its old hours from their hour files when
the archiver merges a new hour into it, and the follower rewrites the others once (core.archive.follow_pass).
A minute gets a row whenever it holds a snapshot or a gap (an archived hour never changes, so the row says exactly
what the minute holds), not only when it was watched whole as the recorder requires.

Pure apart from pyarrow: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from core.analysis.minute_rows import MINUTE, ROW_SIZE, encode_minute
from core.analysis.rollups import rollup_seconds
from core.analysis.series import SERIES_FIELDS, series_from_snapshot
from core.archive.format import DEPTH, seconds
from core.archive.layout import HOUR
from core.storage.gaps import GapRecord
from core.storage.snapshot import OrderBookSnapshot

ROLLUP_DIR = "_rollups"
ROLLUP_FORMAT = "depthbook-archive-rollup"
ROLLUP_VERSION = 2
DAY = 86_400
QTY_COLUMNS = [f"{side}_qty_{i}" for side in ("bid", "ask") for i in range(DEPTH)]
HOUR_COLUMNS = ["ts", "gap", "bid_price_0", "ask_price_0", *QTY_COLUMNS]  # what a rollup reads of an hour file
_AGGREGATES = [
    ("snapshot", "sum", "snapshots"),
    ("is_gap", "sum", "gaps"),
    ("mid", "first", "mid_first"),
    ("mid", "last", "mid_last"),
    ("mid", "min", "mid_min"),
    ("mid", "max", "mid_max"),
    ("best_bid", "last", "best_bid_last"),
    ("best_ask", "last", "best_ask_last"),
    ("spread_bps", "mean", "spread_bps"),
    ("bid_volume", "mean", "bid_volume"),
    ("ask_volume", "mean", "ask_volume"),
    ("imbalance", "mean", "imbalance"),
]


def rollup_path(market: str, symbol: str, day: int) -> str:
    return f"{ROLLUP_DIR}/market={market}/symbol={symbol}/date={datetime.fromtimestamp(day, UTC):%Y-%m-%d}.parquet"


def rollup_dir(market: str, symbol: str) -> str:
    return f"{ROLLUP_DIR}/market={market}/symbol={symbol}"


def day_of(path: str) -> int | None:
    """The day start of a rollup file's name, None for anything else."""
    name = path.rsplit("/", 1)[-1]
    if not (name.startswith("date=") and name.endswith(".parquet")):
        return None
    try:
        return int(datetime.strptime(name[5:-8], "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return None


def hour_minutes(table: pa.Table) -> pa.Table:
    """The per-minute rows of one hour file's rows (its HOUR_COLUMNS at least), vectorised."""
    ts = seconds(table)
    gap = table.column("gap")
    bid = pc.cast(table.column("bid_price_0"), pa.float64())
    ask = pc.cast(table.column("ask_price_0"), pa.float64())
    # A missing level (a thin book) counts as nothing; a gap row has no levels at all.
    volume = {
        side: _sum([pc.fill_null(pc.cast(table.column(f"{side}_qty_{i}"), pa.float64()), 0.0) for i in range(DEPTH)])
        for side in ("bid", "ask")
    }
    mid = pc.divide(pc.add(bid, ask), 2.0)
    total = pc.add(volume["bid"], volume["ask"])
    snapshot = pc.is_null(gap)
    rows = pa.table(
        {
            "minute": pc.multiply(pc.divide(ts, 60), 60),  # int64: whole minutes (seconds are never negative)
            "snapshot": pc.cast(snapshot, pa.int64()),
            "is_gap": pc.cast(pc.invert(snapshot), pa.int64()),
            "mid": mid,
            "best_bid": bid,
            "best_ask": ask,
            "spread_bps": pc.multiply(pc.divide(pc.subtract(ask, bid), mid), 10_000.0),
            "bid_volume": pc.if_else(snapshot, volume["bid"], None),
            "ask_volume": pc.if_else(snapshot, volume["ask"], None),
            "imbalance": pc.if_else(
                snapshot, pc.if_else(pc.greater(total, 0.0), pc.divide(volume["bid"], total), 0.5), None
            ),
        }
    )
    grouped = rows.group_by("minute", use_threads=False).aggregate([(c, f) for c, f, _ in _AGGREGATES])
    out = {"minute": pc.cast(pc.cast(grouped.column("minute"), pa.int64()), pa.timestamp("s", tz="UTC"))}
    for column, function, name in _AGGREGATES:
        values = grouped.column(f"{column}_{function}")
        out[name] = pc.cast(values, pa.int32()) if function == "sum" else values
    return pa.table(out).sort_by("minute")


ROW_COLUMNS = {
    "row": pa.binary(ROW_SIZE),
    "gap_at": pa.list_(pa.int8()),
    "gap_reason": pa.list_(pa.string()),
}


def with_rows(minutes: pa.Table, snaps: list[OrderBookSnapshot], gaps: list[GapRecord]) -> pa.Table:
    """`hour_minutes` of an hour with the version-2 columns added: each minute's core.analysis.minute_rows row and
    gap records, from the hour's decoded snapshots and gaps (the same numbers the recorder computes)."""
    by_minute: dict[int, tuple[list[OrderBookSnapshot], list[GapRecord]]] = {}
    for snap in snaps:
        by_minute.setdefault(snap.timestamp // MINUTE * MINUTE, ([], []))[0].append(snap)
    for gap in gaps:
        by_minute.setdefault(gap.timestamp // MINUTE * MINUTE, ([], []))[1].append(gap)
    rows, gap_at, gap_reason = [], [], []
    for minute in pc.cast(pc.cast(minutes.column("minute"), pa.timestamp("s", tz="UTC")), pa.int64()).to_pylist():
        m_snaps, m_gaps = by_minute.get(minute, ([], []))
        series = [series_from_snapshot(snap) for snap in sorted(m_snaps, key=lambda s: s.timestamp)]
        columns = {name: np.array([getattr(r, name) for r in series], dtype=np.float64) for name in SERIES_FIELDS}
        columns["timestamp"] = columns["timestamp"].astype(np.int64)
        gap_seconds = np.array(sorted(g.timestamp for g in m_gaps), dtype=np.int64)
        rollup = rollup_seconds(columns, MINUTE, minute, minute + MINUTE - 1, gap_seconds)
        stored_map = 0
        for snap in m_snaps:
            stored_map |= 1 << (snap.timestamp - minute)
        rows.append(encode_minute(rollup, stored_map))
        ordered = sorted(m_gaps, key=lambda g: g.timestamp)
        gap_at.append([g.timestamp - minute for g in ordered])
        gap_reason.append([g.reason.value for g in ordered])
    values = {"row": rows, "gap_at": gap_at, "gap_reason": gap_reason}
    for name, kind in ROW_COLUMNS.items():
        minutes = minutes.append_column(pa.field(name, kind), pa.array(values[name], kind))
    return minutes


def merge_day(existing: pa.Table | None, hour: int, minutes: pa.Table) -> pa.Table:
    """A day's rollup with `hour`'s minutes put in (replacing any it had), its covered hours in the metadata
    (and, when `minutes` carries the version-2 columns, in the hours with minute rows)."""
    hours = set(covered_hours(existing)) if existing is not None else set()
    row_hours = set(rows_hours(existing)) if existing is not None else set()
    parts = [minutes]
    if existing is not None:
        ts = pc.cast(pc.cast(existing.column("minute"), pa.timestamp("s", tz="UTC")), pa.int64())
        keep = pc.or_(pc.less(ts, hour), pc.greater_equal(ts, hour + HOUR))
        kept = existing.filter(keep)
        for name in minutes.column_names:
            if name not in kept.column_names:  # a version-1 file: its hours keep no rows
                kept = kept.append_column(name, pa.nulls(kept.num_rows, minutes.schema.field(name).type))
        parts.insert(0, kept.select(minutes.column_names).cast(minutes.schema))
    hours.add(hour)
    row_hours.discard(hour)
    if "row" in minutes.column_names:
        row_hours.add(hour)
    merged = pa.concat_tables(parts).sort_by("minute")
    return merged.replace_schema_metadata(
        {
            "depthbook.format": ROLLUP_FORMAT,
            "depthbook.format_version": str(ROLLUP_VERSION),
            "depthbook.rollup_hours": ",".join(str(h) for h in sorted(hours)),
            "depthbook.row_hours": ",".join(str(h) for h in sorted(row_hours & hours)),
        }
    )


def covered_hours(table: pa.Table | pa.Schema) -> list[int]:
    """The hour starts a day's rollup covers (from its metadata); none for a file that is not a rollup."""
    kv = _schema(table).metadata or {}
    if kv.get(b"depthbook.format") != ROLLUP_FORMAT.encode():
        return []
    text = kv.get(b"depthbook.rollup_hours", b"").decode()
    return [int(h) for h in text.split(",") if h]


def rows_hours(table: pa.Table | pa.Schema) -> list[int]:
    """The hour starts whose minutes carry version-2 rows and gap records; none for a version-1 file."""
    kv = _schema(table).metadata or {}
    if kv.get(b"depthbook.format") != ROLLUP_FORMAT.encode() or "row" not in _schema(table).names:
        return []
    text = kv.get(b"depthbook.row_hours", b"").decode()
    covered = set(covered_hours(table))  # an hour the file no longer covers has no rows either
    return [int(h) for h in text.split(",") if h and int(h) in covered]


def hours_without_rows(table: pa.Table | pa.Schema) -> list[int]:
    """The hours a day file covers without version-2 rows (all of a version-1 file's): those a follower rewrites
    from their hour files. A file's schema (its footer) is enough to tell."""
    return sorted(set(covered_hours(table)) - set(rows_hours(table)))


def _schema(table: pa.Table | pa.Schema) -> pa.Schema:
    return table if isinstance(table, pa.Schema) else table.schema


@dataclass(frozen=True, slots=True)
class DaySummary:
    """One day file as the history browser reads it: per minute its snapshot count, and for the minutes of
    `row_hours` its core.analysis.minute_rows row and gap records (second, stored reason)."""

    covered: frozenset[int]  # hour starts the file covers (any version)
    row_hours: frozenset[int]  # hour starts whose minutes carry rows (version 2)
    minutes: list[int]
    snapshots: list[int]
    rows: list[bytes | None]
    gaps: list[list[tuple[int, str]]]


def day_summary(table: pa.Table) -> DaySummary:
    minutes = pc.cast(pc.cast(table.column("minute"), pa.timestamp("s", tz="UTC")), pa.int64()).to_pylist()
    row_hours = frozenset(rows_hours(table))
    if row_hours:
        rows = table.column("row").to_pylist()
        gaps = [
            [(m + at, reason) for at, reason in zip(ats or [], reasons or [], strict=True)]
            for m, ats, reasons in zip(
                minutes, table.column("gap_at").to_pylist(), table.column("gap_reason").to_pylist(), strict=True
            )
        ]
    else:
        rows, gaps = [None] * len(minutes), [[] for _ in minutes]
    snapshots = table.column("snapshots").to_pylist()
    return DaySummary(frozenset(covered_hours(table)), row_hours, minutes, snapshots, rows, gaps)


def _sum(arrays: list) -> pa.Array:
    total = arrays[0]
    for array in arrays[1:]:
        total = pc.add(total, array)
    return total
