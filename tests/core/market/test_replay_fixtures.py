"""Replays of real captured Binance frames through parsing and BookSync."""

import json
from itertools import pairwise

import pytest

from core.market.book_sync import BookSync, Continuity, GapDetected, SyncState
from core.market.wire import (
    DepthSnapshot,
    DepthUpdate,
    decimal_ticks,
    parse_depth_snapshot,
    parse_stream_message,
)

SPOT = "02_spot_btcusdt_ethusdt_ws_2024-09-03"
FUTURES = "05_usdm_futures_cryptofeed_2021-07-22"


def spot_events(path):
    return [parse_stream_message(line) for line in path.read_text().splitlines() if line.strip()]


def synthesized_snapshot(first: DepthUpdate, last_id: int) -> DepthSnapshot:
    """The capture has no REST snapshot: start from the levels of the first event (a subset of the true book)."""
    nonzero = lambda levels: [lv for lv in levels if decimal_ticks(lv[1])]  # noqa: E731
    return DepthSnapshot(last_id, nonzero(first.bids), nonzero(first.asks))


@pytest.mark.parametrize("offset", [-1, 0, 5])
@pytest.mark.parametrize("symbol", ["BTCUSDT", "ETHUSDT"])
def test_real_spot_sequence_stays_live_without_gaps(fixtures_dir, symbol, offset):
    events = spot_events(fixtures_dir / SPOT / f"ws_{symbol}_depth100ms_30events.jsonl")
    assert len(events) == 30
    first = events[0]
    last_id = first.first_update_id + offset if offset >= 0 else first.first_update_id - 1
    last_id = min(last_id, first.final_update_id)
    sync = BookSync(symbol)
    actions = []
    for event in events[:3]:  # three events arrive while the snapshot downloads
        actions += sync.on_event(event, now=0)
    actions += sync.on_snapshot(synthesized_snapshot(first, last_id), now=0)
    for event in events[3:]:
        actions += sync.on_event(event, now=0)
    assert sync.state is SyncState.LIVE
    assert not any(isinstance(a, GapDetected) for a in actions)
    assert sync.counters.gaps == sync.counters.resyncs == 0
    assert sync.book.last_update_id == events[-1].final_update_id
    assert not sync.book.is_crossed()


def test_combined_six_symbol_capture_routes_per_symbol(fixtures_dir):
    frames = spot_events(fixtures_dir / SPOT / "ws_combined_depth100ms_6symbols.jsonl")
    syncs: dict[str, BookSync] = {}
    for event in frames:
        sync = syncs.get(event.symbol)
        if sync is None:
            sync = syncs[event.symbol] = BookSync(event.symbol)
            sync.on_event(event, now=0)
            sync.on_snapshot(synthesized_snapshot(event, event.first_update_id), now=0)
        else:
            sync.on_event(event, now=0)
    assert set(syncs) == {"BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "DOTUSDT", "XRPUSDT"}
    for sync in syncs.values():
        assert sync.state is SyncState.LIVE, sync.symbol
        assert sync.counters.gaps == 0, sync.symbol


def test_real_futures_sequence_chains_by_pu(fixtures_dir):
    capture = json.loads((fixtures_dir / FUTURES / "ws_SUSHIUSDT_depth100ms_frames.json").read_text())
    rest = parse_depth_snapshot(
        json.loads((fixtures_dir / FUTURES / "rest_fapi_v1_depth_SUSHIUSDT_limit1000.json").read_text())
    )
    rest_at = capture["rest_snapshot"]["recv_ts"]
    events = [(f["recv_ts"], parse_stream_message(f["raw"])) for f in capture["frames"]]
    events = [(ts, e) for ts, e in events if isinstance(e, DepthUpdate)]
    # On futures U never equals previous u + 1: spot continuity would see a gap at every event.
    assert not any(
        b.first_update_id == a.final_update_id + 1 for (_, a), (_, b) in pairwise(events)
    )
    sync = BookSync("SUSHIUSDT", Continuity.FUTURES)
    snapshot_given = False
    for ts, event in events:
        if ts > rest_at and not snapshot_given:
            sync.on_snapshot(rest, now=ts)
            snapshot_given = True
        sync.on_event(event, now=ts)
    assert sync.state is SyncState.LIVE
    assert sync.counters.gaps == 0 and sync.counters.resyncs == 0
    assert sync.book.last_update_id == events[-1][1].final_update_id
    assert not sync.book.is_crossed()
    assert sync.book.bid_count > 500
