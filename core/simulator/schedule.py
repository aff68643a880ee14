"""When each symbol's next diff event is due: the simulator's event grid for every symbol at once, sans-I/O.

Binance sends a symbol's diff events on a grid of `interval` (100 ms), an event in a slot only when the book
changed there. A symbol of `rate` events/s has an event in a slot with chance rate x interval (None: in every
slot; market.slots_to_next_event draws the gaps from the symbol's own seeded generator); its slots are offset
within the interval by a hash of its name, so the symbols do not all tick at the same instant.

One schedule for all symbols rather than a sleeping task each: at a whole market's 1,500 symbols the tasks' timer
handles and wake-ups cost the simulator more than moving its markets. The server wakes when the earliest event
is due and takes every event due within the next `batch` seconds in one go (a few ms early at most).
"""

from __future__ import annotations

import heapq
import random
import zlib
from dataclasses import dataclass

from core.simulator.market import slots_to_next_event

_BEHIND = 1.0  # seconds: a symbol this late (the loop was blocked) skips its missed slots rather than burst


@dataclass(slots=True)
class _Entry:
    token: int  # tells this listing's heap items from a delisted earlier one's
    rng: random.Random
    chance: float  # of an event in a slot
    slots: int  # grid slots from the previous event to the pending one


class EventSchedule:
    """Deadlines on the loop's clock (seconds) of every scheduled symbol's next event."""

    def __init__(self, interval: float, seed: int) -> None:
        self.interval = interval
        self._seed = seed
        self._heap: list[tuple[float, int, str]] = []  # (deadline, token, symbol)
        self._entries: dict[str, _Entry] = {}
        self._tokens = 0

    def __contains__(self, symbol: str) -> bool:
        return symbol in self._entries

    def add(self, symbol: str, rate: float | None, now: float) -> None:
        """Schedule `symbol` from `now` at `rate` events/s (None: one every interval)."""
        self._tokens += 1
        chance = 1.0 if rate is None else rate * self.interval
        entry = _Entry(self._tokens, random.Random(f"{symbol}:{self._seed}:activity"), chance, 0)
        self._entries[symbol] = entry
        offset = (zlib.crc32(symbol.encode()) % 1000) / 1000 * self.interval
        self._push(symbol, entry, now + offset)

    def remove(self, symbol: str) -> None:
        """No more events for `symbol` (its heap item is skipped when it comes up)."""
        self._entries.pop(symbol, None)

    def next_due(self) -> float | None:
        """The earliest deadline, None when nothing is scheduled."""
        while self._heap:
            deadline, token, symbol = self._heap[0]
            entry = self._entries.get(symbol)
            if entry is not None and entry.token == token:
                return deadline
            heapq.heappop(self._heap)  # a removed symbol's
        return None

    def take_due(self, until: float, now: float, most: int = 1_000_000) -> list[tuple[str, int]]:
        """The symbols whose event is due by `until` (at most `most` of them), with the grid slots since their
        previous event, earliest first; each is scheduled again."""
        due: list[tuple[str, int]] = []
        heap = self._heap
        while heap and heap[0][0] <= until and len(due) < most:
            deadline, token, symbol = heapq.heappop(heap)
            entry = self._entries.get(symbol)
            if entry is None or entry.token != token:
                continue
            due.append((symbol, entry.slots))
            self._push(symbol, entry, now if deadline < now - _BEHIND else deadline)
        return due

    def _push(self, symbol: str, entry: _Entry, after: float) -> None:
        entry.slots = slots_to_next_event(entry.rng, entry.chance)
        heapq.heappush(self._heap, (after + self.interval * entry.slots, entry.token, symbol))
