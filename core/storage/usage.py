"""Disk usage per symbol: an estimate, since RocksDB mixes every symbol in the same files.

RocksDB can say how many bytes a key range takes (GetApproximateSizes), but rocksdict does not expose it. So the
estimate is count × average record size: each symbol's stored seconds times the mean length of its newest
`SAMPLE` snapshot values (its books' depth and price digits make its records longer or shorter than another's),
scaled so that the symbols together take the database's size on disk (compression, series rows, gap records
and RocksDB's own files shared in proportion). Blocking: one short scan per symbol, and a walk of the directory.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.storage.store import SnapshotStorage

SAMPLE = 32  # values read per symbol for its mean record length


def mean_value_length(storage: SnapshotStorage, symbol: str, sample: int = SAMPLE) -> float:
    """The mean length of the symbol's newest `sample` stored values (0.0 when it has none)."""
    edges = storage.first_last(symbol)
    if edges is None:
        return 0.0
    last = edges[1]
    lengths: list[int] = []
    window = sample
    while len(lengths) < sample and window < 1 << 20:  # widen the range over holes, up to ~12 days back
        lengths = [len(v) for _, v in storage.range(symbol, max(edges[0], last - window + 1), last)][-sample:]
        if last - window + 1 <= edges[0]:
            break
        window *= 8
    return sum(lengths) / len(lengths) if lengths else 0.0


def bytes_per_symbol(
    storage: SnapshotStorage, symbols: Iterable[str] | None = None, total_bytes: int | None = None
) -> dict[str, int]:
    """Estimated bytes on disk of each symbol (every stored symbol by default), summing to the database's size
    when every symbol is asked for."""
    every = storage.symbols()
    weights = {s: storage.count(s) * mean_value_length(storage, s) for s in every}
    total_weight = sum(weights.values())
    size = storage.size_on_disk() if total_bytes is None else total_bytes
    wanted = every if symbols is None else list(symbols)
    return {s: round(size * weights.get(s, 0.0) / total_weight) if total_weight else 0 for s in wanted}
