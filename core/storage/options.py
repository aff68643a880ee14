"""How a Depthbook database is opened in RocksDB: compression, memtables, compaction, retention, syncing.

None of these changes the storage format (docs/STORAGE.md): any RocksDB, the reference service's included, reads
a database written with other values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rocksdict import BlockBasedOptions, DBCompactionStyle, DBCompressionType, Options

from core.storage.retention import RetentionPolicy


@dataclass(frozen=True, slots=True)
class StorageOptions:
    compression: str = "zstd"  # the contract's; any DBCompressionType name works
    write_buffer_size: int = 64 * 1024 * 1024  # the reference service's 64 MB x 3
    max_write_buffer_number: int = 3
    # All families' memtables together: past it RocksDB flushes one early. Without it each family fills its own
    # 64 MB first, 200 MB together when recording the whole market (the snapshots', the series', the counters').
    memtable_budget: int = 64 * 1024 * 1024
    # Compaction in RocksDB's universal style: sorted runs merged with runs of a like size, not levels. Each flushed
    # file spans every symbol's keys (SYMBOL:SECONDS, written second by second across symbols), so in the level
    # style each L0 -> L1 compaction rewrites the whole of L1, and each level below rewrites what it takes about ten
    # times over. A whole market's hour of snapshot and series rows replayed at its real pace cost RocksDB's threads
    # 27.5 µs of CPU per snapshot in its last twenty minutes in the level style, 10.6 in this one (docs/PERFORMANCE.md,
    # "Session 27"). The price: a merge of the largest runs briefly needs free disk as large as they are. Either style
    # opens the other's databases (a test sees to it), so the reference service reads these.
    universal_compaction: bool = True
    # Sorted runs (universal style; L0 files in the level style) that start a merge: 8, RocksDB's default is 4.
    # Fewer merges, each of more runs: over three simulated hours of a whole market (`python -m bench compaction`'s
    # replay) RocksDB's threads spent 3.5 µs a book-second against 6.5 at 4, and 3.6 against 7.9 in the third hour.
    # A read looks into a few more runs (an hour read and decoded: docs/PERFORMANCE.md, "Session 27").
    l0_compaction_trigger: int = 8
    # Bytes of keys and values compressed together (RocksDB's default is 4 KB). zstd pays a fixed cost per call, so
    # 4 KB blocks made the flushes and compactions of a whole-market recording cost ~30 µs of CPU per stored
    # snapshot; 64 KB halve that and store fewer bytes. A point read decompresses one block: still well under a
    # millisecond (docs/PERFORMANCE.md, "Session 20").
    block_size: int = 64 * 1024
    # zstd's level (None: RocksDB's default, 3). In 64 KB blocks level 1 costs a sixth less CPU than 3 and stores
    # slightly fewer bytes of these snapshots (167 against 171 B); in 4 KB blocks it had gained nothing (session 16).
    zstd_level: int | None = 1
    sync_writes: bool = False  # True: fsync each tick (survives power loss, ~40x slower); WAL is always on
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    def rocksdb(self) -> Options:
        """These options as RocksDB's, in raw mode (plain bytes keys and values)."""
        opts = Options(raw_mode=True)
        opts.set_compression_type(getattr(DBCompressionType, self.compression)())
        opts.set_write_buffer_size(self.write_buffer_size)
        opts.set_max_write_buffer_number(self.max_write_buffer_number)
        opts.set_db_write_buffer_size(self.memtable_budget)
        if self.universal_compaction:
            opts.set_compaction_style(DBCompactionStyle.universal())
        opts.set_level_zero_file_num_compaction_trigger(self.l0_compaction_trigger)
        table = BlockBasedOptions()
        table.set_block_size(self.block_size)
        opts.set_block_based_table_factory(table)
        if self.zstd_level is not None:
            opts.set_compression_options(-14, self.zstd_level, 0, 0)  # window bits, level, strategy, dictionary
        return opts

    def __post_init__(self) -> None:
        if not hasattr(DBCompressionType, self.compression):
            raise ValueError(f"unknown compression {self.compression!r}")
