"""Strict price levels at the wire boundary (issue 11): what a level may look like, in diff events and in depth
snapshots, and what happens to everything else. Each malformed shape below is one the old parser let through
to the book (as a price, a quantity, or the deletion of a real level) or that the book only caught halfway
through an event.
"""

from __future__ import annotations

import json

import orjson
import pytest

from core.market.book_sync import BookSync, SyncState
from core.market.wire import (
    DepthSnapshot,
    DepthUpdate,
    WireFormatError,
    parse_depth_snapshot,
    parse_stream_message,
)


def update(bids, asks=(), symbol="BTCUSDT", combined=True, first=101, last=102) -> str:
    data = {"e": "depthUpdate", "E": 1, "s": symbol, "U": first, "u": last, "b": list(bids), "a": list(asks)}
    msg = {"stream": f"{symbol.lower()}@depth@100ms", "data": data} if combined else data
    return orjson.dumps(msg).decode()


def spaced(text: str) -> str:
    """The same JSON in another layout: the fast whole-frame check cannot match it, each level is checked."""
    return json.dumps(json.loads(text), separators=(", ", ": "))


GOOD = ["57710.99000000", "1.53088000"]

MALFORMED_LEVELS = [
    pytest.param(["٥٧٧١٠.٩٩", "1.0"], id="arabic-indic digits in the price"),
    pytest.param(["57710.99000000", "١.٥"], id="arabic-indic digits in the quantity"),
    pytest.param(["57710.99000000", "²"], id="superscript digit"),
    pytest.param("12", id="a string of two characters for a level"),
    pytest.param({"1.0": "a", "2.0": "b"}, id="an object with two keys for a level"),
    pytest.param(["57710.99000000"], id="one element"),
    pytest.param(["57710.99000000", "1.0", "2.0"], id="three elements"),
    pytest.param([57710.99, "1.0"], id="a number for the price"),
    pytest.param(["57710.99000000", 1], id="a number for the quantity"),
    pytest.param(["57710.99000000", None], id="null quantity"),
    pytest.param([["57710.99000000"], "1.0"], id="nested array"),
    pytest.param(["57710.99000000", "."], id="a lone dot as quantity (deleted a real level)"),
    pytest.param(["57710.99000000", "0."], id="trailing dot"),
    pytest.param(["57710.99000000", ".5"], id="leading dot"),
    pytest.param(["57710.99000000", ""], id="empty quantity"),
    pytest.param(["", "1.0"], id="empty price"),
    pytest.param(["57710.99000000", "-1.0"], id="negative quantity"),
    pytest.param(["+57710.99", "1.0"], id="plus sign"),
    pytest.param(["57710.99000000", "1e5"], id="exponent"),
    pytest.param(["57710.99000000", " 1.0"], id="leading space"),
    pytest.param(["57710.99000000", "1.0\n"], id="trailing newline"),
    pytest.param(["1.2.3", "1.0"], id="two dots"),
    pytest.param(["0x10", "1.0"], id="hex"),
    pytest.param(["NaN", "1.0"], id="NaN"),
    pytest.param(["0.00000000", "1.0"], id="zero price"),
    pytest.param(["0", "0"], id="zero price deleting"),
    pytest.param(["1.000000001", "1.0"], id="price finer than 1e-8"),
    pytest.param(["1" * 21, "1.0"], id="21 integer digits"),
    pytest.param(["57710.99000000", "1." + "1" * 21], id="21 decimals"),
    pytest.param(["57710.99000000", "x" * 1000], id="a kilobyte of junk"),
]


@pytest.mark.parametrize("level", MALFORMED_LEVELS)
@pytest.mark.parametrize("layout", ["compact", "spaced", "raw-stream", "bytes"])
def test_malformed_level_in_a_diff_event_is_refused_naming_symbol_and_value(level, layout):
    text = update([GOOD, level], combined=layout != "raw-stream")
    raw = spaced(text) if layout == "spaced" else text.encode() if layout == "bytes" else text
    with pytest.raises(WireFormatError) as err:
        parse_stream_message(raw)
    message = str(err.value)
    assert err.value.symbol == "BTCUSDT" and message.startswith("BTCUSDT depthUpdate bid")
    shown = message.split(": ", 1)[1]
    candidates = [level, *level] if isinstance(level, list) and len(level) == 2 else [level]
    assert len(shown) <= 40 and shown in [as_shown(value) for value in candidates], message


