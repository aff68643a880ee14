"""The simulator's truth, kept small enough for a 30-minute soak: a digest of the true top 20 at every event.

A recorder's book always stands at an event boundary (the last event it applied, or a REST snapshot's
lastUpdateId, which is the market's last event), so the truth at every boundary is all a stored snapshot can be
compared with. Keeping the market's full undo history for 30 minutes of 50 symbols would take gigabytes, and
answering `top_at` for a snapshot 30 minutes old walks all of it back; a 64-bit digest per event is some 100 bytes
and one dictionary lookup. A snapshot whose update id is no boundary is checked with `top_at` while the market's
history still reaches it, else counted as unchecked (a hard failure of the soak: nothing stored goes unchecked).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from core.simulator.market import SyntheticMarket

DEPTH = 20  # the contract's snapshot depth


def top_digest(bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> int:
    """A 64-bit digest of a top of book: bids best first, asks best first, each level (price, quantity)."""
    h = hashlib.blake2b(digest_size=8)
    for side in (bids, asks):
        for price, qty in side:
            h.update(f"{price} {qty}\n".encode("ascii"))
        h.update(b"|")
    return int.from_bytes(h.digest(), "big")


class TruthLog:
    """The digest of the true top 20 of each market after each of its events, by update id."""

    def __init__(self) -> None:
        self.digests: dict[str, dict[int, int]] = {}
        self.markets: dict[str, SyntheticMarket] = {}

    def follow(self, market: SyntheticMarket) -> None:
        """Log this market's state now and after every event from now on."""
        self.markets[market.symbol] = market
        digests = self.digests.setdefault(market.symbol, {})
        next_event = market.next_event

        def logged(event_time_ms: int) -> dict:
            event = next_event(event_time_ms)
            self._log(market, digests)
            return event

        market.next_event = logged  # type: ignore[method-assign]
        self._log(market, digests)

    @staticmethod
    def _log(market: SyntheticMarket, digests: dict[int, int]) -> None:
        top = market.snapshot(DEPTH)
        digests[top["lastUpdateId"]] = top_digest(top["bids"], top["asks"])

    def check(self, symbol: str, update_id: int, bids: Sequence[Sequence[str]], asks: Sequence[Sequence[str]]) -> bool | None:
        """True if the levels are the true top 20 at `update_id`, False if not, None if the truth is not known."""
        stored = top_digest(bids, asks)
        known = self.digests.get(symbol, {}).get(update_id)
        if known is not None:
            return known == stored
        market = self.markets.get(symbol)
        if market is None or not market.oldest_update_id <= update_id <= market.last_update_id:
            return None
        true_bids, true_asks = market.top_at(update_id, DEPTH)
        return top_digest(true_bids, true_asks) == stored
