"""The recorder's time: what second it is, and sleeping until a given second unless told to stop.

`SystemClock` is the wall clock (`time.time`) with real waits, the default everywhere. `ManualClock` is
virtual time for tests and simulations: it stands still until `advance()` moves it, and each advance
wakes the sleepers that are due and waits until they have done their work and sleep again, so that a
test can step a recorder through seconds as fast as the work itself takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the Unix epoch."""
        ...

    async def sleep_until(self, deadline: float, stop: asyncio.Event) -> bool:
        """Sleep until `now() >= deadline` or `stop` is set; True if `stop` is set."""
        ...


class SystemClock:
    """The wall clock and real waits (asyncio's timers)."""

    def __init__(self, time_fn: Callable[[], float] = time.time) -> None:
        self._time = time_fn

    def now(self) -> float:
        return self._time()

    async def sleep_until(self, deadline: float, stop: asyncio.Event) -> bool:
        delay = deadline - self._time()
        if delay > 0 and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        return stop.is_set()


SYSTEM_CLOCK = SystemClock()


def as_clock(clock: Clock | Callable[[], float]) -> Clock:
    """A Clock as is; a bare time function (the older `clock=time.time` style) as a SystemClock on it."""
    if isinstance(clock, Clock):
        return clock
    if callable(clock):
        return SystemClock(clock)
    raise TypeError(f"a clock has now() and sleep_until(), or is a time function; got {clock!r}")


class ManualClock:
    """Virtual time that moves only when `advance()` is awaited.

    `advance(seconds)` moves the time forward `step` seconds at a time (one by default). At each step it
    wakes, in deadline order, the tasks whose deadline has come, and returns to the next step only once
    each of them sleeps on this clock again or has finished: a recorder woken at a second boundary has
    written that second's tick by then."""

    def __init__(self, start: float, *, settle_timeout: float = 10.0) -> None:
        self._now = float(start)
        self._settle_timeout = settle_timeout
        self._order = itertools.count()
        # (deadline, order, task, woken): a heap of the tasks sleeping on this clock
        self._sleepers: list[tuple[float, int, asyncio.Task, asyncio.Future]] = []
        self._changed: asyncio.Event | None = None
        self._watched: set[asyncio.Task] = set()  # woken tasks whose end also counts as settling

    def now(self) -> float:
        return self._now

    @property
    def sleeping(self) -> int:
        """How many tasks sleep on this clock now."""
        return sum(not woken.done() for *_, woken in self._sleepers)

    async def sleep_until(self, deadline: float, stop: asyncio.Event) -> bool:
        if stop.is_set() or deadline <= self._now:
            await asyncio.sleep(0)  # a sleep is always a point where other tasks run
            return stop.is_set()
        task = asyncio.current_task()
        assert task is not None, "sleep_until runs in a task"
        woken = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._order), task, woken))
        self._notify()
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({woken, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not woken.done():
                woken.cancel()  # stopped (or cancelled) before its time: no longer a sleeper
            self._notify()
        return stop.is_set()

    async def until_sleeping(self, count: int = 1) -> None:
        """Wait (in real time, up to the settle timeout) until at least `count` tasks sleep on this clock."""
        await self._until(lambda: self.sleeping >= count, f"{count} task(s) sleeping on the clock")

    async def advance(self, seconds: float, *, step: float = 1.0, settle: bool = True) -> None:
        """Move the time forward by `seconds`, `step` at a time, letting each woken task finish its work.

        `settle=False` wakes the due tasks and returns without waiting for their work: for a test whose task
        is held up on purpose (a write kept busy), which then waits for what it expects (`until_sleeping`)."""
        if seconds < 0 or step <= 0:
            raise ValueError("time only moves forward, by positive steps")
        target = self._now + seconds
        while self._now < target:
            self._now = min(target, self._now + step)
            await self._wake_due(settle)

    async def _wake_due(self, settle: bool = True) -> None:
        woken_tasks: list[asyncio.Task] = []
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, task, woken = heapq.heappop(self._sleepers)
            if not woken.done():
                woken.set_result(None)
                woken_tasks.append(task)
        if not settle:
            await asyncio.sleep(0)
            return
        for task in woken_tasks:
            if task not in self._watched:
                self._watched.add(task)
                task.add_done_callback(self._on_task_done)
            await self._until(
                lambda task=task: task.done() or self._is_sleeping(task),
                f"{task.get_name()} to finish its work at t={self._now:.3f}",
            )

    def _is_sleeping(self, task: asyncio.Task) -> bool:
        return any(t is task and not woken.done() for _, _, t, woken in self._sleepers)

    def _on_task_done(self, task: asyncio.Task) -> None:
        self._watched.discard(task)
        self._notify()

    def _notify(self) -> None:
        self._sleepers = [s for s in self._sleepers if not s[3].done()]
        heapq.heapify(self._sleepers)
        if self._changed is not None:
            self._changed.set()

    async def _until(self, condition: Callable[[], bool], what: str) -> None:
        if self._changed is None:
            self._changed = asyncio.Event()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settle_timeout
        while not condition():
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {self._settle_timeout:g} s waiting for {what}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
