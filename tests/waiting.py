"""The one way async tests wait for something: poll a condition while the loop runs, fail when it never holds.

It works on the plain asyncio loop and on the qasync loop of the GUI tests (qtbot.waitUntil would nest a
Qt loop inside a task there). Waiting on a condition, never on a fixed sleep, keeps tests both fast and
deterministic.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Yield to the loop until `predicate()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or predicate}")
        await asyncio.sleep(0.01)
