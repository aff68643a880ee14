"""`depthbook archive` and `depthbook archive status` as a user runs them."""

from __future__ import annotations

import json

from tests.core.archive.cli_run import main


def test_archive_then_status(recorded_db, tmp_path, capsys):
    db, _ = recorded_db
    target = tmp_path / "archive"
    assert main(["archive", "--db", str(db), "--to", str(target), "--symbols", "SOLUSDT"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"2 completed hours in the database; 0 already archived, 2 to archive to file://{target}"
    assert err[1].startswith("archived SOLUSDT 2025-06-02 10:00Z: 1800 snapshots, 0 gaps, 100.00 % complete, ")
    assert err[-1].startswith("archived 2 hours (") and err[-1].endswith("; 0 already archived.")

    assert main(["archive", "--db", str(db), "--to", f"file://{target}", "--symbols", "SOLUSDT"]) == 0
    assert capsys.readouterr().err.splitlines()[-1].startswith("archived 0 hours (0 B)")

    assert main(["archive", "status", str(target)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split()[:6] == ["spot", "SOLUSDT", "2", "2025-06-02", "10:00", "2025-06-02"]
    assert out[2].strip() == "missing 2025-06-02 11:00"

    assert main(["archive", "status", str(target), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["symbols"][0]["missing"] == [["2025-06-02 11:00", "2025-06-02 11:00"]]
    assert status["staging"] == 0


def test_archive_errors_are_one_sentence(recorded_db, tmp_path, capsys):
    db, _ = recorded_db
    assert main(["archive", "--db", str(db)]) == 2
    assert capsys.readouterr().err.strip() == "depthbook: give the archive with --to URL (s3://bucket/prefix or a directory)"
    assert main(["archive", "--db", str(db), "--to", "s3://key:secret@bucket/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "secret" not in err and err.startswith("depthbook: Put the S3 credentials in the environment")
    assert main(["archive", "--db", str(tmp_path / "none"), "--to", str(tmp_path / "a")]) == 2
    assert "there is no database" in capsys.readouterr().err
