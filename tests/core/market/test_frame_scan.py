"""The C reading of a diff frame (core/market/_frame_scan.c) against its specification, `parse_frame_as_json`.

It must read every real frame Binance sends (or it saves nothing), and for any text it either declines (None)
or gives exactly what the specification gives: never a frame the specification refuses, never other values.
"""

from __future__ import annotations

import gc
import json
import sys
import weakref
from dataclasses import dataclass

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.market import wire
from core.market.wire import DepthUpdate, WireFormatError, parse_frame_as_json, parse_stream_message

scan = wire.scan_depth_update
pytestmark = pytest.mark.skipif(scan is None, reason="the C frame reader is not built (pip install -e .)")

SPOT = "02_spot_btcusdt_ethusdt_ws_2024-09-03"
FUTURES = "05_usdm_futures_cryptofeed_2021-07-22"
SINGLE = "04_single_messages"


def spec(raw: bytes | str) -> tuple:
    try:
        return ("ok", parse_frame_as_json(raw))
    except WireFormatError as exc:
        return ("refused", str(exc))


def scanned(raw: bytes | str) -> DepthUpdate | None:
    event = scan(raw)
    assert event is None or type(event) is DepthUpdate  # built in C, as wire.py asked (`use_event_type`)
    return event


def real_frames(fixtures_dir) -> list[str]:
    frames = []
    for name in ("ws_combined_depth100ms_6symbols.jsonl", "ws_BTCUSDT_depth100ms_30events.jsonl"):
        frames += [line for line in (fixtures_dir / SPOT / name).read_text().splitlines() if line.strip()]
    capture = json.loads((fixtures_dir / FUTURES / "ws_SUSHIUSDT_depth100ms_frames.json").read_text())
    frames += [f["raw"] for f in capture["frames"] if '"depthUpdate"' in f["raw"]]
    frames.append((fixtures_dir / SINGLE / "spot_depthUpdate_BTCUSDT_2021-05-30_combined.json").read_text().strip())
    return frames


def test_every_real_diff_frame_is_read_in_c_exactly_as_the_specification_reads_it(fixtures_dir):
    frames = real_frames(fixtures_dir)
    assert len(frames) > 60 and any('"pu":' in f for f in frames)
    for raw in frames:
        for layout in (raw, raw.encode()):
            fast = scanned(layout)
            assert fast is not None, raw[:120]
            assert spec(layout) == ("ok", fast)
            assert parse_stream_message(layout) == fast


def test_a_frame_with_its_keys_sorted_is_left_to_the_specification(fixtures_dir):
    raw = (fixtures_dir / SINGLE / "spot_depthUpdate_BTCUSDT_2020-12-15_keys_sorted.json").read_text()
    assert scan(raw) is None  # "a" comes before "b": not Binance's layout
    assert isinstance(parse_stream_message(raw), DepthUpdate) and ("ok", parse_stream_message(raw)) == spec(raw)


def test_a_futures_frame_keeps_its_previous_update_id(fixtures_dir):
    frames = [f for f in real_frames(fixtures_dir) if '"pu":' in f]
    event = scanned(frames[0])
    assert event.prev_final_update_id == orjson.loads(frames[0])["data"]["pu"]


GOOD = (
    '{"stream":"btcusdt@depth@100ms","data":{"e":"depthUpdate","E":1700000000000,"s":"BTCUSDT","U":5,"u":9,'
    '"b":[["57710.99000000","0.12300000"],["57700.00000000","0.00000000"]],"a":[["57711.00000000","2.5"]]}}'
)
RAW_GOOD = GOOD[GOOD.index('"data":') + 7 : -1]


@pytest.mark.parametrize(
    "raw",
    [
        GOOD.replace(",", ", ", 1),  # a space
        GOOD.replace('"BTCUSDT"', '"BTC\\u0055SDT"'),  # an escape
        GOOD.replace('"E":1700000000000', '"E":1700000000000.0'),  # a float
        GOOD.replace('"U":5', '"U":-5'),  # a negative id
        GOOD.replace('"U":5', '"U":05'),  # a leading zero: not JSON
        GOOD.replace('"U":5', '"U":"5"'),  # an id as a string
        GOOD.replace('"U":5', '"U":5,"U":6'),  # a repeated member
        GOOD.replace('"U":5', '"U":9999999999999999999'),  # beyond 18 digits
        GOOD.replace('"U":5', '"U":10'),  # first after last
        GOOD.replace('"s":"BTCUSDT",', ""),  # no symbol
        GOOD.replace('"e":"depthUpdate"', '"e":"depthUpdated"'),
        GOOD.replace('"b":', '"a":[],"b":'),  # "a" before "b"
        GOOD.replace('"0.00000000"]]', '"-1"]]'),  # a signed quantity
        GOOD.replace('"57700.00000000"', '"0.00000000"'),  # a zero price
        GOOD.replace('"57700.00000000"', '"57700.000000001"'),  # a ninth significant decimal
        GOOD.replace('"2.5"', '"2."'),
        GOOD.replace('"2.5"', '"1e5"'),
        GOOD.replace('"2.5"', '"٢"'),  # a non-ASCII digit (the str is not ASCII)
        GOOD.replace('"2.5"', '"2.5","3"'),  # three items in a level
        GOOD.replace('"2.5"', '"' + "9" * 21 + '"'),
        GOOD + " ",  # something after the frame
        GOOD[:-1],  # cut short
        GOOD.replace("}}", "},\"x\":1}"),  # more after "data"
        "",
        "[]",
        '{"result":null,"id":1}',
    ],
)
def test_anything_but_the_exact_layout_is_left_to_the_specification(raw):
    assert scan(raw) is None
    assert scan(raw.encode()) is None


