"""The recorder's copy of a book carries its levels as numbers (quantities as floats, prices in ticks), read by the
book as it copies the levels, and the series and heatmap rows it writes use them. A row built later from the stored
strings must be the same bytes: a real book (the compiled side and the Python side) with quantities that do not
round trip through a float."""

from random import Random

import pytest

from core.analysis.heat_rollups import (
    MINUTE,
    HourSums,
    add_to_hours,
    encode_row,
    minute_row,
    numbers_row,
    numbers_rows,
)
from core.analysis.minute_rows import MinuteRollups
from core.analysis.series import series_from_snapshot
from core.market import book_side
from core.market.book_side import LEVEL_NUMBERS, level_numbers
from core.market.orderbook import OrderBook
from core.market.wire import decimal_ticks
from core.storage.snapshot import OrderBookSnapshot

START = 1_795_000_020 // MINUTE * MINUTE
QTYS = ["0.1", "0.2", "0.30000000000000004441", "123.456789", "9007199254740993", "0.00000001", "7.77777777"]


def sides() -> list[type]:
    found = [book_side.Side]
    try:
        from core.market import _book_side

        found.append(_book_side.Side)
    except ImportError:  # the extension is not built: the Python side alone
        pass
    return found


def captures(side: type, seconds: int) -> list[OrderBookSnapshot]:
    """One capture a second of a book whose quantities change between seconds."""
    rng = Random(7)
    book = OrderBook("BTCUSDT", side=side)
    bids = [(f"{100 - k / 100:.2f}", rng.choice(QTYS)) for k in range(30)]
    asks = [(f"{100.01 + k / 100:.2f}", rng.choice(QTYS)) for k in range(30)]
    book.load_snapshot(bids, asks, 1, limit=1000)
    taken = []
    for second in range(seconds):
        moves = [(f"{100 - rng.randrange(30) / 100:.2f}", rng.choice(QTYS)) for _ in range(5)]
        book.apply(moves, [(f"{100.01 + rng.randrange(30) / 100:.2f}", rng.choice(QTYS))], second + 2)
        taken.append(OrderBookSnapshot.from_orderbook(book, START + second))
    return taken


@pytest.mark.parametrize("side", sides())
def test_rows_from_the_captured_numbers_are_the_rows_of_the_stored_strings(side):
    snaps = captures(side, MINUTE)
    stored = [OrderBookSnapshot.from_bytes(s.symbol, s.to_bytes()) for s in snaps]  # what a reader gets back
    assert all(s.numbers is not None for s in snaps) and all(s.numbers is None for s in stored)
    for snap, back in zip(snaps, stored, strict=True):
        assert series_from_snapshot(snap).to_bytes() == series_from_snapshot(back).to_bytes()
    written = numbers_row(START, [(s.numbers.bid_levels, s.numbers.ask_levels) for s in snaps])
    built = minute_row(START, [(s.bids, s.asks) for s in stored])
    assert written.exponent == -2 and len(written.bid_bins) >= 20  # the row holds something to compare
    assert encode_row(written) == encode_row(built)


@pytest.mark.parametrize("side", sides())
def test_the_captured_numbers_are_the_strings_read_as_numbers(side):
    snap = captures(side, 1)[0]
    for levels, records in ((snap.bids, snap.numbers.bid_levels), (snap.asks, snap.numbers.ask_levels)):
        read = [LEVEL_NUMBERS.unpack_from(records, k * LEVEL_NUMBERS.size) for k in range(len(levels))]
        assert read == [(decimal_ticks(p), float(q)) for p, q in levels]
        assert len(records) == LEVEL_NUMBERS.size * len(levels)


