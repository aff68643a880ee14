"""What an archive holds: per market and symbol, the archived hours and the hours missing between the first
and the last of them, and the shard (`record --shard K/N`) that archived each symbol's newest hour. One recursive
listing, then one footer a symbol.

A missing hour is one with no file: either nothing was recorded then (the recorder was off, or the symbol
was not recorded) or it was never archived; the archive alone cannot tell which (`depthbook archive` fills
every hour the database can).
"""

from __future__ import annotations

import concurrent.futures
import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from core.archive.format import read_meta
from core.archive.layout import HOUR, STAGING_DIR, parse_hour_path
from core.archive.location import ArchiveLocation
from core.archive.rollup import ROLLUP_DIR


@dataclass
class SymbolStatus:
    market: str
    symbol: str
    hours: list[int] = field(default_factory=list)  # archived hour starts, in order
    bytes: int = 0
    shard: str = ""  # "K/N" of the recorder that archived its newest hour ("" when not sharded)
    newest_path: str = ""

    @property
    def first(self) -> int:
        return self.hours[0]

    @property
    def last(self) -> int:
        return self.hours[-1]

    @property
    def missing(self) -> list[tuple[int, int]]:
        """Runs of missing hours between the first and last archived one: (first start, last start)."""
        return missing_runs(self.hours)

    @property
    def missing_hours(self) -> int:
        return sum((b - a) // HOUR + 1 for a, b in self.missing)


@dataclass
class ArchiveStatus:
    symbols: list[SymbolStatus]
    staging: int  # objects in staging: uploads in progress, or left by a run that died (the next run removes them)
    other: int  # files that are not archive hours (ignored by Depthbook)


def missing_runs(hours: list[int]) -> list[tuple[int, int]]:
    runs = []
    for before, after in itertools.pairwise(hours):
        if after - before > HOUR:
            runs.append((before + HOUR, after - HOUR))
    return runs


def archive_status(location: ArchiveLocation) -> ArchiveStatus:
    found: dict[tuple[str, str], SymbolStatus] = {}
    hours: dict[tuple[str, str], set[int]] = defaultdict(set)
    newest: dict[tuple[str, str], int] = {}
    staging = other = 0
    for info in location.files():
        rel = location.relative(info.path)
        if rel.startswith(STAGING_DIR + "/"):
            staging += 1
            continue
        if rel.startswith(ROLLUP_DIR + "/"):  # derived per-minute rollups (core.archive.rollup)
            continue
        key = parse_hour_path(rel)
        if key is None:
            other += 1
            continue
        status = found.setdefault((key.market, key.symbol), SymbolStatus(key.market, key.symbol))
        hours[key.market, key.symbol].add(key.start)
        status.bytes += info.size or 0
        if not status.newest_path or key.start >= newest[key.market, key.symbol]:
            newest[key.market, key.symbol], status.newest_path = key.start, info.path
    for name, status in found.items():
        status.hours = sorted(hours[name])
    symbols = [found[name] for name in sorted(found)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:  # one footer a symbol: its newest hour's shard
        for status, shard in zip(symbols, pool.map(lambda s: _shard(location, s.newest_path), symbols), strict=True):
            status.shard = shard
    return ArchiveStatus(symbols, staging, other)


def _shard(location: ArchiveLocation, path: str) -> str:
    try:
        with location.fs.open_input_file(path) as handle:
            return read_meta(pq.read_metadata(handle), path).shard
    except (OSError, ValueError, pa.ArrowException):  # an unreadable footer: the status still lists the hour
        return "?"
