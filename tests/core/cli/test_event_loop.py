"""The headless commands' event loop: uvloop's where it is installed (a dependency on Linux and macOS)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from core.cli.common import run_headless


async def _loop_and_answer() -> tuple[type, int]:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()), 42


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_record_runs_on_uvloop_where_it_is_installed():
    uvloop = pytest.importorskip("uvloop")
    loop_type, answer = run_headless(_loop_and_answer())
    assert loop_type is uvloop.Loop
    assert answer == 42  # the coroutine's result comes back, as asyncio.run's does


def test_a_failure_in_the_command_comes_back_as_it_was():
    async def fails() -> None:
        raise LookupError("no such symbol")

    with pytest.raises(LookupError, match="no such symbol"):
        run_headless(fails())
