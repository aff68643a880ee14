"""Damaged records: stored bytes that do not decode, or decode to the wrong shape, counted and named.

A reader that meets a damaged record skips it (or, for Depthbook's own families, rebuilds what it needs from
the snapshots) and reports it here instead of failing the whole range. `DamageLog` (one per open database):
- counts damaged records per family and symbol, each key once however often it is read;
- keeps the seconds of the damaged snapshots of each symbol (up to `KEEP_SECONDS` of them), so a command can
  name them;
- logs one WARNING per damaged key with its family, symbol and second, at most `WARN_BURST` a minute; past
  that it says how many more it found when the minute is over, or when the database closes.

Reading never changes what is stored: a damaged record's bytes stay as they are (only a writer rewrites a
damaged counter, with the recount).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

log = logging.getLogger(__name__)

SNAPSHOTS = "default"  # the contract's column family; the others are named after their column family
WARN_BURST = 20  # WARNING lines about damaged records per WARN_WINDOW seconds
WARN_WINDOW = 60.0
KEEP_SECONDS = 10_000  # damaged snapshot seconds remembered per symbol (the count goes on beyond it)

DamageSink = Callable[[str, int, str], None]  # (symbol, second, reason): a damaged snapshot was skipped


class DamageLog:
    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()  # readers may run in several threads
        self._seen: set[tuple[str, bytes]] = set()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)  # (family, symbol) -> damaged records
        self._seconds: dict[str, list[int]] = defaultdict(list)  # symbol -> damaged snapshot seconds
        self._window_start = -WARN_WINDOW
        self._logged = 0
        self._suppressed = 0

    def record(self, family: str, symbol: str, key: bytes, reason: str, ts: int | None = None) -> bool:
        """Note one damaged record; True the first time this key is seen (it is then counted and logged)."""
        with self._lock:
            if (family, key) in self._seen:
                return False
            self._seen.add((family, key))
            self._counts[family, symbol] += 1
            if family == SNAPSHOTS and ts is not None and len(self._seconds[symbol]) < KEEP_SECONDS:
                self._seconds[symbol].append(ts)
            self._warn(family, symbol, key, reason, ts)
        return True

    def snapshot(self, symbol: str, ts: int, reason: str) -> None:
        """A damaged snapshot of `symbol` at second `ts` was skipped (a `DamageSink`)."""
        self.record(SNAPSHOTS, symbol, f"{symbol}:{ts:010d}".encode(), reason, ts)

    def count(self, symbol: str, family: str = SNAPSHOTS) -> int:
        with self._lock:
            return self._counts.get((family, symbol), 0)

    def seconds(self, symbol: str) -> list[int]:
        """The seconds of the damaged snapshots of `symbol` found so far, sorted (at most KEEP_SECONDS)."""
        with self._lock:
            return sorted(self._seconds.get(symbol, ()))

    def total(self, family: str | None = None) -> int:
        with self._lock:
            return sum(n for (fam, _), n in self._counts.items() if family is None or fam == family)

    def flush(self) -> None:
        """Say how many damaged records were not logged one by one (at close)."""
        with self._lock:
            self._report_suppressed()

    # --- the rate limit ---------------------------------------------------------------------------------

    def _warn(self, family: str, symbol: str, key: bytes, reason: str, ts: int | None) -> None:
        now = self._clock()
        if now - self._window_start >= WARN_WINDOW:
            self._report_suppressed()
            self._window_start, self._logged = now, 0
        if self._logged < WARN_BURST:
            self._logged += 1
            log.warning(
                "skipped a damaged record family=%s symbol=%s timestamp=%s key=%r reason=%s path=%s",
                family, symbol, ts if ts is not None else "-", key, reason, self.path,
            )  # fmt: skip
            if self._logged == WARN_BURST:
                log.warning(
                    "many damaged records: further ones are counted but logged at most %d a minute path=%s",
                    WARN_BURST, self.path,
                )  # fmt: skip
        else:
            self._suppressed += 1

    def _report_suppressed(self) -> None:
        if self._suppressed:
            log.warning(
                "skipped %d more damaged records without logging each path=%s total_damaged=%d",
                self._suppressed, self.path, sum(self._counts.values()),
            )  # fmt: skip
            self._suppressed = 0
