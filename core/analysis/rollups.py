"""Rollups of the per-second series: one row per time bucket, so a chart of any range draws a few thousand
points at most.

A `Rollup` is a dense grid of buckets `width` seconds wide (bucket starts are multiples of `width` in UTC), each
with: how many seconds are stored (`count`) and how many have a gap record (`gaps`); the low, high and last mid;
the last best bid and ask; and sums with counts of the finite values of spread (bps), imbalance and the top-20
volumes of each side, so means stay exact when buckets are merged. A bucket without a stored second holds NaN,
which breaks a chart's line there.

Only the per-minute rollup is built and kept (`SymbolRollups`); every coarser one (5 min, 1 h, 1 day) is
`coarsen`ed from it when a view asks, in well under a millisecond for 30 days. Views of a few hours or less
are rolled up from the stored seconds themselves (`rollup_seconds`).

Pure numpy: no clock, no I/O (the blocking reads that build a `SymbolRollups` live in core.analysis.browse).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from core.storage.gaps import GapReason

# Fields of the per-second series that a rollup keeps as means (sum + count of finite values).
MEAN_FIELDS = ("spread_bps", "imbalance", "bid_volume", "ask_volume")
# Fields kept as the last finite value of the bucket.
LAST_FIELDS = ("mid", "best_bid", "best_ask")
_FLOATS = ("mid_min", "mid_max", *(f"{f}_last" for f in LAST_FIELDS), *(f"{f}_sum" for f in MEAN_FIELDS))
_INTS = ("count", "gaps", *(f"{f}_n" for f in MEAN_FIELDS))
ROLLUP_FIELDS = ("t", *_INTS, *_FLOATS)

# Gap reasons as small integers for arrays; index into this tuple.
GAP_REASONS: tuple[GapReason, ...] = tuple(GapReason)
_REASON_CODE = {reason: code for code, reason in enumerate(GAP_REASONS)}


def reason_code(reason: GapReason) -> int:
    return _REASON_CODE[reason]


@dataclass(frozen=True, slots=True)
class Rollup:
    """Buckets `width` seconds wide from `t[0]`, contiguous; `arrays` holds every name of ROLLUP_FIELDS."""

    width: int
    arrays: Mapping[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["t"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.arrays[name]

    @property
    def t(self) -> np.ndarray:
        return self.arrays["t"]

    def mean(self, field: str) -> np.ndarray:
        """The mean of a MEAN_FIELDS field per bucket; NaN where the bucket has no finite value."""
        n = self.arrays[f"{field}_n"]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n > 0, self.arrays[f"{field}_sum"] / np.maximum(n, 1), np.nan)

    def window(self, start: int, end: int) -> Rollup:
        """The buckets that overlap [start, end]."""
        t = self.t
        lo = int(np.searchsorted(t, start - self.width + 1, side="left"))
        hi = int(np.searchsorted(t, end, side="right"))
        return Rollup(self.width, {k: v[lo:hi] for k, v in self.arrays.items()})


def empty_rollup(width: int) -> Rollup:
    return _blank(width, 0, 0)


def _blank(width: int, t0: int, n: int) -> Rollup:
    arrays: dict[str, np.ndarray] = {"t": t0 + width * np.arange(n, dtype=np.int64)}
    for name in _INTS:
        arrays[name] = np.zeros(n, dtype=np.int64)
    for name in _FLOATS:
        arrays[name] = np.full(n, np.nan) if not name.endswith("_sum") else np.zeros(n)
    return Rollup(width, arrays)


def rollup_seconds(
    series: Mapping[str, np.ndarray],
    width: int,
    start: int,
    end: int,
    gap_seconds: np.ndarray | None = None,
) -> Rollup:
    """Roll per-second rows (`timestamp` ascending, unique; SERIES_FIELDS columns) up into the buckets that
    cover [start, end]. Rows outside [start, end] are left out; `gap_seconds` are the seconds with a gap record.
    width=1 gives one bucket per second: the stored values themselves, NaN where nothing is stored."""
    if width < 1:
        raise ValueError(f"width must be at least 1 s, got {width}")
    t0 = start // width * width
    n = max(0, (end // width * width - t0) // width + 1) if end >= start else 0
    out = _blank(width, t0, n)
    a = out.arrays
    ts = np.asarray(series["timestamp"], dtype=np.int64)
    keep = (ts >= start) & (ts <= end)
    if not keep.all():
        series = {k: np.asarray(v)[keep] for k, v in series.items()}
        ts = ts[keep]
    if gap_seconds is not None and len(gap_seconds):
        g = np.asarray(gap_seconds, dtype=np.int64)
        g = g[(g >= start) & (g <= end)]
        a["gaps"][:] = np.bincount((g - t0) // width, minlength=n)[:n]
    if not len(ts):
        return out
    idx = (ts - t0) // width
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    groups = idx[starts]
    a["count"][groups] = np.diff(np.r_[starts, len(idx)])
    mid = np.asarray(series["mid"], dtype=np.float64)
    a["mid_min"][groups] = np.fmin.reduceat(mid, starts)
    a["mid_max"][groups] = np.fmax.reduceat(mid, starts)
    positions = np.arange(len(ts))
    for field in LAST_FIELDS:
        values = np.asarray(series[field], dtype=np.float64)
        last = np.maximum.reduceat(np.where(np.isfinite(values), positions, -1), starts)
        a[f"{field}_last"][groups] = np.where(last >= 0, values[np.maximum(last, 0)], np.nan)
    for field in MEAN_FIELDS:
        values = np.asarray(series[field], dtype=np.float64)
        finite = np.isfinite(values)
        a[f"{field}_sum"][groups] = np.add.reduceat(np.where(finite, values, 0.0), starts)
        a[f"{field}_n"][groups] = np.add.reduceat(finite.astype(np.int64), starts)
    return out


def coarsen(rollup: Rollup, factor: int) -> Rollup:
    """Merge every `factor` buckets into one, aligned so that the new bucket starts are multiples of the new
    width (an hour's buckets start on the hour)."""
    if factor <= 1 or not len(rollup):
        return rollup
    width = rollup.width * factor
    t0 = int(rollup.t[0])
    lead = (t0 // rollup.width) % factor
    n_new = -(-(len(rollup) + lead) // factor)
    total = n_new * factor
    pad_after = total - lead - len(rollup)
    padded = _concat([_blank(rollup.width, t0 - lead * rollup.width, lead), rollup,
                      _blank(rollup.width, t0 + len(rollup) * rollup.width, pad_after)])  # fmt: skip
    p = padded.arrays
    out: dict[str, np.ndarray] = {"t": p["t"][::factor].copy()}
    for name in _INTS:
        out[name] = p[name].reshape(n_new, factor).sum(axis=1)
    for name in _FLOATS:
        if name.endswith("_sum"):
            out[name] = p[name].reshape(n_new, factor).sum(axis=1)
    out["mid_min"] = np.fmin.reduce(p["mid_min"].reshape(n_new, factor), axis=1)
    out["mid_max"] = np.fmax.reduce(p["mid_max"].reshape(n_new, factor), axis=1)
    cols = np.arange(factor)
    for field in LAST_FIELDS:
        values = p[f"{field}_last"].reshape(n_new, factor)
        last = np.where(np.isfinite(values), cols, -1).max(axis=1)
        out[f"{field}_last"] = np.where(last >= 0, values[np.arange(n_new), np.maximum(last, 0)], np.nan)
    return Rollup(width, out)


def combine(earlier: Rollup, later: Rollup) -> Rollup:
    """Two rollups of the same width on the same grid as one; in a bucket both cover, counts and sums add,
    lows and highs combine and the last values are `later`'s where it has them (its seconds come after)."""
    if earlier.width != later.width:
        raise ValueError("rollups of different widths cannot be combined")
    if not len(earlier):
        return later
    if not len(later):
        return earlier
    w = earlier.width
    t0 = min(int(earlier.t[0]), int(later.t[0]))
    t1 = max(int(earlier.t[-1]), int(later.t[-1]))
    out = _blank(w, t0, (t1 - t0) // w + 1)
    o = out.arrays
    for part in (earlier, later):
        s = slice((int(part.t[0]) - t0) // w, (int(part.t[0]) - t0) // w + len(part))
        src = part.arrays
        for name in _INTS:
            o[name][s] += src[name]
        for name in _FLOATS:
            if name.endswith("_sum"):
                o[name][s] += src[name]
        o["mid_min"][s] = np.fmin(o["mid_min"][s], src["mid_min"])
        o["mid_max"][s] = np.fmax(o["mid_max"][s], src["mid_max"])
        for field in LAST_FIELDS:
            name = f"{field}_last"
            o[name][s] = np.where(np.isfinite(src[name]), src[name], o[name][s])
    return out


def _concat(parts: list[Rollup]) -> Rollup:
    return Rollup(parts[0].width, {k: np.concatenate([p.arrays[k] for p in parts]) for k in ROLLUP_FIELDS})


# ---- holes and gap runs ---------------------------------------------------------------------------------


def holes_between(seconds: np.ndarray, before: int | None = None) -> np.ndarray:
    """Inclusive runs [(first, last), ...] of seconds without a snapshot between stored `seconds` (ascending);
    `before`, if given, is the stored second just before them (a hole between it and the first counts)."""
    ts = np.asarray(seconds, dtype=np.int64)
    if before is not None:
        ts = np.r_[np.int64(before), ts]
    if len(ts) < 2:
        return np.empty((0, 2), dtype=np.int64)
    jumps = np.flatnonzero(np.diff(ts) > 1)
    return np.column_stack([ts[jumps] + 1, ts[jumps + 1] - 1]).astype(np.int64)


def gap_runs(seconds: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Gap records (ascending seconds, reason codes) as runs [(first, last, code), ...] of consecutive seconds
    with the same reason."""
    ts = np.asarray(seconds, dtype=np.int64)
    cs = np.asarray(codes, dtype=np.int64)
    if not len(ts):
        return np.empty((0, 3), dtype=np.int64)
    breaks = np.flatnonzero((np.diff(ts) != 1) | (np.diff(cs) != 0))
    firsts = np.r_[0, breaks + 1]
    lasts = np.r_[breaks, len(ts) - 1]
    return np.column_stack([ts[firsts], ts[lasts], cs[firsts]]).astype(np.int64)


def merge_runs(earlier: np.ndarray, later: np.ndarray) -> np.ndarray:
    """Two run arrays ((first, last[, code]) rows, `later` after `earlier`) with a run that continues across
    the seam joined into one."""
    if not len(earlier):
        return later
    if not len(later):
        return earlier
    a, b = earlier[-1], later[0]
    same = b[0] == a[1] + 1 and (len(a) < 3 or a[2] == b[2])
    if not same:
        return np.concatenate([earlier, later])
    joined = a.copy()
    joined[1] = b[1]
    return np.concatenate([earlier[:-1], joined[None, :], later[1:]])


def runs_in(runs: np.ndarray, start: int, end: int) -> np.ndarray:
    """The runs that overlap [start, end], clipped to it."""
    if not len(runs):
        return runs
    keep = (runs[:, 1] >= start) & (runs[:, 0] <= end)
    out = runs[keep].copy()
    if len(out):
        out[:, 0] = np.maximum(out[:, 0], start)
        out[:, 1] = np.minimum(out[:, 1], end)
    return out


def in_runs(runs: np.ndarray, ts: int) -> int | None:
    """Index of the run holding second `ts`, or None."""
    if not len(runs):
        return None
    i = int(np.searchsorted(runs[:, 0], ts, side="right")) - 1
    return i if i >= 0 and runs[i, 1] >= ts else None
