"""Top-of-book arithmetic, shared by the recorded series and the L1 metrics, and the L1 metrics of one book.

`top_of_book` is the one place where best prices, mid, spread, microprice and top-20 volumes are computed.
The L1 metrics follow the reference service (reference-service.md §3.1) so that the numbers agree with it,
except where it is wrong: the microprice weighs the best prices by the top-of-book sizes, as its own spec
says (the reference used the top-20 sums). Their `spread_bps` keeps the reference's base, the best bid; the
recorded series' `spread_bps` is over the mid.

Pure: no clock, no I/O. Prices stay exchange strings; quantities become floats, which is fine for analytics.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from operator import itemgetter
from typing import Any

from core.market.orderbook import TopNumbers
from core.market.wire import Level
from core.storage.snapshot import SNAPSHOT_DEPTH

NAN = math.nan
WALL_MEDIAN_MULTIPLE = 2.0
SLIPPAGE_TARGETS_USD = (10_000, 25_000, 50_000)
# How deep a caller should ask a live book for the slippage walk (book.top_bids(SLIPPAGE_WALK_DEPTH)).
SLIPPAGE_WALK_DEPTH = 5_000

_QTY = itemgetter(1)


@dataclass(slots=True)  # not frozen: one is built per recorded symbol per second
class TopOfBook:
    """The top of one book. A value that needs a missing side is NaN."""

    best_bid: float
    best_ask: float
    bid_size: float  # quantity at the best bid
    ask_size: float
    mid: float
    spread: float  # ask − bid, in price units
    microprice: float  # best prices weighted by the opposite side's top-of-book size
    bid_volume: float  # Σ quantity of the top 20 bids
    ask_volume: float
    bid_qtys: Sequence[float]  # the top 20 quantities, best first (lists; a view of the records when captured)
    ask_qtys: Sequence[float]


def top_of_book(bids: Sequence[Level], asks: Sequence[Level]) -> TopOfBook:
    """Best prices, mid, spread, microprice and top-20 volumes; never raises for a one-sided or empty book."""
    bids = bids[:SNAPSHOT_DEPTH]
    asks = asks[:SNAPSHOT_DEPTH]
    return _top(
        float(bids[0][0]) if bids else NAN,
        list(map(float, map(_QTY, bids))),
        float(asks[0][0]) if asks else NAN,
        list(map(float, map(_QTY, asks))),
    )


def captured_top(numbers: TopNumbers) -> TopOfBook:
    """`top_of_book` of a captured book from its numbers (OrderBook.capture), without reading a string: the
    same floats, because a price's ticks over 1e8 (Python's int division rounds once, correctly) is the double
    nearest the decimal, as float() of its string is. Both sides' records are needed (not None)."""
    return _top(*_captured_side(numbers.bid_levels), *_captured_side(numbers.ask_levels))  # type: ignore[arg-type]


