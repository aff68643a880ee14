"""A sampled heatmap reads its books straight from their MessagePack (`parse_raw`): the same numbers as the
snapshots decoded and parsed one by one, and a view with a damaged value or level falls back to that decoding,
which leaves the damaged seconds out and counts them."""

from __future__ import annotations

import numpy as np

from core.analysis.browse import build_rollups, decode_tolerant
from core.analysis.depth_image import ColumnCache, depth_image, parse_books, parse_raw
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from tests.core.analysis.recordings import START, book_at

SYMBOL = "BTCUSDT"
SPAN = 3600


def _write(path, damaged: dict[int, bytes]) -> None:
    with SnapshotStorage.open(path, mode="writer") as storage:
        snaps = [book_at(SYMBOL, ts) for ts in range(START, START + SPAN)]
        storage.put_encoded([(SYMBOL, s.timestamp, s.to_bytes()) for s in snaps])
        for ts, value in damaged.items():
            storage.put(SYMBOL, ts, value)


def test_books_parsed_raw_equal_the_decoded_snapshots_parsed(tmp_path):
    _write(tmp_path / "db", {})
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as storage:
        items = list(storage.range(SYMBOL, START, START + 299))
        raw, tick_sample = parse_raw(items)
        decoded = parse_books(decode_tolerant(storage, SYMBOL, items))
        assert sorted(raw) == sorted(decoded) == list(range(START, START + 300))
        for ts, (prices, qtys, bids) in decoded.items():
            np.testing.assert_array_equal(raw[ts][0], prices)
            np.testing.assert_array_equal(raw[ts][1], qtys)
            assert raw[ts][2] == bids
        last = book_at(SYMBOL, START + 299)
        assert tick_sample == [p for p, _ in last.bids + last.asks]


def test_a_sampled_view_with_damage_leaves_the_damaged_seconds_out_and_counts_them(tmp_path):
    bad_value, bad_level = START + 1207, START + 2415
    broken = book_at(SYMBOL, bad_level)
    level = OrderBookSnapshot(
        SYMBOL, (("1.0x", "2"), *broken.bids[1:]), broken.asks, broken.update_id, bad_level
    )
    _write(tmp_path / "db", {bad_value: b"\x94\xc1 not msgpack", bad_level: level.to_bytes()})
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as storage:
        state = build_rollups(storage, SYMBOL)  # (it counts the damage too, on its own handle)
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as storage:
        assert parse_raw([(bad_value, storage.get(SYMBOL, bad_value))]) is None
        assert parse_raw([(bad_level, storage.get(SYMBOL, bad_level))]) is None
        assert storage.damage.count(SYMBOL) == 0
        image = depth_image(
            storage, state, START, START + SPAN - 1, columns=SPAN, cache=ColumnCache(), rollups=False
        )
        assert image.step == 1
        assert image.sampled[bad_value - START] == -1 and image.sampled[bad_level - START] == -1
        assert (np.delete(image.sampled, [bad_value - START, bad_level - START]) >= 0).all()
        assert storage.damage.count(SYMBOL) == 2