def test_what_the_c_reading_accepts_beside_the_spot_layout():
    futures = GOOD.replace('"s":', '"T":1699999999999,"s":').replace('"b":', '"pu":4,"b":')
    for raw in (GOOD, RAW_GOOD, futures):
        event = scanned(raw)
        assert event is not None and spec(raw) == ("ok", event)
    assert scanned(futures).prev_final_update_id == 4
    assert scanned(GOOD).prev_final_update_id is None
    empty = GOOD.replace('[["57711.00000000","2.5"]]', "[]")
    assert scanned(empty).asks == [] and spec(empty) == ("ok", scanned(empty))
    unknown = GOOD.replace('"s":', '"x":"y","n":0,"s":')  # members Binance may add some day
    assert scanned(unknown) == parse_frame_as_json(unknown)


def test_declines_what_is_not_text():
    for raw in (None, 5, bytearray(GOOD.encode()), memoryview(GOOD.encode())):
        assert scan(raw) is None


JSON_BYTES = st.sampled_from(list('{}[]",:.-0123456789eEabsuU \\x'))


@settings(max_examples=400, deadline=None)
@given(st.data())
@example(None)
def test_a_mutated_frame_is_declined_or_read_as_the_specification_reads_it(data):
    raw = GOOD
    if data is not None:
        for _ in range(data.draw(st.integers(1, 3))):
            at = data.draw(st.integers(0, len(raw)))
            cut = data.draw(st.integers(0, 2))
            raw = raw[:at] + data.draw(st.text(JSON_BYTES, max_size=3)) + raw[at + cut :]
    fast = scanned(raw)
    if fast is not None:
        assert spec(raw) == ("ok", fast), raw


DECIMAL = st.builds(
    lambda whole, frac: whole if frac is None else f"{whole}.{frac}",
    st.text("0123456789", min_size=1, max_size=21),
    st.none() | st.text("0123456789", min_size=0, max_size=21),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(DECIMAL, DECIMAL), max_size=5), st.lists(st.tuples(DECIMAL, DECIMAL), max_size=5))
def test_generated_levels_are_accepted_exactly_when_the_level_rules_accept_them(bids, asks):
    data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": 1, "u": 2, "b": [list(x) for x in bids],
            "a": [list(x) for x in asks]}  # fmt: skip
    raw = orjson.dumps({"stream": "btcusdt@depth@100ms", "data": data})
    expected = spec(raw)
    fast = scanned(raw)
    assert (fast is not None) == (expected[0] == "ok")  # every frame the specification takes, the C reading takes
    if fast is not None:
        assert expected == ("ok", fast)


def test_an_event_built_in_c_is_the_one_its_class_builds():
    event = scanned(GOOD)
    owners = {name: sys.getrefcount(getattr(event, name)) for name in ("symbol", "bids", "asks")}
    # Each held by the event and by the call alone: no reference taken twice, none lost.
    assert owners == {"symbol": 2, "bids": 2, "asks": 2}
    expected = DepthUpdate(*(getattr(event, name) for name in DepthUpdate.__slots__))
    assert event == expected and repr(event) == repr(expected)
    assert gc.is_tracked(event)  # its lists can make cycles through it: the collector must see it
    event.bids.append(event)
    gone = weakref_to_list(event.asks)
    del event, expected
    gc.collect()
    assert gone() is None  # the cycle was collected with everything it held


class Marker:
    pass


def weakref_to_list(items: list) -> weakref.ref:
    """A weak reference to a new object that only `items` holds."""
    marker = Marker()
    items.append(marker)
    return weakref.ref(marker)


def test_a_class_whose_fields_are_not_slots_of_their_own_is_refused():
    @dataclass
    class WithoutSlots:
        symbol: str = ""

    @dataclass(slots=True)
    class MissingOne:
        symbol: str
        first_update_id: int

    class Borrowing:  # another class's slots set on it: their offsets lie beyond its own instances
        __slots__ = ()

    for name in DepthUpdate.__slots__:
        setattr(Borrowing, name, getattr(DepthUpdate, name))

    for cls in (WithoutSlots, MissingOne, Borrowing, int, str, "DepthUpdate"):  # str, int: no tp_dict from 3.12
        with pytest.raises(TypeError):
            wire.use_event_type(cls)
    assert type(scan(GOOD)) is DepthUpdate  # a refusal changes nothing
