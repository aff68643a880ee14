"""Endpoint presets, overrides and URL validation."""

from __future__ import annotations

import pytest

from core.market.endpoints import (
    BINANCE,
    BINANCE_DATA,
    BINANCE_TESTNET,
    BINANCE_US,
    BINANCE_USDM,
    PRESETS,
    Endpoints,
    resolve_endpoints,
    simulator,
)


def test_presets_are_binance_bases():
    assert (BINANCE.ws_url, BINANCE.rest_url) == ("wss://stream.binance.com:9443", "https://api.binance.com")
    assert (BINANCE_US.ws_url, BINANCE_US.rest_url) == (
        "wss://stream.binance.us:9443",
        "https://api.binance.us",
    )
    assert (BINANCE_TESTNET.ws_url, BINANCE_TESTNET.rest_url) == (
        "wss://stream.testnet.binance.vision",
        "https://testnet.binance.vision",
    )
    assert (BINANCE_DATA.ws_url, BINANCE_DATA.rest_url) == (
        "wss://data-stream.binance.vision",
        "https://data-api.binance.vision",
    )
    assert PRESETS == {
        "binance": BINANCE,
        "binance-us": BINANCE_US,
        "testnet": BINANCE_TESTNET,
        "binance-data": BINANCE_DATA,
        "binance-usdm": BINANCE_USDM,
    }


def test_default_is_binance():
    assert resolve_endpoints() is BINANCE
    assert resolve_endpoints("testnet") is BINANCE_TESTNET


def test_explicit_urls_override_the_preset_and_make_it_custom():
    ep = resolve_endpoints("binance", ws_url="ws://127.0.0.1:8765/", rest_url="http://127.0.0.1:8766//")
    assert ep == Endpoints("custom", "ws://127.0.0.1:8765", "http://127.0.0.1:8766")
    half = resolve_endpoints("binance-us", rest_url="http://localhost:1")
    assert (half.name, half.ws_url, half.rest_url) == ("custom", BINANCE_US.ws_url, "http://localhost:1")
    # Repeating the preset's own URL changes nothing.
    assert resolve_endpoints("binance", rest_url="https://api.binance.com/") is BINANCE


def test_simulator_pair():
    ep = simulator("ws://127.0.0.1:9000/", "http://127.0.0.1:9001/")
    assert ep == Endpoints("simulator", "ws://127.0.0.1:9000", "http://127.0.0.1:9001")


@pytest.mark.parametrize(
    ("ws_url", "rest_url", "bad"),
    [
        ("https://stream.binance.com", None, "https://stream.binance.com"),
        ("stream.binance.com:9443", None, "stream.binance.com:9443"),
        ("wss://", None, "wss://"),
        (None, "wss://api.binance.com", "wss://api.binance.com"),
        (None, "ftp://api.binance.com", "ftp://api.binance.com"),
        (None, "", "''"),
    ],
)
def test_bad_urls_raise_one_sentence_naming_the_url(ws_url, rest_url, bad):
    with pytest.raises(ValueError) as info:
        resolve_endpoints(ws_url=ws_url, rest_url=rest_url)
    message = str(info.value)
    assert bad in message
    assert "\n" not in message and message.endswith(".")


def test_unknown_preset_names_the_choices():
    with pytest.raises(ValueError, match="binance-us"):
        resolve_endpoints("kraken")


def test_endpoints_validate_on_construction():
    with pytest.raises(ValueError, match="http://x"):
        Endpoints("x", "http://x", "http://y")