@pytest.mark.parametrize("side", sides())
def test_a_price_beyond_64_bits_of_ticks_has_no_numbers_and_its_minute_no_heatmap_row(side):
    book = OrderBook("BIGUSDT", side=side)
    huge = "99999999999999"  # 1e14 price units: 1e22 ticks, beyond an int64
    book.load_snapshot([(huge, "1")], [("100000000000000", "2")], 1, limit=1000)
    sides, numbers = book.capture(20)
    assert numbers.bid_levels is None and numbers.ask_levels is None
    assert series_from_snapshot(OrderBookSnapshot.captured("BIGUSDT", sides, 1, START, numbers)).bid_volume == 1.0
    rollups = MinuteRollups()
    snaps = [OrderBookSnapshot.captured("BIGUSDT", sides, 1, START + k, numbers) for k in range(MINUTE)]
    rows = rollups.add(START + MINUTE - 1, [(s.symbol, s.timestamp, series_from_snapshot(s).to_bytes()) for s in snaps], [],
                       [(s.symbol, s) for s in snaps])  # fmt: skip
    rows += rollups.add(START + MINUTE, [], [])
    assert [r[0] for r in rows] == ["BIGUSDT"]  # the minute row, and no heatmap row (readers take the seconds)


def random_minute(rng: Random) -> list[tuple[tuple, tuple]]:
    """A minute's books as strings: prices of 0 to 8 decimals (about a third of them spanning enough bins to be
    coarsened), quantities that do not round trip, sides of 0 to 20 levels."""
    decimals = rng.randrange(9)
    reach = rng.choice([30, 3000, 30000])
    base = rng.randrange(reach, 10**6 + reach)
    books = []
    for _ in range(rng.randrange(1, MINUTE + 1)):
        sides = []
        for sign in (-1, 1):
            ticks = sorted({base + sign * rng.randrange(1, reach) for _ in range(rng.randrange(21))}, reverse=sign < 0)
            sides.append(tuple((f"{t / 10**decimals:.{decimals}f}", rng.choice(QTYS)) for t in ticks))
        books.append(tuple(sides))
    return books


def as_numbers(books: list[tuple[tuple, tuple]]) -> list[tuple[bytes, bytes]]:
    return [(level_numbers(b), level_numbers(a)) for b, a in books]


def test_numbers_row_and_minute_row_agree_on_many_books():
    rng = Random(11)
    for trial in range(40):
        books = random_minute(rng)
        assert encode_row(numbers_row(START, as_numbers(books))) == encode_row(minute_row(START, books)), trial


def test_many_minutes_in_one_pass_are_each_minute_alone():
    # The recorder closes every symbol's minute in one pass: symbols of different ticks, empty books and sides.
    rng = Random(12)
    minutes = [(START + MINUTE * rng.randrange(3), random_minute(rng)) for _ in range(60)]
    minutes[5] = (START, [((), ())] * 10)  # a minute of empty books: no bins, unit 1
    rows = numbers_rows([(start, as_numbers(books)) for start, books in minutes])
    assert [encode_row(r) for r in rows] == [encode_row(minute_row(start, books)) for start, books in minutes]
    assert len({r.exponent for r in rows}) > 3  # the pass really mixed units


def test_hours_summed_in_one_pass_are_each_hour_summed_alone():
    rng = Random(13)
    symbols = 25
    minute_rows = [[minute_row(START + MINUTE * m, random_minute(rng)) for m in range(6)] for _ in range(symbols)]
    minute_rows[3][2] = minute_row(START + 2 * MINUTE, [((), ())])  # a minute with no bins keeps the unit so far
    together = [HourSums(START) for _ in range(symbols)]
    alone = [HourSums(START) for _ in range(symbols)]
    for m in range(6):
        add_to_hours([(hour, rows[m]) for hour, rows in zip(together, minute_rows, strict=True)])
        for hour, rows in zip(alone, minute_rows, strict=True):
            hour.add(rows[m])
    assert [encode_row(h.row()) for h in together] == [encode_row(h.row()) for h in alone]
    assert all(h.minutes == 6 and h.seconds == sum(r.seconds for r in rows) for h, rows in zip(together, minute_rows, strict=True))
