"""Where Depthbook keeps its data by default (overridable everywhere with --db)."""

from __future__ import annotations

from pathlib import Path

import platformdirs

APP_NAME = "depthbook"


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "snapshots.rocksdb"
