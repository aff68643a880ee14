"""Retention: how long each symbol's recorded seconds are kept, and which symbols a policy may touch.

Retention deletes data, so a policy can never ask for more than it says:
- days are whole days, at least 1 (a value of 0 or below is refused when the policy is built: it would mean
  "delete everything up to now or later");
- `symbols` limits the pass to the symbols the policy covers: `depthbook record` passes the symbols it records
  plus the ones named in its per-symbol overrides, so a recorder never prunes a symbol it neither records nor
  names. None (the storage API's default) covers every symbol in the database. `record --all` learns what it
  records only as it runs (and new listings join): its policy says `recorded`, and each pass covers the symbols
  the recorder records at that moment (SnapshotStorage.apply_retention's `recording`);
- SnapshotStorage.apply_retention warns before it deletes a symbol's whole history and refuses a pass whose
  cutoff lies more than a day after the newest stored second (a clock far in the future).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

log = logging.getLogger(__name__)

_DAY = 86_400
_MAX_TIMESTAMP = 9_999_999_999  # core.storage.keys.MAX_TIMESTAMP
MAX_DAYS = 100_000  # about 270 years: anything larger is a typo, and would overflow the cutoff arithmetic


def check_days(days: object, what: str = "retention") -> int:
    """`days` if it is a whole number of days from 1 to MAX_DAYS; else ValueError, one sentence."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ValueError(
            f"{what} must be a whole number of days from 1 to {MAX_DAYS}, got {days!r} "
            "(leave it out to keep everything)"
        )
    return days


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long snapshots (and their gap records and series rows) are kept: `days` for every covered symbol,
    and `per_symbol` overrides (a symbol mapped to None is kept forever). Off by default.

    `symbols`: the symbols the global `days` applies to (None: every symbol in the database); with `recorded`,
    also those the recorder records at each pass (`with_recording`). Symbols named in `per_symbol` are always
    covered by their own override."""

    days: int | None = None  # None keeps everything
    per_symbol: Mapping[str, int | None] = field(default_factory=dict)
    symbols: Collection[str] | None = None
    recorded: bool = False  # the days also cover what the recorder records when a pass runs (`record --all`)
    # The first second of `symbol` that must be kept whatever the days say: `record --archive` passes the
    # archive follower's, so only hours whose upload was verified are ever deleted.
    keep_from: Callable[[str], int] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.days is not None:
            check_days(self.days)
        for symbol, days in self.per_symbol.items():
            if days is not None:
                check_days(days, f"retention of {symbol}")

    def with_recording(self, recording: Collection[str]) -> RetentionPolicy:
        """The policy of one pass while the recorder records `recording` (stored names): those join `symbols`
        when the policy says `recorded`; otherwise the policy as it is."""
        if not self.recorded or self.symbols is None:
            return self
        return replace(self, symbols=frozenset(self.symbols) | frozenset(recording), recorded=False)

    @property
    def enabled(self) -> bool:
        return self.days is not None or any(d is not None for d in self.per_symbol.values())

    def covers(self, symbol: str) -> bool:
        """Whether this policy may delete anything of `symbol`."""
        return symbol in self.per_symbol or self.symbols is None or symbol in self.symbols

    def days_for(self, symbol: str) -> int | None:
        if not self.covers(symbol):
            return None
        return self.per_symbol.get(symbol, self.days)

    def cutoff(self, now_ts: int, symbol: str) -> int | None:
        """Snapshots of `symbol` strictly before this second are deleted (None: keep them all)."""
        days = self.days_for(symbol)
        if days is None:
            return None
        cutoff = now_ts - days * _DAY
        return cutoff if self.keep_from is None else min(cutoff, self.keep_from(symbol))


def plan_retention(
    policy: RetentionPolicy,
    now_ts: int,
    symbols: Iterable[str],
    stored: Mapping[str, tuple[int, int, int]],
    where: str = "",
) -> dict[str, int]:
    """{symbol: cutoff} of one retention pass over `symbols` (those with stored data in any family), given
    `stored` = {symbol: (count, first, last)} of the snapshots. Logs what it decides:
    - only the symbols the policy covers get a cutoff;
    - a symbol whose whole history goes is named first (WARNING, with the count); the pass then goes on: a
      user who asked for 1 day on a week-old recording means it;
    - when a cutoff lies more than a day after the newest stored second, nothing is planned (WARNING): that is
      a clock far ahead of the data, or a database idle for longer than its retention. Once the recorder has
      stored seconds at the present time, the next pass (an hour later) goes ahead."""
    cutoffs = {}
    for symbol in symbols:
        cutoff = policy.cutoff(now_ts, symbol)
        if cutoff is not None:
            cutoffs[symbol] = min(cutoff, _MAX_TIMESTAMP + 1)
    newest = max((last for _count, _first, last in stored.values()), default=None)
    if cutoffs and newest is not None and max(cutoffs.values()) > newest + _DAY:
        log.warning(
            "retention skipped, nothing deleted: its cutoff %s is more than a day after the newest stored "
            "second %s; check the clock (now=%s) path=%s",
            _when(max(cutoffs.values())), _when(newest), _when(now_ts), where,
        )  # fmt: skip
        return {}
    for symbol, cutoff in cutoffs.items():
        count, first, last = stored.get(symbol, (0, 0, 0))
        if count and last < cutoff:
            log.warning(
                "retention deletes the whole history of symbol=%s snapshots=%d first=%s last=%s: all of it is "
                "older than %s days path=%s",
                symbol, count, _when(first), _when(last), policy.days_for(symbol), where,
            )  # fmt: skip
    return cutoffs


def _when(ts: int) -> str:
    """A second for a log line: ISO 8601 UTC, or the number when it is out of range."""
    try:
        return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(ts)
