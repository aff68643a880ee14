"""The feed: live, exact order books from the exchange, orchestrated with asyncio.

The WebSocket connection (`stream`), REST (`rest` client, `budget` of request weight, `scheduler` of depth
snapshots, `errors`), one `backoff` schedule for every retry, and the `OrderBookManager` (`manager`) that routes
frames to each symbol's BookSync and reports through `events`.

It may import `core.market` and the top-level helpers (`core.tasks`, `core.logsetup`); never storage,
recording, analysis, the CLI or the simulator.
"""
