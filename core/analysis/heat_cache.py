"""Heatmap rollup rows built for a database the app cannot write into (opened read-only, or a secondary following
another process's recording): kept for the process and in a cache file per database and symbol, so such a
database gets its rows built once, not at every start of the app.

The file sits beside the series rollups' (core.analysis.browse.RollupIndex.cache_file, a directory per database
real path) as `SYMBOL.heat.npz`: NumPy arrays, no pickles. It holds a version, the database's RocksDB identity
(its `IDENTITY` file: another database created at the same path has another one), the symbol, and per width
(minute, hour) the rows in the database's own layout (core.analysis.heat_rollups.encode_row), their first
seconds, and how many stored seconds their span had when they were built (the series rollups' minute counts).

A row is used only while its span still has that many stored seconds: retention deleting older seconds, or a
secondary seeing seconds written late, changes the count, and the row is dropped and built again. A file that
does not load, is another database's or symbol's, or holds a row that does not decode is ignored with a log
line (the next save replaces it). Saves go to a temporary name, then `os.replace`: a reader never sees half a
file. A row the database itself holds always wins over one from here (core.analysis.heat_rollups_build).
"""

from __future__ import annotations

import logging
import os
import threading
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from core.analysis.heat_rollups import HOUR, MINUTE, HeatRow, decode_rows, encode_row

log = logging.getLogger(__name__)

_VERSION = 1
WIDTHS = (MINUTE, HOUR)
# The stored seconds of each span now, for the given widths and first seconds (same order).
Counts = Callable[[int, np.ndarray], np.ndarray]


def database_identity(storage_path: str) -> str:
    """The RocksDB identity of the database at `storage_path` ('' when it has none to read)."""
    try:
        return Path(storage_path, "IDENTITY").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


