"""What a soak's database says: every second of every symbol accounted for, and how long each fault cost.

A second of the soak, for a recorded symbol, is one of: stored (a snapshot), a gap record (with the reason the
recorder gave), inside the kill window (the recorder was dead: from the second before the kill to the start of
the next recording session), or unexplained. The promise is that no second is unexplained.

The span is the recording sessions': from the second after the first session started (its first tick) to the
second before the last one ended (its last tick may or may not have run before the stop).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from core.storage.store import SnapshotStorage

RECOVERY_SEARCH = 30  # seconds after a fault's end in which a lost second is blamed on it


@dataclass
class SymbolSeconds:
    symbol: str
    stored: set[int] = field(default_factory=set)
    gaps: dict[int, str] = field(default_factory=dict)  # second -> reason
    killed: int = 0
    unexplained: list[int] = field(default_factory=list)

    def resume_after(self, second: int, end: int) -> int | None:
        """The first stored second after `second` (at most `end`)."""
        return next((t for t in range(second + 1, end + 1) if t in self.stored), None)


@dataclass
class Accounting:
    span: tuple[int, int]
    kill_windows: list[tuple[int, int]]
    symbols: dict[str, SymbolSeconds]

    @property
    def seconds(self) -> int:
        return self.span[1] - self.span[0] + 1

    @property
    def unexplained(self) -> int:
        return sum(len(s.unexplained) for s in self.symbols.values())

    def summary(self) -> dict:
        up = self.seconds
        killed = sum(len(range(a, b + 1)) for a, b in self.kill_windows)
        reasons: Counter[str] = Counter()
        for s in self.symbols.values():
            reasons.update(s.gaps.values())
        per_symbol = {
            s.symbol: {
                "stored": len(s.stored),
                "completeness_pct": round(100.0 * len(s.stored) / up, 2),
                "gaps": dict(Counter(s.gaps.values())),
                "kill_window_seconds": s.killed,
                "unexplained_seconds": s.unexplained[:50],
            }
            for s in self.symbols.values()
        }
        stored = sum(len(s.stored) for s in self.symbols.values())
        worst = min(self.symbols.values(), key=lambda s: len(s.stored))
        return {
            "span": list(self.span),
            "seconds_per_symbol": up,
            "kill_windows": [list(w) for w in self.kill_windows],
            "stored_snapshots": stored,
            "completeness_pct": round(100.0 * stored / (up * len(self.symbols)), 2),
            "completeness_outside_kill_pct": round(100.0 * stored / ((up - killed) * len(self.symbols)), 2),
            "worst_symbol": {"symbol": worst.symbol, "completeness_pct": per_symbol[worst.symbol]["completeness_pct"]},
            "gap_reasons": dict(reasons.most_common()),
            "unexplained_seconds": self.unexplained,
            "per_symbol": per_symbol,
        }


def account(storage: SnapshotStorage, symbols: list[str], kills: list[float]) -> Accounting:
    """Sort every second of the sessions' span, for each symbol; `kills` are the epoch times of the kill -9s."""
    sessions = storage.sessions()
    if not sessions:
        raise ValueError("the database holds no recording session")
    first = min(s.start for s in sessions) + 1
    ends = [s.end if s.end is not None else s.start for s in sessions]
    last = max(ends) - 1
    windows = []
    for kill in kills:
        restarted = [s.start for s in sessions if s.start >= kill]
        windows.append((math.floor(kill) - 1, min(restarted) if restarted else last))
    result: dict[str, SymbolSeconds] = {}
    for symbol in symbols:
        seconds = SymbolSeconds(symbol, set(storage.seconds(symbol, first, last)))
        seconds.gaps = {g.timestamp: g.reason.value for g in storage.gaps(symbol, first, last)}
        for t in range(first, last + 1):
            if t in seconds.stored or t in seconds.gaps:
                continue
            if any(a <= t <= b for a, b in windows):
                seconds.killed += 1
            else:
                seconds.unexplained.append(t)
        result[symbol] = seconds
    return Accounting((first, last), windows, result)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def fault_recovery(accounting: Accounting, fault: dict, next_at: float | None = None) -> list[float]:
    """Seconds from the end of a fault (its start, for an instantaneous one; the restart, for the kill) to the
    first stored snapshot of each affected symbol that lost a second to it; 0 for one that lost none.

    `next_at`: when the next fault touching these symbols began (math.inf: none did). A second lost from then on
    is that fault's, not this one's (a short soak's gaps land among the big faults: a gap 0.4 s before a 20 s
    silence is no 20 s recovery); and a symbol already down when this fault came (no snapshot the second before)
    is left out. None: neither rule (a lone fault)."""
    start, end = math.floor(fault["at"]), fault["until"]
    search_end = _search_end(accounting, fault, next_at)
    times = []
    for symbol in fault["symbols"] or list(accounting.symbols):
        seconds = accounting.symbols[symbol]
        if fault["kind"] == "kill":
            resumed = seconds.resume_after(math.floor(end) - 1, accounting.span[1])
            if resumed is not None:
                times.append(max(0.0, resumed - end))
            continue
        if next_at is not None and start - 1 not in seconds.stored:
            continue  # already down: another fault's recovery
        lost = next((t for t in range(start, search_end + 1) if t not in seconds.stored), None)
        if lost is None:
            times.append(0.0)
            continue
        resumed = seconds.resume_after(lost, accounting.span[1])
        if resumed is not None:
            times.append(max(0.0, resumed - end))
    return times


def _search_end(accounting: Accounting, fault: dict, next_at: float | None) -> int:
    """The last second a loss may be blamed on `fault`: RECOVERY_SEARCH after its end, or before the next fault."""
    end = min(math.ceil(fault["until"]) + RECOVERY_SEARCH, accounting.span[1])
    if next_at is not None and math.isfinite(next_at):
        end = max(math.floor(fault["at"]), min(end, math.floor(next_at) - 1))
    return end


def seconds_lost(accounting: Accounting, fault: dict, next_at: float | None = None) -> int:
    """Seconds of the affected symbols not stored from the fault's start to RECOVERY_SEARCH after its end (or
    to the next fault touching them, `next_at`)."""
    start, end = math.floor(fault["at"]), _search_end(accounting, fault, next_at)
    return sum(
        1
        for symbol in fault["symbols"] or list(accounting.symbols)
        if next_at is None or start - 1 in accounting.symbols[symbol].stored  # not already down
        for t in range(start, end + 1)
        if t not in accounting.symbols[symbol].stored
    )
