"""Binance wire messages: small frozen value types, parsed once at the boundary with orjson.

Prices and quantities stay the exact strings the exchange sent (they go to storage and the screen
unchanged). Numeric comparison happens through `decimal_ticks`, an exact integer scaling, never floats.

Every price level is checked here, at the boundary, before anything else sees it (docs/RELIABILITY.md):
a level is exactly a two-element array `[price, quantity]` of plain ASCII decimal strings (`LEVEL RULES`
below), and a depth snapshot is also sorted, without repeated prices and not crossed. Anything else raises
WireFormatError naming the symbol and the offending value. A clean diff frame is recognised by one regular
expression over the raw text (`_CLEAN_*`: about 1.5 µs for a typical 750-byte frame on the benchmark
machine, the cheapest complete check measured; a per-level Python loop costs more before it checks
anything); a frame it does not recognise is checked level by level, which also says what is wrong with it.

A diff frame in Binance's own layout is first read in one pass in C (core/market/_frame_scan.c), which gives
exactly what `parse_frame_as_json` (the specification: orjson, then those checks) gives for it, or declines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

try:
    from core.market._frame_scan import scan_depth_snapshot, scan_depth_update, use_event_type
except ImportError:  # not built (a source tree run without `pip install`): every frame is read as JSON
    scan_depth_snapshot = scan_depth_update = use_event_type = None

# Binance spot strings carry 8 decimals (base/quote asset precision 8); futures carry fewer.
DECIMALS = 8
_PAD = "0" * DECIMALS

Level = tuple[str, str]  # (price, quantity) exactly as sent

SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")


class WireFormatError(ValueError):
    """A frame or response that does not have the shape Binance documents.

    `symbol` is the symbol the malformed message was about when it could be read (a depthUpdate's `s`, a
    snapshot's symbol), else "": a caller that keeps a book for it knows that book missed an update."""

    def __init__(self, message: str, symbol: str = "") -> None:
        super().__init__(message)
        self.symbol = symbol


# --- LEVEL RULES -------------------------------------------------------------------------------------
# A price or quantity is 1 to 20 ASCII digits, optionally followed by a dot and 1 to 20 digits: no sign,
# exponent, whitespace, leading or trailing dot, nothing else. A price is above zero and has at most
# DECIMALS significant decimals (the book keys prices by exact 1e-8 ticks; trailing zeros are fine). A
# quantity is >= 0 in a diff event (zero removes the level) and > 0 in a snapshot (Binance sends no empty
# levels there). The bounds keep a hostile string from growing without end; Binance's longest is ~20 chars.
_INT = "[0-9]{1,20}+"
_QTY = _INT + r"(?:\.[0-9]{1,20}+)?+"
_PRICE = _INT + rf"(?:\.[0-9]{{1,{DECIMALS}}}+0{{0,{20 - DECIMALS}}}+)?+"


def _nonzero(pattern: str, end: str) -> str:
    return rf"(?![0.]*+{end}){pattern}"  # not made of zeros and dots only


_PRICE_OK = re.compile(_nonzero(_PRICE, r"\Z")).fullmatch
_QTY_OK = re.compile(_QTY).fullmatch
_POSITIVE_QTY_OK = re.compile(_nonzero(_QTY, r"\Z")).fullmatch

# A whole diff frame whose levels all follow the rules, in Binance's layout: `"b":[…],"a":[…]` are the last
# members of the event object, nothing before them holds a `[`, and the text ends there (`}` for a raw
# frame, `}}` for a combined one). Then the arrays validated here are the ones the JSON parser returns for
# `b` and `a` (a later duplicate key wins, and nothing follows them); a frame in another layout (keys in
# another order, spaces) is checked level by level instead. tests/fuzz checks that both ways agree.
_LEVEL = rf'\["{_nonzero(_PRICE, chr(34))}","{_QTY}"\]'
_SIDE = rf"\[(?:{_LEVEL}(?:,{_LEVEL})*+)?+\]"
_SIDES = r"\{[^\[]*+(?<=\"b\":)" + _SIDE + ',"a":' + _SIDE


def _clean_frame(pattern: str) -> dict[type, Any]:
    return {str: re.compile(pattern).fullmatch, bytes: re.compile(pattern.encode()).fullmatch}


_CLEAN_COMBINED = _clean_frame(_SIDES + r"\}\}")
_CLEAN_RAW = _clean_frame(_SIDES + r"\}")

_SHOWN = 40  # characters of an offending value quoted in an error


def _show(value: object) -> str:
    """repr(value), cut to _SHOWN characters: a hostile value cannot flood the log."""
    if type(value) is str and len(value) > _SHOWN:
        value = value[:_SHOWN]  # no need to repr megabytes
    try:
        text = repr(value)
    except RecursionError:  # a JSON array nested a thousand deep
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def decimal_ticks(text: str) -> int:
    """Exact integer value of a decimal string in units of 1e-8 ("57710.99000000" -> 5771099000000).

    Raises ValueError on anything that is not a plain non-negative decimal with at most 8 decimals
    of significance, so a malformed level can never reach a book.
    """
    if len(text) > 9 and text[-9] == ".":  # Binance's own spelling, 8 decimals: the same digits, read at once
        digits = text.replace(".", "", 1)
        if digits.isdigit():
            return int(digits)
    whole, _, frac = text.partition(".")
    if len(frac) > DECIMALS:
        if frac[DECIMALS:].strip("0"):
            raise ValueError(f"more than {DECIMALS} significant decimals in {text!r}")
        frac = frac[:DECIMALS]
    digits = whole + frac + _PAD[len(frac) :]
    if not whole or not digits.isdigit():  # rejects signs, exponents, spaces, hex
        raise ValueError(f"not a decimal number: {text!r}")
    return int(digits)


def ticks_to_decimal(ticks: int) -> str:
    """The 8-decimal string Binance would send for a tick count (used by the simulator and tests)."""
    whole, frac = divmod(ticks, 10**DECIMALS)
    return f"{whole}.{frac:08d}"


def is_valid_symbol(symbol: str) -> bool:
    return bool(SYMBOL_RE.match(symbol))


@dataclass(slots=True)
class DepthUpdate:
    """One diff-depth event (`depthUpdate`). `prev_final_update_id` is futures' `pu`, None on spot.

    Treat it as immutable. It is not declared frozen because a frozen dataclass costs about 0.6 µs more to
    build, on the hot path of every frame (bench/book.py)."""

    symbol: str
    first_update_id: int  # U
    final_update_id: int  # u
    event_time: int  # E, milliseconds
    bids: list[Level]
    asks: list[Level]
    prev_final_update_id: int | None = None  # pu


if use_event_type is not None:  # the C reading builds the DepthUpdate itself: no __init__ run for every frame
    use_event_type(DepthUpdate)


@dataclass(frozen=True, slots=True)
class DepthSnapshot:
    """A REST `/api/v3/depth` answer (or a partial-depth stream frame)."""

    last_update_id: int
    bids: list[Level]
    asks: list[Level]
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    event_time: int


@dataclass(frozen=True, slots=True)
class ControlResult:
    """The answer to SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS / *_PROPERTY."""

    id: Any
    result: Any


@dataclass(frozen=True, slots=True)
class ControlError:
    id: Any
    code: int
    message: str


@dataclass(frozen=True, slots=True)
class SymbolInfo:
    """What exchangeInfo tells about one symbol."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: str
    step_size: str

    @property
    def trading(self) -> bool:
        return self.status == "TRADING"


StreamMessage = DepthUpdate | DepthSnapshot | ServerShutdown | ControlResult | ControlError


def _int(obj: dict, key: str) -> int:
    value = obj.get(key)
    if type(value) is not int:
        raise WireFormatError(f"field {key!r} should be an integer, got {_show(value)}", _symbol_of(obj))
    return value


def _symbol_of(obj: dict) -> str:
    """The readable symbol of a malformed depthUpdate, for WireFormatError.symbol; "" if there is none."""
    symbol = obj.get("s")
    return symbol if type(symbol) is str and is_valid_symbol(symbol) else ""


def _checked_levels(
    value: object, symbol: str, name: str, what: str, side: str, qty_ok: Any, qty_rule: str
) -> list[Level]:
    """`value` if it is a list of levels that follow the LEVEL RULES, else WireFormatError saying which
    (`name`: how the message names the symbol; `symbol`: the readable symbol, or "")."""
    if type(value) is not list:
        raise WireFormatError(
            f"{name} {what} {side}s should be a list of [price, quantity], got {_show(value)}", symbol
        )
    for level in value:
        if type(level) is not list or len(level) != 2:
            raise WireFormatError(
                f"{name} {what} {side} is not a [price, quantity] pair: {_show(level)}", symbol
            )
        price, qty = level
        if type(price) is not str or not _PRICE_OK(price):
            raise WireFormatError(
                f"{name} {what} {side} price is not a plain decimal above zero: {_show(price)}", symbol
            )
        if type(qty) is not str or not qty_ok(qty):
            raise WireFormatError(f"{name} {what} {side} quantity is not {qty_rule}: {_show(qty)}", symbol)
    return value


def parse_depth_update(data: dict, levels_checked: bool = False) -> DepthUpdate:
    """A depthUpdate payload. `levels_checked`: the caller matched the raw frame with a `_CLEAN_*` pattern."""
    symbol = data.get("s")
    if type(symbol) is not str:
        raise WireFormatError("depthUpdate without a symbol")
    first, final, when = data.get("U"), data.get("u"), data.get("E")
    if type(first) is not int or type(final) is not int or type(when) is not int:
        _int(data, "U"), _int(data, "u"), _int(data, "E")  # raises, naming the field
    if first > final:
        known = _symbol_of(data)
        raise WireFormatError(
            f"{known or _show(symbol)} depthUpdate first update id {first} is after its last {final}", known
        )
    bids, asks = data.get("b"), data.get("a")
    if not levels_checked or type(bids) is not list or type(asks) is not list:
        known = _symbol_of(data)
        name = known or _show(symbol)
        bids = _checked_levels(bids, known, name, "depthUpdate", "bid", _QTY_OK, "a plain decimal")
        asks = _checked_levels(asks, known, name, "depthUpdate", "ask", _QTY_OK, "a plain decimal")
    pu = data.get("pu")
    return DepthUpdate(symbol, first, final, when, bids, asks, pu if type(pu) is int else None)


def parse_depth_snapshot(data: Any, symbol: str = "") -> DepthSnapshot:
    """A REST depth snapshot (or a partial-depth frame): levels that follow the LEVEL RULES with quantities
    above zero, bids strictly descending and asks strictly ascending (so no price twice), best bid below
    best ask, all compared exactly. A snapshot that breaks any of these raises WireFormatError."""
    name = symbol or "unknown symbol"
    if not isinstance(data, dict):
        raise WireFormatError(f"{name} depth snapshot is not a JSON object", symbol)
    last_id = data.get("lastUpdateId")
    if type(last_id) is not int:
        raise WireFormatError(
            f"{name} depth snapshot lastUpdateId is not an integer: {_show(last_id)}", symbol
        )
    positive = "a plain decimal above zero"
    bids = _checked_levels(
        data.get("bids"), symbol, name, "depth snapshot", "bid", _POSITIVE_QTY_OK, positive
    )
    asks = _checked_levels(
        data.get("asks"), symbol, name, "depth snapshot", "ask", _POSITIVE_QTY_OK, positive
    )
    best_bid = _check_order(bids, name, symbol, "bids", "descending", -1)
    best_ask = _check_order(asks, name, symbol, "asks", "ascending", +1)
    if best_bid is not None and best_ask is not None and best_bid >= best_ask:
        raise WireFormatError(
            f"{name} depth snapshot is crossed: best bid {bids[0][0]} is not below best ask {asks[0][0]}",
            symbol,
        )
    return DepthSnapshot(last_id, bids, asks, symbol)


def read_depth_snapshot(raw: bytes, symbol: str = "") -> DepthSnapshot | None:
    """The REST depth answer `raw` read in one pass in C, when it is a clean one in Binance's layout (the same
    DepthSnapshot `parse_depth_snapshot` gives for it); None for anything else, which the caller then parses and
    checks with `parse_depth_snapshot`, and which says what is wrong with it."""
    fields = scan_depth_snapshot(raw) if scan_depth_snapshot is not None else None
    return None if fields is None else DepthSnapshot(*fields, symbol)


def _check_order(levels: list[Level], name: str, symbol: str, side: str, order: str, sign: int) -> int | None:
    """The best price in ticks (None for an empty side); raises unless prices strictly move by `sign`."""
    previous = None
    for price, _ in levels:
        ticks = decimal_ticks(price)  # exact; the LEVEL RULES guarantee it parses
        if previous is not None and (ticks - previous) * sign <= 0:
            problem = "repeat the price" if ticks == previous else f"are not in {order} price order at"
            raise WireFormatError(f"{name} depth snapshot {side} {problem} {price}", symbol)
        previous = ticks
    return decimal_ticks(levels[0][0]) if levels else None


def _symbol_from_stream(stream: str) -> str:
    """`btcusdt@depth20@100ms` -> BTCUSDT; "" when the name does not start with a symbol."""
    symbol = stream.partition("@")[0].upper()
    return symbol if is_valid_symbol(symbol) else ""


def parse_stream_message(raw: bytes | str) -> StreamMessage:
    """Parse one text frame from a raw (`/ws`) or combined (`/stream`) connection."""
    if scan_depth_update is not None:
        event = scan_depth_update(raw)  # a clean diff frame in Binance's layout, else None
        if event is not None:
            return event
    return parse_frame_as_json(raw)


def parse_frame_as_json(raw: bytes | str) -> StreamMessage:
    """`parse_stream_message` without the C reading: the specification it follows, for any frame."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WireFormatError(f"frame is not JSON ({exc})") from None
    if not isinstance(msg, dict):
        raise WireFormatError("frame is not a JSON object")
    stream = msg.get("stream")
    data = msg.get("data")
    if type(stream) is str and isinstance(data, dict):
        payload, clean = data, _CLEAN_COMBINED
    else:
        payload, stream, clean = msg, None, _CLEAN_RAW
    kind = payload.get("e")
    if kind == "depthUpdate":
        match = clean.get(type(raw))
        return parse_depth_update(payload, match is not None and match(raw) is not None)
    if kind == "serverShutdown":
        when = payload.get("E")
        return ServerShutdown(when if type(when) is int else 0)
    if "lastUpdateId" in payload:  # partial depth: no symbol inside, only the stream name says it
        return parse_depth_snapshot(payload, _symbol_from_stream(stream) if stream else "")
    if "error" in payload:
        err = payload["error"]
        if isinstance(err, dict):
            return ControlError(
                payload.get("id"), _control_code(err.get("code", -1)), _text(err.get("msg", ""))
            )
    if "result" in payload and "id" in payload:
        return ControlResult(payload["id"], payload["result"])
    if "code" in payload and "msg" in payload:  # an unwrapped control error
        return ControlError(payload.get("id"), _control_code(payload["code"]), _text(payload["msg"]))
    raise WireFormatError(f"unknown frame kind {_show(kind)}")


