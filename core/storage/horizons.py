"""The recorded books' snapshot-horizon distances (docs/SNAPSHOT_HORIZON.md), as `depthbook stats` shows them.

Stored in the `horizons` column family as `SYMBOL:TS` -> MessagePack `[bids, asks]`: at capture second TS, how
many known levels lay beyond each side's recorded top before that side's snapshot horizon
(`OrderBook.horizon_distance`). Negative: that side's top was not verified; nil: the snapshot held the whole
side. The recorder writes one row per recorded symbol a minute, in the tick's WriteBatch; retention deletes
them with the seconds. A value that does not decode to that shape is skipped (None), never an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from core.storage import keys
from core.storage.rollup_rows import family_view
from core.storage.store import HORIZONS_CF, SnapshotStorage


@dataclass(frozen=True, slots=True)
class HorizonRow:
    timestamp: int
    bids: int | None  # None: the whole side is known
    asks: int | None


def pack_horizon(bids: int | None, asks: int | None) -> bytes:
    return msgpack.packb((bids, asks))


def unpack_horizon(timestamp: int, value: bytes) -> HorizonRow | None:
    try:
        fields = msgpack.unpackb(value, use_list=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if type(fields) is not tuple or len(fields) != 2 or not all(f is None or type(f) is int for f in fields):
        return None
    return HorizonRow(timestamp, fields[0], fields[1])


def last_horizon(storage: SnapshotStorage, symbol: str) -> HorizonRow | None:
    """The symbol's latest stored horizon distances; None when there is none (or it is damaged, or the database
    predates the family, or the source is not a database: the Parquet archive has none)."""
    view = family_view(storage, HORIZONS_CF)
    edges = keys.edges(view, symbol) if view is not None else None
    if edges is None:
        return None
    value = view.get(keys.snapshot_key(symbol, edges[1]))
    return unpack_horizon(edges[1], value) if value is not None else None
