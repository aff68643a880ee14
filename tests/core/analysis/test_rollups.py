"""Rollups equal what the seconds give, at every width, however they are built (in one go, in parts, coarsened)."""

from __future__ import annotations

import numpy as np
import pytest

from core.analysis.completeness import completeness
from core.analysis.rollups import (
    ROLLUP_FIELDS,
    coarsen,
    combine,
    gap_runs,
    holes_between,
    in_runs,
    merge_runs,
    rollup_seconds,
    runs_in,
)
from core.analysis.series import SERIES_FIELDS

T0 = 1_737_158_400


def seconds(n: int, seed: int = 1, drop: float = 0.2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = T0 + 7 + np.flatnonzero(rng.random(n) > drop)  # a start off the minute, holes everywhere
    out = {"timestamp": ts.astype(np.int64)}
    for name in SERIES_FIELDS[1:-1]:
        values = rng.normal(100, 5, len(ts))
        values[rng.random(len(ts)) < 0.05] = np.nan  # one-sided books
        out[name] = values
    out["update_id"] = np.arange(len(ts), dtype=np.uint64)
    return out


def expected(series, width: int, field: str, how: str) -> list[float]:
    """The bucket values computed the slow way, second by second."""
    ts = series["timestamp"]
    t0 = ts[0] // width * width
    out = []
    for b in range(t0, ts[-1] + 1, width):
        values = series[field][(ts >= b) & (ts < b + width)]
        finite = values[np.isfinite(values)]
        if how == "count":
            out.append(len(values))
        elif not len(finite):
            out.append(np.nan)
        else:
            out.append(
                {"min": finite.min(), "max": finite.max(), "last": finite[-1], "mean": finite.mean()}[how]
            )
    return out


def assert_same(a, b) -> None:
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("width", [1, 5, 60, 3600])
def test_rollup_of_seconds_equals_the_slow_computation(width):
    s = seconds(20_000)
    r = rollup_seconds(s, width, int(s["timestamp"][0]), int(s["timestamp"][-1]))
    assert (np.diff(r.t) == width).all() and r.t[0] % width == 0
    assert_same(r["count"], expected(s, width, "mid", "count"))
    assert_same(r["mid_min"], expected(s, width, "mid", "min"))
    assert_same(r["mid_max"], expected(s, width, "mid", "max"))
    assert_same(r["mid_last"], expected(s, width, "mid", "last"))
    assert_same(r["best_ask_last"], expected(s, width, "best_ask", "last"))
    assert_same(r.mean("spread_bps"), expected(s, width, "spread_bps", "mean"))
    assert_same(r.mean("imbalance"), expected(s, width, "imbalance", "mean"))


def test_coarsened_minutes_equal_hours_from_the_seconds():
    s = seconds(4 * 3600 + 500, seed=2)
    first, last = int(s["timestamp"][0]), int(s["timestamp"][-1])
    gaps = np.array([T0 + 3, T0 + 4000, T0 + 4001], dtype=np.int64)
    minutes = rollup_seconds(s, 60, first, last, gaps)
    hours = coarsen(minutes, 60)
    direct = rollup_seconds(s, 3600, first, last, gaps)
    assert hours.width == 3600 and hours.t[0] % 3600 == 0
    for name in ROLLUP_FIELDS:
        assert_same(hours[name], direct[name])
    assert hours["gaps"].sum() == 2  # T0 + 3 is before the first stored second: outside the range


def test_a_rollup_built_in_parts_equals_one_built_at_once():
    s = seconds(10_000, seed=3)
    first, last = int(s["timestamp"][0]), int(s["timestamp"][-1])
    cut = T0 + 5_017  # inside a minute
    whole = rollup_seconds(s, 60, first, last)
    parts = combine(rollup_seconds(s, 60, first, cut), rollup_seconds(s, 60, cut + 1, last))
    for name in ROLLUP_FIELDS:
        assert_same(parts[name], whole[name])


def test_holes_and_gap_runs():
    ts = np.array([10, 11, 12, 15, 16, 20])
    assert holes_between(ts).tolist() == [[13, 14], [17, 19]]
    assert holes_between(np.array([12, 13]), before=9).tolist() == [[10, 11]]
    runs = gap_runs(np.array([13, 14, 17, 18, 19]), np.array([1, 1, 1, 2, 2]))
    assert runs.tolist() == [[13, 14, 1], [17, 17, 1], [18, 19, 2]]
    assert merge_runs(np.array([[1, 3, 1]]), np.array([[4, 6, 1], [9, 9, 2]])).tolist() == [
        [1, 6, 1],
        [9, 9, 2],
    ]
    assert runs_in(runs, 14, 18).tolist() == [[14, 14, 1], [17, 17, 1], [18, 18, 2]]
    assert in_runs(runs, 17) == 1 and in_runs(runs, 16) is None


def test_completeness_is_stored_over_what_the_recorder_was_asked_for():
    assert completeness(95, 5) == 0.95
    assert completeness(0, 0) is None
    assert completeness(10, 0) == 1.0
    with pytest.raises(ValueError):
        completeness(-1, 0)
