"""OrderBookSnapshot: the contract's MessagePack value and SYMBOL:SECONDS key."""

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.market import book_side
from core.market.orderbook import OrderBook
from core.storage.keys import MAX_TIMESTAMP, parse_snapshot_key, snapshot_key
from core.storage.snapshot import OrderBookSnapshot, SnapshotDecodeError

BIDS = (("67650.01000000", "0.50000000"), ("67650.00000000", "1.25000000"))
ASKS = (("67650.02000000", "0.10000000"), ("67651.00000000", "3.00000000"))


def make_snapshot(levels: int = 2) -> OrderBookSnapshot:
    bids = tuple((f"{67650.01 - i / 100:.8f}", f"{0.5 + i:.8f}") for i in range(levels))
    asks = tuple((f"{67650.02 + i / 100:.8f}", f"{0.1 + i:.8f}") for i in range(levels))
    return OrderBookSnapshot("BTCUSDT", bids, asks, update_id=123456789, timestamp=1737158400)


class FakeBook:
    """Duck-types core.orderbook.OrderBook: the sides are stored best first."""

    symbol = "BTCUSDT"
    last_update_id = 42

    def __init__(self, depth: int) -> None:
        self.bids = [(f"{100 - i}.00", "1.0") for i in range(depth)]
        self.asks = [(f"{101 + i}.00", "2.0") for i in range(depth)]

    def top_bids(self, n: int) -> list[tuple[str, str]]:
        return self.bids[:n]

    def top_asks(self, n: int) -> list[tuple[str, str]]:
        return self.asks[:n]


def test_value_is_the_contract_array_bids_asks_update_id_timestamp():
    snapshot = OrderBookSnapshot("BTCUSDT", BIDS, ASKS, update_id=987, timestamp=1737158400)

    assert msgpack.unpackb(snapshot.to_bytes()) == [
        [["67650.01000000", "0.50000000"], ["67650.00000000", "1.25000000"]],
        [["67650.02000000", "0.10000000"], ["67651.00000000", "3.00000000"]],
        987,
        1737158400,
    ]


def test_bytes_equal_what_a_plain_msgpack_writer_produces():
    # The same bytes as rmp_serde's compact form: fixarray(4), the symbol nowhere in the value.
    snapshot = OrderBookSnapshot("BTCUSDT", BIDS, ASKS, update_id=987, timestamp=1737158400)
    expected = msgpack.packb(
        [[list(level) for level in BIDS], [list(level) for level in ASKS], 987, 1737158400]
    )

    data = snapshot.to_bytes()

    assert data == expected
    assert data[0] == 0x94
    assert b"BTCUSDT" not in data


def test_from_orderbook_takes_top_levels_update_id_and_the_given_second():
    snapshot = OrderBookSnapshot.from_orderbook(FakeBook(depth=30), timestamp=1737158400)

    assert snapshot.symbol == "BTCUSDT"
    assert len(snapshot.bids) == len(snapshot.asks) == 20
    assert snapshot.bids[0] == ("100.00", "1.0") and snapshot.asks[0] == ("101.00", "2.0")
    assert snapshot.update_id == 42 and snapshot.timestamp == 1737158400
    assert OrderBookSnapshot.from_orderbook(FakeBook(depth=30), 1737158400, depth=5).bids == tuple(
        FakeBook(5).bids
    )


@pytest.mark.parametrize("side", [book_side.Side, OrderBook("X")._bids.__class__], ids=["python", "compiled"])
def test_a_captured_snapshot_holds_its_levels_packed_and_reads_them_as_the_book_had_them(side):
    # The recorder's capture makes no level tuples: the levels are the packed bytes until someone reads them.
    book = OrderBook("BTCUSDT", side=side)
    book.load_snapshot([(f"{100 - i}.5", f"{i + 1}.25") for i in range(30)], [("101.0", "7"), ("102", "0.1")], 42)
    captured = OrderBookSnapshot.from_orderbook(book, 1737158400)
    plain = OrderBookSnapshot("BTCUSDT", tuple(book.top_bids(20)), tuple(book.top_asks(20)), 42, 1737158400)

    assert captured.to_bytes() == plain.to_bytes()  # stored as they are, never decoded
    assert captured._bids is None and captured._asks is None
    assert captured == plain and captured.bids == plain.bids and captured.asks == plain.asks
    assert not captured.is_empty and repr(captured) == repr(plain)


