"""Book maintenance: parse + sequence check + apply of BTCUSDT-shaped depth frames, beside cryptofeed 2.4.1.

Both sides get the same combined-stream text frames (str, as a WebSocket client receives them) after the same
REST snapshot:
- Depthbook: `core.market.wire.parse_stream_message` then `BookSync.on_event` (sequence check, apply, crossed check);
- cryptofeed 2.4.1 driven offline (platform-notes.md): its symbol table pre-filled so the constructor makes no
  request, its HTTP reader replaced by a function returning the recorded snapshot, then
  `await feed.message_handler(frame, None, ts)` per frame, with one no-op L2_BOOK callback.
The snapshot and the first frame are applied before the clock starts, on both sides. Times are CPU time of this
thread (`time.thread_time`), garbage collector on; each figure is the median of interleaved rounds (the order of
the two alternates per round). Target: Depthbook >= 2.5x cryptofeed's messages/s on every corpus.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from decimal import Decimal

import orjson

from bench._report import Figure, at_least, heading, info, show
from bench.corpus import Corpus, build_corpus
from core.market.book_sync import BookSync
from core.market.wire import decimal_ticks, parse_depth_snapshot, parse_stream_message

NAME = "book"
SYMBOL = "BTCUSDT"
TARGET_RATIO = 2.5


# ---- Depthbook ------------------------------------------------------------------------------------------


def _depthbook_live(corpus: Corpus) -> BookSync:
    sync = BookSync(SYMBOL)
    sync.on_event(parse_stream_message(corpus.frames[0]), 0.0)
    sync.on_snapshot(parse_depth_snapshot(orjson.loads(corpus.snapshot), SYMBOL), 0.0)
    if not sync.is_live:
        raise RuntimeError(f"Depthbook did not go live on the corpus: {sync.state} ({sync.reason})")
    return sync


def depthbook_round(
    corpus: Corpus, read_top: int = 0, frames: list[str] | None = None
) -> tuple[float, BookSync]:
    sync = _depthbook_live(corpus)
    parse, on_event = parse_stream_message, sync.on_event
    todo = frames if frames is not None else corpus.frames[1:]
    book = sync.book
    start = time.thread_time()
    if read_top:
        for raw in todo:
            on_event(parse(raw), 0.0)
            book.top_bids(read_top)
            book.top_asks(read_top)
    else:
        for raw in todo:
            on_event(parse(raw), 0.0)
    elapsed = time.thread_time() - start
    c = sync.counters
    if c.gaps or c.resyncs or not sync.is_live:
        raise RuntimeError(f"Depthbook lost sync on the corpus: gaps={c.gaps} resyncs={c.resyncs}")
    return elapsed, sync


# ---- cryptofeed -----------------------------------------------------------------------------------------


class CryptofeedDriver:
    """cryptofeed's Binance feed, offline: no exchangeInfo request, the REST snapshot served from memory."""

    def __init__(self) -> None:
        from cryptofeed.defines import BINANCE, L2_BOOK, SPOT
        from cryptofeed.exchanges import Binance
        from cryptofeed.symbols import Symbol, Symbols

        sym = Symbol("BTC", "USDT")
        self.pair = sym.normalized  # "BTC-USDT"
        Symbols.set(
            BINANCE,
            {self.pair: SYMBOL},
            {"tick_size": {self.pair: "0.01"}, "instrument_type": {self.pair: SPOT}},
        )
        self.callbacks = 0

        async def on_book(book: object, receipt_timestamp: float) -> None:
            self.callbacks += 1

        self.feed = Binance(symbols=[self.pair], channels=[L2_BOOK], callbacks={L2_BOOK: on_book})
        self._snapshot_text = ""

        async def read(address: str, *args: object, **kwargs: object) -> str:
            return self._snapshot_text

        self.feed.http_conn.read = read  # type: ignore[method-assign]

    async def live(self, corpus: Corpus) -> None:
        self._snapshot_text = corpus.snapshot
        self.feed._reset()
        await self.feed._snapshot(SYMBOL)  # what its first depthUpdate would trigger
        await self.feed.message_handler(corpus.frames[0], None, 0.0)

    async def round(self, corpus: Corpus, read_top: int = 0, frames: list[str] | None = None) -> float:
        await self.live(corpus)
        handler = self.feed.message_handler
        todo = frames if frames is not None else corpus.frames[1:]
        books = self.feed._l2_book
        start = time.thread_time()
        if read_top:
            for raw in todo:
                await handler(raw, None, 0.0)
                book = books[self.pair].book
                bids, asks = book.bids, book.asks
                for i in range(min(read_top, len(bids))):
                    bids.index(i)
                for i in range(min(read_top, len(asks))):
                    asks.index(i)
        else:
            for raw in todo:
                await handler(raw, None, 0.0)
        elapsed = time.thread_time() - start
        if self.pair not in books:
            raise RuntimeError("cryptofeed reset its book on the corpus (it saw a gap)")
        return elapsed

    def book(self) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        book = self.feed._l2_book[self.pair].book
        return book.bids.to_dict(), book.asks.to_dict()


