"""The liquidity heatmap's data: resting quantity per price bin per recorded second.

Pure: no clock, no I/O. Snapshots are duck-typed (`timestamp`, `bids`, `asks` as exchange strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, NamedTuple

import numpy as np


class LiquidityMatrix(NamedTuple):
    timestamps: np.ndarray  # int64, one per snapshot, in input order
    bin_edges: np.ndarray  # float64, price_bins + 1 edges, ascending
    matrix: np.ndarray  # float64 [snapshot, bin]: resting quantity per price bin


def liquidity_matrix(
    snapshots: Iterable[Any],
    price_bins: int,
    price_low: float | None = None,
    price_high: float | None = None,
    *,
    signed: bool = False,
) -> LiquidityMatrix:
    """Resting quantity of both sides per price bin, one row per snapshot: the data of a heatmap.

    Bins are equal-width over [price_low, price_high] (defaults: the lowest and highest price seen); like
    numpy.histogram the last bin includes its upper edge. Levels outside the range are left out. With
    `signed=True` bid quantity counts negative and ask quantity positive, so one image shows both sides.
    Rows follow the snapshots, so a gap in the recording is a jump in `timestamps`, not an empty row.
    If there is no level at all and no explicit range, the edges are NaN and the matrix is all zeros.
    """
    if price_bins < 1:
        raise ValueError(f"price_bins must be at least 1, got {price_bins}")
    snaps = list(snapshots)
    timestamps = np.array([s.timestamp for s in snaps], dtype=np.int64)

    # One flat list of strings for the whole range (price, qty, price, qty, …), parsed in one vectorised pass:
    # parsing is the cost here, 3,600 snapshots × 40 levels are nearly 300,000 strings.
    flat: list[str] = []
    n_bids: list[int] = []
    n_asks: list[int] = []
    for s in snaps:
        flat.extend(chain.from_iterable(s.bids))
        flat.extend(chain.from_iterable(s.asks))
        n_bids.append(len(s.bids))
        n_asks.append(len(s.asks))
    values = parse_decimal_strings(flat)
    prices = values[0::2]
    qtys = values[1::2]

    low = float(prices.min()) if price_low is None and prices.size else price_low
    high = float(prices.max()) if price_high is None and prices.size else price_high
    matrix = np.zeros((len(snaps), price_bins))
    if low is None or high is None:
        return LiquidityMatrix(timestamps, np.full(price_bins + 1, np.nan), matrix)
    if high < low:
        raise ValueError(f"price_high ({high}) is below price_low ({low})")
    if high == low:
        # A single price (one level, or a frozen book): widen a little so the bins have a width.
        pad = abs(low) * 1e-6 or 1e-6
        low, high = low - pad, high + pad
    edges = np.linspace(low, high, price_bins + 1)

    per_snap = np.asarray(n_bids, dtype=np.int64) + np.asarray(n_asks, dtype=np.int64)
    rows = np.repeat(np.arange(len(snaps)), per_snap)
    if signed:
        # Within each snapshot the bids come first: position < its bid count means a bid.
        starts = np.repeat(np.cumsum(per_snap) - per_snap, per_snap)
        is_bid = (np.arange(rows.size) - starts) < np.repeat(np.asarray(n_bids, dtype=np.int64), per_snap)
        qtys = np.where(is_bid, -qtys, qtys)

    bins = np.searchsorted(edges, prices, side="right") - 1
    bins[prices == edges[-1]] = price_bins - 1  # the top edge belongs to the last bin
    keep = (bins >= 0) & (bins < price_bins)
    flat_index = rows[keep] * price_bins + bins[keep]
    matrix += np.bincount(flat_index, weights=qtys[keep], minlength=len(snaps) * price_bins).reshape(
        len(snaps), price_bins
    )
    return LiquidityMatrix(timestamps, edges, matrix)


# Doubles hold every integer up to 2**53 exactly; 15 decimal digits stay below it.
_MAX_EXACT_DIGITS = 15
_DOT = ord(".")


def parse_decimal_strings(strings: Sequence[str]) -> np.ndarray:
    """float64 of each plain decimal string ("67650.01000000"), equal to float(s), several times faster.

    Why: float() costs ~100–200 ns a string, the bulk of a heatmap over an hour. Exchange strings of the same
    length share one layout (the dot in the same column), so each such group is parsed with one matrix
    product: digits @ powers of ten gives the exact integer mantissa, and one division by 10**decimals
    rounds it exactly like float() does. Anything else (signs, exponents, over 15 digits) goes to float().
    """
    raw = np.array(strings, dtype="S")
    out = np.empty(raw.size)
    if raw.size == 0:
        return out
    chars = raw.view(np.uint8).reshape(raw.size, raw.dtype.itemsize)
    lengths = np.char.str_len(raw)
    for length in np.flatnonzero(np.bincount(lengths)).tolist():  # each string length present
        rows = np.flatnonzero(lengths == length)
        parsed = _parse_same_layout(chars[rows, :length])
        out[rows] = parsed if parsed is not None else [float(s) for s in raw[rows]]
    return out


def _parse_same_layout(block: np.ndarray) -> np.ndarray | None:
    """Parse rows of equal length whose dot (if any) is in the first row's column; None if they are not so."""
    length = block.shape[1]
    dot_cols = np.flatnonzero(block[0] == _DOT)
    n_digits = length - len(dot_cols)
    if len(dot_cols) > 1 or not 1 <= n_digits <= _MAX_EXACT_DIGITS:
        return None
    digits = block - np.uint8(ord("0"))  # uint8 arithmetic: any non-digit wraps to a value above 9
    exponents = np.arange(length - 1, -1, -1, dtype=np.float64)
    decimals = 0
    if len(dot_cols):
        dot = int(dot_cols[0])
        if not (block[:, dot] == _DOT).all():
            return None
        digits[:, dot] = 0
        exponents[:dot] -= 1  # digits left of the dot skip the dot's column
        decimals = length - dot - 1
    if (digits > 9).any():
        return None
    weights = 10.0**exponents
    if len(dot_cols):
        weights[int(dot_cols[0])] = 0.0
    return (digits @ weights) / 10.0**decimals
