"""Storage: recorded seconds in RocksDB, in the contract's layout, with blocking I/O.

The snapshot value format (`snapshot`), the `SYMBOL:TS` key space and its scans (`keys`), gap records
(`gaps`), recording-session records (`sessions`), `retention`, and the one database handle, `SnapshotStorage`
(`store`). Every call blocks; asyncio callers run them in an executor.

It may import `core.market` (the Level type); never the feed, recording, analysis, the CLI or the simulator.
"""
