"""Real databases for the bad-input tests: a small recording, damaged records written with plain rocksdict in
raw mode (as a disk fault, another program or a hand edit would leave them), and a fingerprint of everything
stored, to show that nothing was lost or changed."""

from __future__ import annotations

from pathlib import Path

import msgpack
from rocksdict import AccessType, Options, Rdict

from core.analysis.series import series_from_snapshot
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

T0 = 1_737_158_400
FAMILIES = ("default", "meta", "gaps", "sessions", "series")


def book(symbol: str, ts: int, i: int = 0) -> OrderBookSnapshot:
    """A small two-sided snapshot whose levels move a little with `i`."""
    return OrderBookSnapshot(
        symbol,
        bids=((f"{100 - (i % 7) * 0.01:.2f}", f"{1 + i % 3}.0"), ("99.00", "2.0")),
        asks=((f"{101 + (i % 5) * 0.01:.2f}", f"{1 + i % 4}.5"), ("102.00", "1.0")),
        update_id=1000 + i,
        timestamp=ts,
    )


def record(path: Path, symbol: str = "BTCUSDT", start: int = T0, seconds: int = 120) -> None:
    """`seconds` snapshots with their series rows, one gap record after them and a closed session."""
    with SnapshotStorage.open(path) as storage:
        for i in range(seconds):
            snap = book(symbol, start + i, i)
            storage.put_tick([snap], [], [(symbol, start + i, series_from_snapshot(snap).to_bytes())])
        storage.put_tick([], [GapRecord(symbol, start + seconds, GapReason.STALE)])
        storage.start_session([symbol], start)
        storage.end_session(start + seconds, "stopped")


def raw(path: Path, read_only: bool = False) -> tuple[Rdict, dict[str, Rdict]]:
    """The database opened with nothing but rocksdict (raw mode), and a view on each column family."""
    names = Rdict.list_cf(str(path), Options(raw_mode=True))
    families = {name: Options(raw_mode=True) for name in names if name != "default"}
    access = AccessType.read_only(False) if read_only else AccessType.read_write()
    db = Rdict(str(path), Options(raw_mode=True), column_families=families, access_type=access)
    views = {"default": db, **{name: db.get_column_family(name) for name in families}}
    return db, views


def write_raw(path: Path, family: str, entries: dict[bytes, bytes]) -> None:
    db, views = raw(path)
    try:
        for key, value in entries.items():
            views[family][key] = value
    finally:
        for name, view in views.items():
            if name != "default":
                view.close()
        db.close()


def fingerprint(path: Path) -> dict[str, list[tuple[bytes, bytes]]]:
    """Every key and value of every column family (read-only, so taking it changes nothing)."""
    db, views = raw(path, read_only=True)
    try:
        return {name: list(view.items()) for name, view in views.items()}
    finally:
        for name, view in views.items():
            if name != "default":
                view.close()
        db.close()


def key(symbol: str, ts: int) -> bytes:
    return f"{symbol}:{ts:010d}".encode()


# Damaged snapshot values for a second: (what it is) -> bytes stored under that second's valid key.
DAMAGED_SNAPSHOTS = {
    "garbage bytes": lambda ts: b"\xc1\x00garbage",
    "a map, not an array": lambda ts: msgpack.packb({"bids": []}),
    "three elements": lambda ts: msgpack.packb([[], [], 1]),
    "a price that is not a number": lambda ts: msgpack.packb([[["abc", "1.0"]], [["101.00", "1.0"]], 7, ts]),
    "a level of one string": lambda ts: msgpack.packb([[["100.00"]], [["101.00", "1.0", "9"]], 7, ts]),
    "another second's timestamp": lambda ts: msgpack.packb([[["100.00", "1.0"]], [["101.00", "1.0"]], 7, ts + 1]),
}


def damage_snapshots(path: Path, symbol: str, first: int) -> list[int]:
    """Overwrite consecutive seconds from `first` with each kind of damaged value; returns those seconds."""
    seconds = [first + offset for offset in range(len(DAMAGED_SNAPSHOTS))]
    makers = DAMAGED_SNAPSHOTS.values()
    write_raw(path, "default", {key(symbol, ts): make(ts) for ts, make in zip(seconds, makers, strict=True)})
    return seconds
