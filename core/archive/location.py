"""Where an archive lives: a URL turned into a pyarrow filesystem and a root, and its errors in one sentence.

    s3://bucket/prefix        S3 or any S3-compatible store (SeaweedFS, MinIO, R2, ...)
    file:///path, /path, dir  a directory on this machine

For S3 the endpoint, region and credentials come from the usual AWS environment: AWS_ENDPOINT_URL (or
AWS_ENDPOINT_URL_S3) such as `http://127.0.0.1:8333`, AWS_REGION (or AWS_DEFAULT_REGION), and
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN or a profile (AWS_PROFILE), which the AWS SDK
inside pyarrow reads itself. Credentials are never taken from the URL, never logged and never written into
the archive; the location's `url` (what messages show) never holds them.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

S3_CONNECT_TIMEOUT = 5.0  # seconds; an unreachable endpoint fails fast and the archiver's backoff takes over

# Errors no retry mends: credentials, permissions, a missing bucket, a full or read-only disk.
_FATAL = re.compile(
    r"ACCESS_DENIED|AccessDenied|Access Denied|INVALID_ACCESS_KEY_ID|InvalidAccessKeyId|SIGNATURE_DOES_NOT_MATCH|"
    r"SignatureDoesNotMatch|NO_SUCH_BUCKET|NoSuchBucket|bucket does not exist|Permission denied|"
    r"No space left|Read-only file system|InvalidBucketName|non-directory entry exists|Not a directory"
)


class ArchiveError(Exception):
    """An archive problem worded as one sentence a user can act on."""


@dataclass(frozen=True)
class ArchiveLocation:
    """A pyarrow filesystem and the root of the archive in it (`bucket/prefix` on S3, an absolute directory
    locally). Paths given to its methods are relative to the root, with `/` separators."""

    fs: pafs.FileSystem
    root: str
    url: str  # for messages: never holds credentials
    kind: str  # "s3" or "local"
    endpoint: str = ""  # S3: the endpoint, for messages ("http://127.0.0.1:8333", "AWS S3")

    @property
    def is_local(self) -> bool:
        return self.kind == "local"

    def full(self, rel: str) -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def relative(self, full: str) -> str:
        return full[len(self.root) + 1 :] if full.startswith(self.root + "/") else full

    def files(self, rel_dir: str = "") -> list[pafs.FileInfo]:
        """Every file under `rel_dir` (recursively); none when it does not exist."""
        selector = pafs.FileSelector(self.full(rel_dir), recursive=True, allow_not_found=True)
        return [info for info in self.fs.get_file_info(selector) if info.type == pafs.FileType.File]

    def check(self) -> None:
        """Raise OSError when the archive cannot be reached (the archiver retries it), ArchiveError when its
        bucket does not exist; create the directory of a local archive."""
        if self.is_local:
            self.fs.create_dir(self.root, recursive=True)
            return
        bucket = self.root.split("/", 1)[0]
        if self.fs.get_file_info(bucket).type == pafs.FileType.NotFound:
            raise ArchiveError(f"The bucket {bucket!r} does not exist at {self.endpoint}; create it first.")


def open_location(url: str, environ: Mapping[str, str] | None = None) -> ArchiveLocation:
    """The archive at `url` (see the module's docstring). ArchiveError for a URL that cannot be one."""
    env = os.environ if environ is None else environ
    text = url.strip()
    if not text:
        raise ArchiveError("Give an archive URL: s3://bucket/prefix or a directory.")
    parts = urlsplit(text)
    if parts.scheme in ("s3", "s3a"):
        return _s3_location(text, parts, env)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ArchiveError(f"{text} names a file on another host; use file:///absolute/path.")
        path = Path(parts.path)
    elif parts.scheme and len(parts.scheme) > 1:  # "C:" is a drive, not a scheme
        raise ArchiveError(f"Cannot archive to {text}: use s3://bucket/prefix, file:///path or a directory.")
    else:
        path = Path(text).expanduser()
    path = path.resolve()
    blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:  # no retry mends that: say so before anything starts
        where = "it is a file" if blocking == path else f"{blocking} is a file"
        raise ArchiveError(f"Cannot archive to {text}: {where}, not a directory.")
    root = str(path).replace(os.sep, "/").rstrip("/") or "/"
    return ArchiveLocation(pafs.LocalFileSystem(), root, f"file://{root}", "local")


def _s3_location(text: str, parts, env: Mapping[str, str]) -> ArchiveLocation:
    if "@" in parts.netloc:
        raise ArchiveError(
            "Put the S3 credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or a profile, "
            "not in the archive URL."
        )
    bucket = parts.netloc
    if not bucket:
        raise ArchiveError(f"{text} names no bucket; use s3://bucket/prefix.")
    prefix = parts.path.strip("/")
    options: dict[str, object] = {"connect_timeout": S3_CONNECT_TIMEOUT}
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    endpoint_text = "AWS S3"
    if endpoint:
        ep = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        if ep.scheme not in ("http", "https") or not ep.netloc:
            raise ArchiveError(f"AWS_ENDPOINT_URL must look like http://host:port, got {endpoint!r}.")
        options["endpoint_override"] = ep.netloc + ep.path.rstrip("/")
        options["scheme"] = ep.scheme
        endpoint_text = f"{ep.scheme}://{ep.netloc}"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options["region"] = region
    elif endpoint:
        options["region"] = "us-east-1"  # S3-compatible stores accept any region; the SDK wants one
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        options["access_key"] = env["AWS_ACCESS_KEY_ID"]
        options["secret_key"] = env["AWS_SECRET_ACCESS_KEY"]
        if env.get("AWS_SESSION_TOKEN"):
            options["session_token"] = env["AWS_SESSION_TOKEN"]
    # else the AWS SDK's default chain: AWS_PROFILE or the default profile, SSO, instance roles
    try:
        fs = pafs.S3FileSystem(**options)
    except (OSError, pa.ArrowException, ValueError) as exc:
        raise ArchiveError(f"Could not set up the S3 client for {text}: {_short(exc)}.") from None
    root = f"{bucket}/{prefix}" if prefix else bucket
    return ArchiveLocation(fs, root, f"s3://{root}", "s3", endpoint_text)


def is_retryable(exc: BaseException) -> bool:
    """Whether trying again later may succeed: network trouble, a store that is down or busy, a damaged
    upload. Not: missing credentials or permissions, a missing bucket, a full or read-only disk, a file where a
    directory must be."""
    fatal = (errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EROFS, errno.EEXIST, errno.ENOTDIR)
    if isinstance(exc, OSError) and exc.errno in fatal:  # EEXIST, ENOTDIR: a file where a directory must be
        return False
    return not _FATAL.search(str(exc))


def describe(location: ArchiveLocation, exc: BaseException, doing: str) -> str:
    """One sentence: what could not be done where, and the store's reason (credentials are never in it)."""
    where = location.url if location.is_local else f"{location.url} ({location.endpoint})"
    reason = _short(exc)
    text = str(exc)
    if re.search(r"ACCESS_DENIED|AccessDenied|Access Denied|INVALID_ACCESS_KEY_ID|SIGNATURE_DOES_NOT_MATCH", text):
        reason = "access denied: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the profile"
    elif re.search(r"NO_SUCH_BUCKET|NoSuchBucket", text):
        reason = "the bucket does not exist"
    elif re.search(r"NETWORK_CONNECTION|curlCode|Couldn't connect|Connection refused", text):
        reason = "the store does not answer"
    return f"Could not {doing} at {where}: {reason}."


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return (text[:200] + "…") if len(text) > 200 else text.rstrip(".")
