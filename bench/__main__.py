"""`python -m bench [NAME ...] [--quick] [--long] [--json PATH]`: run the benchmarks, print figures beside targets.

With no NAME every benchmark runs, each in a fresh interpreter (so that one's imports, garbage and threads do
not weigh on the next), and a summary follows. With NAMEs they run in this process.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
import time

from bench import _report

BENCHMARKS = {
    "book": "parse + sequence check + apply of BTCUSDT-shaped frames, beside cryptofeed 2.4.1 (~30 s)",
    "latency": "frame receipt to BookUpdated, 200 symbols x 10 msg/s over loopback (~40 s)",
    "memory": "memory per order book at limits 1000 and 5000 (~3 s)",
    "storage": "put/get, encoding, one tick, range reads, order flow, series, bytes on disk (~20 s)",
    "recorder": "persistence CPU and completeness at 20 symbols (60 s; --quick 20 s; --long 600 s)",
    "archive": "archive throughput to a local SeaweedFS, bytes per symbol-day vs RocksDB, reading 30 days back (~2 min; --quick reads 7)",
    "history": "history browser on 30 days of one symbol: library, rollups, draws, zoom, cursor (~5 min)",
    "fast_market": "a fast market's every stored snapshot against the truth; weight per symbol-hour (~2.5 min)",
    "futures": "USDⓈ-M futures: a fast market through /fapi/v1 and pu chains, every stored snapshot against the truth (~2 min)",
    "room_drops": "levels of room the busiest simulated books lose in 0.25-1 s: the basis of LOSING_ROOM (~1 min; --quick ~10 s)",
    "sync_storm": "150 symbols syncing at once: cheap start (shallow syncs) against full depth (~3.5 min)",
    "compaction": "RocksDB's CPU over a whole market's simulated hour, universal against level compaction (~2 min; --quick 20 simulated minutes)",
    "tick": "the recorder's once-a-second work for 1,500 books alone: capture, executor, minute close (~2 min; --quick ~1 min)",
    "whole_market": "1,500 symbols of long-tailed activity recorded: live, completeness, CPU, RSS, µs/event; µs/event at 50 first (~17 min; --quick 300 symbols, ~4 min)",
    "app": "the desktop app with 20 symbols live and recording: loop lag, CPU, RSS, first window (~2.5 min)",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Depthbook benchmarks; each figure is printed beside its target with PASS or MISS.",
        epilog="\n".join(f"  {name:<11} {text}" for name, text in BENCHMARKS.items()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="short runs (smaller corpora, fewer rounds)")
    parser.add_argument("--long", action="store_true", help="recorder: the 10-minute run of the issue")
    parser.add_argument("--json", metavar="PATH", help="append this run's figures to a JSON file")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)  # run by `python -m bench`
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")

    if not args.child:
        print(f"Depthbook benchmarks on {_report.machine()}", flush=True)
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}; {'quick' if args.quick else 'full'} run", flush=True)
    if args.names:
        figures, failed = _run_here(args.names, args.quick, args.long)
    else:
        figures, failed = _run_each_apart(list(BENCHMARKS), args)
    if not args.child:
        _summary(figures, failed)
    if args.json:
        _report.save(args.json, figures, sys.argv[1:] if argv is None else argv)
    return 1 if failed else 0


def _run_here(names: list[str], quick: bool, long: bool) -> tuple[list[_report.Figure], list[str]]:
    figures: list[_report.Figure] = []
    failed: list[str] = []
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        started = time.monotonic()
        try:
            figures += module.run(quick=quick, long=long)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed.append(name)
            print(f"\n!! {name} failed: {exc.__class__.__name__}: {exc}", flush=True)
        print(f"   ({name}: {time.monotonic() - started:.0f} s)", flush=True)
    return figures, failed


def _run_each_apart(names: list[str], args: argparse.Namespace) -> tuple[list[_report.Figure], list[str]]:
    figures: list[_report.Figure] = []
    failed: list[str] = []
    for name in names:
        fd, path = tempfile.mkstemp(prefix=f"depthbook-bench-{name}-", suffix=".json")
        os.close(fd)
        os.unlink(path)
        cmd = [sys.executable, "-m", "bench", name, "--child", "--json", path]
        cmd += ["--quick"] * args.quick + ["--long"] * args.long
        code = subprocess.call(cmd)
        if os.path.exists(path):
            figures += _report.load(path)
            os.unlink(path)
        if code != 0:
            failed.append(name)
    return figures, failed


def _summary(figures: list[_report.Figure], failed: list[str]) -> None:
    targeted = [f for f in figures if f.ok is not None]
    if not targeted and not failed:
        return
    print("\n== summary: figures with a target")
    for fig in targeted:
        print(_report.line(fig, with_bench=True))
    passed = sum(1 for f in targeted if f.ok)
    print(
        f"\n{passed} of {len(targeted)} targets met"
        + (f"; failed to run: {', '.join(failed)}" if failed else "")
    )


if __name__ == "__main__":
    sys.exit(main())
