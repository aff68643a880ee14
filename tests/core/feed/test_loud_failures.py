"""No background task of the feed fails silently: the manager against the exchange simulator on loopback.

For each background task (depth stream, watchdog, stream reader and frame handling, snapshot worker, control
messages) a bug is injected through a real seam — one method of one instance raising once — and the test
checks that it is (a) logged with its traceback, (b) reported through the manager (`failure` and a
`FeedFailed` event) and (c) that the feed keeps streaming: the books are live again and their update ids
advance. A fatal connect error (a malformed URL) stops the feed with one sentence instead.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

import pytest
import pytest_asyncio

from core.feed.events import FeedFailed
from core.feed.manager import OrderBookManager
from core.simulator.server import ExchangeSimulator
from core.tasks import cancel_and_wait, spawn
from tests.core.feed.sim_helpers import fast_config
from tests.waiting import wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]


class InjectedBug(RuntimeError):
    """The exception the tests plant; nothing else raises it."""


@pytest_asyncio.fixture
async def sim():
    simulator = ExchangeSimulator(symbols=SYMBOLS, seed=11, interval_ms=20)
    await simulator.start()
    yield simulator
    await simulator.stop()


class Running:
    """A started manager and the `FeedFailed` events it emitted."""

    def __init__(self, manager: OrderBookManager) -> None:
        self.manager = manager
        self.failures: list[FeedFailed] = []
        manager.add_listener(lambda event: self.failures.append(event) if type(event) is FeedFailed else None)


@pytest_asyncio.fixture
async def feed(sim, request):
    overrides = getattr(request, "param", {})
    manager = OrderBookManager(fast_config(sim, **overrides))
    running = Running(manager)
    await manager.start()
    yield running
    await manager.stop()


def raise_once(monkeypatch, obj, name: str, exc: BaseException) -> list[int]:
    """Make `obj.name` raise `exc` on its next call, then behave as before. Returns [calls] for counting."""
    original = getattr(obj, name)
    calls = [0]

    if inspect.iscoroutinefunction(original):

        async def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 1:
                raise exc
            return await original(*args, **kwargs)
    else:

        def wrapper(*args, **kwargs):
            calls[0] += 1
            if calls[0] == 1:
                raise exc
            return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, wrapper)
    return calls


def sync_of(manager: OrderBookManager, symbol: str):
    return manager._symbols[symbol].sync


def logged_with_traceback(caplog, exc: BaseException) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.exc_info and r.exc_info[1] is exc and r.levelno >= logging.WARNING]


async def live(manager: OrderBookManager, symbols=SYMBOLS, timeout: float = 10.0) -> None:
    await wait_until(lambda: all(manager.is_live(s) for s in symbols), timeout, f"{symbols} live")


async def streaming(manager: OrderBookManager, symbols=SYMBOLS) -> None:
    """The books are live and their update ids advance."""
    await live(manager, symbols)
    before = {s: manager.book(s).last_update_id for s in symbols}
    await wait_until(
        lambda: all(manager.is_live(s) and manager.book(s).last_update_id > before[s] + 5 for s in symbols),
        what="update ids advancing",
    )


def assert_reported(running: Running, sentence: str) -> None:
    assert sentence in [f.message for f in running.failures], running.failures
    assert all(not f.fatal for f in running.failures)
    assert running.manager.failure is not None and not running.manager.halted


# --- the helper itself ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_spawn_logs_once_and_reports_one_sentence(caplog):
    told: list[tuple[str, BaseException]] = []
    bug = InjectedBug("boom")
    tasks: set[asyncio.Task] = set()

    async def fails() -> None:
        raise bug

    task = spawn(
        fails(), "depth-stream", what="depth stream", on_failure=lambda s, e: told.append((s, e)), tasks=tasks
    )
    await wait_until(lambda: told, what="the failure reported")
    assert told == [("The depth stream stopped unexpectedly: boom.", bug)]
    assert not tasks  # the reference is dropped once the task ended
    await cancel_and_wait([task])  # already reported: not logged again, not raised
    [record] = logged_with_traceback(caplog, bug)
    assert record.levelno == logging.ERROR and "task=depth-stream" in record.getMessage()


@pytest.mark.asyncio
async def test_cancellation_is_no_failure_and_unreported_failures_are_logged(caplog):
    told: list[str] = []
    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.Event().wait()

    quiet = spawn(waits(), "waits", on_failure=lambda s, e: told.append(s))
    await started.wait()
    bug = InjectedBug("never reported")

    async def fails() -> None:
        raise bug

    plain = asyncio.get_running_loop().create_task(fails())  # not spawned: nobody reported it
    await asyncio.sleep(0)
    await cancel_and_wait([quiet, plain])
    assert quiet.cancelled() and not told
    assert len(logged_with_traceback(caplog, bug)) == 1


# --- each background task of the feed --------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("feed", [{"max_connection_age": 1.0}], indirect=True)
async def test_depth_stream_failure_is_reported_and_it_restarts(sim, feed, monkeypatch, caplog):
    manager = feed.manager
    await manager.subscribe_many(SYMBOLS)
    await live(manager)
    bug = InjectedBug("rotation bug")
    raise_once(monkeypatch, manager.slots[0], "_rotate", bug)  # the depth stream fails while it streams
    await wait_until(lambda: feed.failures, what="the failure reported")
    assert len(logged_with_traceback(caplog, bug)) == 1
    assert_reported(feed, "The depth stream stopped unexpectedly: rotation bug.")
    # The connection it left behind was dropped; the restarted depth stream connects again.
    await streaming(manager)
    assert sim.stats.connections_opened >= 2
    assert len(logged_with_traceback(caplog, bug)) == 1  # logged once


@pytest.mark.asyncio
async def test_watchdog_failure_is_reported_and_it_restarts(sim, feed, monkeypatch, caplog):
    manager = feed.manager
    await manager.subscribe_many(SYMBOLS)
    await live(manager)
    bug = InjectedBug("watchdog bug")
    raise_once(monkeypatch, sync_of(manager, "ETHUSDT"), "check_silence", bug)
    await wait_until(lambda: feed.failures, what="the failure reported")
    assert len(logged_with_traceback(caplog, bug)) == 1
    assert_reported(feed, "The feed watchdog stopped unexpectedly: watchdog bug.")
    # The restarted watchdog works: a silent symbol goes stale, and live again when its events resume.
    sim.faults.silence("ETHUSDT", seconds=2.0)
    await wait_until(lambda: not manager.is_live("ETHUSDT"), what="ETHUSDT stale")
    await streaming(manager)


@pytest.mark.asyncio
async def test_frame_handling_failure_is_counted_and_only_that_book_restarts(sim, feed, monkeypatch, caplog):
    manager = feed.manager
    await manager.subscribe_many(SYMBOLS)
    await live(manager)
    eth_resyncs = manager.status("ETHUSDT").resyncs
    bug = InjectedBug("event bug")
    raise_once(monkeypatch, sync_of(manager, "BTCUSDT"), "take_event", bug)  # the frame path's
    await wait_until(lambda: feed.failures, what="the failure reported")
    assert len(logged_with_traceback(caplog, bug)) == 1
    assert_reported(feed, "A message from the exchange could not be handled: event bug.")
    await streaming(manager)  # BTCUSDT rebuilt from a new snapshot, on the same connection
    status = manager.connection_status()
    assert status.bad_frames == 1 and status.reconnects == 0
    assert manager.status("ETHUSDT").resyncs == eth_resyncs  # the other books were not disturbed


@pytest.mark.asyncio
async def test_stream_reader_failure_is_reported_and_the_stream_reconnects(sim, feed, monkeypatch, caplog):
    manager = feed.manager
    bug = InjectedBug("reader bug")
    # Escapes the per-frame guard: the reader itself fails. Patched first: a connection binds `on_frame` as it opens.
    raise_once(monkeypatch, manager, "on_frame", bug)
    await manager.subscribe_many(SYMBOLS)
    await wait_until(lambda: feed.failures, what="the failure reported")
    assert len(logged_with_traceback(caplog, bug)) == 1
    assert_reported(feed, "The stream reader stopped unexpectedly: reader bug.")
    await wait_until(lambda: manager.connection_status().reconnects == 1, what="a reconnect")
    await streaming(manager)


@pytest.mark.asyncio
async def test_snapshot_worker_failure_is_reported_and_it_carries_on(sim, feed, monkeypatch, caplog):
    manager = feed.manager
    bug = InjectedBug("worker bug")
    raise_once(monkeypatch, manager.scheduler, "_next_symbol", bug)  # wakes when the first snapshot is asked
    await manager.subscribe_many(SYMBOLS)
    await wait_until(lambda: feed.failures, what="the failure reported")
    assert len(logged_with_traceback(caplog, bug)) == 1
    assert_reported(feed, "The snapshot worker failed and continues: worker bug.")
    await streaming(manager)


@pytest.mark.asyncio
async def test_snapshot_delivery_failure_is_reported_and_the_book_starts_over(sim, feed, monkeypatch, caplog):
    manager = feed.manager
    await manager.subscribe_many(SYMBOLS)
    bug = InjectedBug("snapshot bug")
    raise_once(monkeypatch, sync_of(manager, "BTCUSDT"), "on_snapshot", bug)
    await wait_until(lambda: feed.failures, what="the failure reported")
    assert len(logged_with_traceback(caplog, bug)) == 1
    assert_reported(feed, "The BTCUSDT snapshot could not be applied: snapshot bug.")
    await streaming(manager)


@pytest.mark.asyncio
async def test_control_message_failure_is_reported_and_the_symbol_resubscribed(
    sim, feed, monkeypatch, caplog
):
    manager = feed.manager
    await manager.subscribe_many(["BTCUSDT", "ETHUSDT"])
    await live(manager, ["BTCUSDT", "ETHUSDT"])
    bug = InjectedBug("control bug")
    raise_once(monkeypatch, manager.slots[0].conn, "control", bug)  # the SUBSCRIBE for BNBUSDT fails
    await manager.subscribe("BNBUSDT")
    await wait_until(lambda: feed.failures, what="the failure reported")
    assert len(logged_with_traceback(caplog, bug)) == 1
    assert_reported(feed, "The subscription request stopped unexpectedly: control bug.")
    # The watchdog resubscribes a symbol that never got an event; the connection was never dropped.
    await streaming(manager)
    assert manager.connection_status().reconnects == 0


# --- frames and connect errors ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_control_code_that_is_not_a_number_is_a_bad_frame(sim, feed):
    manager = feed.manager
    await manager.subscribe_many(SYMBOLS)
    await live(manager)
    sim.faults.malformed_frames(n=4)  # the fourth: {"code": "not a number", "msg": ..., "id": null}
    await wait_until(lambda: manager.connection_status().bad_frames == 4, what="four bad frames counted")
    await streaming(manager)
    status = manager.connection_status()
    assert status.reconnects == 0 and status.bad_frames == 4
    assert not feed.failures and manager.failure is None  # the exchange's garbage is not our failure


@pytest.mark.asyncio
@pytest.mark.parametrize("ws_url", ["not a url", "http://127.0.0.1:9443", "ws://127.0.0.1:99999"])
async def test_invalid_ws_url_stops_after_the_first_attempt(sim, ws_url, caplog):
    manager = OrderBookManager(fast_config(sim, ws_url=ws_url))
    running = Running(manager)
    await manager.start()
    try:
        await manager.subscribe("BTCUSDT")
        await wait_until(lambda: manager.halted, what="the feed halted")
        await asyncio.sleep(0.5)  # ten reconnect delays: none may be tried
        attempts = [r for r in caplog.records if r.getMessage().startswith("connect failed")]
        assert len(attempts) == 1
        sentence = f"The stream address {ws_url} is not a valid WebSocket URL."
        assert [(f.message, f.fatal) for f in running.failures] == [(sentence, True)]
        assert manager.failure == sentence
        assert manager.connection_status().last_error == sentence
        assert not manager.is_live("BTCUSDT")
    finally:
        await manager.stop()
