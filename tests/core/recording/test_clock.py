"""The recorder's clocks: the wall clock with real waits, and virtual time that tests step by hand."""

import asyncio
import time

import pytest

from core.recording.clock import SYSTEM_CLOCK, Clock, ManualClock, SystemClock, as_clock


@pytest.mark.asyncio
async def test_the_system_clock_is_the_wall_clock_and_a_stop_ends_its_sleep():
    before = time.time()
    assert before <= SYSTEM_CLOCK.now() <= time.time()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_soon(stop.set)
    # a sleep of an hour that the stop cuts short
    assert await asyncio.wait_for(SYSTEM_CLOCK.sleep_until(time.time() + 3600, stop), 5) is True
    assert await SYSTEM_CLOCK.sleep_until(time.time() - 1, asyncio.Event()) is False  # already due


def test_a_bare_time_function_becomes_a_system_clock_on_it():
    clock = as_clock(lambda: 42.5)
    assert isinstance(clock, SystemClock) and clock.now() == 42.5
    manual = ManualClock(7)
    assert as_clock(manual) is manual and isinstance(manual, Clock)
    with pytest.raises(TypeError):
        as_clock(3.0)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_the_manual_clock_wakes_sleepers_in_deadline_order_and_waits_for_their_work():
    clock = ManualClock(100.0)
    stop = asyncio.Event()
    seen: list[tuple[str, float]] = []

    async def sleeper(name: str, every: float) -> None:
        deadline = clock.now() + every
        while not await clock.sleep_until(deadline, stop):
            await asyncio.sleep(0.01)  # real work after waking, which advance() waits for
            seen.append((name, clock.now()))
            deadline += every

    tasks = [asyncio.create_task(sleeper("slow", 2.0)), asyncio.create_task(sleeper("fast", 1.0))]
    await clock.until_sleeping(2)
    await clock.advance(0.5)
    assert seen == [] and clock.now() == 100.5
    await clock.advance(2.5)  # steps to 101.5, 102.5, 103.0
    assert seen == [("fast", 101.5), ("slow", 102.5), ("fast", 102.5), ("fast", 103.0)]
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 5)  # the stop wakes them without any time passing
    assert clock.now() == 103.0 and clock.sleeping == 0
    with pytest.raises(ValueError):
        await clock.advance(-1)


@pytest.mark.asyncio
async def test_the_manual_clock_fails_when_a_woken_task_never_settles():
    clock = ManualClock(0.0, settle_timeout=0.2)
    stuck = asyncio.Event()

    async def never_settles() -> None:
        await clock.sleep_until(1.0, asyncio.Event())
        await stuck.wait()  # neither sleeps on the clock again nor finishes

    task = asyncio.create_task(never_settles())
    await clock.until_sleeping()
    with pytest.raises(TimeoutError, match=r"to finish its work at t=1\.000"):
        await clock.advance(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.asyncio
async def test_an_advance_without_settling_returns_while_the_woken_task_is_still_at_work():
    clock = ManualClock(0.0, settle_timeout=0.2)
    release = asyncio.Event()
    done: list[float] = []

    async def held_up() -> None:
        await clock.sleep_until(1.0, asyncio.Event())
        await release.wait()  # held by the test, as a recorder is by a busy write
        done.append(clock.now())

    task = asyncio.create_task(held_up())
    await clock.until_sleeping()
    await clock.advance(1, settle=False)  # would time out if it waited for the task
    assert clock.now() == 1.0 and clock.sleeping == 0 and done == []
    release.set()
    await asyncio.wait_for(task, 5)
    assert done == [1.0]
