"""`depthbook record --all [--quote Q] [--shard K/N]` and the start-up that waits for the exchange, as a user runs
them: the real command in a subprocess against the simulator on loopback. Flags are checked in-process."""

from __future__ import annotations

import asyncio
import subprocess

import pytest

from core.feed.listing import shard_of
from core.simulator.server import ExchangeSimulator
from tests.core.cli.cli_helpers import NOWHERE, assert_one_sentence, depthbook, depthbook_in_process
from tests.core.feed.relays import RestRelay

QUOTED = [f"C{i:02d}{quote}" for i in range(8) for quote in ("USDT", "EUR")]  # 16 symbols, two quotes


def recorded(result: subprocess.CompletedProcess) -> set[str]:
    """The symbols a run's status lines name."""
    return {line.split()[0] for line in result.stdout.splitlines() if line[:1] == "C" and " stored=" in line}


@pytest.mark.parametrize(
    "flags, fragment",
    [
        (["--all", "--symbols", "BTCUSDT"], "not allowed with argument"),
        (
            ["--symbols", "BTCUSDT", "--quote", "USDT"],
            "--quote chooses part of the market: use it with --all",
        ),
        (["--symbols", "BTCUSDT", "--shard", "1/2"], "--shard chooses part of the market: use it with --all"),
        (["--all", "--shard", "0/4"], "K from 1 to N"),
        (["--all", "--shard", "5/4"], "K from 1 to N"),
        (["--all", "--shard", "1/0"], "N from 1 to 1000"),
        (["--all", "--shard", "half"], "must be K/N like 1/4"),
        (["--all", "--quote", ","], "give at least one quote asset"),
        (["--all", "--quote", "USDT,€"], "quote assets are ASCII letters and digits"),
        (["--all", "--listing-every", "1"], "--listing-every"),
        (["--all", "--listing-every", "nan"], "--listing-every"),
        ([], "one of the arguments --symbols --all is required"),
        (["--bogus"], "unrecognized arguments: --bogus"),  # the unknown flag, not the missing --symbols
    ],
)
def test_market_flags_are_checked_in_one_sentence(flags, fragment, tmp_path):
    result = depthbook_in_process(["record", *flags, "--db", str(tmp_path / "db"), *NOWHERE])
    assert_one_sentence(result, 2, fragment)
    assert not (tmp_path / "db").exists()  # refused before anything started


async def _record(sim: ExchangeSimulator, rest_url: str, tmp_path, name: str, *flags: str, duration: float = 4):
    """A run of `duration` seconds from its start, the start-up included (a few seconds: time to record some)."""
    return await asyncio.to_thread(
        depthbook, "record", *flags, "--db", str(tmp_path / name), "--ws-url", sim.ws_url, "--rest-url", rest_url,
        "--duration", str(duration), "--status-every", "1", "--log-level", "WARNING",
    )  # fmt: skip


def test_record_all_shards_split_the_quoted_market_with_no_overlap_and_no_hole(tmp_path):
    async def run() -> list[subprocess.CompletedProcess]:
        async with ExchangeSimulator(symbols=QUOTED, seed=8, interval_ms=50) as sim:
            sim.set_status("C03EUR", "BREAK")  # not trading: no shard takes it
            return await asyncio.gather(
                *(_record(sim, sim.rest_url, tmp_path, f"db{k}", "--all", "--quote", "EUR", "--shard", f"{k}/2")
                  for k in (1, 2))
            )  # fmt: skip

    results = asyncio.run(run())
    trading_eur = {s for s in QUOTED if s.endswith("EUR") and s != "C03EUR"}
    parts = [recorded(r) for r in results]
    for k, (result, part) in enumerate(zip(results, parts, strict=True), 1):
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        assert part == {s for s in trading_eur if shard_of(s, 2) == k}
        assert f"recording {len(part)} symbols" in result.stdout
    assert set().union(*parts) == trading_eur and sum(map(len, parts)) == len(trading_eur)


def test_record_waits_for_an_exchange_that_fails_at_start_then_records(tmp_path):
    async def run() -> subprocess.CompletedProcess:
        sim = ExchangeSimulator(symbols=QUOTED[:4], seed=8, interval_ms=50)
        async with sim, RestRelay(sim.rest_url) as relay:
            relay.canned["/api/v3/exchangeInfo"] = [(500, b"", ""), (502, b"", "")]
            return await _record(  # two failures wait 3 + 6 s: the run's duration covers them and some recording
                sim, relay.url, tmp_path, "db", "--symbols", ",".join(QUOTED[:4]) + ",NOPEEUR", duration=14
            )

    result = asyncio.run(run())
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    waiting = [line for line in result.stdout.splitlines() if line.startswith("waiting for the exchange")]
    assert len(waiting) == 2 and "HTTP 500" in waiting[0] and "HTTP 502" in waiting[1]
    assert recorded(result) == set(QUOTED[:4])
    [named] = [line for line in result.stderr.splitlines() if "NOPEEUR" in line]
    assert "Cannot follow NOPEEUR (not a symbol on this exchange). Recording the other 4." in named


def test_record_all_that_matches_nothing_names_the_flags_it_was_given(tmp_path):
    async def run() -> subprocess.CompletedProcess:
        async with ExchangeSimulator(symbols=QUOTED[:4], seed=8, interval_ms=50) as sim:
            return await _record(sim, sim.rest_url, tmp_path, "db", "--all", "--quote", "XYZ")

    result = asyncio.run(run())
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "depthbook: no TRADING symbol matches --all with --quote XYZ." in result.stderr.splitlines()


def test_a_rest_address_without_the_market_asked_for_is_named_at_once_not_waited_for(tmp_path):
    # --market usdm against a spot-only exchange: /fapi/v1/exchangeInfo answers 404. Asking again would get the
    # same answer, so the run stops in one sentence instead of "waiting for the exchange" for ever.
    async def run() -> subprocess.CompletedProcess:
        async with ExchangeSimulator(symbols=["BTCUSDT"], seed=3) as sim:
            return await asyncio.to_thread(
                depthbook, "record", "--market", "usdm", "--symbols", "BTCUSDT", "--db", str(tmp_path / "db"),
                "--ws-url", sim.ws_url, "--rest-url", sim.rest_url, "--log-level", "ERROR", timeout=30,
            )  # fmt: skip

    result = asyncio.run(run())
    assert_one_sentence(result, 1, "has no /fapi/v1/exchangeInfo (HTTP 404)", "REST address of the market")
    assert "waiting for the exchange" not in result.stdout
    assert not (tmp_path / "db").exists()  # nothing was recorded: no empty database left behind
