import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.market.wire import (
    ControlError,
    ControlResult,
    DepthSnapshot,
    DepthUpdate,
    ServerShutdown,
    WireFormatError,
    decimal_ticks,
    parse_exchange_info,
    parse_stream_message,
    ticks_to_decimal,
)


@pytest.mark.parametrize(
    ("text", "ticks"),
    [
        ("57710.99000000", 5771099000000),
        ("0.00000000", 0),
        ("0.00000001", 1),
        ("7.6110", 761100000),
        ("6", 600000000),
        ("0", 0),
        ("1.000000000000", 100000000),  # trailing zeros past 8 decimals are exact
    ],
)
def test_decimal_ticks_is_exact(text, ticks):
    assert decimal_ticks(text) == ticks


@pytest.mark.parametrize("text", ["", "abc", "-1.0", "1e-5", " 1.0", "1.000000001", "1..0", "0x10"])
def test_decimal_ticks_rejects_what_is_not_a_plain_decimal(text):
    with pytest.raises(ValueError):
        decimal_ticks(text)


@settings(max_examples=300, deadline=None)
@given(st.text("0123456789.-+e ", min_size=1, max_size=12), st.text("0123456789.-+e ", min_size=8, max_size=8))
def test_decimal_ticks_in_binance_spelling_is_exact_and_refuses_the_rest(whole, frac):
    text = f"{whole}.{frac}"  # the spelling the fast path reads: a dot before the last 8 characters
    if re.fullmatch(r"[0-9]+\.[0-9]{8}", text):
        assert decimal_ticks(text) == int(Decimal(text) * 10**8)
    else:
        with pytest.raises(ValueError):
            decimal_ticks(text)


def test_ticks_round_trip_to_binance_format():
    assert ticks_to_decimal(decimal_ticks("57710.99000000")) == "57710.99000000"
    assert ticks_to_decimal(0) == "0.00000000"


def test_combined_depth_update_is_parsed_with_exact_strings(fixtures_dir):
    line = fixtures_dir / "02_spot_btcusdt_ethusdt_ws_2024-09-03" / "ws_BTCUSDT_depth100ms_30events.jsonl"
    raw = line.read_text().splitlines()[0]
    event = parse_stream_message(raw)
    assert isinstance(event, DepthUpdate)
    assert (event.symbol, event.first_update_id, event.final_update_id) == (
        "BTCUSDT",
        51157289092,
        51157289107,
    )
    assert event.event_time == 1725382961414
    assert event.bids[0] == ["57710.99000000", "1.53088000"]
    assert event.prev_final_update_id is None


def test_futures_event_keeps_pu(fixtures_dir):
    import json

    frames = json.loads(
        (
            fixtures_dir / "05_usdm_futures_cryptofeed_2021-07-22" / "ws_SUSHIUSDT_depth100ms_frames.json"
        ).read_text()
    )
    event = parse_stream_message(frames["frames"][0]["raw"])
    assert isinstance(event, DepthUpdate)
    assert event.prev_final_update_id == 600859598061


def test_partial_depth_takes_its_symbol_from_the_stream_name(fixtures_dir):
    raw = (
        fixtures_dir / "04_single_messages" / "spot_partial_depth20_100ms_BTCUSDT_combined.json"
    ).read_bytes()
    snap = parse_stream_message(raw)
    assert isinstance(snap, DepthSnapshot)
    assert snap.symbol == "BTCUSDT"
    assert snap.last_update_id == 11655824136
    assert len(snap.bids) == 20


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"result":null,"id":1}', ControlResult(1, None)),
        ('{"result":["btcusdt@depth"],"id":3}', ControlResult(3, ["btcusdt@depth"])),
        (
            '{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":2}',
            ControlError(2, 2, "Invalid request: invalid stream"),
        ),
        ('{"code":3,"msg":"Invalid JSON","id":null}', ControlError(None, 3, "Invalid JSON")),
        (
            '{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}',
            ServerShutdown(1770123456789),
        ),
        ('{"e":"serverShutdown","E":5}', ServerShutdown(5)),
    ],
)
def test_control_and_lifecycle_frames(raw, expected):
    assert parse_stream_message(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b'{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate",',  # truncated
        b"not json",
        b"[1,2,3]",
        b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":"1","u":2,"b":[],"a":[]}',  # id as string
        b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":1,"u":2,"b":{},"a":[]}',
        b'{"e":"depthUpdate","E":1,"U":1,"u":2,"b":[],"a":[]}',  # no symbol
        b'{"e":"somethingElse"}',
    ],
)
def test_malformed_frames_raise_wire_format_error(raw):
    with pytest.raises(WireFormatError):
        parse_stream_message(raw)


def test_exchange_info_symbols_and_filters(fixtures_dir):
    import orjson

    data = orjson.loads(
        (
            fixtures_dir / "04_single_messages" / "spot_exchangeInfo_subset_2025-08-07_keys_sorted.json"
        ).read_bytes()
    )
    info = parse_exchange_info(data)
    btc = info["BTCUSDT"]
    assert btc.trading
    assert (btc.tick_size, btc.step_size) == ("0.01000000", "0.00001000")
    assert info["ETHUSDT"].step_size == "0.00010000"