def as_shown(value: object) -> str:
    """How an error quotes an offending value: its repr, at most 40 characters."""
    text = repr(value[:40] if isinstance(value, str) else value)
    return text if len(text) <= 40 else text[:37] + "..."


@pytest.mark.parametrize("level", MALFORMED_LEVELS)
def test_malformed_ask_is_refused_too(level):
    with pytest.raises(WireFormatError, match=r"^BTCUSDT depthUpdate ask"):
        parse_stream_message(update([GOOD], [level]))


@pytest.mark.parametrize(
    "level",
    [
        ["57710.99000000", "0.00000000"],  # spot deletion
        ["7.6110", "6"],  # futures precision
        ["0.00000001", "0"],  # smallest price, futures zero
        ["1.00000000000000000000", "12345678901234567890.12345678901234567890"],
        ["00057710.99", "1"],  # leading zeros are plain digits too (the book treats it as a respelling)
    ],
)
def test_plain_decimals_pass_in_every_layout(level):
    text = update([level], [level])
    for raw in (text, spaced(text), text.encode(), update([level], [level], combined=False)):
        event = parse_stream_message(raw)
        assert isinstance(event, DepthUpdate) and event.bids == [level] and event.asks == [level]


def test_the_value_shown_is_cut_to_forty_characters():
    with pytest.raises(WireFormatError) as err:
        parse_stream_message(update([["57710.99000000", "9" * 5000 + "x"]]))
    assert str(err.value).endswith("'" + "9" * 36 + "...")


def test_an_unreadable_symbol_is_not_claimed():
    with pytest.raises(WireFormatError) as err:
        parse_stream_message(update([[".", "1"]], symbol="no such symbol!"))
    assert err.value.symbol == ""
    assert str(err.value).startswith("'no such symbol!' depthUpdate bid price")


def test_first_update_id_after_last_is_refused():
    with pytest.raises(WireFormatError, match="first update id 9 is after its last 8") as err:
        parse_stream_message(update([GOOD], first=9, last=8))
    assert err.value.symbol == "BTCUSDT"


def test_duplicate_keys_take_the_last_and_it_is_the_one_checked():
    good = update([GOOD])
    # An earlier "b" with a bad level, overridden by the last one: orjson keeps the last, which is clean.
    sneaky = good.replace('"b":', '"b":[["x","y"]],"b":', 1)
    assert parse_stream_message(sneaky).bids == [GOOD]
    # The reverse: the clean array first, the bad one last, is refused.
    worse = good.replace('"a":', '"b":[["x","y"]],"a":', 1)
    with pytest.raises(WireFormatError):
        parse_stream_message(worse)


def test_malformed_levels_never_reach_a_live_book():
    """The tester's cases end to end: before, the '.' quantity deleted a real level and the unicode and
    two-character levels became book entries; now the event is refused before the book sees it."""
    sync = BookSync("BTCUSDT")
    sync.on_event(parse_stream_message(update([GOOD], first=100, last=100)), 0)
    snapshot = {"lastUpdateId": 100, "bids": [GOOD], "asks": [["57711.00000000", "2.00000000"]]}
    sync.on_snapshot(parse_depth_snapshot(snapshot, "BTCUSDT"), 0)
    assert sync.state is SyncState.LIVE
    before = sync.book.as_dicts()
    for level in (["57710.99000000", "."], "12", ["٥٧٧١٠.٩٩", "1.0"], ["0.00000000", "3.0"]):
        with pytest.raises(WireFormatError):
            sync.on_event(parse_stream_message(update([level], first=101, last=101)), 0)
    assert sync.book.as_dicts() == before and sync.state is SyncState.LIVE


