"""One pass of `record --archive`'s follower: up to `max_hours` completed hours archived, oldest first; then, with
what is left of that budget, day rollup files of version 1 (core.archive.rollup) rewritten as version 2 from their
hour files, one day a unit. The first look at a symbol lists its day files and reads their footers once; a day
rewritten is version 2 from then on, so each is rewritten once.

The pass is blocking and holds no state of its own: what the follower knows between passes (`FollowState`)
goes in and comes back out in the `PassResult`, so the pass can run in a child process (core/archive/
pass_worker.py) as well as in the caller's thread (tests, a one-off pass over an open database).
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from core.archive.archiver import ArchiveOptions, Archiver, ArchiveReport
from core.archive.layout import HOUR, HourKey, hour_key
from core.archive.location import ArchiveError, ArchiveLocation
from core.storage.store import SnapshotStorage, StorageError


@dataclass(frozen=True)
class FollowOptions:
    market: str = "spot"
    symbols: tuple[str, ...] | None = None  # None: every symbol of the database
    shard: str = ""  # "K/N", written into every file's metadata
    every: float = 60.0  # seconds between passes once nothing waits (an hour completes at most once an hour)
    max_hours: int = 4  # uploads per pass
    duty: float = 0.25  # share of the time spent in passes while catching up
    backoff_initial: float = 5.0  # seconds after a failed pass, doubling, jittered
    backoff_max: float = 300.0


@dataclass
class SymbolProgress:
    archived: set[int] = field(default_factory=set)  # hour starts at or after done_before already archived
    done_before: int = 0  # every hour before this second is archived or holds nothing
    completed_end: int = 0  # the end of the last completed hour seen
    old_days: list[int] = field(default_factory=list)  # day files still to rewrite as version 2


@dataclass
class FollowState:
    """What the follower knows between passes. The first pass lists each symbol's archived hours once; after
    that the state keeps count, so an idle pass makes no request to the store."""

    symbols: dict[str, SymbolProgress] = field(default_factory=dict)
    checked: bool = False  # the archive was reached and stale staging removed once


@dataclass
class PassResult:
    state: FollowState  # updated, also when the pass failed part way (the hours it verified count)
    pending: int = 0  # completed hours still waiting
    uploaded: int = 0  # hours uploaded and verified by this pass
    upgraded: int = 0  # version-1 day files rewritten as version 2 by this pass
    bytes: int = 0
    seconds: float = 0.0  # wall time of the pass
    error: ArchiveError | StorageError | None = None  # why the pass stopped early; the hours wait
    fatal: bool = False  # the error ends archiving (the database cannot be opened)
    worker_pid: int = field(default_factory=os.getpid)  # the process the pass ran in


def archive_pass(
    storage: SnapshotStorage,
    location: ArchiveLocation,
    options: FollowOptions,
    state: FollowState,
    now: Callable[[], float],
    stopping: Callable[[], bool],
) -> PassResult:
    """Archive up to `options.max_hours` completed hours of `storage`, oldest first, each verified as
    `depthbook archive` does. Updates `state` in place and returns it in the result with what was done; an
    unreachable or refusing archive ends the pass early with `error` set (nothing is lost: the hours wait).
    `stopping()` true ends the pass after the hour in flight."""
    began = time.monotonic()
    result = PassResult(state)
    try:
        if storage.mode == "secondary":
            storage.catch_up()
        _pass(storage, location, options, state, now, stopping, result)
    except (ArchiveError, StorageError) as exc:
        result.error = exc
    result.seconds = time.monotonic() - began
    return result


def _pass(storage, location, options, state: FollowState, now, stopping, result: PassResult) -> None:
    # One attempt per step: the follower's own backoff spaces the retries (the recorder must not wait).
    archiver = Archiver(
        storage, location, ArchiveOptions(market=options.market, attempts=1, shard=options.shard, now=now)
    )
    report = ArchiveReport()
    if not state.checked:
        archiver.retrying(location.check, "reach the archive", report)
        archiver.remove_staging()
        state.checked = True
    todo: list[HourKey] = []
    symbols = storage.symbols()
    if options.symbols is not None:
        symbols = [s for s in symbols if s in options.symbols]
    for symbol in symbols:
        if stopping():
            result.pending = len(todo)
            return
        todo += _plan(archiver, state, symbol, report)
    todo.sort(key=lambda key: (key.start, key.symbol))
    done = 0
    upgrades = sum(len(p.old_days) for p in state.symbols.values())
    try:
        for key in todo[: options.max_hours]:
            if stopping():
                break
            if archiver.archive_hour(key, report):
                state.symbols[key.stored_symbol].archived.add(key.start)
            done += 1
    finally:
        result.uploaded, result.bytes = len(report.uploaded), report.bytes_uploaded
        result.pending = len(todo) - done + upgrades
        waiting: dict[str, int] = {}
        for key in todo[done:]:  # in time order: the first is each symbol's oldest waiting hour
            waiting.setdefault(key.stored_symbol, key.start)
        for symbol in {key.stored_symbol for key in todo}:
            progress = state.symbols[symbol]
            progress.done_before = waiting.get(symbol, progress.completed_end)
        for progress in state.symbols.values():  # hours before done_before are never looked at again
            progress.archived = {start for start in progress.archived if start >= progress.done_before}
    budget = options.max_hours - done
    for symbol, progress in state.symbols.items():
        while progress.old_days and budget > 0 and not stopping():
            rewrite = functools.partial(archiver.upgrade_day, symbol, progress.old_days[0])
            if archiver.retrying(rewrite, f"rewrite a version-1 day file of {symbol}", report):
                result.upgraded += 1
            progress.old_days.pop(0)  # rewritten, or nothing left to rewrite
            budget -= 1
            result.pending -= 1
    archiver.remove_staging()


def _plan(archiver: Archiver, state: FollowState, symbol: str, report: ArchiveReport) -> list[HourKey]:
    """The completed hours of `symbol` not archived yet that hold data; moves `done_before` past the rest."""
    progress = state.symbols.get(symbol)
    if progress is None:  # the first look at this symbol: one listing of what the archive already has
        listed = archiver.retrying(lambda: archiver.archived(symbol), f"list the archive of {symbol}", report)
        old_days = archiver.retrying(lambda: archiver.days_without_rows(symbol), f"list the days of {symbol}", report)
        progress = state.symbols[symbol] = SymbolProgress({key.start for key in listed}, old_days=old_days)
    hours = [h for h in archiver.completed_hours(symbol) if h >= progress.done_before]
    todo = []
    for start in hours:
        key = hour_key(symbol, start)
        if start not in progress.archived and archiver.has_data(key):
            todo.append(key)
    if hours:
        progress.completed_end = hours[-1] + HOUR
    if not todo:
        progress.done_before = progress.completed_end
    return todo
