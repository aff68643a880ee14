"""Order-flow pressure over recorded snapshots.

It follows the reference service (reference-service.md §2.1) so that the numbers agree with it, except where
it is wrong:
- both flow rates zero is NEUTRAL (the reference said STRONG_BUY);
- times are explicit: snapshot timestamps and `end` are Unix seconds, and a millisecond value passed as
  seconds is refused instead of silently misread.
The nominal-window divisor of the flow rates is kept (it is the documented behaviour), but the result also
reports how many seconds the snapshots really cover.

Pure: no clock, no I/O; `end` comes in as an argument. Prices stay exchange strings and are compared as
strings; quantities are parsed to float, which is fine for analytics.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Any

from core.market.wire import Level
from core.storage.keys import normal_symbol
from core.storage.snapshot import SNAPSHOT_DEPTH
from core.timeparse import iso_utc

MIN_WINDOW_SECS = 10
MAX_WINDOW_SECS = 300
MIN_FLOW_SNAPSHOTS = 2
# Unix seconds have 10 digits until 2286; anything from 10**11 up is a millisecond value passed by mistake.
_MAX_PLAUSIBLE_SECONDS = 10**11


class InsufficientDataError(Exception):
    """Too few snapshots to compute a result; the message is meant for the user as is."""


class FlowDirection(StrEnum):
    STRONG_BUY = "STRONG_BUY"
    MODERATE_BUY = "MODERATE_BUY"
    NEUTRAL = "NEUTRAL"
    MODERATE_SELL = "MODERATE_SELL"
    STRONG_SELL = "STRONG_SELL"


@dataclass(frozen=True, slots=True)
class OrderFlow:
    symbol: str
    time_window_start: str  # ISO 8601 UTC, "2025-01-18T00:00:00Z"
    time_window_end: str
    window_duration_secs: int
    bid_flow_rate: float  # bid level increases per second of the nominal window
    ask_flow_rate: float
    net_flow: float  # bid_flow_rate − ask_flow_rate
    flow_direction: FlowDirection
    cumulative_delta: float  # Σ(|Δ top-20 bid qty| − |Δ top-20 ask qty|): churn, not signed volume
    snapshot_count: int
    covered_secs: int  # last − first snapshot timestamp; below the window when seconds are missing

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["flow_direction"] = self.flow_direction.value
        return d


def classify_flow(bid_rate: float, ask_rate: float) -> FlowDirection:
    """Direction from the bid/ask ratio, thresholds as the reference (>2.0 is strict, the rest inclusive)."""
    if bid_rate == 0 and ask_rate == 0:
        return FlowDirection.NEUTRAL  # no activity is not buying pressure (the reference's bug)
    if ask_rate == 0:
        return FlowDirection.STRONG_BUY
    if bid_rate == 0:
        return FlowDirection.STRONG_SELL
    ratio = bid_rate / ask_rate
    if ratio > 2.0:
        return FlowDirection.STRONG_BUY
    if ratio >= 1.2:
        return FlowDirection.MODERATE_BUY
    if ratio >= 0.8:
        return FlowDirection.NEUTRAL
    if ratio >= 0.5:
        return FlowDirection.MODERATE_SELL
    return FlowDirection.STRONG_SELL


def compute_order_flow(symbol: str, snapshots: Iterable[Any], window_secs: int, end: int) -> OrderFlow:
    """Bid/ask pressure over the window [end − window_secs, end], both ends inclusive (up to W+1 snapshots).

    For each consecutive pair of snapshots, a level of the newer top 20 counts as an increase when its
    quantity is above the quantity at the same price string in the older one (absent counts as 0): a new
    level or a grown one. Decreases and cancellations are ignored. Rates are counts divided by the nominal
    window W, as the reference does: a window with missing seconds therefore shows deflated rates, which is
    why `covered_secs` and `snapshot_count` are reported beside them.

    Snapshots outside the window are dropped and the rest sorted by timestamp, so the caller may pass a
    slightly wider range. Raises ValueError for a window outside 10–300 s or an `end` in milliseconds, and
    InsufficientDataError with fewer than 2 snapshots in the window.
    """
    check_flow_window(window_secs)
    _check_seconds(end, "end")
    start = end - window_secs
    in_window = sorted((s for s in snapshots if start <= s.timestamp <= end), key=lambda s: s.timestamp)
    if len(in_window) < MIN_FLOW_SNAPSHOTS:
        raise insufficient_flow_data(window_secs, len(in_window))

    # Parse each snapshot once: price string → quantity per side, plus the side totals. Most quantity
    # strings recur from one second to the next (about 70 %), and float() is the costliest step here.
    floats: dict[str, float] = {}
    sides = []
    for snap in in_window:
        bids, asks = _qty_by_price(snap.bids, floats), _qty_by_price(snap.asks, floats)
        sides.append((bids, asks, sum(bids.values()), sum(asks.values())))
    bid_count = ask_count = 0
    cumulative_delta = 0.0
    for (prev_bids, prev_asks, prev_bid_total, prev_ask_total), (
        curr_bids,
        curr_asks,
        bid_total,
        ask_total,
    ) in pairwise(sides):
        bid_count += _count_increases(prev_bids, curr_bids)
        ask_count += _count_increases(prev_asks, curr_asks)
        cumulative_delta += abs(bid_total - prev_bid_total) - abs(ask_total - prev_ask_total)

    return flow_of(
        normal_symbol(symbol), end, window_secs, bid_count, ask_count, cumulative_delta,
        len(in_window), in_window[-1].timestamp - in_window[0].timestamp,
    )  # fmt: skip


def flow_of(
    symbol: str, end: int, window_secs: int, bid_count: int, ask_count: int, cumulative_delta: float,
    snapshot_count: int, covered_secs: int,
) -> OrderFlow:  # fmt: skip
    """The OrderFlow of a window ending at `end` from its counts (shared with the cursor's sliding window)."""
    bid_rate = bid_count / window_secs
    ask_rate = ask_count / window_secs
    return OrderFlow(
        symbol=symbol,
        time_window_start=iso_utc(end - window_secs),
        time_window_end=iso_utc(end),
        window_duration_secs=window_secs,
        bid_flow_rate=bid_rate,
        ask_flow_rate=ask_rate,
        net_flow=bid_rate - ask_rate,
        # Classify on the integer counts: same ratio as the rates, without rounding at the thresholds.
        flow_direction=classify_flow(bid_count, ask_count),
        cumulative_delta=cumulative_delta,
        snapshot_count=snapshot_count,
        covered_secs=covered_secs,
    )


def check_flow_window(window_secs: int) -> None:
    """ValueError unless the window is a whole number of seconds in 10–300."""
    if (
        isinstance(window_secs, bool)
        or not isinstance(window_secs, int)
        or not (MIN_WINDOW_SECS <= window_secs <= MAX_WINDOW_SECS)
    ):
        raise ValueError(
            f"window must be between {MIN_WINDOW_SECS} and {MAX_WINDOW_SECS} seconds, got {window_secs}"
        )


def insufficient_flow_data(window_secs: int, got: int) -> InsufficientDataError:
    return InsufficientDataError(
        f"Insufficient historical data: need at least {MIN_FLOW_SNAPSHOTS} snapshots in the "
        f"{window_secs} s window, got {got}"
    )


def _qty_by_price(levels: Sequence[Level], floats: dict[str, float]) -> dict[str, float]:
    # Keyed by the price string: both snapshots of a pair come from the same exchange formatting.
    # `floats` memoizes float(qty); a zero (never stored, but harmless) just misses the memo.
    return {price: floats.get(qty) or floats.setdefault(qty, float(qty)) for price, qty in levels[:SNAPSHOT_DEPTH]}


def _count_increases(prev: dict[str, float], curr: dict[str, float]) -> int:
    return sum(1 for price, qty in curr.items() if qty > prev.get(price, 0.0))


def _check_seconds(value: int, name: str) -> None:
    if value >= _MAX_PLAUSIBLE_SECONDS:
        raise ValueError(f"{name} must be Unix seconds, got {value} (milliseconds?)")
