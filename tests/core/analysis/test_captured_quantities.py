"""The recorder's copy of a book carries its quantities as floats, read by the book as it copies the levels, and the
series and heatmap rows it writes use them. A row built later from the stored strings must be the same bytes: a
real book (the compiled side and the Python side) with quantities that do not round trip through a float."""

from dataclasses import replace
from random import Random

import pytest

from core.analysis.heat_rollups import MINUTE, encode_row, minute_row
from core.analysis.series import series_from_snapshot
from core.market import book_side
from core.market.orderbook import OrderBook
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
def test_rows_from_the_captured_quantities_are_the_rows_of_the_stored_strings(side):
    snaps = captures(side, MINUTE)
    stored = [OrderBookSnapshot.from_bytes(s.symbol, s.to_bytes()) for s in snaps]  # what a reader gets back
    assert all(s.qtys is not None for s in snaps) and all(s.qtys is None for s in stored)
    for snap, back in zip(snaps, stored, strict=True):
        assert series_from_snapshot(snap).to_bytes() == series_from_snapshot(back).to_bytes()
    written = minute_row(START, [(s.bids, s.asks) for s in snaps], [s.qtys for s in snaps])
    built = minute_row(START, [(s.bids, s.asks) for s in stored])
    assert encode_row(written) == encode_row(built)
    # A minute whose seconds lack some quantities (a reused capture) mixes both ways, alike.
    mixed = [replace(s, qtys=None) if i % 3 else s for i, s in enumerate(snaps)]
    assert encode_row(minute_row(START, [(s.bids, s.asks) for s in mixed], [s.qtys for s in mixed])) == encode_row(
        built
    )
