"""`python -m fuzz` (`make fuzz`): every fuzz target at length; prints how many inputs ran and how long.

    python -m fuzz [--seconds S] [--examples N] [--only NAME,...] [--no-atheris]

Budget: `--seconds` (default $FUZZ_SECONDS, else 600) is shared evenly among the runs; `--examples` (default
$FUZZ_EXAMPLES) instead stops each run after that many inputs. Each hypothesis target runs with fresh random
inputs (no derandomize, no example database); with atheris installed, the byte-level targets also get a
coverage-guided run seeded with the real frames of tests/fixtures. Exit status 1 if any property broke; the
failing input is printed (hypothesis: shrunk, with a reproduce blob; atheris: saved under the temp directory
named at the end).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import msgpack
from hypothesis import HealthCheck, given, settings

from fuzz.targets import BY_NAME, RUNS, TARGETS, Target, counted

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "binance"
ATHERIS_TARGETS = ["wire-bytes", "snapshot-bytes"]
JSON_TOKENS = ['"stream"', '"data"', '"e"', '"depthUpdate"', '"E"', '"s"', '"U"', '"u"', '"pu"', '"b"', '"a"',
               '"lastUpdateId"', '"bids"', '"asks"', '"serverShutdown"', '"result"', '"id"', '"error"', '"code"',
               '"msg"', '"BTCUSDT"', '"0.00000000"', '"57710.99000000"', '[[', ']]', '],[', '","', '":', 'null',
               'true', '1e5', '-1', '.', '\\u0661']  # fmt: skip


@dataclass
class Result:
    target: str
    engine: str
    inputs: int
    seconds: float
    failure: str = ""


def run_hypothesis(target: Target, seconds: float, examples: int | None) -> Result:
    """Run `target` in chunks of fresh random inputs until the time or example budget is spent."""
    runner = counted(target)
    start = time.monotonic()
    before = RUNS[target.name]
    chunk = 50
    failure = ""
    while True:
        done = RUNS[target.name] - before
        elapsed = time.monotonic() - start
        if (examples is not None and done >= examples) or (examples is None and elapsed >= seconds):
            break
        if done and elapsed > 0:  # size the next chunk to about 5 s, and not past the budget
            rate = done / elapsed
            left = (examples - done) / rate if examples is not None else seconds - elapsed
            chunk = max(10, int(rate * min(5.0, max(left, 0.1))))
        if examples is not None:
            chunk = min(chunk, examples - done)
        test = settings(
            max_examples=chunk,
            derandomize=False,
            database=None,
            deadline=None,
            print_blob=True,
            suppress_health_check=list(HealthCheck),
        )(given(target.strategy)(runner))
        try:
            test()
        except Exception as exc:  # the property broke: hypothesis has shrunk and printed the input
            failure = "".join(traceback.format_exception(exc))
            break
    return Result(target.name, "hypothesis", RUNS[target.name] - before, time.monotonic() - start, failure)


def seed_corpus(name: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    seeds: list[bytes] = []
    if name == "wire-bytes":
        for path in sorted(FIXTURES.glob("02_*/*.jsonl")):
            seeds += [line.encode() for line in path.read_text().splitlines()[:10]]
        seeds += [p.read_bytes() for p in sorted(FIXTURES.glob("04_single_messages/spot_*depth*.json"))]
        seeds += [b'{"result":null,"id":1}', b'{"error":{"code":2,"msg":"Invalid request"},"id":2}',
                  b'{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":1770123456789}}']  # fmt: skip
    else:
        bids = [("57710.99000000", "1.53088000"), ("57710.98000000", "0.10000000")]
        asks = [("57711.00000000", "6.41608000")]
        seeds += [msgpack.packb((bids, asks, 51157289107, 1737158400)), msgpack.packb(([], [], 0, 0))]
    for i, seed in enumerate(seeds):
        (directory / f"seed-{i:03d}").write_bytes(seed)


def run_atheris(name: str, seconds: float, examples: int | None, work: Path) -> Result:
    corpus = work / f"corpus-{name}"
    seed_corpus(name, corpus)
    dictionary = work / "json.dict"
    dictionary.write_text(_dict_text())
    flags = [f"-max_total_time={max(1, round(seconds))}", f"-artifact_prefix={work}/", "-print_final_stats=1"]
    if examples is not None:
        flags = [f"-runs={examples}", f"-artifact_prefix={work}/", "-print_final_stats=1"]
    if name == "wire-bytes":
        flags.append(f"-dict={dictionary}")
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "fuzz.atheris_run", name, *flags, str(corpus)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    elapsed = time.monotonic() - start
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", proc.stderr) or re.search(
        r"Done (\d+) runs", proc.stderr
    )
    failure = "" if proc.returncode == 0 else proc.stderr[-4000:]
    return Result(name, "atheris", int(runs.group(1)) if runs else 0, elapsed, failure)


def _dict_text() -> str:
    """libFuzzer's dictionary format: one quoted token a line, with \\ and " escaped."""
    return "".join('"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"\n' for t in JSON_TOKENS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS") or 600))
    env_examples = os.environ.get("FUZZ_EXAMPLES")
    parser.add_argument("--examples", type=int, default=int(env_examples) if env_examples else None)
    parser.add_argument("--only", default="", help="comma-separated target names: " + ", ".join(BY_NAME))
    parser.add_argument("--no-atheris", action="store_true")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or [t.name for t in TARGETS]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}")
    atheris = not args.no_atheris and importlib.util.find_spec("atheris") is not None
    runs = [(n, "hypothesis") for n in names]
    runs += [(n, "atheris") for n in names if atheris and n in ATHERIS_TARGETS]
    share = args.seconds / len(runs)
    budget = f"{args.examples:,} inputs per run" if args.examples is not None else f"{share:.0f} s per run"
    print(f"fuzzing {len(runs)} runs, {budget}" + ("" if atheris else " (atheris not installed)"), flush=True)
    work = Path(tempfile.mkdtemp(prefix="depthbook-fuzz-"))
    results = []
    for name, engine in runs:
        if engine == "hypothesis":
            result = run_hypothesis(BY_NAME[name], share, args.examples)
        else:
            result = run_atheris(name, share, args.examples, work)
        results.append(result)
        status = "FAILED" if result.failure else "ok"
        rate = result.inputs / result.seconds if result.seconds else 0
        print(f"  {name:<16} {engine:<11} {result.inputs:>12,} inputs {result.seconds:>8.1f} s "
              f"{rate:>10,.0f}/s  {status}", flush=True)  # fmt: skip
        if result.failure:
            print(result.failure, file=sys.stderr, flush=True)
    total = sum(r.inputs for r in results)
    seconds = sum(r.seconds for r in results)
    failed = [f"{r.target} ({r.engine})" for r in results if r.failure]
    print(
        f"total: {total:,} inputs in {seconds:.1f} s; "
        + (f"FAILED: {', '.join(failed)}" if failed else "no failure")
    )
    if failed:
        print(f"atheris inputs that failed, if any, are under {work}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
