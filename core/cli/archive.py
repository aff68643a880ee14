"""`depthbook archive`: a database's completed hours as Parquet in object storage (or a directory), and what an
archive holds.

    depthbook archive --db PATH --to s3://bucket/prefix    archive every completed hour not archived yet
    depthbook archive status s3://bucket/prefix            per market and symbol: archived and missing hours

The database is opened read-only (safe while `depthbook record` writes). Progress goes to stderr, one line per
hour. S3 endpoint, region and credentials come from the AWS environment (docs/ARCHIVE.md). pyarrow is needed
(the `archive` extra); it is imported only when the command runs.
"""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson

from core.cli.common import EXIT_FAILED, EXIT_OK, UserError, add_db, add_log_level, open_read_only, symbols
from core.storage.opening import StorageError


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "archive",
        help="archive completed hours to S3 or a directory as Parquet; `archive status URL` shows what is there",
        description="Archive every completed hour of a database as Parquet (one file per market, symbol and "
        "hour) to s3://bucket/prefix or a directory. Resumable and idempotent: hours already archived are "
        "skipped. S3 settings come from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, "
        "AWS_SECRET_ACCESS_KEY or a profile.",
    )
    add_db(parser)
    parser.add_argument("--to", metavar="URL", help="s3://bucket/prefix, file:///path or a directory")
    parser.add_argument("--symbols", type=symbols, default=None, help="only these symbols (comma-separated)")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="also compare the hours already archived with the database (reads every archived footer)",
    )
    add_log_level(parser, "WARNING")
    actions = parser.add_subparsers(dest="archive_action", metavar="ACTION")
    status = actions.add_parser("status", help="per market and symbol: archived hours and missing ones")
    status.add_argument("url", metavar="URL", help="s3://bucket/prefix, file:///path or a directory")
    status.add_argument("--json", action="store_true", help="JSON instead of a table")
    add_log_level(status, "WARNING")


def run(args) -> int:
    if getattr(args, "archive_action", None) == "status":
        return _status(args)
    if not args.to:
        raise UserError("give the archive with --to URL (s3://bucket/prefix or a directory)")
    archiver_module, location_module = _archive_modules()
    location = _open(location_module, args.to)
    options = archiver_module.ArchiveOptions(
        symbols=tuple(args.symbols) if args.symbols else None, verify_existing=args.verify
    )
    with open_read_only(args.db) as storage:
        archiver = archiver_module.Archiver(storage, location, options, _ProgressPrinter(location.url))
        try:
            report = archiver.run()
        except location_module.ArchiveError as exc:
            print(f"depthbook: {exc}", file=sys.stderr)
            return EXIT_FAILED
    done = f"archived {len(report.uploaded)} hours ({_size(report.bytes_uploaded)}) in {report.seconds:.1f} s"
    extra = [f"{report.skipped} already archived"]
    if report.damaged:
        extra.append(f"{report.damaged} damaged snapshots left out")
    if report.staging_removed:
        extra.append(f"{report.staging_removed} unfinished uploads removed")
    print(f"{done}; {', '.join(extra)}.", file=sys.stderr)
    if report.differs:
        print(
            f"depthbook: {len(report.differs)} archived hours differ from the database and were left as archived "
            f"(first: {report.differs[0].label}).",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


class _ProgressPrinter:
    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, event) -> None:
        if event.kind == "planned":
            todo = event.total - event.done
            print(
                f"{event.total} completed hours in the database; {event.done} already archived, {todo} to "
                f"archive to {self.url}",
                file=sys.stderr,
                flush=True,
            )
        elif event.kind == "uploaded":
            meta = event.meta
            print(
                f"archived {event.key.label}: {meta.snapshots} snapshots, {meta.gaps} gaps, "
                f"{100 * meta.completeness:.2f} % complete, {_size(event.size)} [{event.done}/{event.total}]",
                file=sys.stderr,
                flush=True,
            )
        elif event.kind in ("retry", "differs", "kept"):
            where = f"{event.key.label}: " if event.key is not None and event.kind != "retry" else ""
            print(f"{where}{event.detail}", file=sys.stderr, flush=True)


def add_record_flag(parser) -> None:
    """`record --archive URL`: the recorder archives each completed hour as it goes (core/archive/follower.py)."""
    parser.add_argument(
        "--archive",
        metavar="URL",
        default=None,
        help="also archive each completed hour to s3://bucket/prefix or a directory, in the background; "
        "retention then deletes only hours whose upload was verified",
    )