def _same_book(sync: BookSync, driver: CryptofeedDriver, corpus: Corpus) -> None:
    """Both books equal the true book after the corpus (a benchmark of a wrong book would be meaningless)."""
    ours = sync.book.as_dicts()
    if ours != corpus.final_book:
        raise RuntimeError("Depthbook's book differs from the true book after the corpus")
    for theirs, truth in zip(driver.book(), corpus.final_book, strict=True):
        if {Decimal(p): Decimal(q) for p, q in truth.items()} != theirs:
            raise RuntimeError("cryptofeed's book differs from the true book after the corpus")


# ---- for scale: a plain dict keyed by integer ticks, no order kept ---------------------------------------


def plain_dict_round(corpus: Corpus) -> float:
    """orjson + sequence check + `dict[int, str]` per side keyed by `decimal_ticks`, zero by `strip("0.")`.

    Keeps no price order (no best price, no top N without a sort), no wire types, no sync states: the reference
    design platform-notes.md measured at ~57,000 frames/s on its corpus (2.85x cryptofeed there).
    """
    body = orjson.loads(corpus.snapshot)
    bids = {decimal_ticks(p): q for p, q in body["bids"]}
    asks = {decimal_ticks(p): q for p, q in body["asks"]}
    last = [body["lastUpdateId"]]

    def apply(raw: str) -> None:
        data = orjson.loads(raw)["data"]
        if data["u"] <= last[0]:
            return
        if data["U"] > last[0] + 1:
            raise RuntimeError("gap in the corpus")
        last[0] = data["u"]
        for side, levels in ((bids, data["b"]), (asks, data["a"])):
            for price, qty in levels:
                if qty.strip("0."):
                    side[decimal_ticks(price)] = qty
                else:
                    side.pop(decimal_ticks(price), None)

    apply(corpus.frames[0])  # as on the other two sides, the first frame is applied before the clock starts
    start = time.thread_time()
    for raw in corpus.frames[1:]:
        apply(raw)
    return time.thread_time() - start


# ---- the benchmark --------------------------------------------------------------------------------------


async def _compare(
    corpus: Corpus,
    driver: CryptofeedDriver,
    rounds: int,
    read_top: int = 0,
    frames: list[str] | None = None,
    with_plain: bool = False,
) -> tuple[float, float, float]:
    """Median CPU seconds (Depthbook, cryptofeed, plain dict or 0) over interleaved rounds."""
    ours: list[float] = []
    theirs: list[float] = []
    plain: list[float] = []
    for r in range(rounds):
        if r % 2:
            theirs.append(await driver.round(corpus, read_top, frames))
        ours.append(depthbook_round(corpus, read_top, frames)[0])
        if not r % 2:
            theirs.append(await driver.round(corpus, read_top, frames))
        if with_plain:
            plain.append(plain_dict_round(corpus))
    return statistics.median(ours), statistics.median(theirs), statistics.median(plain) if plain else 0.0


async def _main(quick: bool) -> list[Figure]:
    n_frames = 5_000 if quick else 20_000
    rounds = 3 if quick else 7
    figures: list[Figure] = []
    driver = CryptofeedDriver()
    for levels in (1000, 5000):
        corpus = build_corpus(levels, n_frames)
        st = corpus.stats()
        heading(
            f"book: {levels}-level book, {len(corpus.frames) - 1:,} frames timed: levels/frame mean "
            f"{st['levels_mean']:.1f}, median {st['levels_median']:.0f}, p99 {st['levels_p99']}, max "
            f"{st['levels_max']}; deletions {st['delete_share']:.0%}; frame {st['frame_bytes_mean']:.0f} B mean"
        )
        # Correctness first, untimed: both end on the true book.
        _, sync = depthbook_round(corpus)
        await driver.round(corpus)
        _same_book(sync, driver, corpus)

        ours, theirs, plain = await _compare(corpus, driver, rounds, with_plain=True)
        timed = len(corpus.frames) - 1
        updates = st["level_updates"] * timed / len(corpus.frames)
        tag = f"{levels} levels"
        figures += [
            show(info(NAME, f"Depthbook messages/s ({tag})", timed / ours, "msg/s")),
            show(info(NAME, f"Depthbook level updates/s ({tag})", updates / ours, "upd/s")),
            show(info(NAME, f"cryptofeed 2.4.1 messages/s ({tag})", timed / theirs, "msg/s")),
            show(info(NAME, f"cryptofeed 2.4.1 level updates/s ({tag})", updates / theirs, "upd/s")),
            show(
                at_least(
                    NAME,
                    f"speed-up over cryptofeed ({tag})",
                    theirs / ours,
                    TARGET_RATIO,
                    "x",
                    note=f"median of {rounds} interleaved rounds, CPU time",
                )
            ),
            show(
                info(
                    NAME,
                    f"plain int-tick dict, no order, for scale ({tag})",
                    timed / plain,
                    "msg/s",
                    note=f"{theirs / plain:.2f}x cryptofeed; see plain_dict_round",
                )
            ),
            show(
                info(
                    NAME,
                    f"Depthbook's share of the plain-dict ceiling ({tag})",
                    100.0 * plain / ours,
                    "%",
                    note="its messages/s over the plain dict's: what order, exact strings, wire checks and "
                    "sync states cost",
                )
            ),
        ]
        # For information: a top-20 read after every frame (a ladder repainted per message), on fewer frames:
        # cryptofeed sorts its whole side again on the first ordered read after a change.
        sample = corpus.frames[1 : 1 + (300 if quick else 1000)]
        ours_r, theirs_r, _ = await _compare(corpus, driver, 1 if quick else 3, read_top=20, frames=sample)
        figures += [
            show(
                info(
                    NAME,
                    f"Depthbook msg/s with a top-20 read per frame ({tag})",
                    len(sample) / ours_r,
                    "msg/s",
                )
            ),
            show(
                info(
                    NAME,
                    f"cryptofeed msg/s with a top-20 read per frame ({tag})",
                    len(sample) / theirs_r,
                    "msg/s",
                )
            ),
        ]
    return figures


