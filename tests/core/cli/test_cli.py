"""The headless commands as a user runs them: real subprocesses, a real database, the simulator."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli.export_files import export_columns
from core.simulator.market import SyntheticMarket
from core.simulator.server import ExchangeSimulator
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import OrderBookSnapshot
from core.storage.store import SnapshotStorage
from core.timeparse import parse_time
from tests.core.cli.cli_helpers import assert_one_sentence, read_lines_until

ROOT = Path(__file__).resolve().parents[3]
START = 1_737_158_400


def depthbook(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gui.entry", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def recorded_db(tmp_path) -> Path:
    """130 seconds of BTCUSDT from the synthetic market, with a 3-second gap, plus 10 s of ETHUSDT."""
    path = tmp_path / "db"
    market = SyntheticMarket("BTCUSDT", seed=11)
    with SnapshotStorage.open(path, mode="writer") as storage:
        for i in range(130):
            for _ in range(10):
                market.next_event(i * 1000)
            ts = START + i
            if 50 <= i < 53:
                storage.put_tick([], [GapRecord("BTCUSDT", ts, GapReason.DISCONNECTED)])
                continue
            raw = market.snapshot(20)
            snap = OrderBookSnapshot(
                "BTCUSDT",
                tuple(map(tuple, raw["bids"])),
                tuple(map(tuple, raw["asks"])),
                raw["lastUpdateId"],
                ts,
            )
            storage.put_tick([snap])
        for i in range(10):
            storage.put(
                "ETHUSDT",
                START + i,
                OrderBookSnapshot("ETHUSDT", (("1.0", "1.0"),), (("2.0", "1.0"),), i, START + i).to_bytes(),
            )
    return path


def test_stats_json_reports_counts_times_completeness_gaps_and_bytes(recorded_db):
    result = depthbook("stats", "--db", str(recorded_db), "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["symbol"]: row for row in json.loads(result.stdout)}
    btc = rows["BTCUSDT"]
    assert (btc["count"], btc["first"], btc["last"], btc["gaps"]) == (127, START, START + 129, 3)
    assert btc["completeness_pct"] == pytest.approx(100 * 127 / 130, abs=0.001)
    assert btc["bytes"] > 0
    assert rows["ETHUSDT"]["count"] == 10


def test_stats_table_and_unknown_symbol(recorded_db):
    result = depthbook("stats", "--db", str(recorded_db))
    assert result.returncode == 0
    assert "BTCUSDT" in result.stdout and "2025-01-18T00:00:00Z" in result.stdout
    missing = depthbook("stats", "--db", str(recorded_db), "--symbol", "XRPUSDT")
    assert missing.returncode == 2
    assert missing.stderr.strip().startswith("depthbook: no snapshots of XRPUSDT")


def test_export_csv_has_wide_rows_in_time_order(recorded_db, tmp_path):
    out = tmp_path / "btc.csv"
    result = depthbook(
        "export", "--db", str(recorded_db), "--symbol", "btcusdt",
        "--start", "2025-01-18T00:00:10Z", "--end", str(START + 19), "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "exported 10 snapshots" in result.stderr
    with out.open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == export_columns()
    assert len(rows) == 11
    assert [int(r[2]) // 1_000_000 for r in rows[1:]] == list(range(START + 10, START + 20))
    header = rows[0]
    first = dict(zip(header, rows[1], strict=True))
    assert float(first["asks[0].price"]) > float(first["bids[0].price"])
    assert float(first["bids[0].price"]) > float(first["bids[1].price"])


def test_order_flow_json_uses_the_reference_field_names(recorded_db):
    result = depthbook("order-flow", "--db", str(recorded_db), "--symbol", "BTCUSDT", "--window", "60", "--json")
    assert result.returncode == 0, result.stderr
    flow = json.loads(result.stdout)
    for field in (
        "symbol", "time_window_start", "time_window_end", "window_duration_secs", "bid_flow_rate",
        "ask_flow_rate", "net_flow", "flow_direction", "cumulative_delta",
    ):  # fmt: skip
        assert field in flow
    assert flow["time_window_end"] == "2025-01-18T00:02:09Z"
    assert flow["window_duration_secs"] == 60
    assert flow["flow_direction"] in {"STRONG_BUY", "MODERATE_BUY", "NEUTRAL", "MODERATE_SELL", "STRONG_SELL"}


def test_order_flow_errors_are_one_sentence(recorded_db):
    short = depthbook("order-flow", "--db", str(recorded_db), "--symbol", "BTCUSDT", "--end", str(START - 100))
    assert short.returncode == 2
    assert "Insufficient historical data: need at least 2 snapshots in the 60 s window, got 0" in short.stderr
    window = depthbook("order-flow", "--db", str(recorded_db), "--symbol", "BTCUSDT", "--window", "5")
    assert window.returncode == 2 and "between 10 and 300 seconds" in window.stderr
    assert "Traceback" not in short.stderr + window.stderr


async def _start_recorder(sim: ExchangeSimulator, db: Path, *extra: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gui.entry", "record", "--symbols", "BTCUSDT,ETHUSDT", "--db", str(db),
        "--ws-url", sim.ws_url, "--rest-url", sim.rest_url, "--status-every", "0.5", "--log-level", "WARNING",
        *extra, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


def _stored(line: str) -> int:
    part = next((p for p in line.split() if p.startswith("stored=")), "stored=0")
    return int(part.split("=")[1])


async def _read_until_stored(
    stream: asyncio.StreamReader, at_least: dict[str, int], timeout: float, lines: dict[str, str] | None = None
) -> dict[str, int]:
    """Read the recorder's status lines until each symbol's says at least `at_least[symbol]` snapshots are
    stored (written to the database); returns the last figure each symbol's line gave (and its line in `lines`)."""
    stored = dict.fromkeys(at_least, 0)

    def enough(line: str) -> bool:
        symbol = next(iter(line.split()), "")
        if symbol in stored:
            stored[symbol] = _stored(line)
            if lines is not None:
                lines[symbol] = line
        return all(stored[s] >= n for s, n in at_least.items())

    await read_lines_until(stream, enough, timeout)
    return stored


