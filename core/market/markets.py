"""The Binance markets Depthbook follows, and what differs between them: pure facts, no I/O.

`SPOT` is Binance spot (api.binance.com); `USDM` is Binance USDⓈ-M futures (fapi.binance.com). They share the
depth protocol but differ in the REST paths, the depth weights and the per-minute weight limit, the depth limits
the REST snapshot accepts, how events chain (`pu` on futures, whose update ids are shared across symbols), the
stream speeds, and the exchange's hosts (core.market.endpoints). Facts from reference/binance-protocol.md §4, §9.

Price and quantity strings are kept exactly as the exchange sent them on both markets (futures use the
contract's precision, "7.6110", where spot pads to 8 decimals), so nothing is reformatted per market.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from core.market.book_sync import Continuity


@dataclass(frozen=True)
class Market:
    name: str  # what `--market` takes and what storage and the app show: "spot", "usdm"
    label: str  # for people: "Spot", "USD-M futures" (DejaVu, the usual Linux font, has no Ⓢ)
    depth_path: str
    exchange_info_path: str
    exchange_info_weight: int
    exchange_info_by_symbol: bool  # accepts `symbol`/`symbols` (spot); futures answer for every symbol
    # GET depth weight by limit: (highest limit, weight), ascending; a limit above the last is capped to it.
    depth_weights: tuple[tuple[int, int], ...]
    weight_limit: int  # REQUEST_WEIGHT per minute per IP
    max_depth_limit: int  # the deepest snapshot the exchange returns
    # The only limits the exchange accepts, ascending; () means any limit from 1 to max_depth_limit.
    depth_limits: tuple[int, ...]
    continuity: Continuity
    stream_speeds: tuple[str, ...]  # diff-stream speeds ("" is the plain `<symbol>@depth` stream)
    default_preset: str  # the endpoints preset (core.market.endpoints) used when none is named

    def depth_weight(self, limit: int) -> int:
        """Request weight of one depth snapshot of `limit` levels (after `request_limit`)."""
        limit = self.request_limit(limit)
        for upper, weight in self.depth_weights:
            if limit <= upper:
                return weight
        return self.depth_weights[-1][1]

    def request_limit(self, limit: int) -> int:
        """The limit to send for a snapshot of at least `limit` levels (capped at `max_depth_limit`).

        Futures accept only a few limits: a wanted depth between two is rounded up, never down, so that a
        snapshot with fewer levels than asked still means the side has no more (the snapshot horizon).
        """
        if limit < 1:
            raise ValueError(f"depth limit must be at least 1, got {limit}")
        limit = min(limit, self.max_depth_limit)
        if not self.depth_limits:
            return limit
        return self.depth_limits[bisect.bisect_left(self.depth_limits, limit)]

    def check_snapshot_limit(self, limit: int) -> None:
        """ValueError (one sentence) unless a snapshot of `limit` levels can be fetched whole on this market."""
        if not 1 <= limit <= self.max_depth_limit:
            raise ValueError(
                f"The REST snapshot limit must be between 1 and {self.max_depth_limit} on {self.label}, "
                f"not {limit}."
            )

    def __str__(self) -> str:
        return self.name


SPOT = Market(
    name="spot",
    label="Spot",
    depth_path="/api/v3/depth",
    exchange_info_path="/api/v3/exchangeInfo",
    exchange_info_weight=20,
    exchange_info_by_symbol=True,
    depth_weights=((100, 5), (500, 25), (1000, 50), (5000, 250)),  # since 2023-10-19
    weight_limit=6000,
    max_depth_limit=5000,
    depth_limits=(),
    continuity=Continuity.SPOT,
    stream_speeds=("100ms", ""),  # 100 ms and 1000 ms
    default_preset="binance",
)

USDM = Market(
    name="usdm",
    label="USD-M futures",
    depth_path="/fapi/v1/depth",
    exchange_info_path="/fapi/v1/exchangeInfo",
    exchange_info_weight=1,
    exchange_info_by_symbol=False,
    depth_weights=((50, 2), (100, 5), (500, 10), (1000, 20)),
    weight_limit=2400,
    max_depth_limit=1000,
    depth_limits=(5, 10, 20, 50, 100, 500, 1000),
    continuity=Continuity.FUTURES,
    stream_speeds=("100ms", "", "500ms"),  # 100 ms, 250 ms and 500 ms
    default_preset="binance-usdm",
)

MARKETS: dict[str, Market] = {m.name: m for m in (SPOT, USDM)}


def market_named(name: str | Market) -> Market:
    """The market called `name` ("spot", "usdm"; case and spaces ignored); ValueError (one sentence) otherwise."""
    if isinstance(name, Market):
        return name
    found = MARKETS.get(name.strip().lower()) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"Unknown market {name!r}; choose one of {', '.join(MARKETS)}.")
    return found
