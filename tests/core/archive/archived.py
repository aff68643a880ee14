"""The archive tests' recorded database archived with the command's defaults, and what an archive holds."""

from __future__ import annotations

from core.archive.archiver import ArchiveOptions, Archiver
from core.archive.location import open_location
from core.storage.store import SnapshotStorage
from tests.core.archive.recorded import at

LATER = at(23)  # "now" for most runs: every recorded hour is completed


def archive(db, url, env=None, **options):
    location = open_location(url, env)
    events = []
    with SnapshotStorage.open(db, mode="read_only") as storage:
        options.setdefault("now", lambda: LATER)
        report = Archiver(storage, location, ArchiveOptions(**options), events.append, sleep=lambda s: None).run()
    return report, location, events


def hour_files(location) -> list[str]:
    return sorted(
        rel for i in location.files() if (rel := location.relative(i.path)).endswith(".parquet") and rel[0] != "_"
    )


def all_files(location) -> list[str]:
    return sorted(location.relative(i.path) for i in location.files())
