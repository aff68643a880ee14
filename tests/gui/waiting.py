"""Waiting inside async tests on the qasync loop (qtbot.waitUntil would nest a Qt loop inside a task)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest


async def wait_until(predicate: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    """Yield to the (qasync) loop until `predicate()` is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what or predicate}")
        await asyncio.sleep(0.02)
