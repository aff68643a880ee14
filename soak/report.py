"""The soak's figures: built from the accounting, the truth check and the samples, printed and written as JSON."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import defaultdict
from pathlib import Path

from soak.accounting import Accounting, fault_recovery, percentile, seconds_lost
from soak.memtables import slope

FLAT_GROWTH = 0.10  # memory is flat if the second half's trend would add less than 10 % of it in an hour


def _ms(value: float | None) -> float | None:
    return None if value is None else round(1000 * value, 1)


def _next_fault_at(executed: list[dict], i: int) -> float:
    """When the next fault that takes over `executed[i]`'s symbols began (math.inf: none did): for a fault on some
    symbols, the next on any of them or on all; for a fault on all, the next on all (a gap on one symbol amid a
    silence is not the silence's end)."""
    mine = set(executed[i]["symbols"])
    later = (
        f["at"] for f in executed[i + 1 :]
        if f["at"] >= executed[i]["at"] and (not f["symbols"] or mine & set(f["symbols"]))
    )  # fmt: skip
    return min(later, default=math.inf)


def recovery(accounting: Accounting, executed: list[dict], disk_recoveries: list[float]) -> dict:
    """Per kind of fault: how many, recovery p50/p99/max (seconds) over every affected symbol, seconds lost."""
    times: dict[str, list[float]] = defaultdict(list)
    lost: dict[str, int] = defaultdict(int)
    count: dict[str, int] = defaultdict(int)
    for i, fault in enumerate(executed):
        kind = fault["kind"]
        count[kind] += 1
        next_at = _next_fault_at(executed, i)
        lost[kind] += seconds_lost(accounting, fault, next_at)
        if kind != "disk_full":
            times[kind] += fault_recovery(accounting, fault, next_at)
    times["disk_full"] = list(disk_recoveries)
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        kind: {
            "count": count[kind],
            "p50_s": rounded(percentile(times[kind], 0.5)),
            "p99_s": rounded(percentile(times[kind], 0.99)),
            "max_s": rounded(max(times[kind], default=None)),
            "seconds_lost": lost[kind],
        }
        for kind in sorted(count)
    }


def _slope_per_minute(points: list[tuple[float, float]]) -> float | None:
    return slope([(t / 60, v) for t, v in points])


