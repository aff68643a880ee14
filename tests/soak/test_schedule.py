"""The soak's schedule: every fault kind at every length from 2 minutes up, each big fault in its own slot."""

from __future__ import annotations

import itertools

import pytest

from soak.schedule import FAULT_KINDS, GAP, KILL, RESTART_SECONDS, WARMUP, build_schedule

SYMBOLS = [f"SOAK{i:03d}USDT" for i in range(50)]
FAST = SYMBOLS[9::10]


@pytest.mark.parametrize("minutes", [2, 3, 10, 30, 120])
def test_every_fault_kind_is_scheduled_at_every_length(minutes):
    schedule = build_schedule(minutes, SYMBOLS, FAST, seed=minutes)
    assert {f.kind for f in schedule} == set(FAULT_KINDS)
    total = minutes * 60
    assert all(f.at >= WARMUP and f.until < total for f in schedule)
    # The nominal rates: a gap every ~30 s, a disconnect every 5 minutes (at least one).
    gaps = [f for f in schedule if f.kind == GAP]
    assert 0.6 * (total - 30) / 30 <= len(gaps) <= 1.5 * (total - 30) / 30 + 1
    assert all(len(f.symbols) == 1 and f.symbols[0] in SYMBOLS for f in gaps)
    assert sum(f.kind == "disconnect" for f in schedule) == max(1, round(total / 300))
    assert [f.symbols for f in schedule if f.kind == "fast_market"] == [tuple(FAST)]


@pytest.mark.parametrize("minutes", [2, 30])
def test_big_faults_do_not_overlap_and_the_kill_leaves_room_for_the_restart(minutes):
    big = [f for f in build_schedule(minutes, SYMBOLS, FAST, seed=7) if f.kind != GAP]
    for before, after in itertools.pairwise(big):
        room = RESTART_SECONDS if before.kind == KILL else 0.0
        assert after.at >= before.until + room, (before, after)


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    assert build_schedule(5, SYMBOLS, FAST, seed=3) == build_schedule(5, SYMBOLS, FAST, seed=3)
    assert build_schedule(5, SYMBOLS, FAST, seed=3) != build_schedule(5, SYMBOLS, FAST, seed=4)


def test_a_soak_too_short_for_its_faults_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match=r"a soak needs at least 1\.5 minutes, got 1$"):
        build_schedule(1, SYMBOLS, FAST)
