"""ConnectPacer: connection attempts within Binance's limit of 300 per 5 minutes per IP (binance-protocol.md §5).

Pure: it takes `now` and keeps the times of the attempts it allowed, so tests drive it with any clock. Every
connection of a manager (first connects, reconnects, rotations) asks the same pacer before it dials, so a storm
of reconnects slows down instead of getting the IP refused or banned.
"""

from __future__ import annotations

from collections import deque


class ConnectPacer:
    """At most `limit` attempts in any window of `window` seconds."""

    def __init__(self, limit: int = 300, window: float = 300.0) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a connect pacer needs a limit of at least 1 and a window above 0 s")
        self.limit = limit
        self.window = window
        self.attempts = 0  # allowed so far, for the status
        self._times: deque[float] = deque()

    def wait(self, now: float) -> float:
        """Seconds until an attempt is allowed (0: now), without taking it."""
        self._forget(now)
        if len(self._times) < self.limit:
            return 0.0
        return self._times[0] + self.window - now

    def take(self, now: float) -> float:
        """Take an attempt now and return 0, or return the seconds to wait before asking again."""
        wait = self.wait(now)
        if wait > 0:
            return wait
        self._times.append(now)
        self.attempts += 1
        return 0.0

    def _forget(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
