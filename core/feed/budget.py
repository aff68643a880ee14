"""Binance's request weights and the per-IP weight budget: pure bookkeeping, time comes in as an argument."""

from __future__ import annotations

from core.market.markets import SPOT, Market


def depth_weight(limit: int, market: Market = SPOT) -> int:
    """Request weight of a depth snapshot by limit on `market` (spot: /api/v3/depth, since 2023-10-19: 5, 25,
    50, 250; USDⓈ-M: /fapi/v1/depth: 2, 5, 10, 20). Above the market's deepest limit Binance caps."""
    return market.depth_weight(limit)


class WeightBudget:
    """Request weight spent per minute from this IP, kept below a fraction of Binance's limit.

    Pure: every method takes `now` (wall-clock seconds). Assumption: Binance counts weight per calendar
    minute (UTC minute boundaries, as its `x-mbx-used-weight-1m` resets at :00), not a sliding minute.
    The limit is the market's (6,000 on spot, 2,400 on USDⓈ-M futures) unless `limit_per_minute` says.
    """

    def __init__(
        self, limit_per_minute: int | None = None, fraction: float = 0.8, *, market: Market = SPOT
    ) -> None:
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        self.market = market
        limit_per_minute = market.weight_limit if limit_per_minute is None else limit_per_minute
        self.limit_per_minute = limit_per_minute
        self.fraction = fraction
        # Headroom for other programs on the same IP, which share Binance's count with us.
        self.allowed = int(limit_per_minute * fraction)
        self._window = -1  # index of the current minute (now // 60)
        self._used = 0
        self._blocked_until = 0.0

    @property
    def blocked_until(self) -> float:
        return self._blocked_until

    def _roll(self, now: float) -> None:
        window = int(now // 60)
        if window != self._window:
            self._window = window
            self._used = 0

    def reserve(self, weight: int, now: float) -> float:
        """0.0 and the weight counted if a request may go now; else seconds to wait (nothing counted)."""
        if now < self._blocked_until:
            return self._blocked_until - now
        self._roll(now)
        # A request heavier than the whole allowance may still go into an empty window, or it never would.
        if self._used + weight <= self.allowed or self._used == 0:
            self._used += weight
            return 0.0
        return (self._window + 1) * 60 - now

    def observe_used(self, used_weight_1m: int, now: float) -> None:
        """Adopt the server's count for this IP when it is higher: other programs spend from it too."""
        self._roll(now)
        if used_weight_1m > self._used:
            self._used = used_weight_1m

    def block_until(self, t: float) -> None:
        """After a 429/418: no request before `t` (wall-clock seconds), whatever the count says."""
        self._blocked_until = max(self._blocked_until, t)

    def depth_weight(self, limit: int) -> int:
        """Weight of a depth snapshot of `limit` levels on this budget's market."""
        return self.market.depth_weight(limit)

    def used(self, now: float) -> int:
        self._roll(now)
        return self._used
