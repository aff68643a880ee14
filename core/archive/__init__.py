"""Archive: a recorded database as Parquet in object storage (S3-compatible or a directory), and reading it back.

One Parquet file per market, symbol and completed hour, in a hive layout any engine reads
(`market=spot/symbol=BTCUSDT/date=2026-12-02/hour=13.parquet`; docs/ARCHIVE.md). The file's columns and
metadata, and the exact round trip between a file and the contract's snapshots, are in `format`; the keys in
`layout`; URLs and pyarrow filesystems (S3, local) in `location`; the resumable, verified upload of completed
hours in `archiver`; what is archived and what is missing in `status`; the reader that returns the same
`OrderBookSnapshot`s as the database in `reader`.

Blocking I/O, like storage. It needs pyarrow (the `archive` extra). It may import storage, analysis and the
market; never the feed, recording, the CLI, the simulator or the GUI.
"""
