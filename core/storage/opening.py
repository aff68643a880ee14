"""Opening a database directory: the checks before RocksDB sees it, the one sentence for each way an open can
fail, and the temporary directory of links through which a database that cannot be written is still read.

Why the links: rocksdict writes a small config file (`rocksdict-config.json`) into the directory it opens, even
read-only, so a database on a read-only filesystem (or in another user's directory) would not open at all.
RocksDB itself writes nothing on a read-only open but its info LOG, whose failure it ignores. A temporary
directory holding a symbolic link to each of the database's files (not LOCK, LOG or that config file, which
are written there instead) opens read-only or as a secondary like the original, and nothing is written next
to the data; a secondary links the files the writer created since at each catch-up.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rocksdict import AccessType, Options, Rdict

log = logging.getLogger(__name__)


class StorageError(Exception):
    """A storage failure, worded as one sentence a user can act on."""


class StorageLockedError(StorageError):
    """Another process (or another handle in this one) holds the database's write lock."""


_LOCK_MESSAGE = re.compile(r"\bLOCK\b|lock hold by current process")
_READ_ONLY_MESSAGE = re.compile(r"Read-only file system|os error 30|\bEROFS\b")
_DENIED_MESSAGE = re.compile(r"Permission denied|os error 13|\bEACCES\b")
# What RocksDB (and rocksdict) keep in a database directory; a writer refuses a directory holding anything else
# and no database, so `--db ~/Documents` never spreads a database among someone's files.
_ROCKSDB_FILE = re.compile(
    r"LOCK|LOG(\.old\.\d+)?|IDENTITY|CURRENT|MANIFEST-\d+|OPTIONS-\d+(\.dbtmp)?|\d+\.(log|sst|blob|dbtmp)"
    r"|rocksdict-config\.json|archive"
)
_NOT_LINKED = re.compile(r"LOCK|LOG(\.old\.\d+)?|rocksdict-config\.json")


def check_path(path: Path, writer: bool) -> None:
    """StorageError, one sentence, for a path that can never hold a database: a file, under a file, or (for a
    writer) a directory of other files without a database."""
    if path.exists() and not path.is_dir():
        raise StorageError(f"Could not open the database at {path}: it is a file, not a database directory.")
    ancestor = next((p for p in path.parents if p.exists()), None)
    if not path.exists() and ancestor is not None and not ancestor.is_dir():
        raise StorageError(f"Could not open the database at {path}: {ancestor} is a file, not a directory.")
    if writer and path.is_dir() and not (path / "CURRENT").exists():
        others = sorted(name for name in os.listdir(path) if not _ROCKSDB_FILE.fullmatch(name))
        if others:
            listed = ", ".join(others[:3]) + (", …" if len(others) > 3 else "")
            raise StorageError(
                f"Could not open the database at {path}: the directory holds other files ({listed}) and no "
                "Depthbook database; choose a new or empty directory."
            )


def link_directory(source: str, links: str | None) -> str:
    """`links` (a new temporary directory if None) with a link to each file of `source` not linked yet."""
    if links is None:
        links = tempfile.mkdtemp(prefix="depthbook-readonly-")
    source = os.path.abspath(source)
    for name in os.listdir(source):
        target = os.path.join(links, name)
        if not _NOT_LINKED.fullmatch(name) and not os.path.lexists(target):
            os.symlink(os.path.join(source, name), target)
    return links


def cannot_write(exc: BaseException) -> bool:
    """Whether an open failed because the database directory cannot be written (read-only, no permission)."""
    # rocksdict raises OSError without an errno for its own file, plain Exception for RocksDB's statuses.
    if isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return True
    return bool(_READ_ONLY_MESSAGE.search(str(exc)) or _DENIED_MESSAGE.search(str(exc)))


def open_error(path: str, exc: BaseException) -> StorageError:
    """The one sentence for a database that would not open."""
    text = str(exc)
    errno_ = exc.errno if isinstance(exc, OSError) else None
    if _LOCK_MESSAGE.search(text):
        return StorageLockedError(
            f"The database at {path} is in use by another Depthbook process; open it read-only to browse."
        )
    if errno_ == errno.EROFS or _READ_ONLY_MESSAGE.search(text):
        return StorageError(
            f"The database at {path} is on a read-only filesystem: it can be read (stats, export, order-flow, "
            "the app's read-only open) but not recorded into."
        )
    if errno_ in (errno.EACCES, errno.EPERM) or _DENIED_MESSAGE.search(text):
        return StorageError(f"Depthbook has no permission to write the database at {path}.")
    if errno_ == errno.ENOSPC or "No space left" in text:
        return StorageError(f"The disk holding {path} is full; free some space to open the database.")
    if isinstance(exc, OSError):
        return StorageError(f"Could not open the database at {path}: {exc.strerror or exc}.")
    return StorageError(f"Could not open the database at {path}: {text.rstrip('.')}.")


@dataclass
class OpenedDatabase:
    db: Rdict
    families: set[str]  # the column families it has (a writer: with Depthbook's own)
    secondary_dir: str | None = None  # a secondary's own directory (temporary)
    link_dir: str | None = None  # the links a database that cannot be written is opened through (temporary)


def open_database(
    path: str, mode: str, options: Callable[[], Options], own_families: Iterable[str]
) -> OpenedDatabase:
    """Open the database at `path` as "writer", "read_only" or "secondary", naming every column family (RocksDB
    refuses an open that leaves one out); `options()` makes each family's Options. StorageError, one sentence,
    for anything that goes wrong; no temporary directory is left behind then."""
    opts = options()
    opened = OpenedDatabase(None, set())  # type: ignore[arg-type]
    try:
        check_path(Path(path), writer=mode == "writer")
        exists = os.path.exists(os.path.join(path, "CURRENT"))
        opened.families = set(Rdict.list_cf(path, Options(raw_mode=True))) if exists else {"default"}
        if mode == "writer":
            Path(path).mkdir(parents=True, exist_ok=True)
            opts.create_if_missing(True)
            opts.create_missing_column_families(True)
            opened.families |= set(own_families)
            access = AccessType.read_write()
        elif not exists:
            raise StorageError(f"There is no Depthbook database at {path}.")
        elif mode == "read_only":
            access = AccessType.read_only(False)
        else:
            opts.set_max_open_files(-1)  # RocksDB requires it of a secondary
            opened.secondary_dir = tempfile.mkdtemp(prefix="depthbook-secondary-")
            access = AccessType.secondary(opened.secondary_dir)
        families = {name: options() for name in opened.families if name != "default"}
        try:
            opened.db = Rdict(path, opts, column_families=families, access_type=access)
        except Exception as exc:
            if mode == "writer" or not cannot_write(exc):
                raise
            opened.link_dir = link_directory(path, None)  # see the module's docstring
            opened.db = Rdict(opened.link_dir, opts, column_families=families, access_type=access)
            log.info("opened through links: the database directory cannot be written path=%s", path)
    except BaseException as exc:
        remove_temporary(opened)
        if isinstance(exc, StorageError) or not isinstance(exc, Exception):
            raise
        raise open_error(path, exc) from exc  # rocksdict raises plain Exception for every RocksDB status
    return opened


def remove_temporary(opened: OpenedDatabase) -> None:
    for directory in (opened.secondary_dir, opened.link_dir):
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
    opened.secondary_dir = opened.link_dir = None