def resources(
    samples: list[tuple[float, float, float]], total: float, starts: list[float], memtables: float | None = None
) -> dict:
    """RSS and CPU of the process under soak: over time (per minute), and whether memory is flat: the slope of RSS
    over the second half of its longest run (a restart after the kill starts small and grows as it warms up), less
    `memtables`, the MiB a minute RocksDB's memtables grow by design (soak.memtables). `starts` are the seconds
    (soak time) at which each run began."""
    per_minute: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for t, rss, cpu in samples:
        per_minute[int(t // 60)].append((rss, cpu))
    over_time = [
        {"minute": m, "rss_mib": max(r for r, _ in v), "cpu_pct": round(statistics.fmean(c for _, c in v), 1)}
        for m, v in sorted(per_minute.items())
    ]
    bounds = [*sorted(starts), total]
    first, last = max(itertools.pairwise(bounds), key=lambda run: run[1] - run[0])
    half = [(t, rss) for t, rss, _ in samples if (first + last) / 2 <= t <= last]
    slope = _slope_per_minute(half)
    mean_rss = statistics.fmean(r for _, r in half) if half else None
    cpus = [c for _, _, c in samples]
    return {
        "rss_mib": {
            "first": samples[0][1] if samples else None,
            "last": samples[-1][1] if samples else None,
            "max": max((r for _, r, _ in samples), default=None),
            "judged_over_s": [round((first + last) / 2), round(last)],
            "slope_mib_per_min": None if slope is None else round(slope, 3),
            "memtables_mib_per_min": None if memtables is None else round(memtables, 3),
            "flat": None if slope is None or mean_rss is None else (slope - (memtables or 0.0)) * 60 < FLAT_GROWTH * mean_rss,
        },
        "cpu_pct_of_one_core": {
            "mean": round(statistics.fmean(cpus), 1) if cpus else None,
            "p95": percentile(cpus, 0.95),
        },
        "over_time": over_time,
        "samples": [list(sample) for sample in samples],  # (t s, RSS MiB, CPU %) every few seconds
    }


def write_latency(latencies: list[float], outside_faults: list[float]) -> dict:
    return {
        "what": "second boundary to its snapshots readable by a secondary that catches up every 0.1 s",
        "seconds_seen": len(latencies),
        "p50_ms": _ms(percentile(latencies, 0.5)),
        "p99_ms": _ms(percentile(latencies, 0.99)),
        "max_ms": _ms(max(latencies, default=None)),
        "p99_outside_disk_full_and_kill_ms": _ms(percentile(outside_faults, 0.99)),
    }


def loop_lag(lines: list[tuple[float, float, float]]) -> dict:
    return {
        "what": "the app's LoopLagMonitor (core/looplag.py): a 50 ms sleep's overshoot, p99 per minute",
        "per_minute": [{"t_s": t, "p99_ms": p99, "max_ms": mx} for t, p99, mx in lines],
        "worst_p99_ms": max((p99 for _, p99, _ in lines), default=None),
        "median_p99_ms": statistics.median([p99 for _, p99, _ in lines]) if lines else None,
    }


def hard_failures(report: dict) -> list[str]:
    """The promises a soak must keep; each broken one is a sentence (and exit status 1)."""
    failures = []
    truth = report["truth"]
    if truth["wrong"]:
        failures.append(f"{truth['wrong']} stored snapshots differ from the simulator's true book")
    if truth["unchecked"] or truth["damaged"]:
        failures.append(f"{truth['unchecked'] + truth['damaged']} stored snapshots could not be checked")
    unexplained = report["completeness"]["unexplained_seconds"]
    if unexplained:
        failures.append(f"{unexplained} missing seconds have no gap record and are outside the kill window")
    for crash in report["target"]["unexpected_exits"]:
        failures.append(f"the process under soak exited unexpectedly: {crash}")
    if report["target"]["final_exit_code"] != 0:
        failures.append(f"the final stop exited with code {report['target']['final_exit_code']}")
    if missing := report["soak"]["kinds_missing"]:
        failures.append(f"fault kinds never applied: {', '.join(missing)}")
    return failures


def show(report: dict) -> str:
    """The report as a few lines for a person."""
    c, t, w, r = report["completeness"], report["truth"], report["write_latency"], report["resources"]
    lines = [
        f"soak: {report['soak']['minutes']:g} min, {len(report['soak']['symbols'])} symbols, "
        f"{len(report['soak']['executed'])} faults, mode {report['soak']['mode']}",
        f"  stored snapshots compared with the truth: {t['checked']}, wrong {t['wrong']}, unchecked "
        f"{t['unchecked'] + t['damaged']}",
        f"  completeness {c['completeness_pct']} % ({c['completeness_outside_kill_pct']} % outside the kill window), "
        f"worst {c['worst_symbol']['symbol']} {c['worst_symbol']['completeness_pct']} %; "
        f"unexplained seconds {c['unexplained_seconds']}",
        f"  gap reasons: {c['gap_reasons']}",
        f"  write latency p50 {w['p50_ms']} ms, p99 {w['p99_ms']} ms "
        f"(outside disk-full and kill: {w['p99_outside_disk_full_and_kill_ms']} ms), max {w['max_ms']} ms",
        f"  RSS {r['rss_mib']['first']} -> {r['rss_mib']['last']} MiB (max {r['rss_mib']['max']}), slope "
        f"{r['rss_mib']['slope_mib_per_min']} MiB/min over t={r['rss_mib']['judged_over_s']} s (memtables "
        f"{r['rss_mib']['memtables_mib_per_min']} MiB/min), flat: "
        f"{r['rss_mib']['flat']}; CPU mean "
        f"{r['cpu_pct_of_one_core']['mean']} % of a core, p95 {r['cpu_pct_of_one_core']['p95']} %",
        "  recovery (s, from the fault's end to the first stored snapshot of each affected symbol):",
    ]
    for kind, fig in report["recovery"].items():
        lines.append(
            f"    {kind:<16} n={fig['count']:<3} p50 {fig['p50_s']}  p99 {fig['p99_s']}  max {fig['max_s']}  "
            f"seconds lost {fig['seconds_lost']}"
        )
    if "loop_lag" in report:
        lag = report["loop_lag"]
        lines.append(f"  app event-loop lag p99 per minute: worst {lag['worst_p99_ms']} ms, median {lag['median_p99_ms']} ms")
    failures = report["failures"]
    lines.append("  PASSED: every hard promise held" if not failures else "  FAILED: " + "; ".join(failures))
    return "\n".join(lines)


def write(report: dict, path: str) -> None:
    Path(path).write_text(json.dumps(report, indent=1, default=str) + "\n")
