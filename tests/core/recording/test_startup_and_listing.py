"""A recording's start-up and its symbols' comings and goings (issue 11, issue 9): real simulator and REST relay on
loopback, real RocksDB, virtual seconds (ManualClock).

- exchangeInfo failing at start (HTTP 500, an HTML page, 429, a dropped connection) is asked again with backoff
  until it answers; then every valid symbol is recorded, and the unknown or non-trading ones are named.
- a recorded symbol that stops trading stops being recorded, and is recorded again when it trades again; a new
  listing of a recorded market is recorded.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from core.feed.errors import ExchangeUnavailableError
from core.feed.listing import MarketSelection
from core.recording.clock import ManualClock
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from core.simulator.server import ExchangeSimulator
from tests.core.feed.relays import RestRelay
from tests.waiting import wait_until

T0 = 1_737_158_400.0
FAST = {  # reconnect and REST retries scaled down; the listing refreshed by the tests themselves
    "reconnect_initial": 0.05,
    "reconnect_max": 0.2,
    "snapshot_retry_delay": 0.05,
    "max_control_per_sec": 20.0,
    "listing_interval": None,
}
INFO = "/api/v3/exchangeInfo"
HTML = b"<html><body>Service temporarily unavailable</body></html>"


def session_for(sim: ExchangeSimulator, rest_url: str, db: Path, clock: ManualClock) -> RecordingSession:
    config = RecordingConfig(db_path=db, ws_url=sim.ws_url, rest_url=rest_url, max_symbols=100)
    return RecordingSession(config, recorder_options={"clock": clock}, manager_options=FAST)


async def recorded_a_second(session: RecordingSession, clock: ManualClock, symbols: list[str]) -> None:
    """Every symbol in `symbols` live, then one virtual second: each stores a snapshot."""
    await wait_until(lambda: all(session.manager.is_live(s) for s in symbols), 15, f"{symbols} live")
    before = {s: session.recording_status(s).stored for s in symbols}
    await clock.until_sleeping()
    await clock.advance(1)
    assert all(session.recording_status(s).stored == before[s] + 1 for s in symbols)


@pytest.mark.asyncio
async def test_start_up_waits_out_a_failing_exchange_then_records_every_valid_symbol(tmp_path):
    clock = ManualClock(T0)
    async with ExchangeSimulator(symbols=["BTCUSDT", "ETHUSDT", "HALTUSDT"], seed=5, interval_ms=20) as sim:
        sim.set_status("HALTUSDT", "HALT")
        async with RestRelay(sim.rest_url) as relay:
            relay.canned[INFO] = [
                (500, b"", ""),
                (200, HTML, "Content-Type: text/html\r\n"),
                (429, b'{"code":-1003,"msg":"Too much request weight used"}', "Retry-After: 1\r\n"),
                (0, b"", ""),  # the connection dropped without an answer
            ]
            session = session_for(sim, relay.url, tmp_path / "db", clock)
            await session.start()
            waits: list[str] = []
            try:
                check = await session.follow_valid(
                    ["BTCUSDT", "nopeusdt", "ETHUSDT", "HALTUSDT"],
                    retry_for=math.inf,
                    on_retry=lambda sentence, delay: waits.append(sentence),
                )
                assert len(waits) == 4 and not relay.canned[INFO]  # every failure waited out, none fatal
                assert (
                    "HTTP 500" in waits[0]
                    and "unreadable answer" in waits[1]
                    and "too many requests" in waits[2]
                )
                assert check.valid == ["BTCUSDT", "ETHUSDT"]
                assert check.describe() == (
                    "Cannot follow NOPEUSDT (not a symbol on this exchange) and HALTUSDT (not trading, status HALT)."
                )
                assert session.symbols == ["BTCUSDT", "ETHUSDT"]
                for symbol in check.valid:
                    session.set_recording(symbol, True)
                await recorded_a_second(session, clock, check.valid)
            finally:
                await session.stop()


@pytest.mark.asyncio
async def test_start_up_gives_up_only_when_told_to(tmp_path):
    clock = ManualClock(T0)
    sim = ExchangeSimulator(symbols=["BTCUSDT"], seed=5, interval_ms=20)
    async with sim, RestRelay(sim.rest_url) as relay:
        relay.canned[INFO] = [(503, b"", "")] * 50
        session = session_for(sim, relay.url, tmp_path / "db", clock)
        await session.start()
        try:
            with pytest.raises(ExchangeUnavailableError, match="HTTP 503"):
                await session.follow_valid(["BTCUSDT"], retry_for=0.3)
            assert session.symbols == []
        finally:
            await session.stop()


@pytest.mark.asyncio
async def test_a_halted_symbol_pauses_its_recording_and_a_new_listing_is_recorded(tmp_path):
    clock = ManualClock(T0)
    async with ExchangeSimulator(symbols=["BTCUSDT", "ETHUSDT", "BNBBTC"], seed=6, interval_ms=20) as sim:
        session = session_for(sim, sim.rest_url, tmp_path / "db", clock)
        await session.start()
        try:
            followed = await session.follow_market(MarketSelection(quotes=frozenset({"USDT"})), record=True)
            assert followed == ["BTCUSDT", "ETHUSDT"] and session.recorded_symbols == followed
            await recorded_a_second(session, clock, followed)

            sim.set_status("ETHUSDT", "HALT")
            await session.manager.listing.refresh()
            assert not session.is_recording("ETHUSDT") and session.symbols == ["BTCUSDT"]
            stored_eth = session.recording_status("ETHUSDT").stored
            await recorded_a_second(session, clock, ["BTCUSDT"])

            sim.set_status("ETHUSDT", "TRADING")
            sim.add_symbol("SOLUSDT")
            await session.manager.listing.refresh()
            assert session.is_recording("ETHUSDT") and session.is_recording("SOLUSDT")
            assert not session.is_recording("BNBBTC")  # another quote
            await recorded_a_second(session, clock, ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
            assert session.recording_status("ETHUSDT").stored == stored_eth + 1
        finally:
            await session.stop()


@pytest.mark.asyncio
async def test_a_failed_or_empty_listing_refresh_stops_nothing(tmp_path):
    clock = ManualClock(T0)
    sim = ExchangeSimulator(symbols=["BTCUSDT", "ETHUSDT"], seed=7, interval_ms=20)
    async with sim, RestRelay(sim.rest_url) as relay:
        session = session_for(sim, relay.url, tmp_path / "db", clock)
        await session.start()
        try:
            check = await session.follow_valid(["BTCUSDT", "ETHUSDT"])
            for symbol in check.valid:
                session.set_recording(symbol, True)
            relay.canned[INFO] = [(500, b"", ""), (200, b'{"timezone":"UTC","symbols":[]}', "")]
            listing = session.manager.listing
            assert await listing.refresh() is None and "HTTP 500" in listing.last_error
            assert await listing.refresh() is None and "none of the 2 followed symbols" in listing.last_error
            assert listing.failures == 2 and listing.stopped == {}
            assert session.recorded_symbols == ["BTCUSDT", "ETHUSDT"]
            await recorded_a_second(session, clock, ["BTCUSDT", "ETHUSDT"])
            assert await listing.refresh() is not None  # the exchange answers again: nothing changed
            assert session.symbols == ["BTCUSDT", "ETHUSDT"]
        finally:
            await session.stop()


def test_the_feed_keeps_the_recorded_depth_verified_and_starts_shallow_only_when_it_helps(tmp_path):
    from core.recording.session import manager_config

    def feed(depth: int, limit: int):
        config = RecordingConfig(
            db_path=tmp_path, ws_url="ws://x", rest_url="http://x", depth=depth, snapshot_limit=limit
        )
        return manager_config(config, listing_interval=30.0)

    deep = feed(50, 1000)
    assert (deep.horizon_depth, deep.shallow_sync_limit, deep.snapshot_limit, deep.listing_interval) == (
        50,
        100,
        1000,
        30.0,
    )
    assert feed(20, 100).shallow_sync_limit is None  # a shallow start would be no cheaper
    assert feed(100, 5000).shallow_sync_limit is None  # a 100-level start would not cover the recorded top
    # Deepening at 500 on a short budget, only when 500 levels still hold the recorded top and the margin.
    assert deep.tight_refresh_limit == 500 and feed(100, 5000).tight_refresh_limit == 500
    assert feed(20, 500).tight_refresh_limit is None  # no cheaper than the configured refresh
