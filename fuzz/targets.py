"""Fuzz targets: hostile inputs (hypothesis strategies) and the property each of them must keep.

A target is a `Target(name, strategy, check)`: `check(value)` runs one input and raises AssertionError (or
anything unexpected) when the property breaks. The properties are stated against reference rules written here
independently of the code under test (`plain_decimal`, not core.market.wire's regular expressions), so that a
bug in one is not repeated in the other.

- wire-bytes, wire-json: any bytes or JSON value into `parse_stream_message`: it returns a message whose every
  level is valid, or raises WireFormatError; nothing else.
- wire-updates: depth updates near Binance's shape, some levels mutated (foreign types, non-ASCII digits,
  signs, dots, exponents, nesting), in four layouts (bytes, str, raw stream, spaced JSON): every layout gives
  the same answer (the whole-frame fast check and the level-by-level check agree), a DepthUpdate exactly when
  every level follows the reference rules, else WireFormatError naming the symbol; and the C reading of a frame
  (core/market/_frame_scan.c) gives what its specification, `parse_frame_as_json`, gives (so do wire-bytes and
  wire-json).
- wire-snapshots: depth snapshots near Binance's shape, some crossed, unsorted, repeated or malformed:
  `parse_depth_snapshot` accepts exactly the valid ones, and the C reading of the answer's bytes gives the same.
- snapshot-bytes, snapshot-values: stored values (any bytes; any MessagePack value, mostly snapshot-shaped)
  into `OrderBookSnapshot.from_bytes` and `decode_many`: a snapshot of the contract's shape or
  SnapshotDecodeError; a valid snapshot round-trips.
- book-sync: a true market (never crossed) and a hostile delivery of its events and snapshots (dropped,
  duplicated, stale, lost connections, silence and quiet checks, restarts, horizon refreshes, forged events and
  snapshots), everything through the wire into `BookSync`: it never raises, a LIVE book is never crossed and
  holds only valid levels, and, when nothing was forged, a LIVE book equals the true book at its update id.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgpack
import orjson
from hypothesis import strategies as st

from core.market.book_sync import BookSync, RequestSnapshot, SyncState
from core.market.wire import (
    ControlError,
    ControlResult,
    DepthSnapshot,
    DepthUpdate,
    ServerShutdown,
    WireFormatError,
    is_valid_symbol,
    parse_depth_snapshot,
    parse_frame_as_json,
    parse_stream_message,
    read_depth_snapshot,
)
from core.storage.snapshot import OrderBookSnapshot, SnapshotDecodeError, decode_many

RUNS: Counter[str] = Counter()  # inputs checked, by target name (the runner reports them)


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy
    check: Callable[[Any], None]


# --- the reference rules -----------------------------------------------------------------------------------


def plain_decimal(text: object, *, price: bool = False, positive: bool = False) -> bool:
    """The LEVEL RULES of core.market.wire, written the slow, obvious way."""
    if type(text) is not str or not text.isascii():
        return False
    whole, dot, frac = text.partition(".")
    if not whole.isdigit() or len(whole) > 20:  # isdigit on ASCII: 0-9 only
        return False
    if dot and (not frac.isdigit() or len(frac) > 20):
        return False
    if price and len(frac.rstrip("0")) > 8:
        return False
    return not ((price or positive) and not (whole + frac).strip("0"))


def valid_level(level: object, positive: bool) -> bool:
    return (
        type(level) is list
        and len(level) == 2
        and plain_decimal(level[0], price=True)
        and plain_decimal(level[1], positive=positive)
    )


def valid_snapshot_sides(bids: object, asks: object) -> bool:
    for side in (bids, asks):
        if type(side) is not list or not all(valid_level(level, positive=True) for level in side):
            return False
    bid_prices = [Decimal(p) for p, _ in bids]  # type: ignore[union-attr]
    ask_prices = [Decimal(p) for p, _ in asks]  # type: ignore[union-attr]
    if any(a <= b for a, b in itertools.pairwise(bid_prices)):
        return False
    if any(b <= a for a, b in itertools.pairwise(ask_prices)):
        return False
    return not (bid_prices and ask_prices and bid_prices[0] >= ask_prices[0])


def check_message(msg: object) -> None:
    """What any message parse_stream_message returns must be."""
    if type(msg) is DepthUpdate:
        assert type(msg.symbol) is str and type(msg.event_time) is int
        assert type(msg.first_update_id) is int and type(msg.final_update_id) is int
        assert msg.first_update_id <= msg.final_update_id
        assert all(valid_level(level, positive=False) for level in [*msg.bids, *msg.asks]), msg
    elif type(msg) is DepthSnapshot:
        assert type(msg.last_update_id) is int
        assert valid_snapshot_sides(msg.bids, msg.asks), msg
    elif type(msg) is ServerShutdown:
        assert type(msg.event_time) is int
    elif type(msg) is ControlError:
        assert type(msg.code) is int and type(msg.message) is str
    else:
        assert type(msg) is ControlResult, type(msg)


def parse_outcome(raw: bytes | str, parse: Callable[[bytes | str], Any] = parse_stream_message) -> tuple:
    """What parsing `raw` gives, comparable across layouts: the message's fields, or the error's."""
    try:
        msg = parse(raw)
    except WireFormatError as exc:
        return ("refused", str(exc), exc.symbol)
    check_message(msg)
    if type(msg) is DepthUpdate:
        fields = (msg.symbol, msg.first_update_id, msg.final_update_id, msg.event_time, msg.bids, msg.asks)
        return ("update", *fields, msg.prev_final_update_id)
    return ("other", type(msg).__name__)


# --- strategies --------------------------------------------------------------------------------------------

DIGITS = "0123456789"
binance_decimals = st.builds(lambda units: f"{units // 10**8}.{units % 10**8:08d}", st.integers(0, 10**15))
plain_decimals = st.builds(
    lambda whole, frac: whole if frac is None else f"{whole}.{frac}",
    st.text(DIGITS, min_size=1, max_size=22),
    st.none() | st.text(DIGITS, min_size=1, max_size=22),
)
TRICKY = [
    "", ".", "0.", ".0", "0", "00", "0.00000000", "-1", "+1", "1e5", "1E-5", " 1", "1 ", "1\n", "1.2.3", "0x10",
    "NaN", "inf", "Infinity", "١٢٣.٤", "²", "𝟙", "1_000", "1,5", "1٫5", "0.000000001", "1.000000000000000000000",
    "9" * 21, "\x00", "1.0\x00", "\u200b1", "1.00000000" + "0" * 13,
]  # fmt: skip
hostile_strings = st.one_of(
    st.sampled_from(TRICKY), st.text("0123456789.-+eE x٥²,", max_size=12), st.text(max_size=6)
)
decimal_like = st.one_of(binance_decimals, binance_decimals, plain_decimals, hostile_strings)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)
good_level = st.lists(binance_decimals, min_size=2, max_size=2)
any_level = st.one_of(
    st.lists(decimal_like, min_size=2, max_size=2),
    st.lists(st.one_of(decimal_like, json_scalars), max_size=3),
    decimal_like,
    json_scalars,
    st.dictionaries(decimal_like, decimal_like, max_size=2),
    st.lists(st.lists(decimal_like, max_size=2), max_size=2),
)
KEYS = ["e", "E", "s", "U", "u", "b", "a", "pu", "stream", "data", "lastUpdateId", "bids", "asks", "result",
        "id", "error", "code", "msg"]  # fmt: skip
shaped_json = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=6),
    max_leaves=30,
)


@st.composite
def near_valid_updates(draw) -> dict:
    """A depthUpdate message as Binance sends it, with 0-3 of its levels replaced by anything."""
    symbol = draw(st.sampled_from(["BTCUSDT", "ETHUSDT"]) | st.text(max_size=8))
    sides = [draw(st.lists(good_level, max_size=6)), draw(st.lists(good_level, max_size=6))]
    for _ in range(draw(st.integers(0, 3))):
        side = sides[draw(st.integers(0, 1))]
        side.insert(draw(st.integers(0, len(side))), draw(any_level))
    first = draw(st.integers(0, 2**40))
    data: dict = {
        "e": "depthUpdate",
        "E": draw(st.integers(0, 2**42)),
        "s": symbol,
        "U": first,
        "u": first + draw(st.integers(-1, 4)),
    }
    if draw(st.booleans()):
        data["pu"] = first - 1  # futures: before the levels, as Binance writes it
    data["b"], data["a"] = sides
    if draw(st.integers(0, 4)) == 0:  # keys in another order (the fast check then declines)
        data = dict(draw(st.permutations(list(data.items()))))
    if draw(st.booleans()):
        return {"stream": f"{symbol.lower()}@depth@100ms", "data": data}
    return data


def check_update(msg: dict) -> None:
    compact = orjson.dumps(msg)
    layouts = [compact, compact.decode(), json.dumps(msg, separators=(", ", ": "), ensure_ascii=False)]
    outcomes = [parse_outcome(raw) for raw in layouts]
    assert all(o == outcomes[0] for o in outcomes), outcomes  # the fast check agrees with the slow one
    assert outcomes[0] == parse_outcome(compact, parse_frame_as_json)  # the C reading agrees with its specification
    data = msg["data"] if "stream" in msg else msg
    levels = [*data["b"], *data["a"]]
    valid = data["U"] <= data["u"] and all(valid_level(level, positive=False) for level in levels)
    if valid:
        assert outcomes[0][0] == "update" and outcomes[0][5:7] == (data["b"], data["a"]), outcomes[0]
    else:
        assert outcomes[0][0] == "refused", (outcomes[0], data)
        assert outcomes[0][2] == (data["s"] if is_valid_symbol(data["s"]) else ""), outcomes[0]


def check_bytes(raw: bytes) -> None:
    assert parse_outcome(raw) == parse_outcome(raw, parse_frame_as_json)
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        return
    parse_outcome(text)


def check_json(value: object) -> None:
    raw = orjson.dumps(value)
    assert parse_outcome(raw) == parse_outcome(raw.decode()) == parse_outcome(raw, parse_frame_as_json)


@st.composite
def near_valid_snapshots(draw) -> dict:
    """A REST depth answer: distinct prices on a grid, sorted, mostly uncrossed; sometimes spoilt."""
    prices = draw(st.lists(st.integers(1, 60), unique=True, max_size=12))
    cut = draw(st.integers(0, 60))
    bid_ticks = sorted((p for p in prices if p <= cut), reverse=True)
    ask_ticks = sorted(p for p in prices if p > cut)

    def level(tick: int) -> list:
        return [f"{tick}.{draw(st.sampled_from(['00', '0', '00000000', '5']))}", draw(binance_decimals)]

    bids, asks = [level(t) for t in bid_ticks], [level(t) for t in ask_ticks]
    spoil = draw(st.integers(0, 5))
    if spoil == 1 and bids:  # crossed (or touching)
        asks.insert(0, [bids[0][0], "1.00000000"])
    elif spoil == 2 and len(bids) > 1:  # unsorted
        bids[0], bids[1] = bids[1], bids[0]
    elif spoil == 3 and asks:  # a repeated price, spelt the same or otherwise
        asks.insert(1, [asks[0][0] + draw(st.sampled_from(["", "0"])), "2.00000000"])
    elif spoil == 4:
        side = draw(st.sampled_from([bids, asks]))
        side.insert(draw(st.integers(0, len(side))), draw(any_level))
    return {"lastUpdateId": draw(st.integers(0, 2**40)), "bids": bids, "asks": asks}


def check_snapshot(body: dict) -> None:
    fast = read_depth_snapshot(orjson.dumps(body), "BTCUSDT")  # the C reading: declines, or reads it as below
    try:
        snap = parse_depth_snapshot(body, "BTCUSDT")
    except WireFormatError as exc:
        assert not valid_snapshot_sides(body["bids"], body["asks"]), (str(exc), body)
        assert exc.symbol == "BTCUSDT"
        assert fast is None, body
        return
    assert fast is None or fast == snap, body
    assert valid_snapshot_sides(snap.bids, snap.asks), body
    partial = orjson.dumps({"stream": "btcusdt@depth20@100ms", "data": body})
    assert parse_outcome(partial) == ("other", "DepthSnapshot")


# --- stored snapshots --------------------------------------------------------------------------------------


def _decoded(data: bytes) -> None:
    for check_levels in (True, False):
        try:
            snap = OrderBookSnapshot.from_bytes("BTCUSDT", data, check_levels)
        except SnapshotDecodeError:
            continue
        assert type(snap.bids) is tuple and type(snap.asks) is tuple
        assert type(snap.update_id) is int and snap.update_id >= 0 and type(snap.timestamp) is int
        if check_levels:
            for level in (*snap.bids, *snap.asks):
                assert type(level) is tuple and len(level) == 2, level
                assert type(level[0]) is str and type(level[1]) is str, level
    with contextlib.suppress(SnapshotDecodeError):
        decode_many("BTCUSDT", [data])


def check_stored_bytes(data: bytes) -> None:
    _decoded(data)


msgpack_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(),
        st.text(max_size=8),
        st.binary(max_size=8),
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=16,
)
stored_levels = st.lists(
    st.one_of(st.tuples(decimal_like, decimal_like), msgpack_values), max_size=4
)  # mostly pairs of strings
snapshot_shaped = st.one_of(
    st.tuples(stored_levels, stored_levels, st.integers(-5, 2**64 - 1), st.integers(-5, 2**40)),
    st.tuples(stored_levels, stored_levels, msgpack_values, msgpack_values),
    msgpack_values,
)


def check_stored_value(value: object) -> None:
    try:
        data = msgpack.packb(value)
    except (ValueError, TypeError, OverflowError):
        return
    _decoded(data)
    if (
        type(value) is tuple
        and all(type(side) is list and all(type(lv) is tuple and len(lv) == 2 and all(type(x) is str for x in lv)
                                           for lv in side) for side in value[:2])
        and type(value[2]) is int and 0 <= value[2] < 2**64 and type(value[3]) is int
    ):  # fmt: skip
        snap = OrderBookSnapshot.from_bytes("BTCUSDT", data)
        assert (list(snap.bids), list(snap.asks), snap.update_id, snap.timestamp) == (
            value[0], value[1], value[2], value[3]
        )  # fmt: skip
        assert OrderBookSnapshot.from_bytes("BTCUSDT", snap.to_bytes()) == snap


# --- the book sync -----------------------------------------------------------------------------------------

BID_TICKS = range(1, 41)  # the true market never crosses: bids at 1-40, asks at 41-80 (in cents)
ASK_TICKS = range(41, 81)


def _price(tick: int) -> str:
    return f"{tick // 100}.{tick % 100:02d}000000"


def _qty(units: int) -> str:
    return f"{units}.00000000"


change = st.tuples(
    st.booleans(), st.integers(0, 39), st.integers(0, 3)
)  # (bid?, price index, qty; 0 deletes)
true_event = st.tuples(st.lists(change, min_size=1, max_size=6), st.integers(1, 3))  # (changes, ids it spans)
forged_event = st.fixed_dictionaries(
    {
        "U": st.integers(-3, 3),  # relative to the book's next id
        "span": st.integers(-1, 4),
        "b": st.lists(st.one_of(good_level, st.tuples(st.integers(1, 90), st.integers(0, 3)).map(
            lambda t: [_price(t[0]), _qty(t[1])])), max_size=4),
        "a": st.lists(st.tuples(st.integers(1, 90), st.integers(0, 3)).map(
            lambda t: [_price(t[0]), _qty(t[1])]) | any_level, max_size=4),
    }
)  # fmt: skip
# Operations, as (kind, argument); kinds listed several times come more often.
_ARGUMENTS: dict[str, st.SearchStrategy] = {
    "deliver": true_event,  # the next true event reaches the client
    "drop": true_event,  # the next true event is lost
    "duplicate": st.none(),  # the last event sent comes again
    "snapshot": st.integers(0, 6),  # a REST answer: the truth k events ago (0: now)
    "lost": st.none(),  # the connection dropped
    "silence": st.sampled_from([0.0, 10.0]),  # five seconds without an event, then the watchdog looks (its wait)
    "restart": st.none(),
    "horizon": st.integers(1, 6),  # the manager's horizon check (a refresh snapshot may be asked for)
    "forged": forged_event,  # an event the exchange never made, with ids near the book's
    "forged-snapshot": near_valid_snapshots(),  # a snapshot of no true book (crossed, unsorted, ...)
}
_HONEST = ["deliver"] * 8 + ["snapshot"] * 3 + ["drop", "duplicate", "lost", "silence", "restart", "horizon"]
_HOSTILE = [*_HONEST, "forged", "forged", "forged-snapshot"]


@st.composite
def book_scripts(draw) -> tuple[list, list]:
    """(the initial true book, the operations): one script in three also forges events and snapshots."""
    initial = draw(st.lists(st.tuples(st.booleans(), st.integers(0, 39), st.integers(1, 3)), max_size=20))
    kinds = _HOSTILE if draw(st.integers(0, 2)) == 0 else _HONEST
    operations = []
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.sampled_from(kinds))
        operations.append((kind, draw(_ARGUMENTS[kind])))
    return initial, operations


class _Market:
    """The true book, event by event, and its history for stale snapshots."""

    def __init__(self, initial: list[tuple[bool, int, int]]) -> None:
        self.sides: tuple[dict[int, int], dict[int, int]] = ({}, {})
        for is_bid, index, qty in initial:
            self._set(is_bid, index, qty)
        self.last_id = 1000
        self.history: dict[int, tuple[dict[str, str], dict[str, str]]] = {self.last_id: self.as_strings()}
        self.boundaries = [self.last_id]

    def _set(self, is_bid: bool, index: int, qty: int) -> tuple[str, str]:
        tick = (BID_TICKS if is_bid else ASK_TICKS)[index]
        side = self.sides[0 if is_bid else 1]
        if qty:
            side[tick] = qty
        else:
            side.pop(tick, None)
        return _price(tick), _qty(qty)

    def as_strings(self) -> tuple[dict[str, str], dict[str, str]]:
        return tuple({_price(t): _qty(q) for t, q in side.items()} for side in self.sides)  # type: ignore[return-value]

    def step(self, changes: list[tuple[bool, int, int]], span: int) -> str:
        bids: dict[str, str] = {}
        asks: dict[str, str] = {}
        for is_bid, index, qty in changes:
            price, amount = self._set(is_bid, index, qty)
            (bids if is_bid else asks)[price] = amount
        first, self.last_id = self.last_id + 1, self.last_id + span
        self.history[self.last_id] = self.as_strings()
        self.boundaries.append(self.last_id)
        data = {"e": "depthUpdate", "E": self.last_id, "s": "BTCUSDT", "U": first, "u": self.last_id,
                "b": [[p, q] for p, q in bids.items()], "a": [[p, q] for p, q in asks.items()]}  # fmt: skip
        return orjson.dumps({"stream": "btcusdt@depth@100ms", "data": data}).decode()

    def snapshot(self, events_ago: int) -> dict:
        at = self.boundaries[max(0, len(self.boundaries) - 1 - events_ago)]
        bids, asks = self.history[at]
        order = sorted(bids, key=Decimal, reverse=True), sorted(asks, key=Decimal)
        return {
            "lastUpdateId": at,
            "bids": [[p, bids[p]] for p in order[0]],
            "asks": [[p, asks[p]] for p in order[1]],
        }


def check_book_sync(script: tuple[list, list]) -> None:
    initial, operations = script
    market = _Market(initial)
    sync = BookSync("BTCUSDT")
    honest = True
    last_sent: str | None = None
    now = 0.0
    for kind, arg in operations:
        now += 0.1
        if kind == "deliver" or kind == "drop":
            frame = market.step(*arg)
            if kind == "deliver":
                last_sent = frame
                sync.on_event(parse_stream_message(frame), now)
        elif kind == "duplicate" and last_sent is not None:
            sync.on_event(parse_stream_message(last_sent), now)
        elif kind == "snapshot":
            sync.on_snapshot(parse_depth_snapshot(market.snapshot(arg), "BTCUSDT"), now)
        elif kind == "lost":
            sync.on_connection_lost(now)
        elif kind == "silence":
            now += 5.0
            for action in sync.check_silence(now, 1.0, arg):  # a quiet check's answer is a later "snapshot"
                assert type(action) is not RequestSnapshot or action.refresh
        elif kind == "restart":
            sync.restart()
        elif kind == "horizon" and hasattr(sync, "check_horizon"):
            for action in sync.check_horizon(depth=arg, margin=2, limit=arg + 4):
                assert type(action) is RequestSnapshot
        elif kind == "forged":
            honest = False
            first = sync.book.last_update_id + 1 + arg["U"]
            data = {"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": first, "u": first + arg["span"],
                    "b": arg["b"], "a": arg["a"]}  # fmt: skip
            try:
                event = parse_stream_message(orjson.dumps(data))
            except WireFormatError:
                continue
            sync.on_event(event, now)
        elif kind == "forged-snapshot":
            honest = False
            try:
                snap = parse_depth_snapshot(arg, "BTCUSDT")
            except WireFormatError:
                continue
            sync.on_snapshot(snap, now)
        _check_sync(sync, market, honest)


def _check_sync(sync: BookSync, market: _Market, honest: bool) -> None:
    if sync.state is not SyncState.LIVE:
        return
    book = sync.book
    assert not book.is_crossed(), book.as_dicts()
    bids, asks = book.as_dicts()
    for price, qty in [*bids.items(), *asks.items()]:
        assert plain_decimal(price, price=True) and plain_decimal(qty, positive=True), (price, qty)
    if bids and asks:
        assert max(map(Decimal, bids)) < min(map(Decimal, asks))
    if honest:
        assert book.last_update_id in market.history, book.last_update_id
        assert (bids, asks) == market.history[book.last_update_id], "a live book differs from the truth"


# --- all of them -------------------------------------------------------------------------------------------

TARGETS = [
    Target("wire-bytes", st.binary(max_size=300), check_bytes),
    Target("wire-json", st.one_of(json_values, shaped_json), check_json),
    Target("wire-updates", near_valid_updates(), check_update),
    Target("wire-snapshots", near_valid_snapshots(), check_snapshot),
    Target("snapshot-bytes", st.binary(max_size=200), check_stored_bytes),
    Target("snapshot-values", snapshot_shaped, check_stored_value),
    Target("book-sync", book_scripts(), check_book_sync),
]
BY_NAME = {t.name: t for t in TARGETS}


def counted(target: Target) -> Callable[[Any], None]:
    """`target.check`, counting each input in RUNS."""

    def run(value: Any) -> None:
        RUNS[target.name] += 1
        target.check(value)

    return run