def _captured_side(records: bytes) -> tuple[float, Sequence[float]]:
    """The best price and the top-20 quantities of LEVEL_NUMBERS records (price ticks, quantity)."""
    n = min(len(records) // 16, SNAPSHOT_DEPTH)
    if not n:
        return NAN, ()
    view = memoryview(records)
    return view.cast("q")[0] / _TICKS_PER_UNIT, view.cast("d")[1 : 2 * n : 2]


_TICKS_PER_UNIT = 100_000_000  # an int: ticks / it is one correctly rounded division


def _top(best_bid: float, bid_qtys: Sequence[float], best_ask: float, ask_qtys: Sequence[float]) -> TopOfBook:
    bid_size = bid_qtys[0] if bid_qtys else NAN
    ask_size = ask_qtys[0] if ask_qtys else NAN
    # NaN propagates through + and −, and fails every comparison, so a missing side lands in NaN by itself.
    top_sizes = bid_size + ask_size
    return TopOfBook(
        best_bid=best_bid,
        best_ask=best_ask,
        bid_size=bid_size,
        ask_size=ask_size,
        mid=(best_bid + best_ask) / 2,
        spread=best_ask - best_bid,
        microprice=(best_bid * ask_size + best_ask * bid_size) / top_sizes if top_sizes > 0 else NAN,
        bid_volume=math.fsum(bid_qtys),
        ask_volume=math.fsum(ask_qtys),
        bid_qtys=bid_qtys,
        ask_qtys=ask_qtys,
    )


@dataclass(frozen=True, slots=True)
class Wall:
    price: str
    qty: float
    side: str  # "Bid" or "Ask", as the reference


@dataclass(frozen=True, slots=True)
class SlippageEstimate:
    """Cost of a market order of `target_usd` walked through the book from the best level."""

    target_usd: float
    avg_price: float  # VWAP of the fill; NaN when nothing could be filled
    slippage_bps: float  # |avg_price − best| / best × 10 000
    filled_qty: float
    filled_usd: float
    complete: bool  # False when the book ran out before the target


@dataclass(frozen=True, slots=True)
class L1Metrics:
    """Top-of-book metrics of one book, field names as the reference's OrderBookMetrics.

    Values that need a missing side are None (best prices) or NaN (numbers).
    """

    symbol: str
    timestamp_ms: int
    last_update_id: int
    best_bid: str | None
    best_ask: str | None
    best_bid_size: float
    best_ask_size: float
    mid_price: float
    spread: float  # best_ask − best_bid, in price units
    spread_bps: float  # spread / best_bid × 10 000 (the reference's base; the series use the mid)
    microprice: float  # top-of-book sizes, see the module docstring
    bid_volume: float  # Σ qty of the top 20
    ask_volume: float
    imbalance_ratio: float  # bid_volume / ask_volume, 0 when ask_volume is 0
    bid_walls: tuple[Wall, ...]
    ask_walls: tuple[Wall, ...]
    slippage_estimates: dict[str, SlippageEstimate]  # "buy_10k_usd" … "sell_50k_usd"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["walls"] = {"bids": list(d.pop("bid_walls")), "asks": list(d.pop("ask_walls"))}
        return d


def compute_l1_metrics(
    symbol: str,
    bids: Sequence[Level],
    asks: Sequence[Level],
    timestamp_ms: int,
    last_update_id: int,
) -> L1Metrics:
    """L1 metrics from levels (bids highest first, asks lowest first).

    Works for a live book (`book.top_bids(SLIPPAGE_WALK_DEPTH)`, …) and for a snapshot (`snap.bids`, with
    `timestamp_ms = snap.timestamp * 1000`). Volumes and walls use the top 20; the slippage walk uses every
    level given, so a snapshot's 20 levels may fill less than the target (reported as `complete=False`).
    """
    top = top_of_book(bids, asks)
    top_bids = [(level[0], qty) for level, qty in zip(bids, top.bid_qtys, strict=False)]
    top_asks = [(level[0], qty) for level, qty in zip(asks, top.ask_qtys, strict=False)]

    # A wall stands out against the median size of the 40 combined levels.
    quantities = top.bid_qtys + top.ask_qtys
    threshold = WALL_MEDIAN_MULTIPLE * statistics.median(quantities) if quantities else math.inf

    slippage = {}
    for usd in SLIPPAGE_TARGETS_USD:
        slippage[f"buy_{usd // 1000}k_usd"] = estimate_slippage(asks, usd)
        slippage[f"sell_{usd // 1000}k_usd"] = estimate_slippage(bids, usd)

    return L1Metrics(
        symbol=symbol,
        timestamp_ms=timestamp_ms,
        last_update_id=last_update_id,
        best_bid=top_bids[0][0] if top_bids else None,
        best_ask=top_asks[0][0] if top_asks else None,
        best_bid_size=top.bid_size,
        best_ask_size=top.ask_size,
        mid_price=top.mid,
        spread=top.spread,
        spread_bps=top.spread / top.best_bid * 10_000 if top.best_bid > 0 else NAN,  # the reference's base
        microprice=top.microprice,
        bid_volume=top.bid_volume,
        ask_volume=top.ask_volume,
        imbalance_ratio=top.bid_volume / top.ask_volume if top.ask_volume > 0 else 0.0,
        bid_walls=tuple(Wall(p, q, "Bid") for p, q in top_bids if q > threshold),
        ask_walls=tuple(Wall(p, q, "Ask") for p, q in top_asks if q > threshold),
        slippage_estimates=slippage,
    )


def estimate_slippage(levels: Iterable[Level], target_usd: float) -> SlippageEstimate:
    """Walk `levels` from the best (asks for a buy, bids for a sell) until `target_usd` is spent."""
    remaining = float(target_usd)
    filled_qty = filled_usd = 0.0
    best = math.nan
    complete = False
    taken = 0  # levels the fill took from, whole or in part
    for price_str, qty_str in levels:
        price, qty = float(price_str), float(qty_str)
        if price <= 0 or qty <= 0:
            continue  # not a real level; a book never holds one, but it must not divide by zero
        if math.isnan(best):
            best = price
        taken += 1
        level_usd = price * qty
        if level_usd >= remaining:
            # The last level is taken only in part: just enough quantity for what is left.
            filled_qty += remaining / price
            filled_usd += remaining
            complete = True
            break
        filled_qty += qty
        filled_usd += level_usd
        remaining -= level_usd
    avg_price = filled_usd / filled_qty if filled_qty > 0 else math.nan
    if taken == 1:
        avg_price = best  # filled at the best level alone: its price, not a quotient 1e-11 bps away from it
    return SlippageEstimate(
        target_usd=float(target_usd),
        avg_price=avg_price,
        slippage_bps=abs(avg_price - best) / best * 10_000 if best > 0 else math.nan,
        filled_qty=filled_qty,
        filled_usd=filled_usd,
        complete=complete,
    )
