"""The app's recording sessions, one per market (spot, USDⓈ-M futures), created when a market is first needed.

Why one `RecordingSession` per market rather than one session with a manager per market: a session, its
manager and its recorder are already one market's (the manager's REST paths, weights and `pu` chaining; the
recorder's stored names), and `depthbook record` runs exactly one; keeping them whole leaves core/ unchanged but
for `RecordingSession.use_storage`, which lets every market record into the one database the app holds open
(RocksDB allows one writer). A `SessionLedger` keeps that database's session record whole across the recorders
(core.recording.shared_session).

A market's session starts when its first symbol is followed (at start, those saved; later, the first one added),
so a spot-only user never opens a futures connection. In the demo each market gets its own simulator on loopback;
otherwise the run's preset names the hosts of its market and, on Binance, of the other (gui.app_markets).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from core.feed.errors import ExchangeError
from core.feed.events import ManagerEvent
from core.market.endpoints import Endpoints, simulator
from core.market.markets import MARKETS, Market
from core.recording.config import RecordingConfig
from core.recording.session import FailureHandler, RecordingSession
from gui.app_markets import companion_endpoints
from gui.config import AppConfig

if TYPE_CHECKING:  # only the services import the simulator (an import-linter contract): they start it for us
    from core.simulator import ExchangeSimulator

log = logging.getLogger(__name__)

Listener = Callable[[ManagerEvent], None]
ListenerFactory = Callable[[Market], Listener]  # a listener for one market's manager
SimulatorStarter = Callable[[Market], Awaitable["ExchangeSimulator"]]  # the demo's exchange of one market, running


class MarketUnavailableError(ExchangeError):
    """The exchange of this run does not offer the market asked for (one sentence)."""


class MarketSessions:
    def __init__(self, config: AppConfig, on_failure: FailureHandler, start_simulator: SimulatorStarter) -> None:
        self.config = config
        self.on_failure = on_failure
        self._start_simulator = start_simulator
        self.sessions: dict[Market, RecordingSession] = {}  # in the order they started
        self.simulators: dict[Market, ExchangeSimulator] = {}
        self.endpoints: dict[Market, Endpoints] = {}
        self._factories: list[tuple[ListenerFactory, bool]] = []  # (factory, book_updates)
        self._listening: dict[Market, list[tuple[ListenerFactory, Listener]]] = {}  # (made by, listener)
        self._starting = asyncio.Lock()  # two symbols of a new market added at once: one session
        self.on_started: Callable[[RecordingSession], asyncio.Future | None] | None = None

    # --- which markets ---------------------------------------------------------------------------------

    def offered(self) -> list[Market]:
        """The markets this run can follow: both in the demo; the preset's own, and the other on Binance."""
        if self.config.demo:
            return list(MARKETS.values())
        base = self._base()
        return [m for m in MARKETS.values() if base is not None and companion_endpoints(base, m) is not None]

    def why_not(self, market: Market) -> str:
        return (
            f"{self.config.endpoint_name} does not offer {market.label}: choose Binance or Binance USD-M futures "
            "in Settings to follow both markets."
        )

    def _base(self) -> Endpoints | None:
        cfg = self.config
        if not cfg.ws_url or not cfg.rest_url:
            return None
        return Endpoints(cfg.endpoint_name, cfg.ws_url, cfg.rest_url, cfg.market)

    # --- sessions --------------------------------------------------------------------------------------

    def get(self, market: Market) -> RecordingSession | None:
        return self.sessions.get(market)

    def set(self, session: RecordingSession) -> None:
        """Adopt a session built elsewhere (tests hand in one with a stand-in manager)."""
        self.sessions[session.config.market] = session
        self._listen(session)

    async def ensure(self, market: Market) -> RecordingSession:
        """The market's session, started (with its simulator in the demo) if it was not; MarketUnavailableError
        when the exchange does not offer it."""
        session = self.sessions.get(market)
        if session is not None:
            return session
        async with self._starting:
            session = self.sessions.get(market)
            if session is not None:
                return session
            endpoints = await self._endpoints(market)
            cfg = self.config
            session = RecordingSession(
                RecordingConfig(
                    db_path=cfg.db_path,
                    ws_url=endpoints.ws_url,
                    rest_url=endpoints.rest_url,
                    interval=cfg.snapshot_interval,
                    depth=cfg.snapshot_depth,
                    snapshot_limit=min(cfg.snapshot_limit, market.max_depth_limit),  # futures: 1000 at most
                    max_symbols=cfg.max_symbols,
                    market=market,
                ),
                on_failure=self.on_failure,
            )
            await session.start(open_storage=False)
            self.sessions[market] = session
            self._listen(session)
            if self.on_started is not None:
                await self.on_started(session)  # the services hand it the database
            log.info("market session started market=%s endpoint=%s", market.name, endpoints.name)
            return session

    async def _endpoints(self, market: Market) -> Endpoints:
        known = self.endpoints.get(market)
        if known is not None:
            return known
        if self.config.demo:
            sim = await self._start_simulator(market)
            self.simulators[market] = sim
            endpoints = simulator(sim.ws_url, sim.rest_url, market)
        else:
            base = self._base()
            found = companion_endpoints(base, market) if base is not None else None
            if found is None:
                raise MarketUnavailableError(self.why_not(market))
            endpoints = found
        self.endpoints[market] = endpoints
        return endpoints

    # --- listeners on every market's manager, present and future ------------------------------------------

    def add_listener(self, factory: ListenerFactory, *, book_updates: bool = True) -> None:
        self._factories.append((factory, book_updates))
        for session in self.sessions.values():
            self._add(session, factory, book_updates)

    def remove_listener(self, factory: ListenerFactory) -> None:
        """Stop the listeners `factory` made, and make none for markets started later."""
        self._factories = [(f, b) for f, b in self._factories if f != factory]
        for market, listeners in self._listening.items():
            session = self.sessions.get(market)
            for made_by, listener in [entry for entry in listeners if entry[0] == factory]:
                listeners.remove((made_by, listener))
                if session is not None:
                    session.manager.remove_listener(listener)

    def _listen(self, session: RecordingSession) -> None:
        for factory, book_updates in self._factories:
            self._add(session, factory, book_updates)

    def _add(self, session: RecordingSession, factory: ListenerFactory, book_updates: bool) -> None:
        listener = factory(session.config.market)
        session.manager.add_listener(listener, book_updates=book_updates)
        self._listening.setdefault(session.config.market, []).append((factory, listener))

    # --- stop ------------------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Each session flushes its recorder's tick and stops its manager; then the simulators stop."""
        for session in list(self.sessions.values()):
            await session.stop()
        for sim in self.simulators.values():
            await sim.stop()