def _text(value: object) -> str:
    return value if type(value) is str else _show(value)


def _control_code(value: object) -> int:
    if type(value) is not int:  # Binance's codes are integers; anything else is a malformed frame
        raise WireFormatError(f"control message code is not an integer: {_show(value)}")
    return value


def _filter(filters: object, kind: str, key: str) -> str:
    for item in filters if type(filters) is list else ():
        if type(item) is dict and item.get("filterType") == kind:
            return _text(item.get(key, ""))
    return ""


def parse_exchange_info(data: Any) -> dict[str, SymbolInfo]:
    """Symbol facts by name; WireFormatError if the answer is not an exchangeInfo (an entry without a
    string symbol, or not an object, makes the whole answer unreadable: it is not Binance talking)."""
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        raise WireFormatError("exchangeInfo without a symbols list")
    out: dict[str, SymbolInfo] = {}
    for item in data["symbols"]:
        if type(item) is not dict or type(item.get("symbol")) is not str:
            raise WireFormatError(f"exchangeInfo symbol entry without a symbol name: {_show(item)}")
        filters = item.get("filters")
        info = SymbolInfo(
            symbol=item["symbol"],
            status=_text(item.get("status", "")),
            base_asset=_text(item.get("baseAsset", "")),
            quote_asset=_text(item.get("quoteAsset", "")),
            tick_size=_filter(filters, "PRICE_FILTER", "tickSize"),
            step_size=_filter(filters, "LOT_SIZE", "stepSize"),
        )
        out[info.symbol] = info
    return out
