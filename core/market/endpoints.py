"""Where the exchange lives: a WebSocket base and a REST base, as presets or from the command line.

Both are bases only; the clients append the paths (`/stream?streams=…`, the market's depth path). Each preset
belongs to one market (core.market.markets): USDⓈ-M futures stream depth from `fstream.binance.com/public` since
Binance split its futures WebSocket hosts (2026-03-06; the old URLs were retired on 2026-04-23).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.market.markets import SPOT, USDM, Market, market_named

WS_SCHEMES = ("ws://", "wss://")
REST_SCHEMES = ("http://", "https://")


def _normalize(url: str, schemes: tuple[str, ...], what: str) -> str:
    text = url.strip() if isinstance(url, str) else ""
    host = text.partition("://")[2].strip("/")
    if not text.lower().startswith(schemes) or not host:
        allowed = " or ".join(schemes)
        raise ValueError(f"The {what} URL {url!r} is not valid: it must start with {allowed}.")
    # Bases only: "https://api.binance.com/" and "https://api.binance.com" mean the same thing.
    return text.rstrip("/")


def normalize_ws_url(url: str) -> str:
    """The WebSocket base without a trailing "/"; ValueError (one sentence) unless ws:// or wss://."""
    return _normalize(url, WS_SCHEMES, "WebSocket")


def normalize_rest_url(url: str) -> str:
    """The REST base without a trailing "/"; ValueError (one sentence) unless http:// or https://."""
    return _normalize(url, REST_SCHEMES, "REST")


@dataclass(frozen=True)
class Endpoints:
    name: str
    ws_url: str
    rest_url: str
    market: Market = SPOT

    def __post_init__(self) -> None:
        # Validate once here so that every Endpoints in the program is usable as-is.
        object.__setattr__(self, "ws_url", normalize_ws_url(self.ws_url))
        object.__setattr__(self, "rest_url", normalize_rest_url(self.rest_url))


BINANCE = Endpoints("binance", "wss://stream.binance.com:9443", "https://api.binance.com")
BINANCE_US = Endpoints("binance-us", "wss://stream.binance.us:9443", "https://api.binance.us")
BINANCE_TESTNET = Endpoints(
    "testnet", "wss://stream.testnet.binance.vision", "https://testnet.binance.vision"
)
# Market-data-only hosts: same streams and /api/v3/depth, no trading or user data.
BINANCE_DATA = Endpoints(
    "binance-data", "wss://data-stream.binance.vision", "https://data-api.binance.vision"
)

# USDⓈ-M futures: depth streams on the `/public` path of the split hosts, REST /fapi/v1/depth on fapi.
BINANCE_USDM = Endpoints("binance-usdm", "wss://fstream.binance.com/public", "https://fapi.binance.com", USDM)

PRESETS: dict[str, Endpoints] = {
    e.name: e for e in (BINANCE, BINANCE_US, BINANCE_TESTNET, BINANCE_DATA, BINANCE_USDM)
}


def simulator(ws_url: str, rest_url: str, market: Market = SPOT) -> Endpoints:
    """The built-in exchange simulator on loopback (its ports are chosen at start-up)."""
    return Endpoints("simulator", ws_url, rest_url, market)


def resolve_endpoints(
    preset: str | None = None,
    ws_url: str | None = None,
    rest_url: str | None = None,
    market: Market | str | None = None,
) -> Endpoints:
    """The endpoints from a preset name (default: the market's, "binance" for spot), with explicit URLs
    overriding it. A preset of another market than the one asked for is refused in one sentence.

    Any URL that differs from the preset makes the pair "custom", so the status line never claims
    "binance" for an address that is not Binance's.
    """
    wanted = market_named(market) if market is not None else None
    name = preset or (wanted or SPOT).default_preset
    base = PRESETS.get(name)
    if base is None:
        choices = ", ".join(PRESETS)
        raise ValueError(f"Unknown exchange preset {name!r}; choose one of {choices}.")
    if wanted is not None and base.market is not wanted:
        raise ValueError(
            f"The preset {name!r} is for {base.market.label}, not {wanted.label}; "
            f"use --preset {wanted.default_preset} or leave --preset out."
        )
    ws = normalize_ws_url(ws_url) if ws_url is not None else base.ws_url
    rest = normalize_rest_url(rest_url) if rest_url is not None else base.rest_url
    if (ws, rest) == (base.ws_url, base.rest_url):
        return base
    return Endpoints("custom", ws, rest, base.market)