# ---- Many books at once ----------------------------------------------------------------------------------------


def interleaved_books(n: int = 50, events: int = 200, rounds: int = 5) -> list[Figure]:
    """Parse + `BookSync.on_event` of `n` simulator books fed in turn, as a recorder of `n` busy symbols feeds them
    (whole_market's 50 busiest: 3,000 levels a side, ~10 level changes an event, snapshots of 1000 levels), with
    every book's top 20 read once per 10 of its events (the recorder's tick). One book's frames in a row keep its
    dicts in the cache; `n` books in turn miss it on most level changes (docs/PERFORMANCE.md, "Cost per event").
    CPU time of this thread, garbage collector off while timed, median of `rounds` fresh runs."""
    import gc

    from core.simulator.market import depth_for_rate, market_for

    symbols = (["BTCUSDT", "ETHUSDT", "BNBUSDT"] + [f"S{i:04d}USDT" for i in range(n)])[:n]
    markets = {s: market_for(s, seed=7, history=10, depth=depth_for_rate(10.0)) for s in symbols}

    def frame(symbol: str, event: dict) -> bytes:
        return b'{"stream":"' + symbol.lower().encode() + b'@depth@100ms","data":' + orjson.dumps(event) + b"}"

    first, snapshots = {}, {}
    for symbol, market in markets.items():
        for _ in range(300):  # past the initial book's shape
            market.next_event(0)
        first[symbol] = frame(symbol, market.next_event(1))
        snapshots[symbol] = market.snapshot(1000)
    frames = [frame(s, m.next_event(2 + i)) for i in range(events) for s, m in markets.items()]
    levels = sum(len(e.bids) + len(e.asks) for e in map(parse_stream_message, frames))
    times = []
    for _ in range(rounds):
        syncs = {}
        for symbol in symbols:
            sync = syncs[symbol] = BookSync(symbol)
            sync.on_event(parse_stream_message(first[symbol]), 0.0)
            sync.on_snapshot(parse_depth_snapshot(snapshots[symbol], symbol), 0.0, 1000)
        on_event = {s: y.on_event for s, y in syncs.items()}
        books = [y.book for y in syncs.values()]
        gc.collect()
        gc.disable()
        start = time.thread_time()
        for i, raw in enumerate(frames, 1):
            msg = parse_stream_message(raw)
            on_event[msg.symbol](msg, 0.0)
            if i % (n * 10) == 0:
                for book in books:
                    book.top_bids(20)
                    book.top_asks(20)
        times.append(time.thread_time() - start)
        gc.enable()
        if not all(y.is_live and not y.counters.gaps for y in syncs.values()):
            raise RuntimeError("a book lost sync on the interleaved frames")
    cpu = statistics.median(times)
    heading(f"book: {n} books fed in turn, {len(frames):,} frames, {levels / len(frames):.1f} levels a frame")
    return [
        show(info(NAME, f"parse + sync + apply, {n} books in turn, per frame", cpu / len(frames) * 1e6, "µs",
                  note="runs " + ", ".join(f"{t / len(frames) * 1e6:.0f}" for t in times))),
        show(info(NAME, f"the same per level changed, {n} books in turn", cpu / levels * 1e6, "µs")),
    ]  # fmt: skip


def run(quick: bool = False, long: bool = False) -> list[Figure]:
    return asyncio.run(_main(quick)) + interleaved_books(rounds=3 if quick else 5)


if __name__ == "__main__":
    import sys

    books = int(sys.argv[sys.argv.index("--interleaved") + 1]) if "--interleaved" in sys.argv else 0
    if books:
        interleaved_books(books)
    else:
        run(quick="--quick" in sys.argv)