class BuiltRows:
    """One database's and symbol's built rows, by width: the encoded row and the stored seconds it was built
    over, by first second. Safe to read from one thread while another adds."""

    def __init__(self, symbol: str, identity: str) -> None:
        self.symbol = symbol
        self.identity = identity
        self.loaded = 0  # rows that came from a cache file
        self.changed = False  # rows added or dropped since the last load or save
        self.saved = 0  # rows in the file at the last load or save
        self._rows: dict[int, dict[int, tuple[bytes, int]]] = {w: {} for w in WIDTHS}
        self._sorted: dict[int, tuple[np.ndarray, list[bytes]]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    def add(self, width: int, rows: Mapping[int, HeatRow], counts: Mapping[int, int]) -> None:
        encoded = {start: (encode_row(row), counts[start]) for start, row in rows.items()}
        with self._lock:
            self._rows[width].update(encoded)
            self._sorted.pop(width, None)
            self.changed = True

    def _put(self, width: int, starts: np.ndarray, values: list[bytes], counts: np.ndarray) -> None:
        self._rows[width] = dict(zip(starts.tolist(), zip(values, counts.tolist(), strict=True), strict=True))

    def _index(self, width: int) -> tuple[np.ndarray, list[bytes]]:
        with self._lock:
            index = self._sorted.get(width)
            if index is None:
                rows = self._rows[width]
                starts = np.fromiter(sorted(rows), np.int64, count=len(rows))
                index = self._sorted[width] = (starts, [rows[s][0] for s in starts.tolist()])
            return index

    def starts(self, width: int) -> np.ndarray:
        return self._index(width)[0]

    def items(self, width: int, start: int, end: int) -> list[tuple[int, bytes]]:
        """(first second, encoded row) of the rows whose first second is in [start, end], ascending."""
        starts, values = self._index(width)
        lo, hi = np.searchsorted(starts, [start, end + 1]).tolist()
        return list(zip(starts[lo:hi].tolist(), values[lo:hi], strict=True))

    def keep_matching(self, counts: Counts) -> int:
        """Drop the rows whose span's stored seconds (`counts` now) are not those they were built over, and the
        hour rows over a dropped minute row; the number dropped."""
        dropped = 0
        with self._lock:
            gone_minutes = np.empty(0, np.int64)
            for width in WIDTHS:
                rows = self._rows[width]
                if not rows:
                    continue
                starts = np.fromiter(rows, np.int64, count=len(rows))
                built = np.fromiter((c for _, c in rows.values()), np.int64, count=len(rows))
                stale = counts(width, starts) != built
                if width == HOUR:
                    stale |= np.isin(starts, gone_minutes // HOUR * HOUR)
                else:
                    gone_minutes = starts[stale]
                for start in starts[stale].tolist():
                    del rows[start]
                if stale.any():
                    self._sorted.pop(width, None)
                    dropped += int(stale.sum())
            self.changed |= dropped > 0
        return dropped

    def save(self, path: Path) -> None:
        """Write the rows to `path` (atomically); an error is logged, not raised: the cache is only a cache."""
        arrays: dict[str, np.ndarray] = {
            "version": np.array([_VERSION], np.int64),
            "identity": np.frombuffer(self.identity.encode(), np.uint8),
            "symbol": np.frombuffer(self.symbol.encode(), np.uint8),
        }
        with self._lock:
            for width in WIDTHS:
                rows = sorted(self._rows[width].items())
                arrays[f"starts_{width}"] = np.fromiter((s for s, _ in rows), np.int64, count=len(rows))
                arrays[f"counts_{width}"] = np.fromiter((c for _, (_, c) in rows), np.int64, count=len(rows))
                arrays[f"lengths_{width}"] = np.fromiter(
                    (len(v) for _, (v, _) in rows), np.int64, count=len(rows)
                )
                arrays[f"blob_{width}"] = np.frombuffer(b"".join(v for _, (v, _) in rows), np.uint8)
            total = len(self)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)  # compressed: 0.6x the size, 40x the time to save
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("could not cache heatmap rollups symbol=%s path=%s error=%s", self.symbol, path, exc)
            tmp.unlink(missing_ok=True)
            return
        self.saved, self.changed = total, False


def load(path: Path, symbol: str, identity: str) -> BuiltRows | None:
    """The rows kept in `path` for this database (`identity`) and symbol; None when there is no file, and when
    it does not load or is not theirs (logged)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if data["version"].tolist() != [_VERSION]:
                raise ValueError(f"version {data['version'].tolist()}, not {_VERSION}")
            if bytes(data["symbol"]).decode() != symbol:
                raise ValueError(f"the rows of {bytes(data['symbol']).decode()!r}, not {symbol!r}")
            if bytes(data["identity"]).decode() != identity:
                raise ValueError("another database's rows (its identity differs)")
            built = BuiltRows(symbol, identity)
            for width in WIDTHS:
                starts, counts, values = _rows_of(data, width)
                built._put(width, starts, values, counts)
    except (
        OSError,
        ValueError,
        KeyError,
        EOFError,
        zipfile.BadZipFile,
    ) as exc:  # UnicodeDecodeError: a ValueError
        log.warning("ignored a heatmap rollup cache path=%s error=%s", path, exc)
        return None
    built.loaded = built.saved = len(built)
    return built


def _rows_of(data, width: int) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    starts, counts, lengths = (
        data[f"{name}_{width}"].astype(np.int64) for name in ("starts", "counts", "lengths")
    )
    blob = data[f"blob_{width}"].tobytes()
    if (
        not len(starts) == len(counts) == len(lengths)
        or int(lengths.sum()) != len(blob)
        or (lengths < 0).any()
    ):
        raise ValueError(f"the {width} s rows' arrays do not match")
    if (np.diff(starts) <= 0).any():
        raise ValueError(f"the {width} s rows are not in order")
    ends = np.cumsum(lengths).tolist()
    values = [blob[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
    table, bad = decode_rows(list(zip(starts.tolist(), values, strict=True)), width)
    if bad or len(table) != len(starts):
        raise ValueError(f"{len(bad)} of the {width} s rows do not decode")
    return starts, counts, values
