"""The `horizons` column family (core.storage.horizons): what `depthbook stats` shows of each book's horizon."""

from __future__ import annotations

from core.storage.horizons import HorizonRow, last_horizon, pack_horizon, unpack_horizon
from core.storage.store import HORIZONS_CF, SnapshotStorage

T0 = 1_795_000_020  # a minute's first second


def test_a_row_round_trips_with_whole_sides_as_nil():
    assert unpack_horizon(T0, pack_horizon(812, None)) == HorizonRow(T0, 812, None)
    assert unpack_horizon(T0, pack_horizon(-3, 40)) == HorizonRow(T0, -3, 40)


def test_a_damaged_row_is_skipped_not_raised():
    for damaged in (b"\xc1", pack_horizon(1, 2) + b"x", b"\x93\x01\x02\x03", b"\x92\xa1a\x01"):
        assert unpack_horizon(T0, damaged) is None


def test_the_latest_row_of_a_symbol_is_read_and_no_other_symbols(tmp_path):
    storage = SnapshotStorage.open(tmp_path / "db", mode="writer")
    try:
        assert last_horizon(storage, "BTCUSDT") is None
        rows = [
            (HORIZONS_CF, "BTCUSDT", T0, pack_horizon(480, 470)),
            (HORIZONS_CF, "BTCUSDT", T0 + 60, pack_horizon(12, None)),
            (HORIZONS_CF, "BTCUSDTX", T0 + 120, pack_horizon(1, 1)),  # sorts after BTCUSDT's keys
            (HORIZONS_CF, "usdm/BTCUSDT", T0 + 120, pack_horizon(2, 2)),  # the futures book of that name
        ]
        storage.put_encoded([], [], [], rows)  # as the recorder writes them, in the tick's batch
        assert last_horizon(storage, "BTCUSDT") == HorizonRow(T0 + 60, 12, None)
        assert last_horizon(storage, "usdm/BTCUSDT") == HorizonRow(T0 + 120, 2, 2)
        assert storage.count("BTCUSDT") == 0  # nothing in the contract's family
    finally:
        storage.close()
    reader = SnapshotStorage.open(tmp_path / "db", mode="read_only")  # `stats` reads while another process records
    try:
        assert last_horizon(reader, "BTCUSDT") == HorizonRow(T0 + 60, 12, None)
    finally:
        reader.close()
