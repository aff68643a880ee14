"""A Binance-compatible spot exchange on loopback, for tests, the demo mode and the benchmarks.

`ExchangeSimulator` serves `/ws`, `/ws/<stream>`, `/stream?streams=...`, `/api/v3/depth` and
`/api/v3/exchangeInfo` on one port; `SyntheticMarket` is the deterministic market behind each symbol
and knows the true book at every update id; `sim.faults` makes the exchange misbehave on request.
`ExchangeSimulator(usdm=True)` is a Binance USDⓈ-M futures exchange instead (core.simulator.futures): `/fapi/v1`
REST, `pu`-chained events with shared update ids, streams under `/public`.
"""

from core.simulator.faults import Faults
from core.simulator.market import SyntheticMarket
from core.simulator.server import ExchangeSimulator, SimulatorStats, serve_forever

__all__ = ["ExchangeSimulator", "Faults", "SimulatorStats", "SyntheticMarket", "serve_forever"]
