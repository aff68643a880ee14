"""TaskSupervisor: the feed's background tasks, and what happens when one of them fails unexpectedly.

Every task starts through core.tasks.spawn, which logs an unexpected exception once, with its traceback.
The supervisor then keeps the failure as one sentence (`failure`) and passes it on (`on_report`); a task
started with `keep_running` is started again after a backoff delay, the delays growing while it keeps
failing and starting over once it ran `healthy_after` seconds. A fatal report halts: nothing restarts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

from core.feed.backoff import backoff
from core.tasks import cancel_and_wait, spawn

log = logging.getLogger(__name__)


class TaskSupervisor:
    def __init__(
        self,
        on_report: Callable[[str, bool], None],
        restart_initial: float = 1.0,
        restart_max: float = 60.0,
        healthy_after: float = 30.0,
    ) -> None:
        self.on_report = on_report  # (sentence, fatal)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.failure: str | None = None  # the last one reported
        self.halted = False  # a fatal failure was reported
        self.stopping = False
        self._initial, self._max, self._healthy_after = restart_initial, restart_max, healthy_after
        self._delays: dict[str, Iterator[float]] = {}  # task name -> its restart delays
        self._restarts: dict[str, asyncio.TimerHandle] = {}

    def report(self, sentence: str, exc: BaseException | None = None, *, fatal: bool = False) -> None:
        """A core.tasks.FailureHandler: keep and pass on a failure that was already logged."""
        self.failure = sentence
        self.halted = self.halted or fatal
        self.on_report(sentence, fatal)

    def spawn(self, coro: Coroutine[Any, Any, None], name: str, what: str) -> asyncio.Task[Any]:
        """A task whose failure is reported; what to do next is up to whoever waits for it."""
        return spawn(coro, name, what=what, on_failure=self.report, tasks=self.tasks)

    def keep_running(self, name: str, what: str, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `run()` as a task; after an unexpected exception report it and run it again after a delay."""
        started = time.monotonic()

        def failed(sentence: str, exc: BaseException) -> None:
            self.report(sentence, exc)
            if self.stopping or self.halted:
                return
            if name not in self._delays or time.monotonic() - started >= self._healthy_after:
                self._delays[name] = backoff(self._initial, self._max)
            delay = next(self._delays[name])
            log.warning("restarting task=%s in_s=%.2f", name, delay)
            self._restarts[name] = asyncio.get_running_loop().call_later(delay, restart)

        def restart() -> None:
            self._restarts.pop(name, None)
            if not self.stopping and not self.halted:
                self.keep_running(name, what, run)

        spawn(run(), name, what=what, on_failure=failed, tasks=self.tasks)

    async def stop(self) -> None:
        """Cancel every task and pending restart, and wait; raises nothing (see core.tasks.cancel_and_wait)."""
        self.stopping = True
        for handle in self._restarts.values():
            handle.cancel()
        self._restarts.clear()
        # A task may start another as it ends; the caller's own task (if it is one of them) is left running.
        while others := self.tasks - {asyncio.current_task()}:
            await cancel_and_wait(others)