@pytest.mark.asyncio
async def test_record_stops_cleanly_on_sigint_then_survives_kill_9(tmp_path):
    db = tmp_path / "db"
    async with ExchangeSimulator(symbols=["BTCUSDT", "ETHUSDT"], seed=2, interval_ms=50) as sim:
        proc = await _start_recorder(sim, db)
        # Both symbols' status lines say 3 snapshots are written before the signal goes out (the two books
        # go live at different moments, so one symbol's line says nothing of the other's).
        lines: dict[str, str] = {}
        reported = await _read_until_stored(proc.stdout, {"BTCUSDT": 3, "ETHUSDT": 3}, 30, lines)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert b"Traceback" not in await proc.stderr.read()
        with SnapshotStorage.open(db, mode="read_only") as storage:
            # A status line names its symbol's last stored second in UTC, as people read time: one on disk.
            last = next(p for p in lines["BTCUSDT"].split() if p.startswith("last=")).removeprefix("last=")
            assert storage.get("BTCUSDT", parse_time(last)) is not None, lines["BTCUSDT"]
            after_sigint = {s: storage.count(s) for s in ("BTCUSDT", "ETHUSDT")}
            assert all(after_sigint[s] >= reported[s] for s in reported), (after_sigint, reported)
            assert min(after_sigint.values()) >= 3
            assert storage.sessions()[-1].end_reason == "stopped"

        proc = await _start_recorder(sim, db)
        reported = await _read_until_stored(proc.stdout, {"BTCUSDT": 3}, 30)
        proc.kill()  # SIGKILL: no chance to flush or close
        await proc.wait()
    with SnapshotStorage.open(db, mode="writer") as storage:  # opens with no repair step
        assert storage.count("BTCUSDT") >= after_sigint["BTCUSDT"] + reported["BTCUSDT"] >= after_sigint["BTCUSDT"] + 3
        seconds = [ts for ts, _ in storage.range("BTCUSDT", 0, 9_999_999_999)]
        assert storage.count("BTCUSDT") == len(seconds)
        assert storage.sessions()[-1].end_reason == "interrupted"


