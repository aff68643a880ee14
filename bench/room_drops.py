"""`python -m bench room_drops [--quick]`: how many known levels of room a busy simulated book loses in a moment.

The basis of LOSING_ROOM (core/feed/refresh_budget.py): a recorded book whose room falls below it is rescued at
once, even from the sync reserve, and the rescue must land before the room is gone. What it must outlast is the
largest sweep the book makes between the horizon watch's look (every 0.25 s) and the rescue's answer. The books
are the whole-market benchmark's busiest (`long_tailed_activity`, `depth_for_rate`), each started on a 100-level
snapshot as a cheap start is, and played until its top leaves the horizon or five minutes pass.
"""

from __future__ import annotations

import orjson

from bench._report import Figure, below, heading, info, show
from core.feed.refresh_budget import LOSING_ROOM
from core.market.orderbook import OrderBook
from core.market.wire import parse_depth_snapshot, parse_stream_message
from core.simulator.market import depth_for_rate, long_tailed_activity, market_for

SYMBOLS = 1500
DEPTH = 20  # the recorded top
START_LIMIT = 100  # a cheap start's snapshot
WINDOWS_S = (0.25, 0.5, 1.0)
RESCUE_S = 0.5  # a look (0.25 s) and an answer (0.1-0.5 s on Binance, with a margin)
NAME = "room_drops"


def room_series(symbol: str, rate: float, seed: int, seconds: float) -> list[int]:
    """The book's room (known levels behind its top DEPTH before the horizon) after each event."""
    market = market_for(symbol, seed=seed, depth=depth_for_rate(rate))
    book = OrderBook(symbol)
    snapshot = parse_depth_snapshot(market.snapshot(START_LIMIT), symbol)
    book.load_snapshot(snapshot.bids, snapshot.asks, snapshot.last_update_id, START_LIMIT)
    stream = symbol.lower() + "@depth@100ms"
    rooms = []
    for k in range(int(rate * seconds)):
        frame = orjson.dumps({"stream": stream, "data": market.next_event(k * 100)})
        event = parse_stream_message(frame)
        book.apply(event.bids, event.asks, event.final_update_id)
        rooms.append(book.horizon_room(DEPTH, 10 * START_LIMIT))
        if rooms[-1] < 0:
            break
    return rooms


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    books, seeds = (4, 2) if quick else (12, 4)
    symbols = [f"S{i:04d}USDT" for i in range(SYMBOLS)]
    activity = long_tailed_activity(symbols)
    drops: dict[float, list[int]] = {w: [] for w in WINDOWS_S}
    for symbol in symbols[:books]:
        rate = activity[symbol]
        for seed in range(seeds):
            rooms = room_series(symbol, rate, seed, 300.0)
            for window in WINDOWS_S:
                n = max(1, round(rate * window))  # events in the window
                drops[window] += [rooms[i - n] - rooms[i] for i in range(n, len(rooms))]
    heading(f"room_drops: the {books} busiest of {SYMBOLS:,} simulated books, {seeds} markets each, from a "
            f"{START_LIMIT}-level start")  # fmt: skip
    figures = []
    for window, values in drops.items():
        values.sort()
        p50, p99, p999 = (values[min(len(values) - 1, int(q * len(values)))] for q in (0.5, 0.99, 0.999))
        name, note = f"levels of room lost in {window} s, p99", f"p50 {p50}, p99.9 {p999}, max {values[-1]}"
        if window == RESCUE_S:  # what a rescue sent at LOSING_ROOM must outlast
            figures.append(show(below(NAME, name, p99, LOSING_ROOM, "levels", note=note + " (LOSING_ROOM)")))
        else:
            figures.append(show(info(NAME, name, p99, "levels", note=note)))
    return figures
