"""Archive a database's completed hours: resumable, idempotent, every upload verified before it is visible.

For each symbol, the hours to archive run from the hour of its first snapshot to its last COMPLETED hour: an
hour is completed when a later second of that symbol is stored (the recorder writes in time order, so
nothing more comes for it), or when it ended more than an hour ago. Hours already in the archive are skipped
(one listing per symbol); an hour that holds neither a snapshot nor a gap record makes no file.

One hour, `Archiver._archive_hour`:
1. read its snapshots (each checked level by level; a damaged one is left out, counted in the metadata and
   named by the storage's damage log) and gap records from the database, opened read-only;
2. encode the Parquet file in memory and decode it again: every level string must come back byte for byte
   (`format.encode_hour`);
3. upload it to a staging key (`_staging/…partial`: no engine reads it) — one PUT of the whole object;
4. read the staging object back: its size and SHA-256 must be the bytes sent, its footer the metadata meant;
5. publish: move it to the final key (S3: a server-side copy, atomic; locally: a rename, after an fsync);
6. read the final object's footer: its checksum and counts must be the ones meant.
So an hour's final key exists only once its content was verified, and a crash or an unreachable store at any
step leaves at most a staging object, which the next run removes. A failed step is retried with capped,
jittered exponential backoff; errors no retry mends (credentials, a missing bucket, a full disk) stop the run
at once. Two runs over the same data write the same keys: an hour is never duplicated.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from core.archive.format import (
    ArchiveFormatError,
    EncodedHour,
    FileMeta,
    content_checksum,
    decode_hour,
    encode_hour,
    read_meta,
)
from core.archive.layout import (
    HOUR,
    STAGING_DIR,
    HourKey,
    hour_key,
    hour_start,
    hours_between,
    parse_hour_path,
    symbol_dir,
)
from core.archive.location import ArchiveError, ArchiveLocation, describe, is_retryable
from core.archive.rollup import (
    DAY,
    day_of,
    hour_minutes,
    hours_without_rows,
    merge_day,
    rollup_dir,
    rollup_path,
    with_rows,
)
from core.storage.store import SnapshotStorage

log = logging.getLogger(__name__)

STALE_STAGING = 3600  # a staging object older than this belongs to a run that died: removed


class VerifyError(Exception):
    """An uploaded object is not what was sent (retried: the upload is done again)."""


@dataclass(frozen=True)
class ArchiveOptions:
    market: str = "spot"
    symbols: tuple[str, ...] | None = None  # None: every symbol of the database
    attempts: int = 8  # per hour, the first included
    backoff_initial: float = 0.5  # seconds before the first retry, doubling, jittered to 50-100 %
    backoff_max: float = 30.0
    verify_existing: bool = False  # also check hours already archived against the database
    shard: str = ""  # "K/N" of a sharded recorder: written into each file's metadata
    now: Callable[[], float] = time.time


@dataclass(frozen=True, slots=True)
class Progress:
    """One step of a run, for the progress lines on stderr. `kind`: planned, uploaded, retry, differs, kept."""

    kind: str
    key: HourKey | None = None
    done: int = 0
    total: int = 0
    detail: str = ""
    meta: FileMeta | None = None
    size: int = 0


@dataclass
class ArchiveReport:
    uploaded: list[HourKey] = field(default_factory=list)
    skipped: int = 0  # already archived
    empty: int = 0  # completed hours in range with nothing recorded
    differs: list[HourKey] = field(default_factory=list)  # archived hours that no longer match the database
    bytes_uploaded: int = 0
    damaged: int = 0  # snapshots of the database left out because they could not be read
    retries: int = 0
    staging_removed: int = 0
    seconds: float = 0.0


def backoff(initial: float, maximum: float, rng: Callable[[], float] = random.random) -> Iterator[float]:
    delay = initial
    while True:
        yield delay * (0.5 + 0.5 * rng())
        delay = min(delay * 2, maximum)


class Archiver:
    """Archives one database (opened read-only by the caller) to one location."""

    def __init__(
        self,
        storage: SnapshotStorage,
        location: ArchiveLocation,
        options: ArchiveOptions | None = None,
        progress: Callable[[Progress], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.storage = storage
        self.location = location
        self.options = options or ArchiveOptions()
        self._progress = progress or (lambda event: None)
        self._sleep = sleep
        self._staged: set[str] = set()  # staging objects this run wrote and has not removed yet

    # ---- planning ----

    def completed_hours(self, symbol: str) -> list[int]:
        """The starts of `symbol`'s completed hours from its first snapshot's hour on (see the module)."""
        edges = self.storage.first_last(symbol)
        if edges is None:
            return []
        first, last = edges
        horizon = max(last, int(self.options.now()) - HOUR)
        last_hour = hour_start(horizon - HOUR)  # the hour h is completed when h + HOUR <= horizon
        hours = list(hours_between(first, min(last, last_hour + HOUR - 1)))
        if last_hour > hour_start(last):  # gap records after the last snapshot (a symbol that stopped)
            later = self.storage.gaps(symbol, hour_start(last) + HOUR, last_hour + HOUR - 1)
            hours += sorted({hour_start(gap.timestamp) for gap in later})
        return [h for h in hours if h <= last_hour]

    def archived(self, symbol: str) -> dict[HourKey, pafs.FileInfo]:
        """The hours of `symbol` (as the database names it: usdm/BTCUSDT) already in the archive (one listing)."""
        found = {}
        probe = hour_key(symbol, 0)  # the symbol's own market and exchange name, from its stored name
        market, name = probe.market, probe.symbol
        for info in self.location.files(symbol_dir(market, name)):
            key = parse_hour_path(self.location.relative(info.path))
            if key is not None and key.market == market and key.symbol == name:
                found[key] = info
        return found

    # ---- running ----

    def run(self) -> ArchiveReport:
        started = time.monotonic()
        report = ArchiveReport()
        self.retrying(self.location.check, "reach the archive", report)
        report.staging_removed += self._remove_stale_staging()
        symbols = self.storage.symbols()
        if self.options.symbols is not None:
            symbols = [s for s in symbols if s in self.options.symbols]
        todo: list[HourKey] = []
        existing: list[tuple[HourKey, pafs.FileInfo]] = []
        for symbol in symbols:
            archived = self.retrying(lambda s=symbol: self.archived(s), f"list the archive of {symbol}", report)
            for start in self.completed_hours(symbol):
                key = hour_key(symbol, start)
                if key in archived:
                    existing.append((key, archived[key]))
                elif self.has_data(key):
                    todo.append(key)
                else:
                    report.empty += 1  # nothing recorded that hour: no file
        report.skipped = len(existing)
        self._progress(Progress("planned", done=len(existing), total=len(todo) + len(existing)))
        if self.options.verify_existing:
            for key, info in existing:
                self._verify_existing(key, info, report)
        total = len(todo)
        for index, key in enumerate(todo, 1):
            self.archive_hour(key, report, index, total)
        report.staging_removed += self._remove_own_staging()
        report.seconds = time.monotonic() - started
        return report

    def archive_hour(self, key: HourKey, report: ArchiveReport, index: int = 1, total: int = 1) -> bool:
        """Encode, upload, verify and publish one hour (retrying); False when the database holds nothing for it.
        ArchiveError when the retries are spent or the error is one no retry mends."""
        encoded = self._encode(key, report)
        if encoded is None:
            return False
        self.retrying(lambda: self._upload(encoded), f"upload {key.label}", report, key)
        self.retrying(lambda: self._update_rollup(encoded), f"update the day's rollup of {key.label}", report, key)
        report.uploaded.append(key)
        report.bytes_uploaded += len(encoded.data)
        self._progress(Progress("uploaded", key, index, total, meta=encoded.meta, size=len(encoded.data)))
        return True

    def remove_staging(self) -> int:
        """Remove stale staging objects of dead runs and what this archiver's failed attempts left."""
        return self._remove_stale_staging() + self._remove_own_staging()

    def has_data(self, key: HourKey) -> bool:
        """Whether the database holds a snapshot or a gap record in that hour (two seeks)."""
        if next(iter(self.storage.seconds(key.stored_symbol, key.start, key.end)), None) is not None:
            return True
        return bool(self.storage.gaps(key.stored_symbol, key.start, key.end))

    def _encode(self, key: HourKey, report: ArchiveReport) -> EncodedHour | None:
        """The hour's file, or None when the database holds nothing for it. The fast bulk read checks each
        value's shape; a level that is not a pair of decimal strings makes the encoding fail, and the hour is
        then read again with every level checked, the damaged snapshots left out (and counted)."""
        damage = self.storage.damage
        before = damage.count(key.stored_symbol)
        gaps = self.storage.gaps(key.stored_symbol, key.start, key.end)
        snapshots = self.storage.snapshots(key.stored_symbol, key.start, key.end)
        if not snapshots and not gaps:
            return None
        try:
            encoded = encode_hour(key, snapshots, gaps, damage.count(key.stored_symbol) - before, self.options.shard)
        except (TypeError, ValueError, pa.ArrowException):
            snapshots = list(self.storage.iter_snapshots(key.stored_symbol, key.start, key.end))
            encoded = encode_hour(key, snapshots, gaps, damage.count(key.stored_symbol) - before, self.options.shard)
        if encoded.meta.damaged:
            report.damaged += encoded.meta.damaged
            log.warning(
                "left out damaged snapshots symbol=%s hour=%s count=%d", key.symbol, key.start, encoded.meta.damaged
            )
        return encoded

    def retrying(self, step: Callable[[], object], doing: str, report: ArchiveReport, key: HourKey | None = None):
        delays = backoff(self.options.backoff_initial, self.options.backoff_max)
        for attempt in range(1, self.options.attempts + 1):
            try:
                return step()
            except (OSError, pa.ArrowException, VerifyError, ArchiveFormatError) as exc:
                if not is_retryable(exc) or attempt == self.options.attempts:
                    raise ArchiveError(describe(self.location, exc, doing)) from exc
                delay = next(delays)
                report.retries += 1
                log.info("retrying step=%r attempt=%d delay=%.2f error=%s", doing, attempt, delay, exc)
                self._progress(Progress("retry", key, detail=f"{doing} failed ({_first_line(exc)}); retrying in {delay:.1f} s"))
                self._sleep(delay)
        raise AssertionError("unreachable")

    # ---- one upload ----

    def _upload(self, encoded: EncodedHour) -> None:
        fs, loc = self.location.fs, self.location
        final = loc.full(encoded.key.path)
        if self._final_matches(final, encoded):  # an earlier attempt published it, then failed to clean up
            return
        staging = loc.full(encoded.key.staging_path(secrets.token_hex(6)))
        if loc.is_local:
            fs.create_dir(loc.full(STAGING_DIR), recursive=True)
        self._staged.add(staging)
        out = fs.open_output_stream(staging)
        try:
            out.write(encoded.data)
        finally:
            out.close()  # a failed write fails the close too; whatever it left is verified below, never published
        if loc.is_local:
            _fsync(staging)
        self._verify_bytes(staging, encoded)
        if loc.is_local:
            fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
        fs.move(staging, final)
        self._staged.discard(staging)
        if loc.is_local:
            _fsync_dir(final.rsplit("/", 1)[0])
        if not self._final_matches(final, encoded):
            raise VerifyError(f"{final} does not hold what was uploaded")

    def _update_rollup(self, encoded: EncodedHour) -> None:
        """Put the hour's minutes into its day's rollup file (core.archive.rollup): read it, merge, write to
        staging, move. Derived data: an unreadable day file is replaced, and readers fill any hour it lacks. The
        hours of a version-1 day file get their rows from their hour files on the way (`_with_rows`)."""
        key = encoded.key
        table = pq.read_table(pa.BufferReader(encoded.data))
        minutes = with_rows(hour_minutes(table), *decode_hour(table, encoded.meta))
        day = key.start - key.start % DAY
        merged = merge_day(self._read_day(key.market, key.symbol, day), key.start, minutes)
        self._write_day(key.market, key.symbol, day, self._with_rows(key.market, key.symbol, merged))

    def days_without_rows(self, stored_symbol: str) -> list[int]:
        """The days of `stored_symbol` whose rollup file covers hours without version-2 rows (one listing, and
        one footer read per day file)."""
        probe = hour_key(stored_symbol, 0)
        days = []
        for info in self.location.files(rollup_dir(probe.market, probe.symbol)):
            day = day_of(info.path)
            if day is None:
                continue
            with contextlib.suppress(pa.ArrowInvalid), self.location.fs.open_input_file(info.path) as handle:
                if hours_without_rows(pq.read_schema(handle)):
                    days.append(day)
        return sorted(days)

    def upgrade_day(self, stored_symbol: str, day: int) -> bool:
        """Rewrite a day's rollup file whose hours lack version-2 rows with rows for every hour whose hour file
        is archived; False when there was nothing to do (no such file, no hour without rows, or none of those
        hours' files in the archive)."""
        probe = hour_key(stored_symbol, 0)
        existing = self._read_day(probe.market, probe.symbol, day)
        if existing is None or not hours_without_rows(existing):
            return False
        upgraded = self._with_rows(probe.market, probe.symbol, existing)
        if hours_without_rows(upgraded) == hours_without_rows(existing):
            return False
        self._write_day(probe.market, probe.symbol, day, upgraded)
        return True

    def _with_rows(self, market: str, symbol: str, day_table: pa.Table) -> pa.Table:
        """`day_table` with the minutes of each hour it covers without rows computed again from the hour file,
        rows included (an hour whose file is not in the archive stays as it is)."""
        fs = self.location.fs
        for start in hours_without_rows(day_table):
            path = self.location.full(HourKey(market, symbol, start).path)
            if fs.get_file_info(path).type != pafs.FileType.File:
                continue
            with fs.open_input_file(path) as handle:
                parquet = pq.ParquetFile(handle)
                meta, table = read_meta(parquet.metadata, path), parquet.read(use_threads=False)
            day_table = merge_day(day_table, start, with_rows(hour_minutes(table), *decode_hour(table, meta)))
        return day_table

    def _read_day(self, market: str, symbol: str, day: int) -> pa.Table | None:
        fs = self.location.fs
        final = self.location.full(rollup_path(market, symbol, day))
        if fs.get_file_info(final).type != pafs.FileType.File:
            return None
        with contextlib.suppress(pa.ArrowInvalid), fs.open_input_file(final) as handle:
            return pq.read_table(handle)
        return None  # unreadable: replaced

    def _write_day(self, market: str, symbol: str, day: int, table: pa.Table) -> None:
        fs, loc = self.location.fs, self.location
        final = loc.full(rollup_path(market, symbol, day))
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        staging = loc.full(f"{STAGING_DIR}/rollup-{market}-{symbol}-{day}.{secrets.token_hex(6)}.partial")
        if loc.is_local:
            fs.create_dir(loc.full(STAGING_DIR), recursive=True)
        self._staged.add(staging)
        with fs.open_output_stream(staging) as out:
            out.write(data)
        if loc.is_local:
            _fsync(staging)
            fs.create_dir(final.rsplit("/", 1)[0], recursive=True)
        fs.move(staging, final)
        self._staged.discard(staging)

    def _verify_bytes(self, path: str, encoded: EncodedHour) -> None:
        info = self.location.fs.get_file_info(path)
        if info.type != pafs.FileType.File or info.size != len(encoded.data):
            raise VerifyError(f"{path} has {info.size} bytes, {len(encoded.data)} were sent")
        with self.location.fs.open_input_stream(path) as stream:
            data = stream.read()
        if hashlib.sha256(data).hexdigest() != encoded.sha256:
            raise VerifyError(f"{path} does not hold the bytes sent (SHA-256 differs)")
        if read_meta(pq.read_metadata(pa.BufferReader(data)), path) != encoded.meta:
            raise VerifyError(f"{path}: its metadata is not what was written")

    def _final_matches(self, final: str, encoded: EncodedHour) -> bool:
        info = self.location.fs.get_file_info(final)
        if info.type == pafs.FileType.NotFound:
            return False
        if info.size != len(encoded.data):
            return False
        with self.location.fs.open_input_file(final) as handle:
            meta = read_meta(pq.read_metadata(handle), final)
        return meta.checksum == encoded.meta.checksum and meta.rows == encoded.meta.rows

    # ---- already archived ----

    def _verify_existing(self, key: HourKey, info: pafs.FileInfo, report: ArchiveReport) -> None:
        """Compare an archived hour's checksum with the database's hour (when the database still has it)."""

        def read() -> FileMeta:
            with self.location.fs.open_input_file(info.path) as handle:
                return read_meta(pq.read_metadata(handle), info.path)

        meta = self.retrying(read, f"read {key.label}", report, key)
        snapshots = list(self.storage.iter_snapshots(key.stored_symbol, key.start, key.end))
        gaps = self.storage.gaps(key.stored_symbol, key.start, key.end)
        if not snapshots and not gaps:
            self._progress(Progress("kept", key, detail="no longer in the database; the archive keeps it"))
        elif content_checksum(snapshots, gaps) != meta.checksum:
            report.differs.append(key)
            self._progress(Progress("differs", key, detail="differs from the database; left as archived"))

    # ---- staging objects ----

    def _remove_stale_staging(self) -> int:
        """Remove staging objects of runs that died (older than STALE_STAGING; a live run's are newer)."""
        try:
            leftovers = self.location.files(STAGING_DIR)
        except (OSError, pa.ArrowException) as exc:
            if not is_retryable(exc):
                raise ArchiveError(describe(self.location, exc, "list the archive")) from exc
            return 0  # not fatal here: the uploads will retry or say what is wrong
        removed = 0
        cutoff = self.options.now() - STALE_STAGING
        for info in leftovers:
            if info.mtime is not None and info.mtime.timestamp() < cutoff:
                removed += self._delete_quietly(info.path)
        return removed

    def _remove_own_staging(self) -> int:
        """Remove what failed attempts of this run left in staging (best effort: the next run retries)."""
        removed = 0
        for path in sorted(self._staged):
            try:
                present = self.location.fs.get_file_info(path).type == pafs.FileType.File
            except (OSError, pa.ArrowException) as exc:
                log.warning("could not check a staging object path=%s error=%s", path, exc)
                continue
            if present:
                removed += self._delete_quietly(path)
            else:
                self._staged.discard(path)
        return removed

    def _delete_quietly(self, path: str) -> int:
        try:
            self.location.fs.delete_file(path)
        except (OSError, pa.ArrowException) as exc:
            log.warning("could not remove a staging object path=%s error=%s", path, exc)
            return 0
        self._staged.discard(path)
        return 1


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: str) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse to fsync a directory; the rename is still atomic
        _fsync(path)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]
