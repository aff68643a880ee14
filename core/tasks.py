"""Background tasks that never fail silently: the one way Depthbook starts a task it does not await.

`spawn` starts a task, keeps a strong reference to it until it ends (the loop keeps only a weak one), and
when it ends with an unexpected exception logs that exception ONCE, at ERROR with its traceback, and hands
the caller one sentence for people (`on_failure(sentence, exc)`): the app puts it in its status bar,
`depthbook record` prints it on stderr and exits non-zero, the feed decides whether to restart the task.
Cancellation is not a failure. `cancel_and_wait` is the matching shutdown: it cancels tasks, waits for
them, raises nothing, and logs any exception nobody has reported yet — it never swallows one silently.

Pure asyncio, no Qt: the feed, the simulator and the app all use it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)

FailureHandler = Callable[[str, BaseException], None]
"""Told once per failed task: (one sentence for people, the exception)."""

_tasks: set[asyncio.Task[Any]] = set()  # strong references of tasks spawned without a `tasks` set
_reported: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()  # tasks whose failure `spawn` reports


def error_text(exc: BaseException) -> str:
    """The exception as a phrase without a final period; its class name when it has no message."""
    text = str(exc).strip().rstrip(".")
    return text or type(exc).__name__


def failure_sentence(what: str, exc: BaseException) -> str:
    """`The <what> stopped unexpectedly: <error>.`"""
    return f"The {what} stopped unexpectedly: {error_text(exc)}."


def spawn(
    coro: Coroutine[Any, Any, Any],
    name: str,
    *,
    what: str | None = None,
    on_failure: FailureHandler | None = None,
    tasks: set[asyncio.Task[Any]] | None = None,
) -> asyncio.Task[Any]:
    """Run `coro` as a task named `name`; report it if it ends with an exception.

    `what` names the task for people in the failure sentence (default: `name`). The task is kept in `tasks`
    (or a module-level set) until it ends. Must be called with a running loop.
    """
    task = asyncio.get_running_loop().create_task(coro, name=name)
    keep = _tasks if tasks is None else tasks
    keep.add(task)
    _reported.add(task)

    def done(task: asyncio.Task[Any]) -> None:
        keep.discard(task)
        if task.cancelled():
            return
        exc = task.exception()  # retrieved: asyncio will not log "exception was never retrieved"
        if exc is None:
            return
        log.error("background task failed task=%s error=%s", name, error_text(exc), exc_info=exc)
        if on_failure is not None:
            try:
                on_failure(failure_sentence(what or name, exc), exc)
            except Exception:
                log.exception("failure handler failed task=%s", name)

    task.add_done_callback(done)
    return task


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel `tasks` and wait until all have ended. Raises nothing (except the caller's own cancellation).

    An exception a task ended with is logged here unless `spawn` reports it (it always does, once); the
    calling task itself is skipped.
    """
    current = asyncio.current_task()
    pending = [task for task in tasks if task is not current]
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending)
    for task in pending:
        if task.cancelled() or task in _reported:
            continue
        exc = task.exception()
        if exc is not None:
            log.error("task had failed task=%s error=%s", task.get_name(), error_text(exc), exc_info=exc)
