"""What one recording run needs to know, frozen: built once from flags, environment or saved settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.feed.manager import MAX_SYMBOLS_CEILING
from core.storage.retention import RetentionPolicy
from core.storage.snapshot import SNAPSHOT_DEPTH


@dataclass(frozen=True)
class RecordingConfig:
    """The exchange to follow, the database to write and how to record. Never changes during a run."""

    db_path: Path
    ws_url: str
    rest_url: str
    interval: int = 1  # seconds between snapshots
    depth: int = SNAPSHOT_DEPTH  # levels per side in each snapshot
    snapshot_limit: int = 1000  # REST snapshot depth
    max_symbols: int = 50  # followed at once
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)

    def __post_init__(self) -> None:
        if self.interval < 1:
            raise ValueError(f"the snapshot interval is a whole number of seconds, at least 1, got {self.interval}")
        if not 1 <= self.depth <= SNAPSHOT_DEPTH * 5:
            raise ValueError(f"the snapshot depth must be between 1 and {SNAPSHOT_DEPTH * 5}, got {self.depth}")
        if not 1 <= self.max_symbols <= MAX_SYMBOLS_CEILING:
            raise ValueError(f"at most {MAX_SYMBOLS_CEILING} symbols can be followed, got {self.max_symbols}")
