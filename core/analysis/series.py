"""Per-second derived series of a recorded book.

A `SeriesRow` is what the charts plot for one second (best prices, spread, microprice, depth, imbalance).
It is computed once at record time from the snapshot just taken, stored in its own column family as
`to_bytes()`, and can always be recomputed from the snapshot itself with `series_from_snapshot`.

Pure: no clock, no I/O. Snapshots are duck-typed: anything with `timestamp` (Unix second), `bids` (highest
first), `asks` (lowest first) as (price, quantity) exchange strings, and `update_id`.

Numbers here are floats: they feed charts, not the book. Prices stay strings everywhere else.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.analysis.l1 import captured_top, top_of_book
from core.storage.snapshot import SNAPSHOT_DEPTH

try:  # built from C by `pip install` (core/analysis/_series_row.c); this module's Python is its specification
    from core.analysis._series_row import captured_row as _captured_row
except ImportError:  # pragma: no cover - a checkout run without installing
    _captured_row = None

NAN = math.nan

# Storage layout of one row: a version byte, the second, nine doubles, the update id. 89 bytes, little-endian.
_ROW_VERSION = 1
_ROW_STRUCT = struct.Struct("<Bq9dQ")

_FLOAT_FIELDS = (
    "best_bid",
    "best_ask",
    "mid",
    "spread",
    "spread_bps",
    "microprice",
    "bid_volume",
    "ask_volume",
    "imbalance",
)
SERIES_FIELDS = ("timestamp", *_FLOAT_FIELDS, "update_id")
# _ROW_STRUCT as a numpy record (packed, as the struct is): many stored rows read in one pass
SERIES_ROW_DTYPE = np.dtype(
    [("version", "u1"), ("timestamp", "<i8"), *((f, "<f8") for f in _FLOAT_FIELDS), ("update_id", "<u8")]
)
SERIES_ROW_VERSION = _ROW_VERSION

# Charts take columns: one numpy array per field name of SeriesRow.
SeriesArrays = dict[str, np.ndarray]


@dataclass(slots=True)  # not frozen: one is built per recorded symbol per second, and frozen init is 3x slower
class SeriesRow:
    """Derived numbers for one recorded second. A value that cannot be computed (one-sided book) is NaN."""

    timestamp: int  # Unix capture second
    best_bid: float
    best_ask: float
    mid: float
    spread: float  # ask − bid, in price units
    spread_bps: float  # spread / mid × 10 000
    microprice: float  # weighted by the top-of-book sizes
    bid_volume: float  # Σ quantity of the top 20 bids
    ask_volume: float
    imbalance: float  # bid_volume / (bid_volume + ask_volume), 0.5 when both are zero
    update_id: int

    def to_bytes(self) -> bytes:
        return _ROW_STRUCT.pack(_ROW_VERSION, *self.values())

    def values(self) -> tuple[float, ...]:
        """The fields in SERIES_FIELDS order, as a plain tuple (which the garbage collector stops walking)."""
        return (
            self.timestamp, self.best_bid, self.best_ask, self.mid, self.spread, self.spread_bps, self.microprice,
            self.bid_volume, self.ask_volume, self.imbalance, self.update_id,
        )  # fmt: skip

    def at(self, timestamp: int) -> SeriesRow:
        """The same numbers at another second: those of a book unchanged since this row's second."""
        return SeriesRow(timestamp, *self.values()[1:])

    @classmethod
    def from_bytes(cls, data: bytes) -> SeriesRow:
        if len(data) != _ROW_STRUCT.size:
            raise ValueError(f"series row must be {_ROW_STRUCT.size} bytes, got {len(data)}")
        version, timestamp, *floats, update_id = _ROW_STRUCT.unpack(data)
        if version != _ROW_VERSION:
            raise ValueError(f"unknown series row version {version}")
        return cls(timestamp, *floats, update_id)


_STAMP = struct.Struct("<q")  # the row's second, after its version byte


def restamp_row(row: bytes, timestamp: int) -> bytes:
    """A stored row (`SeriesRow.to_bytes`) at another second: the bytes of `SeriesRow.at(timestamp)`, made by
    replacing the second alone (the recorder's unchanged books, 1,500 a second)."""
    return row[:1] + _STAMP.pack(timestamp) + row[1 + _STAMP.size :]


def series_from_snapshot(snap: Any) -> SeriesRow:
    """Derive the chart numbers of one snapshot. One-sided or empty books give NaN, never an exception."""
    numbers = getattr(snap, "numbers", None)  # a captured snapshot's: its levels need not be decoded
    if numbers is not None and numbers.whole:
        top = captured_top(numbers)
    else:
        top = top_of_book(snap.bids, snap.asks)
    total = top.bid_volume + top.ask_volume
    return SeriesRow(
        timestamp=snap.timestamp,
        best_bid=top.best_bid,
        best_ask=top.best_ask,
        mid=top.mid,
        spread=top.spread,
        spread_bps=top.spread / top.mid * 10_000 if top.mid > 0 else NAN,
        microprice=top.microprice,
        bid_volume=top.bid_volume,
        ask_volume=top.ask_volume,
        imbalance=top.bid_volume / total if total > 0 else 0.5,
        update_id=snap.update_id,
    )


def series_row_bytes(snap: Any) -> bytes:
    """`series_from_snapshot(snap).to_bytes()`, the same bytes; a captured snapshot's in one C call (the recorder's
    1,500 rows a second), anything the C code leaves to Python (it answers None) the long way."""
    numbers = getattr(snap, "numbers", None)
    if _captured_row is not None and numbers is not None and numbers.whole:
        row = _captured_row(numbers.bid_levels, numbers.ask_levels, snap.timestamp, snap.update_id, SNAPSHOT_DEPTH)
        if row is not None:
            return row
    return series_from_snapshot(snap).to_bytes()


def stored_rows_to_arrays(rows: Sequence[bytes]) -> SeriesArrays:
    """`series_to_arrays` of rows as stored (`SeriesRow.to_bytes`), in one numpy pass. ValueError for a row that
    is not this layout."""
    if set(map(len, rows)) - {_ROW_STRUCT.size}:
        raise ValueError(f"series rows must be {_ROW_STRUCT.size} bytes")
    table = np.frombuffer(b"".join(rows), dtype=SERIES_ROW_DTYPE)
    if (table["version"] != _ROW_VERSION).any():
        raise ValueError("unknown series row version")
    return {name: table[name].copy() for name in SERIES_FIELDS}


def series_to_arrays(rows: Sequence[SeriesRow]) -> SeriesArrays:
    """Columns for the charts: `timestamp` int64, `update_id` uint64, every other field float64."""
    n = len(rows)
    arrays: SeriesArrays = {"timestamp": np.fromiter((r.timestamp for r in rows), np.int64, count=n)}
    for name in _FLOAT_FIELDS:
        arrays[name] = np.fromiter((getattr(r, name) for r in rows), np.float64, count=n)
    arrays["update_id"] = np.fromiter((r.update_id for r in rows), np.uint64, count=n)
    return arrays