def record_follower(args, config, on_error):
    """(config, follower) for `record`: None without --archive; with it, the follower and a config whose
    retention keeps every hour the follower has not verified in the archive."""
    if not getattr(args, "archive", None):
        return config, None
    _, location_module = _archive_modules()
    from core.archive.follower import ArchiveFollower, FollowOptions

    location = _open(location_module, args.archive)
    follower = ArchiveFollower(location, FollowOptions(shard=shard_label(getattr(args, "shard", None))), on_error=on_error)
    retention = dataclasses.replace(config.retention, keep_from=follower.keep_from)
    return dataclasses.replace(config, retention=retention), follower


def add_source(parser) -> None:
    """`--db PATH` or `--archive URL`: where `stats`, `export` and `order-flow` read from."""
    add_db(parser)
    parser.add_argument(
        "--archive",
        metavar="URL",
        default=None,
        help="read an archive (s3://bucket/prefix or a directory) instead of a database",
    )


def open_source(args):
    """The database of --db (read-only), or the archive of --archive as a read-only source; UserError (one
    sentence) for both at once, an archive that is not there or a store that does not answer."""
    if not getattr(args, "archive", None):
        return open_read_only(args.db)
    if args.db:
        raise UserError("give --db or --archive, not both")
    _, location_module = _archive_modules()
    from core.archive.reader import ArchiveReader
    from core.archive.source import ArchiveSource

    location = _open(location_module, args.archive)
    if location.is_local and not Path(location.root).is_dir():
        raise UserError(f"there is no archive at {location.url}")
    source = ArchiveSource(ArchiveReader(location))
    try:
        symbols = source.symbols()
    except StorageError as exc:  # the store does not answer, or refuses
        raise UserError(str(exc).rstrip(".")) from None
    if not symbols:
        raise UserError(f"there is no archived hour at {location.url}")
    return source


def shard_label(shard) -> str:
    """`K/N` of `record --shard K/N` whatever form the parsed flag has (a pair, or text); "" without one."""
    if not shard:
        return ""
    if isinstance(shard, tuple | list) and len(shard) == 2:
        return f"{shard[0]}/{shard[1]}"
    for names in (("index", "count"), ("k", "n"), ("number", "total")):
        if all(hasattr(shard, name) for name in names):
            return f"{getattr(shard, names[0])}/{getattr(shard, names[1])}"
    return str(shard)


def _status(args) -> int:
    _, location_module = _archive_modules()
    from core.archive.status import archive_status

    location = _open(location_module, args.url)
    try:
        status = archive_status(location)
    except OSError as exc:
        print(f"depthbook: {location_module.describe(location, exc, 'list the archive')}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        rows = [
            {
                "market": s.market,
                "symbol": s.symbol,
                "hours": len(s.hours),
                "first": _hour(s.first),
                "last": _hour(s.last),
                "bytes": s.bytes,
                "shard": s.shard,
                "missing_hours": s.missing_hours,
                "missing": [[_hour(a), _hour(b)] for a, b in s.missing],
            }
            for s in status.symbols
        ]
        out = {"url": location.url, "symbols": rows, "staging": status.staging, "other_files": status.other}
        sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
        return EXIT_OK
    if not status.symbols:
        print(f"no archived hours at {location.url}")
        return EXIT_OK
    print(f"{'market':<7} {'symbol':<12} {'hours':>6} {'first hour (UTC)':<17} {'last hour (UTC)':<17} {'missing':>7} {'bytes':>10} shard")
    for s in status.symbols:
        print(
            f"{s.market:<7} {s.symbol:<12} {len(s.hours):>6} {_hour(s.first):<17} {_hour(s.last):<17} "
            f"{s.missing_hours:>7} {_size(s.bytes):>10} {s.shard or '-'}"
        )
        for a, b in s.missing:
            span = _hour(a) if a == b else f"{_hour(a)} – {_hour(b)} ({(b - a) // 3600 + 1} h)"
            print(f"{'':<21}missing {span}")
    if status.staging:
        print(f"({status.staging} unfinished uploads in staging; the next `depthbook archive` removes old ones)")
    return EXIT_OK


def _archive_modules():
    try:
        from core.archive import archiver, location
    except ImportError as exc:
        if "pyarrow" in str(exc):
            raise UserError(
                "the Parquet archive needs pyarrow: pip install pyarrow (in a checkout: pip install -e '.[archive]')"
            ) from None
        raise
    return archiver, location


def _open(location_module, url: str):
    try:
        return location_module.open_location(url)
    except location_module.ArchiveError as exc:
        raise UserError(str(exc).rstrip(".")) from None


def _hour(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:00")


def _size(n: int) -> str:
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"
