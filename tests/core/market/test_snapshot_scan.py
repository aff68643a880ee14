"""The C reading of a REST depth answer (core/market/_frame_scan.c, `scan_depth_snapshot`) against its
specification, `parse_depth_snapshot` over orjson: for any bytes it either declines (None) or gives exactly the
snapshot the specification gives; never one the specification refuses (unsorted, a repeated price, crossed, a
zero quantity, a level that breaks the LEVEL RULES)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from core.market import wire
from core.market.wire import WireFormatError, parse_depth_snapshot, read_depth_snapshot

scan = wire.scan_depth_snapshot
pytestmark = pytest.mark.skipif(scan is None, reason="the C frame reader is not built (pip install -e .)")

FUTURES = "05_usdm_futures_cryptofeed_2021-07-22/rest_fapi_v1_depth_SUSHIUSDT_limit1000.json"
GOOD = b'{"lastUpdateId":1027024,"bids":[["4.00000000","431.00000000"],["3.99000000","9.5"]],"asks":[["4.00000200","12.00000000"]]}'


def spec(raw: bytes) -> tuple:
    try:
        return ("ok", parse_depth_snapshot(orjson.loads(raw), "BTCUSDT"))
    except (WireFormatError, orjson.JSONDecodeError) as exc:
        return ("refused", type(exc).__name__)


def test_a_real_answer_is_read_in_c_exactly_as_the_specification_reads_it(fixtures_dir):
    for raw in (GOOD, (fixtures_dir / FUTURES).read_bytes().strip()):
        fast = read_depth_snapshot(raw, "BTCUSDT")
        assert fast is not None
        assert spec(raw) == ("ok", fast)
    assert len(read_depth_snapshot((fixtures_dir / FUTURES).read_bytes().strip()).bids) == 1000


@pytest.mark.parametrize(
    "raw",
    [
        GOOD.replace(b'"3.99000000"', b'"4.00000000"'),  # a repeated price
        GOOD.replace(b'"3.99000000"', b'"4.10000000"'),  # bids not falling
        GOOD.replace(b'"4.00000200"', b'"4.00000000"'),  # crossed: best bid at best ask
        GOOD.replace(b'"9.5"', b'"0.000"'),  # a zero quantity: no snapshot holds one
        GOOD.replace(b'"9.5"', b'"-9.5"'),
        GOOD.replace(b'"4.00000200"', b'"4.000000201"'),  # a ninth significant decimal
        GOOD.replace(b'"lastUpdateId":1027024', b'"lastUpdateId":"1027024"'),
        GOOD.replace(b'"lastUpdateId":1027024', b'"lastUpdateId":1,"lastUpdateId":2'),  # orjson keeps the last
        GOOD.replace(b"1027024", b"99999999999999999999"),  # beyond 18 digits
        GOOD.replace(b'"lastUpdateId":1027024,', b""),
        GOOD.replace(b'{"lastUpdateId":1027024,', b'{"x":[1],"lastUpdateId":1027024,'),  # not an integer member
        GOOD + b"\n",
        GOOD.replace(b",", b", "),
        GOOD[:-1],
        b'{"lastUpdateId":5,"asks":[],"bids":[]}',  # keys in another order
        b"[]",
        b"",
    ],
)
def test_anything_but_a_clean_answer_is_left_to_the_specification(raw):
    assert scan(raw) is None


def test_prices_beyond_ten_whole_digits_are_left_to_the_specification():
    big = b'{"lastUpdateId":1,"bids":[["12345678901.5","1"]],"asks":[]}'
    assert scan(big) is None and spec(big)[0] == "ok"
    padded = b'{"lastUpdateId":1,"bids":[["0000001234567890.10000000000","1"]],"asks":[["1234567890.2","1"]]}'
    assert spec(padded) == ("ok", read_depth_snapshot(padded, "BTCUSDT"))  # leading zeros add no digit


def test_what_is_not_bytes_is_declined():
    for raw in (GOOD.decode(), bytearray(GOOD), memoryview(GOOD), None):
        assert scan(raw) is None


PRICE = st.builds(
    lambda whole, frac: whole if frac is None else f"{whole}.{frac}",
    st.text("0123456789", min_size=1, max_size=12),
    st.none() | st.text("0123456789", min_size=1, max_size=10),
)
QTY = st.sampled_from(["1", "0", "0.5", "12.00000000", "0.00000001", "00"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(PRICE, QTY), max_size=6), st.lists(st.tuples(PRICE, QTY), max_size=6), st.booleans())
@example([("2", "1"), ("1", "1")], [("3", "1")], False)
def test_generated_answers_are_read_as_the_specification_reads_them(bids, asks, futures):
    body = {"lastUpdateId": 7, **({"E": 1, "T": 2} if futures else {}), "bids": bids, "asks": asks}
    raw = orjson.dumps(body)
    expected, fast = spec(raw), read_depth_snapshot(raw, "BTCUSDT")
    if fast is not None:
        assert expected == ("ok", fast)
    elif expected[0] == "ok":  # declined though the specification takes it: only for prices it cannot hold
        assert any(len(p.split(".")[0].lstrip("0")) > 10 for p, _ in bids + asks)


JSON_BYTES = st.sampled_from(list(b'{}[]",:.-0123456789eabsk '))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_a_mutated_answer_is_declined_or_read_as_the_specification_reads_it(data):
    raw = GOOD
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        cut = data.draw(st.integers(0, 2))
        raw = raw[:at] + bytes(data.draw(st.lists(JSON_BYTES, max_size=3))) + raw[at + cut :]
    fast = read_depth_snapshot(raw, "BTCUSDT")
    if fast is not None:
        assert spec(raw) == ("ok", fast), raw
