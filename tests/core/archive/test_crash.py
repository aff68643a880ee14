"""An object store that dies mid-upload, and an archiver that dies mid-run: no hour lost, none duplicated, no
partial object visible."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from core.archive.archiver import ArchiveOptions, Archiver
from core.archive.layout import HourKey
from core.archive.location import ArchiveLocation, open_location
from core.archive.reader import ArchiveReader
from core.archive.rollup import rollup_path
from core.storage.store import SnapshotStorage
from tests.core.archive.fs_handlers import DelegatingHandler
from tests.core.archive.recorded import DAY, at, expected_hours

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
MB = 1 << 20


def test_a_multipart_upload_cut_by_a_dying_store_never_becomes_visible(seaweed, bucket):
    """The claim the archiver's S3 path rests on: pyarrow's S3 output stream writes a large object as a
    multipart upload, and S3 shows it only once the upload completes. Kill the store after parts went out."""
    client = seaweed.client()
    key = f"{bucket}/big.bin"
    chunk = os.urandom(MB)
    out = client.open_output_stream(key)
    for _ in range(24):  # past pyarrow's part size (10 MB in this version): at least two parts are uploaded
        out.write(chunk)
    time.sleep(0.5)  # background part uploads under way or done
    seaweed.kill()
    with pytest.raises(OSError):
        for _ in range(16):
            out.write(chunk)
        out.close()
    seaweed.start()
    client = seaweed.client()
    assert client.get_file_info(key).type == pafs.FileType.NotFound
    listed = client.get_file_info(pafs.FileSelector(bucket, recursive=True))
    assert [info.path for info in listed if info.type == pafs.FileType.File] == []


class _Killer(DelegatingHandler):
    """Delegates to a real S3FileSystem, and kills the store (then restarts it a moment later) at chosen
    moments: in the middle of writing an upload, or in the middle of publishing it (the copy to its final key)."""

    def __init__(self, seaweed, kill_on: set[tuple[str, int]]) -> None:
        self.seaweed = seaweed
        self.kill_on = kill_on
        self.calls: dict[str, int] = {}
        self.kills = 0
        self.restarts: list[threading.Thread] = []
        super().__init__(seaweed.client())

    def _moment(self, what: str) -> bool:
        self.calls[what] = self.calls.get(what, 0) + 1
        return (what, self.calls[what]) in self.kill_on

    def _kill_and_restart_soon(self) -> None:
        self.seaweed.kill()
        self.kills += 1
        restart = threading.Timer(0.5, self._restart)
        restart.start()
        self.restarts.append(restart)

    def _restart(self) -> None:
        self.seaweed.start()
        self.fs = self.seaweed.client()

    # the handler protocol: DelegatingHandler's, but for these
    def get_type_name(self):
        return "killer"

    def normalize_path(self, path):
        return path

    def move(self, src, dest):
        if self._moment("move"):
            self._kill_and_restart_soon()
        self.fs.move(src, dest)

    def open_append_stream(self, path, metadata):
        raise NotImplementedError

    def open_output_stream(self, path, metadata):
        real = self.fs.open_output_stream(path)
        if not self._moment("write"):
            return real
        handler = self

        class HalfThenKill:  # writes half, the store dies, then the rest: the close cannot complete the upload
            closed = False

            def write(self, data):
                half = len(data) // 2
                real.write(data[:half])
                handler._kill_and_restart_soon()
                real.write(data[half:])
                return len(data)

            def flush(self):
                pass

            def close(self):
                self.closed = True
                real.close()

        return pa.PythonFile(HalfThenKill(), mode="w")


def test_the_store_dies_mid_upload_and_mid_publish_then_comes_back(recorded_db, bucket, seaweed, s3_env):
    db, written = recorded_db
    real = open_location(f"s3://{bucket}/crash", s3_env)
    killer = _Killer(seaweed, {("write", 2), ("move", 4)})
    location = ArchiveLocation(pafs.PyFileSystem(killer), real.root, real.url, "s3", real.endpoint)
    symbols = ("ETHUSDT", "SOLUSDT")
    events = []
    options = ArchiveOptions(symbols=symbols, now=lambda: at(23), backoff_initial=0.3, backoff_max=2.0, attempts=10)
    with SnapshotStorage.open(db, mode="read_only") as storage:
        report = Archiver(storage, location, options, events.append).run()
    for restart in killer.restarts:
        restart.join()
    assert killer.kills == 2
    # Whether the archiver retried (report.retries, "retry" events) depends on timing: the AWS SDK inside
    # pyarrow retries each request too and often rides out a restart by itself. The end state may not depend on it:
    assert len(report.uploaded) == 4 and report.skipped == 0

    wanted = sorted(HourKey("spot", s, h).path for s in symbols for h in expected_hours(s))
    files = sorted(real.relative(i.path) for i in real.files())
    rollups = [rollup_path("spot", s, DAY) for s in symbols]  # each symbol's day rollup, rewritten per hour
    assert files == sorted(wanted + rollups)  # every hour once; no staging object left; nothing else
    reader = ArchiveReader(real)
    for symbol in symbols:
        assert reader.snapshots(symbol, at(0), at(23)) == written[symbol][0]
        assert reader.gaps(symbol, at(0), at(23)) == written[symbol][1]

    again_events = []
    with SnapshotStorage.open(db, mode="read_only") as storage:
        again = Archiver(storage, real, options, again_events.append).run()
    assert again.uploaded == [] and again.skipped == len(wanted)


def test_an_archiver_killed_mid_run_leaves_no_partial_hour_and_the_next_run_finishes(recorded_db, bucket, s3_env):
    """`depthbook archive` SIGKILLed after its first hour: what it published is whole and verified, the rest
    is missing (never partial); the next run archives exactly the rest."""
    db, written = recorded_db
    url = f"s3://{bucket}/killed"
    code = (
        "import sys; from tests.core.archive.cli_run import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "archive", "--db", str(db), "--to", url],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    lines = []
    for raw in proc.stderr:
        lines.append(raw.decode())
        if raw.startswith(b"archived ") and len([x for x in lines if x.startswith("archived ")]) == 2:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "".join(lines)
    location = open_location(url, s3_env)
    published = sorted(p for i in location.files() if (p := location.relative(i.path))[0] != "_")  # hour files
    assert 2 <= len(published) < sum(len(expected_hours(s)) for s in written)
    reader = ArchiveReader(location)
    for path in published:  # each published hour is whole
        key = next(HourKey("spot", s, h) for s in written for h in expected_hours(s) if HourKey("spot", s, h).path == path)
        assert reader.verify(key.symbol, key.start)

    with SnapshotStorage.open(db, mode="read_only") as storage:
        report = Archiver(storage, location, ArchiveOptions(now=time.time)).run()
    assert report.skipped == len(published)
    wanted = sorted(HourKey("spot", s, h).path for s in written for h in expected_hours(s))
    hours_now = sorted(p for i in location.files() if (p := location.relative(i.path))[0] != "_")
    assert hours_now == wanted
