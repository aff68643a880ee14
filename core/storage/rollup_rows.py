"""Reads of the heatmap rollup families (`heat`: a row per minute, `heat_hours`: a row per hour; both keyed
`SYMBOL:TS`, TS the row's first second), kept beside SnapshotStorage, whose module is at its size limit.

The rows are opaque bytes here (core.analysis.heat_rollups owns their layout); they are written in the tick's
WriteBatch by `SnapshotStorage.put_encoded` and deleted with the seconds by retention (DERIVED_CFS).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from core.storage import keys
from core.storage.store import HEAT_CF, HEAT_HOURS_CF, SnapshotStorage

HEAT_FAMILIES = (HEAT_CF, HEAT_HOURS_CF)


def has_rows(storage: SnapshotStorage, family: str) -> bool:
    """Whether the database has the family at all (a database written before it existed has not)."""
    return family_view(storage, family) is not None


def rollup_rows(storage: SnapshotStorage, family: str, symbol: str, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(first second, row) of `symbol`'s rows in `family` whose first second is in [start, end], in order."""
    if family not in HEAT_FAMILIES:
        raise ValueError(f"{family!r} is not a heatmap rollup family")
    view = family_view(storage, family)
    return keys.scan(view, symbol, start, end) if view is not None else iter(())


def row_starts(storage: SnapshotStorage, family: str, symbol: str, start: int, end: int) -> np.ndarray:
    """The first seconds of `symbol`'s rows in `family` in [start, end], ascending, without decoding a row."""
    view = family_view(storage, family)
    start, end = max(start, 0), min(end, keys.MAX_TIMESTAMP)
    if view is None or start > end:
        return np.empty(0, np.int64)
    prefix = symbol.encode("ascii") + b":"
    upper = keys.snapshot_key(symbol, end + 1) if end < keys.MAX_TIMESTAMP else prefix[:-1] + b";"
    found = keys.scan_keys(view, prefix, keys.snapshot_key(symbol, start), upper)
    return np.fromiter((int(k[len(prefix) :]) for k in found), np.int64)


def family_view(storage: SnapshotStorage, family: str):
    """The family's handle; None when the database lacks it, or for a source that is not a database (the
    History tab also reads the Parquet archive through the same calls: it has no rollup rows)."""
    return (getattr(storage, "_views", None) or {}).get(family)
