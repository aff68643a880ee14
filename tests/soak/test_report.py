"""The soak's figures from its samples: memory judged flat or growing over the longest run, and the hard promises."""

from __future__ import annotations

from soak.report import hard_failures, resources


def _samples(rss_at, until: int = 1800) -> list[tuple[float, float, float]]:
    return [(float(t), rss_at(t), 12.0) for t in range(0, until, 2)]


def test_memory_is_flat_when_it_stops_growing_and_not_when_it_keeps_growing():
    warm_then_flat = resources(_samples(lambda t: 80 + min(t, 300) / 10), 1800, [0.0])
    assert warm_then_flat["rss_mib"]["flat"] is True
    assert warm_then_flat["rss_mib"]["judged_over_s"] == [900, 1800]
    leaking = resources(_samples(lambda t: 80 + t / 60), 1800, [0.0])  # 1 MiB a minute: 60 % an hour
    assert leaking["rss_mib"]["flat"] is False
    assert leaking["rss_mib"]["slope_mib_per_min"] == 1.0


def test_a_restart_is_judged_on_the_longest_run_not_on_its_warm_up():
    # Flat until the kill at 1140 s, then a new process warming up from 30 MiB.
    samples = _samples(lambda t: 100.0 if t < 1140 else 30 + (t - 1140) / 5)
    figures = resources(samples, 1800, [0.0, 1140.0])
    assert figures["rss_mib"]["judged_over_s"] == [570, 1140]
    assert figures["rss_mib"]["flat"] is True
    assert [m["minute"] for m in figures["over_time"]] == list(range(30))


def _report(**changes) -> dict:
    report = {
        "truth": {"wrong": 0, "unchecked": 0, "damaged": 0},
        "completeness": {"unexplained_seconds": 0},
        "target": {"unexpected_exits": [], "final_exit_code": 0},
        "soak": {"kinds_missing": []},
    }
    for path, value in changes.items():
        section, key = path.split("__")
        report[section][key] = value
    return report


def test_each_broken_promise_is_one_sentence():
    assert hard_failures(_report()) == []
    assert hard_failures(_report(truth__wrong=2)) == ["2 stored snapshots differ from the simulator's true book"]
    assert hard_failures(_report(truth__unchecked=1)) == ["1 stored snapshots could not be checked"]
    assert hard_failures(_report(completeness__unexplained_seconds=3)) == [
        "3 missing seconds have no gap record and are outside the kill window"
    ]
    assert hard_failures(_report(target__unexpected_exits=[1])) == [
        "the process under soak exited unexpectedly: 1"
    ]
    assert hard_failures(_report(target__final_exit_code=1)) == ["the final stop exited with code 1"]
    assert hard_failures(_report(soak__kinds_missing=["kill"])) == ["fault kinds never applied: kill"]


def test_growth_no_faster_than_the_memtables_fill_is_flat():
    growing = _samples(lambda t: 100 + 3.5 * t / 60)  # 3.5 MiB a minute, as RocksDB's memtables fill
    assert resources(growing, 1800, [0.0])["rss_mib"]["flat"] is False
    figures = resources(growing, 1800, [0.0], memtables=3.8)
    assert figures["rss_mib"]["flat"] is True
    assert figures["rss_mib"]["memtables_mib_per_min"] == 3.8
    assert resources(growing, 1800, [0.0], memtables=1.0)["rss_mib"]["flat"] is False
