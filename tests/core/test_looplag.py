import asyncio
import time

import pytest

from core.looplag import LoopLagMonitor
from tests.waiting import wait_until


@pytest.mark.asyncio
async def test_a_blocked_loop_shows_up_as_lag():
    monitor = LoopLagMonitor(interval=0.01)
    monitor.start()
    try:
        await wait_until(lambda: len(monitor.samples) >= 3)
        time.sleep(0.2)  # block the loop on purpose: this is what the monitor must see
        await wait_until(lambda: len(monitor.samples) >= 6)
        assert max(monitor.samples) >= 0.15
        assert monitor.percentile(0.0) < 0.15
    finally:
        monitor.stop()
    await asyncio.sleep(0)
