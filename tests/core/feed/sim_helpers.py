"""Helpers of the tests that run OrderBookManager against the exchange simulator on loopback (spot and
futures, the hostile-feed and horizon tests, the recording tests): a manager tuned to react in test time, the
books' comparison with the simulator's truth, and a wait for books to go live."""

from __future__ import annotations

from core.feed.manager import ManagerConfig, OrderBookManager
from core.market.wire import decimal_ticks
from core.simulator.server import ExchangeSimulator
from tests.waiting import wait_until

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT"]  # what the simulator tests follow unless they say otherwise


def fast_config(sim: ExchangeSimulator, **overrides) -> ManagerConfig:
    """A manager that notices silence and faults within about a second and retries at once."""
    fast = dict(
        snapshot_limit=1000,
        connection_silence=1.5,
        symbol_silence=1.0,
        watchdog_interval=0.05,
        reconnect_initial=0.05,
        reconnect_max=0.5,
        snapshot_retry_delay=0.05,
        max_control_per_sec=20.0,  # the simulator's limit is per second too; tests stay under it
    )
    return _config(sim, fast, overrides)


def horizon_config(sim: ExchangeSimulator, **overrides) -> ManagerConfig:
    """A manager that checks its horizons often and retries fast (shared with the recording tests)."""
    often = dict(reconnect_initial=0.05, snapshot_retry_delay=0.05, horizon_interval=0.02, watchdog_interval=0.05)
    return _config(sim, often, overrides)


def _config(sim: ExchangeSimulator, options: dict, overrides: dict) -> ManagerConfig:
    """The simulator's endpoints (unless a test puts a relay in between), then `options`, then `overrides`."""
    return ManagerConfig(**{"ws_url": sim.ws_url, "rest_url": sim.rest_url, **options, **overrides})


def top_matches_truth(manager: OrderBookManager, sim: ExchangeSimulator, symbol: str, n: int) -> bool:
    book = manager.book(symbol)
    bids, asks = sim.market(symbol).top_at(book.last_update_id, n)
    return book.top_bids(n) == bids and book.top_asks(n) == asks


def assert_matches_truth(manager: OrderBookManager, sim: ExchangeSimulator, symbol: str) -> None:
    """Every level we hold has the true quantity, and the top of each side the book vouches for (`verified`, up to
    100 levels, at least 20) is exactly the truth. A book just synced on a shallow snapshot (100 levels, deepened by
    a refresh once its top has moved) vouches for fewer than 100 once the touch has moved: beyond its horizon it may lack a
    level the exchange holds, as Binance's books do (docs/SNAPSHOT_HORIZON.md)."""
    book = manager.book(symbol)
    assert book is not None and manager.is_live(symbol), manager.status(symbol)
    true_bids, true_asks = sim.market(symbol).book_at(book.last_update_id)
    ours_bids, ours_asks = book.as_dicts()
    for ours, truth in ((ours_bids, true_bids), (ours_asks, true_asks)):
        wrong = {p: (q, truth.get(p)) for p, q in ours.items() if truth.get(p) != q}
        assert not wrong, f"{symbol} levels differ from the true book: {list(wrong.items())[:5]}"
    depth = next(n for n in range(100, -1, -1) if n == 0 or book.verified(n))
    assert depth >= 20, f"{symbol}: only the top {depth} verified"
    top_bids = sorted(true_bids, key=decimal_ticks, reverse=True)[:depth]
    top_asks = sorted(true_asks, key=decimal_ticks)[:depth]
    assert [p for p, _ in book.top_bids(depth)] == top_bids
    assert [p for p, _ in book.top_asks(depth)] == top_asks


async def all_live(manager: OrderBookManager, symbols=SYMBOLS, timeout: float = 10.0) -> None:
    await wait_until(lambda: all(manager.is_live(s) for s in symbols), timeout, f"{symbols} live")


def assert_only_it_resynced(manager: OrderBookManager, sim: ExchangeSimulator, symbol: str, before: dict) -> None:
    """After a fault on `symbol` alone: it counted a gap, every other book of SYMBOLS was left undisturbed, and
    every book equals the simulator's truth. `before`: each symbol's status before the fault."""
    for other in SYMBOLS:
        if other != symbol:
            assert manager.status(other).resyncs == before[other].resyncs, f"{other} was disturbed"
            assert manager.status(other).gaps == 0
    assert manager.status(symbol).gaps >= 1
    for each in SYMBOLS:
        assert_matches_truth(manager, sim, each)
