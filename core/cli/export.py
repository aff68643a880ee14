"""`depthbook export`: recorded snapshots as wide rows, CSV or Parquet, from a database or an archive. Read-only,
safe while recording."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from core.cli.archive import add_source, open_source
from core.cli.common import (
    EXIT_OK,
    UserError,
    add_log_level,
    no_snapshots,
    out_file,
    symbol,
    unix_time,
)
from core.cli.export_files import (
    ParquetUnavailable,
    export_row,
    parquet_modules,
    write_csv,
    write_parquet,
)
from core.timeparse import iso_utc


def add_parser(sub) -> None:
    parser = sub.add_parser("export", help="export snapshots as wide rows (CSV or Parquet)")
    add_source(parser)
    parser.add_argument("--symbol", required=True, type=symbol)
    parser.add_argument("--start", required=True, type=unix_time, help="ISO 8601 or Unix seconds")
    parser.add_argument("--end", required=True, type=unix_time, help="ISO 8601 or Unix seconds")
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument(
        "--out", type=out_file, required=True, help="file to write (written whole or not at all)"
    )
    add_log_level(parser, "WARNING")


def run(args) -> int:
    symbol = args.symbol
    start, end = args.start, args.end
    if end < start:
        raise UserError("--end is before --start")
    if args.format == "parquet":
        try:
            parquet_modules()  # before any reading: say at once that it is missing
        except ParquetUnavailable as exc:
            raise UserError(str(exc).rstrip(".")) from None
    with open_source(args) as storage:
        expected = storage.count(symbol)
        if not expected:
            raise no_snapshots(symbol, storage)
        # Damaged snapshots are skipped, counted and named (storage.damage), never fail the export.
        rows = (export_row(snap) for snap in storage.iter_snapshots(symbol, start, end))
        write = write_parquet if args.format == "parquet" else write_csv
        written = _write_atomically(args.out, lambda path: write(rows, path, _progress))
        damaged = storage.damage.seconds(symbol)
    print(f"exported {written} snapshot{'' if written == 1 else 's'} of {symbol} to {args.out}", file=sys.stderr)
    if damaged:
        shown = ", ".join(iso_utc(ts) for ts in damaged[:3]) + (", …" if len(damaged) > 3 else "")
        print(f"depthbook: skipped {len(damaged)} damaged snapshots of {symbol} ({shown}).", file=sys.stderr)
    return EXIT_OK


def _progress(n: int) -> None:
    print(f"... {n} rows", file=sys.stderr, flush=True)


def _write_atomically(out: Path, write: Callable[[Path], int]) -> int:
    """write(temporary path) in the directory of `out`, then rename it to `out`: an export that fails or is
    interrupted leaves no partial file (and an earlier file at `out` as it was)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent)
        os.close(fd)
    except OSError as exc:
        raise UserError(f"cannot write in {out.parent}: {exc.strerror or exc}") from None
    tmp = Path(name)
    try:
        n = write(tmp)
        os.chmod(tmp, _file_mode(out))  # mkstemp makes it private; an export gets the usual mode
        os.replace(tmp, out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return n


def _file_mode(out: Path) -> int:
    """The mode of the file being replaced, or what a plain open() would give under the umask."""
    try:
        return out.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