def test_record_refuses_a_locked_database_in_one_sentence(tmp_path):
    db = tmp_path / "db"
    with SnapshotStorage.open(db, mode="writer"):
        result = depthbook("record", "--symbols", "BTCUSDT", "--db", str(db), "--ws-url", "ws://127.0.0.1:9",
                           "--rest-url", "http://127.0.0.1:9")  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"depthbook: The database at {db} is in use by another Depthbook process; open it read-only to browse."
    )


def test_record_names_an_unknown_symbol_records_the_others_and_leaves_no_empty_database(tmp_path):
    async def run(names: str, db: str = "") -> subprocess.CompletedProcess:
        async with ExchangeSimulator(symbols=["BTCUSDT"], seed=2) as sim:
            return await asyncio.to_thread(
                depthbook, "record", "--symbols", names, "--db", str(tmp_path / (db or names)), "--log-level", "WARNING",
                "--ws-url", sim.ws_url, "--rest-url", sim.rest_url, "--duration", "1",
            )  # fmt: skip

    result = asyncio.run(run("BTCUSDT,NOPEUSDT"))
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "NOPEUSDT" in line]
    assert "Cannot follow NOPEUSDT (not a symbol on this exchange). Recording the other 1." in warning
    assert "recording 1 symbol from" in result.stdout and "BTCUSDT" in result.stdout
    assert "Traceback" not in result.stderr
    none_valid = asyncio.run(run("NOPEUSDT"))
    assert none_valid.returncode == 1
    assert "depthbook: Cannot follow NOPEUSDT (not a symbol on this exchange). Nothing to record." in none_valid.stderr
    assert (tmp_path / "BTCUSDT,NOPEUSDT").is_dir() and not (tmp_path / "NOPEUSDT").exists()  # no empty database left
    # What the first run wrote: its session record at least (a second of data only if the book went live within
    # --duration 1, which a loaded machine need not manage).
    with SnapshotStorage.open(tmp_path / "BTCUSDT,NOPEUSDT", mode="read_only") as storage:
        stored, sessions = storage.count("BTCUSDT"), storage.sessions()
    assert [s.symbols for s in sessions] == [("BTCUSDT",)]
    assert asyncio.run(run("NOPEUSDT", db="BTCUSDT,NOPEUSDT")).returncode == 1  # a database that was there stays
    with SnapshotStorage.open(tmp_path / "BTCUSDT,NOPEUSDT", mode="read_only") as storage:
        assert storage.count("BTCUSDT") == stored and storage.sessions()[0] == sessions[0]


def test_record_stops_with_one_sentence_and_exit_1_when_the_feed_cannot_go_on(tmp_path):
    """A stream address that can never work halts the feed: record says so on stderr and exits 1, not hangs."""

    async def run() -> subprocess.CompletedProcess:
        async with ExchangeSimulator(symbols=["BTCUSDT"], seed=2) as sim:
            return await asyncio.to_thread(
                depthbook, "record", "--symbols", "BTCUSDT", "--db", str(tmp_path / "db"),
                "--ws-url", "ws://127.0.0.1:99999", "--rest-url", sim.rest_url, "--log-level", "ERROR",
            )  # fmt: skip

    result = asyncio.run(run())
    assert result.returncode == 1
    assert "depthbook: The stream address ws://127.0.0.1:99999 is not a valid WebSocket URL." in result.stderr
    assert "Traceback" not in result.stderr
    with SnapshotStorage.open(tmp_path / "db", mode="read_only") as storage:  # the session was closed cleanly
        assert storage.sessions()[-1].end_reason == "stopped"


def test_record_takes_at_most_the_ceiling_of_symbols():
    from core.feed.config import MAX_SYMBOLS_CEILING

    symbols = ",".join(f"S{i:04d}USDT" for i in range(MAX_SYMBOLS_CEILING + 1))
    result = depthbook("record", "--symbols", symbols, "--ws-url", "ws://127.0.0.1:9", "--rest-url", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"depthbook: record takes at most {MAX_SYMBOLS_CEILING} symbols, got {MAX_SYMBOLS_CEILING + 1}"
    )