def test_a_snapshot_at_another_second_shares_its_levels_and_a_fresh_capture_does_not():
    book = OrderBook("BTCUSDT")
    book.load_snapshot([("100.0", "1")], [("101.0", "2")], 42)
    first = OrderBookSnapshot.from_orderbook(book, 1737158400)
    later = first.at(1737158401)
    again = OrderBookSnapshot.from_orderbook(book, 1737158401)
    plain = make_snapshot()

    assert later.timestamp == 1737158401 and later.bids == first.bids and later.update_id == 42
    assert later.shares_levels(first) and not again.shares_levels(first)
    assert again == later  # equal levels, not the same objects
    assert plain.at(1).shares_levels(plain) and not make_snapshot().shares_levels(plain)


def test_empty_book_gives_an_empty_snapshot():
    snapshot = OrderBookSnapshot.from_orderbook(FakeBook(depth=0), timestamp=1737158400)

    assert snapshot.is_empty
    assert not make_snapshot().is_empty


level = st.tuples(st.text(max_size=20), st.text(max_size=20))


@given(
    bids=st.lists(level, max_size=25).map(tuple),
    asks=st.lists(level, max_size=25).map(tuple),
    update_id=st.integers(0, 2**64 - 1),
    timestamp=st.integers(0, MAX_TIMESTAMP),
)
def test_round_trip(bids, asks, update_id, timestamp):
    snapshot = OrderBookSnapshot("ETHUSDT", bids, asks, update_id, timestamp)

    assert OrderBookSnapshot.from_bytes("ETHUSDT", snapshot.to_bytes()) == snapshot


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xc1", "not valid MessagePack"),  # 0xc1 is never used by MessagePack
        (make_snapshot().to_bytes()[:-3], "not valid MessagePack"),  # truncated
        (make_snapshot().to_bytes() + b"\x00", "not valid MessagePack"),  # trailing data
        (b"", "not valid MessagePack"),
        (msgpack.packb({"bids": []}), "4-element array"),
        (msgpack.packb([[], [], 1]), "4-element array"),
        (msgpack.packb(7), "4-element array"),
        (msgpack.packb(["x", [], 1, 2]), "bids must be an array"),
        (msgpack.packb([[], [["1", "2", "3"]], 1, 2]), "asks level must be a [price, quantity] pair"),
        (msgpack.packb([[["1", 2]], [], 1, 2]), "bids level must be a [price, quantity] pair"),
        (msgpack.packb([[[b"1", b"2"]], [], 1, 2]), "bids level must be a [price, quantity] pair"),
        (msgpack.packb([[], [], "1", 2]), "update_id must be a non-negative integer"),
        (msgpack.packb([[], [], True, 2]), "update_id must be a non-negative integer"),
        (msgpack.packb([[], [], -1, 2]), "update_id must be a non-negative integer"),
        (msgpack.packb([[], [], 1, 2.5]), "timestamp must be an integer"),
    ],
)
def test_bad_data_raises_a_decode_error_saying_what_is_wrong(data, message):
    with pytest.raises(SnapshotDecodeError, match="BTCUSDT snapshot") as excinfo:
        OrderBookSnapshot.from_bytes("BTCUSDT", data)

    assert message in str(excinfo.value)
    assert isinstance(excinfo.value, ValueError)


def test_key_is_symbol_colon_ten_digit_second():
    assert snapshot_key("BTCUSDT", 1737158400) == b"BTCUSDT:1737158400"
    assert snapshot_key("BTCUSDT", 5) == b"BTCUSDT:0000000005"
    assert make_snapshot().key == b"BTCUSDT:1737158400"
    assert parse_snapshot_key(b"BTCUSDT:1737158400") == ("BTCUSDT", 1737158400)


@pytest.mark.parametrize(
    ("symbol", "ts"), [("BTCUSDT", -1), ("BTCUSDT", MAX_TIMESTAMP + 1), ("A:B", 1), ("", 1)]
)
def test_key_rejects_what_would_break_the_sort_order(symbol, ts):
    with pytest.raises(ValueError):
        snapshot_key(symbol, ts)


@pytest.mark.parametrize(
    "key",
    [
        b"trades:BTCUSDT:1737158400123",
        b"BTCUSDT:173715840",
        b"BTCUSDT:17371584000",
        b"BTCUSDT:17371584x0",
        b"BTCUSDT",
        b":1737158400",
        b"BTC\xffUSDT:1737158400",
    ],
)
def test_parse_rejects_keys_outside_the_layout(key):
    with pytest.raises(ValueError):
        parse_snapshot_key(key)
