"""Memory per order book at REST snapshot limits 1000 and 5000 levels per side (tracemalloc).

tracemalloc starts before the REST body is parsed, so the exchange's strings the book keeps are counted; the
parsed body is then dropped and the collector run, and what is still allocated is the book (a `BookSync`
with its `OrderBook`, its maps and its sorted ladder). Measured twice: right after the snapshot, and after
5,000 BTCUSDT-shaped frames (the steady state, where the kept strings come from frames). No target: the
platform notes measured 0.6-0.8 MB for a 1000-level book.
"""

from __future__ import annotations

import gc
import tracemalloc

import orjson

from bench._report import Figure, heading, info, show
from bench.corpus import build_corpus
from core.market.book_sync import BookSync
from core.market.wire import parse_depth_snapshot, parse_stream_message

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
    return figures
