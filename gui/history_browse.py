"""The history browser's queries: core.analysis (library, rollups, views, heatmap, cursor) over the open
database, shaped into gui.history_values for the panel.

Every method but `span_of` blocks (RocksDB reads); the app runs them with `await storage.run_blocking(...)`.
One `HistoryQueries` lives as long as the app and keeps a `RollupIndex` per database path, so rollups are built
once per symbol and extended as the recording grows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from core.analysis.browse import RollupIndex, SymbolRollups, cursor_at, series_view
from core.analysis.completeness import completeness
from core.analysis.depth_image import ColumnCache, depth_image, rank_image
from core.analysis.heat_rollups_build import build_heat, likely_to_build
from core.analysis.library import read_library
from core.analysis.order_flow_window import SlidingOrderFlow
from core.analysis.rollups import GAP_REASONS
from core.storage.store import SnapshotStorage
from gui.history_values import CursorView, LibraryRow, SymbolSpan, ViewData

REASON_TEXT = tuple(reason.text for reason in GAP_REASONS)
# The share of one progress bar the series rollups take when the heatmap rows are built after them (measured on
# 1.7 days: 0.05-0.15 of the time where series rows are stored, 0.55-0.67 where they come from the snapshots).
SERIES_SHARE = 0.1
SERIES_SHARE_FROM_SNAPSHOTS = 0.6


class HistoryQueries:
    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = cache_dir
        self._indexes: dict[str, RollupIndex] = {}
        self._columns: dict[
            tuple[str, str], ColumnCache
        ] = {}  # parsed heatmap columns per database and symbol
        self._flows: dict[tuple[str, str], SlidingOrderFlow] = {}  # the cursor's order-flow reads, reused

    def index(self, storage: SnapshotStorage) -> RollupIndex:
        index = self._indexes.get(storage.path)
        if index is None:
            index = self._indexes[storage.path] = RollupIndex(storage.path, self.cache_dir)
        return index

    def library(self, storage: SnapshotStorage, live: Iterable[str] = ()) -> tuple[LibraryRow, ...]:
        live_set = set(live)
        return tuple(
            LibraryRow(
                e.symbol,
                e.first,
                e.last,
                e.stored,
                e.gap_records,
                e.completeness,
                e.bytes_estimate,
                e.symbol in live_set,
            )
            for e in read_library(storage)
        )

    def open_symbol(
        self, storage: SnapshotStorage, symbol: str, progress: Callable[[float], None] | None = None
    ) -> SymbolSpan:
        """Build or extend the symbol's rollups and the heatmap rollups of a database that lacks them, with one
        progress (0..1) over both, and return its whole span."""
        index = self.index(storage)
        # The archive has no rows to build heatmap rows from cheaply: its views sample.
        heat = isinstance(storage, SnapshotStorage)
        cache = index.cache_file(symbol)
        if cache is not None:
            cache = cache.with_name(cache.name.removesuffix(".npz") + ".heat.npz")
        share = _series_share(storage, symbol, cache) if heat else 1.0
        state = index.ensure(storage, symbol, _scaled(progress, 0.0, share))
        if heat:
            build_heat(storage, state, _scaled(progress, share, 1.0), cache)
        return span_of(state)

    def view(
        self, storage: SnapshotStorage, symbol: str, start: int, end: int, columns: int, request: int = 0
    ) -> ViewData:
        """The charts and heatmap of [start, end] at the view's resolution. Damaged records are left out (and
        counted: `ViewData.damaged`), never failing the view."""
        began = time.perf_counter()
        state = self.index(storage).get(symbol) or self.index(storage).ensure(storage, symbol)
        series = series_view(storage, state, start, end)
        cache = self._columns.setdefault((storage.path, symbol), ColumnCache())
        image = depth_image(storage, state, start, end, columns, cache=cache)
        r = series.rollup
        return ViewData(
            request=request, symbol=symbol, start=start, end=end, width=r.width,
            t=r.t.astype(float), mid=r["mid_last"], mid_min=r["mid_min"], mid_max=r["mid_max"],
            best_bid=r["best_bid_last"], best_ask=r["best_ask_last"], spread_bps=r.mean("spread_bps"),
            imbalance=r.mean("imbalance"), bid_volume=r.mean("bid_volume"), ask_volume=r.mean("ask_volume"),
            stored=series.stored, gap_records=series.gap_records,
            heat_t=image.t.astype(float), heat_step=image.step, heat_sampled=image.sampled,
            heat_edges=image.edges, heat_rank=rank_image(image), heat_bid=image.bid, heat_ask=image.ask,
            tick=image.tick, bin_size=image.bin_size, query_ms=(time.perf_counter() - began) * 1000,
            damaged=storage.damage.count(symbol),
        )  # fmt: skip

    def cursor(self, storage: SnapshotStorage, symbol: str, ts: int, flow_window: int = 60) -> CursorView:
        sliding = self._flows.get((storage.path, symbol))
        if sliding is None or sliding.storage is not storage:  # the same path reopened: start afresh
            sliding = self._flows[(storage.path, symbol)] = SlidingOrderFlow(storage, symbol)
        at = cursor_at(storage, symbol, ts, flow_window, sliding)
        snap = at.snapshot
        return CursorView(
            symbol, ts, snap.bids if snap else None, snap.asks if snap else None, snap.update_id if snap else None,
            at.metrics, at.flow, flow_window, at.flow_problem, at.gap_reason.text if at.gap_reason else None,
        )  # fmt: skip

    def refresh(self, storage: SnapshotStorage, symbol: str) -> SymbolSpan:
        """For "follow live": a secondary catches up with its writer, then the rollups take the new seconds."""
        if storage.mode == "secondary":
            storage.catch_up()
        return span_of(self.index(storage).ensure(storage, symbol))


def _series_share(storage: SnapshotStorage, symbol: str, cache: Path | None) -> float:
    """The share of the progress the series rollups take (1.0: the heatmap phase is not expected to read much)."""
    if not likely_to_build(storage, symbol, cache):
        return 1.0
    edges = storage.first_last(symbol)
    has_series = edges is not None and next(iter(storage.series(symbol, edges[1] - 3600, edges[1])), None)
    return SERIES_SHARE if has_series else SERIES_SHARE_FROM_SNAPSHOTS


def _scaled(progress: Callable[[float], None] | None, lo: float, hi: float) -> Callable[[float], None] | None:
    """`progress` of a phase that covers [lo, hi] of the whole."""
    if progress is None:
        return None
    return lambda fraction: progress(lo + (hi - lo) * fraction)


def span_of(state: SymbolRollups) -> SymbolSpan:
    return SymbolSpan(
        state.symbol, state.first, state.last, state.stored, state.gap_records, state.holes.copy(),
        state.gap_runs.copy(), REASON_TEXT, completeness(state.stored, state.gap_records),
    )  # fmt: skip
