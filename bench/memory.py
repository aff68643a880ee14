"""Memory per order book at REST snapshot limits 1000 and 5000 levels per side (tracemalloc).

tracemalloc starts before the REST body is parsed, so the exchange's strings the book keeps are counted; the
parsed body is then dropped and the collector run, and what is still allocated is the book (a `BookSync`
with its `OrderBook`, its maps and its sorted ladder). Measured twice: right after the snapshot, and after
5,000 BTCUSDT-shaped frames (the steady state, where the kept strings come from frames). No target: the
platform notes measured 0.6-0.8 MB for a 1000-level book.

The bound on levels per side (issue 11, docs/SNAPSHOT_HORIZON.md): the simulator's market (3,000 levels a side,
changes far from the touch now and then) from a 1000-level snapshot through 20,000 events (`--quick` 5,000),
with the bound (`LEVEL_CAP`, the default) and without it (`level_cap=None`): the book without it keeps every
level an event ever mentioned beyond the snapshot's horizon.
"""

from __future__ import annotations

import gc
import tracemalloc

import orjson

from bench._report import Figure, heading, info, show
from bench.corpus import build_corpus
from core.market.book_sync import BookSync
from core.market.orderbook import LEVEL_CAP
from core.market.wire import parse_depth_snapshot, parse_stream_message
from core.simulator.market import market_for

NAME = "memory"
MB = 1024 * 1024


def measure(levels: int, frames: int) -> tuple[int, int, int, int]:
    """(bytes after the snapshot, bytes after the frames, bid levels, ask levels)."""
    corpus = build_corpus(levels, frames)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        sync = BookSync("BTCUSDT")
        sync.on_event(parse_stream_message(corpus.frames[0]), 0.0)
        body = orjson.loads(corpus.snapshot)
        sync.on_snapshot(parse_depth_snapshot(body, "BTCUSDT"), 0.0)
        del body
        gc.collect()
        after_snapshot = tracemalloc.get_traced_memory()[0] - base
        for raw in corpus.frames[1:]:
            sync.on_event(parse_stream_message(raw), 0.0)
        gc.collect()
        after_frames = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    if not sync.is_live:
        raise RuntimeError("the book lost sync on the corpus")
    return after_snapshot, after_frames, sync.book.bid_count, sync.book.ask_count


def measure_bound(events: int, level_cap: int | None) -> tuple[int, int]:
    """(bytes, levels) of a BookSync fed the simulator's BTCUSDT market, 1000-level snapshot, then `events`."""
    market = market_for("BTCUSDT", seed=3, history=10)
    frames = [orjson.dumps({"stream": "btcusdt@depth@100ms", "data": market.next_event(0)})]
    body = orjson.dumps(market.snapshot(1000))
    frames += [
        orjson.dumps({"stream": "btcusdt@depth@100ms", "data": market.next_event(i)}) for i in range(events)
    ]
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        sync = BookSync("BTCUSDT", level_cap=level_cap)
        sync.on_event(parse_stream_message(frames[0]), 0.0)
        sync.on_snapshot(parse_depth_snapshot(orjson.loads(body), "BTCUSDT"), 0.0, 1000)
        for raw in frames[1:]:
            sync.on_event(parse_stream_message(raw), 0.0)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    if not sync.is_live or not sync.book.verified(20):
        raise RuntimeError("the book lost sync or its top 20 left the horizon")
    return used, sync.book.bid_count + sync.book.ask_count


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    frames = 1_000 if quick else 5_000
    figures: list[Figure] = []
    heading("memory: one BookSync + OrderBook, tracemalloc (strings the book keeps included)")
    for levels in (1000, 5000):
        snap, steady, bids, asks = measure(levels, frames)
        per_level = steady / (bids + asks)
        figures += [
            show(info(NAME, f"book at limit {levels}, after the snapshot", snap / MB, "MB")),
            show(
                info(
                    NAME,
                    f"book at limit {levels}, after {frames:,} frames",
                    steady / MB,
                    "MB",
                    note=f"{bids:,}+{asks:,} levels, {per_level:.0f} B per level",
                )
            ),
        ]
        if levels == 1000:
            figures.append(show(info(NAME, "200 such books (limit 1000)", 200 * steady / MB, "MB")))
    events = 5_000 if quick else 20_000
    heading(f"memory: the bound on levels per side, simulator market, limit 1000, {events:,} events")
    for cap in (LEVEL_CAP, None):
        used, levels = measure_bound(events, cap)
        label = f"bound {cap} levels a side" if cap is not None else "no bound"
        figures.append(show(info(NAME, f"book, {label}", used / MB, "MB", note=f"{levels:,} levels held")))
    return figures
