"""`--market spot|usdm` on `record`, `sim` and the app, and reading a futures symbol back with `stats`.

A bad market, a preset of the other market or a snapshot limit futures do not serve: exit status 2, one
sentence, nothing stored changed. A stored futures symbol is named `usdm/SYMBOL` and `stats` says its market.
"""

from __future__ import annotations

import orjson
import pytest

from tests.core.cli.cli_helpers import NOWHERE, assert_one_sentence, depthbook, depthbook_in_process
from tests.core.storage.damage_helpers import T0, fingerprint, record


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("markets") / "db"
    record(path, "BTCUSDT", T0, 30)
    record(path, "usdm/BTCUSDT", T0, 20)
    record(path, "usdm/ETHUSDT", T0, 5)  # recorded on futures only
    return path


def test_bad_market_values_are_one_sentence_and_exit_2(db):
    before = fingerprint(db)
    rec = ["record", "--symbols", "BTCUSDT", "--db", str(db)]
    cases = [
        ([*rec, *NOWHERE, "--market", "futures"], "Unknown market 'futures'; choose one of spot, usdm"),
        (["sim", "--market", "coinm"], "Unknown market 'coinm'"),
        (["app", "--market", "perp"], "Unknown market 'perp'"),
        ([*rec, "--preset", "binance", "--market", "usdm"], "'binance' is for Spot, not USD-M futures"),
        ([*rec, *NOWHERE, "--market", "usdm", "--snapshot-limit", "5000"], "between 1 and 1000 on USD-M futures"),
        (["stats", "--db", str(db), "--symbol", "coinm/BTCUSD"], "Unknown market 'coinm'"),
    ]
    # A symbol stored on the other market only is named, with the way to ask for it.
    no_spot = "no snapshots of ETHUSDT in "
    for argv in (["stats", "--symbol", "ethusdt"], ["order-flow", "--symbol", "ETHUSDT"],
                 ["export", "--symbol", "ETHUSDT", "--start", str(T0), "--end", str(T0 + 9), "--out", "-"]):  # fmt: skip
        assert_one_sentence(depthbook_in_process([*argv, "--db", str(db)]), 2, no_spot,
                            "it holds usdm/ETHUSDT (--symbol usdm/ETHUSDT)")  # fmt: skip
    results = [depthbook(*cases[0][0]), *(depthbook_in_process(argv) for argv, _ in cases[1:])]
    for (argv, fragment), result in zip(cases, results, strict=True):
        try:
            assert_one_sentence(result, 2, fragment)
        except AssertionError as exc:
            raise AssertionError(f"{argv}: {exc}") from None
    assert fingerprint(db) == before


def test_stats_tells_the_market_of_each_stored_symbol(db):
    result = depthbook_in_process(["stats", "--db", str(db), "--json"])
    assert result.returncode == 0, result.stderr
    rows = {row["symbol"]: row for row in orjson.loads(result.stdout)}
    assert (rows["BTCUSDT"]["market"], rows["BTCUSDT"]["count"]) == ("spot", 30)
    assert (rows["usdm/BTCUSDT"]["market"], rows["usdm/BTCUSDT"]["count"]) == ("usdm", 20)
    assert "ETHUSDT" not in rows and rows["usdm/ETHUSDT"]["market"] == "usdm"
    one = depthbook_in_process(["stats", "--db", str(db), "--json", "--symbol", "usdm/btcusdt"])
    assert [row["symbol"] for row in orjson.loads(one.stdout)] == ["usdm/BTCUSDT"]


def test_export_names_the_futures_exchange_and_symbol_as_tardis_does(db, tmp_path):
    out = tmp_path / "futures.csv"
    argv = ["export", "--db", str(db), "--symbol", "usdm/BTCUSDT", "--start", str(T0), "--end", str(T0 + 60)]
    result = depthbook_in_process([*argv, "--out", str(out)])
    assert result.returncode == 0, result.stderr
    rows = [line.split(",")[:2] for line in out.read_text().splitlines()[1:]]
    assert rows == [["binance-futures", "BTCUSDT"]] * 20
