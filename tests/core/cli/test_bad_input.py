"""Every flag a user can get wrong, as a user runs the command: exit status 2, one sentence on stderr, no
traceback, and nothing stored lost or changed (each test takes a fingerprint of a real database before and
after). One test per class of bad input from issue 11; docs/RELIABILITY.md lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.core.cli.cli_helpers import (
    NOWHERE,
    assert_one_sentence,
    depthbook,
    depthbook_in_process,
)
from tests.core.storage.damage_helpers import T0, fingerprint, record


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bad-input") / "db"
    record(path, "BTCUSDT", T0, 120)
    record(path, "ETHUSDT", T0, 30)
    return path


def check_all(db: Path, cases: list[tuple[list[str], str]]) -> None:
    """Run every case; each must be refused in one sentence naming `fragment`; the database is untouched.
    The first case of each class runs as a real subprocess, the others through the same entry point in
    this process (the parsing is the same; an interpreter start per case would double the suite's time)."""
    before = fingerprint(db)
    results = [depthbook(*cases[0][0]), *(depthbook_in_process(argv) for argv, _ in cases[1:])]
    for (argv, fragment), result in zip(cases, results, strict=True):
        try:
            assert_one_sentence(result, 2, fragment)
        except AssertionError as exc:
            raise AssertionError(f"{argv}: {exc}") from None
    assert fingerprint(db) == before


def rec(db: Path, *flags: str) -> list[str]:
    return ["record", "--symbols", "BTCUSDT", "--db", str(db), *NOWHERE, *flags]


def test_interval_must_be_a_whole_number_of_seconds_from_1(db):
    check_all(db, [
        (rec(db, "--interval", "0"), "--interval"),
        (rec(db, "--interval", "-1"), "--interval"),
        (rec(db, "--interval", "1.5"), "whole number of seconds"),
        (rec(db, "--interval", "soon"), "got 'soon'"),
        (rec(db, "--interval", "86401"), "from 1 to 86400"),
    ])  # fmt: skip


def test_depth_must_fit_a_snapshot_and_the_rest_snapshot_behind_it(db):
    check_all(db, [
        (rec(db, "--depth", "0"), "--depth"),
        (rec(db, "--depth", "-20"), "--depth"),
        (rec(db, "--depth", "101"), "from 1 to 100"),
        (rec(db, "--depth", "50", "--snapshot-limit", "20"), "cannot be above the REST snapshot limit (20)"),
    ])  # fmt: skip


def test_status_period_is_at_least_a_tenth_of_a_second_never_a_busy_loop(db):
    check_all(db, [
        (rec(db, "--status-every", "0"), "--status-every"),
        (rec(db, "--status-every", "0.01"), "from 0.1"),
        (rec(db, "--status-every", "-1"), "--status-every"),
        (rec(db, "--status-every", "nan"), "got 'nan'"),
        (rec(db, "--status-every", "inf"), "got 'inf'"),
    ])  # fmt: skip


def test_rest_snapshot_limit_is_between_1_and_5000(db):
    check_all(db, [
        (rec(db, "--snapshot-limit", "0"), "--snapshot-limit"),
        (rec(db, "--snapshot-limit", "-5"), "--snapshot-limit"),
        (rec(db, "--snapshot-limit", "5001"), "from 1 to 5000"),
    ])  # fmt: skip


def test_duration_is_a_finite_number_above_zero(db):
    check_all(db, [
        (rec(db, "--duration", "nan"), "--duration"),
        (rec(db, "--duration", "NaN"), "--duration"),
        (rec(db, "--duration", "0"), "above 0"),
        (rec(db, "--duration", "-3"), "above 0"),
        (rec(db, "--duration", "inf"), "got 'inf'"),
    ])  # fmt: skip


def test_ports_out_of_range_are_refused():
    results = [depthbook("sim", "--port", "70000")] + [
        depthbook_in_process(argv)
        for argv in (["sim", "--port", "-1"], ["sim", "--port", "http"], ["sim", "--interval-ms", "0"])
    ]
    for result in results[:3]:
        assert_one_sentence(result, 2, "--port", "from 0 to 65535")
    assert_one_sentence(results[3], 2, "--interval-ms")


def test_symbols_are_ascii_in_binances_charset_and_at_most_20_characters(db):
    too_long = "A" * 21
    check_all(db, [
        ([*rec(db)[:2], "BTCÜSDT", *rec(db)[3:]], "'BTCÜSDT' is not a valid symbol name"),
        ([*rec(db)[:2], "straße", *rec(db)[3:]], "'straße' is not a valid symbol name"),  # 'ß'.upper() == 'SS'
        ([*rec(db)[:2], "BTC/USDT", *rec(db)[3:]], "not a valid symbol name"),
        ([*rec(db)[:2], "usdm/btcusdt", *rec(db)[3:]], "a usdm book: give the market apart, --market usdm --symbols BTCUSDT"),
        ([*rec(db)[:2], too_long, *rec(db)[3:]], "at most 20 characters"),
        ([*rec(db)[:2], ",, ,", *rec(db)[3:]], "at least one symbol"),
        (rec(db, "--retention", "ÆUSDT=3"), "not a valid symbol name"),
        (["stats", "--db", str(db), "--symbol", "ÉTHUSDT"], "not a valid symbol name"),
        (["export", "--db", str(db), "--symbol", "BTC USDT", "--start", str(T0), "--end", str(T0 + 9),
          "--out", str(db.parent / "x.csv")], "not a valid symbol name"),
        (["order-flow", "--db", str(db), "--symbol", "BTCUSDT\u200b"], "not a valid symbol name"),
        (["sim", "--symbols", "BTCUSDT,ÉTH"], "not a valid symbol name"),
    ])  # fmt: skip
    assert not (db.parent / "x.csv").exists()


def test_the_app_refuses_a_bad_symbol_in_one_sentence(db):
    result = depthbook("--db", str(db), "--record", "BTCÜSDT", "--log-level", "ERROR")
    assert_one_sentence(result, 2, "'BTCÜSDT' is not a valid symbol name")


def test_a_db_path_that_is_a_file_or_under_a_file_is_refused(db, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("my notes\n")
    under = a_file / "db"
    cases = []
    for path, fragment in ((a_file, "is a file, not a database directory"), (under, "is a file, so there can be no")):
        cases += [
            (["record", "--symbols", "BTCUSDT", "--db", str(path), *NOWHERE], fragment),
            (["stats", "--db", str(path)], fragment),
            (["export", "--db", str(path), "--symbol", "BTCUSDT", "--start", "0", "--end", "1",
              "--out", str(tmp_path / "out.csv")], fragment),
            (["order-flow", "--db", str(path), "--symbol", "BTCUSDT"], fragment),
            (["--db", str(path)], fragment),  # the app
        ]  # fmt: skip
    check_all(db, cases)
    assert a_file.read_text() == "my notes\n"
    assert not (tmp_path / "out.csv").exists()


def test_record_never_spreads_a_database_among_other_files(tmp_path):
    folder = tmp_path / "documents"
    folder.mkdir()
    (folder / "letter.txt").write_text("hello")
    result = depthbook("record", "--symbols", "BTCUSDT", "--db", str(folder), *NOWHERE)
    assert_one_sentence(result, 2, "holds other files (letter.txt)", "choose a new or empty directory")
    assert sorted(p.name for p in folder.iterdir()) == ["letter.txt"]


def test_retention_of_zero_or_fewer_days_is_an_error_and_deletes_nothing(db):
    check_all(db, [
        (rec(db, "--retention-days", "-1"), "--retention-days"),
        (rec(db, "--retention-days", "0"), "from 1 to"),
        (rec(db, "--retention-days", "1.5"), "whole number of days"),
        (rec(db, "--retention", "BTCUSDT=0"), "'BTCUSDT=0'"),
        (rec(db, "--retention", "ETHUSDT=-2"), "SYMBOL=DAYS"),
        (rec(db, "--retention", "ETHUSDT=99999999999999999999"), "SYMBOL=DAYS"),
    ])  # fmt: skip


def test_export_and_order_flow_times_and_output_paths(db, tmp_path):
    export = ["export", "--db", str(db), "--symbol", "BTCUSDT"]
    out = ["--out", str(tmp_path / "x.csv")]
    check_all(db, [
        ([*export, "--start", "yesterday", "--end", str(T0), *out], "--start"),
        ([*export, "--start", str(T0), "--end", str(T0 * 1000), *out], "milliseconds?"),
        ([*export, "--start", "-5", "--end", str(T0), *out], "outside the times"),
        ([*export, "--start", str(T0), "--end", str(T0 + 5), "--out", str(tmp_path / "missing" / "x.csv")],
         "does not exist"),
        ([*export, "--start", str(T0), "--end", str(T0 + 5), "--out", str(tmp_path)], "is a directory"),
        (["order-flow", "--db", str(db), "--symbol", "BTCUSDT", "--end", str(T0 * 1000)], "milliseconds?"),
        (["order-flow", "--db", str(db), "--symbol", "BTCUSDT", "--window", "5"], "between 10 and 300"),
    ])  # fmt: skip
    assert list(tmp_path.iterdir()) == []


def test_the_apps_hidden_screenshot_delay_is_checked_too():
    assert_one_sentence(depthbook("--screenshot-after", "nan"), 2, "--screenshot-after")


def test_the_limits_have_one_source_recording_config_and_the_apps_settings_agree():
    from core.recording.config import RecordingConfig
    from gui.app import parse_args  # the app's flags come from the same parser
    from gui.config import SavedSettings, build_config

    def config(**kwargs) -> RecordingConfig:
        return RecordingConfig(db_path=Path("db"), ws_url="ws://h:1", rest_url="http://h:1", **kwargs)

    for bad in ({"interval": 0}, {"depth": 0}, {"depth": 101}, {"snapshot_limit": 0}, {"snapshot_limit": 5001},
                {"depth": 50, "snapshot_limit": 20}, {"interval": True}):  # fmt: skip
        with pytest.raises(ValueError, match=r"must be a whole number from|cannot be above"):
            config(**bad)
    # Saved settings the user cannot see on a command line never stop the app: the defaults are used.
    saved = SavedSettings(snapshot_depth=100, snapshot_limit=5)
    app = build_config(parse_args([]), saved)
    assert (app.snapshot_interval, app.snapshot_depth, app.snapshot_limit) == (1, 20, 1000)


def test_a_mistyped_command_is_named_with_the_closest_command(db):
    check_all(
        db,
        [
            (["stat", "--db", str(db)], "unknown command 'stat' (did you mean stats?)"),
            (["recrod", "--symbols", "BTCUSDT"], "(did you mean record?)"),
            (["frobnicate"], "the commands are app, record, stats, export, order-flow, archive, sim"),
        ],
    )
