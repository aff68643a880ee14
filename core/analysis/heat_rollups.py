"""Heatmap rollups: the resting bid and ask quantity of a minute (or an hour) per price bin, summed over its
stored seconds, so a heatmap column of any span of whole minutes is the exact time average of its seconds
(Σ sums ÷ Σ stored seconds: a mean of means weighted by seconds) without reading a snapshot.

Price bins are absolute: bin `i` holds the prices in [i × unit, (i + 1) × unit), `unit` = 10^exponent. A row's
unit is the finest tick its price strings show (10^-decimals), made 10x coarser while its prices would span more
than MAX_ROW_BINS bins (a fast minute of a fine-ticked symbol), so a row stays under ~48 KB; an hour row is
kept to HOUR_ROW_BINS bins a side the same way. A view's bins are
1, 2 or 5 × 10^k ticks (core.analysis.depth_image.nice_bin), so any view bin at least as wide as a row's unit is
a whole number of its bins, aligned: a view bin is the exact sum of the stored bins inside it. A view bin
narrower than a row's unit cannot be derived from it; the reader then takes the seconds (never an
approximation). Only bins holding quantity are stored (sparse).

Rows are built from the books of the minute in time order: by `numbers_row` while recording (core.analysis.
minute_rows), from the levels as numbers the recorder's book read as it copied them (a tenth of the cost), and by
`minute_row` from the stored strings when a build fills them in later (core.analysis.heat_rollups_build); the
two give the same bytes (see `numbers_row`). `hour_row` merges the 60 minute rows of an hour the recorder
watched whole.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.market.wire import DECIMALS as TICK_DECIMALS  # a tick is 1e-8 of a price unit

try:
    from core.analysis._heat_bins import minute_bins
except ImportError:  # not built (a source tree run without `pip install`): numpy does it all
    minute_bins = None

MINUTE = 60
HOUR = 3600
MAX_ROW_BINS = 2000  # per side; a finer minute row is coarsened 10x until it fits
# An hour row is read by views of two weeks or more, whose bins are far wider than an hour's price range ÷ 200,
# so it is kept that coarse: a month is then 720 rows of a few dozen bins, not of hundreds.
HOUR_ROW_BINS = 200
_VERSION = 1
# version, start second, width (s), stored seconds, unit exponent, then per side: base bin and count; padded to
# 48 bytes so that a row, header and entries, is a whole number of 12-byte entries: many rows joined are then
# read as one array of entries (`decode_rows`), without a Python step per row.
_HEAD = struct.Struct("<BqiibqIqI6x")
_HEAD_DTYPE = np.dtype([("version", "u1"), ("start", "<i8"), ("width", "<i4"), ("seconds", "<i4"), ("exponent", "i1"),
                        ("bid_base", "<i8"), ("n_bid", "<u4"), ("ask_base", "<i8"), ("n_ask", "<u4"), ("pad", "V6")])  # fmt: skip
_ENTRY = np.dtype([("offset", "<u4"), ("sum", "<f8")])  # a bin (from its side's base) and its sum
_HEAD_ENTRIES = _HEAD.size // _ENTRY.itemsize

Levels = Sequence[Sequence[str]]  # [price, quantity] string pairs as the exchange sent them
_LEVEL = np.dtype([("ticks", "=i8"), ("qty", "=f8")])  # core.market.book_side.LEVEL_NUMBERS


@dataclass(frozen=True, slots=True)
class HeatRow:
    start: int
    width: int  # 60: a minute, 3600: an hour
    seconds: int  # stored seconds the sums are over
    exponent: int  # the price unit is 10^exponent
    bid_bins: np.ndarray  # int64 absolute bin indices (floor(price / unit)), ascending, unique
    bid_sums: np.ndarray  # float64 Σ over the stored seconds of the resting bid quantity in the bin
    ask_bins: np.ndarray
    ask_sums: np.ndarray

    @property
    def unit(self) -> float:
        return 10.0**self.exponent


def encode_row(row: HeatRow) -> bytes:
    """48 bytes of header, then an entry (uint32 bin offset from its side's base, float64 sum) per stored bin:
    the bids', then the asks'."""
    entries = np.empty(len(row.bid_bins) + len(row.ask_bins), dtype=_ENTRY)
    entries["offset"] = np.concatenate([row.bid_bins - _base(row.bid_bins), row.ask_bins - _base(row.ask_bins)])
    entries["sum"] = np.concatenate([row.bid_sums, row.ask_sums])
    head = _HEAD.pack(_VERSION, row.start, row.width, row.seconds, row.exponent, _base(row.bid_bins),
                      len(row.bid_bins), _base(row.ask_bins), len(row.ask_bins))  # fmt: skip
    return head + entries.tobytes()


def _base(bins: np.ndarray) -> int:
    return int(bins[0]) if len(bins) else 0


def decode_row(start: int, value: bytes, width: int) -> HeatRow | None:
    """The row stored under `start`, or None when it is not this layout or not that row (damaged: the reader
    then takes the seconds of its span)."""
    if len(value) < _HEAD.size:
        return None
    version, t, w, seconds, exponent, bid_base, nb, ask_base, na = _HEAD.unpack_from(value)
    if version != _VERSION or t != start or w != width or len(value) != _HEAD.size + _ENTRY.itemsize * (nb + na):
        return None
    entries = np.frombuffer(value, _ENTRY, nb + na, _HEAD.size)
    bins = entries["offset"].astype(np.int64)
    sums = entries["sum"].copy()
    return HeatRow(t, w, seconds, exponent, bid_base + bins[:nb], sums[:nb], ask_base + bins[nb:], sums[nb:])


@dataclass(frozen=True, slots=True)
class HeatTable:
    """Many rows as flat arrays: per row its first second, stored seconds and unit exponent; per stored bin its
    row, side, absolute bin and sum."""

    starts: np.ndarray  # int64 [row]
    seconds: np.ndarray  # int64 [row]
    exponents: np.ndarray  # int64 [row]
    row: np.ndarray  # int64 [entry]: index into the per-row arrays
    is_bid: np.ndarray  # bool [entry]
    bins: np.ndarray  # int64 [entry]
    sums: np.ndarray  # float64 [entry]

    def __len__(self) -> int:
        return len(self.starts)

    def select(self, keep: np.ndarray) -> HeatTable:
        """The rows where the boolean `keep` [row] is set, with their entries."""
        renumber = np.cumsum(keep) - 1
        entries = keep[self.row]
        return HeatTable(self.starts[keep], self.seconds[keep], self.exponents[keep], renumber[self.row[entries]],
                         self.is_bid[entries], self.bins[entries], self.sums[entries])  # fmt: skip


def decode_rows(items: Sequence[tuple[int, bytes]], width: int) -> tuple[HeatTable, list[int]]:
    """Rows read back as (first second, value) pairs, in one numpy pass; also the first seconds of the rows
    left out because they are not this layout or not that row (damaged)."""
    size = _ENTRY.itemsize
    good = [(ts, v) for ts, v in items if len(v) >= _HEAD.size and len(v) % size == 0]
    joined = b"".join(v for _, v in good)
    records = np.frombuffer(joined, dtype=np.uint8).reshape(-1, size)
    lengths = np.fromiter((len(v) // size for _, v in good), np.int64, count=len(good))
    first = np.cumsum(lengths) - lengths
    heads = records[first[:, None] + np.arange(_HEAD_ENTRIES)].reshape(-1).view(_HEAD_DTYPE)
    keys = np.fromiter((ts for ts, _ in good), np.int64, count=len(good))
    nb, na = heads["n_bid"].astype(np.int64), heads["n_ask"].astype(np.int64)
    ok = (heads["version"] == _VERSION) & (heads["start"] == keys) & (heads["width"] == width)
    ok &= lengths == _HEAD_ENTRIES + nb + na
    bad = [ts for ts, v in items if len(v) < _HEAD.size or len(v) % size] + keys[~ok].tolist()
    counts = np.where(ok, nb + na, 0)
    row = np.repeat(np.arange(len(good)), counts)
    within = np.arange(len(row)) - np.repeat(np.cumsum(counts) - counts, counts)
    entries = records[np.repeat(first + _HEAD_ENTRIES, counts) + within].reshape(-1).view(_ENTRY)
    is_bid = within < nb[row]
    bins = entries["offset"].astype(np.int64) + np.where(is_bid, heads["bid_base"][row], heads["ask_base"][row])
    keep = np.flatnonzero(ok)
    renumber = np.cumsum(ok) - 1  # the rows kept, numbered anew
    table = HeatTable(keys[keep], heads["seconds"][keep].astype(np.int64), heads["exponent"][keep].astype(np.int64),
                      renumber[row], is_bid, bins, entries["sum"].copy())  # fmt: skip
    return table, bad


def table_of(rows: Sequence[HeatRow]) -> HeatTable:
    """Rows already decoded (or just built) as a table."""
    table, _ = decode_rows([(r.start, encode_row(r)) for r in rows], rows[0].width if rows else MINUTE)
    return table


def join_tables(tables: Sequence[HeatTable]) -> HeatTable:
    offsets = np.cumsum([0] + [len(t) for t in tables[:-1]])
    return HeatTable(*(np.concatenate([getattr(t, f) for t in tables]) for f in ("starts", "seconds", "exponents")),
                     np.concatenate([t.row + o for t, o in zip(tables, offsets, strict=True)]),
                     *(np.concatenate([getattr(t, f) for t in tables]) for f in ("is_bid", "bins", "sums")))  # fmt: skip


def _decimals(price: str | bytes) -> int:
    if type(price) is bytes:  # a build decodes the stored values raw (a third less decoding): bytes strings
        _, dot, frac = price.partition(b".")
        return len(frac.rstrip(b"0")) if dot else 0
    _, dot, frac = price.partition(".")
    return len(frac.rstrip("0")) if dot else 0


def _side_sums(books: Iterable[Levels]) -> dict[str, float]:
    """Σ quantity per price over the books' levels of one side (parsed as they are added, no list)."""
    sums: dict[str, float] = {}
    get = sums.get
    for levels in books:
        for price, qty in levels:
            sums[price] = get(price, 0.0) + float(qty)
    return sums


def minute_row(start: int, books: Sequence[tuple[Levels, Levels]]) -> HeatRow:
    """The row of the minute starting at `start` from its stored books (bids, asks), one per stored second, in
    time order; the levels' strings as str, or as the ASCII bytes a raw decode gives (the same row). ValueError
    when a level is not a pair of decimal strings. `numbers_row` gives the same row from the recorder's numbers."""
    bids = _side_sums(b for b, _ in books)
    asks = _side_sums(a for _, a in books)
    decimals = max(map(_decimals, bids.keys() | asks.keys()), default=0)
    scale = 10.0**decimals
    sides = []
    for sums in (bids, asks):
        ticks = np.fromiter((round(float(p) * scale) for p in sums), np.int64, count=len(sums))
        sides.append(_merged(ticks, np.fromiter(sums.values(), np.float64, count=len(sums))))
    return _capped(HeatRow(start, MINUTE, len(books), -decimals, *sides[0], *sides[1]), MAX_ROW_BINS)


def numbers_row(start: int, books: Sequence[tuple[bytes, bytes]]) -> HeatRow:
    """`minute_row` from the books as the recorder's capture has them: each side's levels as LEVEL_NUMBERS records
    (price in 1e-8 ticks, quantity; core.market.book_side), in time order. The same row, bit for bit: the same
    bins (a price's ticks at the row's unit are exact integers, which round(float(price) x scale) is too), and each
    bin's sum is added up in the same order, second after second (`np.bincount` adds in array order, as the dict
    does). The one difference: one price spelled two ways within a minute ("1.1", "1.10"; never within one symbol
    on Binance) is one bin here from the start, where `minute_row` sums each spelling first (an ulp at most)."""
    return numbers_rows([(start, books)])[0]


def numbers_rows(minutes: Sequence[tuple[int, Sequence[tuple[bytes, bytes]]]]) -> list[HeatRow]:
    """`numbers_row` of many minutes (each its start and books): the recorder closes every symbol's minute at once.
    Each minute's bins come from the C reading where it is built and takes the minute, the others from one numpy
    pass (`numbers_rows_numpy`, the specification); each row is the one `numbers_row` gives for its minute alone."""
    if minute_bins is None:
        return numbers_rows_numpy(minutes)
    rows: list[HeatRow | None] = []
    left: list[int] = []  # the minutes the C reading declined (prices decades apart: merged by sorting)
    for start, books in minutes:
        binned = minute_bins(books) if type(books) is list else None
        if binned is None:
            left.append(len(rows))
            rows.append(None)
            continue
        decimals, (bid_bins, bid_sums), (ask_bins, ask_sums) = binned
        row = HeatRow(start, MINUTE, len(books), -decimals, np.frombuffer(bid_bins, np.int64),
                      np.frombuffer(bid_sums, np.float64), np.frombuffer(ask_bins, np.int64),
                      np.frombuffer(ask_sums, np.float64))  # fmt: skip
        rows.append(_capped(row, MAX_ROW_BINS))
    for k, row in zip(left, numbers_rows_numpy([minutes[k] for k in left]), strict=True):
        rows[k] = row
    return rows  # type: ignore[return-value]


def numbers_rows_numpy(minutes: Sequence[tuple[int, Sequence[tuple[bytes, bytes]]]]) -> list[HeatRow]:
    """`numbers_rows` in one numpy pass over every minute (1,500 small passes cost more than one large one). Each
    row is the one `numbers_row` gives for its minute alone, bit for bit (each bin's sum added in the same order)."""
    if not minutes:
        return []
    books_per_minute = np.array([len(books) for _, books in minutes], np.int64)
    sides = []
    for side in (0, 1):
        parts = [book[side] for _, books in minutes for book in books]
        records = np.frombuffer(b"".join(parts), _LEVEL)
        ends = np.zeros(len(parts) + 1, np.int64)  # records before each book, and in all
        np.cumsum(np.fromiter(map(len, parts), np.int64, count=len(parts)) // _LEVEL.itemsize, out=ends[1:])
        counts = np.diff(ends[np.cumsum(books_per_minute)], prepend=0)
        sides.append((records, np.repeat(np.arange(len(minutes)), counts), counts))
    # The decimals each minute's prices need: from the greatest common divisor of its ticks, both sides.
    divisor = np.gcd(*(_gcd_by_group(records["ticks"], counts) for records, _, counts in sides))
    zeros = sum((divisor % 10**z == 0).astype(np.int64) for z in range(1, TICK_DECIMALS + 1))  # 0 gives 8
    decimals = TICK_DECIMALS - zeros
    step = 10 ** (TICK_DECIMALS - decimals)
    merged = [_merged_by_group(counts, records["ticks"] // step[group], records["qty"])
              for records, group, counts in sides]  # fmt: skip
    rows = []
    for k, (start, books) in enumerate(minutes):
        (bid_bins, bid_sums), (ask_bins, ask_sums) = (side[k] for side in merged)
        rows.append(_capped(HeatRow(start, MINUTE, len(books), -int(decimals[k]), bid_bins, bid_sums, ask_bins,
                                    ask_sums), MAX_ROW_BINS))  # fmt: skip
    return rows


def _gcd_by_group(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The greatest common divisor of each group's values (groups laid end to end, `counts` long; 0 for none)."""
    out = np.zeros(len(counts), np.int64)
    held = counts > 0
    if held.any():  # reduceat over the starts of the groups that hold values (an empty one holds no record)
        out[held] = np.gcd.reduceat(values, (np.cumsum(counts) - counts)[held])
    return out


def hour_row(start: int, minutes: Sequence[HeatRow]) -> HeatRow:
    """The row of the hour starting at `start` from its minute rows (in time order)."""
    hour = HourSums(start)
    for minute in minutes:
        hour.add(minute)
    return hour.row()


class HourSums:
    """An hour row built as its minute rows come, in time order, so that the recorder holds one running row per
    symbol, not the hour's minute rows (~2-5 KB each: 90,000 of them by the end of an hour of the whole market).
    `hour_row` is this, so a row built later from the stored minutes is the same, bit for bit."""

    __slots__ = ("ask", "bid", "exponent", "minutes", "seconds", "start")

    def __init__(self, start: int) -> None:
        self.start = start
        self.minutes = 0  # minute rows added
        self.seconds = 0
        self.exponent: int | None = None  # None until a minute holds a price (all-gap minutes hold no unit)
        self.bid = self.ask = (np.empty(0, np.int64), np.empty(0, np.float64))  # (bins, sums) so far

    def add(self, minute: HeatRow) -> None:
        add_to_hours([(self, minute)])

    def row(self) -> HeatRow:
        exponent = 0 if self.exponent is None else self.exponent
        return _capped(HeatRow(self.start, HOUR, self.seconds, exponent, *self.bid, *self.ask), HOUR_ROW_BINS)


def add_to_hours(pairs: Sequence[tuple[HourSums, HeatRow]]) -> None:
    """Add each minute row to its hour (`HourSums.add`), all in one numpy pass: the recorder adds every symbol's
    minute at once (each hour at most once in `pairs`). Each hour ends as it would with its minutes added one by
    one: the bins summed so far come first, the minute's after them, so each bin's sums are added in that order."""
    held = []
    for hour, minute in pairs:
        hour.minutes += 1
        hour.seconds += minute.seconds
        if len(minute.bid_bins) or len(minute.ask_bins):
            held.append((hour, minute))
    if not held:
        return
    units = [m.exponent if h.exponent is None else max(h.exponent, m.exponent) for h, m in held]
    for side in ("bid", "ask"):
        parts: list[np.ndarray] = []
        for (hour, minute), unit in zip(held, units, strict=True):
            mine = unit - (unit if hour.exponent is None else hour.exponent)  # decades to coarsen the sums so far
            parts += [coarser_bins(getattr(hour, side)[0], mine), coarser_bins(getattr(minute, side + "_bins"),
                                                                               unit - minute.exponent)]  # fmt: skip
        sums = [s for hour, minute in held for s in (getattr(hour, side)[1], getattr(minute, side + "_sums"))]
        counts = [len(parts[2 * k]) + len(parts[2 * k + 1]) for k in range(len(held))]
        merged = _merged_by_group(counts, np.concatenate(parts), np.concatenate(sums))
        for k, (hour, _) in enumerate(held):
            setattr(hour, side, merged[k])
    for (hour, _), unit in zip(held, units, strict=True):
        hour.exponent = unit


def coarser_bins(bins: np.ndarray, decades: int) -> np.ndarray:
    """Bin indices at a unit 10^decades times wider (floor division keeps negative prices right too)."""
    return bins // (10**decades) if decades > 0 else bins


def _merged(bins: np.ndarray, sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique bins with the sums of the duplicates added (in array order: deterministic)."""
    if not len(bins):
        return np.empty(0, np.int64), np.empty(0, np.float64)
    unique, inverse = np.unique(bins, return_inverse=True)
    return unique.astype(np.int64), np.bincount(inverse, weights=sums, minlength=len(unique))


def _merged_by_group(counts: Sequence[int], bins: np.ndarray, sums: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """`_merged` of many groups of records laid end to end (`counts` records each), in one pass where it can.

    A group whose bins span few more than its records (a minute of one symbol's top 20: a few hundred bins) gets
    a slot per bin in one `np.bincount` over every such group: no sort, and each bin's sum added in array order,
    as `_merged` adds it, so the same floats. A group spanning far more bins (prices many decades apart) is
    merged on its own by `_merged`."""
    counts = np.asarray(counts, np.int64)
    starts = np.cumsum(counts) - counts
    lo, hi = np.zeros(len(counts), np.int64), np.full(len(counts), -1, np.int64)  # empty: a span of 0
    held = counts > 0
    if held.any():
        lo[held] = np.minimum.reduceat(bins, starts[held])
        hi[held] = np.maximum.reduceat(bins, starts[held])
    span = hi - lo + 1
    dense = span <= 4 * counts + 64
    out: list[tuple[np.ndarray, np.ndarray]] = [(np.empty(0, np.int64), np.empty(0, np.float64))] * len(counts)
    for k in np.flatnonzero(~dense):
        out[k] = _merged(bins[starts[k] : starts[k] + counts[k]], sums[starts[k] : starts[k] + counts[k]])
    if dense.any():
        slots = np.where(dense, span, 0)
        offset = np.cumsum(slots) - slots
        shift = np.repeat(offset - lo, counts)  # a record's slot is its bin shifted by its group's
        if not dense.all():
            take = np.repeat(dense, counts)
            bins, sums, shift = bins[take], sums[take], shift[take]
        slot = bins + shift
        totals = np.bincount(slot, weights=sums, minlength=int(slots.sum()))
        filled = np.bincount(slot, minlength=int(slots.sum())) > 0
        at = np.flatnonzero(filled)  # the bins held, group after group
        owner = np.searchsorted(offset, at, side="right") - 1  # offsets of empty slot ranges repeat: the last wins
        unique_bins, unique_sums = at - offset[owner] + lo[owner], totals[at]
        edges = np.searchsorted(owner, np.arange(len(counts) + 1))
        for k in np.flatnonzero(dense):
            out[k] = (unique_bins[edges[k] : edges[k + 1]], unique_sums[edges[k] : edges[k + 1]])
    return out


def _capped(row: HeatRow, limit: int) -> HeatRow:
    exponent = row.exponent
    bid = (row.bid_bins, row.bid_sums)
    ask = (row.ask_bins, row.ask_sums)
    while max(_span(bid[0]), _span(ask[0])) > limit:
        bid = _merged(coarser_bins(bid[0], 1), bid[1])
        ask = _merged(coarser_bins(ask[0], 1), ask[1])
        exponent += 1
    if exponent == row.exponent:
        return row
    return HeatRow(row.start, row.width, row.seconds, exponent, *bid, *ask)


def _span(bins: np.ndarray) -> int:
    return int(bins[-1] - bins[0] + 1) if len(bins) else 0
