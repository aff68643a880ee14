"""Values the history browser's widgets draw: the library, a symbol's whole span, one view, the cursor.

Frozen and Qt-free: the query layer (gui.history_browse) builds them in an executor, the widgets only read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.analysis.l1 import L1Metrics
from core.analysis.order_flow import OrderFlow
from core.market.wire import Level


@dataclass(frozen=True, slots=True)
class LibraryRow:
    """One recorded symbol of the open database."""

    symbol: str
    first: int  # Unix seconds
    last: int
    stored: int  # seconds with a snapshot
    gap_records: int  # seconds the recorder was asked for and could not store
    completeness: float | None  # core.analysis.completeness: stored ÷ (stored + gap records)
    bytes_estimate: int
    live: bool  # in the live symbol list right now


@dataclass(frozen=True, slots=True)
class SymbolSpan:
    """The whole recorded history of one symbol: the time axis' limits, and every hole and gap in it."""

    symbol: str
    first: int
    last: int
    stored: int
    gap_records: int
    holes: np.ndarray  # int64 (first, last) runs of seconds without a snapshot
    gap_runs: np.ndarray  # int64 (first, last, reason index) runs of gap records
    reasons: tuple[str, ...]  # reason index -> words ("disconnected")
    completeness: float | None


@dataclass(frozen=True, slots=True)
class ViewData:
    """What the charts draw for [start, end]: buckets `width` seconds wide, and the heatmap's columns."""

    request: int  # the panel's request number; older answers are dropped
    symbol: str
    start: int
    end: int
    width: int  # seconds per bucket (1: the stored seconds themselves)
    t: np.ndarray  # float64 bucket starts
    mid: np.ndarray  # last mid of each bucket; NaN where nothing is stored (the line breaks)
    mid_min: np.ndarray
    mid_max: np.ndarray
    best_bid: np.ndarray
    best_ask: np.ndarray
    spread_bps: np.ndarray  # means over the bucket
    imbalance: np.ndarray
    bid_volume: np.ndarray
    ask_volume: np.ndarray
    stored: int  # seconds with a snapshot in the view
    gap_records: int
    heat_t: np.ndarray  # float64 column starts
    heat_step: int  # seconds per column
    heat_sampled: np.ndarray  # int64 second each column shows, -1: none
    heat_edges: np.ndarray  # price bin edges, ascending
    heat_rank: np.ndarray  # float32 [column, bin]: −percentile where bids rest, +percentile for asks
    heat_bid: np.ndarray  # float64 [column, bin] quantities, for the readout
    heat_ask: np.ndarray
    tick: float
    bin_size: float
    query_ms: float = 0.0
    # Damaged snapshots of the symbol that readers of this database have skipped so far, this view's among them
    # (storage.damage.count: per symbol, not per range); each is named in the log.
    damaged: int = 0


@dataclass(frozen=True, slots=True)
class CursorView:
    """The cursor's second: its recorded ladder, L1 metrics and the order flow of the window ending there."""

    symbol: str
    timestamp: int
    bids: tuple[Level, ...] | None  # None: nothing stored at this second
    asks: tuple[Level, ...] | None
    update_id: int | None
    metrics: L1Metrics | None
    flow: OrderFlow | None
    flow_window: int
    flow_problem: str | None  # why there is no order flow, in words
    gap_reason: str | None  # the recorder's reason for this second, when it has a gap record


@dataclass(frozen=True, slots=True)
class ExportRequest:
    symbol: str
    start: int
    end: int
    format: str  # "csv" or "parquet"
    path: str
