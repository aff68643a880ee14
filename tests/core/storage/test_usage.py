"""Disk usage per symbol: count x mean record size, scaled to the database's size on disk."""

from __future__ import annotations

import pytest

from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from core.storage.usage import bytes_per_symbol, mean_value_length

START = 1_737_158_400


def book(symbol: str, ts: int, levels: int) -> bytes:
    bids = tuple((f"{100 - k * 0.01:.8f}", "1.00000000") for k in range(levels))
    asks = tuple((f"{101 + k * 0.01:.8f}", "1.00000000") for k in range(levels))
    return OrderBookSnapshot(symbol, bids, asks, ts, ts).to_bytes()


def test_a_symbol_with_deeper_books_takes_more_per_second_and_the_shares_add_up(tmp_path):
    with SnapshotStorage.open(tmp_path / "db") as storage:
        storage.put_encoded([("DEEPUSDT", START + i, book("DEEPUSDT", START + i, 20)) for i in range(600)])
        storage.put_encoded([("THINUSDT", START + i, book("THINUSDT", START + i, 2)) for i in range(600)])
        storage.put_encoded([("HOLEUSDT", START + i * 1000, book("HOLEUSDT", START + i * 1000, 2)) for i in range(5)])
        deep, thin = mean_value_length(storage, "DEEPUSDT"), mean_value_length(storage, "THINUSDT")
        assert deep == len(book("DEEPUSDT", START, 20)) and thin == len(book("THINUSDT", START, 2))
        assert mean_value_length(storage, "HOLEUSDT") == len(book("HOLEUSDT", START, 2))  # found across holes
        assert mean_value_length(storage, "NONEUSDT") == 0.0
        usage = bytes_per_symbol(storage, total_bytes=1_000_000)
        assert sum(usage.values()) == pytest.approx(1_000_000, abs=3)
        assert usage["DEEPUSDT"] / usage["THINUSDT"] == pytest.approx(deep / thin, rel=1e-3)
        assert bytes_per_symbol(storage, ["THINUSDT", "NONEUSDT"], total_bytes=1_000_000) == {
            "THINUSDT": usage["THINUSDT"], "NONEUSDT": 0,
        }  # fmt: skip
        assert sum(bytes_per_symbol(storage).values()) == pytest.approx(storage.size_on_disk(), abs=3)
