"""The history tab's queries: core.history over the open database, shaped into gui.values for the panel.

Blocking (RocksDB reads and decoding): the app runs them in the storage's executor.
"""

from __future__ import annotations

from core.analysis.history import History
from core.storage.store import SnapshotStorage
from gui.values import RecordedLadder, RecordedRange

HEATMAP_ROWS = 900  # sampled seconds at most: about one a pixel column of the chart
HEATMAP_BINS = 80


def recorded_range(storage: SnapshotStorage, symbol: str, seconds: int) -> RecordedRange:
    """The last `seconds` of what was recorded for `symbol`, ending at its newest snapshot."""
    edges = storage.first_last(symbol)
    if edges is None:
        raise ValueError(f"Nothing is recorded for {symbol} in this database.")
    first, last = edges
    end = last
    start = max(first, end - seconds + 1)
    history = History(storage)
    series = history.series(symbol, start, end)
    heat = history.liquidity(symbol, start, end, price_bins=HEATMAP_BINS, max_rows=HEATMAP_ROWS)
    coverage = history.coverage(symbol, start, end)
    return RecordedRange(
        symbol=symbol,
        start=start,
        end=end,
        t=series["timestamp"].astype(float),
        mid=series["mid"],
        spread_bps=series["spread_bps"],
        heat_t=heat.timestamps,
        heat_edges=heat.bin_edges,
        heat=heat.matrix,
        stored=coverage.stored,
        missing=tuple(coverage.missing),
        gaps=len(coverage.gaps),
    )


def recorded_ladder(storage: SnapshotStorage, symbol: str, ts: int) -> RecordedLadder:
    snap = History(storage).ladder_at(symbol, ts)
    if snap is None:
        return RecordedLadder(symbol, ts, None, None)
    return RecordedLadder(symbol, ts, snap.bids, snap.asks, snap.update_id)
