"""An archive as the source of `stats`, `export` and `order-flow`: the same answers as the database it came
from, and one sentence for a source that cannot be read."""

from __future__ import annotations

import json

import pytest

from core.archive.source import ArchiveSource
from core.storage.store import SnapshotStorage
from tests.core.archive.archived import archive
from tests.core.archive.cli_run import main
from tests.core.archive.recorded import PLANS, at


@pytest.fixture(scope="module")
def archived(recorded_db, tmp_path_factory):
    """(database, archive directory): the recorded database archived once to a directory."""
    target = tmp_path_factory.mktemp("source") / "archive"
    archive(recorded_db[0], str(target))
    return recorded_db[0], target


def test_stats_of_the_archive_are_the_databases(archived, capsys):
    db, target = archived
    assert main(["stats", "--db", str(db), "--json"]) == 0
    from_db = json.loads(capsys.readouterr().out)
    assert main(["stats", "--archive", str(target), "--json"]) == 0
    from_archive = json.loads(capsys.readouterr().out)
    drop = lambda rows: [{k: v for k, v in row.items() if k != "bytes"} for row in rows]  # noqa: E731
    assert drop(from_archive) == drop(from_db) and len(from_db) == len(PLANS)
    assert all(row["bytes"] > 0 for row in from_archive)


def test_export_from_the_archive_is_byte_for_byte_the_databases(archived, tmp_path, capsys):
    db, target = archived
    span = ["--symbol", "BTCUSDT", "--start", str(at(10, 44)), "--end", str(at(11, 31))]  # across an hour
    assert main(["export", "--db", str(db), *span, "--out", str(tmp_path / "db.csv")]) == 0
    assert main(["export", "--archive", f"file://{target}", *span, "--out", str(tmp_path / "archive.csv")]) == 0
    capsys.readouterr()
    from_db = (tmp_path / "db.csv").read_bytes()
    assert from_db == (tmp_path / "archive.csv").read_bytes() and from_db.count(b"\n") > 2700


def test_order_flow_from_the_archive_is_the_databases(archived, capsys):
    db, target = archived
    window = ["--symbol", "ETHUSDT", "--window", "120", "--end", str(at(12, 0, 30)), "--json"]
    assert main(["order-flow", "--db", str(db), *window]) == 0
    from_db = json.loads(capsys.readouterr().out)
    assert main(["order-flow", "--archive", str(target), *window]) == 0
    assert json.loads(capsys.readouterr().out) == from_db and from_db["snapshot_count"] > 0


def test_the_source_reads_like_the_database(archived):
    db, target = archived
    with SnapshotStorage.open(db, mode="read_only") as storage, ArchiveSource.open(str(target)) as source:
        assert source.symbols() == storage.symbols()
        for symbol in storage.symbols():
            assert source.count(symbol) == storage.count(symbol)
            assert source.first_last(symbol) == storage.first_last(symbol)
        ts = at(12, 0, 7)  # the thin book
        assert source.get("BTCUSDT", ts) == storage.get("BTCUSDT", ts)
        assert source.get("BTCUSDT", at(10, 45, 3)) is None  # a gap second
        assert list(source.range("SOLUSDT", at(10, 29, 50), at(12, 0, 5))) == list(
            storage.range("SOLUSDT", at(10, 29, 50), at(12, 0, 5))
        )
        assert source.gaps("ETHUSDT", 0, 9_999_999_999) == storage.gaps("ETHUSDT", 0, 9_999_999_999)
        assert source.check_snapshots("SOLUSDT") == 0


def test_a_source_that_cannot_be_read_is_one_sentence(archived, tmp_path, capsys, monkeypatch):
    db, target = archived
    assert main(["stats", "--db", str(db), "--archive", str(target)]) == 2
    assert capsys.readouterr().err.strip() == "depthbook: give --db or --archive, not both"
    assert main(["stats", "--archive", str(tmp_path / "nothing")]) == 2
    assert capsys.readouterr().err.strip() == f"depthbook: there is no archive at file://{tmp_path / 'nothing'}"
    (tmp_path / "empty").mkdir()
    assert main(["export", "--archive", str(tmp_path / "empty"), "--symbol", "BTCUSDT", "--start", "0", "--end",
                 "1", "--out", str(tmp_path / "x.csv")]) == 2  # fmt: skip
    assert capsys.readouterr().err.strip() == f"depthbook: there is no archived hour at file://{tmp_path / 'empty'}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    assert main(["order-flow", "--archive", "s3://bucket/a", "--symbol", "BTCUSDT"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("depthbook: Could not read the archive at s3://bucket/a") and "does not answer" in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "x.csv").exists()