# --- snapshots -------------------------------------------------------------------------------------------


def snapshot(bids, asks, last=7):
    return {"lastUpdateId": last, "bids": bids, "asks": asks}


def test_a_good_snapshot_passes():
    snap = parse_depth_snapshot(
        snapshot([["101.00", "1"], ["100.5", "2"], ["100", "3"]], [["101.01", "1"], ["102", "1"]]), "BTCUSDT"
    )
    assert isinstance(snap, DepthSnapshot) and snap.last_update_id == 7 and len(snap.bids) == 3
    assert parse_depth_snapshot(snapshot([], []), "X").bids == []  # an empty book is not malformed
    assert parse_depth_snapshot(snapshot([["1", "1"]], []), "X").asks == []


@pytest.mark.parametrize(
    ("bids", "asks", "reason"),
    [
        ([["101", "1"]], [["101", "1"]], "crossed: best bid 101 is not below best ask 101"),
        ([["101", "1"]], [["100.99999999", "1"]], "crossed"),
        ([["101.00000000", "1"]], [["101", "1"]], "crossed"),  # equal once compared exactly
        ([["99999999999.99999999", "1"]], [["99999999999.99999998", "1"]], "crossed"),  # floats say equal
        ([["100", "1"], ["101", "1"]], [], "bids are not in descending price order at 101"),
        ([], [["101", "1"], ["100", "1"]], "asks are not in ascending price order at 100"),
        ([["100", "1"], ["100.0", "2"]], [], "bids repeat the price 100.0"),
        ([], [["100", "1"], ["100", "2"]], "asks repeat the price 100"),
        ([["100", "0.00000000"]], [], "bid quantity is not a plain decimal above zero: '0.00000000'"),
        ([["100", "1e3"]], [], "bid quantity is not a plain decimal above zero: '1e3'"),
        ([], [["x", "1"]], "ask price is not a plain decimal above zero: 'x'"),
        ([["100"]], [], "bid is not a [price, quantity] pair: ['100']"),
        ("oops", [], "bids should be a list of [price, quantity], got 'oops'"),
    ],
)
def test_a_snapshot_that_is_crossed_unsorted_repeated_or_malformed_is_refused(bids, asks, reason):
    with pytest.raises(WireFormatError) as err:
        parse_depth_snapshot(snapshot(bids, asks), "BTCUSDT")
    assert str(err.value).startswith("BTCUSDT depth snapshot ") and reason in str(err.value)
    assert err.value.symbol == "BTCUSDT"


def test_a_crossed_partial_depth_frame_is_a_malformed_frame():
    frame = {"stream": "btcusdt@depth20@100ms", "data": snapshot([["101", "1"]], [["100", "1"]])}
    with pytest.raises(WireFormatError, match=r"^BTCUSDT depth snapshot is crossed"):
        parse_stream_message(orjson.dumps(frame))


def test_real_fixtures_still_parse(fixtures_dir):
    for path in sorted(fixtures_dir.glob("02_*/*.jsonl")):
        for line in path.read_text().splitlines():
            assert isinstance(parse_stream_message(line), DepthUpdate)
    partial = fixtures_dir / "04_single_messages" / "spot_partial_depth20_100ms_BTCUSDT_combined.json"
    assert isinstance(parse_stream_message(partial.read_bytes()), DepthSnapshot)
    for path in sorted(fixtures_dir.glob("04_single_messages/spot_depthUpdate_*.json")):
        assert isinstance(parse_stream_message(path.read_bytes()), DepthUpdate), path.name
    futures = fixtures_dir / "05_usdm_futures_cryptofeed_2021-07-22"
    for frame in json.loads((futures / "ws_SUSHIUSDT_depth100ms_frames.json").read_text())["frames"]:
        parse_stream_message(frame["raw"])
    rest = json.loads((futures / "rest_fapi_v1_depth_SUSHIUSDT_limit1000.json").read_text())
    assert len(parse_depth_snapshot(rest, "SUSHIUSDT").bids) > 500
