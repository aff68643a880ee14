import numpy as np
import pytest

from core.analysis.history import History
from core.analysis.order_flow import compute_order_flow
from core.analysis.order_flow_window import SlidingOrderFlow
from core.analysis.series import series_from_snapshot
from core.simulator.market import SyntheticMarket
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage

START = 1_737_158_400


def market_snapshots(n: int, symbol: str = "BTCUSDT") -> list[OrderBookSnapshot]:
    market = SyntheticMarket(symbol, seed=4)
    out = []
    for i in range(n):
        for _ in range(5):
            market.next_event(i * 1000)
        raw = market.snapshot(20)
        out.append(
            OrderBookSnapshot(
                symbol,
                tuple(map(tuple, raw["bids"])),
                tuple(map(tuple, raw["asks"])),
                raw["lastUpdateId"],
                START + i,
            )
        )
    return out


@pytest.fixture
def storage(tmp_path):
    """60 seconds recorded with series rows, seconds 20..24 missing (gap records for 20..22)."""
    snaps = market_snapshots(60)
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as store:
        for snap in snaps:
            i = snap.timestamp - START
            if 20 <= i < 25:
                if i < 23:
                    store.put_tick([], [GapRecord("BTCUSDT", snap.timestamp, GapReason.DISCONNECTED)])
                continue
            store.put_tick([snap], [], [("BTCUSDT", snap.timestamp, series_from_snapshot(snap).to_bytes())])
        store.snaps = snaps
        yield store


def test_series_from_the_series_family_equals_deriving_it(storage):
    history = History(storage)
    arrays = history.series("BTCUSDT", START, START + 59)
    assert len(arrays["timestamp"]) == 55
    expected = [series_from_snapshot(s) for s in storage.snaps if not 20 <= s.timestamp - START < 25]
    assert arrays["timestamp"].tolist() == [r.timestamp for r in expected]
    assert np.allclose(arrays["mid"], [r.mid for r in expected])
    assert np.allclose(arrays["spread_bps"], [r.spread_bps for r in expected])
    assert arrays["update_id"].tolist() == [r.update_id for r in expected]


def test_series_falls_back_to_snapshots_without_a_series_family(tmp_path):
    snaps = market_snapshots(10)
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as store:
        for snap in snaps:
            store.put(snap.symbol, snap.timestamp, snap.to_bytes())  # like the reference service: no series
        arrays = History(store).series("BTCUSDT", START, START + 9)
    assert np.allclose(arrays["mid"], [series_from_snapshot(s).mid for s in snaps])


def test_ladder_at_exact_and_with_tolerance(storage):
    history = History(storage)
    assert history.ladder_at("BTCUSDT", START + 5) == storage.snaps[5]
    assert history.ladder_at("BTCUSDT", START + 22) is None
    assert history.ladder_at("BTCUSDT", START + 22, tolerance=5) == storage.snaps[19]


def test_get_order_flow_reads_its_window_from_the_store(storage):
    from core.analysis.order_flow import InsufficientDataError, compute_order_flow

    history = History(storage)
    latest = history.get_order_flow("btcusdt")  # the contract's defaults: 60 s ending at the last second
    stored = [s for s in storage.snaps if not 20 <= s.timestamp - START < 25]
    assert latest == compute_order_flow("BTCUSDT", stored, 60, START + 59)
    assert latest.snapshot_count == 60 - 5  # the window starts a second before the recording; 20..24 missing
    assert history.get_order_flow("BTCUSDT", 10, end=START + 15).snapshot_count == 11
    with pytest.raises(ValueError, match="between 10 and 300 seconds"):
        history.get_order_flow("BTCUSDT", 5)
    with pytest.raises(InsufficientDataError, match="need at least 2 snapshots in the 60 s window, got 0"):
        history.get_order_flow("ETHUSDT")
    with pytest.raises(InsufficientDataError, match="got 1"):
        history.get_order_flow("BTCUSDT", 10, end=START)


def test_order_flow_of_a_futures_symbol_however_its_name_is_typed(tmp_path):
    # USDⓈ-M books are stored as usdm/SYMBOL: the market prefix lower case, the symbol upper case.
    snaps = [OrderBookSnapshot("usdm/BTCUSDT", s.bids, s.asks, s.update_id, s.timestamp) for s in market_snapshots(20)]
    with SnapshotStorage.open(tmp_path / "db", mode="writer") as store:
        store.put_tick(snaps, [])
        history = History(store)
        expected = compute_order_flow("usdm/BTCUSDT", snaps, 10, START + 19)
        for typed in ("usdm/BTCUSDT", "USDM/btcusdt", " usdm/btcusdt "):
            flow = history.get_order_flow(typed, 10)
            assert flow == expected and flow.symbol == "usdm/BTCUSDT" and flow.snapshot_count == 11
        window = SlidingOrderFlow(store, "USDM/BTCUSDT")
        assert window.flow(10, START + 19) == expected
