"""Binance market-stream names, WebSocket paths and the JSON control protocol, sans-I/O.

`Session` is one connection's subscription state: it takes an incoming text message and returns the
reply bytes (`{"result":...,"id":...}` or `{"error":{"code":..,"msg":..},"id":...}`), exactly as the
stream host answers SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS, SET_PROPERTY and GET_PROPERTY.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import orjson

# Syntactically valid: Binance acks these even when no such stream exists, then sends nothing.
# That includes an uppercase symbol ("BTCUSDT@depth"): only lowercase names carry data.
_WELL_FORMED = re.compile(r"^!?[A-Za-z0-9._-]+(?:@[A-Za-z0-9_]+)+$")
# The streams this simulator serves.
_DEPTH = re.compile(r"^(?P<symbol>[a-z0-9._-]+)@depth(?P<levels>5|10|20)?(?P<fast>@100ms)?$")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_METHODS = ("SUBSCRIBE", "UNSUBSCRIBE", "LIST_SUBSCRIPTIONS", "SET_PROPERTY", "GET_PROPERTY")
_INT64 = 2**63
MAX_STREAMS = 1024  # per connection (binance-protocol.md §5; Binance's error text for more is unverified)
TOO_MANY_STREAMS = "Invalid request: too many streams on this connection (at most {limit})"


@dataclass(frozen=True, slots=True)
class Stream:
    """A subscribed stream. `symbol` is None for well-formed streams that never carry data."""

    name: str
    symbol: str | None  # uppercase symbol of a depth stream
    levels: int | None  # None: diff depth; 5/10/20: partial book depth
    fast: bool  # "@100ms" (every interval) rather than every 1000 ms


def parse_stream(name: str) -> Stream | None:
    """The stream for a name, or None when the name is malformed."""
    if not isinstance(name, str) or not _WELL_FORMED.match(name):
        return None
    match = _DEPTH.match(name)
    if match is None:
        return Stream(name, None, None, False)
    levels = match["levels"]
    return Stream(name, match["symbol"].upper(), int(levels) if levels else None, bool(match["fast"]))


@dataclass(frozen=True, slots=True)
class Route:
    """Where a WebSocket upgrade request asked to go."""

    combined: bool  # /stream wraps events as {"stream","data"}; /ws sends them raw
    streams: tuple[Stream, ...]


class InvalidPath(ValueError):
    """A WebSocket request for a path Binance would refuse (HTTP 400, `reason` as the body)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_ws_path(target: str) -> Route:
    """`/ws`, `/ws/<stream>[/<stream>...]` or `/stream?streams=a/b`; raises InvalidPath otherwise."""
    parts = urlsplit(target)
    path = parts.path.rstrip("/") or "/"
    if path == "/ws":
        combined, names = False, []
    elif path.startswith("/ws/"):
        combined, names = False, unquote(path[len("/ws/") :]).split("/")
    elif path == "/stream":
        query = parse_qs(parts.query, keep_blank_values=True)
        value = query.get("streams", [""])[0]
        combined, names = True, [n for n in value.split("/") if n]
    else:
        raise InvalidPath("Invalid request path")
    streams = []
    for name in names:
        stream = parse_stream(name)
        if stream is None:
            raise InvalidPath("Invalid request: invalid stream")
        streams.append(stream)
    return Route(combined, tuple(streams))


class _RequestError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


class Session:
    """One connection's subscriptions and `combined` property, and its control-message replies."""

    def __init__(self, route: Route) -> None:
        self.combined = route.combined
        self.streams: dict[str, Stream] = {s.name: s for s in route.streams}  # subscription order
        self.max_streams = MAX_STREAMS  # a SUBSCRIBE that would go above it is refused whole
        self._by_symbol: dict[str, tuple[Stream, ...]] = {}
        self._index()

    def streams_of(self, symbol: str) -> tuple[Stream, ...]:
        """This connection's streams of `symbol`, in subscription order."""
        return self._by_symbol.get(symbol, ())

    def _index(self) -> None:
        # Every event asks which streams of its symbol a connection carries: a whole market's 2,700 events a
        # second over 1,500 streams made scanning them the simulator's main cost.
        by_symbol: dict[str, list[Stream]] = {}
        for stream in self.streams.values():
            if stream.symbol is not None:
                by_symbol.setdefault(stream.symbol, []).append(stream)
        self._by_symbol = {symbol: tuple(streams) for symbol, streams in by_symbol.items()}

    def handle(self, message: str | bytes) -> bytes:
        """Apply one incoming message and return the reply frame."""
        request_id = None
        try:
            try:
                request = orjson.loads(message)
            except orjson.JSONDecodeError as exc:
                raise _RequestError(
                    3, f"Invalid JSON: expected value at line {exc.lineno} column {exc.colno}"
                ) from None
            if not isinstance(request, dict) or "method" not in request:
                raise _RequestError(
                    2, f"Invalid request: missing field `method` at line 1 column {len(message)}"
                )
            request_id = _request_id(request.get("id"))
            result = self._dispatch(request["method"], request.get("params"))
        except _RequestError as err:
            return orjson.dumps({"error": {"code": err.code, "msg": err.msg}, "id": request_id})
        return orjson.dumps({"result": result, "id": request_id})

    def _dispatch(self, method: object, params: object) -> object:
        if method not in _METHODS:
            raise _RequestError(
                2,
                f"Invalid request: unknown variant `{method}`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, "
                "`LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 28",
            )
        if method == "LIST_SUBSCRIPTIONS":
            return list(self.streams)
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list):
                raise _RequestError(2, "Invalid request: missing field `params`")
            streams = [s for s in map(parse_stream, params) if s is not None]
            if len(streams) != len(params):  # all or nothing, like Binance
                raise _RequestError(2, "Invalid request: invalid stream")
            if method == "SUBSCRIBE" and len(self.streams.keys() | {s.name for s in streams}) > self.max_streams:
                raise _RequestError(2, TOO_MANY_STREAMS.format(limit=self.max_streams))
            for stream in streams:
                if method == "SUBSCRIBE":
                    self.streams.setdefault(stream.name, stream)
                else:
                    self.streams.pop(stream.name, None)
            self._index()
            return None
        return self._property(method, params)

    def _property(self, method: object, params: object) -> object:
        expected = 2 if method == "SET_PROPERTY" else 1
        if not isinstance(params, list) or len(params) < expected:
            raise _RequestError(2, "Invalid request: missing field `params`")
        if len(params) > expected:
            raise _RequestError(2, "Invalid request: too many parameters")
        if not isinstance(params[0], str):
            raise _RequestError(2, "Invalid request: property name must be a string")
        if params[0] != "combined":
            raise _RequestError(0, "Unknown property")
        if method == "GET_PROPERTY":
            return self.combined
        if not isinstance(params[1], bool):
            raise _RequestError(1, "Invalid value type: expected Boolean")
        self.combined = params[1]
        return None


def _request_id(value: object) -> object:
    """Binance accepts a signed 64-bit integer, a short alphanumeric string, or null."""
    if value is None or (isinstance(value, str) and _ID.match(value)):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and -_INT64 <= value < _INT64:
        return value
    raise _RequestError(2, "Invalid request: request ID must be an unsigned integer")
