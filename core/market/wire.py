"""Binance wire messages: small frozen value types, parsed once at the boundary with orjson.

Prices and quantities stay the exact strings the exchange sent (they go to storage and the screen
unchanged). Numeric comparison happens through `decimal_ticks`, an exact integer scaling, never floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

# Binance spot strings carry 8 decimals (base/quote asset precision 8); futures carry fewer.
DECIMALS = 8
_PAD = "0" * DECIMALS

Level = tuple[str, str]  # (price, quantity) exactly as sent

SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")


class WireFormatError(ValueError):
    """A frame or response that does not have the shape Binance documents."""


def decimal_ticks(text: str) -> int:
    """Exact integer value of a decimal string in units of 1e-8 ("57710.99000000" -> 5771099000000).

    Raises ValueError on anything that is not a plain non-negative decimal with at most 8 decimals
    of significance, so a malformed level can never reach a book.
    """
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
        raise WireFormatError(f"field {key!r} should be an integer, got {value!r}")
    return value


def _levels(obj: dict, key: str) -> list[Level]:
    value = obj.get(key)
    if type(value) is not list:
        raise WireFormatError(
            f"field {key!r} should be a list of [price, quantity], got {type(value).__name__}"
        )
    # Each level's strings are checked by decimal_ticks when a book applies them.
    return value


def parse_depth_update(data: dict) -> DepthUpdate:
    symbol = data.get("s")
    if type(symbol) is not str:
        raise WireFormatError("depthUpdate without a symbol")
    pu = data.get("pu")
    return DepthUpdate(
        symbol,
        _int(data, "U"),
        _int(data, "u"),
        _int(data, "E"),
        _levels(data, "b"),
        _levels(data, "a"),
        pu if type(pu) is int else None,
    )


def parse_depth_snapshot(data: Any, symbol: str = "") -> DepthSnapshot:
    if not isinstance(data, dict):
        raise WireFormatError("depth snapshot is not a JSON object")
    return DepthSnapshot(_int(data, "lastUpdateId"), _levels(data, "bids"), _levels(data, "asks"), symbol)


def _symbol_from_stream(stream: str) -> str:
    return stream.partition("@")[0].upper()


def parse_stream_message(raw: bytes | str) -> StreamMessage:
    """Parse one text frame from a raw (`/ws`) or combined (`/stream`) connection."""
    try:
        msg = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise WireFormatError(f"frame is not JSON ({exc})") from None
    if not isinstance(msg, dict):
        raise WireFormatError("frame is not a JSON object")
    stream = msg.get("stream")
    data = msg.get("data")
    if type(stream) is str and isinstance(data, dict):
        payload = data
    else:
        payload, stream = msg, None
    kind = payload.get("e")
    if kind == "depthUpdate":
        return parse_depth_update(payload)
    if kind == "serverShutdown":
        return ServerShutdown(payload.get("E") or 0)
    if "lastUpdateId" in payload:  # partial depth: no symbol inside, only the stream name says it
        return parse_depth_snapshot(payload, _symbol_from_stream(stream) if stream else "")
    if "error" in payload:
        err = payload["error"]
        if isinstance(err, dict):
            return ControlError(payload.get("id"), _control_code(err.get("code", -1)), str(err.get("msg", "")))
    if "result" in payload and "id" in payload:
        return ControlResult(payload["id"], payload["result"])
    if "code" in payload and "msg" in payload:  # an unwrapped control error
        return ControlError(payload.get("id"), _control_code(payload["code"]), str(payload["msg"]))
    raise WireFormatError(f"unknown frame kind {kind!r}")


def _control_code(value: object) -> int:
    if type(value) is not int:  # Binance's codes are integers; anything else is a malformed frame
        raise WireFormatError(f"control message code is not an integer: {value!r}")
    return value


def _filter(filters: list[dict], kind: str, key: str) -> str:
    for item in filters:
        if item.get("filterType") == kind:
            return str(item.get(key, ""))
    return ""


def parse_exchange_info(data: Any) -> dict[str, SymbolInfo]:
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        raise WireFormatError("exchangeInfo without a symbols list")
    out: dict[str, SymbolInfo] = {}
    for item in data["symbols"]:
        filters = item.get("filters") or []
        info = SymbolInfo(
            symbol=str(item["symbol"]),
            status=str(item.get("status", "")),
            base_asset=str(item.get("baseAsset", "")),
            quote_asset=str(item.get("quoteAsset", "")),
            tick_size=_filter(filters, "PRICE_FILTER", "tickSize"),
            step_size=_filter(filters, "LOT_SIZE", "stepSize"),
        )
        out[info.symbol] = info
    return out
