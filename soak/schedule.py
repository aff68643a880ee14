"""The soak's fault schedule: which fault, when, on which symbols, scaled to the soak's length.

Pure (no clock, no I/O): times are seconds from the start of the soak, randomness from one seeded generator, so a
schedule can be printed, tested and replayed. Nominal rates are the issue's (a gap on a random symbol every ~30 s,
a disconnect every 5 min); a short soak still gets every kind at least once. The big faults (everything but the
single-symbol gaps) each get their own slot of the soak, so one's recovery is measured before the next begins.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

GAP = "gap"  # a dropped diff event on one random symbol: it resyncs from a snapshot
DISCONNECT = "disconnect"  # every WebSocket connection aborted (TCP reset)
SILENCE = "silence"  # no event on any stream for 20 s; the market moves on
RATE_LIMIT = "rate_limit"  # a burst of 429s on REST, while a few symbols need a snapshot
SERVER_SHUTDOWN = "server_shutdown"  # Binance's serverShutdown event, then the connections close
MALFORMED = "malformed"  # garbage frames on every connection
FAST_MARKET = "fast_market"  # the fast-market symbols trend at thousands of ticks a minute
DISK_FULL = "disk_full"  # the recorder cannot write a byte (RLIMIT_FSIZE) for 10 s
KILL = "kill"  # kill -9 of the recorder, restarted on the same database

FAULT_KINDS = (GAP, DISCONNECT, SILENCE, RATE_LIMIT, SERVER_SHUTDOWN, MALFORMED, FAST_MARKET, DISK_FULL, KILL)

GAP_EVERY = 30.0  # seconds, nominal
DISCONNECT_EVERY = 300.0
SILENCE_SECONDS = 20.0
DISK_FULL_SECONDS = 10.0
KILL_DOWN_SECONDS = 3.0  # the recorder stays dead this long before its restart
RESTART_SECONDS = 12.0  # room after the restart (exchangeInfo, 50 snapshots) before the next big fault
RATE_LIMIT_BURST = 5  # 429 answers in a row
RATE_LIMIT_RESYNCS = 5  # symbols made to need a snapshot during the burst
WARMUP = 15.0  # seconds before the first fault: the books go live
COOLDOWN = 15.0  # seconds after the last fault's end: its recovery is seen


@dataclass(frozen=True, slots=True)
class Fault:
    at: float  # seconds from the start of the soak
    kind: str
    seconds: float = 0.0  # how long it lasts (0: instantaneous)
    symbols: tuple[str, ...] = field(default=())  # the symbols it targets; () means every symbol

    @property
    def until(self) -> float:
        return self.at + self.seconds


def fast_market_seconds(total: float) -> float:
    """A minute of fast market in a 30-minute soak, down to 10 s in a short one."""
    return max(10.0, min(60.0, total / 30.0))


def build_schedule(minutes: float, symbols: list[str], fast_symbols: list[str], seed: int = 1) -> list[Fault]:
    """Every fault of a soak of `minutes` over `symbols`, ordered by time."""
    if not symbols:
        raise ValueError("a soak needs at least one symbol")
    total = minutes * 60.0
    rng = random.Random(seed)
    begin, end = WARMUP, total - COOLDOWN
    if end - begin < 60.0:
        raise ValueError(f"a soak needs at least {(WARMUP + COOLDOWN + 60) / 60:.1f} minutes, got {minutes:g}")

    big: list[Fault] = [
        Fault(0, SILENCE, SILENCE_SECONDS),
        Fault(0, RATE_LIMIT, 0.0, tuple(rng.sample(symbols, min(RATE_LIMIT_RESYNCS, len(symbols))))),
        Fault(0, SERVER_SHUTDOWN),
        Fault(0, MALFORMED),
        Fault(0, FAST_MARKET, fast_market_seconds(total), tuple(fast_symbols)),
        Fault(0, DISK_FULL, DISK_FULL_SECONDS),
        Fault(0, KILL, KILL_DOWN_SECONDS),
    ]
    big += [Fault(0, DISCONNECT) for _ in range(max(1, round(total / DISCONNECT_EVERY)))]
    rng.shuffle(big)
    # Each fault gets a slot of its own length plus an equal share of the rest for its recovery, and starts a
    # random moment into the first third of that share.
    extra = {KILL: RESTART_SECONDS}
    share = (end - begin - sum(f.seconds + extra.get(f.kind, 0.0) for f in big)) / len(big)
    if share < 3.0:
        raise ValueError(f"{minutes:g} minutes leave too little time between faults to see each recover")
    placed = []
    cursor = begin
    for fault in big:
        at = cursor + rng.uniform(0.0, share / 3)
        placed.append(Fault(round(at, 1), fault.kind, fault.seconds, fault.symbols))
        cursor += fault.seconds + extra.get(fault.kind, 0.0) + share

    gaps = []
    at = begin + rng.uniform(0.0, GAP_EVERY / 2)
    while at < end:
        gaps.append(Fault(round(at, 1), GAP, 0.0, (rng.choice(symbols),)))
        at += GAP_EVERY * rng.uniform(0.7, 1.3)
    return sorted(placed + gaps, key=lambda f: f.at)


def describe(schedule: list[Fault]) -> str:
    """One line per fault, for the soak's log."""
    lines = []
    for fault in schedule:
        target = ",".join(fault.symbols) if 0 < len(fault.symbols) <= 5 else f"{len(fault.symbols) or 'all'} symbols"
        length = f" for {fault.seconds:g} s" if fault.seconds else ""
        lines.append(f"  t={fault.at:7.1f} s  {fault.kind:<16} {target}{length}")
    return "\n".join(lines)