@pytest.mark.asyncio
async def test_record_ends_after_its_duration_and_on_sigterm_and_others_read_meanwhile(tmp_path):
    db = tmp_path / "db"
    async with ExchangeSimulator(symbols=["BTCUSDT", "ETHUSDT"], seed=4, interval_ms=50) as sim:
        proc = await _start_recorder(sim, db, "--duration", "3")  # from the start: the start-up is part of it
        assert await asyncio.wait_for(proc.wait(), 30) == 0  # it ends by itself
        reported = dict.fromkeys(("BTCUSDT", "ETHUSDT"), 0)
        for line in (await proc.stdout.read()).decode().splitlines():
            if line.split()[:1] in (["BTCUSDT"], ["ETHUSDT"]):
                reported[line.split()[0]] = _stored(line)
        with SnapshotStorage.open(db, mode="read_only") as storage:
            first_run = storage.count("BTCUSDT")
            assert first_run >= reported["BTCUSDT"]  # everything its last status line counted is on disk
            session = storage.sessions()[-1]
            assert session.end_reason == "stopped"
            assert session.end - session.start >= 1  # it recorded for its duration, less the start-up

        proc = await _start_recorder(sim, db)
        await _read_until_stored(proc.stdout, {"BTCUSDT": 2, "ETHUSDT": 2}, 30)
        # Another process reads the database while this one records into it.
        stats = await asyncio.to_thread(depthbook, "stats", "--db", str(db), "--json")
        assert stats.returncode == 0, stats.stderr
        counts = {row["symbol"]: row["count"] for row in json.loads(stats.stdout)}
        assert counts["BTCUSDT"] >= first_run + 2 and counts["ETHUSDT"] >= 2
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert b"Traceback" not in await proc.stderr.read()
    with SnapshotStorage.open(db, mode="read_only") as storage:
        assert [s.end_reason for s in storage.sessions()] == ["stopped", "stopped"]


def test_export_parquet_has_the_same_columns_and_rows(recorded_db, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "btc.parquet"
    result = depthbook(
        "export", "--db", str(recorded_db), "--symbol", "BTCUSDT", "--start", str(START), "--end", str(START + 129),
        "--format", "parquet", "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = pq.read_table(out)
    assert table.column_names == export_columns()
    assert table.num_rows == 127  # 130 seconds less the 3-second gap
    assert table.column("symbol").to_pylist()[0] == "BTCUSDT"


def test_per_symbol_retention_flag():
    from core.cli.common import UserError
    from core.cli.record import parse_retention

    assert parse_retention("btcusdt=30, ETHUSDT=keep") == {"BTCUSDT": 30, "ETHUSDT": None}
    assert parse_retention(None) == {}
    for bad in ("BTCUSDT", "BTCUSDT=-1", "=3", "BTCUSDT=soon"):
        with pytest.raises(UserError, match="SYMBOL=DAYS"):
            parse_retention(bad)


def test_the_app_without_a_display_says_so_in_one_sentence():
    # Qt would abort the process with advice about platform plugins (exit 134); a server has no display.
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run(
        [sys.executable, "-m", "gui.entry", "--demo"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env
    )
    assert_one_sentence(result, 2, "no display", "depthbook record", "xvfb-run")


def test_record_ends_after_its_duration_while_the_exchange_cannot_be_reached(tmp_path):
    # A scheduled run (cron, a timer) must end on time, also while it waits for the exchange to come back.
    dead = "127.0.0.1:9"  # the discard port: nothing listens
    result = depthbook(
        "record", "--symbols", "BTCUSDT", "--db", str(tmp_path / "db"), "--ws-url", f"ws://{dead}",
        "--rest-url", f"http://{dead}", "--duration", "2", timeout=30,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "waiting for the exchange" in result.stdout
    said = "depthbook: the exchange could not be reached within --duration 2 s; nothing was recorded"
    assert said in result.stderr.splitlines() and "Traceback" not in result.stderr
