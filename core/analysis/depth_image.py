"""The heatmap of a view: resting bid and ask quantity per (time column, price bin), and its colour scale.

A view of any length gets at most `columns` time columns. Each column is time-averaged: its span is cut into
`k` equal sub-spans (k divides the column's seconds, k ≤ `samples // columns`), each sub-span is read at its
latest stored second, and the column holds the mean resting quantity of the sub-spans that have one. When a
column covers no more seconds than that (k = its seconds) it is the exact mean of its stored seconds; wider, the
mean of `k` evenly spread seconds, so a view costs at most `samples` reads at any zoom, from a second to months.
Sub-spans start on multiples of their width, so a pan or a 2x zoom finds most of them parsed (ColumnCache).
Price bins are a whole number of ticks (1, 2 or 5 × 10^k ticks) chosen so the view's price range fits in
`max_bins` bins.

Colours come from ranks, not sizes: each side's non-empty cells are ranked against the others of the view
(percentile, 0..1], so one wall does not wash the rest out. `rank_image` returns bids as −rank and asks as
+rank, one image for a two-hue colour map.

A view whose columns are 1 to 3 minutes wide, or 20 minutes and more (views from about 12 hours to 1.5 days, and
of ten days or more; their columns are then made an hour wide) is drawn from the heatmap rollup rows instead (core.analysis.heat_rollups: per minute and per
hour, the resting quantity per price bin summed over the stored seconds), so each column is the exact mean of
every stored second in its span, and a month costs 720 hour rows.
Minutes without a row (recording started or stopped in them) are filled from their seconds when they are few
(at most `samples` seconds); otherwise, and when a view's bin is narrower than a row's price unit, the view is
sampled from the seconds as above.

Blocking for the reads (`depth_image`); the rest is pure numpy.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from itertools import chain

import numpy as np

from core.analysis.browse import LEVEL_ERRORS, SymbolRollups, decode_tolerant
from core.analysis.decimals import parse_decimal_strings
from core.analysis.heat_rollups import HOUR, MINUTE, HeatTable, join_tables, table_of
from core.analysis.heat_rollups_build import fill_minutes, read_table, stored_minutes
from core.analysis.history import checked_levels
from core.storage.snapshot import OrderBookSnapshot, raw_sides
from core.storage.store import SnapshotStorage

MAX_BINS = 240
SAMPLES = 1200  # books read per view at most (columns x sub-spans): about 2 per column of a full-width chart
OCCUPIED = 0.05  # the smallest |value| of an occupied cell in rank_image
# Columns up to 3 minutes wide are drawn from minute rows (at most ~2,000 rows a view), an hour or wider from hour
# rows; in between, minute rows would mean up to 20,000 rows of ~85 bins a view, slower than sampling the seconds.
MINUTE_ROWS_STEP = 180
# Columns of 20 or 30 minutes (views of 10 to 14 days) are drawn an hour wide from hour rows: 240-345 columns,
# exact, instead of 480-690 sampled ones.
HOUR_ROWS_FROM = 1200


@dataclass(frozen=True, slots=True)
class DepthImage:
    t: np.ndarray  # int64 start second of each column
    step: int  # seconds per column
    sampled: np.ndarray  # int64 latest stored second the column averages, -1 when nothing is stored in its span
    edges: np.ndarray  # float64 price bin edges, ascending (bins + 1)
    bid: np.ndarray  # float64 [column, bin] resting bid quantity, the mean over the column's sub-spans
    ask: np.ndarray
    tick: float
    bin_size: float
    averaged: np.ndarray  # int64 [column]: how many stored seconds the column's mean is over (0: none)
    sub_step: int  # seconds per sub-span (== step: one second read per column)

    @property
    def empty(self) -> bool:
        return not self.bid.size or not (self.sampled >= 0).any()


def tick_of(prices: list[str]) -> float:
    """The tick of exchange price strings: 10^-d for the most significant decimals d seen."""
    decimals = 0
    for p in prices:
        _, dot, frac = p.partition(".")
        if dot:
            decimals = max(decimals, len(frac.rstrip("0")))
    return 10.0**-decimals


def nice_bin(tick: float, raw: float) -> float:
    """The smallest 1, 2 or 5 × 10^k ticks at least `raw` wide (at least one tick)."""
    if not math.isfinite(raw) or raw <= tick:
        return tick
    ticks = raw / tick
    magnitude = 10 ** math.floor(math.log10(ticks))
    for m in (1, 2, 5, 10):
        if m * magnitude >= ticks - 1e-9:
            return tick * m * magnitude
    return tick * 10 * magnitude  # pragma: no cover


# Seconds per column: "nice" steps, with column starts on multiples of the step, so that a pan or a 2x zoom
# finds most of its columns already parsed in the ColumnCache.
STEPS = (1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200,
         86400, 172800, 604800)  # fmt: skip


def column_step(span: int, columns: int) -> int:
    raw = span / max(1, columns)
    return next((s for s in STEPS if s >= raw), math.ceil(raw))


def sample_seconds(
    state: SymbolRollups, start: int, end: int, columns: int, samples: int = 0
) -> tuple[np.ndarray, int, np.ndarray, int]:
    """Column starts (multiples of the step), seconds per column, the stored second each sub-span shows (its
    latest one; -1 when there is none), [column, sub-span], and the sub-span's seconds. `samples` (0: one per
    column) caps the sub-spans of the whole view."""
    span = max(1, end - start + 1)
    step = column_step(span, columns)
    t = np.arange(start // step * step, end + 1, step, dtype=np.int64)
    k = sub_spans(step, max(1, samples // max(1, len(t))))
    sub = step // k
    starts = np.arange(int(t[0]), int(t[-1]) + step, sub, dtype=np.int64)
    sampled = state.latest_stored_at_or_before(starts + sub - 1)
    sampled = np.where(sampled >= starts, sampled, -1).reshape(len(t), k)
    return t, step, sampled, sub


def sub_spans(step: int, most: int) -> int:
    """The largest divisor of `step` not above `most` (at least 1): sub-spans of whole, equal seconds."""
    return max(d for d in range(1, min(step, most) + 1) if step % d == 0)


Parsed = tuple[np.ndarray, np.ndarray, int]  # prices, quantities (bids first, then asks), number of bids


class ColumnCache:
    """Parsed books by second (least recently used dropped past `capacity`): a pan or zoom reads and parses
    only the columns it has not seen."""

    def __init__(self, capacity: int = 40_000) -> None:
        self.capacity = capacity
        self._items: OrderedDict[int, Parsed] = OrderedDict()
        self._lock = threading.Lock()

    def get_many(self, seconds) -> dict[int, Parsed]:
        with self._lock:
            found = {}
            for ts in seconds:
                item = self._items.get(ts)
                if item is not None:
                    self._items.move_to_end(ts)
                    found[ts] = item
            return found

    def put_many(self, items: dict[int, Parsed]) -> None:
        with self._lock:
            self._items.update(items)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)


_PAIRS = frozenset((2,))


def parse_books(snaps: list[OrderBookSnapshot]) -> dict[int, Parsed]:
    """Prices and quantities of many books in one vectorised parse. ValueError when a level is not a pair
    of numbers (a damaged snapshot: the caller checks every level and parses the rest again)."""
    flat: list[str] = []
    sizes = []
    for snap in snaps:
        if not _PAIRS.issuperset(map(len, snap.bids)) or not _PAIRS.issuperset(map(len, snap.asks)):
            raise ValueError(f"{snap.symbol} snapshot at {snap.timestamp} has a level that is not a pair")
        flat.extend(chain.from_iterable(snap.bids))
        flat.extend(chain.from_iterable(snap.asks))
        sizes.append((len(snap.bids), len(snap.asks)))
    values = parse_decimal_strings(flat) if flat else np.empty(0)
    out = {}
    pos = 0
    for snap, (nb, na) in zip(snaps, sizes, strict=True):
        block = values[pos : pos + 2 * (nb + na)]
        out[snap.timestamp] = (block[0::2], block[1::2], nb)
        pos += 2 * (nb + na)
    return out


def parse_raw(items: list[tuple[int, bytes]]) -> tuple[dict[int, Parsed], list[str]] | None:
    """`parse_books` of stored values straight from their MessagePack, the strings left as bytes (no snapshot
    made: half the cost of a sampled view), and the last book's prices (for its tick); None when any value is
    not plainly the contract's (shape, key's second, levels of two decimal strings): the caller then decodes
    them one by one, which counts the damage."""
    flat: list[bytes] = []
    sizes: list[tuple[int, int, int]] = []
    for ts, value in items:
        sides = raw_sides(ts, value)
        if sides is None:
            return None
        bids, asks = sides
        if not _PAIRS.issuperset(map(len, bids)) or not _PAIRS.issuperset(map(len, asks)):
            return None
        flat.extend(chain.from_iterable(bids))
        flat.extend(chain.from_iterable(asks))
        sizes.append((ts, len(bids), len(asks)))
    raw = np.array(flat)
    if flat and raw.dtype.kind != "S":  # a level that is not two strings
        return None
    try:
        values = parse_decimal_strings(raw) if flat else np.empty(0)
    except LEVEL_ERRORS:
        return None
    out: dict[int, Parsed] = {}
    pos = 0
    for ts, nb, na in sizes:
        block = values[pos : pos + 2 * (nb + na)]
        out[ts] = (block[0::2], block[1::2], nb)
        pos += 2 * (nb + na)
    tick_sample = []
    if sizes:
        _, nb, na = sizes[-1]
        tick_sample = [p.decode() for p in flat[len(flat) - 2 * (nb + na) :: 2]]
    return out, tick_sample


def depth_image(
    storage: SnapshotStorage,
    state: SymbolRollups,
    start: int,
    end: int,
    columns: int,
    max_bins: int = MAX_BINS,
    price_range: tuple[float, float] | None = None,
    cache: ColumnCache | None = None,
    samples: int = SAMPLES,
    rollups: bool = True,
) -> DepthImage:
    """`rollups=False` samples the seconds even where the heatmap rollup rows could give the view."""
    step = column_step(max(1, end - start + 1), columns)
    if rollups and (MINUTE <= step <= MINUTE_ROWS_STEP or step >= HOUR_ROWS_FROM):
        step = max(step, HOUR) if step >= HOUR_ROWS_FROM else step
        image = rollup_image(storage, state, start, end, columns, max_bins, price_range, samples, step)
        if image is not None:
            return image
    t, step, grid, sub = sample_seconds(state, start, end, columns, samples)
    flat = grid.ravel()
    wanted = [int(ts) for ts in flat if ts >= 0]
    symbol = state.symbol
    parsed = cache.get_many(wanted) if cache is not None else {}
    missing = [ts for ts in wanted if ts not in parsed]
    tick_sample: list[str] = []
    if missing:
        if sub == 1 and len(missing) == len(wanted):  # every second: one range scan beats a read each
            items = list(storage.range(symbol, missing[0], missing[-1]))
        else:
            get = storage.get
            items = [(ts, v) for ts in missing if (v := get(symbol, ts)) is not None]
        plain = parse_raw(items)
        if plain is not None:
            fresh, tick_sample = plain
        else:  # not all plainly the contract's: decoded one by one, the damaged ones left out (and counted)
            snaps = decode_tolerant(storage, symbol, items)
            try:
                fresh = parse_books(snaps)
            except LEVEL_ERRORS:  # a damaged level: check every one, leave those out (counted), again
                snaps = checked_levels(storage, symbol, snaps)
                fresh = parse_books(snaps)
            if snaps:
                tick_sample = [p for p, _ in snaps[-1].bids + snaps[-1].asks]
        parsed.update(fresh)
        if cache is not None:
            cache.put_many(fresh)
    flat = np.array([ts if ts in parsed else -1 for ts in flat.tolist()], dtype=np.int64)
    tick = state_tick(state, tick_sample, storage)
    fine = matrix_of([parsed.get(int(ts)) for ts in flat], flat, sub, flat, tick, max_bins, price_range)
    return averaged(fine, t, step, flat.reshape(grid.shape))


def rollup_image(
    storage: SnapshotStorage,
    state: SymbolRollups,
    start: int,
    end: int,
    columns: int,
    max_bins: int = MAX_BINS,
    price_range: tuple[float, float] | None = None,
    fill: int = SAMPLES,
    step: int = 0,
) -> DepthImage | None:
    """The view from the heatmap rollup rows, each column the exact mean over its stored seconds (`step`
    seconds wide, a minute or an hour multiple; 0: chosen from `columns`); None when the rows cannot give it
    (more than `fill` stored seconds without a row, or a bin finer than a row's unit)."""
    span = max(1, end - start + 1)
    step = step or column_step(span, columns)
    t = np.arange(start // step * step, end + 1, step, dtype=np.int64)
    lo_t, hi_t = int(t[0]), int(t[-1]) + step - 1
    tables: list[HeatTable] = []
    hours: set[int] = set()
    if step % HOUR == 0:
        tables.append(read_table(storage, state.symbol, HOUR, lo_t, hi_t))
        hours = set(tables[0].starts.tolist())
    wanted = np.array([m for m in stored_minutes(state, lo_t, hi_t).tolist() if m // HOUR * HOUR not in hours],
                      dtype=np.int64)  # fmt: skip
    if len(wanted):
        minutes = read_table(storage, state.symbol, MINUTE, int(wanted[0]), int(wanted[-1]))
        tables.append(minutes.select(np.isin(minutes.starts, wanted)))
        missing = wanted[~np.isin(wanted, minutes.starts)]
        if len(missing):
            counts = state.minute.window(lo_t, hi_t)
            if int(counts["count"][np.isin(counts.t, missing)].sum()) > fill:
                return None
            filled = fill_minutes(storage, state.symbol, missing.tolist())
            if filled:
                tables.append(table_of(list(filled.values())))
    table = join_tables(tables) if tables else table_of([])
    return _image_of_rows(table, t, step, state, storage, max_bins, price_range)


def _image_of_rows(
    table: HeatTable,
    t: np.ndarray,
    step: int,
    state: SymbolRollups,
    storage: SnapshotStorage,
    max_bins: int,
    price_range: tuple[float, float] | None,
) -> DepthImage | None:
    tick = state_tick(state, [], storage)
    entry_exp = table.exponents[table.row]
    if price_range is not None:
        lo, hi = price_range
    elif len(table.bins):
        prices = table.bins * 10.0**entry_exp
        lo, hi = float(prices.min()), float(prices.max())
    else:
        lo, hi = 0.0, 1.0
    lo, bin_size, bins, edges = price_grid(lo, hi, tick, max_bins)
    cols = len(t)
    col_of = (table.starts - int(t[0])) // step
    seconds = np.bincount(col_of, weights=table.seconds, minlength=cols).astype(np.int64)
    out = {True: np.zeros(cols * bins), False: np.zeros(cols * bins)}
    for exponent in np.unique(entry_exp).tolist():  # nearly always one price unit for all the rows
        unit = 10.0**exponent
        ratio = bin_size / unit
        if abs(ratio - round(ratio)) > 1e-6 * ratio or round(ratio) < 1:
            return None  # the view's bin is not a whole number of the row's: the seconds can give it
        mine = entry_exp == exponent
        b = (table.bins[mine] - round(lo / unit)) // round(ratio)
        cells = col_of[table.row[mine]] * bins + b
        inside = (b >= 0) & (b < bins)  # a price outside a given price range is left out
        for side in (True, False):
            pick = inside & (table.is_bid[mine] == side)
            out[side] += np.bincount(cells[pick], weights=table.sums[mine][pick], minlength=cols * bins)
    scale = np.where(seconds > 0, 1.0 / np.maximum(seconds, 1), 0.0)[:, None]
    last = state.latest_stored_at_or_before(t + step - 1)
    sampled = np.where((last >= t) & (seconds > 0), last, -1)
    bid, ask = out[True].reshape(cols, bins) * scale, out[False].reshape(cols, bins) * scale
    return DepthImage(t, step, sampled, edges, bid, ask, tick, bin_size, seconds, 1)


def price_grid(lo: float, hi: float, tick: float, max_bins: int) -> tuple[float, float, int, np.ndarray]:
    """The view's price bins over [lo, hi]: first edge, width (a nice number of ticks), count, edges."""
    bin_size = nice_bin(tick, (hi - lo) / max_bins)
    lo = math.floor(lo / bin_size + 1e-9) * bin_size
    bins = max(1, math.ceil((hi - lo) / bin_size + 1e-9))
    if lo + bins * bin_size <= hi:
        bins += 1
    return lo, bin_size, bins, lo + bin_size * np.arange(bins + 1)


def averaged(fine: DepthImage, t: np.ndarray, step: int, grid: np.ndarray) -> DepthImage:
    """The sub-span image `fine` ([column × k, bin]) as `t`'s columns: the mean of each column's sub-spans that
    hold a book (`grid` [column, k] of their seconds, -1: none)."""
    cols, k = grid.shape
    present = grid >= 0
    n = present.sum(axis=1)
    scale = np.where(n > 0, 1.0 / np.maximum(n, 1), 0.0)[:, None]
    bins = fine.bid.shape[1]
    bid = fine.bid.reshape(cols, k, bins).sum(axis=1) * scale
    ask = fine.ask.reshape(cols, k, bins).sum(axis=1) * scale
    sampled = grid.max(axis=1)
    return DepthImage(t, step, sampled, fine.edges, bid, ask, fine.tick, fine.bin_size, n.astype(np.int64),
                      step // k)  # fmt: skip


_TICKS: dict[tuple[str, str], float] = {}


def state_tick(state: SymbolRollups, sample: list[str], storage: SnapshotStorage) -> float:
    """The symbol's tick, from the price strings of a stored book (remembered per database and symbol)."""
    key = (storage.path, state.symbol)
    if key not in _TICKS:
        if not sample:
            value = storage.get(state.symbol, state.last)
            snaps = decode_tolerant(storage, state.symbol, [(state.last, value)]) if value is not None else []
            snaps = checked_levels(storage, state.symbol, snaps)
            sample = [p for p, _ in snaps[0].bids + snaps[0].asks] if snaps else []
        if not sample:
            return 0.01
        _TICKS[key] = tick_of(sample)
    return _TICKS[key]


def matrix_of(
    books: list[Parsed | None],
    t: np.ndarray,
    step: int,
    sampled: np.ndarray,
    tick: float,
    max_bins: int = MAX_BINS,
    price_range: tuple[float, float] | None = None,
) -> DepthImage:
    """Bin the columns' books: the pure part of `depth_image`."""
    present = [(i, b) for i, b in enumerate(books) if b is not None]
    if present:
        prices = np.concatenate([b[0] for _, b in present])
        qtys = np.concatenate([b[1] for _, b in present])
        n_bid = np.array([b[2] for _, b in present], dtype=np.int64)
        per = np.array([len(b[0]) for _, b in present], dtype=np.int64)
    else:
        prices = qtys = np.empty(0)
        n_bid = per = np.empty(0, dtype=np.int64)
    if price_range is not None:
        lo, hi = price_range
    elif prices.size:
        lo, hi = float(prices.min()), float(prices.max())
    else:
        lo, hi = 0.0, 1.0
    lo, bin_size, bins, edges = price_grid(lo, hi, tick, max_bins)
    cols = len(t)
    bid = np.zeros((cols, bins))
    ask = np.zeros((cols, bins))
    if prices.size:
        rows = np.repeat(np.array([i for i, _ in present], dtype=np.int64), per)
        starts = np.repeat(np.cumsum(per) - per, per)
        is_bid = (np.arange(rows.size) - starts) < np.repeat(n_bid, per)
        b = np.floor((prices - lo) / bin_size + 1e-9).astype(np.int64)
        keep = (b >= 0) & (b < bins)
        for side, mask in ((bid, is_bid & keep), (ask, ~is_bid & keep)):
            side += np.bincount(
                rows[mask] * bins + b[mask], weights=qtys[mask], minlength=cols * bins
            ).reshape(cols, bins)
    return DepthImage(
        t, step, sampled, edges, bid, ask, tick, bin_size, (sampled >= 0).astype(np.int64), step
    )


def percentile_ranks(values: np.ndarray) -> np.ndarray:
    """Each non-zero cell's rank among the non-zero cells, as a fraction in (0, 1]; zeros stay 0."""
    out = np.zeros(values.shape, dtype=np.float32)
    flat = values.ravel()
    nz = np.flatnonzero(flat > 0)
    if nz.size:
        order = np.argsort(flat[nz], kind="stable")
        ranks = np.empty(nz.size, dtype=np.float32)
        ranks[order] = np.arange(1, nz.size + 1, dtype=np.float32) / nz.size
        out.ravel()[nz] = ranks
    return out


def rank_image(image: DepthImage) -> np.ndarray:
    """float32 [column, bin] in [-1, 1]: −rank where bids rest, +rank where asks do (the larger quantity wins
    a bin both sides share), 0 where nothing does."""
    # Occupied cells sit at least OCCUPIED from 0, so the colour map tells a small level from an empty bin.
    bid_rank = np.where(image.bid > 0, OCCUPIED + (1 - OCCUPIED) * percentile_ranks(image.bid), 0.0)
    ask_rank = np.where(image.ask > 0, OCCUPIED + (1 - OCCUPIED) * percentile_ranks(image.ask), 0.0)
    return np.where(image.ask > image.bid, ask_rank, -bid_rank).astype(np.float32)
